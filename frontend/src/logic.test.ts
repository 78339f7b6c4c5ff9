// Unit tests of the pure frontend logic; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Layer,
  Window,
  breakdown,
  buildTree,
  csvField,
  diagnoses,
  fmtEvidence,
  fmtBytes,
  fmtPct,
  fmtTime,
  formatHash,
  hotLayers,
  parseHash,
  toCsv,
  trendValue,
  visibleRows,
  DEFAULT_SORT,
  Timeline,
  hasTimeline,
  layerDepths,
  profileRunName,
  revealPatch,
  timelineModel,
  traceViewerUrl,
  clipRect,
  columnsFor,
  diffOther,
  diffRows,
  fmtCount,
  fmtDeltaTime,
  fmtRatio,
  hasDeviceTime,
  otherKeys,
  otherLabel,
  speedupText,
  stragglerLayers,
  DiffLayer,
  WorkersDoc,
} from "./logic";

function layer(path: string, parent: string | null, fwd: number, bwd: number, extra: Partial<Layer> = {}): Layer {
  return {
    path,
    class_name: "Dense",
    custom: false,
    parent,
    forward_us: fwd,
    backward_us: bwd,
    self_forward_us: fwd,
    self_backward_us: bwd,
    forward_alloc_bytes: 0,
    backward_alloc_bytes: 0,
    peak_live_bytes: 0,
    param_bytes: 0,
    calls: 1,
    ops_per_call: 1,
    hints: [],
    ...extra,
  };
}

const LAYERS: Layer[] = [
  layer("dense", null, 400, 700),
  layer("block", null, 1700, 3400, { self_forward_us: 100, self_backward_us: 150, class_name: "Block" }),
  layer("block/slow", "block", 1500, 3100, {
    class_name: "SlowLoop",
    hints: [
      { code: "expensive-gradient", message: "grad", evidence: { ratio: 2.1 }, severity: "info" },
      { code: "python-loop", message: "loop", evidence: { ops_per_call: 193 } },
    ],
  }),
  layer("block/fast", "block", 100, 150),
  layer("dense_1", null, 50, 80, { hints: [{ code: "memory-churn", message: "m", evidence: {} }] }),
];
const opts = (o: any = {}) => ({ sort: DEFAULT_SORT, filter: "", flat: false, collapsed: new Set<string>(), stepUs: 10000, ...o });

test("formatting of times, bytes and percentages", () => {
  assert.equal(fmtTime(0), "0");
  assert.equal(fmtTime(5.25), "5.3 µs");
  assert.equal(fmtTime(850), "850 µs");
  assert.equal(fmtTime(1234), "1.23 ms");
  assert.equal(fmtTime(123456), "123 ms");
  assert.equal(fmtTime(2.5e6), "2.50 s");
  assert.equal(fmtTime(NaN), "0");
  assert.equal(fmtBytes(512), "512 B");
  assert.equal(fmtBytes(1536), "1.50 KiB");
  assert.equal(fmtBytes(262144), "256 KiB");
  assert.equal(fmtBytes(3 * 1024 * 1024), "3.00 MiB");
  assert.equal(fmtPct(56.5432), "56.5%");
  assert.equal(fmtPct(0.01), "<0.1%");
});

test("tree: children under parents, siblings sorted by total time descending", () => {
  const rows = visibleRows(buildTree(LAYERS), opts());
  assert.deepEqual(
    rows.map((r) => [r.layer.path, r.depth]),
    [["block", 0], ["block/slow", 1], ["block/fast", 1], ["dense", 0], ["dense_1", 0]],
  );
  assert.equal(rows[0].hasChildren, true);
  assert.equal(rows[0].expanded, true);
});

test("tree: collapsing hides the subtree; ascending sort reverses siblings", () => {
  const tree = buildTree(LAYERS);
  const collapsed = visibleRows(tree, opts({ collapsed: new Set(["block"]) }));
  assert.deepEqual(collapsed.map((r) => r.layer.path), ["block", "dense", "dense_1"]);
  assert.equal(collapsed[0].expanded, false);
  const asc = visibleRows(tree, opts({ sort: { key: "total_us", desc: false } }));
  assert.deepEqual(asc.map((r) => r.layer.path), ["dense_1", "dense", "block", "block/fast", "block/slow"]);
});

