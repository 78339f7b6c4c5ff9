// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { exportFileBase, profileRunName, reportCsvParams, traceViewerUrl, withQuery } from "./links";

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

test("CSV export: /report of this window as CSV, every parameter URL-encoded", () => {
  const url = new URL(withQuery("http://h/data/plugin/layerprof/report", reportCsvParams("<img src=x>&a", 30, "worker 1#x")));
  assert.equal(url.pathname, "/data/plugin/layerprof/report");
  assert.deepEqual([...url.searchParams.keys()], ["run", "format", "step", "host"]);
  assert.equal(url.searchParams.get("run"), "<img src=x>&a");
  assert.equal(url.searchParams.get("format"), "csv");
  assert.equal(url.searchParams.get("step"), "30");
  assert.equal(url.searchParams.get("host"), "worker 1#x");
  assert.ok(!url.search.includes("<") && !url.search.includes(" ") && url.hash === "", url.search);
  assert.equal(new URL(withQuery("http://h/r", reportCsvParams("train", 3, ""))).searchParams.has("host"), false);
  assert.equal(withQuery("http://h/trend", { run: "r", layer: ["a", "b/c"], x: null }), "http://h/trend?run=r&layer=a&layer=b%2Fc");
  assert.equal(exportFileBase("a/b <c>", 7), "layerprof-a_b_c_-step7");
  assert.equal(exportFileBase("", 1), "layerprof-run-step1");
});

test("TensorBoard's reload requests are recognized, the tab's own are not", async () => {
  const { isTensorBoardReload } = await import("./links");
  assert.ok(isTensorBoardReload("http://h:6006/data/runs"));
  assert.ok(isTensorBoardReload("http://h:6006/prefix/experiment/defaultExperimentId/data/runs"));
  assert.ok(!isTensorBoardReload("http://h:6006/data/plugin/layerprof/runs"));
  assert.ok(!isTensorBoardReload("http://h:6006/data/runs_x"));
  assert.ok(!isTensorBoardReload("http://h:6006/data/environment"));
});
