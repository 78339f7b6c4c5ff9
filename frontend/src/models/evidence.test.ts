import { test } from "node:test";
import assert from "node:assert/strict";
import { evidenceLabel, evidenceRows, evidenceValue, fmtMessageFigures, messageParts } from "./evidence";

test("evidence values carry their unit", () => {
  assert.equal(evidenceValue("alloc_bytes_per_step", 68686848), "65.5 MiB");
  assert.equal(evidenceValue("backward_us", 14648.2), "14.6 ms");
  assert.equal(evidenceValue("share_of_op_time", 0.5), "50.0%");
  assert.equal(evidenceValue("backward_forward_ratio", 7.44), "7.4×");
  assert.equal(evidenceValue("ops_per_call", 1935), "1,935");
  assert.equal(evidenceValue("repeated_op_types", { Mul: 64, StridedSlice: 256 }), "StridedSlice ×256, Mul ×64");
  assert.equal(evidenceValue("top_backward_ops", ["a/AddN (AddN)", "b (Mul)"]), "a/AddN (AddN), b (Mul)");
  assert.equal(evidenceValue("top_backward_ops", []), "none");
});

test("evidence rows: readable labels, no JSON", () => {
  assert.equal(evidenceLabel("forward_op_events_per_step"), "Forward op events per step");
  assert.equal(evidenceLabel("forward_us"), "Forward");
  const rows = evidenceRows({ ops_per_call: 193, nested: { a: [1] } });
  assert.deepEqual(rows.map((r) => r.label), ["Ops per call", "Nested"]);
  assert.equal(rows[0].value, "193");
  assert.ok(!rows[1].value.includes("[") && !rows[1].value.includes("{"));
  assert.deepEqual(evidenceRows(null), []);
});

test("messages: figures formatted, backticks as code", () => {
  assert.equal(fmtMessageFigures("allocates 67077 KiB per step"), "allocates 65.5 MiB per step");
  assert.equal(fmtMessageFigures("(14648 µs vs 1968 µs per step"), "(14.6 ms vs 1.97 ms per step");
  const parts = messageParts("`call` builds 385 ops");
  assert.deepEqual(parts, [
    { text: "call", code: true },
    { text: " builds 385 ops", code: false },
  ]);
  assert.ok(!messageParts("a `b").some((p) => p.text.includes("`")));
});

test("efficiency evidence: rates with their units, shares of the peaks as shares", () => {
  // As diagnosis._rate_evidence writes them for the seed loop layer.
  const rows = evidenceRows({
    achieved_flops_per_s: 1641964468,
    achieved_bytes_per_s: 13381560595,
    flops_per_byte: 0.123,
    share_of_peak_flops: 0.00924,
    share_of_peak_bytes: 0.95653,
    ridge_flops_per_byte: 12.7,
  });
  assert.deepEqual(
    rows.map((r) => [r.label, r.value]),
    [
      ["Achieved FLOP/s", "1.64 GFLOP/s"],
      ["Achieved bytes/s", "13.4 GB/s"],
      ["FLOPs per byte", "0.123 FLOP/B"],
      ["Share of peak FLOP/s", "0.9%"],
      ["Share of peak bytes/s", "95.7%"],
      ["Ridge FLOPs per byte", "12.7 FLOP/B"],
    ],
  );
});
