// Unit tests of the work figures as the tab reads them (layer_work), the rate columns and
// the roofline's content.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Layer } from "../api/types";
import { columnsFor, compareLayers, formatCell, COLUMNS } from "./columns";
import { layer } from "./fixtures";
import { roofLine, rooflineModel } from "./roofline";
import { countsLabel, fmtFlopRate, fmtRoof, fmtSI, readLayerWork, roofText, withWork, workTitle } from "./work";

const rates = (flops: number, bytes: number, peak: number | null, extra = {}) => ({
  flops_per_s: flops, bytes_per_s: bytes, intensity: flops / bytes, flops_fraction: peak, bytes_fraction: peak, peak_fraction: peak, ...extra,
});
// As plugin_store.layer_work sends it: the loop layer far below the roofs, dense near them,
// dense_1 without counts (absent).
const LAYER_WORK = {
  "block/slow": { counts: "exact", total: rates(4e7, 3e9, 0.2), forward: rates(4.4e7, 1e9, 0.07), backward: rates(4e7, 4e9, 0.3) },
  dense: { counts: "estimated", total: rates(9.2e10, 3e9, 0.51), forward: rates(8.4e10, 4e9, 0.47), backward: null },
  junk: { counts: 3, total: { flops_per_s: "fast" } },
  notobject: 7,
};
const LAYERS_WITH_COUNTS: Layer[] = [
  layer("block/slow", null, 1500, 3100, { forward_flops: 65536, backward_flops: 131072, forward_bytes: 1.5e6, backward_bytes: 1.3e8 }),
  layer("dense", null, 400, 700, { forward_flops: 3.36e7, backward_flops: 6.72e7, forward_bytes: 1.57e6, backward_bytes: 2.6e6 }),
  layer("dense_1", null, 50, 80),
];
const PEAKS = { peak_flops_per_s: 1.8e11, peak_bytes_per_s: 1.4e10, peak_source: "calibrated-cpu" };

test("layer_work is read by path; entries without a numeric total are left out", () => {
  const m = readLayerWork(LAYER_WORK);
  assert.deepEqual([...m.keys()], ["block/slow", "dense"]);
  assert.equal(m.get("dense")!.counts, "estimated");
  assert.equal(m.get("dense")!.backward, null);
  assert.equal(m.get("block/slow")!.forward!.flops_per_s, 4.4e7);
  assert.equal(readLayerWork(undefined).size, 0);
  assert.equal(readLayerWork([1, 2]).size, 0);
});

test("rates are formatted with SI prefixes and the CLI's % roof rule", () => {
  assert.equal(fmtFlopRate(5.48e7), "54.8 MFLOP/s");
  assert.equal(fmtFlopRate(1.64e9), "1.64 GFLOP/s");
  assert.equal(fmtFlopRate(9.82e10), "98.2 GFLOP/s");
  assert.equal(fmtFlopRate(1.78e11), "178 GFLOP/s");
  assert.equal(fmtSI(999.7, "B/s"), "1.00 kB/s");
  assert.equal(fmtSI(0.5, "FLOP/s"), "0.5 FLOP/s");
  assert.equal(fmtSI(null, "FLOP"), "—");
  assert.equal(fmtSI(1e12, "FLOP/s", true), "1 TFLOP/s"); // axis ticks: no trailing zeros
  assert.equal(fmtSI(1e10, "FLOP/s", true), "10 GFLOP/s");
  assert.equal(fmtRoof(0.39), "39%");
  assert.equal(fmtRoof(0.094), "9.4%");
  assert.equal(fmtRoof(0.00031), "0.031%");
  assert.equal(fmtRoof(null), "—");
});

test("rate columns: the backend's total rate and nearer-roof share, — without counts, unknown sorts last", () => {
  const layers = withWork(LAYERS_WITH_COUNTS, readLayerWork(LAYER_WORK));
  const rate = COLUMNS.find((c) => c.key === "flops_per_s")!;
  const roof = COLUMNS.find((c) => c.key === "peak_fraction")!;
  const [slow, dense, dense1] = layers;
  assert.equal(formatCell(dense, rate, 1e4), "92.0 G"); // the header carries the unit
  assert.equal(formatCell(dense, roof, 1e4), "51%");
  assert.equal(formatCell(slow, rate, 1e4), "40.0 M");
  assert.equal(formatCell(dense1, rate, 1e4), "—");
  assert.equal(formatCell(dense1, roof, 1e4), "—");
  const sorted = layers.slice().sort((a, b) => compareLayers(a, b, { key: "flops_per_s", desc: true }, 1e4));
  assert.deepEqual(sorted.map((l) => l.path), ["dense", "block/slow", "dense_1"]);
  // The tooltip says how the layer was counted and the rate of each phase.
  assert.match(workTitle(dense), /estimated: some ops counted in bytes only/);
  assert.match(workTitle(dense), /forward 84.0 GFLOP\/s · gradient —/);
  assert.match(workTitle(slow), /exact counts/);
  assert.match(workTitle(dense1), /No FLOP or byte count/);
  assert.equal(countsLabel("bytes-only"), "bytes only: no FLOP formula for its ops");
});

