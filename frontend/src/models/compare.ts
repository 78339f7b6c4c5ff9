// Compare mode (/diff): rows to show, categories worth a row, the speed-up sentence.
import type { Compared, DiffDoc, DiffLayer } from "../api/types";
import { otherKeys, otherLabel } from "./categories";
import { num } from "./format";

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

/** A layer in both runs whose class changed ("SlowDouble → FastDouble"), else null. */
export function classChange(l: Pick<DiffLayer, "status" | "class_name" | "base_class_name">): string | null {
  if (l.status !== "both" || !l.base_class_name || !l.class_name || l.base_class_name === l.class_name) return null;
  return `${l.base_class_name} → ${l.class_name}`;
}

/** The Status column: "added", "removed", "changed" (in both, its class changed), "both". */
export function statusText(l: Pick<DiffLayer, "status" | "class_name" | "base_class_name">): string {
  if (l.status !== "both") return l.status;
  return classChange(l) ? "changed" : "both";
}
