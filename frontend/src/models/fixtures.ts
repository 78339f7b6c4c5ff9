// Small hand-built layer lists for the models' unit tests.
import type { Layer } from "../api/types";
import { DEFAULT_SORT } from "./urlstate";

/** A layer with its own times equal to its totals (no sublayer time) unless `extra` says. */
export function layer(path: string, parent: string | null, fwd: number, bwd: number, extra: Partial<Layer> = {}): Layer {
  return {
    path,
    class_name: "Dense",
    custom: false,
    parent,
    forward_us: fwd,
    backward_us: bwd,
    self_forward_us: fwd,
    self_backward_us: bwd,
    forward_alloc_bytes: 0,
    backward_alloc_bytes: 0,
    peak_live_bytes: 0,
    param_bytes: 0,
    calls: 1,
    ops_per_call: 1,
    hints: [],
    ...extra,
  };
}

export const LAYERS: Layer[] = [
  layer("dense", null, 400, 700),
  layer("block", null, 1700, 3400, { self_forward_us: 100, self_backward_us: 150, class_name: "Block" }),
  layer("block/slow", "block", 1500, 3100, {
    class_name: "SlowLoop",
    hints: [
      { code: "expensive-gradient", message: "grad", evidence: { ratio: 2.1 }, severity: "info" },
      { code: "python-loop", message: "loop", evidence: { ops_per_call: 193 } },
    ],
  }),
  layer("block/fast", "block", 100, 150),
  layer("dense_1", null, 50, 80, { hints: [{ code: "memory-churn", message: "m", evidence: {} }] }),
];
export const rowOptions = (o: any = {}) => ({ sort: DEFAULT_SORT, filter: "", flat: false, collapsed: new Set<string>(), stepUs: 10000, ...o });