test("rate columns are offered only when some layer has work figures", () => {
  const base = { clock: "host", device_op_time_us: 0 };
  const keys = (ls: Layer[]) => columnsFor({ ...base, layers: ls }).map((c) => c.key);
  assert.ok(!keys(LAYERS_WITH_COUNTS).includes("flops_per_s"));
  const withCounts = keys(withWork(LAYERS_WITH_COUNTS, readLayerWork(LAYER_WORK)));
  assert.ok(withCounts.includes("flops_per_s") && withCounts.includes("peak_fraction"));
});

test("roofline: one point per layer and phase with counts, the backend's coordinates", () => {
  const m = rooflineModel(withWork(LAYERS_WITH_COUNTS, readLayerWork(LAYER_WORK)), PEAKS)!;
  assert.deepEqual(m.points.map((p) => `${p.path}:${p.phase}`), ["block/slow:forward", "block/slow:backward", "dense:forward"]);
  const fwd = m.points[0];
  assert.equal(fwd.intensity, 4.4e7 / 1e9);
  assert.equal(fwd.flops_per_s, 4.4e7);
  assert.equal(fwd.flops, 65536);
  assert.equal(fwd.bytes, 1.5e6);
  assert.equal(fwd.peak_fraction, 0.07);
  // dense's gradient has counts (FLOPs) but no rates from the backend: said, not drawn.
  assert.deepEqual(m.undrawn, [{ path: "dense", phase: "backward" }]);
  // Axes: whole decades around the points and the roofs' corner (1.8e11 / 1.4e10 = 12.9),
  // a factor 2 of room beyond the outermost (the gradient's 0.01 FLOP/B, the peak).
  assert.deepEqual(m.x, [0.001, 100]);
  assert.deepEqual(m.y, [1e7, 1e12]);
  assert.deepEqual(m.peaks, { flops: 1.8e11, bytes: 1.4e10, cache: null, source: "calibrated-cpu" });
  assert.deepEqual(m.roof, [[0.001, 1.4e7], [1.8e11 / 1.4e10, 1.8e11], [100, 1.8e11]]);
  assert.deepEqual(m.cacheRoof, []);
});

test("roofline: the in-cache roof above the memory roof, only when it is above it", () => {
  const layers = withWork(LAYERS_WITH_COUNTS, readLayerWork(LAYER_WORK));
  const m = rooflineModel(layers, { ...PEAKS, peak_cache_bytes_per_s: 8.4e10 })!;
  assert.equal(m.peaks.cache, 8.4e10);
  assert.deepEqual(m.cacheRoof, [[0.001, 8.4e7], [1.8e11 / 8.4e10, 1.8e11], [100, 1.8e11]]);
  // A "cache" no faster than memory adds nothing: not drawn.
  assert.deepEqual(rooflineModel(layers, { ...PEAKS, peak_cache_bytes_per_s: 1e10 })!.cacheRoof, []);
  assert.equal(rooflineModel(layers, { ...PEAKS, peak_cache_bytes_per_s: null })!.peaks.cache, null);
  // A rate above the memory roof says why it can be.
  assert.match(roofText(rates(1e9, 4.2e10, 3, { flops_fraction: 0.0055, bytes_fraction: 3 })), /300% of the nearer roof .*above the memory roof, its bytes stayed in cache/);
  assert.doesNotMatch(roofText(rates(1e9, 7e9, 0.5, { flops_fraction: 0.0055, bytes_fraction: 0.5 })), /cache/);
});

test("roofline: none without counts; no roofs without peaks; one roof with one peak", () => {
  assert.equal(rooflineModel(LAYERS_WITH_COUNTS, PEAKS), null);
  const layers = withWork(LAYERS_WITH_COUNTS, readLayerWork(LAYER_WORK));
  const noPeaks = rooflineModel(layers, { peak_flops_per_s: null, peak_bytes_per_s: null, peak_source: null })!;
  assert.equal(noPeaks.points.length, 3);
  assert.deepEqual(noPeaks.roof, []);
  assert.deepEqual(roofLine(1e11, null, [0.1, 10]), [[0.1, 1e11], [10, 1e11]]);
  assert.deepEqual(roofLine(null, 1e9, [0.1, 10]), [[0.1, 1e8], [10, 1e10]]);
  // The corner left of the axis: flat only.
  assert.deepEqual(roofLine(1e9, 1e10, [1, 10]), [[1, 1e9], [10, 1e9]]);
  // A phase with zero FLOPs (bytes only) cannot sit on a log axis.
  const zero = withWork([layer("copy", null, 10, 0, { forward_flops: 0, forward_bytes: 1e6 })],
    readLayerWork({ copy: { counts: "estimated", total: rates(0, 1e11, 0.1, { intensity: 0 }), forward: rates(0, 1e11, 0.1, { intensity: 0 }), backward: null } }));
  const z = rooflineModel(zero, PEAKS)!;
  assert.equal(z.points.length, 0);
  assert.deepEqual(z.undrawn, [{ path: "copy", phase: "forward" }]);
});
