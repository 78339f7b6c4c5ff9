// "Over training": chosen layers (by default the backend's hot layers) across every window
// of the run (/trend), loaded only once the card is scrolled into view.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useFetch } from "../api/hooks";
import type { Figures, TrendResponse, Window } from "../api/types";
import { defaultTrendLayers } from "../models/figures";
import { fmtBytes, fmtTime } from "../models/format";
import { METRIC_LABELS, isBytesMetric, trendSeries } from "../models/trend";
import type { ViewState } from "../models/urlstate";
import { EChart } from "./EChart";
import { Message } from "./Message";
import { useColors } from "./theme";

/** True once the element has been in view (then stays true). */
function useSeen(el: { current: HTMLElement | null }): boolean {
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    if (seen || !el.current) return;
    const io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && setSeen(true));
    io.observe(el.current);
    return () => io.disconnect();
  }, [seen]);
  return seen;
}

export function Trend(props: { run: string; w: Window; figures: Figures | null; state: ViewState; update: (p: Partial<ViewState>) => void; reloadKey: number }) {
  const { state, update } = props;
  const layers = state.trend.length ? state.trend : defaultTrendLayers(props.figures);
  const el = useRef<HTMLElement>(null);
  const seen = useSeen(el);
  const data = useFetch<TrendResponse>(seen && layers.length ? "trend" : null, { run: props.run, layer: layers }, props.reloadKey);
  let body;
  if (!layers.length) body = <div class="lp-muted">Pick layers to follow across windows.</div>;
  else if (data.status === "error")
    body = (
      <Message kind="error" title="Could not load the trend">
        {data.message}
      </Message>
    );
  else if (data.status === "ok") body = <TrendChart d={data.data} metric={state.metric} />;
  else body = <div class="lp-muted">Loading…</div>;
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
        <AddLayer w={props.w} onAdd={(p) => !layers.includes(p) && update({ trend: [...layers, p] })} />
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
      {body}
    </section>
  );
}

/** "Add a layer…": a text box with the window's layer paths as suggestions. */
function AddLayer(props: { w: Window; onAdd: (path: string) => void }) {
  const [pick, setPick] = useState("");
  // The list (thousands of <option>s) is built only once the box is used.
  const [picking, setPicking] = useState(false);
  const paths = useMemo(() => (picking ? props.w.layers.map((l) => l.path).slice(0, 5000) : []), [props.w, picking]);
  const add = (path: string) => {
    if (!path) return;
    props.onAdd(path);
    setPick("");
  };
  return (
    <>
      <input
        class="lp-filter"
        list="lp-layer-paths"
        placeholder="Add a layer…"
        aria-label="Add a layer to the chart"
        value={pick}
        onFocus={() => setPicking(true)}
        onInput={(e) => setPick((e.currentTarget as HTMLInputElement).value)}
        onChange={(e) => add((e.currentTarget as HTMLInputElement).value)}
        onKeyDown={(e) => e.key === "Enter" && add((e.currentTarget as HTMLInputElement).value)}
      />
      <datalist id="lp-layer-paths">
        {paths.map((p) => (
          <option value={p} />
        ))}
      </datalist>
    </>
  );
}

function TrendChart(props: { d: TrendResponse; metric: string }) {
  const { d, metric } = props;
  const { PALETTE } = useColors();
  const option = useMemo(() => {
    const fmt = isBytesMetric(metric) ? fmtBytes : fmtTime;
    // Several hosts (multi-worker): one line per layer and host, never one saw-tooth line.
    const t = trendSeries(d, metric);
    const dashes = ["solid", "dashed", "dotted"];
    const hostOrder = Array.from(new Set(t.series.map((s) => s.host).filter((h): h is string => h !== null)));
    const pathOrder = Array.from(new Set(t.series.map((s) => s.path)));
    return {
      grid: { left: 8, right: 48, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis", valueFormatter: (v: number) => (v == null ? "–" : fmt(v)) },
      xAxis: { type: "category", name: "step", data: t.steps.map(String) },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => fmt(v) } },
      series: t.series.map((s) => {
        // A layer keeps its colour on every host; hosts differ by line style.
        const color = PALETTE[pathOrder.indexOf(s.path) % PALETTE.length];
        const dash = s.host === null ? "solid" : dashes[hostOrder.indexOf(s.host) % dashes.length];
        return {
          name: s.name,
          type: "line",
          showSymbol: t.steps.length < 60,
          connectNulls: false,
          itemStyle: { color },
          lineStyle: { color, type: dash },
          data: s.data,
        };
      }),
    };
  }, [d, metric, PALETTE]);
  return <EChart option={option} height={280} label="Layer time and memory across profile windows" testId="trend-chart" />;
}
