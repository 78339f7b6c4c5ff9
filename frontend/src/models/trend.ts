// The "Over training" chart: one value per layer and window from the /trend arrays.
import { num } from "./format";

/** Value of a trend metric for one layer at one window, from the /trend arrays. */
export function trendValue(layer: Record<string, (number | null)[]>, metric: string, i: number): number | null {
  const g = (k: string) => (layer[k] ? layer[k][i] : null);
  switch (metric) {
    case "total": {
      const f = g("forward_us");
      const b = g("backward_us");
      return f == null && b == null ? null : num(f) + num(b);
    }
    case "self": {
      const f = g("self_forward_us");
      const b = g("self_backward_us");
      return f == null && b == null ? null : num(f) + num(b);
    }
    case "alloc": {
      const f = g("forward_alloc_bytes");
      const b = g("backward_alloc_bytes");
      return f == null && b == null ? null : num(f) + num(b);
    }
    default:
      return g(metric);
  }
}

export const METRIC_LABELS: Record<string, string> = {
  total: "Total time",
  forward_us: "Forward time",
  backward_us: "Gradient time",
  self: "Self time",
  alloc: "Allocated bytes",
  peak_live_bytes: "Live at peak",
};

/** True for the metrics measured in bytes (the others are times). */
export const isBytesMetric = (metric: string): boolean => metric === "alloc" || metric === "peak_live_bytes";
