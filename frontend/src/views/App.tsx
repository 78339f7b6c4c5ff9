// The Layer Profile tab. State lives in the iframe's URL hash, so a link to the iframe URL
// (…/data/plugin_entry.html?name=layerprof#run=…&step=…) reproduces the view.
import { useEffect, useMemo, useRef, useState, useCallback } from "preact/hooks";
import { getJson, ApiError } from "./api";
import { EChart } from "./chart";
import { LayerTable } from "./table";
import { StepTimeline } from "./timeline";
import { CompareView } from "./compare";
import { WorkersCard } from "./workers";
import { LayerDetail } from "./detail";
import {
  ColumnKey,
  DiffDoc,
  columnsFor,
  hasDeviceTime,
  Layer,
  ViewState,
  Window,
  breakdown,
  buildTree,
  diagnoses,
  fmtEvidence,
  fmtPct,
  fmtTime,
  fmtBytes,
  formatHash,
  hotLayers,
  parseHash,
  revealPatch,
  traceViewerUrl,
  stepTime,
  toCsv,
  toJson,
  trendValue,
  visibleRows,
} from "./logic";

const ORANGE = "#f57c00";
const SLATE = "#425066";
const PALETTE = [ORANGE, "#1976d2", "#388e3c", "#7b1fa2", "#c2185b", "#0097a7", "#5d4037", "#fbc02d", SLATE, "#e64a19"];
const BREAKDOWN_COLORS: Record<string, string> = {
  layers_forward: ORANGE,
  layers_gradient: SLATE,
  optimizer_us: "#1976d2",
  loss_us: "#7b1fa2",
  input_us: "#388e3c",
  metrics_us: "#0097a7",
  collective_us: "#c2185b",
  framework_us: "#9e9e9e",
  unattributed_us: "#bdbdbd",
};

interface RunInfo {
  run: string;
  windows: number;
  steps: number[];
  first_step: number;
  last_step: number;
  last_wall_time: number;
}
interface RunsResponse {
  runs: RunInfo[];
  runs_without_reports: string[];
}
interface TrendResponse {
  steps: number[];
  hosts?: string[];
  step_time_us: number[];
  layers: ({ path: string; found: boolean } & Record<string, (number | null)[]>)[];
}

type Load<T> = { status: "idle" } | { status: "loading" } | { status: "error"; message: string } | { status: "ok"; data: T };

