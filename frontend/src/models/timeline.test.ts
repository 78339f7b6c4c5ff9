// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Timeline } from "../api/types";
import { LAYERS, layer } from "./fixtures";
import { fmtCount } from "./format";
import { clipRect, hasTimeline, timelineModel } from "./timeline";
import { layerDepths } from "./tree";

const span = (path: string, phase: string, start_us: number, end_us: number) => ({ path, phase, start_us, end_us });

test("timeline: forward lanes above gradient lanes, one lane per nesting depth", () => {
  const t: Timeline = {
    step: 11,
    step_time_us: 1000,
    spans: [
      span("dense", "forward", 0, 100),
      span("block", "forward", 120, 400),
      span("block/slow", "forward", 130, 300),
      span("block/fast", "forward", 310, 390),
      span("block/slow", "backward", 500, 800),
      span("block", "backward", 450, 900),
      span("dense", "backward", 910, 990),
    ],
  };
  const m = timelineModel(t, LAYERS);
  assert.equal(m.step, 11);
  assert.equal(m.stepUs, 1000);
  assert.equal(m.endUs, 1000);
  assert.equal(m.dropped, 0);
  assert.deepEqual(
    m.rows.map((r) => [r.phase, r.depth, r.label]),
    [
      ["forward", 0, "Forward"],
      ["forward", 1, "Forward · level 2"],
      ["backward", 0, "Gradient"],
      ["backward", 1, "Gradient · level 2"],
    ],
  );
  // Every span drawn exactly once; its row matches its phase and depth.
  assert.equal(m.items.length, t.spans.length);
  assert.deepEqual(new Set(m.items.map((it) => it[3])), new Set(t.spans.map((_, i) => i)));
  for (const [start, end, row, i] of m.items) {
    const sp = t.spans[i];
    assert.equal(start, sp.start_us);
    assert.equal(end, sp.end_us);
    assert.equal(m.rows[row].phase, sp.phase);
    assert.equal(m.rows[row].depth, sp.path.startsWith("block/") ? 1 : 0);
  }
});

test("timeline: overlapping spans of one depth get their own rows; none overlaps in a row", () => {
  const t: Timeline = {
    step: 1,
    step_time_us: 100,
    spans: [span("dense", "forward", 0, 50), span("dense_1", "forward", 10, 60), span("block", "forward", 55, 90), span("x", "forward", 60, 120)],
  };
  const m = timelineModel(t, LAYERS);
  assert.equal(m.rows.length, 2);
  assert.deepEqual(m.rows.map((r) => r.label), ["Forward", ""]);
  assert.equal(m.endUs, 120); // a span past the step end widens the axis
  const byRow = new Map<number, [number, number][]>();
  for (const [s, e, r] of m.items) byRow.set(r, [...(byRow.get(r) || []), [s, e]]);
  for (const list of byRow.values()) {
    list.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < list.length; i++) assert.ok(list[i][0] >= list[i - 1][1], JSON.stringify(list));
  }
});

test("timeline: malformed spans are dropped, older reports have none", () => {
  const t = {
    step: 1,
    step_time_us: 100,
    spans: [span("a", "forward", 5, 1), span("a", "sideways", 0, 1), span("a", "forward", NaN, 1), { phase: "forward" }, span("a", "backward", 1, 2)],
  } as unknown as Timeline;
  const m = timelineModel(t, []);
  assert.equal(m.items.length, 1);
  assert.equal(m.dropped, 4);
  assert.equal(hasTimeline({ timeline: {} }), false);
  assert.equal(hasTimeline({}), false);
  assert.equal(hasTimeline({ timeline: { step: 1, step_time_us: 1, spans: [] } }), false);
  assert.equal(hasTimeline({ timeline: t }), true);
});

test("timeline: thousands of spans are laid out quickly", () => {
  const layers = Array.from({ length: 2500 }, (_, i) => layer(`l${i}`, i % 10 ? `l${i - (i % 10)}` : null, 1, 1));
  const spans = [];
  for (let i = 0; i < 2500; i++) spans.push(span(`l${i}`, "forward", i * 2, i * 2 + (i % 10 ? 1.5 : 19)));
  for (let i = 0; i < 2500; i++) spans.push(span(`l${i}`, "backward", 6000 + i * 2, 6000 + i * 2 + 1.5));
  const t0 = Date.now();
  const m = timelineModel({ step: 3, step_time_us: 12000, spans }, layers);
  assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
  assert.equal(m.items.length, 5000);
  assert.deepEqual(layerDepths(layers).get("l13"), 1);
});

test("counts and clipping", () => {
  assert.equal(fmtCount(1234567), "1,234,567");
  assert.equal(fmtCount(12), "12");
  assert.equal(fmtCount(2.25), "2.3");
  assert.deepEqual(clipRect({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: 2, width: 10, height: 4 }), { x: 5, y: 2, width: 5, height: 4 });
  assert.equal(clipRect({ x: 0, y: 0, width: 4, height: 4 }, { x: 5, y: 5, width: 1, height: 1 }), null);
});

test("keyboard steps through the spans in time order", async () => {
  const { stepSpanPath } = await import("./timeline");
  const spans: any[] = [
    { path: "b", phase: "forward", start_us: 5, end_us: 6 },
    { path: "a", phase: "forward", start_us: 1, end_us: 2 },
    { path: "c", phase: "backward", start_us: 9, end_us: 10 },
  ];
  const model = { spans, items: [[5, 6, 0, 0], [1, 2, 0, 1], [9, 10, 1, 2]] as [number, number, number, number][] };
  assert.equal(stepSpanPath(model, null, 1), "a");
  assert.equal(stepSpanPath(model, null, -1), "c");
  assert.equal(stepSpanPath(model, "a", 1), "b");
  assert.equal(stepSpanPath(model, "b", -1), "a");
  assert.equal(stepSpanPath(model, "c", 1), "c");
  assert.equal(stepSpanPath({ spans: [], items: [] }, null, 1), null);
});
