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
}

export interface Window {
  step: number;
  steps: number;
  host: string;
  step_time_us: number;
  op_time_us?: number;
  mode?: string;
  memory_available?: boolean;
  warnings?: string[];
  layers: Layer[];
  other: Record<string, number>;
}

export type ColumnKey =
  | "path"
  | "class_name"
  | "forward_us"
  | "backward_us"
  | "total_us"
  | "self_us"
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
  ["framework_us", "Framework"],
  ["unattributed_us", "Unattributed"],
];

const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);

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
  return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(1);
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
  for (const [key, label] of OTHER_LABELS) items.push({ key, label, us: num((w.other || {})[key]) });
  return items;
}

// -- export -----------------------------------------------------------------------------

const EXPORT_FIELDS: (keyof Layer)[] = [
  "path", "class_name", "custom", "parent", "forward_us", "backward_us", "self_forward_us",
  "self_backward_us", "forward_alloc_bytes", "backward_alloc_bytes", "peak_live_bytes",
  "param_bytes", "calls", "ops_per_call",
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

export interface ViewState {
  run: string | null;
  step: number | null;
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
  return {
    run: p.get("run"),
    step,
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
  if (s.run !== null) p.set("run", s.run);
  if (s.step !== null) p.set("step", String(s.step));
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
