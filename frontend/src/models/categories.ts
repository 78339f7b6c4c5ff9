// The `other` categories of a window (time outside every layer): labels and display order.

export const OTHER_LABELS: [string, string][] = [
  ["optimizer_us", "Optimizer"],
  ["loss_us", "Loss"],
  ["input_us", "Input pipeline"],
  ["metrics_us", "Metrics"],
  ["collective_us", "Collective (cross-replica)"],
  ["framework_us", "Framework"],
  ["unattributed_us", "Unattributed"],
];

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
