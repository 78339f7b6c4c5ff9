// The "Work" card: a roofline-style chart, log-log, one point per layer and phase at its
// arithmetic intensity (FLOPs per byte moved) and achieved FLOP/s, under the two roofs of
// the window's peaks. All figures are the backend's (`layer.work`); clicking a point
// selects its layer. Without counts, a sentence says why there is no chart.
import { useMemo } from "preact/hooks";
import type { Window } from "../api/types";
import { fmtBytes, fmtPct, shortName } from "../models/format";
import { RoofPoint, RooflineModel, peakSourceText, rooflineModel } from "../models/roofline";
import { PHASE_LABEL } from "../models/timeline";
import { countsLabel, fmtByteRate, fmtFlopRate, fmtIntensity, fmtRoof, fmtSI } from "../models/work";
import { EChart, besidePointer } from "./EChart";
import type { Palette } from "./colors";
import { useColors } from "./theme";
import { useDeferred } from "./defer";

const SYMBOLS = { forward: "circle", backward: "diamond" };

function pointTooltip(p: RoofPoint): string {
  const path = p.path.length > 90 ? p.path.slice(0, 44) + "…" + p.path.slice(-44) : p.path;
  return [
    path,
    `${PHASE_LABEL[p.phase]} (sublayers included) · ${countsLabel(p.counts)}`,
    `${fmtSI(p.flops, "FLOP")} · ${p.bytes == null ? "—" : fmtBytes(p.bytes)} moved per step → ${fmtIntensity(p.intensity)} FLOP/B`,
    `${fmtFlopRate(p.flops_per_s)} achieved · ${fmtByteRate(p.bytes_per_s)}`,
    p.peak_fraction == null ? "% of peak unknown (no peaks known)" : `${fmtRoof(p.peak_fraction)} of the nearer roof`,
  ].join("\n");
}

/** Points per phase from which a phase is drawn as one shape (ECharts' large mode: fast,
 * no per-point style; the selected layer's points are a series of their own anyway). */
const LARGE_POINTS = 800;

/** The ECharts option: two scatter series (forward, gradient), the selected layer's points
 * over them (red, larger, named), and the roof as a dashed line with the peaks as labels. */
function rooflineOption(m: RooflineModel, selected: string | null, c: Palette): any {
  const { CARD_BG, GREY, SELECTED, SELECTED_TEXT } = c;
  const COLORS = { forward: c.ORANGE, backward: c.SLATE };
  const series: any[] = (["forward", "backward"] as const).map((phase) => {
    const data: number[][] = [];
    m.points.forEach((p, i) => p.phase === phase && data.push([p.intensity, p.flops_per_s, i]));
    const large = data.length > LARGE_POINTS;
    return {
      type: "scatter",
      name: PHASE_LABEL[phase],
      symbol: SYMBOLS[phase],
      data,
      large,
      largeThreshold: LARGE_POINTS,
      // Thousands of points as one shape: smaller, no outline (outlines drawn over the
      // neighbours' fills would turn a dense cloud into the page's colour).
      symbolSize: large ? 7 : 10,
      itemStyle: { color: COLORS[phase], opacity: large ? 0.75 : 0.9, borderColor: CARD_BG, borderWidth: large ? 0 : 0.5 },
      emphasis: { scale: 1.4 },
    };
  });
  const picked: any[] = [];
  m.points.forEach((p, i) => p.path === selected && picked.push({ value: [p.intensity, p.flops_per_s, i], symbol: SYMBOLS[p.phase] }));
  series.push({
    type: "scatter",
    name: "Selected",
    data: picked,
    symbolSize: 15,
    itemStyle: { color: SELECTED, borderColor: CARD_BG, borderWidth: 1.5 },
    label: { show: true, formatter: selected === null ? "" : shortName(selected, 40), position: "right", color: SELECTED_TEXT, fontSize: 11 },
    z: 3,
  });
  const { roof, cacheRoof, peaks } = m;
  if (roof.length) {
    series.push({
      type: "line",
      name: "Roof",
      data: roof,
      silent: true,
      symbol: "none",
      lineStyle: { color: GREY, type: "dashed", width: 1.5 },
      z: 1,
    });
    if (cacheRoof.length)
      series.push({
        type: "line",
        name: "Cache roof",
        data: cacheRoof,
        silent: true,
        symbol: "none",
        lineStyle: { color: GREY, type: "dotted", width: 1.2, opacity: 0.8 },
        z: 1,
      });
    // The peaks, said on the roof (a line series shows no labels without symbols): FLOP/s
    // above the flat part's right end, bytes/s above the middle of each visible slope.
    const labels: any[] = [];
    const last = roof[roof.length - 1];
    if (peaks.flops && last[1] === peaks.flops) labels.push({ value: last, label: { formatter: `peak ${fmtFlopRate(peaks.flops)}`, align: "right" } });
    const slope = slopeLabel(roof, peaks.bytes, peaks.flops, m.y[0], `peak ${fmtByteRate(peaks.bytes)}`);
    if (slope) labels.push(slope);
    const cached = slopeLabel(cacheRoof, peaks.cache, peaks.flops, m.y[0], `in cache ${fmtByteRate(peaks.cache)}`);
    if (cached) labels.push(cached);
    series.push({
      type: "scatter",
      name: "Roof labels",
      data: labels,
      symbolSize: 0,
      silent: true,
      label: { show: true, position: "top", color: GREY, fontSize: 11, distance: 4 },
      z: 1,
    });
  }
  return {
    grid: { left: 12, right: 28, top: 34, bottom: 40, containLabel: true },
    tooltip: {
      trigger: "item",
      position: besidePointer,
      formatter: (p: any) => (p && p.seriesType === "scatter" && m.points[p.value[2]] ? pointTooltip(m.points[p.value[2]]) : ""),
    },
    xAxis: {
      type: "log",
      min: m.x[0],
      max: m.x[1],
      name: "FLOPs per byte moved (arithmetic intensity)",
      nameLocation: "middle",
      nameGap: 26,
      axisLabel: { formatter: (v: number) => fmtIntensity(v), hideOverlap: true },
      splitLine: { show: true, lineStyle: { opacity: 0.4 } },
    },
    yAxis: {
      type: "log",
      min: m.y[0],
      max: m.y[1],
      name: "achieved FLOP/s",
      nameLocation: "end",
      nameTextStyle: { align: "left" },
      axisLabel: { formatter: (v: number) => fmtSI(v, "FLOP/s", true), hideOverlap: true },
      splitLine: { show: true, lineStyle: { opacity: 0.4 } },
    },
    series,
  };
}

