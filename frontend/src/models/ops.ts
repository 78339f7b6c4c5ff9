// A layer's op-level "why" (the drill-down of the layer detail): its top ops by phase with
// their share of the layer's own time in that phase, and its op types with counts per call.
import type { Layer } from "../api/types";
import { num } from "./format";

export interface OpRow {
  name: string;
  type: string;
  us: number;
  /** Of the layer's own time in this phase (0..1; 0 without it). */
  share: number;
  /** Ops of this type the layer creates per call (0 when unknown). */
  typeCount: number;
}

export interface OpPhase {
  phase: string;
  label: string;
  /** The layer's own time in this phase, per step. */
  self_us: number;
  ops: OpRow[];
}

export interface OpTypeRow {
  type: string;
  /** Ops of this type per call. */
  count: number;
  /** Time of this type among the listed top ops, per step (forward + gradient). */
  us: number;
}

const PHASES: Record<string, string> = { forward: "Forward", backward: "Gradient" };

export function phaseLabel(phase: string): string {
  return PHASES[phase] || (phase ? phase[0].toUpperCase() + phase.slice(1) : "Other");
}

function opTypes(l: Layer): Record<string, number> {
  const t = l.op_types;
  return t && typeof t === "object" && !Array.isArray(t) ? t : {};
}

/** The layer's top ops grouped by phase (forward, gradient, then any other), slowest first. */
export function opPhases(l: Layer): OpPhase[] {
  const types = opTypes(l);
  const ops = Array.isArray(l.top_ops) ? l.top_ops.filter((o) => o && typeof o === "object" && typeof o.name === "string") : [];
  const byPhase = new Map<string, OpRow[]>();
  for (const o of ops) {
    const phase = typeof o.phase === "string" ? o.phase : "";
    const own = phase === "forward" ? num(l.self_forward_us) : phase === "backward" ? num(l.self_backward_us) : 0;
    const us = num(o.us);
    const type = typeof o.type === "string" ? o.type : "";
    const row = { name: o.name, type, us, share: own > 0 ? Math.min(1, us / own) : 0, typeCount: num(types[type]) };
    (byPhase.get(phase) || byPhase.set(phase, []).get(phase)!).push(row);
  }
  const order = (p: string) => (p === "forward" ? 0 : p === "backward" ? 1 : 2);
  return Array.from(byPhase.entries())
    .sort((a, b) => order(a[0]) - order(b[0]) || (a[0] < b[0] ? -1 : 1))
    .map(([phase, rows]) => ({
      phase,
      label: phaseLabel(phase),
      self_us: phase === "forward" ? num(l.self_forward_us) : phase === "backward" ? num(l.self_backward_us) : 0,
      ops: rows.sort((a, b) => b.us - a.us || (a.name < b.name ? -1 : 1)),
    }));
}

/** The layer's op types: most per call first, with the time the listed top ops of each took. */
export function opTypeRows(l: Layer): OpTypeRow[] {
  const time = new Map<string, number>();
  for (const o of Array.isArray(l.top_ops) ? l.top_ops : []) if (o && typeof o.type === "string") time.set(o.type, (time.get(o.type) || 0) + num(o.us));
  const rows = Object.entries(opTypes(l)).map(([type, c]) => ({ type, count: num(c), us: time.get(type) || 0 }));
  // Types seen only among the top ops (no per-call count) still get a row.
  for (const [type, us] of time) if (!(type in opTypes(l))) rows.push({ type, count: 0, us });
  return rows.sort((a, b) => b.count - a.count || b.us - a.us || (a.type < b.type ? -1 : 1));
}
