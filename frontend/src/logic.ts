// Pure logic of the Layer Profile tab: formatting, layer tree, sorting, filtering, export,
// URL state. No DOM here, so it is unit-tested with `node --test` (see logic.test.ts).

export interface Hint {
  code: string;
  message: string;
  evidence: Record<string, unknown>;
  severity?: string;
}

export interface Layer {
  path: string;
  class_name: string;
  custom: boolean;
  parent: string | null;
  forward_us: number;
  backward_us: number;
  self_forward_us: number;
  self_backward_us: number;
  forward_alloc_bytes: number;
  backward_alloc_bytes: number;
  peak_live_bytes: number;
  param_bytes: number;
  calls: number;
  ops_per_call: number;
  hints: Hint[];
  /** Host op time vs device (GPU kernel) time, sublayers included (0 in older reports). */
  forward_host_us?: number;
  backward_host_us?: number;
  forward_device_us?: number;
  backward_device_us?: number;
  /** Under tf.distribute (MirroredStrategy): this layer's own time on each replica. */
  replicas?: Replica[];
}

export interface Replica {
  replica: number;
  self_forward_us: number;
  self_backward_us: number;
}

export interface Window {
  step: number;
  steps: number;
  host: string;
  step_time_us: number;
  op_time_us?: number;
  mode?: string;
  /** "device" when the window ran GPU kernels: times are kernel time; else "host". */
  clock?: string;
  host_op_time_us?: number;
  device_op_time_us?: number;
  /** Time of XLA fusions spanning several layers, split among them by share. */
  xla_split_us?: number;
  memory_allocators?: string[];
  memory_available?: boolean;
  warnings?: string[];
  layers: Layer[];
  other: Record<string, number>;
  /** Where TF wrote the window's .xplane.pb, relative to the run directory. */
  profile_dir?: string;
  /** The last profiled step's layer spans ({} in older reports). */
  timeline?: Timeline | Record<string, never>;
}

export interface TimelineSpan {
  path: string;
  phase: string;
  start_us: number;
  end_us: number;
}

export interface Timeline {
  step: number;
  step_time_us: number;
  spans: TimelineSpan[];
}

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
  | "custom"
  | "hints";

export interface Column {
  key: ColumnKey;
  label: string;
  title: string;
  numeric: boolean;
  kind: "text" | "time" | "pct" | "bytes" | "count" | "flag" | "hints";
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
  { key: "custom", label: "Custom", title: "Defined outside keras/tensorflow", numeric: false, kind: "flag" },
  { key: "hints", label: "Hints", title: "Diagnoses: why this layer may be slow", numeric: true, kind: "hints" },
];

export const OTHER_LABELS: [string, string][] = [
  ["optimizer_us", "Optimizer"],
  ["loss_us", "Loss"],
  ["input_us", "Input pipeline"],
  ["metrics_us", "Metrics"],
  ["collective_us", "Collective (cross-replica)"],
  ["framework_us", "Framework"],
  ["unattributed_us", "Unattributed"],
];

/** Columns shown only when the window has device (GPU kernel) time. */
export const DEVICE_COLUMN_KEYS: ColumnKey[] = ["forward_device_us", "backward_device_us", "forward_host_us", "backward_host_us"];

const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);

/** "some_new_us" -> "Some new": a label for a category this tab does not know yet. */
export function otherLabel(key: string): string {
  const known = OTHER_LABELS.find(([k]) => k === key);
  if (known) return known[1];
  const s = key.replace(/_us$/, "").replace(/_/g, " ").trim() || key;
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The keys of a window's `other` in display order: the known ones first (in the report's
 * order), then any category a newer report added, by name. Non-numeric values are skipped. */
export function otherKeys(other: Record<string, unknown> | null | undefined): string[] {
  const o = other && typeof other === "object" ? other : {};
  const known = OTHER_LABELS.map(([k]) => k);
  const extra = Object.keys(o)
    .filter((k) => !known.includes(k) && typeof o[k] === "number")
    .sort();
  return [...known, ...extra];
}

