// Per-worker breakdown of one step (several hosts wrote it): step time per worker and the
// layers that make the slow worker slow (/workers, docs/http_api.md).
import { useFetch } from "../api/hooks";
import type { WorkersDoc } from "../api/types";
import { fmtDeltaTime, fmtRatio, fmtTime, num as n } from "../models/format";
import { causeLabel, stragglerLayers } from "../models/workers";

const MAX_HOST_COLUMNS = 8;
type Host = WorkersDoc["hosts"][number];
/** Op time outside collectives (older documents: all op time). */
const compute = (h: Host) => (h.compute_us !== undefined ? n(h.compute_us) : n(h.op_time_us));

export function WorkersCard(props: { run: string; step: number; reloadKey: number; selected: string | null; onSelect: (path: string) => void }) {
  const load = useFetch<WorkersDoc>("workers", { run: props.run, step: String(props.step) }, props.reloadKey);
  let body: any;
  if (load.status === "error")
    body = (
      <div class="lp-warning" role="alert">
        Could not compare the workers: {load.message}
      </div>
    );
  else if (load.status !== "ok") body = <div class="lp-muted">Loading the workers of this step…</div>;
  else
    body = (
      <>
        <Straggler d={load.data} onSelect={props.onSelect} />
        <HostBars d={load.data} />
        <StragglerLayers d={load.data} selected={props.selected} onSelect={props.onSelect} />
      </>
    );
  return (
    <section class="lp-card" data-testid="workers">
      <div class="lp-card-head">
        <h2>Workers</h2>
        <span class="lp-muted">{`step ${props.step}: every host that profiled it`}</span>
      </div>
      {body}
    </section>
  );
}

function Straggler(props: { d: WorkersDoc; onSelect: (path: string) => void }) {
  const s = props.d.straggler;
  if (!s || !s.host)
    return (
      <div class="lp-muted" data-testid="straggler">
        No straggler: no layer is slower on one worker than on another.
      </div>
    );
  const causes = Array.isArray(s.causes) ? s.causes : [];
  const fastest = s.fastest_host || props.d.fastest_host || "";
  return (
    <div class="lp-straggler" data-testid="straggler">
      <b>{s.host}</b>
      {` is the straggler: its ops take ${fmtDeltaTime(n(s.excess_us !== undefined ? s.excess_us : s.extra_us))} per step more than on `}
      <b>{fastest}</b>
      {s.layer ? (
        <>
          {", most of it in layer "}
          <button class="lp-link lp-straggler-layer" data-testid="straggler-layer" onClick={() => props.onSelect(s.layer!)}>
            {s.layer}
          </button>
          {` (${fmtDeltaTime(s.extra_us)}${s.share != null && Number.isFinite(s.share) ? `, ${Math.round(n(s.share) * 100)}%` : ""}).`}
        </>
      ) : (
        "."
      )}
      {causes.length > 1 ? (
        <div class="lp-muted">{"Where the extra time goes: " + causes.map((c) => `${causeLabel(c)} ${fmtDeltaTime(c.extra_us)}`).join(" · ")}</div>
      ) : null}
      <div class="lp-muted">
        Synchronous workers wait for the slowest at each all-reduce, so step times even out; the waiting shows as collective time on
        the fast workers.
      </div>
    </div>
  );
}

function HostBars(props: { d: WorkersDoc }) {
  const { d } = props;
  const hosts = Array.isArray(d.hosts) ? d.hosts : [];
  const maxStep = Math.max(1e-9, ...hosts.map((h) => Math.max(n(h.step_time_us), n(h.op_time_us))));
  const pct = (us: number) => `${((us / maxStep) * 100).toFixed(1)}%`;
  return (
    <div class="lp-hostbars" data-testid="worker-steps">
      {hosts.map((h) => (
        <div class={"lp-hostbar" + (h.host === d.slowest_host && hosts.length > 1 ? " lp-slowest" : "")} data-host={h.host}>
          <span class="lp-hostbar-name" title={h.host}>
            {h.host}
          </span>
          <span class="lp-hostbar-track" title="compute (ops outside collectives), then collective time">
            <span class="lp-bar" style={{ width: pct(compute(h)) }} />
            <span class="lp-bar lp-bar-wait" style={{ width: pct(n(h.collective_us)) }} />
          </span>
          <span class="lp-hostbar-value">
            {`step ${fmtTime(h.step_time_us)} · compute ${fmtTime(compute(h))}` +
              (n(h.collective_us) ? ` · collective ${fmtTime(n(h.collective_us))}` : "") +
              (n(h.excess_us) > 0 ? ` · ${fmtDeltaTime(n(h.excess_us))}` : "")}
          </span>
        </div>
      ))}
    </div>
  );
}

function StragglerLayers(props: { d: WorkersDoc; selected: string | null; onSelect: (path: string) => void }) {
  const { d } = props;
  const layers = stragglerLayers(d, 10);
  if (!layers.length) return <div class="lp-muted">Every layer takes the same time on every worker.</div>;
  const names = (Array.isArray(d.hosts) ? d.hosts : []).map((h) => h.host);
  const perHost = names.length <= MAX_HOST_COLUMNS ? names : [d.fastest_host || "", d.slowest_host || ""];
  return (
    <table class="lp-small-table" data-testid="straggler-layers">
      <thead>
        <tr>
          <th>Layer (largest difference between workers first)</th>
          {perHost.map((h) => (
            <th class="lp-num" title={h}>
              {h}
            </th>
          ))}
          <th class="lp-num">Spread</th>
          <th class="lp-num">Slowest / fastest</th>
          <th>Slowest on</th>
        </tr>
      </thead>
      <tbody>
        {layers.map((l) => (
          <tr data-path={l.path} class={"lp-clickable" + (l.path === props.selected ? " lp-selected" : "")} onClick={() => props.onSelect(l.path)}>
            <td class="lp-path-cell" title={l.path}>
              {l.path}
            </td>
            {perHost.map((h) => (
              <td class="lp-num">{l.by_host && l.by_host[h] ? fmtTime(l.by_host[h].total_us) : "–"}</td>
            ))}
            <td class="lp-num">{fmtTime(l.spread_us)}</td>
            <td class="lp-num">{fmtRatio(l.ratio)}</td>
            <td>{l.slowest_host || ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
