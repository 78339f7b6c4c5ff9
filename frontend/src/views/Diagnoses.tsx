// Diagnoses in plain words: each hint with its layer, message and evidence.
import { useState } from "preact/hooks";
import type { Hint } from "../api/types";
import { evidenceRows, messageParts } from "../models/evidence";
import { fmtTime } from "../models/format";
import { layerTotal } from "../models/layer";
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

export function Diagnoses(props: { items: Diagnosis[]; onSelect: (path: string) => void }) {
  const [all, setAll] = useState(false);
  if (!props.items.length) return <div class="lp-muted lp-nodiag">No diagnoses: no layer matched a slowness rule.</div>;
  const shown = all ? props.items : props.items.slice(0, SHOWN);
  return (
    <div class="lp-diagnoses" data-testid="diagnoses">
      {shown.map(({ layer, hint }) => (
        <HintNote hint={hint} onSelect={() => props.onSelect(layer.path)} path={layer.path}>
          <b class="lp-diag-layer">{layer.path}</b> <span class="lp-diag-time">({fmtTime(layerTotal(layer))} per step)</span>
        </HintNote>
      ))}
      {props.items.length > SHOWN ? (
        <button class="lp-link" onClick={() => setAll(!all)}>
          {all ? "Show fewer" : `Show all ${props.items.length} diagnoses`}
        </button>
      ) : null}
    </div>
  );
}
