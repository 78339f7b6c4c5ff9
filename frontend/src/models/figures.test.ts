// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { LAYERS } from "./fixtures";
import { defaultTrendLayers, fmtCoverage, hotBars, readFigures, stepBasis } from "./figures";

// As tb_layerprof.figures.window_figures writes them (the /window answer's "figures").
const FIGURES = {
  op_time_us: 10000,
  step_basis_us: 12000,
  layers_self_us: 6330,
  coverage: 0.987,
  hot_layers: [
    { path: "block/slow", self_us: 4600, share_of_op_time: 0.46, hints: ["expensive-gradient", "python-loop"] },
    { path: "dense", self_us: 1100, share_of_op_time: 0.11, hints: [] },
    { path: "gone", self_us: 30, share_of_op_time: 0.003, hints: [] },
  ],
  hint_count: 3,
  custom_count: 0,
  layer_count: 5,
};

test("figures: read as the backend sent them; absent or junk is null, bad fields are cleaned", () => {
  const f = readFigures(FIGURES)!;
  assert.deepEqual(f, FIGURES);
  assert.equal(readFigures(undefined), null);
  assert.equal(readFigures(null), null);
  assert.equal(readFigures("figures"), null);
  assert.equal(readFigures([FIGURES]), null);
  const bad = readFigures({ op_time_us: "x", coverage: 7, hot_layers: [{ path: 3 }, { path: "a", self_us: NaN, hints: ["c", 1] }, null] })!;
  assert.equal(bad.op_time_us, 0);
  assert.equal(bad.coverage, 1);
  assert.deepEqual(bad.hot_layers, [{ path: "a", self_us: 0, share_of_op_time: 0, hints: ["c"] }]);
  assert.deepEqual(readFigures({})!.hot_layers, []);
});

test("hot bars: the backend's layers in its order, split into own forward and gradient time", () => {
  const bars = hotBars(readFigures(FIGURES), LAYERS);
  assert.deepEqual(bars.map((b) => b.path), ["block/slow", "dense", "gone"]); // never re-ranked
  assert.deepEqual([bars[0].forward_us, bars[0].backward_us, bars[0].self_us, bars[0].share_of_op_time], [1500, 3100, 4600, 0.46]);
  assert.deepEqual(bars[0].hints, ["expensive-gradient", "python-loop"]);
  assert.deepEqual([bars[2].forward_us, bars[2].backward_us], [30, 0]); // not in the window: all of it as forward
  // No figures (older server): no hot layers at all, not a recomputation.
  assert.deepEqual(hotBars(null, LAYERS), []);
});

test("coverage, step basis and trend defaults come from the figures only", () => {
  const f = readFigures(FIGURES);
  assert.equal(fmtCoverage(f), "coverage 98.7%");
  assert.equal(fmtCoverage(null), "");
  assert.equal(stepBasis({ step_time_us: 9000 }, f), 12000);
  assert.equal(stepBasis({ step_time_us: 9000 }, null), 9000);
  assert.equal(stepBasis({ step_time_us: NaN }, null), 0);
  assert.deepEqual(defaultTrendLayers(f), ["block/slow", "dense", "gone"]);
  assert.deepEqual(defaultTrendLayers(f, 1), ["block/slow"]);
  assert.deepEqual(defaultTrendLayers(null), []);
});

test("the two percentage bases explained", async () => {
  const { basisNotes } = await import("./figures");
  const f: any = { op_time_us: 7400, step_basis_us: 8140, layers_self_us: 0, coverage: 1, hot_layers: [], hint_count: 0, custom_count: 0, layer_count: 0 };
  const n = basisNotes(8140, f)!;
  assert.ok(n.table.includes("step time (8.14 ms)") && n.table.includes("op time (7.40 ms)") && n.table.includes("waited"));
  assert.ok(n.opShares.includes("op time (7.40 ms"));
  assert.ok(basisNotes(5000, { ...f, op_time_us: 9000 })!.table.includes("parallel"));
  assert.ok(basisNotes(0, f)!.table.includes("no step time"));
  assert.equal(basisNotes(8140, null), null);
});