/** True when the window ran device (GPU) kernels: device vs host columns are worth showing. */
export function hasDeviceTime(w: Pick<Window, "clock" | "device_op_time_us" | "layers">): boolean {
  if (w.clock === "device" || num(w.device_op_time_us) > 0) return true;
  return (w.layers || []).some((l) => num(l.forward_device_us) > 0 || num(l.backward_device_us) > 0);
}

/** The table's columns for a window (device/host split only when it has device time). */
export function columnsFor(w: Pick<Window, "clock" | "device_op_time_us" | "layers">): Column[] {
  return hasDeviceTime(w) ? COLUMNS : COLUMNS.filter((c) => !DEVICE_COLUMN_KEYS.includes(c.key));
}

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

/** The step time a window's percentages are relative to. */
export function stepTime(w: Pick<Window, "step_time_us" | "op_time_us">): number {
  return num(w.step_time_us) > 0 ? num(w.step_time_us) : num(w.op_time_us);
}

export function cellValue(layer: Layer, key: ColumnKey, stepUs: number): number | string | boolean {
  switch (key) {
    case "total_us":
      return num(layer.forward_us) + num(layer.backward_us);
    case "self_us":
      return num(layer.self_forward_us) + num(layer.self_backward_us);
    case "pct":
      return stepUs > 0 ? ((num(layer.forward_us) + num(layer.backward_us)) / stepUs) * 100 : 0;
    case "hints":
      return (layer.hints || []).length;
    case "path":
    case "class_name":
      return String(layer[key] ?? "");
    case "custom":
      return !!layer.custom;
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
    default:
      return String(v);
  }
}

export interface SortSpec {
  key: ColumnKey;
  desc: boolean;
}

export function compareLayers(a: Layer, b: Layer, sort: SortSpec, stepUs: number): number {
  const va = cellValue(a, sort.key, stepUs);
  const vb = cellValue(b, sort.key, stepUs);
  let c: number;
  if (typeof va === "string" || typeof vb === "string") {
    c = String(va).localeCompare(String(vb));
  } else {
    c = Number(va) - Number(vb);
  }
  if (sort.desc) c = -c;
  // Ties: by path, ascending, so the order is stable and deterministic.
  return c !== 0 ? c : a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

export interface Row {
  layer: Layer;
  depth: number;
  hasChildren: boolean;
  expanded: boolean;
}

export interface Tree {
  roots: Layer[];
  children: Map<string, Layer[]>;
  byPath: Map<string, Layer>;
}

/** Builds the layer tree from the flat list (`parent` gives the tree). Layers whose
 * parent is missing from the window, or that would form a cycle, become roots. */
export function buildTree(layers: Layer[]): Tree {
  const byPath = new Map<string, Layer>();
  for (const l of layers) if (!byPath.has(l.path)) byPath.set(l.path, l);
  const children = new Map<string, Layer[]>();
  const roots: Layer[] = [];
  for (const l of byPath.values()) {
    const p = l.parent;
    if (p != null && p !== l.path && byPath.has(p) && !createsCycle(l, byPath)) {
      let list = children.get(p);
      if (!list) children.set(p, (list = []));
      list.push(l);
    } else {
      roots.push(l);
    }
  }
  return { roots, children, byPath };
}

function createsCycle(l: Layer, byPath: Map<string, Layer>): boolean {
  const seen = new Set<string>([l.path]);
  let p = l.parent;
  while (p != null) {
    if (seen.has(p)) return true;
    seen.add(p);
    const next = byPath.get(p);
    if (!next) return false;
    p = next.parent;
  }
  return false;
}

export interface RowOptions {
  sort: SortSpec;
  filter: string;
  flat: boolean;
  /** Paths explicitly collapsed (tree mode); everything else is expanded. */
  collapsed: Set<string>;
  stepUs: number;
}

export function matchesFilter(layer: Layer, filter: string): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return layer.path.toLowerCase().includes(f) || String(layer.class_name || "").toLowerCase().includes(f);
}

