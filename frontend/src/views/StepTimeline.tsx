// The "Step timeline": the last profiled step's layer spans, forward lanes above gradient
// lanes, one lane per nesting depth (a sublayer's span sits below its parent's). Each span
// is drawn as its busy segments (where its ops ran) over a faint line from its first to its
// last op. ECharts custom series (one rect per segment; ECharts does the axes, zoom and hit
// testing), so thousands of spans stay responsive. Clicking a span selects its layer.
import { useMemo } from "preact/hooks";
import type { Timeline, Window } from "../api/types";
import { fmtPct, fmtTime, shortName } from "../models/format";
import { PHASE_LABEL, TimelineModel, busyOf, clipRect, hasTimeline, stepSpanPath, timelineModel } from "../models/timeline";
import { EChart, besidePointer } from "./EChart";
import { Palette, mix } from "./colors";
import { useColors } from "./theme";
import { useDeferred } from "./defer";

const phaseColors = (c: Palette): Record<string, string> => ({ forward: c.ORANGE, backward: c.SLATE });
/** The faint fill of the time only a layer's sublayers ran (own time is solid; lighter on
 * a light page, darker on a dark one): this share of the phase's colour on the card's. */
const SUBLAYER_SHARE = 0.4;
const ROW_PX = 22;
const PROGRESSIVE = { progressiveThreshold: 12000, progressive: 3000 };
const MAX_VISIBLE_ROWS = 24;

/** The ECharts option of the timeline: the busy segments (series 0, one rect each; the
 * selected layer's in red) over each span's faint extent line (series 1, also answering
 * clicks in the gaps), zoom on time (and on rows when there are many). */