test("flat list sorts every layer globally, by any column", () => {
  const tree = buildTree(LAYERS);
  const self = visibleRows(tree, opts({ flat: true, sort: { key: "self_us", desc: true } }));
  assert.deepEqual(self.map((r) => r.layer.path), ["block/slow", "dense", "block", "block/fast", "dense_1"]);
  const byName = visibleRows(tree, opts({ flat: true, sort: { key: "path", desc: false } }));
  assert.deepEqual(byName.map((r) => r.layer.path), ["block", "block/fast", "block/slow", "dense", "dense_1"]);
  const byHints = visibleRows(tree, opts({ flat: true, sort: { key: "hints", desc: true } }));
  assert.equal(byHints[0].layer.path, "block/slow");
});

test("filter keeps matches and their ancestors", () => {
  const rows = visibleRows(buildTree(LAYERS), opts({ filter: "SLOW" }));
  assert.deepEqual(rows.map((r) => r.layer.path), ["block", "block/slow"]);
  const none = visibleRows(buildTree(LAYERS), opts({ filter: "nothing-matches" }));
  assert.equal(none.length, 0);
});

test("orphans and cycles become roots instead of vanishing or looping", () => {
  const weird = [layer("a", "b", 1, 1), layer("b", "a", 2, 2), layer("c", "missing", 3, 3), layer("c", null, 9, 9)];
  const rows = visibleRows(buildTree(weird), opts());
  assert.deepEqual(new Set(rows.map((r) => r.layer.path)), new Set(["a", "b", "c"]));
  assert.equal(rows.length, 3);
});

test("thousands of nested layers build and sort quickly", () => {
  const many: Layer[] = [];
  for (let i = 0; i < 4000; i++) many.push(layer(`l${i}`, i % 10 ? `l${i - (i % 10)}` : null, i, 2 * i));
  const t0 = Date.now();
  const rows = visibleRows(buildTree(many), opts());
  assert.equal(rows.length, 4000);
  assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
});