/** The rows to show, in order: a sorted tree (siblings sorted) or a sorted flat list.
 * With a filter, tree mode keeps matching layers plus their ancestors (expanded). */
export function visibleRows(tree: Tree, opts: RowOptions): Row[] {
  const cmp = (a: Layer, b: Layer) => compareLayers(a, b, opts.sort, opts.stepUs);
  const all = Array.from(tree.byPath.values());
  if (opts.flat) {
    return all
      .filter((l) => matchesFilter(l, opts.filter))
      .sort(cmp)
      .map((layer) => ({ layer, depth: 0, hasChildren: false, expanded: false }));
  }
  let keep: Set<string> | null = null;
  if (opts.filter) {
    keep = new Set();
    for (const l of all) {
      if (!matchesFilter(l, opts.filter)) continue;
      let cur: Layer | undefined = l;
      while (cur && !keep.has(cur.path)) {
        keep.add(cur.path);
        cur = cur.parent != null ? tree.byPath.get(cur.parent) : undefined;
      }
    }
  }
  const rows: Row[] = [];
  // Iterative DFS so very deep trees cannot overflow the stack.
  const stack: { layer: Layer; depth: number }[] = [];
  const pushSorted = (list: Layer[], depth: number) => {
    const kept = keep ? list.filter((l) => keep!.has(l.path)) : list.slice();
    kept.sort(cmp);
    for (let i = kept.length - 1; i >= 0; i--) stack.push({ layer: kept[i], depth });
  };
  pushSorted(tree.roots, 0);
  while (stack.length) {
    const { layer, depth } = stack.pop()!;
    const kids = tree.children.get(layer.path) || [];
    const hasChildren = kids.length > 0;
    const expanded = hasChildren && (keep !== null || !opts.collapsed.has(layer.path));
    rows.push({ layer, depth, hasChildren, expanded });
    if (expanded) pushSorted(kids, depth + 1);
  }
  return rows;
}

/** Top layers by self time (own ops, so a block does not hide the layer inside it). */
export function hotLayers(layers: Layer[], n: number): Layer[] {
  return layers
    .slice()
    .sort(
      (a, b) =>
        num(b.self_forward_us) + num(b.self_backward_us) - (num(a.self_forward_us) + num(a.self_backward_us)) ||
        (a.path < b.path ? -1 : 1),
    )
    .slice(0, n)
    .filter((l) => num(l.self_forward_us) + num(l.self_backward_us) > 0);
}

export interface Diagnosis {
  layer: Layer;
  hint: Hint;
}

/** Every hint of a window, warnings first, then by the layer's total time. */
export function diagnoses(layers: Layer[]): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (const layer of layers) for (const hint of layer.hints || []) out.push({ layer, hint });
  const sev = (h: Hint) => (h.severity === "info" ? 1 : 0);
  const total = (l: Layer) => num(l.forward_us) + num(l.backward_us);
  return out.sort((a, b) => sev(a.hint) - sev(b.hint) || total(b.layer) - total(a.layer) || (a.layer.path < b.layer.path ? -1 : 1));
}

