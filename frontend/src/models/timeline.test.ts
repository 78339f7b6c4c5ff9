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

test("timeline: a span is drawn as its busy segments, sized by its busy time", async () => {
  const { busyOf } = await import("./timeline");
  // head: first to last op 5.7 ms, but its ops ran 129 µs; dense: 1 ms extent, 900 µs busy.
  const t: Timeline = {
    step: 4,
    step_time_us: 8000,
    spans: [
      { ...span("head", "forward", 100, 5800), busy: [[100, 150], [3000, 3029], [5750, 5800]], busy_us: 129 },
      { ...span("dense", "forward", 200, 1200), busy: [[200, 1100]], busy_us: 900 },
      span("dense", "backward", 6000, 6500),
    ],
  };
  const m = timelineModel(t, [layer("head", null, 129, 0), layer("dense", null, 900, 500)]);
  assert.equal(m.measured, 2);
  assert.equal(m.items.length, 3); // one extent per span, for the faint line and the row layout
  const segsOf = (i: number) => m.segments.filter((s) => s[3] === i).map((s) => [s[0], s[1]]);
  assert.deepEqual(segsOf(0), [[100, 150], [3000, 3029], [5750, 5800]]);
  assert.deepEqual(segsOf(1), [[200, 1100]]);
  // No busy intervals (an older report): one bar from first to last op.
  assert.deepEqual(segsOf(2), [[6000, 6500]]);
  assert.deepEqual(m.busyUs, [129, 900, 500]);
  // Segments sit in their span's row.
  for (const [, , row, i] of m.segments) assert.equal(row, m.items.find((it) => it[3] === i)![2]);
  // The longest forward bar is the layer with the most forward work, not the longest extent.
  const fwd = [0, 1].sort((a, b) => m.busyUs[b] - m.busyUs[a]);
  assert.equal(t.spans[fwd[0]].path, "dense");
  // busy_us absent: the segments' sum.
  assert.equal(busyOf({ ...span("x", "forward", 0, 10), busy: [[0, 2], [5, 6]] }).busyUs, 3);
});

test("timeline: unusable busy intervals fall back to the whole span", async () => {
  const { busyOf } = await import("./timeline");
  const base = span("x", "forward", 10, 20);
  for (const busy of [[[15, 12]], [[5, 12]], [[10, 15], [14, 18]], [[10, NaN]], [[10]], "x", []] as any[]) {
    const b = busyOf({ ...base, busy });
    assert.deepEqual(b.segments, [[10, 20]], JSON.stringify(busy));
    assert.equal(b.measured, false);
    assert.equal(b.busyUs, 10);
  }
  const m = timelineModel({ step: 1, step_time_us: 30, spans: [base] }, []);
  assert.equal(m.measured, 0);
  assert.deepEqual(m.segments, [[10, 20, 0, 0]]);
});

test("timeline: too many segments are merged across their smallest gaps", async () => {
  const { mergeToAtMost, MAX_SEGMENTS } = await import("./timeline");
  assert.deepEqual(mergeToAtMost([[0, 1], [1.5, 2], [10, 11], [11.2, 12]], 2), [[0, 2], [10, 12]]);
  assert.deepEqual(mergeToAtMost([[0, 1], [5, 6]], 1), [[0, 6]]);
  assert.deepEqual(mergeToAtMost([[0, 1]], 4), [[0, 1]]);
  // 5,000 spans of 64 intervals each stay within the chart's budget.
  const busy: [number, number][] = Array.from({ length: 64 }, (_, k) => [k * 2, k * 2 + 1]);
  const spans = Array.from({ length: 5000 }, (_, i) => ({ ...span(`l${i}`, "forward", 0, 128), busy, busy_us: 64 }));
  const m = timelineModel({ step: 1, step_time_us: 200, spans }, []);
  assert.ok(m.segments.length <= MAX_SEGMENTS, String(m.segments.length));
  assert.equal(m.busyUs[0], 64); // the busy time is the backend's, merged segments or not
});

