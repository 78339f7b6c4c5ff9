// Unit tests of the pure models; bundled by `node build.mjs --tests`, run by
// `node --test build/tests/` (and by pytest: tests/test_plugin_frontend_unit.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fmtBytes, fmtCount, fmtDeltaTime, fmtPct, fmtRatio, fmtTime, shortName } from "./format";

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

test("long names shortened in the middle", () => {
  assert.equal(shortName("abc"), "abc");
  const long = "a".repeat(3000) + "/tail_op";
  const s = shortName(long, 40);
  assert.equal(s.length, 40);
  assert.ok(s.startsWith("aaa") && s.endsWith("/tail_op") && s.includes("…"));
});