/** A bandwidth's label above the middle of its roof's visible slope; null without one. */
function slopeLabel(line: [number, number][], bytes: number | null, flops: number | null, yMin: number, text: string): any {
  if (!bytes || !line.length || line[0][1] === flops) return null;
  const end = line[1][0]; // the corner, or the right edge when the slope never meets the flat roof
  const start = Math.max(line[0][0], yMin / bytes);
  const xm = Math.sqrt(start * end);
  return { value: [xm, bytes * xm], label: { formatter: text, align: "right" } };
}

export function Roofline(props: { w: Window; selected: string | null; onSelect: (path: string) => void }) {
  const { w, selected } = props;
  // Thousands of points: worked out once the table is on screen (the card is drawn at once).
  const ready = useDeferred();
  const model = useMemo(() => (ready ? rooflineModel(w.layers, w) : null), [w, ready]);
  const colors = useColors();
  const option = useMemo(() => (model && model.points.length ? rooflineOption(model, selected, colors) : null), [model, selected, colors]);
  const coverage = typeof w.work_coverage === "number" && w.work_coverage > 0 ? w.work_coverage : null;
  return (
    <section class="lp-card" data-testid="roofline">
      <div class="lp-card-head">
        <h2>Work: achieved rate and roofs</h2>
        {model ? (
          <span class="lp-muted">
            {`${model.points.length} point${model.points.length === 1 ? "" : "s"}` + (coverage !== null ? ` · counts cover ${fmtPct(coverage * 100)} of op time` : "")}
          </span>
        ) : null}
        {option ? (
          <span class="lp-legend">
            <i style={{ background: colors.ORANGE, borderRadius: "50%" }} /> forward <i style={{ background: colors.SLATE, transform: "rotate(45deg) scale(.85)" }} /> gradient{" "}
            <i style={{ background: colors.SELECTED, borderRadius: "50%" }} /> selected <i class="lp-legend-roof" /> roofs
          </span>
        ) : null}
      </div>
      {ready ? <RooflineBody model={model} option={option} onSelect={props.onSelect} /> : <div class="lp-chart" style={{ height: "320px" }} />}
    </section>
  );
}

function RooflineBody(props: { model: RooflineModel | null; option: any; onSelect: (path: string) => void }) {
  const { model, option } = props;
  if (!model)
    return (
      <div class="lp-muted" data-testid="roofline-missing">
        No FLOP or byte counts in this window, so no roofline: the report was written before tb_layerprof counted work, or
        none of the window's ops has a count. The table's FLOP/s and % peak columns are left out too.
      </div>
    );
  if (!option)
    return (
      <div class="lp-muted" data-testid="roofline-missing">
        No point can be drawn: the counted layers have no FLOPs (bytes only) or no time, and a log-log chart needs both.
      </div>
    );
  const { peaks } = model;
  const roofs =
    peaks.flops || peaks.bytes
      ? `Roofs: peak ${peaks.flops ? fmtFlopRate(peaks.flops) : "FLOP/s unknown"} and ${peaks.bytes ? fmtByteRate(peaks.bytes) : "bytes/s unknown"}, ${peakSourceText(peaks.source)}.` +
        (peaks.cache
          ? ` The dotted roof is a copy that stays in cache (${fmtByteRate(peaks.cache)}): small tensors stay there, so a point can sit above the memory roof; % of peak is of the memory roof all the same.`
          : "")
      : "No peaks known for this window (the calibration was skipped or failed), so no roofs and no % of peak.";
  const skipped = model.undrawn.length ? ` ${model.undrawn.length} phase${model.undrawn.length === 1 ? "" : "s"} with counts but no FLOPs or no time are not drawn.` : "";
  return (
    <>
      <EChart
        option={option}
        height={320}
        label="Roofline: each layer's forward and gradient as a point at its FLOPs per byte and achieved FLOP/s, under the peak FLOP/s and bytes/s roofs"
        testId="roofline-chart"
        attrs={{ "data-points": String(model.points.length) }}
        onClick={(p) => {
          const pt = p && p.seriesType === "scatter" && Array.isArray(p.value) ? model.points[p.value[2]] : null;
          if (pt) props.onSelect(pt.path);
        }}
      />
      <div class="lp-basis-note" data-testid="roofline-meaning">
        {`Each point is one layer in one phase (sublayers included): x its FLOPs per byte moved, y its FLOPs over its time. ${roofs} ` +
          "A point near the slanted roof is limited by memory bandwidth, near the flat one by compute; far below both, the layer does little work per op (overhead, e.g. a Python loop unrolled into many tiny ops)." +
          skipped}
      </div>
    </>
  );
}
