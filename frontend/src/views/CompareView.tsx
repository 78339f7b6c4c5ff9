// Compare mode: a base run/window against a run/window, layer by layer (/diff, which is
// tb_layerprof.diff.diff_windows: the same document as `tb-layerprof diff --format json`).
import { useMemo, useState } from "preact/hooks";
import type { Compared, DiffDoc, DiffLayer } from "../api/types";
import { diffOther, diffRows, speedupText } from "../models/compare";
import { fmtDeltaTime, fmtRatio, fmtTime } from "../models/format";
import { EChart } from "./EChart";
import { DiffTable, deltaClass } from "./DiffTable";
import { useColors } from "./theme";

export function CompareView(props: { doc: DiffDoc }) {
  const d = props.doc;
  return (
    <div class="lp-window" data-testid="compare">
      <CompareFacts d={d} />
      <div class="lp-grid">
        <CompareSummary d={d} />
        <section class="lp-card" data-testid="compare-top">
          <h2>Largest changes</h2>
          <ChangesChart layers={d.layers.slice(0, 12)} />
        </section>
      </div>
      <CompareLayers d={d} />
    </div>
  );
}

function CompareFacts(props: { d: DiffDoc }) {
  const { d } = props;
  const side = (w: DiffDoc["base_window"]) => ` step ${w.step}${w.host ? ` (${w.host})` : ""}`;
  return (
    <div class="lp-facts" data-testid="compare-facts">
      <span>
        {"Base "}
        <b>{d.base}</b>
        {side(d.base_window) + " → run "}
        <b>{d.run}</b>
        {side(d.run_window)}
      </span>
      {!d.memory_available ? <div class="lp-warning">Memory was not recorded in one of the windows: memory is not compared.</div> : null}
    </div>
  );
}

function CompareSummary(props: { d: DiffDoc }) {
  const { d } = props;
  const speedup = speedupText(d.step_time);
  return (
    <section class="lp-card" data-testid="compare-summary">
      <h2>Step</h2>
      <table class="lp-small-table">
        <thead>
          <tr>
            <th />
            <th class="lp-num">Base</th>
            <th class="lp-num">Run</th>
            <th class="lp-num">Δ</th>
            <th class="lp-num">Ratio</th>
          </tr>
        </thead>
        <tbody>
          <CompareRow label="Step time" c={d.step_time} testId="cmp-step-time" />
          <CompareRow label="Op time" c={d.op_time} />
          {diffOther(d).map((o) => (
            <CompareRow label={o.label} c={o.c} testId={`cmp-${o.key}`} />
          ))}
        </tbody>
      </table>
      <div class="lp-speedup" data-testid="speedup">
        {speedup === "no change" ? "The run's step takes as long as the base's." : speedup ? `The run's step is ${speedup} than the base's.` : ""}
      </div>
      <div class="lp-muted" data-testid="compare-counts">{`${d.counts.both} layers in both · ${d.counts.added} added · ${d.counts.removed} removed`}</div>
    </section>
  );
}

function CompareRow(props: { label: string; c: Compared; testId?: string }) {
  const { c } = props;
  return (
    <tr data-testid={props.testId}>
      <td>{props.label}</td>
      <td class="lp-num">{fmtTime(c.base_us)}</td>
      <td class="lp-num">{fmtTime(c.run_us)}</td>
      <td class={"lp-num" + deltaClass(c.delta_us)}>{fmtDeltaTime(c.delta_us)}</td>
      <td class="lp-num">{fmtRatio(c.ratio)}</td>
    </tr>
  );
}

function CompareLayers(props: { d: DiffDoc }) {
  const { d } = props;
  const [filter, setFilter] = useState("");
  const [status, setStatus] = useState("all");
  const rows = useMemo(() => diffRows(d.layers, filter, status), [d, filter, status]);
  return (
    <section class="lp-card" data-testid="compare-layers">
      <div class="lp-card-head">
        <h2>Layers, largest change first</h2>
        <input
          class="lp-filter"
          type="search"
          placeholder="Filter by name or class"
          aria-label="Filter compared layers by name"
          data-testid="compare-filter"
          value={filter}
          onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)}
        />
        <label class="lp-field">
          <span>Show</span>
          <select data-testid="compare-status" value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value)}>
            <option value="all">all layers</option>
            <option value="changed">in both runs</option>
            <option value="added">added</option>
            <option value="removed">removed</option>
          </select>
        </label>
        <span class="lp-muted" data-testid="compare-row-count">{`${rows.length} of ${d.layers.length} layers`}</span>
      </div>
      <DiffTable rows={rows} />
    </section>
  );
}

function ChangesChart(props: { layers: DiffLayer[] }) {
  const { BASE_COLOR, RUN_COLOR } = useColors();
  const option = useMemo(() => {
    const ls = props.layers.slice().reverse();
    return {
      grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
      legend: { top: 0, data: ["Base", "Run"] },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v: number) => fmtTime(v) },
      xAxis: { type: "value", axisLabel: { formatter: (v: number) => fmtTime(v), hideOverlap: true } },
      yAxis: { type: "category", data: ls.map((l) => l.path), axisLabel: { width: 180, overflow: "truncate" } },
      series: [
        { name: "Base", type: "bar", data: ls.map((l) => l.base_us), itemStyle: { color: BASE_COLOR } },
        { name: "Run", type: "bar", data: ls.map((l) => l.run_us), itemStyle: { color: RUN_COLOR } },
      ],
    };
  }, [props.layers, BASE_COLOR, RUN_COLOR]);
  if (!props.layers.length) return <div class="lp-muted">No layers in either window.</div>;
  return <EChart option={option} height={Math.max(140, 40 + props.layers.length * 30)} label="Largest changes: base vs run time per layer" testId="compare-chart" />;
}
