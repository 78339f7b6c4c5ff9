// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Window } from "../api/types";
import { otherKeys, otherLabel } from "./categories";
import { columnsFor, hasDeviceTime } from "./columns";
import { LAYERS, layer } from "./fixtures";
import { layerSelf, layerTotal, pctOfStep } from "./layer";
import { breakdown, diagnoses } from "./window";

test("diagnoses put warnings first, then by the layer's total time", () => {
  const d = diagnoses(LAYERS);
  assert.deepEqual(d.map((x) => x.hint.code), ["python-loop", "memory-churn", "expensive-gradient"]);
});

test("breakdown: layers forward/gradient from self times, plus window.other", () => {
  const w: Window = {
    step: 1, steps: 1, host: "", step_time_us: 0, layers: LAYERS,
    other: { optimizer_us: 600, loss_us: 80, input_us: 0, metrics_us: 0, framework_us: 0, unattributed_us: 30 },
  };
  const b = Object.fromEntries(breakdown(w).map((i) => [i.key, i.us]));
  assert.equal(b.layers_forward, 400 + 100 + 1500 + 100 + 50);
  assert.equal(b.layers_gradient, 700 + 150 + 3100 + 150 + 80);
  assert.equal(b.optimizer_us, 600);
  assert.equal(b.unattributed_us, 30);
});

test("other categories: known ones in order (collective included), unknown ones after, by name", () => {
  assert.deepEqual(otherKeys({ zeta_us: 1, optimizer_us: 2, alpha_us: 3, junk: "x" }).slice(-2), ["alpha_us", "zeta_us"]);
  assert.ok(otherKeys({}).includes("collective_us"));
  assert.equal(otherLabel("collective_us"), "Collective (cross-replica)");
  assert.equal(otherLabel("new_category_us"), "New category");
  const w: Window = {
    step: 1, steps: 1, host: "", step_time_us: 0, layers: [],
    other: { optimizer_us: 1, collective_us: 310, future_thing_us: 5 },
  };
  const keys = breakdown(w).map((i) => i.key);
  assert.ok(keys.indexOf("collective_us") < keys.indexOf("framework_us"));
  assert.equal(keys[keys.length - 1], "future_thing_us");
  // No empty collective row outside tf.distribute.
  assert.ok(!breakdown({ ...w, other: { optimizer_us: 1 } }).some((i) => i.key === "collective_us"));
});

test("device vs host columns only when the window has device time", () => {
  const cpu: Window = { step: 1, steps: 1, host: "", step_time_us: 0, layers: LAYERS, other: {} };
  assert.equal(hasDeviceTime(cpu), false);
  assert.ok(!columnsFor(cpu).some((c) => c.key === "forward_device_us"));
  assert.equal(hasDeviceTime({ ...cpu, clock: "device" }), true);
  assert.equal(hasDeviceTime({ ...cpu, layers: [layer("g", null, 1, 1, { forward_device_us: 3 })] }), true);
  const keys = columnsFor({ ...cpu, device_op_time_us: 10 }).map((c) => c.key);
  assert.ok(keys.includes("forward_device_us") && keys.includes("backward_host_us"));
});

test("a layer's total, self and share of the step: one definition each", () => {
  const l = layer("x", null, 300, 700, { self_forward_us: 100, self_backward_us: NaN });
  assert.equal(layerTotal(l), 1000);
  assert.equal(layerSelf(l), 100);
  assert.equal(pctOfStep(l, 4000), 25);
  assert.equal(pctOfStep(l, 0), 0);
});
