// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DiffLayer, WorkersDoc } from "../api/types";
import { diffOther, diffRows, speedupText } from "./compare";
import { fmtDeltaTime, fmtRatio } from "./format";
import { stragglerLayers } from "./workers";

function drow(path: string, status: "both" | "added" | "removed", delta: number): DiffLayer {
  return {
    path, status, base_us: 10, run_us: 10 + delta, delta_us: delta, ratio: 1, base_forward_us: 0, run_forward_us: 0,
    delta_forward_us: 0, base_backward_us: 0, run_backward_us: 0, delta_backward_us: 0, base_alloc_bytes: null,
    run_alloc_bytes: null, delta_alloc_bytes: null, base_peak_live_bytes: null, run_peak_live_bytes: null,
    delta_peak_live_bytes: null, class_name: "Dense", base_class_name: "Dense", custom: false,
  };
}

test("compare: signed deltas, ratios, speedup, filters", () => {
  assert.equal(fmtDeltaTime(1200), "+1.20 ms");
  assert.equal(fmtDeltaTime(-850), "-850 µs");
  assert.equal(fmtDeltaTime(0), "0");
  assert.equal(fmtRatio(0.1743), "×0.17");
  assert.equal(fmtRatio(null), "–");
  assert.equal(fmtRatio(null, "added"), "new");
  assert.equal(speedupText({ base_us: 300, run_us: 100, delta_us: -200, ratio: 1 / 3 }), "3.00x faster");
  assert.equal(speedupText({ base_us: 100, run_us: 200, delta_us: 100, ratio: 2 }), "2.00x slower");
  assert.equal(speedupText({ base_us: 0, run_us: 200, delta_us: 200, ratio: null }), "");
  const rows = [drow("block/slow", "removed", -9), drow("Dense_a", "both", 3), drow("vec", "added", 1)];
  assert.deepEqual(diffRows(rows, "", "all").map((r) => r.path), ["block/slow", "Dense_a", "vec"]);
  assert.deepEqual(diffRows(rows, "", "added").map((r) => r.path), ["vec"]);
  assert.deepEqual(diffRows(rows, "", "changed").map((r) => r.path), ["Dense_a"]);
  assert.deepEqual(diffRows(rows, "SLOW", "all").map((r) => r.path), ["block/slow"]);
  assert.equal(diffRows(rows, "dense", "all").length, 3); // the class matches too
  const other = diffOther({
    other: {
      unattributed_us: { base_us: 1, run_us: 0, delta_us: -1, ratio: 0 },
      optimizer_us: { base_us: 5, run_us: 5, delta_us: 0, ratio: 1 },
      loss_us: { base_us: 0, run_us: 0, delta_us: 0, ratio: null },
      brand_new_us: { base_us: 0, run_us: 2, delta_us: 2, ratio: null },
    },
  });
  assert.deepEqual(other.map((o) => o.key), ["optimizer_us", "unattributed_us", "brand_new_us"]);
});

test("workers: layers that differ most between hosts first", () => {
  const doc = {
    step: 3, hosts: [], slowest_host: "w1", fastest_host: "w0", straggler: null,
    layers: [
      { path: "a", by_host: {}, slowest_host: "w1", spread_us: 5, ratio: 1.1 },
      { path: "b", by_host: {}, slowest_host: "w1", spread_us: 50, ratio: 2 },
      { path: "c", by_host: {}, slowest_host: null, spread_us: 0, ratio: 1 },
    ],
  } as WorkersDoc;
  assert.deepEqual(stragglerLayers(doc, 10).map((l) => l.path), ["b", "a"]);
  assert.deepEqual(stragglerLayers(doc, 1).map((l) => l.path), ["b"]);
});

test("class changes and the status column", async () => {
  const { classChange, statusText } = await import("./compare");
  const both = { status: "both" as const, class_name: "FastDouble", base_class_name: "SlowDouble" };
  assert.equal(classChange(both), "SlowDouble → FastDouble");
  assert.equal(statusText(both), "changed");
  assert.equal(statusText({ ...both, base_class_name: "FastDouble" }), "both");
  assert.equal(classChange({ ...both, base_class_name: null }), null);
  assert.equal(statusText({ ...both, status: "added", base_class_name: null }), "added");
});
