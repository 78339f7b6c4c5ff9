// The selected layer's ops (XProf op_profile's question, per layer): its top ops by phase
// (name, type, ops of that type per call, time per step, share of the layer's own time in
// the phase) and its op types, with a link to the window's trace.
import type { Layer } from "../api/types";
import { fmtCount, fmtPct, fmtTime } from "../models/format";
import { opPhases, opTypeRows } from "../models/ops";

const TYPES_SHOWN = 12;

export function OpDrillDown(props: { layer: Layer; traceUrl: string | null }) {
  const phases = opPhases(props.layer);
  const types = opTypeRows(props.layer);
  if (!phases.length && !types.length)
    return (
      <div class="lp-ops lp-muted" data-testid="ops-missing">
        No op-level data for this layer (an older report, or no op of its own ran).
      </div>
    );
  return (
    <div class="lp-ops" data-testid="op-drilldown">
      <h3>
        Ops of its own, per step
        {props.traceUrl ? (
          <a class="lp-trace-window" href={props.traceUrl} target="_top" data-testid="trace-link-ops" title="Open this window's capture in the trace viewer">
            {" "}
            trace ↗
          </a>
        ) : null}
      </h3>
      {phases.length ? (
        <table class="lp-small-table lp-op-table" data-testid="op-table">
          <thead>
            <tr>
              <th>Op · type</th>
              <th class="lp-num" title="Ops of this type the layer creates per call">Count</th>
              <th class="lp-num">Time</th>
              <th class="lp-num" title="Share of the layer's own time in this phase">Share</th>
            </tr>
          </thead>
          {phases.map((p) => (
            <tbody data-phase={p.phase}>
              <tr class="lp-op-phase">
                <th colSpan={4}>{`${p.label} · own time ${fmtTime(p.self_us)}`}</th>
              </tr>
              {p.ops.map((o) => (
                <tr data-op={o.name} data-type={o.type}>
                  <td class="lp-op-name" title={`${o.name} (${o.type})`}>
                    <span class="lp-op-full">{o.name}</span> <span class="lp-op-type">{o.type}</span>
                  </td>
                  <td class="lp-num">{o.typeCount ? `×${fmtCount(o.typeCount)}` : "–"}</td>
                  <td class="lp-num">{fmtTime(o.us)}</td>
                  <td class="lp-num">{o.share ? fmtPct(o.share * 100) : "–"}</td>
                </tr>
              ))}
            </tbody>
          ))}
        </table>
      ) : null}
      {types.length ? (
        <table class="lp-small-table lp-op-table" data-testid="op-type-table">
          <thead>
            <tr>
              <th>Op type</th>
              <th class="lp-num" title="Ops of this type the layer creates per call">Per call</th>
              <th class="lp-num" title="Time of this type among the top ops above, per step">Time</th>
            </tr>
          </thead>
          <tbody>
            {types.slice(0, TYPES_SHOWN).map((t) => (
              <tr data-type={t.type}>
                <td class="lp-op-type" title={t.type}>
                  {t.type}
                </td>
                <td class="lp-num">{t.count ? fmtCount(t.count) : "–"}</td>
                <td class="lp-num">{t.us ? fmtTime(t.us) : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {types.length > TYPES_SHOWN ? <div class="lp-muted">{`and ${types.length - TYPES_SHOWN} more types`}</div> : null}
    </div>
  );
}
