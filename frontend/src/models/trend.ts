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

export interface TrendSeries {
  name: string;
  path: string;
  /** null: one host (no host in the name). */
  host: string | null;
  data: (number | null)[];
}

/** The chart's x axis (distinct steps, ascending) and its lines: one per layer, or, when
 * several hosts wrote windows, one per layer and host (points of different hosts never
 * joined into one saw-tooth line). */
export function trendSeries(
  d: { steps: number[]; hosts?: string[]; layers: ({ path: string } & Record<string, any>)[] },
  metric: string,
): { steps: number[]; series: TrendSeries[] } {
  const hosts = Array.isArray(d.hosts) && d.hosts.length === d.steps.length ? d.hosts : null;
  const distinctHosts = hosts ? Array.from(new Set(hosts)).sort() : [];
  if (!hosts || distinctHosts.length < 2)
    return {
      steps: d.steps.slice(),
      series: d.layers.map((l) => ({ name: l.path, path: l.path, host: null, data: d.steps.map((_, i) => trendValue(l, metric, i)) })),
    };
  const steps = Array.from(new Set(d.steps)).sort((a, b) => a - b);
  const col = new Map(steps.map((s, i) => [s, i]));
  const series: TrendSeries[] = [];
  for (const l of d.layers)
    for (const h of distinctHosts) {
      const data: (number | null)[] = steps.map(() => null);
      d.steps.forEach((s, i) => {
        if (hosts[i] === h) data[col.get(s)!] = trendValue(l, metric, i);
      });
      series.push({ name: `${l.path} · ${h}`, path: l.path, host: h, data });
    }
  return { steps, series };
}
