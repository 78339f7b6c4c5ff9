// The figures the backend derives from a window (hot layers, coverage, op time, the step
// basis), as the tab reads them: checked for shape, never worked out here. A server that
// sends none (older tb_layerprof) gets no hot layers and no coverage rather than a guess.
import type { Figures, HotLayerFigure, Layer, Window } from "../api/types";
import { fmtPct, fmtTime, num } from "./format";

const isObject = (x: unknown): x is Record<string, unknown> => !!x && typeof x === "object" && !Array.isArray(x);

function readHotLayer(x: unknown): HotLayerFigure | null {
  if (!isObject(x) || typeof x.path !== "string") return null;
  return {
    path: x.path,
    self_us: num(x.self_us),
    share_of_op_time: num(x.share_of_op_time),
    hints: Array.isArray(x.hints) ? x.hints.filter((h): h is string => typeof h === "string") : [],
  };
}

/** The `figures` of a /window answer (or of a /windows entry); null when absent or not an object. */
export function readFigures(x: unknown): Figures | null {
  if (!isObject(x)) return null;
  const hot = Array.isArray(x.hot_layers) ? x.hot_layers.map(readHotLayer) : [];
  return {
    op_time_us: num(x.op_time_us),
    step_basis_us: num(x.step_basis_us),
    layers_self_us: num(x.layers_self_us),
    coverage: Math.max(0, Math.min(1, num(x.coverage))),
    hot_layers: hot.filter((h): h is HotLayerFigure => h !== null),
    hint_count: num(x.hint_count),
    custom_count: num(x.custom_count),
    layer_count: num(x.layer_count),
  };
}

/** What "% of step" divides by: the backend's step basis; without figures, the report's own
 * step time (0 when it has none: no percentages rather than another rule). */
export function stepBasis(w: Pick<Window, "step_time_us">, figures: Figures | null): number {
  return figures ? figures.step_basis_us : num(w.step_time_us);
}

export interface HotBar {
  path: string;
  /** The layer's own forward and gradient time (the two parts of `self_us`). */
  forward_us: number;
  backward_us: number;
  self_us: number;
  share_of_op_time: number;
  hints: string[];
}

/** The backend's hot layers, in its order, with the forward/gradient split of each read from
 * the window's layer of that path (a path missing from the window: all of it as forward). */
export function hotBars(figures: Figures | null, layers: Layer[]): HotBar[] {
  if (!figures) return [];
  const byPath = new Map(layers.map((l) => [l.path, l]));
  return figures.hot_layers.map((h) => {
    const l = byPath.get(h.path);
    return {
      path: h.path,
      forward_us: l ? num(l.self_forward_us) : h.self_us,
      backward_us: l ? num(l.self_backward_us) : 0,
      self_us: h.self_us,
      share_of_op_time: h.share_of_op_time,
      hints: h.hints,
    };
  });
}

/** "coverage 98.7%": the share of op time the backend attributed (layers or named categories). */
export function fmtCoverage(figures: Figures | null): string {
  return figures ? `coverage ${fmtPct(figures.coverage * 100)}` : "";
}

/** The layers the trend follows by default: the first `n` hot layers. */
export function defaultTrendLayers(figures: Figures | null, n = 5): string[] {
  return figures ? figures.hot_layers.slice(0, n).map((h) => h.path) : [];
}

/** Why two percentages of one layer differ, said where they are shown: "% step" divides by
 * the step time; the breakdown and the hot layers' shares by the op time (every op's own
 * time: larger than the step when ops overlap, smaller when the step waits). */
export function basisNotes(stepUs: number, figures: Figures | null): { table: string; opShares: string } | null {
  if (!figures) return null;
  const op = figures.op_time_us;
  const sameBasis = !(stepUs > 0) || Math.abs(stepUs - op) < 1e-6;
  if (sameBasis)
    return {
      table: `% step divides by the op time per step (${fmtTime(op)}): this window has no step time.`,
      opShares: `Shares are of the op time per step (${fmtTime(op)}), as is % step in the table.`,
    };
  const why = op > stepUs ? "ops ran in parallel, so their times add up to more than the step" : "the step also waited (input, host, idle)";
  return {
    table: `% step divides by the step time (${fmtTime(stepUs)}); the breakdown's and hot layers' shares divide by the op time (${fmtTime(op)}): ${why}.`,
    opShares: `Shares are of the op time (${fmtTime(op)}, the ops' own time), not the step time (${fmtTime(stepUs)}) that % step in the table uses: ${why}.`,
  };
}