function fmtEvidenceValue(v: unknown): string {
  if (typeof v === "number") return fmtCount(v);
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && !Array.isArray(v))
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k} ${typeof x === "number" ? fmtCount(x) : JSON.stringify(x)}`)
      .join(", ");
  return JSON.stringify(v);
}

export function fmtEvidence(evidence: Record<string, unknown>): string {
  return Object.entries(evidence || {})
    .map(([k, v]) => `${k.replace(/_/g, " ")}: ${fmtEvidenceValue(v)}`)
    .join(" · ");
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

// -- export -----------------------------------------------------------------------------

const EXPORT_FIELDS: (keyof Layer)[] = [
  "path", "class_name", "custom", "parent", "forward_us", "backward_us", "self_forward_us",
  "self_backward_us", "forward_alloc_bytes", "backward_alloc_bytes", "peak_live_bytes",
  "param_bytes", "calls", "ops_per_call", "forward_device_us", "backward_device_us",
  "forward_host_us", "backward_host_us",
];

export function csvField(v: unknown): string {
  let s = v == null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  // Spreadsheet formula injection: a user-data cell starting with =,+,-,@ is made inert.
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s)) s = "'" + s;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(layers: Layer[], stepUs: number): string {
  const header = [...EXPORT_FIELDS, "total_us", "pct_of_step", "hints"];
  const lines = [header.join(",")];
  for (const l of layers) {
    const pct = cellValue(l, "pct", stepUs) as number;
    const vals = [
      ...EXPORT_FIELDS.map((f) => l[f]),
      num(l.forward_us) + num(l.backward_us),
      Math.round(pct * 100) / 100,
      (l.hints || []).map((h) => h.code).join(" "),
    ];
    lines.push(vals.map(csvField).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

export function toJson(run: string, w: Window, layers: Layer[]): string {
  return JSON.stringify({ schema: 1, runs: [{ run, windows: [{ ...w, layers }] }] }, null, 1);
}

// -- URL state (the iframe's hash) --------------------------------------------------------

export type ViewName = "layers" | "compare";

export interface ViewState {
  /** "layers" (one window) or "compare" (base run/window vs `run`/`step`). */
  view: ViewName;
  /** Compare mode: the base run, its window and host (null = latest / first host). */
  base: string | null;
  baseStep: number | null;
  baseHost: string | null;
  run: string | null;
  step: number | null;
  host: string | null;
  /** The selected layer (table row highlighted, its spans highlighted in the timeline). */
  selected: string | null;
  sort: SortSpec;
  filter: string;
  flat: boolean;
  collapsed: string[];
  trend: string[];
  metric: string;
}

export const DEFAULT_SORT: SortSpec = { key: "total_us", desc: true };
export const TREND_METRICS = ["total", "forward_us", "backward_us", "self", "alloc", "peak_live_bytes"];

export function parseHash(hash: string): ViewState {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const key = p.get("sort") as ColumnKey | null;
  const stepStr = p.get("step");
  const step = stepStr !== null && /^\d+$/.test(stepStr) ? Number(stepStr) : null;
  const metric = p.get("metric") || "total";
  const bstep = p.get("bstep");
  return {
    view: p.get("view") === "compare" ? "compare" : "layers",
    base: p.get("base"),
    baseStep: bstep !== null && /^\d+$/.test(bstep) ? Number(bstep) : null,
    baseHost: p.get("bhost"),
    run: p.get("run"),
    step,
    host: p.get("host"),
    selected: p.get("sel"),
    sort: key && COLUMNS.some((c) => c.key === key) ? { key, desc: p.get("desc") !== "0" } : { ...DEFAULT_SORT },
    filter: p.get("filter") || "",
    flat: p.get("flat") === "1",
    collapsed: p.getAll("collapse"),
    trend: p.getAll("layer"),
    metric: TREND_METRICS.includes(metric) ? metric : "total",
  };
}

export function formatHash(s: ViewState): string {
  const p = new URLSearchParams();
  if (s.view !== "layers") p.set("view", s.view);
  if (s.base !== null) p.set("base", s.base);
  if (s.baseStep !== null) p.set("bstep", String(s.baseStep));
  if (s.baseHost !== null) p.set("bhost", s.baseHost);
  if (s.run !== null) p.set("run", s.run);
  if (s.step !== null) p.set("step", String(s.step));
  if (s.host !== null) p.set("host", s.host);
  if (s.selected !== null) p.set("sel", s.selected);
  if (s.sort.key !== DEFAULT_SORT.key || s.sort.desc !== DEFAULT_SORT.desc) {
    p.set("sort", s.sort.key);
    p.set("desc", s.sort.desc ? "1" : "0");
  }
  if (s.filter) p.set("filter", s.filter);
  if (s.flat) p.set("flat", "1");
  for (const c of s.collapsed) p.append("collapse", c);
  for (const l of s.trend) p.append("layer", l);
  if (s.metric !== "total") p.set("metric", s.metric);
  const str = p.toString();
  return str ? "#" + str : "";
}

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

// -- step timeline ------------------------------------------------------------------------

export const PHASES = ["forward", "backward"] as const;
export const PHASE_LABEL: Record<string, string> = { forward: "Forward", backward: "Gradient" };

export interface TimelineRow {
  phase: string;
  /** Nesting level of the layers drawn in this row (0 = top-level layers). */
  depth: number;
  /** Label shown on the axis: only the first row of a (phase, depth) group has one. */
  label: string;
}

export interface TimelineModel {
  step: number;
  stepUs: number;
  /** Axis end: the step time, or the last span end if a span runs past it. */
  endUs: number;
  rows: TimelineRow[];
  /** One item per drawn span: [start_us, end_us, row, span index]; row order = rows. */
  items: [number, number, number, number][];
  spans: TimelineSpan[];
  /** Spans dropped because they were malformed (non-finite, end before start, unknown phase). */
  dropped: number;
}

/** True when a window carries a usable timeline (older reports have `{}`). */
export function hasTimeline(w: Pick<Window, "timeline">): boolean {
  const t = w.timeline as Timeline | undefined;
  return !!t && Array.isArray(t.spans) && t.spans.length > 0;
}

/** Nesting depth of every layer (0 for roots), from the `parent` links of the window. */
export function layerDepths(layers: Layer[]): Map<string, number> {
  const tree = buildTree(layers);
  const depth = new Map<string, number>();
  const stack: [Layer, number][] = tree.roots.map((l) => [l, 0]);
  while (stack.length) {
    const [l, d] = stack.pop()!;
    depth.set(l.path, d);
    for (const k of tree.children.get(l.path) || []) stack.push([k, d + 1]);
  }
  return depth;
}

/** Lays the timeline out in rows: forward lanes first, then gradient lanes; inside a phase
 * one lane per nesting depth, so a layer's span sits right below its parent's. Spans of
 * the same depth that overlap in time (parallel ops) get extra rows so that none hides
 * another. Layers missing from the window count as depth 0. */
export function timelineModel(t: Timeline, layers: Layer[]): TimelineModel {
  const depths = layerDepths(layers);
  const stepUs = num(t.step_time_us);
  const spans = Array.isArray(t.spans) ? t.spans : [];
  // (phase, depth) -> spans, sorted by start.
  const groups = new Map<string, { phase: string; depth: number; idx: number[] }>();
  let dropped = 0;
  let endUs = stepUs;
  spans.forEach((sp, i) => {
    const ok =
      sp && typeof sp.path === "string" && PHASES.includes(sp.phase as any) &&
      Number.isFinite(sp.start_us) && Number.isFinite(sp.end_us) && sp.end_us >= sp.start_us;
    if (!ok) {
      dropped++;
      return;
    }
    const depth = depths.get(sp.path) ?? 0;
    const key = `${sp.phase}\u0000${depth}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { phase: sp.phase, depth, idx: [] }));
    g.idx.push(i);
    if (sp.end_us > endUs) endUs = sp.end_us;
  });
  const ordered = Array.from(groups.values()).sort(
    (a, b) => PHASES.indexOf(a.phase as any) - PHASES.indexOf(b.phase as any) || a.depth - b.depth,
  );
  const rows: TimelineRow[] = [];
  const items: [number, number, number, number][] = [];
  for (const g of ordered) {
    g.idx.sort((a, b) => spans[a].start_us - spans[b].start_us || spans[b].end_us - spans[a].end_us);
    // Greedy packing: each span goes to the first sub-row whose last span has ended.
    const rowEnds: number[] = [];
    const first = rows.length;
    for (const i of g.idx) {
      const sp = spans[i];
      let r = rowEnds.findIndex((end) => end <= sp.start_us);
      if (r < 0) {
        r = rowEnds.length;
        rowEnds.push(sp.end_us);
        rows.push({
          phase: g.phase,
          depth: g.depth,
          label: r === 0 ? `${PHASE_LABEL[g.phase]}${g.depth ? ` · level ${g.depth + 1}` : ""}` : "",
        });
      } else {
        rowEnds[r] = sp.end_us;
      }
      items.push([sp.start_us, sp.end_us, first + r, i]);
    }
  }
  return { step: num(t.step), stepUs, endUs, rows, items, spans, dropped };
}