test("timeline: a parent's own time is apart from its sublayers' inside its bars", async () => {
  const { splitOwn } = await import("./timeline");
  // block ran 100-1650 (its own ops 100-150 and 1600-1650, block/slow in between) and
  // 1700-1800 (block/fast alone); slow has no sublayers; dense_1 is a parent of an older report.
  const layers = [layer("block", null, 1650, 0), layer("block/slow", "block", 1500, 0), layer("block/fast", "block", 100, 0), layer("dense_1", null, 60, 0), layer("dense_1/k", "dense_1", 10, 0)];
  const t: Timeline = {
    step: 2,
    step_time_us: 3000,
    spans: [
      { ...span("block", "forward", 100, 1800), busy: [[100, 1650], [1700, 1800]], busy_us: 1650, self_busy: [[100, 150], [1600, 1650]], self_busy_us: 100 },
      { ...span("block/slow", "forward", 150, 1600), busy: [[150, 1600]], busy_us: 1450 },
      { ...span("dense_1", "forward", 2000, 2500), busy: [[2000, 2030], [2470, 2500]], busy_us: 60 },
      span("block", "backward", 2600, 2900),
      { ...span("block/fast", "backward", 2610, 2700), busy: [[2610, 2700]], self_busy: [] },
    ],
  };
  const m = timelineModel(t, layers);
  const ownOfSpan = (i: number) => m.segments.map((s, j) => [s, m.own[j]] as const).filter(([s]) => s[3] === i).map(([s, o]) => [[s[0], s[1]], o]);
  // block: the solid parts are its own ops, the rest of each bar time only its sublayers ran.
  assert.deepEqual(ownOfSpan(0), [[[100, 1650], [[100, 150], [1600, 1650]]], [[1700, 1800], []]]);
  assert.equal(m.ownUs[0], 100);
  // No sublayers: all its own (drawn whole), own time = busy time.
  assert.deepEqual(ownOfSpan(1), [[[150, 1600], null]]);
  assert.equal(m.ownUs[1], 1450);
  // A parent without self_busy (older report): drawn as before, own time not known.
  assert.deepEqual(ownOfSpan(2), [[[2000, 2030], null], [[2470, 2500], null]]);
  assert.equal(m.ownUs[2], null);
  // No busy intervals at all: not known either.
  assert.deepEqual(ownOfSpan(3), [[[2600, 2900], null]]);
  assert.equal(m.ownUs[3], null);
  // An empty self_busy: none of the bar is its own (self_busy_us absent: the sum, 0).
  assert.deepEqual(ownOfSpan(4), [[[2610, 2700], []]]);
  assert.equal(m.ownUs[4], 0);
  assert.equal(m.shaded, 2);
  assert.equal(m.unsplit, 1); // dense_1
  assert.equal(m.own.length, m.segments.length);
  // Unusable self_busy (overlapping, outside the span, not numbers): not known, drawn whole.
  for (const self_busy of [[[100, 200], [150, 300]], [[0, 50]], [["a", 1]], "x"] as any[]) {
    const b = timelineModel({ step: 1, step_time_us: 3000, spans: [{ ...t.spans[0], self_busy }] }, layers);
    assert.deepEqual(b.own, [null, null], JSON.stringify(self_busy));
    assert.equal(b.ownUs[0], null);
    assert.equal(b.shaded, 0);
  }
  // Own intervals coarsened across a gap of the busy ones are cut at the segments' edges.
  assert.deepEqual(splitOwn([[0, 10], [20, 30], [40, 50]], [[5, 25], [45, 60]]), [[[5, 10]], [[20, 25]], [[45, 50]]]);
  assert.deepEqual(splitOwn([[0, 10]], []), [[]]);
});

test("timeline: gaps too narrow to see are closed, and only bars with gaps get a faint line", async () => {
  const { closeGaps, RESOLUTION } = await import("./timeline");
  assert.deepEqual(closeGaps([[0, 1], [1.5, 2], [10, 11]], 1), [[0, 2], [10, 11]]);
  assert.deepEqual(closeGaps([[0, 1], [5, 6]], 0), [[0, 1], [5, 6]]);
  // A 1.6 s step of 4,000 tiny spans (graph mode's ops interleaved a microsecond apart):
  // gaps under 1.6 s / RESOLUTION = 100 µs are not drawn; a bar whose gaps all closed fills
  // its extent, so no line is drawn under it; a real gap keeps its line.
  const spans: any[] = [];
  for (let i = 0; i < 4000; i++) {
    const s0 = i * 400;
    spans.push({ ...span(`l${i}`, "forward", s0, s0 + 300), busy: [[s0, s0 + 100], [s0 + 101, s0 + 200], [s0 + 202, s0 + 300]], busy_us: 297 });
  }
  spans.push({ ...span("gappy", "backward", 0, 1000), busy: [[0, 100], [800, 1000]], busy_us: 300 });
  const m = timelineModel({ step: 1, step_time_us: 1_600_000, spans }, []);
  assert.equal(m.minGapUs, 1_600_000 / RESOLUTION);
  assert.equal(m.closedGaps, 8000);
  assert.equal(m.segments.length, 4002);
  assert.deepEqual(m.segments[0].slice(0, 2), [0, 300]);
  assert.equal(m.busyUs[0], 297); // the backend's busy time still, in the tooltip
  assert.deepEqual(m.extents.map((e) => m.spans[e[3]].path), ["gappy"]);
  // A short step keeps every gap (seed-sized: 16 ms, gaps of 1 µs and more).
  const small = timelineModel({ step: 1, step_time_us: 16000, spans: [{ ...span("a", "forward", 0, 10), busy: [[0, 2], [3, 10]] }] }, []);
  assert.equal(small.closedGaps, 0);
  assert.equal(small.extents.length, 1);
});
