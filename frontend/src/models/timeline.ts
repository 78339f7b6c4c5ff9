// The step timeline's layout: spans in lanes (forward above gradient, one per depth), each
// drawn as its busy segments (where the layer's ops of that phase ran) over the faint
// extent from its first to its last op; inside the segments, the layer's own time (its own
// ops, `self_busy`) apart from the time only its sublayers' ops ran.
import type { Layer, Timeline, TimelineSpan, Window } from "../api/types";
import { num } from "./format";
import { layerDepths } from "./tree";

export const PHASES = ["forward", "backward"] as const;
export const PHASE_LABEL: Record<string, string> = { forward: "Forward", backward: "Gradient" };

export interface TimelineRow {
  phase: string;
  /** Nesting level of the layers drawn in this row (0 = top-level layers). */
  depth: number;
  /** Label shown on the axis: only the first row of a (phase, depth) group has one. */
  label: string;
}

export interface TimelineModel {
  step: number;
  stepUs: number;
  /** Axis end: the step time, or the last span end if a span runs past it. */
  endUs: number;
  rows: TimelineRow[];
  /** One item per drawn span: [start_us, end_us, row, span index]; row order = rows. */
  items: [number, number, number, number][];
  /** The items whose bars leave gaps in their first-to-last extent (the faint line is
   * drawn, and answers clicks, only there: a bar without gaps covers its own extent). */
  extents: [number, number, number, number][];
  /** Gaps narrower than this (µs; the axis length / RESOLUTION) are closed in the bars:
   * they could not be seen, and thousands of them would make the chart slow. */
  minGapUs: number;
  /** How many such gaps were closed. */
  closedGaps: number;
  /** The bars: one item per busy segment of a drawn span, [start_us, end_us, row, span
   * index] (a span without busy intervals: one segment, start to end). */
  segments: [number, number, number, number][];
  /** Busy time of each span (by span index; undefined for dropped spans): the backend's
   * `busy_us`, else the sum of its segments (start to end without busy intervals). */
  busyUs: number[];
  /** Own time inside each segment (same index as `segments`): the [start_us, end_us] parts
   * where the layer's own ops ran, the rest of the segment being time only its sublayers
   * ran; null: the whole segment is drawn as one (all own time, or not known). */
  own: ([number, number][] | null)[];
  /** Own busy time of each span (by span index): `self_busy_us`, the busy time of a layer
   * without sublayers, null when not known (a parent in an older report, no busy intervals). */
  ownUs: (number | null)[];
  /** How many drawn spans have their own time apart from their sublayers' (`self_busy`). */
  shaded: number;
  /** Drawn spans of layers with sublayers that have busy intervals but no `self_busy`
   * (older reports): their own time cannot be told apart. */
  unsplit: number;
  /** How many drawn spans came with busy intervals (0: an older report, bars are extents). */
  measured: number;
  spans: TimelineSpan[];
  /** Spans dropped because they were malformed (non-finite, end before start, unknown phase). */
  dropped: number;
}

/** True when a window carries a usable timeline (older reports have `{}`). */
export function hasTimeline(w: Pick<Window, "timeline">): boolean {
  const t = w.timeline as Timeline | undefined;
  return !!t && Array.isArray(t.spans) && t.spans.length > 0;
}

/** Lays the timeline out in rows: forward lanes first, then gradient lanes; inside a phase
 * one lane per nesting depth, so a layer's span sits right below its parent's. Spans of
 * the same depth that overlap in time (parallel ops) get extra rows so that none hides
 * another. Layers missing from the window count as depth 0. */
