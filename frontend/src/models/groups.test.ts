import { test } from "node:test";
import assert from "node:assert/strict";
import { LAYERS, layer } from "./fixtures";
import { groupDiagnoses, groupTitle, groupedRows, groupKeysOf, NO_DIAGNOSIS } from "./groups";
import { DEFAULT_SORT, formatHash, parseHash } from "./urlstate";
import { buildTree } from "./tree";
import { diagnoses } from "./window";

const opts = (o: any = {}) => ({ sort: DEFAULT_SORT, filter: "", open: new Set<string>(), stepUs: 10000, ...o });

test("grouped by class: one header per class with count and share, members when open", () => {
  const tree = buildTree(LAYERS);
  const rows = groupedRows(tree, "class", opts());
  assert.deepEqual(rows.map((r) => r.group?.key), ["Block", "SlowLoop", "Dense"]);
  const dense = rows[2].group!;
  assert.equal(dense.count, 3); // dense, dense_1, block/fast
  assert.equal(dense.total_us, 1100 + 130 + 250);
  assert.equal(groupTitle(dense), "Dense × 3 = 15% of step");
  const open = groupedRows(tree, "class", opts({ open: new Set(["Dense"]) }));
  assert.deepEqual(open.slice(3).map((r) => [r.layer.path, r.depth, r.groupKey]), [
    ["dense", 1, "Dense"],
    ["block/fast", 1, "Dense"],
    ["dense_1", 1, "Dense"],
  ]);
});

test("a nested member's time counts once in its group", () => {
  const ls = [layer("a", null, 100, 100, { class_name: "X", self_forward_us: 50, self_backward_us: 50 }), layer("a/b", "a", 50, 50, { class_name: "X" })];
  const rows = groupedRows(buildTree(ls), "class", opts());
  assert.equal(rows[0].group!.total_us, 200);
  assert.equal(rows[0].layer.self_forward_us, 100);
});

test("grouped by diagnosis: a layer in each of its codes' groups, the rest in 'no diagnosis'", () => {
  assert.deepEqual(groupKeysOf(LAYERS[2], "diagnosis"), ["expensive-gradient", "python-loop"]);
  assert.deepEqual(groupKeysOf(LAYERS[0], "diagnosis"), [NO_DIAGNOSIS]);
  const rows = groupedRows(buildTree(LAYERS), "diagnosis", opts({ filter: "slow" }));
  assert.deepEqual(rows.map((r) => r.group?.key ?? r.layer.path), ["expensive-gradient", "block/slow", "python-loop", "block/slow"]);
});

test("diagnoses of one code and class grouped, share of step", () => {
  const many = Array.from({ length: 590 }, (_, i) =>
    layer(`m/loop_${i}`, null, 10, 10, { class_name: "SlowLoop", hints: [{ code: "python-loop", message: "m", evidence: {} }] }),
  );
  const groups = groupDiagnoses(diagnoses(many), buildTree(many), 590 * 20 / 0.61);
  assert.equal(groups.length, 1);
  assert.equal(groups[0].items.length, 590);
  assert.equal(groupTitle({ label: groups[0].className, count: groups[0].items.length, pct: groups[0].pct }), "SlowLoop × 590 = 61% of step");
});

test("grouping lives in the URL", () => {
  const s = parseHash("#group=class&open=Dense&open=Block");
  assert.equal(s.group, "class");
  assert.deepEqual(s.open, ["Dense", "Block"]);
  assert.equal(parseHash(formatHash(s)).group, "class");
  assert.equal(parseHash("#group=bogus").group, "none");
});

test("columns: the default set fits, the user's choice in the URL", async () => {
  const { COLUMNS, shownColumns, toggleColumn } = await import("./columns");
  const base = COLUMNS.filter((c) => !c.key.includes("device") && !c.key.includes("host"));
  const def = shownColumns(base, null).map((c) => c.key);
  assert.deepEqual(def, ["path", "class_name", "forward_us", "backward_us", "total_us", "self_us", "pct", "flops_per_s", "custom", "hints"]);
  const withParams = toggleColumn(shownColumns(base, null), "param_bytes", base);
  assert.ok(withParams.includes("param_bytes"));
  assert.deepEqual(shownColumns(base, ["hints"]).map((c) => c.key), ["path", "hints"]);
  const s = parseHash("#cols=path,hints,bogus");
  assert.deepEqual(s.cols, ["path", "hints"]);
  assert.equal(parseHash(formatHash(s)).cols!.join(","), "path,hints");
  assert.equal(parseHash("").cols, null);
});
