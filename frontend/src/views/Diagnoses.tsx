// Diagnoses in plain words: each hint with its layer, message and evidence.
import { useState } from "preact/hooks";
import type { Hint } from "../api/types";
import { fmtEvidence, fmtTime } from "../models/format";
import { layerTotal } from "../models/layer";
import type { Diagnosis } from "../models/window";

const SHOWN = 5;

/** One hint: its code, message and evidence (the layer's name is the caller's). */
export function HintNote(props: { hint: Hint; children?: any }) {
  const { hint } = props;
  return (
    <div class={"lp-diag" + (hint.severity === "info" ? " lp-info" : "")} data-code={hint.code}>
      <div>
        <span class="lp-code">{hint.code}</span> {props.children}
      </div>
      <div class="lp-diag-message">{hint.message}</div>
      {Object.keys(hint.evidence || {}).length ? <div class="lp-evidence">{fmtEvidence(hint.evidence)}</div> : null}
    </div>
  );
}

export function Diagnoses(props: { items: Diagnosis[] }) {
  const [all, setAll] = useState(false);
  if (!props.items.length) return <div class="lp-muted lp-nodiag">No diagnoses: no layer matched a slowness rule.</div>;
  const shown = all ? props.items : props.items.slice(0, SHOWN);
  return (
    <div class="lp-diagnoses" data-testid="diagnoses">
      {shown.map(({ layer, hint }) => (
        <HintNote hint={hint}>
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
