import { test } from "node:test";
import assert from "node:assert/strict";
import { layer } from "./fixtures";
import { opPhases, opTypeRows } from "./ops";

const slow = layer("block/slow", "block", 1000, 4000, {
  op_types: { StridedSlice: 256, Mul: 64, AddN: 1 },
  top_ops: [
    { name: "block/slow/mul", type: "Mul", phase: "forward", us: 100 },
    { name: "grad/AddN", type: "AddN", phase: "backward", us: 2000 },
    { name: "block/slow/ss", type: "StridedSlice", phase: "forward", us: 300 },
    { name: "grad/mul", type: "Mul", phase: "backward", us: 500 },
  ],
});

test("top ops by phase, slowest first, share of the layer's own phase time", () => {
  const phases = opPhases(slow);
  assert.deepEqual(phases.map((p) => p.label), ["Forward", "Gradient"]);
  assert.deepEqual(phases[0].ops.map((o) => o.name), ["block/slow/ss", "block/slow/mul"]);
  assert.equal(phases[0].ops[0].share, 0.3);
  assert.equal(phases[0].ops[0].typeCount, 256);
  assert.equal(phases[1].ops[0].name, "grad/AddN");
  assert.equal(phases[1].ops[0].share, 0.5);
  assert.equal(phases[1].self_us, 4000);
});

test("op types with counts per call and time of their top ops", () => {
  const rows = opTypeRows(slow);
  assert.deepEqual(rows.map((r) => [r.type, r.count, r.us]), [
    ["StridedSlice", 256, 300],
    ["Mul", 64, 600],
    ["AddN", 1, 2000],
  ]);
});

test("older reports: no ops, no rows; junk is ignored", () => {
  assert.deepEqual(opPhases(layer("a", null, 1, 1)), []);
  assert.deepEqual(opTypeRows(layer("a", null, 1, 1)), []);
  assert.deepEqual(opPhases(layer("a", null, 1, 1, { top_ops: [null as any, { name: 3 } as any] })), []);
});
