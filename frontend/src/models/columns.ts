// The layers table's columns: which to show for a window, each cell's value and text,
// and the sort order of two layers.
import type { Layer, Window } from "../api/types";
import { fmtBytes, fmtCount, fmtPct, fmtTime, num } from "./format";
import { layerSelf, layerTotal, pctOfStep } from "./layer";
import { fmtFlopRateCell, fmtRoof, hasWork } from "./work";

export type ColumnKey =
  | "path"
  | "class_name"
  | "forward_us"
  | "backward_us"
  | "total_us"
  | "self_us"
  | "forward_device_us"
  | "backward_device_us"
  | "forward_host_us"
  | "backward_host_us"
  | "pct"
  | "forward_alloc_bytes"
  | "backward_alloc_bytes"
  | "peak_live_bytes"
  | "param_bytes"
  | "calls"
  | "ops_per_call"
  | "flops_per_s"
  | "peak_fraction"
  | "custom"
  | "hints";

export interface Column {
  key: ColumnKey;
  label: string;
  title: string;
  numeric: boolean;
  kind: "text" | "time" | "pct" | "bytes" | "count" | "flag" | "hints" | "rate" | "roof";
}

export const COLUMNS: Column[] = [
  { key: "path", label: "Layer", title: "Layer path (name scope); nested layers are indented", numeric: false, kind: "text" },
  { key: "class_name", label: "Class", title: "Layer class", numeric: false, kind: "text" },
  { key: "forward_us", label: "Forward", title: "Forward time per step, including sublayers", numeric: true, kind: "time" },
  { key: "backward_us", label: "Gradient", title: "Gradient (backward) time per step, including sublayers", numeric: true, kind: "time" },
  { key: "total_us", label: "Total", title: "Forward + gradient time per step, including sublayers", numeric: true, kind: "time" },
  { key: "self_us", label: "Self", title: "Forward + gradient time per step of this layer's own ops (sublayers excluded)", numeric: true, kind: "time" },
  { key: "forward_device_us", label: "Fwd device", title: "Forward time on the device (GPU kernels) per step, including sublayers", numeric: true, kind: "time" },
  { key: "backward_device_us", label: "Grad device", title: "Gradient time on the device (GPU kernels) per step, including sublayers", numeric: true, kind: "time" },
  { key: "forward_host_us", label: "Fwd host", title: "Forward op time on the host (CPU) per step, including sublayers", numeric: true, kind: "time" },
  { key: "backward_host_us", label: "Grad host", title: "Gradient op time on the host (CPU) per step, including sublayers", numeric: true, kind: "time" },
  { key: "pct", label: "% step", title: "Total time as a share of the step time", numeric: true, kind: "pct" },
  { key: "forward_alloc_bytes", label: "Alloc fwd", title: "Bytes allocated per step by the forward pass", numeric: true, kind: "bytes" },
  { key: "backward_alloc_bytes", label: "Alloc grad", title: "Bytes allocated per step by the gradient", numeric: true, kind: "bytes" },
  { key: "peak_live_bytes", label: "Live at peak", title: "This layer's bytes alive at the step's memory peak", numeric: true, kind: "bytes" },
  { key: "param_bytes", label: "Params", title: "Parameter bytes", numeric: true, kind: "bytes" },
  { key: "calls", label: "Calls", title: "Calls per step", numeric: true, kind: "count" },
  { key: "ops_per_call", label: "Ops/call", title: "TensorFlow ops created per call", numeric: true, kind: "count" },
  { key: "flops_per_s", label: "FLOP/s", title: "Achieved FLOP/s (k, M, G = thousand, million, billion): forward + gradient FLOPs over their time, sublayers included (— without counts)", numeric: true, kind: "rate" },
  { key: "peak_fraction", label: "% peak", title: "Share of the nearer roof (peak FLOP/s or peak bytes/s, whichever the layer is closer to), as the CLI's % roof", numeric: true, kind: "roof" },
  { key: "custom", label: "Custom", title: "Defined outside keras/tensorflow", numeric: false, kind: "flag" },
  { key: "hints", label: "Hints", title: "Diagnoses: why this layer may be slow", numeric: true, kind: "hints" },
];

/** Columns shown only when the window has device (GPU kernel) time. */
export const DEVICE_COLUMN_KEYS: ColumnKey[] = ["forward_device_us", "backward_device_us", "forward_host_us", "backward_host_us"];

/** True when the window ran device (GPU) kernels: device vs host columns are worth showing. */
export function hasDeviceTime(w: Pick<Window, "clock" | "device_op_time_us" | "layers">): boolean {
  if (w.clock === "device" || num(w.device_op_time_us) > 0) return true;
  return (w.layers || []).some((l) => num(l.forward_device_us) > 0 || num(l.backward_device_us) > 0);
}