export function timelineModel(t: Timeline, layers: Layer[]): TimelineModel {
  const depths = layerDepths(layers);
  const parents = new Set<string>();
  for (const l of layers) if (typeof l.parent === "string") parents.add(l.parent);
  const stepUs = num(t.step_time_us);
  const spans = Array.isArray(t.spans) ? t.spans : [];
  // (phase, depth) -> spans, sorted by start.
  const groups = new Map<string, { phase: string; depth: number; idx: number[] }>();
  let dropped = 0;
  let endUs = stepUs;
  spans.forEach((sp, i) => {
    const ok =
      sp && typeof sp.path === "string" && PHASES.includes(sp.phase as any) &&
      Number.isFinite(sp.start_us) && Number.isFinite(sp.end_us) && sp.end_us >= sp.start_us;
    if (!ok) {
      dropped++;
      return;
    }
    const depth = depths.get(sp.path) ?? 0;
    const key = `${sp.phase}\u0000${depth}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { phase: sp.phase, depth, idx: [] }));
    g.idx.push(i);
    if (sp.end_us > endUs) endUs = sp.end_us;
  });
  const ordered = Array.from(groups.values()).sort(
    (a, b) => PHASES.indexOf(a.phase as any) - PHASES.indexOf(b.phase as any) || a.depth - b.depth,
  );
  const rows: TimelineRow[] = [];
  const items: [number, number, number, number][] = [];
  const extents: [number, number, number, number][] = [];
  const minGapUs = endUs > 0 ? endUs / RESOLUTION : 0;
  let closedGaps = 0;
  const segments: [number, number, number, number][] = [];
  const busyUs: number[] = [];
  const own: ([number, number][] | null)[] = [];
  const ownUs: (number | null)[] = [];
  let measured = 0;
  let shaded = 0;
  let unsplit = 0;
  // Segments per span at most, so that the chart stays responsive with thousands of spans.
  const drawn = groups.size ? Array.from(groups.values()).reduce((n, g) => n + g.idx.length, 0) : 0;
  const perSpan = Math.max(1, Math.floor(MAX_SEGMENTS / Math.max(1, drawn)));
  for (const g of ordered) {
    g.idx.sort((a, b) => spans[a].start_us - spans[b].start_us || spans[b].end_us - spans[a].end_us);
    // Greedy packing: each span goes to the first sub-row whose last span has ended.
    const rowEnds: number[] = [];
    const first = rows.length;
    for (const i of g.idx) {
      const sp = spans[i];
      let r = rowEnds.findIndex((end) => end <= sp.start_us);
      if (r < 0) {
        r = rowEnds.length;
        rowEnds.push(sp.end_us);
        rows.push({
          phase: g.phase,
          depth: g.depth,
          label: r === 0 ? `${PHASE_LABEL[g.phase]}${g.depth ? ` · level ${g.depth + 1}` : ""}` : "",
        });
      } else {
        rowEnds[r] = sp.end_us;
      }
      items.push([sp.start_us, sp.end_us, first + r, i]);
      const b = busyOf(sp);
      if (b.measured) measured++;
      busyUs[i] = b.busyUs;
      const o = ownOf(sp, b, parents.has(sp.path));
      ownUs[i] = o.ownUs;
      const closed = closeGaps(b.segments, minGapUs);
      closedGaps += b.segments.length - closed.length;
      const segs = mergeToAtMost(closed, perSpan);
      const parts = o.intervals ? splitOwn(segs, mergeToAtMost(closeGaps(o.intervals, minGapUs), perSpan)) : null;
      if (segs.length > 1 || segs[0][0] > sp.start_us + minGapUs || segs[0][1] < sp.end_us - minGapUs) extents.push([sp.start_us, sp.end_us, first + r, i]);
      if (parts) shaded++;
      else if (b.measured && o.ownUs === null) unsplit++;
      segs.forEach(([s0, s1], k) => {
        segments.push([s0, s1, first + r, i]);
        own.push(parts ? parts[k] : null);
      });
    }
  }
  return { step: num(t.step), stepUs, endUs, rows, items, extents, minGapUs, closedGaps, segments, busyUs, own, ownUs, shaded, unsplit, measured, spans, dropped };
}

/** Busy segments drawn at most, all spans together (more get their closest segments merged). */
export const MAX_SEGMENTS = 40000;
/** Steps of the time axis that a gap must span to be drawn: 8 times a wide chart's pixels,
 * so that zooming in 8x still shows every gap a pixel wide. */
export const RESOLUTION = 16000;

/** Sorted segments with the gaps narrower than `minGap` closed (the input when none is). */
export function closeGaps(segs: [number, number][], minGap: number): [number, number][] {
  if (segs.length < 2 || !(minGap > 0)) return segs;
  const out: [number, number][] = [[segs[0][0], segs[0][1]]];
  for (let j = 1; j < segs.length; j++) {
    const last = out[out.length - 1];
    if (segs[j][0] - last[1] < minGap) last[1] = Math.max(last[1], segs[j][1]);
    else out.push([segs[j][0], segs[j][1]]);
  }
  return out.length === segs.length ? segs : out;
}
const TOLERANCE_US = 1e-3; // the report rounds times to the nanosecond

/** A span's busy segments: its `busy` intervals when usable (finite, sorted, non-overlapping,
 * inside the span), else the whole span; its busy time (`busy_us`, else their sum). */
export function busyOf(sp: TimelineSpan): { segments: [number, number][]; busyUs: number; measured: boolean } {
  const segs = readIntervals(sp.busy, sp);
  if (!segs || !segs.length) return { segments: [[sp.start_us, sp.end_us]], busyUs: sp.end_us - sp.start_us, measured: false };
  return { segments: segs, busyUs: totalOr(sp.busy_us, segs), measured: true };
}

/** A span's own time (its own ops, no sublayers): `self_busy` when usable; a layer without
 * sublayers is all own time; otherwise (a parent without `self_busy`, no busy intervals at
 * all) not known, `intervals` null and the bars drawn as one. */
export function ownOf(
  sp: TimelineSpan,
  busy: { busyUs: number; measured: boolean },
  hasSublayers: boolean,
): { intervals: [number, number][] | null; ownUs: number | null } {
  if (!busy.measured) return { intervals: null, ownUs: null };
  const segs = readIntervals(sp.self_busy, sp);
  if (segs) return { intervals: segs, ownUs: totalOr(sp.self_busy_us, segs) };
  return { intervals: null, ownUs: hasSublayers ? null : busy.busyUs };
}

/** Intervals as stored ([[start, end], ...]: finite, sorted, non-overlapping, inside the
 * span); null when absent or not usable. */
function readIntervals(raw: unknown, sp: TimelineSpan): [number, number][] | null {
  if (!Array.isArray(raw)) return null;
  const segs: [number, number][] = [];
  for (const pair of raw) {
    if (!Array.isArray(pair) || pair.length !== 2 || !Number.isFinite(pair[0]) || !Number.isFinite(pair[1])) return null;
    const [a, b] = pair;
    if (b < a || a < sp.start_us - TOLERANCE_US || b > sp.end_us + TOLERANCE_US || (segs.length && a < segs[segs.length - 1][1])) return null;
    segs.push([a, b]);
  }
  return segs;
}

/** The backend's exact total when it is a usable number, else the intervals' sum. */
function totalOr(total: unknown, segs: [number, number][]): number {
  return typeof total === "number" && Number.isFinite(total) && total >= 0 ? total : segs.reduce((n, [a, b]) => n + (b - a), 0);
}

/** For each (sorted) segment, the parts of the (sorted) own intervals inside it. */
export function splitOwn(segs: [number, number][], own: [number, number][]): [number, number][][] {
  let j = 0;
  return segs.map(([s0, s1]) => {
    const parts: [number, number][] = [];
    while (j < own.length && own[j][1] <= s0) j++;
    for (let k = j; k < own.length && own[k][0] < s1; k++) {
      const a = Math.max(s0, own[k][0]);
      const b = Math.min(s1, own[k][1]);
      if (b > a) parts.push([a, b]);
    }
    return parts;
  });
}

/** Sorted segments merged across their smallest gaps until at most `k` remain. */
export function mergeToAtMost(segs: [number, number][], k: number): [number, number][] {
  if (segs.length <= k) return segs;
  // Keep the k-1 widest gaps as cuts.
  const gaps = segs.slice(1).map((s, j) => [s[0] - segs[j][1], j + 1] as const);
  const cuts = new Set(gaps.sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k - 1).map((g) => g[1]));
  const out: [number, number][] = [[segs[0][0], segs[0][1]]];
  for (let j = 1; j < segs.length; j++) {
    if (cuts.has(j)) out.push([segs[j][0], segs[j][1]]);
    else out[out.length - 1][1] = segs[j][1];
  }
  return out;
}

/** Intersection of two rectangles (x, y, width, height), or null when they do not overlap. */
export function clipRect(
  r: { x: number; y: number; width: number; height: number },
  c: { x: number; y: number; width: number; height: number },
): { x: number; y: number; width: number; height: number } | null {
  const x0 = Math.max(r.x, c.x);
  const y0 = Math.max(r.y, c.y);
  const x1 = Math.min(r.x + r.width, c.x + c.width);
  const y1 = Math.min(r.y + r.height, c.y + c.height);
  if (!(x1 > x0 && y1 > y0)) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Keyboard on the timeline: the layer of the drawn span after (dir 1) or before (-1) the
 * selected layer's first span, in time order (the first or last span without a selection). */
export function stepSpanPath(model: Pick<TimelineModel, "items" | "spans">, selected: string | null, dir: 1 | -1): string | null {
  if (!model.items.length) return null;
  const order = model.items.slice().sort((a, b) => a[0] - b[0] || a[2] - b[2]);
  const at = selected === null ? -1 : order.findIndex((it) => model.spans[it[3]].path === selected);
  const next = at < 0 ? (dir > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, at + dir));
  return model.spans[order[next][3]].path;
}
