// The "Step timeline": the last profiled step's layer spans, forward lanes above gradient
// lanes, one lane per nesting depth (a sublayer's span sits below its parent's). Drawn by an
// ECharts custom series (one rect per span; ECharts does the axes, zoom and hit testing),
// so thousands of spans stay responsive. Clicking a span selects its layer.
import { useMemo } from "preact/hooks";
import type { Timeline, Window } from "../api/types";
import { fmtTime, shortName } from "../models/format";
import { PHASE_LABEL, TimelineModel, clipRect, hasTimeline, stepSpanPath, timelineModel } from "../models/timeline";
import { EChart } from "./EChart";
import { ORANGE, SLATE } from "./colors";

const COLORS: Record<string, string> = { forward: ORANGE, backward: SLATE };
const SELECTED = "#d50000";
const ROW_PX = 22;
const MAX_VISIBLE_ROWS = 24;

/** The ECharts option of the timeline: one rect per span (custom series), the selected
 * layer's spans in red, zoom on time (and on rows when there are many). */
function timelineOption(model: TimelineModel, selected: string | null): any {
  const { rows, items, spans } = model;
  const zoomRows = rows.length > MAX_VISIBLE_ROWS;
  const renderItem = (params: any, api: any) => {
    const row = api.value(2);
    const a = api.coord([api.value(0), row]);
    const b = api.coord([api.value(1), row]);
    const h = api.size([0, 1])[1] * 0.72;
    const cs = params.coordSys;
    const shape = clipRect(
      { x: a[0], y: a[1] - h / 2, width: Math.max(1, b[0] - a[0]), height: h },
      { x: cs.x, y: cs.y, width: cs.width, height: cs.height },
    );
    if (!shape) return null;
    const sp = spans[api.value(3)];
    const isSel = selected !== null && sp.path === selected;
    return {
      type: "rect",
      shape,
      style: { fill: isSel ? SELECTED : COLORS[sp.phase], stroke: "#fff", lineWidth: shape.width > 3 ? 0.5 : 0 },
      textContent: shape.width > 40 ? { style: { text: sp.path, fill: "#fff", fontSize: 11, overflow: "truncate", width: shape.width - 4 } } : undefined,
      textConfig: { position: "inside" },
    };
  };
  return {
    grid: { left: 8, right: zoomRows ? 40 : 16, top: 8, bottom: 44, containLabel: true },
    tooltip: {
      trigger: "item",
      // Beside the pointer, never under it: the canvas tooltip would take the click.
      position: (pt: number[], _p: any, _d: any, _r: any, size: { contentSize: number[]; viewSize: number[] }) => {
        const [w, h] = size.contentSize;
        const [vw, vh] = size.viewSize;
        const x = pt[0] + 16 + w <= vw || pt[0] - 16 - w < 0 ? pt[0] + 16 : pt[0] - 16 - w;
        return [x, Math.max(0, Math.min(vh - h, pt[1] - h / 2))];
      },
      formatter: (p: any) => {
        const sp = spans[p.value[3]];
        const path = sp.path.length > 90 ? sp.path.slice(0, 44) + "…" + sp.path.slice(-44) : sp.path;
        return `${path}\n${PHASE_LABEL[sp.phase]} · ${fmtTime(sp.end_us - sp.start_us)}\n${fmtTime(sp.start_us)} → ${fmtTime(sp.end_us)} after the step start`;
      },
    },
    dataZoom: [
      { type: "inside", xAxisIndex: 0, filterMode: "weakFilter" },
      { type: "slider", xAxisIndex: 0, filterMode: "weakFilter", height: 16, bottom: 6, labelFormatter: (v: number) => fmtTime(v) },
      ...(zoomRows
        ? [{ type: "slider", yAxisIndex: 0, filterMode: "weakFilter", width: 14, right: 6, startValue: 0, endValue: MAX_VISIBLE_ROWS - 1, showDetail: false }]
        : []),
    ],
    xAxis: {
      type: "value",
      min: 0,
      max: model.endUs > 0 ? model.endUs : undefined,
      axisLabel: { formatter: (v: number) => fmtTime(v), hideOverlap: true },
    },
    yAxis: {
      type: "category",
      inverse: true,
      data: rows.map((_, i) => String(i)),
      axisTick: { show: false },
      axisLabel: { interval: 0, formatter: (_: string, i: number) => rows[i].label },
      splitLine: { show: false },
    },
    series: [
      {
        type: "custom",
        name: "Layer spans",
        renderItem,
        encode: { x: [0, 1], y: 2 },
        data: items,
        clip: true,
      },
    ],
  };
}

