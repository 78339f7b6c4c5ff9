// Compare mode: a base run/window against a run/window, layer by layer (/diff, which is
// tb_layerprof.diff.diff_windows: the same document as `tb-layerprof diff --format json`).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, getJson } from "./api";
import { EChart } from "./chart";
import {
  Compared,
  DiffDoc,
  DiffLayer,
  diffOther,
  diffRows,
  fmtBytes,
  fmtDeltaBytes,
  fmtDeltaTime,
  fmtRatio,
  fmtTime,
  speedupText,
} from "./logic";

const ROW_HEIGHT = 24;
const HEADER_HEIGHT = 30;
const MAX_BODY = 520;
const OVERSCAN = 12;

interface Col {
  key: string;
  label: string;
  title: string;
  width: string;
  num: boolean;
  cell: (l: DiffLayer) => string;
  cls?: (l: DiffLayer) => string;
}

const sign = (v: number | null) => (v == null || v === 0 ? "" : v < 0 ? " lp-better" : " lp-worse");

const COLS: Col[] = [
  { key: "path", label: "Layer", title: "Layer path (matched by path in both runs)", width: "minmax(240px, 3fr)", num: false, cell: (l) => l.path },
  { key: "status", label: "Status", title: "In both runs, only in the run (added) or only in the base (removed)", width: "74px", num: false, cell: (l) => (l.status === "both" ? "" : l.status) },
  { key: "base_us", label: "Base", title: "Forward + gradient per step in the base", width: "80px", num: true, cell: (l) => fmtTime(l.base_us) },
  { key: "run_us", label: "Run", title: "Forward + gradient per step in the run", width: "80px", num: true, cell: (l) => fmtTime(l.run_us) },
  { key: "delta_us", label: "Δ", title: "Run − base (forward + gradient per step)", width: "86px", num: true, cell: (l) => fmtDeltaTime(l.delta_us), cls: (l) => sign(l.delta_us) },
  { key: "ratio", label: "Ratio", title: "Run / base", width: "72px", num: true, cell: (l) => fmtRatio(l.ratio, l.status) },
  { key: "fwd", label: "Forward", title: "Forward: base → run", width: "150px", num: true, cell: (l) => `${fmtTime(l.base_forward_us)} → ${fmtTime(l.run_forward_us)}` },
  { key: "delta_forward_us", label: "Δ fwd", title: "Change of the forward time", width: "80px", num: true, cell: (l) => fmtDeltaTime(l.delta_forward_us), cls: (l) => sign(l.delta_forward_us) },
  { key: "bwd", label: "Gradient", title: "Gradient: base → run", width: "150px", num: true, cell: (l) => `${fmtTime(l.base_backward_us)} → ${fmtTime(l.run_backward_us)}` },
  { key: "delta_backward_us", label: "Δ grad", title: "Change of the gradient time", width: "80px", num: true, cell: (l) => fmtDeltaTime(l.delta_backward_us), cls: (l) => sign(l.delta_backward_us) },
  { key: "alloc", label: "Alloc", title: "Bytes allocated per step (forward + gradient): base → run", width: "150px", num: true, cell: (l) => (l.base_alloc_bytes == null ? "–" : `${fmtBytes(l.base_alloc_bytes)} → ${fmtBytes(l.run_alloc_bytes || 0)}`) },
  { key: "delta_alloc_bytes", label: "Δ alloc", title: "Change of the bytes allocated per step", width: "84px", num: true, cell: (l) => fmtDeltaBytes(l.delta_alloc_bytes), cls: (l) => sign(l.delta_alloc_bytes) },
  { key: "delta_peak_live_bytes", label: "Δ live at peak", title: "Change of the layer's bytes alive at the memory peak", width: "96px", num: true, cell: (l) => fmtDeltaBytes(l.delta_peak_live_bytes), cls: (l) => sign(l.delta_peak_live_bytes) },
];
const GRID = COLS.map((c) => c.width).join(" ");

type Load = { status: "loading" } | { status: "error"; message: string } | { status: "ok"; data: DiffDoc };

export interface CompareSelection {
  base: string;
  baseStep: number | null;
  baseHost: string | null;
  run: string;
  step: number | null;
  host: string | null;
}

