// Grouping at scale: 2,000 layers of one class, 590 identical diagnoses. Layers grouped by
// class or by diagnosis (hint code), each group with its count and its share of the step
// ("SlowLoop × 590 = 61% of step"), expandable; diagnoses of one code and class as one card.
import type { Layer } from "../api/types";
import { SortSpec, layerComparator } from "./columns";
import { num } from "./format";
import type { Row, Tree } from "./tree";
import { matchesFilter } from "./tree";
import type { Diagnosis } from "./window";

export type GroupBy = "none" | "class" | "diagnosis";
export const GROUP_BYS: GroupBy[] = ["none", "class", "diagnosis"];

export const NO_DIAGNOSIS = "no diagnosis";
const GROUP_PREFIX = "\u0000group:";

export interface GroupInfo {
  key: string;
  label: string;
  count: number;
  /** Forward + gradient of the members, a member nested in another counted once. */
  total_us: number;
  /** Percent of the step basis (0 without one). */
  pct: number;
}

/** The groups a layer belongs to: its class, or each of its hint codes ("no diagnosis" without any). */
export function groupKeysOf(l: Layer, by: GroupBy): string[] {
  if (by === "class") return [String(l.class_name || "") || "(no class)"];
  if (by === "diagnosis") {
    const codes = Array.from(new Set((l.hints || []).map((h) => String(h.code))));
    return codes.length ? codes : [NO_DIAGNOSIS];
  }
  return [];
}

/** A group's key as the table's row path (never a layer's path). */
export const groupRowPath = (key: string) => GROUP_PREFIX + key;
export const isGroupPath = (path: string) => path.startsWith(GROUP_PREFIX);

/** Sum of totals of `members`, skipping any member with an ancestor among them (its time is in the ancestor's). */
function membersTotal(members: Layer[], tree: Tree): { fwd: number; bwd: number } {
  const inGroup = new Set(members.map((m) => m.path));
  let fwd = 0;
  let bwd = 0;
  for (const m of members) {
    let p = m.parent;
    let nested = false;
    const seen = new Set<string>();
    while (p != null && !seen.has(p)) {
      if (inGroup.has(p)) {
        nested = true;
        break;
      }
      seen.add(p);
      p = tree.byPath.get(p)?.parent ?? null;
    }
    if (!nested) {
      fwd += num(m.forward_us);
      bwd += num(m.backward_us);
    }
  }
  return { fwd, bwd };
}

/** "SlowLoop × 590 = 61.0% of step" (no share without a step basis). */
export function groupTitle(g: Pick<GroupInfo, "label" | "count" | "pct">): string {
  return `${g.label} × ${g.count}` + (g.pct > 0 ? ` = ${g.pct < 0.1 ? "<0.1" : g.pct.toFixed(g.pct < 10 ? 1 : 0)}% of step` : "");
}

/** The table's rows grouped: one header row per group (sorted like layers, by the group's
 * sums), its members under it (flat, sorted) when the group is open. A filter keeps the
 * groups with a matching member, and only those members. */
export function groupedRows(tree: Tree, by: GroupBy, opts: { sort: SortSpec; filter: string; open: Set<string>; stepUs: number }): Row[] {
  const groups = new Map<string, Layer[]>();
  for (const l of tree.byPath.values()) {
    if (!matchesFilter(l, opts.filter)) continue;
    for (const k of groupKeysOf(l, by)) (groups.get(k) || groups.set(k, []).get(k)!).push(l);
  }
  const cmp = layerComparator(opts.sort, opts.stepUs);
  const headers = Array.from(groups.entries()).map(([key, members]) => {
    const { fwd, bwd } = membersTotal(members, tree);
    let sf = 0;
    let sb = 0;
    const hints = [];
    for (const m of members) {
      sf += num(m.self_forward_us);
      sb += num(m.self_backward_us);
      for (const h of m.hints || []) if (by !== "diagnosis" || h.code === key) hints.push(h);
    }
    const total = fwd + bwd;
    const info: GroupInfo = { key, label: key, count: members.length, total_us: total, pct: opts.stepUs > 0 ? (total / opts.stepUs) * 100 : 0 };
    // The header as a layer: the columns (and the sort) read its sums.
    const layer: Layer = {
      path: groupRowPath(key),
      class_name: by === "class" ? key : `${members.length} layers`,
      custom: members.every((m) => m.custom),
      parent: null,
      forward_us: fwd,
      backward_us: bwd,
      self_forward_us: sf,
      self_backward_us: sb,
      forward_alloc_bytes: members.reduce((s, m) => s + num(m.forward_alloc_bytes), 0),
      backward_alloc_bytes: members.reduce((s, m) => s + num(m.backward_alloc_bytes), 0),
      peak_live_bytes: members.reduce((s, m) => s + num(m.peak_live_bytes), 0),
      param_bytes: members.reduce((s, m) => s + num(m.param_bytes), 0),
      calls: members.reduce((s, m) => s + num(m.calls), 0),
      ops_per_call: members.reduce((s, m) => s + num(m.ops_per_call), 0),
      hints,
    };
    return { info, layer, members };
  });
  // Groups by the sort column, except that by name means by the group's label.
  headers.sort((a, b) => {
    if (opts.sort.key === "path" || opts.sort.key === "class_name") {
      const c = a.info.label.localeCompare(b.info.label);
      return opts.sort.desc ? -c : c;
    }
    return cmp(a.layer, b.layer);
  });
  const rows: Row[] = [];
  for (const h of headers) {
    const expanded = opts.open.has(h.info.key) || !!opts.filter;
    rows.push({ layer: h.layer, depth: 0, hasChildren: true, expanded, group: h.info });
    if (expanded) for (const m of h.members.sort(cmp)) rows.push({ layer: m, depth: 1, hasChildren: false, expanded: false, groupKey: h.info.key });
  }
  return rows;
}

export interface DiagnosisGroup {
  code: string;
  className: string;
  items: Diagnosis[];
  /** Members' total time, nested members counted once. */
  total_us: number;
  pct: number;
}

/** Diagnoses of one code on layers of one class, as one group (in the order of their first
 * item: warnings first, hottest first). */
export function groupDiagnoses(items: Diagnosis[], tree: Tree, stepUs: number): DiagnosisGroup[] {
  const byKey = new Map<string, Diagnosis[]>();
  for (const d of items) {
    const k = `${d.hint.code}\u0000${d.layer.class_name || ""}`;
    (byKey.get(k) || byKey.set(k, []).get(k)!).push(d);
  }
  return Array.from(byKey.values()).map((list) => {
    const { fwd, bwd } = membersTotal(list.map((d) => d.layer), tree);
    const total = fwd + bwd;
    return {
      code: list[0].hint.code,
      className: String(list[0].layer.class_name || ""),
      items: list,
      total_us: total,
      pct: stepUs > 0 ? (total / stepUs) * 100 : 0,
    };
  });
}
