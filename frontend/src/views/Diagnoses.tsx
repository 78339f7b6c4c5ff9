// Diagnoses in plain words: each hint with its layer, message and evidence.
import { useMemo, useState } from "preact/hooks";
import type { Hint } from "../api/types";
import { evidenceRows, messageParts } from "../models/evidence";
import { fmtTime, shortName } from "../models/format";
import { DiagnosisGroup, groupDiagnoses, groupTitle } from "../models/groups";
import { layerTotal } from "../models/layer";
import type { Tree } from "../models/tree";
import type { Diagnosis } from "../models/window";

const SHOWN = 5;

/** One hint: its code, message and evidence (the layer's name is the caller's). With
 * `onSelect`, the whole card selects its layer (click, or Enter/Space when focused). */
export function HintNote(props: { hint: Hint; children?: any; onSelect?: () => void; path?: string }) {
  const { hint, onSelect } = props;
  const act: Record<string, unknown> = onSelect
    ? {
        role: "button",
        tabIndex: 0,
        title: "Select this layer",
        "data-path": props.path,
        onClick: onSelect,
        onKeyDown: (e: KeyboardEvent) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), onSelect()),
      }
    : {};
  return (
    <div class={"lp-diag" + (hint.severity === "info" ? " lp-info" : "") + (onSelect ? " lp-diag-select" : "")} data-code={hint.code} {...act}>
      <div>
        <span class="lp-code">{hint.code}</span> {props.children}
      </div>
      <div class="lp-diag-message">
        {messageParts(hint.message).map((p) => (p.code ? <code>{p.text}</code> : p.text))}
      </div>
      <Evidence evidence={hint.evidence} />
    </div>
  );
}

/** A hint's evidence: one row per figure, each with its unit. */
function Evidence(props: { evidence: Record<string, unknown> }) {
  const rows = evidenceRows(props.evidence);
  if (!rows.length) return null;
  return (
    <table class="lp-evidence" data-testid="evidence">
      <tbody>
        {rows.map((r) => (
          <tr data-key={r.key}>
            <th scope="row">{r.label}</th>
            <td>{r.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Diagnoses(props: { items: Diagnosis[]; tree: Tree; stepUs: number; onSelect: (path: string) => void }) {
  const [all, setAll] = useState(false);
  const groups = useMemo(() => groupDiagnoses(props.items, props.tree, props.stepUs), [props.items, props.tree, props.stepUs]);
  if (!props.items.length) return <div class="lp-muted lp-nodiag">No diagnoses: no layer matched a slowness rule.</div>;
  const shown = all ? groups : groups.slice(0, SHOWN);
  return (
    <div class="lp-diagnoses" data-testid="diagnoses">
      {shown.map((g) => {
        if (g.items.length > 1) return <DiagnosisGroupCard group={g} onSelect={props.onSelect} />;
        const { layer, hint } = g.items[0];
        return (
          <HintNote hint={hint} onSelect={() => props.onSelect(layer.path)} path={layer.path}>
            <b class="lp-diag-layer" title={layer.path}>{shortName(layer.path)}</b> <span class="lp-diag-time">({fmtTime(layerTotal(layer))} per step)</span>
          </HintNote>
        );
      })}
      {groups.length > SHOWN ? (
        <button class="lp-link" onClick={() => setAll(!all)}>
          {all ? "Show fewer" : `Show all ${groups.length} diagnoses (${props.items.length} layers)`}
        </button>
      ) : null}
    </div>
  );
}

const GROUP_LIST = 50;

/** Several layers of one class with the same diagnosis: one card ("SlowLoop × 590 = 61% of
 * step"), the message and evidence of its hottest layer, the layers listed on demand. */
function DiagnosisGroupCard(props: { group: DiagnosisGroup; onSelect: (path: string) => void }) {
  const { group: g } = props;
  const [open, setOpen] = useState(false);
  const [many, setMany] = useState(false);
  const first = g.items[0];
  const title = groupTitle({ label: g.className || "(no class)", count: g.items.length, pct: g.pct });
  const listed = many ? g.items : g.items.slice(0, GROUP_LIST);
  return (
    <div class="lp-diag-group" data-testid="diagnosis-group" data-code={g.code}>
      <HintNote hint={first.hint}>
        <b class="lp-diag-layer" data-testid="diagnosis-group-title">{title}</b>{" "}
        <span class="lp-diag-time">
          {`(${fmtTime(g.total_us)} per step; e.g. `}
          <button class="lp-link lp-diag-eg" data-path={first.layer.path} onClick={() => props.onSelect(first.layer.path)}>
            {shortName(first.layer.path, 80)}
          </button>
          {")"}
        </span>
      </HintNote>
      <button class="lp-link lp-group-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "Hide the layers" : `Show the ${g.items.length} layers`}
      </button>
      {open ? (
        <ul class="lp-group-list" data-testid="diagnosis-group-layers">
          {listed.map(({ layer }) => (
            <li>
              <button class="lp-link" data-path={layer.path} title={layer.path} onClick={() => props.onSelect(layer.path)}>
                {shortName(layer.path, 100)}
              </button>
              <span class="lp-diag-time">{` ${fmtTime(layerTotal(layer))}`}</span>
            </li>
          ))}
          {g.items.length > listed.length ? (
            <li>
              <button class="lp-link" onClick={() => setMany(true)}>{`and ${g.items.length - listed.length} more`}</button>
            </li>
          ) : null}
        </ul>
      ) : null}
    </div>
  );
}
