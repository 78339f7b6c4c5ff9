// The layers' work (FLOPs, bytes moved, achieved rates, share of the roofs), as the backend
// computed it: /window's `layer_work` (tb_layerprof.plugin_store.layer_work over
// figures.layer_rates and figures.peak_fraction, the CLI table's GFLOP/s and % roof). Read
// and checked for shape here, formatted, never worked out.
import type { Layer, LayerWork, Rates, Window } from "../api/types";

const isObject = (x: unknown): x is Record<string, unknown> => !!x && typeof x === "object" && !Array.isArray(x);
const finiteOrNull = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);

function readRates(x: unknown): Rates | null {
  if (!isObject(x)) return null;
  const flops = finiteOrNull(x.flops_per_s);
  if (flops === null) return null;
  return {
    flops_per_s: flops,
    bytes_per_s: finiteOrNull(x.bytes_per_s),
    intensity: finiteOrNull(x.intensity),
    flops_fraction: finiteOrNull(x.flops_fraction),
    bytes_fraction: finiteOrNull(x.bytes_fraction),
    peak_fraction: finiteOrNull(x.peak_fraction),
  };
}

/** /window's `layer_work` by path; entries without a usable `total` are left out (an older
 * server sends none: no layer has work figures, rather than a guess). */
export function readLayerWork(x: unknown): Map<string, LayerWork> {
  const out = new Map<string, LayerWork>();
  if (!isObject(x)) return out;
  for (const [path, v] of Object.entries(x)) {
    if (!isObject(v)) continue;
    const total = readRates(v.total);
    if (!total) continue;
    out.set(path, { counts: typeof v.counts === "string" ? v.counts : null, total, forward: readRates(v.forward), backward: readRates(v.backward) });
  }
  return out;
}

/** The window's layers, each with its work figures attached (`layer.work`) when it has any. */
export function withWork(layers: Layer[], work: Map<string, LayerWork>): Layer[] {
  if (!work.size) return layers;
  return layers.map((l) => {
    const lw = work.get(l.path);
    return lw ? { ...l, work: lw } : l;
  });
}

/** True when some layer of the window has work figures. */
export const hasWork = (layers: Layer[]): boolean => layers.some((l) => !!l.work);

/** The window's roofs (null where unknown) and where they come from. `cache`: the CPU's
 * in-cache copy rate, kept only above the memory roof (what it adds is the room above it). */
export function windowPeaks(w: Pick<Window, "peak_flops_per_s" | "peak_bytes_per_s" | "peak_source" | "peak_cache_bytes_per_s">) {
  const pos = (x: unknown) => (typeof x === "number" && Number.isFinite(x) && x > 0 ? x : null);
  const bytes = pos(w.peak_bytes_per_s);
  const cache = pos(w.peak_cache_bytes_per_s);
  return {
    flops: pos(w.peak_flops_per_s),
    bytes,
    cache: cache !== null && bytes !== null && cache > bytes ? cache : null,
    source: typeof w.peak_source === "string" && w.peak_source ? w.peak_source : null,
  };
}

const PREFIXES = ["", "k", "M", "G", "T", "P", "E"];

/** A count with an SI prefix and 3 significant digits: "54.8 MFLOP/s", "1.64 GFLOP", "0";
 * `trim`: without trailing zeros ("1 TFLOP/s", for axis ticks). */
export function fmtSI(v: number | null | undefined, unit: string, trim = false): string {
  if (v == null || !Number.isFinite(v)) return "—";
  if (v === 0) return `0 ${unit}`;
  let x = Math.abs(v);
  let i = 0;
  while (x >= 999.5 && i < PREFIXES.length - 1) {
    x /= 1000;
    i++;
  }
  // 3 significant digits; below 1 (no prefix left to take) without trailing zeros.
  const s = (x >= 1 || i > 0) && !trim ? x.toPrecision(3) : String(Number(x.toPrecision(3)));
  return `${v < 0 ? "-" : ""}${s} ${PREFIXES[i]}${unit}`.trimEnd();
}

export const fmtFlopRate = (v: number | null | undefined) => fmtSI(v, "FLOP/s");
/** The table's FLOP/s cell ("1.64 G": the header carries the unit). */
export const fmtFlopRateCell = (v: number | null | undefined) => fmtSI(v, "");
export const fmtByteRate = (v: number | null | undefined) => fmtSI(v, "B/s");

/** A roof fraction as the CLI's "% roof" prints it: "39%", "9.4%", "0.031%"; "—" unknown. */
export function fmtRoof(fraction: number | null | undefined): string {
  if (fraction == null || !Number.isFinite(fraction)) return "—";
  const pct = 100 * fraction;
  return pct >= 10 ? `${pct.toFixed(0)}%` : `${Number(pct.toPrecision(2))}%`;
}

/** FLOPs per byte: "0.042", "21.4", "1.2k". */
export function fmtIntensity(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return "—";
  return v >= 1000 ? fmtSI(v, "").trim() : String(Number(v.toPrecision(3)));
}

/** How the layer's counts were obtained, in words. */
export function countsLabel(counts: string | null | undefined): string {
  switch (counts) {
    case "exact":
      return "exact counts: every op with time has a FLOP formula";
    case "estimated":
      return "estimated: some ops counted in bytes only, or not counted";
    case "bytes-only":
      return "bytes only: no FLOP formula for its ops";
    case null:
    case undefined:
    case "":
      return "no counts";
    default:
      return String(counts);
  }
}

/** "forward 82.6 GFLOP/s · gradient 63.3 GFLOP/s" ("—" for a phase without a rate). */
export function phaseRatesText(lw: LayerWork): string {
  const phase = (name: string, r: Rates | null) => `${name} ${r ? fmtFlopRate(r.flops_per_s) : "—"}`;
  return `${phase("forward", lw.forward)} · ${phase("gradient", lw.backward)}`;
}

/** "39% of the nearer roof (FLOP/s 35%, bytes/s 39%)", or why there is no share; above
 * 100% of the memory roof, why that is possible. */
export function roofText(t: Rates): string {
  if (t.peak_fraction == null) return "% of peak unknown: no peaks known for this window";
  const above = t.bytes_fraction != null && t.bytes_fraction > 1 ? ": above the memory roof, its bytes stayed in cache" : "";
  return `${fmtRoof(t.peak_fraction)} of the nearer roof (FLOP/s ${fmtRoof(t.flops_fraction)}, bytes/s ${fmtRoof(t.bytes_fraction)})${above}`;
}

/** The rate columns' tooltip: rates by phase, the roofs' shares and where the counts come from. */
export function workTitle(l: Layer): string {
  const lw = l.work;
  if (!lw) return "No FLOP or byte count for this layer's ops";
  return [
    `${fmtFlopRate(lw.total.flops_per_s)} achieved (forward + gradient, sublayers included)`,
    roofText(lw.total),
    phaseRatesText(lw),
    countsLabel(lw.counts),
  ].join("\n");
}
