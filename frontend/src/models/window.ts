// One window's views: where the step's time went (breakdown), its diagnoses, export.
import type { Hint, Layer, Window } from "../api/types";
import { otherKeys, otherLabel } from "./categories";
import { num } from "./format";
import { layerTotal } from "./layer";

export interface Diagnosis {
  layer: Layer;
  hint: Hint;
}

/** Every hint of a window, warnings first, then by the layer's total time. */
export function diagnoses(layers: Layer[]): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (const layer of layers) for (const hint of layer.hints || []) out.push({ layer, hint });
  const sev = (h: Hint) => (h.severity === "info" ? 1 : 0);
  return out.sort((a, b) => sev(a.hint) - sev(b.hint) || layerTotal(b.layer) - layerTotal(a.layer) || (a.layer.path < b.layer.path ? -1 : 1));
}

export interface BreakdownItem {
  key: string;
  label: string;
  us: number;
}

/** Where a step's op time went: layers (forward, gradient) and window.other categories. */
export function breakdown(w: Window): BreakdownItem[] {
  let fwd = 0;
  let bwd = 0;
  for (const l of w.layers) {
    fwd += num(l.self_forward_us);
    bwd += num(l.self_backward_us);
  }
  const items: BreakdownItem[] = [
    { key: "layers_forward", label: "Layers (forward)", us: fwd },
    { key: "layers_gradient", label: "Layers (gradient)", us: bwd },
  ];
  for (const key of otherKeys(w.other)) {
    const us = num((w.other || {})[key]);
    // Collective time exists only under tf.distribute: no empty row for other runs.
    if (key === "collective_us" && us === 0) continue;
    items.push({ key, label: otherLabel(key), us });
  }
  return items;
}

export function toJson(run: string, w: Window, layers: Layer[]): string {
  return JSON.stringify({ schema: 1, runs: [{ run, windows: [{ ...w, layers }] }] }, null, 1);
}