export function CompareView(props: { sel: CompareSelection; reloadKey: number; onHosts: (base: string[], run: string[], doc: DiffDoc) => void }) {
  const { sel } = props;
  const [data, setData] = useState<Load>({ status: "loading" });
  const [filter, setFilter] = useState("");
  const [status, setStatus] = useState("all");
  useEffect(() => {
    let live = true;
    setData({ status: "loading" });
    getJson<DiffDoc>("diff", {
      base: sel.base,
      run: sel.run,
      base_step: sel.baseStep === null ? null : String(sel.baseStep),
      step: sel.step === null ? null : String(sel.step),
      base_host: sel.baseHost,
      host: sel.host,
    })
      .then((d) => {
        if (!live) return;
        setData({ status: "ok", data: d });
        props.onHosts(d.base_hosts || [], d.run_hosts || [], d);
      })
      .catch((e: ApiError) => live && setData({ status: "error", message: e.message }));
    return () => {
      live = false;
    };
  }, [sel.base, sel.baseStep, sel.baseHost, sel.run, sel.step, sel.host, props.reloadKey]);

  if (data.status === "loading")
    return (
      <div class="lp-message lp-loading" role="status" data-testid="message-loading">
        <div class="lp-message-title">Comparing…</div>
      </div>
    );
  if (data.status === "error")
    return (
      <div class="lp-message lp-error" role="alert" data-testid="message-error">
        <div class="lp-message-title">Could not compare these windows</div>
        <div class="lp-message-body">{data.message}</div>
      </div>
    );
  const d = data.data;
  const rows = diffRows(d.layers, filter, status);
  return (
    <div class="lp-window" data-testid="compare">
      <div class="lp-facts" data-testid="compare-facts">
        <span>
          {"Base "}
          <b>{d.base}</b>
          {` step ${d.base_window.step}${d.base_window.host ? ` (${d.base_window.host})` : ""} → run `}
          <b>{d.run}</b>
          {` step ${d.run_window.step}${d.run_window.host ? ` (${d.run_window.host})` : ""}`}
        </span>
        {!d.memory_available ? <div class="lp-warning">Memory was not recorded in one of the windows: memory is not compared.</div> : null}
      </div>
      <div class="lp-grid">
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
            {speedupText(d.step_time) ? `The run's step is ${speedupText(d.step_time)} than the base's.` : ""}
          </div>
          <div class="lp-muted" data-testid="compare-counts">{`${d.counts.both} layers in both · ${d.counts.added} added · ${d.counts.removed} removed`}</div>
        </section>
        <section class="lp-card" data-testid="compare-top">
          <h2>Largest changes</h2>
          <ChangesChart layers={d.layers.slice(0, 12)} />
        </section>
      </div>
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
    </div>
  );
}

function CompareRow(props: { label: string; c: Compared; testId?: string }) {
  const { c } = props;
  return (
    <tr data-testid={props.testId}>
      <td>{props.label}</td>
      <td class="lp-num">{fmtTime(c.base_us)}</td>
      <td class="lp-num">{fmtTime(c.run_us)}</td>
      <td class={"lp-num" + sign(c.delta_us)}>{fmtDeltaTime(c.delta_us)}</td>
      <td class="lp-num">{fmtRatio(c.ratio)}</td>
    </tr>
  );
}

function ChangesChart(props: { layers: DiffLayer[] }) {
  const option = useMemo(() => {
    const ls = props.layers.slice().reverse();
    return {
      grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
      legend: { top: 0, data: ["Base", "Run"] },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v: number) => fmtTime(v) },
      xAxis: { type: "value", axisLabel: { formatter: (v: number) => fmtTime(v) } },
      yAxis: { type: "category", data: ls.map((l) => l.path), axisLabel: { width: 180, overflow: "truncate" } },
      series: [
        { name: "Base", type: "bar", data: ls.map((l) => l.base_us), itemStyle: { color: "#9e9e9e" } },
        { name: "Run", type: "bar", data: ls.map((l) => l.run_us), itemStyle: { color: "#f57c00" } },
      ],
    };
  }, [props.layers]);
  if (!props.layers.length) return <div class="lp-muted">No layers in either window.</div>;
  return <EChart option={option} height={Math.max(140, 40 + props.layers.length * 30)} label="Largest changes: base vs run time per layer" testId="compare-chart" />;
}

function DiffTable(props: { rows: DiffLayer[] }) {
  const { rows } = props;
  const [scrollTop, setScrollTop] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const viewH = Math.min(MAX_BODY, Math.max(1, rows.length) * ROW_HEIGHT);
  const first = Math.max(0, Math.floor((scrollTop - HEADER_HEIGHT) / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewH) / ROW_HEIGHT) + OVERSCAN);
  return (
    <div
      class="lp-table"
      role="table"
      aria-rowcount={rows.length + 1}
      data-testid="compare-table"
      ref={box}
      style={{ maxHeight: `${MAX_BODY + HEADER_HEIGHT}px` }}
      onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div class="lp-thead" role="row" style={{ gridTemplateColumns: GRID, height: `${HEADER_HEIGHT}px` }}>
        {COLS.map((c) => (
          <div role="columnheader" class={"lp-th" + (c.num ? " lp-num" : "")} title={c.title}>
            {c.label}
          </div>
        ))}
      </div>
      <div class="lp-tbody" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
        {rows.slice(first, last).map((l, i) => (
          <div
            key={l.path}
            role="row"
            class={"lp-row lp-diff-" + l.status + ((first + i) % 2 ? " lp-odd" : "")}
            data-path={l.path}
            data-status={l.status}
            style={{ top: `${(first + i) * ROW_HEIGHT}px`, gridTemplateColumns: GRID }}
          >
            {COLS.map((c) => (
              <div role="cell" class={"lp-cell" + (c.num ? " lp-num" : "") + (c.cls ? c.cls(l) : "")} title={c.key === "path" ? l.path : undefined}>
                {c.key === "status" && l.status !== "both" ? <span class={"lp-status lp-status-" + l.status}>{l.status}</span> : c.cell(l)}
              </div>
            ))}
          </div>
        ))}
      </div>
    </div>
  );
}