// -- links to XProf (TensorBoard's profile plugin) -----------------------------------------

/** The profile plugin's name for a capture session: `<TensorBoard run>/<session>`, or just
 * `<session>` for the logdir's root run ".". Null when the window's profile directory is not
 * a session under `<run>/plugins/profile/`, where the profile plugin looks. */
export function profileRunName(run: string, profileDir: string | undefined): string | null {
  if (!profileDir) return null;
  const parts = profileDir.split(/[\\/]+/).filter((p) => p && p !== ".");
  if (parts.length !== 3 || parts[0] !== "plugins" || parts[1] !== "profile" || parts[2] === "..") return null;
  const session = parts[2];
  return run === "." || run === "" ? session : `${run}/${session}`;
}

/** TensorBoard URL that opens the profile plugin's trace viewer on one session and host:
 * `<TensorBoard root>?run=<run/session>&tag=trace_viewer%40&host=<host>#profile` (XProf
 * reads run, tag and host from the top window's query string). `root` is TensorBoard's
 * base URL (with any --path_prefix), e.g. "http://localhost:6006/". */
export function traceViewerUrl(root: string, run: string, profileDir: string | undefined, host: string): string | null {
  const profileRun = profileRunName(run, profileDir);
  if (profileRun === null) return null;
  const url = new URL(root);
  const p = new URLSearchParams();
  p.set("run", profileRun);
  p.set("tag", "trace_viewer@");
  if (host) p.set("host", host);
  url.search = p.toString();
  url.hash = "profile";
  return url.toString();
}

