// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { trendValue } from "./trend";
import { DEFAULT_SORT, formatHash, parseHash } from "./urlstate";

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

test("selection and host are kept in the URL hash", () => {
  const s = parseHash("#run=train&step=3&host=worker-1&sel=block%2Fslow");
  assert.equal(s.host, "worker-1");
  assert.equal(s.selected, "block/slow");
  assert.deepEqual(parseHash(formatHash(s)), s);
  assert.equal(parseHash("").selected, null);
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

test("trend values: sums for total/self/alloc, null where the layer is absent", () => {
  const l = { forward_us: [1, null], backward_us: [2, null], self_forward_us: [1, null], self_backward_us: [1, null] } as any;
  assert.equal(trendValue(l, "total", 0), 3);
  assert.equal(trendValue(l, "self", 0), 2);
  assert.equal(trendValue(l, "total", 1), null);
  assert.equal(trendValue(l, "forward_us", 0), 1);
});