function timelineOption(model: TimelineModel, selected: string | null, c: Palette): any {
  const { CARD_BG, SELECTED } = c;
  const COLORS = phaseColors(c);
  const { rows, spans, segments } = model;
  const zoomRows = rows.length > MAX_VISIBLE_ROWS;
  // The path is written on each span's widest segment when it is wide enough, else in the
  // widest gap of its first-to-last line (see renderExtent).
  const widest = new Map<number, number>();
  const bySpan = new Map<number, [number, number][]>();
  segments.forEach((sg, j) => {
    const k = widest.get(sg[3]);
    if (k === undefined || sg[1] - sg[0] > segments[k][1] - segments[k][0]) widest.set(sg[3], j);
    const list = bySpan.get(sg[3]);
    list ? list.push([sg[0], sg[1]]) : bySpan.set(sg[3], [[sg[0], sg[1]]]);
  });
  const box = (params: any, api: any, start: number, end: number, frac: number) => {
    const row = api.value(2);
    const a = api.coord([start, row]);
    const b = api.coord([end, row]);
    const h = api.size([0, 1])[1] * frac;
    const cs = params.coordSys;
    return clipRect(
      { x: a[0], y: a[1] - h / 2, width: Math.max(1, b[0] - a[0]), height: h },
      { x: cs.x, y: cs.y, width: cs.width, height: cs.height },
    );
  };
  // Level of detail: a bar that would only repaint pixels the previous bar of its row has
  // painted is not drawn (the whole step of a big model in view: thousands of spans under
  // a pixel each); zoomed in, each is drawn again. The selected layer's are always drawn.
  const painted = (params: any, api: any, keep: boolean) => {
    const ends: Record<number, number> = params.context.ends || (params.context.ends = {});
    const row = api.value(2);
    const x0 = api.coord([api.value(0), row])[0];
    const x1 = api.coord([api.value(1), row])[0];
    if (!keep && ends[row] !== undefined && x1 <= ends[row]) return true;
    ends[row] = Math.max(ends[row] ?? -Infinity, x0 + Math.max(1, x1 - x0)); // drawn at least a pixel wide
    return false;
  };
  const renderSegment = (params: any, api: any) => {
    const shape = box(params, api, api.value(0), api.value(1), 0.72);
    if (!shape) return null;
    const sp = spans[api.value(3)];
    const isSel = selected !== null && sp.path === selected;
    if (painted(params, api, isSel)) return null;
    const color = isSel ? SELECTED : COLORS[sp.phase];
    const label = widest.get(api.value(3)) === params.dataIndex && shape.width > 40;
    const text = label
      ? { style: { text: sp.path, fill: "#fff", fontSize: 11, overflow: "truncate", width: shape.width - 4 } }
      : undefined;
    const stroke = { stroke: CARD_BG, lineWidth: shape.width > 3 ? 0.5 : 0 };
    const parts = model.own[params.dataIndex];
    // All own time, or not known: one solid bar, as before self_busy existed.
    if (!parts) return { type: "rect", shape, style: { fill: color, ...stroke }, textContent: text, textConfig: { position: "inside" } };
    // Own time solid over the lighter time when only its sublayers' ops ran; the name on top.
    const children: any[] = [{ type: "rect", shape, style: { fill: mix(color, CARD_BG, SUBLAYER_SHARE), ...stroke } }];
    for (const [a, b] of parts) {
      const own = box(params, api, a, b, 0.72);
      if (own) children.push({ type: "rect", shape: own, style: { fill: color } });
    }
    if (text)
      children.push({
        type: "text",
        z2: 10,
        // On the lighter fill: the page's text colour (white on it is unreadable in light).
        style: { ...text.style, x: shape.x + shape.width / 2, y: shape.y + shape.height / 2, align: "center", verticalAlign: "middle", fill: c.dark ? "#ffffff" : "#212121" },
      });
    return { type: "group", children };
  };
  const renderExtent = (params: any, api: any) => {
    const hit = box(params, api, api.value(0), api.value(1), 0.72);
    if (!hit) return null;
    const sp = spans[api.value(3)];
    const isSel = selected !== null && sp.path === selected;
    if (painted(params, api, isSel)) return null;
    const color = isSel ? SELECTED : COLORS[sp.phase];
    const y = hit.y + hit.height / 2;
    const children: any[] = [
      // Transparent, full height: a click between two segments still selects the layer.
      { type: "rect", shape: hit, style: { fill: "rgba(0,0,0,0)" } },
      { type: "line", shape: { x1: hit.x, y1: y, x2: hit.x + hit.width, y2: y }, style: { stroke: color, lineWidth: 1.5, opacity: 0.45 } },
    ];
    const gap = widestGap(bySpan.get(api.value(3)) || [], (t) => api.coord([t, api.value(2)])[0], hit);
    const segLabelled = (() => {
      const j = widest.get(api.value(3));
      return j !== undefined && api.coord([segments[j][1], 0])[0] - api.coord([segments[j][0], 0])[0] > 40;
    })();
    if (!segLabelled && gap && gap[1] - gap[0] >= 64) {
      children.push({
        type: "text",
        z2: 10,
        style: {
          text: sp.path, x: (gap[0] + gap[1]) / 2, y, align: "center", verticalAlign: "middle", fill: color, fontSize: 11,
          width: gap[1] - gap[0] - 10, overflow: "truncate", backgroundColor: CARD_BG, padding: [0, 3],
        },
      });
    }
    return { type: "group", children };
  };
  return {
    grid: { left: 8, right: zoomRows ? 40 : 16, top: 8, bottom: 44, containLabel: true },
    tooltip: {
      trigger: "item",
      position: besidePointer,
      formatter: (p: any) => spanTooltip(model, p.value[3]),
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
    // Drawn in one pass up to 12,000 items: ECharts' progressive drawing walks every element
    // drawn so far on each frame, slower in all (gaps too narrow to see are closed in the
    // model and bars under a pixel skipped, which keeps a big window to a few thousand).
    series: [
      { type: "custom", name: "Busy", renderItem: renderSegment, encode: { x: [0, 1], y: 2 }, data: segments, clip: true, z: 3, ...PROGRESSIVE },
      ...(model.extents.length
        ? [{ type: "custom", name: "First to last op", renderItem: renderExtent, encode: { x: [0, 1], y: 2 }, data: model.extents, clip: true, z: 2, ...PROGRESSIVE }]
        : []),
    ],
  };
}

/** The widest gap in pixels between a span's segments, inside the visible `clip`; null if none. */
function widestGap(segs: [number, number][], px: (t: number) => number, clip: { x: number; width: number }): [number, number] | null {
  let best: [number, number] | null = null;
  for (let k = 1; k < segs.length; k++) {
    const a = Math.max(clip.x, px(segs[k - 1][1]));
    const b = Math.min(clip.x + clip.width, px(segs[k][0]));
    if (b > a && (!best || b - a > best[1] - best[0])) best = [a, b];
  }
  return best;
}

/** A span in words: phase, busy time (own and sublayers'), its extent, when. */
export function spanTooltip(model: TimelineModel, i: number): string {
  const sp = model.spans[i];
  const path = sp.path.length > 90 ? sp.path.slice(0, 44) + "…" + sp.path.slice(-44) : sp.path;
  const extent = sp.end_us - sp.start_us;
  const busy = model.busyUs[i];
  const when = `${fmtTime(sp.start_us)} → ${fmtTime(sp.end_us)} after the step start`;
  if (!busyOf(sp).measured) return `${path}\n${PHASE_LABEL[sp.phase]} · ${fmtTime(extent)} from first to last op\n${when}`;
  const share = extent > 0 ? ` (${fmtPct((busy / extent) * 100)} of ${fmtTime(extent)} from first to last op)` : "";
  return `${path}\n${PHASE_LABEL[sp.phase]} · busy ${fmtTime(busy)}${share}\n${ownText(model, i)}\n${when}`;
}

/** The span's own time in words: solid (own ops) and light (sublayers alone). */
function ownText(model: TimelineModel, i: number): string {
  const own = model.ownUs[i];
  const busy = model.busyUs[i];
  if (own === null) return "own time not known (this report does not tell it from its sublayers')";
  const hasSplit = model.own.some((p, j) => p !== null && model.segments[j][3] === i);
  if (!hasSplit) return `own ops ${fmtTime(own)}: all of it (no sublayers)`;
  return `own ops ${fmtTime(own)} (solid) · sublayers alone ${fmtTime(Math.max(0, busy - own))} (faint)`;
}

/** What a bar means, for the report at hand (busy intervals, or first to last op only). */
function meaning(model: TimelineModel): string {
  const n = model.items.length;
  if (!model.measured)
    return (
      "A bar runs from the layer's first op to its last op of that phase in this step (this report has no busy intervals: " +
      "it was written by an older tb_layerprof). Ops of several layers run in parallel, so a bar can be longer than the " +
      "layer's own work: its time is in the table (Self, Total)."
    );
  const rest = n - model.measured;
  const own = model.shaded
    ? " Solid: the layer's own ops ran; faint: only its sublayers' ops ran (a layer without sublayers is solid throughout)."
    : "";
  const unsplit = model.unsplit
    ? ` ${model.unsplit} bar${model.unsplit === 1 ? "" : "s"} of layers with sublayers ${model.unsplit === 1 ? "is" : "are"} solid throughout: this report does not tell their own ops from their sublayers'.`
    : "";
  return (
    "A bar shows where the layer's ops of that phase ran in this step (their merged intervals, its sublayers' included): " +
    "its length is the layer's busy time." + own + " The faint line runs from its first op to its last; other layers' ops run in the " +
    "gaps and in parallel, so the line can be far longer than the bar." + unsplit +
    (model.closedGaps ? ` Gaps under ${fmtTime(model.minGapUs)} are not drawn (too narrow to see at this scale).` : "") +
    (rest ? ` ${rest} span${rest === 1 ? " has" : "s have"} no busy intervals and ${rest === 1 ? "is" : "are"} drawn from first to last op.` : "")
  );
}

export function StepTimeline(props: { w: Window; selected: string | null; onSelect: (path: string) => void; onClear: () => void; traceUrl: string | null }) {
  const { w, selected } = props;
  const present = hasTimeline(w);
  // Thousands of spans: laid out once the table is on screen (the card is drawn at once).
  const ready = useDeferred();
  const model = useMemo(() => (present && ready ? timelineModel(w.timeline as Timeline, w.layers) : null), [w, present, ready]);
  const colors = useColors();
  const option = useMemo(() => (model && model.items.length ? timelineOption(model, selected, colors) : null), [model, selected, colors]);
  const { SELECTED, CARD_BG } = colors;
  const COLORS = phaseColors(colors);

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
          {model && model.shaded ? (
            <span data-testid="timeline-own-legend" class="lp-legend-group">
              <i style={{ background: COLORS.forward }} /> solid: own ops <i style={{ background: mix(COLORS.forward, CARD_BG, SUBLAYER_SHARE) }} /> faint: only its sublayers
            </span>
          ) : null}
        </span>
        <span class="lp-spacer" />
        {props.traceUrl ? (
          <a class="lp-button" href={props.traceUrl} target="_top" data-testid="trace-link-timeline" title="Open this window's capture in the Profile tab's trace viewer">
            Open in trace viewer
          </a>
        ) : null}
      </div>
      <TimelineBody present={present} ready={ready} model={model} option={option} selected={selected} onSelect={props.onSelect} />
      {model && model.items.length ? (
        <div class="lp-basis-note" data-testid="timeline-meaning">
          {meaning(model)}
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
        ? sel
            .map((s) => {
              const b = busyOf(s);
              const own = props.model.ownUs[props.model.spans.indexOf(s)];
              const ownPart = own != null && own !== b.busyUs ? `, own ${fmtTime(own)}` : "";
              const time = b.measured ? `busy ${fmtTime(b.busyUs)}${ownPart} of ${fmtTime(s.end_us - s.start_us)}` : fmtTime(s.end_us - s.start_us);
              return ` · ${PHASE_LABEL[s.phase] || s.phase} ${fmtTime(s.start_us)} → ${fmtTime(s.end_us)} (${time})`;
            })
            .join("")
        : " · no span in this step"}{" "}
      <button class="lp-link" onClick={props.onClear} data-testid="clear-selection">
        clear
      </button>
    </div>
  );
}

function TimelineBody(props: { present: boolean; ready: boolean; model: TimelineModel | null; option: any; selected: string | null; onSelect: (path: string) => void }) {
  const { model, option } = props;
  if (props.present && !props.ready) return <div class="lp-chart" style={{ height: "120px" }} />;
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
      attrs={{
        "data-spans": String(model.items.length),
        "data-rows": String(model.rows.length),
        "data-segments": String(model.segments.length),
        "data-measured": String(model.measured),
      }}
      onClick={(p) => {
        const sp = p && p.seriesType === "custom" && Array.isArray(p.value) ? model.spans[p.value[3]] : null;
        if (sp) props.onSelect(sp.path);
      }}
    />
  );
}
