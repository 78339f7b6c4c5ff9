// The layer tree (from each layer's `parent`) and the rows the table shows: sorted,
// filtered, with collapsed subtrees hidden.
import type { Layer } from "../api/types";
import { SortSpec, layerComparator } from "./columns";

export interface Row {
  layer: Layer;
  depth: number;
  hasChildren: boolean;
  expanded: boolean;
  /** Grouped table: set on a group's header row (its `layer` holds the group's sums). */
  group?: { key: string; label: string; count: number; total_us: number; pct: number };
  /** Grouped table: the group a member row is shown under. */
  groupKey?: string;
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
  const cmp = layerComparator(opts.sort, opts.stepUs);
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