export function StepTimeline(props: { w: Window; selected: string | null; onSelect: (path: string) => void; onClear: () => void; traceUrl: string | null }) {
  const { w, selected } = props;
  const present = hasTimeline(w);
  const model = useMemo(() => (present ? timelineModel(w.timeline as Timeline, w.layers) : null), [w, present]);
  const option = useMemo(() => (model && model.items.length ? timelineOption(model, selected) : null), [model, selected]);

  return (
    <section class="lp-card" data-testid="timeline">
      <div class="lp-card-head">
        <h2>Step timeline</h2>
        {model ? (
          <span class="lp-muted">{`step ${model.step} · ${fmtTime(model.stepUs)} · ${model.items.length} span${model.items.length === 1 ? "" : "s"}`}</span>
        ) : null}
        <span class="lp-legend">
          <i style={{ background: COLORS.forward }} /> forward <i style={{ background: COLORS.backward }} /> gradient{" "}
          <i style={{ background: SELECTED }} /> selected
        </span>
        <span class="lp-spacer" />
        {props.traceUrl ? (
          <a class="lp-button" href={props.traceUrl} target="_top" data-testid="trace-link-timeline" title="Open this window's capture in the Profile tab's trace viewer">
            Open in trace viewer
          </a>
        ) : null}
      </div>
      <TimelineBody present={present} model={model} option={option} selected={selected} onSelect={props.onSelect} />
      {model && model.items.length ? (
        <div class="lp-basis-note" data-testid="timeline-meaning">
          A bar runs from the layer's first op to its last op of that phase in this step. Ops of several layers run in
          parallel, so a bar can be longer than the layer's own work: its time is in the table (Self, Total).
        </div>
      ) : null}
      {selected !== null && model ? <SelectedSpans model={model} path={selected} onClear={props.onClear} /> : null}
    </section>
  );
}

/** The selected layer's spans in this step, in words, with a "clear" link. */
function SelectedSpans(props: { model: TimelineModel; path: string; onClear: () => void }) {
  const sel = props.model.spans.filter((s) => s.path === props.path);
  return (
    <div class="lp-selected-spans" data-testid="timeline-selection">
      <b title={props.path}>{shortName(props.path)}</b>
      {sel.length
        ? sel.map((s) => ` · ${PHASE_LABEL[s.phase] || s.phase} ${fmtTime(s.start_us)} → ${fmtTime(s.end_us)} (${fmtTime(s.end_us - s.start_us)})`).join("")
        : " · no span in this step"}{" "}
      <button class="lp-link" onClick={props.onClear} data-testid="clear-selection">
        clear
      </button>
    </div>
  );
}

function TimelineBody(props: { present: boolean; model: TimelineModel | null; option: any; selected: string | null; onSelect: (path: string) => void }) {
  const { model, option } = props;
  if (!props.present)
    return (
      <div class="lp-muted" data-testid="timeline-missing">
        No timeline in this report: it was written by an older version of tb_layerprof (or no layer ran in the profiled
        steps). Profile again with the current version to see the layer spans of a step.
      </div>
    );
  if (!option || !model)
    return (
      <div class="lp-muted" data-testid="timeline-missing">
        No timeline in this report: none of its spans could be drawn.
      </div>
    );
  const rows = Math.min(model.rows.length, MAX_VISIBLE_ROWS);
  return (
    <EChart
      option={option}
      height={Math.max(120, rows * ROW_PX + 60)}
      label="Step timeline: forward and gradient spans of every layer in the last profiled step (Left/Right arrows select the previous/next span's layer)"
      onKeyDown={(e) => {
        const dir = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
        if (!dir) return;
        e.preventDefault();
        const path = stepSpanPath(model, props.selected, dir);
        if (path !== null) props.onSelect(path);
      }}
      testId="timeline-chart"
      attrs={{ "data-spans": String(model.items.length), "data-rows": String(model.rows.length) }}
      onClick={(p) => {
        const sp = p && p.seriesType === "custom" && Array.isArray(p.value) ? model.spans[p.value[3]] : null;
        if (sp) props.onSelect(sp.path);
      }}
    />
  );
}