function useHashState(): [ViewState, (patch: Partial<ViewState>) => void] {
  const [state, setState] = useState<ViewState>(() => parseHash(location.hash));
  useEffect(() => {
    const onHash = () => setState(parseHash(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const update = useCallback((patch: Partial<ViewState>) => {
    setState((prev) => {
      const next = { ...prev, ...patch };
      const hash = formatHash(next);
      history.replaceState(null, "", location.pathname + location.search + hash);
      return next;
    });
  }, []);
  return [state, update];
}

function Message(props: { kind: "empty" | "error" | "loading"; title: string; children?: any; onRetry?: () => void }) {
  return (
    <div class={`lp-message lp-${props.kind}`} role={props.kind === "error" ? "alert" : "status"} data-testid={`message-${props.kind}`}>
      <div class="lp-message-title">{props.title}</div>
      {props.children ? <div class="lp-message-body">{props.children}</div> : null}
      {props.onRetry ? (
        <button class="lp-button" onClick={props.onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

function NoReportsHelp(props: { run?: string; others: string[] }) {
  return (
    <div>
      {props.run !== undefined ? (
        <p>
          Run <code>{props.run}</code> has no layer reports yet.
        </p>
      ) : null}
      <p>
        A report is written at the end of each profile window. If training has not reached the window yet (it is still
        in its warm-up, before <code>profile_batch</code>'s first step) or the window is still running, there is nothing
        to show yet; this page updates when you press Refresh. If the window has passed, look for <code>layerprof</code>{" "}
        warnings in the training log.
      </p>
      <p>
        To profile a model: <code>model.fit(x, y, callbacks=[LayerProfiler(log_dir="logs", profile_batch=(3, 5))])</code>
        , then <code>tensorboard --logdir logs</code>.
      </p>
      {props.others.length ? (
        <p>
          Runs without layer reports: <span class="lp-runlist">{props.others.join(", ")}</span>
        </p>
      ) : null}
    </div>
  );
}

function download(name: string, type: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function safeFileName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80) || "run";
}

export function App() {
  const [state, update] = useHashState();
  const [runs, setRuns] = useState<Load<RunsResponse>>({ status: "loading" });
  const [win, setWin] = useState<Load<{ run: string; window: Window; hosts: string[] }>>({ status: "idle" });
  const [reloadKey, setReloadKey] = useState(0);

  useEffect(() => {
    let live = true;
    setRuns({ status: "loading" });
    getJson<RunsResponse>("runs")
      .then((data) => live && setRuns({ status: "ok", data }))
      .catch((e: ApiError) => live && setRuns({ status: "error", message: e.message }));
    return () => {
      live = false;
    };
  }, [reloadKey]);

  const runList = runs.status === "ok" ? runs.data.runs : [];
  const others = runs.status === "ok" ? runs.data.runs_without_reports : [];
  // The run shown: the URL's, else the most recently updated run.
  const defaultRun = runList.length ? runList.reduce((a, b) => (b.last_wall_time > a.last_wall_time ? b : a)).run : null;
  const run = state.run !== null ? state.run : defaultRun;
  const runInfo = runList.find((r) => r.run === run);
  const step = state.step !== null ? state.step : runInfo ? runInfo.last_step : null;

  useEffect(() => {
    if (!runInfo || step === null || state.view === "compare") {
      setWin({ status: "idle" });
      return;
    }
    let live = true;
    setWin({ status: "loading" });
    const run = runInfo.run;
    getJson<{ window: Window; hosts?: string[] }>("window", { run, step: String(step), host: state.host })
      .then((d) => live && setWin({ status: "ok", data: { run, window: d.window, hosts: Array.isArray(d.hosts) ? d.hosts : [d.window.host] } }))
      .catch((e: ApiError) => live && setWin({ status: "error", message: e.message }));
    return () => {
      live = false;
    };
  }, [runInfo && runInfo.run, step, state.host, reloadKey, state.view]);

  const refresh = () => setReloadKey((k) => k + 1);

  let body: any;
  if (runs.status === "loading") body = <Message kind="loading" title="Loading runs…" />;
  else if (runs.status === "error")
    body = (
      <Message kind="error" title="Could not load the list of runs" onRetry={refresh}>
        {runs.message}
      </Message>
    );
  else if (!runList.length)
    body = (
      <Message kind="empty" title="No layer profiles yet">
        <NoReportsHelp others={others} />
      </Message>
    );
  else if (!runInfo)
    body = (
      <Message kind="empty" title={`No layer reports for this run`}>
        <NoReportsHelp run={run || ""} others={others} />
      </Message>
    );
  else if (win.status === "error")
    body = (
      <Message kind="error" title="Could not load this profile window" onRetry={refresh}>
        {win.message}
      </Message>
    );
  else if (win.status !== "ok" || win.data.run !== runInfo.run) body = <Message kind="loading" title="Loading layer report…" />;
  else body = <WindowView run={win.data.run} w={win.data.window} hosts={win.data.hosts} state={state} update={update} reloadKey={reloadKey} />;
  const hosts = win.status === "ok" ? win.data.hosts : [];
  const compare = state.view === "compare";
  // Compare mode: the base defaults to another run (the first other one), else this run's first window.
  const otherRun = runList.find((r) => r.run !== (runInfo && runInfo.run));
  const baseRun = state.base !== null ? state.base : otherRun ? otherRun.run : runInfo ? runInfo.run : null;
  const baseInfo = runList.find((r) => r.run === baseRun);
  const baseStep =
    state.baseStep !== null ? state.baseStep : baseInfo && otherRun === undefined && baseInfo.steps.length > 1 ? baseInfo.first_step : null;
  const [cmpHosts, setCmpHosts] = useState<{ base: string[]; run: string[]; doc: DiffDoc | null }>({ base: [], run: [], doc: null });
  if (compare && runs.status === "ok" && runInfo && step !== null) {
    if (!baseInfo)
      body = (
        <Message kind="empty" title="Pick a base run to compare with">
          {baseRun !== null ? `Run ${baseRun} has no layer reports.` : "There is no run with layer reports to compare with."}
        </Message>
      );
    else
      body = (
        <CompareView
          sel={{ base: baseInfo.run, baseStep, baseHost: state.baseHost, run: runInfo.run, step: state.step, host: state.host }}
          reloadKey={reloadKey}
          onHosts={(b, r, doc) => setCmpHosts({ base: b, run: r, doc })}
        />
      );
  }
  const shownHosts = compare ? cmpHosts.run : hosts;
  const shownHost = compare ? (cmpHosts.doc ? cmpHosts.doc.run_window.host : null) : win.status === "ok" ? win.data.window.host : null;

  return (
    <div class="lp-app">
      <div class="lp-toolbar">
        <div class="lp-tabs" role="tablist" data-testid="view-switch">
          <button
            role="tab"
            aria-selected={!compare}
            class={"lp-tab" + (!compare ? " lp-tab-on" : "")}
            data-testid="view-layers"
            onClick={() => update({ view: "layers" })}
          >
            Layers
          </button>
          <button
            role="tab"
            aria-selected={compare}
            class={"lp-tab" + (compare ? " lp-tab-on" : "")}
            data-testid="view-compare"
            onClick={() => update({ view: "compare" })}
            disabled={!runList.length}
          >
            Compare
          </button>
        </div>
        {compare ? (
          <>
            <label class="lp-field">
              <span>Base</span>
              <select
                data-testid="base-run-picker"
                value={baseRun || ""}
                onChange={(e) => update({ base: (e.currentTarget as HTMLSelectElement).value, baseStep: null, baseHost: null })}
              >
                {baseRun !== null && !baseInfo ? <option value={baseRun}>{baseRun}</option> : null}
                {runList.map((r) => (
                  <option value={r.run}>{r.run}</option>
                ))}
              </select>
            </label>
            <label class="lp-field">
              <span>Base window</span>
              <select
                data-testid="base-window-picker"
                value={baseStep === null ? "" : String(baseStep)}
                disabled={!baseInfo}
                onChange={(e) => {
                  const v = (e.currentTarget as HTMLSelectElement).value;
                  update({ baseStep: v === "" ? null : Number(v), baseHost: null });
                }}
              >
                <option value="">latest</option>
                {baseInfo
                  ? baseInfo.steps
                      .slice()
                      .reverse()
                      .map((s) => <option value={String(s)}>{`step ${s}`}</option>)
                  : null}
              </select>
            </label>
            {cmpHosts.base.length > 1 && cmpHosts.doc ? (
              <label class="lp-field">
                <span>Base host</span>
                <select
                  data-testid="base-host-picker"
                  value={cmpHosts.doc.base_window.host}
                  onChange={(e) => update({ baseHost: (e.currentTarget as HTMLSelectElement).value })}
                >
                  {cmpHosts.base.map((h) => (
                    <option value={h}>{h}</option>
                  ))}
                </select>
              </label>
            ) : null}
            <span class="lp-muted">vs</span>
          </>
        ) : null}
        <label class="lp-field">
          <span>Run</span>
          <select
            data-testid="run-picker"
            value={run || ""}
            onChange={(e) => update({ run: (e.currentTarget as HTMLSelectElement).value, step: null, host: null, selected: null })}
            title={compare ? "The run compared with the base" : "The run shown"}
            disabled={!runList.length && !others.length}
          >
            {run !== null && !runInfo ? <option value={run}>{run}</option> : null}
            {runList.map((r) => (
              <option value={r.run}>{r.run}</option>
            ))}
            {others.length ? (
              <optgroup label="No layer reports yet">
                {others.map((r) => (
                  <option value={r}>{r}</option>
                ))}
              </optgroup>
            ) : null}
          </select>
        </label>
        <label class="lp-field">
          <span>Window</span>
          <select
            data-testid="window-picker"
            value={step === null ? "" : String(step)}
            disabled={!runInfo}
            onChange={(e) => update({ step: Number((e.currentTarget as HTMLSelectElement).value), host: null })}
          >
            {runInfo
              ? runInfo.steps
                  .slice()
                  .reverse()
                  .map((s) => <option value={String(s)}>{`step ${s}${s === runInfo.last_step ? " (latest)" : ""}`}</option>)
              : null}
          </select>
        </label>
        {shownHosts.length > 1 && shownHost !== null ? (
          <label class="lp-field">
            <span>Host</span>
            <select
              data-testid="host-picker"
              value={shownHost}
              onChange={(e) => update({ host: (e.currentTarget as HTMLSelectElement).value })}
            >
              {shownHosts.map((h) => (
                <option value={h}>{h}</option>
              ))}
            </select>
          </label>
        ) : null}
        {runInfo && !compare ? <span class="lp-muted">{`${runInfo.windows} window${runInfo.windows === 1 ? "" : "s"}`}</span> : null}
        <span class="lp-spacer" />
        <button class="lp-button" onClick={refresh} title="Reload runs and reports">
          Refresh
        </button>
      </div>
      {body}
    </div>
  );
}

function WindowView(props: { run: string; w: Window; hosts: string[]; state: ViewState; update: (p: Partial<ViewState>) => void; reloadKey: number }) {
  const { w, state, update } = props;
  const stepUs = stepTime(w);
  const columns = useMemo(() => columnsFor(w), [w]);
  const selectedLayer = state.selected !== null ? w.layers.find((l) => l.path === state.selected) : undefined;
  const tree = useMemo(() => buildTree(w.layers), [w]);
  const collapsed = useMemo(() => new Set(state.collapsed), [state.collapsed.join("\u0000")]);
  const rows = useMemo(
    () => visibleRows(tree, { sort: state.sort, filter: state.filter, flat: state.flat, collapsed, stepUs }),
    [tree, state.sort.key, state.sort.desc, state.filter, state.flat, collapsed, stepUs],
  );
  const hot = useMemo(() => hotLayers(w.layers, 10), [w]);
  const diag = useMemo(() => diagnoses(w.layers), [w]);
  const [filterText, setFilterText] = useState(state.filter);
  const filterTimer = useRef<number | undefined>(undefined);

  const onSort = (key: ColumnKey) => {
    const desc = state.sort.key === key ? !state.sort.desc : key !== "path" && key !== "class_name";
    update({ sort: { key, desc } });
  };
  const onToggle = (path: string) => {
    const set = new Set(state.collapsed);
    set.has(path) ? set.delete(path) : set.add(path);
    update({ collapsed: Array.from(set) });
  };
  const exportRows = () =>
    visibleRows(tree, { sort: state.sort, filter: state.filter, flat: state.flat, collapsed: new Set(), stepUs }).map((r) => r.layer);
  const base = `layerprof-${safeFileName(props.run)}-step${w.step}`;
  const traceUrl = useMemo(() => traceViewerUrl(tensorBoardRoot(), props.run, w.profile_dir, w.host), [props.run, w]);
  const select = (path: string | null) => {
    if (path === null) return update({ selected: null });
    const patch = revealPatch(tree, path, state.collapsed, state.filter);
    if (patch.filter !== undefined) setFilterText(patch.filter);
    update({ ...patch, selected: path });
  };

  return (
    <div class="lp-window">
      <WindowFacts w={w} traceUrl={traceUrl} />
      <div class="lp-grid">
        <section class="lp-card lp-hot" data-testid="hot-layers">
          <h2>Hot layers</h2>
          <Diagnoses items={diag} />
          {hot.length ? (
            <HotChart layers={hot} />
          ) : (
            <div class="lp-muted">No layer time was recorded in this window.</div>
          )}
        </section>
        <section class="lp-card lp-breakdown" data-testid="breakdown">
          <h2>Step breakdown</h2>
          <Breakdown w={w} />
        </section>
      </div>
      {props.hosts.length > 1 ? (
        <WorkersCard run={props.run} step={w.step} reloadKey={props.reloadKey} selected={state.selected} onSelect={select} />
      ) : null}
      <StepTimeline w={w} selected={state.selected} onSelect={select} onClear={() => select(null)} traceUrl={traceUrl} />
      <section class="lp-card" data-testid="layers">
        <div class="lp-card-head">
          <h2>Layers</h2>
          <input
            class="lp-filter"
            type="search"
            placeholder="Filter by name or class"
            aria-label="Filter layers by name"
            data-testid="filter"
            value={filterText}
            onInput={(e) => {
              const v = (e.currentTarget as HTMLInputElement).value;
              setFilterText(v);
              clearTimeout(filterTimer.current);
              filterTimer.current = window.setTimeout(() => update({ filter: v }), 120);
            }}
          />
          <label class="lp-check">
            <input type="checkbox" checked={state.flat} onChange={(e) => update({ flat: (e.currentTarget as HTMLInputElement).checked })} />
            Flat list
          </label>
          <span class="lp-muted" data-testid="row-count">{`${rows.length} of ${w.layers.length} layers`}</span>
          <span class="lp-spacer" />
          <button class="lp-button" data-testid="export-csv" onClick={() => download(`${base}.csv`, "text/csv", toCsv(exportRows(), stepUs))}>
            Export CSV
          </button>
          <button
            class="lp-button"
            data-testid="export-json"
            onClick={() => download(`${base}.json`, "application/json", toJson(props.run, w, exportRows()))}
          >
            Export JSON
          </button>
        </div>
        {w.layers.length ? (
          <LayerTable
            rows={rows}
            sort={state.sort}
            stepUs={stepUs}
            onSort={onSort}
            onToggle={onToggle}
            selected={state.selected}
            onSelect={select}
            traceUrl={traceUrl}
            columns={columns}
          />
        ) : (
          <div class="lp-muted">This window has no layers.</div>
        )}
      </section>
      {selectedLayer ? <LayerDetail layer={selectedLayer} w={w} stepUs={stepUs} onClose={() => select(null)} /> : null}

      <Trend run={props.run} w={w} state={state} update={update} hot={hot} reloadKey={props.reloadKey} />
    </div>
  );
}

/** TensorBoard's base URL (with any --path_prefix): the tab's iframe is <root>data/plugin_entry.html. */
function tensorBoardRoot(): string {
  return new URL("../", location.href).toString();
}

function WindowFacts(props: { w: Window; traceUrl: string | null }) {
  const { w } = props;
  const facts = [
    `steps ${w.step}–${w.step + Math.max(1, w.steps) - 1}`,
    `step time ${fmtTime(w.step_time_us)}`,
    w.op_time_us ? `op time ${fmtTime(w.op_time_us)}` : "",
    w.mode ? `mode ${w.mode}` : "",
    w.clock ? `clock ${w.clock === "device" ? "device (GPU kernel time)" : w.clock}` : "",
    hasDeviceTime(w) ? `device ops ${fmtTime(w.device_op_time_us || 0)} · host ops ${fmtTime(w.host_op_time_us || 0)}` : "",
    w.xla_split_us ? `XLA fusions split across layers ${fmtTime(w.xla_split_us)}` : "",
    w.memory_allocators && w.memory_allocators.length ? `memory from ${w.memory_allocators.join(", ")}` : "",
    w.host ? `host ${w.host}` : "",
  ].filter(Boolean);
  return (
    <div class="lp-facts" data-testid="window-facts">
      <span>{facts.join(" · ")}</span>
      {props.traceUrl ? (
        <>
          {" · "}
          <a
            class="lp-trace-window"
            href={props.traceUrl}
            target="_top"
            data-testid="trace-link-window"
            title="Open this window's capture (session and host) in the Profile tab's trace viewer"
          >
            trace viewer ↗
          </a>
        </>
      ) : null}
      {w.memory_available === false ? <div class="lp-warning">Memory was not recorded in this window; memory columns read 0.</div> : null}
      {(Array.isArray(w.warnings) ? w.warnings : []).map((m) => (
        <div class="lp-warning" data-testid="window-warning">
          {String(m)}
        </div>
      ))}
    </div>
  );
}

function Diagnoses(props: { items: ReturnType<typeof diagnoses> }) {
  const [all, setAll] = useState(false);
  if (!props.items.length) return <div class="lp-muted lp-nodiag">No diagnoses: no layer matched a slowness rule.</div>;
  const shown = all ? props.items : props.items.slice(0, 5);
  return (
    <div class="lp-diagnoses" data-testid="diagnoses">
      {shown.map(({ layer, hint }) => (
        <div class={"lp-diag" + (hint.severity === "info" ? " lp-info" : "")} data-code={hint.code}>
          <div>
            <span class="lp-code">{hint.code}</span> <b class="lp-diag-layer">{layer.path}</b>{" "}
            <span class="lp-diag-time">({fmtTime(layer.forward_us + layer.backward_us)} per step)</span>
          </div>
          <div class="lp-diag-message">{hint.message}</div>
          {Object.keys(hint.evidence || {}).length ? <div class="lp-evidence">{fmtEvidence(hint.evidence)}</div> : null}
        </div>
      ))}
      {props.items.length > 5 ? (
        <button class="lp-link" onClick={() => setAll(!all)}>
          {all ? "Show fewer" : `Show all ${props.items.length} diagnoses`}
        </button>
      ) : null}
    </div>
  );
}

function HotChart(props: { layers: Layer[] }) {
  const option = useMemo(() => {
    const ls = props.layers.slice().reverse();
    return {
      grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
      legend: { top: 0, data: ["Forward (self)", "Gradient (self)"] },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v: number) => fmtTime(v) },
      xAxis: { type: "value", axisLabel: { formatter: (v: number) => fmtTime(v) } },
      yAxis: {
        type: "category",
        data: ls.map((l) => l.path),
        axisLabel: { width: 180, overflow: "truncate" },
      },
      series: [
        { name: "Forward (self)", type: "bar", stack: "t", data: ls.map((l) => l.self_forward_us), itemStyle: { color: ORANGE } },
        { name: "Gradient (self)", type: "bar", stack: "t", data: ls.map((l) => l.self_backward_us), itemStyle: { color: SLATE } },
      ],
    };
  }, [props.layers]);
  return <EChart option={option} height={Math.max(140, 40 + props.layers.length * 26)} label="Hot layers: forward and gradient time per step" testId="hot-chart" />;
}

function Breakdown(props: { w: Window }) {
  const items = useMemo(() => breakdown(props.w), [props.w]);
  const total = items.reduce((a, b) => a + b.us, 0);
  const option = useMemo(() => {
    const rev = items.slice().reverse();
    return {
      grid: { left: 8, right: 90, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "item", valueFormatter: (v: number) => `${fmtTime(v)} (${fmtPct(total ? (v / total) * 100 : 0)})` },
      xAxis: { type: "value", show: false },
      yAxis: { type: "category", data: rev.map((i) => i.label) },
      series: [
        {
          type: "bar",
          name: "Time per step",
          data: rev.map((i) => ({ value: i.us, itemStyle: { color: BREAKDOWN_COLORS[i.key] || SLATE } })),
          label: {
            show: true,
            position: "right",
            formatter: (p: any) => `${fmtTime(p.value)}  ${fmtPct(total ? (p.value / total) * 100 : 0)}`,
          },
        },
      ],
    };
  }, [items]);
  return (
    <div>
      <div class="lp-muted" data-testid="breakdown-total">{`Op time per step: ${fmtTime(total)}`}</div>
      <EChart option={option} height={230} label="Step breakdown: layers, optimizer, loss, input, metrics, framework, unattributed" testId="breakdown-chart" />
    </div>
  );
}

const METRIC_LABELS: Record<string, string> = {
  total: "Total time",
  forward_us: "Forward time",
  backward_us: "Gradient time",
  self: "Self time",
  alloc: "Allocated bytes",
  peak_live_bytes: "Live at peak",
};

function Trend(props: { run: string; w: Window; state: ViewState; update: (p: Partial<ViewState>) => void; hot: Layer[]; reloadKey: number }) {
  const { state, update } = props;
  const layers = state.trend.length ? state.trend : props.hot.slice(0, 5).map((l) => l.path);
  const [visible, setVisible] = useState(false);
  const [data, setData] = useState<Load<TrendResponse>>({ status: "idle" });
  const [pick, setPick] = useState("");
  // The layer list (thousands of <option>s) is built only once the picker is used.
  const [picking, setPicking] = useState(false);
  const el = useRef<HTMLElement>(null);
  // Loaded only once the section is in view: it reads every window of the run.
  useEffect(() => {
    if (visible || !el.current) return;
    const io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && setVisible(true));
    io.observe(el.current);
    return () => io.disconnect();
  }, [visible]);
  const key = layers.join("\u0000");
  useEffect(() => {
    if (!visible || !layers.length) return;
    let live = true;
    setData({ status: "loading" });
    getJson<TrendResponse>("trend", { run: props.run, layer: layers })
      .then((d) => live && setData({ status: "ok", data: d }))
      .catch((e: ApiError) => live && setData({ status: "error", message: e.message }));
    return () => {
      live = false;
    };
  }, [visible, props.run, key, props.reloadKey]);

  const isBytes = state.metric === "alloc" || state.metric === "peak_live_bytes";
  const fmt = isBytes ? fmtBytes : fmtTime;
  const option = useMemo(() => {
    if (data.status !== "ok") return null;
    const d = data.data;
    return {
      color: PALETTE,
      grid: { left: 8, right: 24, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis", valueFormatter: (v: number) => (v == null ? "–" : fmt(v)) },
      // Several hosts per step (multi-worker): one point per window, labelled "step host".
      xAxis: {
        type: "category",
        name: "step",
        data: d.steps.map((s, i) => (d.hosts && new Set(d.hosts).size > 1 ? `${s} ${d.hosts[i] ?? ""}` : String(s))),
      },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => fmt(v) } },
      series: d.layers.map((l) => ({
        name: l.path,
        type: "line",
        showSymbol: d.steps.length < 60,
        connectNulls: false,
        data: d.steps.map((_, i) => trendValue(l, state.metric, i)),
      })),
    };
  }, [data, state.metric]);

  const addLayer = (path: string) => {
    if (!path || layers.includes(path)) return;
    update({ trend: [...layers, path] });
    setPick("");
  };
  const layerPaths = useMemo(() => props.w.layers.map((l) => l.path), [props.w]);

  return (
    <section class="lp-card" ref={el} data-testid="trend">
      <div class="lp-card-head">
        <h2>Over training</h2>
        <label class="lp-field">
          <span>Show</span>
          <select value={state.metric} onChange={(e) => update({ metric: (e.currentTarget as HTMLSelectElement).value })}>
            {Object.entries(METRIC_LABELS).map(([k, v]) => (
              <option value={k}>{v}</option>
            ))}
          </select>
        </label>
        <input
          class="lp-filter"
          list="lp-layer-paths"
          placeholder="Add a layer…"
          aria-label="Add a layer to the chart"
          value={pick}
          onFocus={() => setPicking(true)}
          onInput={(e) => setPick((e.currentTarget as HTMLInputElement).value)}
          onChange={(e) => addLayer((e.currentTarget as HTMLInputElement).value)}
          onKeyDown={(e) => e.key === "Enter" && addLayer((e.currentTarget as HTMLInputElement).value)}
        />
        <datalist id="lp-layer-paths">
          {(picking ? layerPaths.slice(0, 5000) : []).map((p) => (
            <option value={p} />
          ))}
        </datalist>
      </div>
      <div class="lp-chips">
        {layers.map((p) => (
          <span class="lp-chip">
            {p}
            <button class="lp-chip-x" aria-label={`Remove ${p}`} onClick={() => update({ trend: layers.filter((x) => x !== p) })}>
              ×
            </button>
          </span>
        ))}
      </div>
      {!layers.length ? (
        <div class="lp-muted">Pick layers to follow across windows.</div>
      ) : data.status === "error" ? (
        <Message kind="error" title="Could not load the trend">
          {data.message}
        </Message>
      ) : option ? (
        <EChart option={option} height={280} label="Layer time and memory across profile windows" testId="trend-chart" />
      ) : (
        <div class="lp-muted">Loading…</div>
      )}
    </section>
  );
}
