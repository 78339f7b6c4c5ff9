// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Layer } from "../api/types";
import { LAYERS, layer, rowOptions as opts } from "./fixtures";
import { buildTree, revealPatch, visibleRows } from "./tree";

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

test("revealPatch expands collapsed ancestors and clears a filter that hides the layer", () => {
  const tree = buildTree(LAYERS);
  assert.deepEqual(revealPatch(tree, "block/slow", ["block", "dense"], ""), { collapsed: ["dense"] });
  assert.deepEqual(revealPatch(tree, "block/slow", [], "fast"), { filter: "" });
  assert.deepEqual(revealPatch(tree, "block/slow", [], "slow"), {});
  assert.deepEqual(revealPatch(tree, "nope", ["block"], "x"), {});
});

test("tree: one comparator per sort orders as compareLayers does, every column", async () => {
  const { COLUMNS, compareLayers, layerComparator } = await import("./columns");
  const names = ["b", "a", "B", "é", "a/x", "z", "ä", "10", "9"];
  const layers = names.map((n, i) => layer(n, null, (i * 37) % 11, (i * 13) % 7, { class_name: names[(i * 5) % names.length], custom: i % 2 === 0 }));
  for (const c of COLUMNS)
    for (const desc of [false, true]) {
      const sort = { key: c.key, desc };
      const want = layers.slice().sort((a, b) => compareLayers(a, b, sort, 100)).map((l) => l.path);
      assert.deepEqual(layers.slice().sort(layerComparator(sort, 100)).map((l) => l.path), want, `${c.key} ${desc}`);
    }
});
