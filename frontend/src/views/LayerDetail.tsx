// The selected layer's figures in full, with its per-replica split under tf.distribute.
import type { Layer, Replica, Window } from "../api/types";
import { hasDeviceTime } from "../models/columns";
import { fmtBytes, fmtCount, fmtPct, fmtTime, num as n, shortName } from "../models/format";
import { layerSelf, layerTotal, pctOfStep } from "../models/layer";
import { countsLabel, fmtFlopRate, fmtSI, phaseRatesText, roofText } from "../models/work";
import { HintNote } from "./Diagnoses";
import { OpDrillDown } from "./OpDrillDown";

export function LayerDetail(props: { layer: Layer; w: Window; stepUs: number; onClose: () => void; traceUrl: string | null }) {
  const { layer: l, w, stepUs } = props;
  const total = layerTotal(l);
  const device = hasDeviceTime(w);
  const facts: [string, string][] = [
    ["Class", `${l.class_name || "–"}${l.custom ? " (custom)" : ""}`],
    ["Forward", fmtTime(l.forward_us)],
    ["Gradient", fmtTime(l.backward_us)],
    ["Total", `${fmtTime(total)} (${fmtPct(pctOfStep(l, stepUs))} of the step)`],
    ["Self (own ops)", `${fmtTime(l.self_forward_us)} forward · ${fmtTime(l.self_backward_us)} gradient`],
  ];
  if (device) {
    facts.push(["Device (kernels)", `${fmtTime(n(l.forward_device_us))} forward · ${fmtTime(n(l.backward_device_us))} gradient`]);
    facts.push(["Host (CPU ops)", `${fmtTime(n(l.forward_host_us))} forward · ${fmtTime(n(l.backward_host_us))} gradient`]);
  }
  facts.push(
    ["Allocated", `${fmtBytes(l.forward_alloc_bytes)} forward · ${fmtBytes(l.backward_alloc_bytes)} gradient`],
    ["Live at peak", fmtBytes(l.peak_live_bytes)],
    ["Parameters", fmtBytes(l.param_bytes)],
    ["Calls per step", fmtCount(l.calls)],
    ["Ops per call", fmtCount(l.ops_per_call)],
  );
  // Work (the backend's counts and rates), when the layer has counts.
  if (l.work) {
    facts.push(["FLOPs", `${fmtSI(l.forward_flops, "FLOP")} forward · ${fmtSI(l.backward_flops, "FLOP")} gradient`]);
    facts.push(["Bytes moved", `${l.forward_bytes == null ? "—" : fmtBytes(l.forward_bytes)} forward · ${l.backward_bytes == null ? "—" : fmtBytes(l.backward_bytes)} gradient`]);
    facts.push(
      ["Achieved", `${fmtFlopRate(l.work.total.flops_per_s)} (${phaseRatesText(l.work)})`],
      ["Of peak", roofText(l.work.total)],
      ["Counts", countsLabel(l.work.counts)],
    );
  }
  const replicas = Array.isArray(l.replicas) ? l.replicas.filter((r) => r && typeof r === "object") : [];
  return (
    <section class="lp-card" data-testid="layer-detail">
      <div class="lp-card-head">
        <h2>Layer</h2>
        <b class="lp-detail-path" title={l.path} data-testid="detail-path">
          {shortName(l.path, 90)}
        </b>
        <span class="lp-spacer" />
        <button class="lp-link" onClick={props.onClose}>
          close
        </button>
      </div>
      <dl class="lp-detail">
        {facts.map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </>
        ))}
      </dl>
      <OpDrillDown layer={l} traceUrl={props.traceUrl} />
      {(l.hints || []).map((h) => (
        <HintNote hint={h} />
      ))}
      {replicas.length ? <ReplicaTable replicas={replicas} /> : null}
    </section>
  );
}

/** Under tf.distribute: the layer's own time on each replica, with bars relative to the slowest. */
function ReplicaTable(props: { replicas: Replica[] }) {
  const { replicas } = props;
  const maxRep = Math.max(1e-9, ...replicas.map(layerSelf));
  return (
    <div class="lp-replicas">
      <h3>Per replica (own ops, per step)</h3>
      <table class="lp-small-table" data-testid="replica-table">
        <thead>
          <tr>
            <th>Replica</th>
            <th class="lp-num">Forward</th>
            <th class="lp-num">Gradient</th>
            <th class="lp-num">Total</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {replicas.map((r) => {
            const t = layerSelf(r);
            return (
              <tr data-replica={String(r.replica)}>
                <td>{`replica ${n(r.replica)}`}</td>
                <td class="lp-num">{fmtTime(r.self_forward_us)}</td>
                <td class="lp-num">{fmtTime(r.self_backward_us)}</td>
                <td class="lp-num">{fmtTime(t)}</td>
                <td class="lp-bar-cell">
                  <span class="lp-bar" style={{ width: `${Math.round((t / maxRep) * 100)}%` }} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
