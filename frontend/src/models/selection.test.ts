// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunInfo } from "../api/types";
import { resolveSelection } from "./selection";
import { parseHash } from "./urlstate";

const run = (name: string, steps: number[], wall: number): RunInfo => ({
  run: name,
  windows: steps.length,
  steps,
  first_step: steps[0],
  last_step: steps[steps.length - 1],
  last_wall_time: wall,
});
const RUNS = [run("loop", [3, 10], 100), run("vec", [3, 10, 20], 200)];

test("selection: the most recent run and its latest window unless the URL says", () => {
  const s = resolveSelection(parseHash(""), RUNS);
  assert.equal(s.run, "vec");
  assert.equal(s.step, 20);
  assert.equal(s.runInfo, RUNS[1]);
  const t = resolveSelection(parseHash("#run=loop&step=3"), RUNS);
  assert.deepEqual([t.run, t.step], ["loop", 3]);
  const missing = resolveSelection(parseHash("#run=nope"), RUNS);
  assert.deepEqual([missing.run, missing.runInfo, missing.step], ["nope", undefined, null]);
  const none = resolveSelection(parseHash(""), []);
  assert.deepEqual([none.run, none.step, none.baseRun], [null, null, null]);
});

test("selection: the base is another run (its latest window), else this run's first window", () => {
  const s = resolveSelection(parseHash("#view=compare&run=vec"), RUNS);
  assert.deepEqual([s.baseRun, s.baseStep], ["loop", null]);
  const own = resolveSelection(parseHash("#view=compare"), [RUNS[1]]);
  assert.deepEqual([own.baseRun, own.baseStep], ["vec", 3]);
  const chosen = resolveSelection(parseHash("#view=compare&base=vec&bstep=10&run=loop"), RUNS);
  assert.deepEqual([chosen.baseRun, chosen.baseStep, chosen.baseInfo], ["vec", 10, RUNS[1]]);
});
