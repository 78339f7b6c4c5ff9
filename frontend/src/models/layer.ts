// A layer's own figures, one definition each for the tab (as tb_layerprof.figures does for
// Python): total (sublayers included), self (own ops), share of the step.
import type { Layer } from "../api/types";
import { num } from "./format";

/** Forward + gradient time per step, sublayers included. */
export const layerTotal = (l: Pick<Layer, "forward_us" | "backward_us">): number => num(l.forward_us) + num(l.backward_us);

/** Forward + gradient time per step of the layer's own ops (a replica's too). */
export const layerSelf = (l: Pick<Layer, "self_forward_us" | "self_backward_us">): number => num(l.self_forward_us) + num(l.self_backward_us);

/** The layer's total as a percentage of the step basis (0 without one). */
export const pctOfStep = (l: Pick<Layer, "forward_us" | "backward_us">, stepUs: number): number => (stepUs > 0 ? (layerTotal(l) / stepUs) * 100 : 0);