test("hot layers rank by self time; diagnoses put warnings first", () => {
  assert.deepEqual(hotLayers(LAYERS, 3).map((l) => l.path), ["block/slow", "dense", "block"]);
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

test("CSV export quotes user data and defuses formulas", () => {
  assert.equal(csvField('a,"b"'), '"a,""b"""');
  assert.equal(csvField("=cmd()"), "'=cmd()");
  assert.equal(csvField(-5), "-5");
  const csv = toCsv([layer("x,y", null, 10, 20)], 100);
  const lines = csv.trim().split("\r\n");
  assert.equal(lines.length, 2);
  assert.ok(lines[0].startsWith("path,class_name,custom,parent,forward_us"));
  assert.ok(lines[1].startsWith('"x,y",Dense,false,,10,20'));
  assert.ok(lines[1].includes(",30,30,"), lines[1]); // total_us 30, 30% of a 100 µs step
});

test("URL hash round-trips the view, and ignores junk", () => {
  const s = parseHash("#run=%3Cimg%3E&step=30&sort=self_us&desc=0&filter=slow&flat=1&collapse=block&layer=a&layer=b%2Fc&metric=alloc");
  assert.equal(s.run, "<img>");
  assert.equal(s.step, 30);
  assert.deepEqual(s.sort, { key: "self_us", desc: false });
  assert.equal(s.filter, "slow");
  assert.equal(s.flat, true);
  assert.deepEqual(s.collapsed, ["block"]);
  assert.deepEqual(s.trend, ["a", "b/c"]);
  assert.equal(s.metric, "alloc");
  assert.deepEqual(parseHash(formatHash(s)), s);
  const junk = parseHash("#step=-1&sort=__proto__&metric=<script>");
  assert.equal(junk.step, null);
  assert.deepEqual(junk.sort, DEFAULT_SORT);
  assert.equal(junk.metric, "total");
  assert.equal(formatHash(parseHash("")), "");
});

test("trend values: sums for total/self/alloc, null where the layer is absent", () => {
  const l = { forward_us: [1, null], backward_us: [2, null], self_forward_us: [1, null], self_backward_us: [1, null] } as any;
  assert.equal(trendValue(l, "total", 0), 3);
  assert.equal(trendValue(l, "self", 0), 2);
  assert.equal(trendValue(l, "total", 1), null);
  assert.equal(trendValue(l, "forward_us", 0), 1);
});

test("evidence in plain words", () => {
  assert.equal(
    fmtEvidence({ ops_per_call: 385, repeated_op_types: { StridedSlice: 64, Mul: 64 }, ratio: 2.06666 }),
    "ops per call: 385 · repeated op types: StridedSlice 64, Mul 64 · ratio: 2.1",
  );
});

// -- step timeline ------------------------------------------------------------------------

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

test("revealPatch expands collapsed ancestors and clears a filter that hides the layer", () => {
  const tree = buildTree(LAYERS);
  assert.deepEqual(revealPatch(tree, "block/slow", ["block", "dense"], ""), { collapsed: ["dense"] });
  assert.deepEqual(revealPatch(tree, "block/slow", [], "fast"), { filter: "" });
  assert.deepEqual(revealPatch(tree, "block/slow", [], "slow"), {});
  assert.deepEqual(revealPatch(tree, "nope", ["block"], "x"), {});
});

test("selection and host are kept in the URL hash", () => {
  const s = parseHash("#run=train&step=3&host=worker-1&sel=block%2Fslow");
  assert.equal(s.host, "worker-1");
  assert.equal(s.selected, "block/slow");
  assert.deepEqual(parseHash(formatHash(s)), s);
  assert.equal(parseHash("").selected, null);
});

// -- links to XProf's trace viewer ---------------------------------------------------------

test("profile plugin run name: <run>/<session>, or the session alone for the root run", () => {
  assert.equal(profileRunName("train", "plugins/profile/2026_11_25_00_36_58_steps5-8"), "train/2026_11_25_00_36_58_steps5-8");
  assert.equal(profileRunName("a/b", "plugins\\profile\\s1"), "a/b/s1");
  assert.equal(profileRunName(".", "plugins/profile/s1"), "s1");
  assert.equal(profileRunName("train", ""), null);
  assert.equal(profileRunName("train", undefined), null);
  assert.equal(profileRunName("train", "/abs/plugins/profile/s1"), null);
  assert.equal(profileRunName("train", "plugins/profile/.."), null);
  assert.equal(profileRunName("train", "elsewhere/s1"), null);
});

test("trace viewer URL: TensorBoard root with run, tag and host in the query, #profile", () => {
  const u = traceViewerUrl("http://localhost:6006/tb/", "train", "plugins/profile/s1", "worker 0&x");
  assert.ok(u);
  const url = new URL(u!);
  assert.equal(url.origin + url.pathname, "http://localhost:6006/tb/");
  assert.equal(url.hash, "#profile");
  assert.equal(url.searchParams.get("run"), "train/s1");
  assert.equal(url.searchParams.get("tag"), "trace_viewer@");
  assert.equal(url.searchParams.get("host"), "worker 0&x");
  assert.equal(traceViewerUrl("http://localhost:6006/", "train", "", "vm"), null);
  assert.equal(new URL(traceViewerUrl("http://h/", "<img>", "plugins/profile/s", "")!).searchParams.get("run"), "<img>/s");
  assert.equal(new URL(traceViewerUrl("http://h/", "r", "plugins/profile/s", "")!).searchParams.has("host"), false);
});

// -- report fields added later: collective, unknown categories, device time -------------------

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

test("counts and clipping", () => {
  assert.equal(fmtCount(1234567), "1,234,567");
  assert.equal(fmtCount(12), "12");
  assert.equal(fmtCount(2.25), "2.3");
  assert.deepEqual(clipRect({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: 2, width: 10, height: 4 }), { x: 5, y: 2, width: 5, height: 4 });
  assert.equal(clipRect({ x: 0, y: 0, width: 4, height: 4 }, { x: 5, y: 5, width: 1, height: 1 }), null);
});

// -- compare mode and workers ------------------------------------------------------------------

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

test("URL state of the compare mode round-trips", () => {
  const s = parseHash("#view=compare&base=loop&bstep=10&bhost=worker-1&run=vec&step=30");
  assert.equal(s.view, "compare");
  assert.equal(s.base, "loop");
  assert.equal(s.baseStep, 10);
  assert.equal(s.baseHost, "worker-1");
  assert.deepEqual(parseHash(formatHash(s)), s);
  assert.equal(parseHash("#view=junk").view, "layers");
  assert.equal(parseHash("#bstep=x").baseStep, null);
  assert.ok(!formatHash(parseHash("#run=a")).includes("view="));
});
