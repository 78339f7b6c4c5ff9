// Workers (/workers): the layers that differ most between hosts, straggler causes.
import type { WorkersDoc } from "../api/types";
import { otherLabel } from "./categories";
import { num } from "./format";

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
