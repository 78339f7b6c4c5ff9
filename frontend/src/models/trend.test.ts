import { test } from "node:test";
import assert from "node:assert/strict";
import { trendSeries } from "./trend";

const layer = (path: string, fwd: (number | null)[], bwd: (number | null)[]) => ({ path, found: true, forward_us: fwd, backward_us: bwd });

test("one host: one line per layer over the windows", () => {
  const t = trendSeries({ steps: [10, 20], hosts: ["w0", "w0"], layers: [layer("a", [1, 2], [1, 1])] }, "total");
  assert.deepEqual(t.steps, [10, 20]);
  assert.deepEqual(t.series.map((s) => [s.name, s.data]), [["a", [2, 3]]]);
});

test("several hosts: one line per layer and host, on distinct steps", () => {
  const t = trendSeries(
    { steps: [10, 10, 20, 20, 30], hosts: ["w0", "w1", "w0", "w1", "w1"], layers: [layer("a", [1, 5, 2, 6, 7], [0, 0, 0, 0, 0])] },
    "forward_us",
  );
  assert.deepEqual(t.steps, [10, 20, 30]);
  assert.deepEqual(t.series.map((s) => [s.name, s.host, s.data]), [
    ["a · w0", "w0", [1, 2, null]],
    ["a · w1", "w1", [5, 6, 7]],
  ]);
});
