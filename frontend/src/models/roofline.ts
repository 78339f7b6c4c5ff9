// The roofline chart's content: one point per layer and phase at (arithmetic intensity,
// achieved FLOP/s), both the backend's (`layer.work`), and the two roofs drawn from the
// window's peaks. Log-log, so only points with positive coordinates can be drawn.
import type { Layer } from "../api/types";
import { windowPeaks } from "./work";

export type Phase = "forward" | "backward";

export interface RoofPoint {
  path: string;
  phase: Phase;
  /** FLOPs per byte moved (x). */
  intensity: number;
  /** Achieved FLOP/s (y). */
  flops_per_s: number;
  /** FLOPs and bytes of this phase per step (sublayers included). */
  flops: number | null;
  bytes: number | null;
  bytes_per_s: number | null;
  peak_fraction: number | null;
  counts: string | null;
}

export interface RooflineModel {
  points: RoofPoint[];
  /** Phases with counts that cannot be drawn on log axes (no FLOPs, no bytes, no time). */
  undrawn: { path: string; phase: Phase }[];
  peaks: ReturnType<typeof windowPeaks>;
  /** Axis ranges: powers of ten around the points and the roofs' corner, at least a factor
   * 2 beyond the outermost. */
  x: [number, number];
  y: [number, number];
  /** The roof as a polyline on those axes: min(peak bytes/s × intensity, peak FLOP/s);
   * empty without peaks, one segment when only one peak is known. */
  roof: [number, number][];
  /** The same under the in-cache bandwidth (CPU calibrations): empty without it. */
  cacheRoof: [number, number][];
}

const decadeBelow = (v: number) => Math.pow(10, Math.floor(Math.log10(v)));
const decadeAbove = (v: number) => Math.pow(10, Math.ceil(Math.log10(v)));
const pos = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;

/** The chart of a window's layers (with their work attached); null when no layer has work. */
export function rooflineModel(layers: Layer[], w: Parameters<typeof windowPeaks>[0]): RooflineModel | null {
  const points: RoofPoint[] = [];
  const undrawn: { path: string; phase: Phase }[] = [];
  let any = false;
  for (const l of layers) {
    if (!l.work) continue;
    any = true;
    for (const phase of ["forward", "backward"] as Phase[]) {
      const r = l.work[phase];
      const flops = l[`${phase}_flops`];
      if (!r) {
        if (pos(flops)) undrawn.push({ path: l.path, phase });
        continue;
      }
      if (!pos(r.intensity) || !pos(r.flops_per_s)) {
        undrawn.push({ path: l.path, phase });
        continue;
      }
      const bytes = l[`${phase}_bytes`];
      points.push({
        path: l.path,
        phase,
        intensity: r.intensity,
        flops_per_s: r.flops_per_s,
        flops: typeof flops === "number" ? flops : null,
        bytes: typeof bytes === "number" ? bytes : null,
        bytes_per_s: r.bytes_per_s,
        peak_fraction: r.peak_fraction,
        counts: l.work.counts,
      });
    }
  }
  if (!any) return null;
  const peaks = windowPeaks(w);
  const ridge = peaks.flops && peaks.bytes ? peaks.flops / peaks.bytes : null;
  const xs = points.map((p) => p.intensity).concat(ridge ? [ridge] : []);
  const ys = points.map((p) => p.flops_per_s).concat(peaks.flops ? [peaks.flops] : []);
  // A factor 2 of room on each side, so that no point sits on the chart's edge.
  const x: [number, number] = xs.length ? [decadeBelow(Math.min(...xs) / 2), decadeAbove(Math.max(...xs) * 2)] : [0.01, 100];
  const y: [number, number] = ys.length ? [decadeBelow(Math.min(...ys) / 2), decadeAbove(Math.max(...ys) * 2)] : [1e6, 1e12];
  const cacheRoof = peaks.cache && peaks.flops ? roofLine(peaks.flops, peaks.cache, x) : [];
  return { points, undrawn, peaks, x, y, roof: roofLine(peaks.flops, peaks.bytes, x), cacheRoof };
}

/** min(bytes/s × x, FLOP/s) over [x0, x1] as a polyline (its corner where the two meet). */
export function roofLine(flops: number | null, bytes: number | null, [x0, x1]: [number, number]): [number, number][] {
  if (flops && bytes) {
    const corner = flops / bytes;
    if (corner <= x0) return [[x0, flops], [x1, flops]];
    if (corner >= x1) return [[x0, bytes * x0], [x1, bytes * x1]];
    return [[x0, bytes * x0], [corner, flops], [x1, flops]];
  }
  if (flops) return [[x0, flops], [x1, flops]];
  if (bytes) return [[x0, bytes * x0], [x1, bytes * x1]];
  return [];
}

/** Where the peaks come from, in words. */
export function peakSourceText(source: string | null): string {
  switch (source) {
    case "calibrated-cpu":
      return "measured on this machine by a short matmul and copy calibration (calibrated-cpu; the memory roof is a copy larger than any cache)";
    case "gpu-device-caps":
      return "from the GPU's device capabilities in the capture (gpu-device-caps)";
    case null:
      return "unknown";
    default:
      return source;
  }
}