/** What to change in the view so that `path`'s row is shown in the table: its collapsed
 * ancestors expanded, and the filter cleared if the layer does not match it. */
export function revealPatch(tree: Tree, path: string, collapsed: string[], filter: string): { collapsed?: string[]; filter?: string } {
  const patch: { collapsed?: string[]; filter?: string } = {};
  const layer = tree.byPath.get(path);
  if (!layer) return patch;
  const ancestors = new Set<string>();
  let p = layer.parent;
  while (p != null && !ancestors.has(p) && tree.byPath.has(p)) {
    ancestors.add(p);
    p = tree.byPath.get(p)!.parent;
  }
  if (collapsed.some((c) => ancestors.has(c))) patch.collapsed = collapsed.filter((c) => !ancestors.has(c));
  if (filter && !matchesFilter(layer, filter)) patch.filter = "";
  return patch;
}

/** Intersection of two rectangles (x, y, width, height), or null when they do not overlap. */
export function clipRect(
  r: { x: number; y: number; width: number; height: number },
  c: { x: number; y: number; width: number; height: number },
): { x: number; y: number; width: number; height: number } | null {
  const x0 = Math.max(r.x, c.x);
  const y0 = Math.max(r.y, c.y);
  const x1 = Math.min(r.x + r.width, c.x + c.width);
  const y1 = Math.min(r.y + r.height, c.y + c.height);
  if (!(x1 > x0 && y1 > y0)) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

// -- compare mode (/diff) ------------------------------------------------------------------

export interface Compared {
  base_us: number;
  run_us: number;
  delta_us: number;
  ratio: number | null;
}

export interface DiffLayer {
  path: string;
  status: "both" | "added" | "removed";
  base_us: number;
  run_us: number;
  delta_us: number;
  ratio: number | null;
  base_forward_us: number;
  run_forward_us: number;
  delta_forward_us: number;
  base_backward_us: number;
  run_backward_us: number;
  delta_backward_us: number;
  base_alloc_bytes: number | null;
  run_alloc_bytes: number | null;
  delta_alloc_bytes: number | null;
  base_peak_live_bytes: number | null;
  run_peak_live_bytes: number | null;
  delta_peak_live_bytes: number | null;
  class_name: string;
  base_class_name: string | null;
  custom: boolean;
}

export interface DiffDoc {
  base: string;
  run: string;
  base_window: { step: number; steps: number; host: string; mode: string; memory_available: boolean };
  run_window: { step: number; steps: number; host: string; mode: string; memory_available: boolean };
  step_time: Compared;
  op_time: Compared;
  other: Record<string, Compared>;
  memory_available: boolean;
  layers: DiffLayer[];
  counts: { both: number; added: number; removed: number };
  base_hosts?: string[];
  run_hosts?: string[];
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

/** "2.3x faster" / "1.4x slower" / "no change" from a compared step time. */
export function speedupText(c: Compared): string {
  const b = num(c.base_us);
  const r = num(c.run_us);
  if (b <= 0 || r <= 0) return "";
  const x = b / r;
  if (Math.abs(x - 1) < 0.005) return "no change";
  return x > 1 ? `${x.toFixed(2)}x faster` : `${(1 / x).toFixed(2)}x slower`;
}

/** Compare rows to show: name/class filter and status filter ("all", "changed" = both,
 * "added", "removed"); the server's order (|delta| largest first) is kept. */
export function diffRows(layers: DiffLayer[], filter: string, status: string): DiffLayer[] {
  const f = filter.toLowerCase();
  return layers.filter(
    (l) =>
      (status === "all" || (status === "changed" ? l.status === "both" : l.status === status)) &&
      (!f || l.path.toLowerCase().includes(f) || String(l.class_name || "").toLowerCase().includes(f)),
  );
}

/** The compared categories worth a row: every category with time on either side. */
export function diffOther(doc: Pick<DiffDoc, "other">): { key: string; label: string; c: Compared }[] {
  const other = doc.other || {};
  return otherKeys(Object.fromEntries(Object.keys(other).map((k) => [k, 0])))
    .filter((k) => other[k] && (num(other[k].base_us) > 0 || num(other[k].run_us) > 0))
    .map((k) => ({ key: k, label: otherLabel(k), c: other[k] }));
}

// -- workers (/workers) ---------------------------------------------------------------------

export interface WorkersDoc {
  step: number;
  hosts: {
    host: string;
    step_time_us: number;
    op_time_us: number;
    /** Op time outside collectives: what differs between synchronous workers. */
    compute_us?: number;
    /** Collective time: under synchronous training, mostly waiting for the slowest worker. */
    collective_us?: number;
    /** Compute beyond the fastest worker's. */
    excess_us?: number;
    other: Record<string, number>;
  }[];
  slowest_host: string | null;
  fastest_host: string | null;
  layers: {
    path: string;
    by_host: Record<string, { forward_us: number; backward_us: number; total_us: number; self_us?: number }>;
    missing_on?: string[];
    slowest_host: string | null;
    spread_us: number;
    ratio: number | null;
  }[];
  straggler: {
    host: string | null;
    fastest_host?: string | null;
    layer: string | null;
    extra_us: number;
    excess_us?: number;
    share?: number | null;
    causes?: { name: string; kind: string; extra_us: number }[];
  } | null;
}

/** A straggler cause in words: a layer's path, or a category's label ("Optimizer"). */
export function causeLabel(c: { name: string; kind: string }): string {
  return c.kind === "layer" ? c.name : otherLabel(c.name);
}

/** The layers that differ most between workers (largest spread first), at most `n`. */
export function stragglerLayers(doc: WorkersDoc, n: number): WorkersDoc["layers"] {
  return (doc.layers || [])
    .filter((l) => num(l.spread_us) > 0)
    .sort((a, b) => num(b.spread_us) - num(a.spread_us) || (a.path < b.path ? -1 : 1))
    .slice(0, n);
}