/** Columns shown only when some layer has work figures (FLOP or byte counts). */
export const WORK_COLUMN_KEYS: ColumnKey[] = ["flops_per_s", "peak_fraction"];

/** The table's columns for a window (device/host split only when it has device time, the
 * rates only when some layer has counts: pass the layers with their work attached). */
export function columnsFor(w: Pick<Window, "clock" | "device_op_time_us" | "layers">): Column[] {
  const device = hasDeviceTime(w);
  const work = hasWork(w.layers || []);
  return COLUMNS.filter((c) => (device || !DEVICE_COLUMN_KEYS.includes(c.key)) && (work || !WORK_COLUMN_KEYS.includes(c.key)));
}

/** Shown unless the user chooses otherwise: the table fits 1280 px with the detail beside it.
 * The rest (allocations, parameters, calls) are a click away in "Columns". */
export const DEFAULT_HIDDEN: ColumnKey[] = [
  "forward_alloc_bytes",
  "backward_alloc_bytes",
  "peak_live_bytes",
  "param_bytes",
  "calls",
  "ops_per_call",
  "peak_fraction",
];

/** The columns shown: the user's choice (`chosen`, keys; null = the default), in the
 * table's order; the layer's name always. */
export function shownColumns(available: Column[], chosen: string[] | null): Column[] {
  if (chosen === null) return available.filter((c) => !DEFAULT_HIDDEN.includes(c.key));
  const set = new Set(chosen);
  return available.filter((c) => c.key === "path" || set.has(c.key));
}

/** The choice after toggling `key` (from the columns shown now). */
export function toggleColumn(shown: Column[], key: ColumnKey, available: Column[]): string[] {
  const set = new Set(shown.map((c) => c.key as string));
  set.has(key) ? set.delete(key) : set.add(key);
  set.add("path");
  return available.filter((c) => set.has(c.key)).map((c) => c.key);
}

export function cellValue(layer: Layer, key: ColumnKey, stepUs: number): number | string | boolean {
  switch (key) {
    case "total_us":
      return layerTotal(layer);
    case "self_us":
      return layerSelf(layer);
    case "pct":
      return pctOfStep(layer, stepUs);
    case "hints":
      return (layer.hints || []).length;
    case "path":
    case "class_name":
      return String(layer[key] ?? "");
    case "custom":
      return !!layer.custom;
    // Unknown rates sort below every known one (-1: rates are never negative).
    case "flops_per_s":
      return layer.work ? layer.work.total.flops_per_s : -1;
    case "peak_fraction":
      return layer.work && layer.work.total.peak_fraction != null ? layer.work.total.peak_fraction : -1;
    default:
      return num(layer[key]);
  }
}

export function formatCell(layer: Layer, col: Column, stepUs: number): string {
  const v = cellValue(layer, col.key, stepUs);
  switch (col.kind) {
    case "time":
      return fmtTime(v as number);
    case "pct":
      return fmtPct(v as number);
    case "bytes":
      return fmtBytes(v as number);
    case "count":
      return fmtCount(v as number);
    case "flag":
      return v ? "custom" : "";
    case "hints":
      return (v as number) > 0 ? String(v) : "";
    case "rate":
      return (v as number) < 0 ? "—" : fmtFlopRateCell(v as number);
    case "roof":
      return (v as number) < 0 ? "—" : fmtRoof(v as number);
    default:
      return String(v);
  }
}

export interface SortSpec {
  key: ColumnKey;
  desc: boolean;
}

export function compareLayers(a: Layer, b: Layer, sort: SortSpec, stepUs: number): number {
  return order(cellValue(a, sort.key, stepUs), cellValue(b, sort.key, stepUs), a, b, sort.desc);
}

/** compareLayers as one function for a whole sort: each layer's value is worked out once
 * (not once per comparison), text compared by one shared collator. */
export function layerComparator(sort: SortSpec, stepUs: number): (a: Layer, b: Layer) => number {
  const values = new Map<Layer, number | string | boolean>();
  const value = (l: Layer) => {
    let v = values.get(l);
    if (v === undefined) values.set(l, (v = cellValue(l, sort.key, stepUs)));
    return v;
  };
  return (a, b) => order(value(a), value(b), a, b, sort.desc);
}

const collator = typeof Intl !== "undefined" ? new Intl.Collator() : null;

function order(va: number | string | boolean, vb: number | string | boolean, a: Layer, b: Layer, desc: boolean): number {
  let c: number;
  if (typeof va === "string" || typeof vb === "string") {
    c = collator ? collator.compare(String(va), String(vb)) : String(va).localeCompare(String(vb));
  } else {
    c = Number(va) - Number(vb);
  }
  if (desc) c = -c;
  // Ties: by path, ascending, so the order is stable and deterministic.
  return c !== 0 ? c : a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
