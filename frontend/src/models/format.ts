// Formatting of figures for display: times, bytes, shares, counts, deltas (hints: evidence.ts).

/** A figure as a finite number; anything else (missing, text, NaN) counts as 0. */
export const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);

/** Microseconds -> "850 µs", "1.23 ms", "2.50 s". */
export function fmtTime(us: number): string {
  const v = num(us);
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a < 1000) return `${a < 10 ? v.toFixed(1) : Math.round(v)} µs`;
  if (a < 1e6) return `${(v / 1000).toFixed(a < 1e4 ? 2 : a < 1e5 ? 1 : 0)} ms`;
  return `${(v / 1e6).toFixed(2)} s`;
}

/** Bytes -> "0", "512 B", "1.5 KiB", "256 KiB", "3.00 MiB". */
export function fmtBytes(b: number): string {
  const v = num(b);
  if (v === 0) return "0";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let x = Math.abs(v);
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  const s = i === 0 ? String(Math.round(x)) : x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);
  return `${v < 0 ? "-" : ""}${s} ${units[i]}`;
}

export function fmtPct(p: number): string {
  const v = num(p);
  if (v === 0) return "0%";
  return `${v < 0.1 ? "<0.1" : v.toFixed(1)}%`;
}

export function fmtCount(n: number): string {
  const v = num(n);
  // Thousands separators by hand: toLocaleString builds a formatter per call (slow in tables).
  return Number.isInteger(v) ? String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ",") : v.toFixed(1);
}

/** A signed time: "+1.20 ms", "-850 µs", "0". */
export function fmtDeltaTime(us: number): string {
  const v = num(us);
  return v > 0 ? `+${fmtTime(v)}` : fmtTime(v);
}

export function fmtDeltaBytes(b: number | null): string {
  if (b == null) return "–";
  const v = num(b);
  return v > 0 ? `+${fmtBytes(v)}` : fmtBytes(v);
}

/** run / base as "×0.17"; "new" for an added layer, "–" with no base. */
export function fmtRatio(ratio: number | null, status: string = "both"): string {
  if (status === "added") return "new";
  if (status === "removed") return "removed";
  if (ratio == null || !Number.isFinite(ratio)) return "–";
  return `×${ratio < 0.01 ? ratio.toFixed(4) : ratio < 10 ? ratio.toFixed(2) : ratio.toFixed(1)}`;
}

/** A name shortened to `max` characters, its middle elided ("block/…/AddN_17"): a
 * 5,000-character layer name must not fill the page. The full name goes in a title. */
export function shortName(name: string, max = 120): string {
  const s = String(name ?? "");
  if (s.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.6);
  return s.slice(0, head) + "…" + s.slice(s.length - (max - 1 - head));
}
