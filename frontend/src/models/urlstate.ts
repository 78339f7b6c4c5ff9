// The view's state in the iframe's URL hash, so that a link reproduces the view.
import { COLUMNS, ColumnKey, SortSpec } from "./columns";
import { GROUP_BYS, GroupBy } from "./groups";

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
  /** The table grouped by class or diagnosis ("none": the tree), and the groups opened. */
  group: GroupBy;
  open: string[];
  /** The table's columns chosen by the user (keys); null: the default set. */
  cols: string[] | null;
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
    group: GROUP_BYS.includes(p.get("group") as GroupBy) ? (p.get("group") as GroupBy) : "none",
    open: p.getAll("open"),
    cols: p.get("cols") !== null ? p.get("cols")!.split(",").filter((k) => COLUMNS.some((c) => c.key === k)) : null,
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
  if (s.group !== "none") p.set("group", s.group);
  for (const g of s.open) p.append("open", g);
  if (s.cols !== null) p.set("cols", s.cols.join(","));
  for (const l of s.trend) p.append("layer", l);
  if (s.metric !== "total") p.set("metric", s.metric);
  const str = p.toString();
  return str ? "#" + str : "";
}
