"""Runs the frontend's own unit tests (the pure models: formatting, tree building, URL
state, figures, links...) so that `pytest` alone covers them. They are TypeScript bundled by
esbuild, run by `node --test`. Every test defined in frontend/src/**/*.test.ts must have run
and passed, by name: a test file that fails to build or load, or a test that never runs,
fails here too.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import pytest

FRONTEND = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "frontend")
# test("name", () => { ... }) at the start of a line: how the frontend's tests are written.
TEST_DEF = re.compile(r'^test\(\s*"((?:[^"\\]|\\.)*)"', re.M)
# node --test's TAP report: "ok 3 - name" / "not ok 3 - name" (nested: indented), '#' escaped.
TAP_RESULT = re.compile(r"^\s*(not ok|ok) \d+ - (.*?)( # (?:SKIP|TODO)\b.*)?$", re.M)


def _npm(*args, timeout=600):
    return subprocess.run(
        ["npm", *args], cwd=FRONTEND, capture_output=True, text=True, timeout=timeout
    )


def _defined_tests():
    files = sorted(glob.glob(os.path.join(FRONTEND, "src", "**", "*.test.ts"), recursive=True))
    names = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            for name in TEST_DEF.findall(f.read()):
                names[name] = os.path.relpath(path, FRONTEND)
    return files, names


def _tap_unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


def _summary(out, key):
    m = re.search(rf"^# {key} (\d+)$", out, re.M)
    assert m, f"no '# {key}' line in the test report:\n{out}"
    return int(m.group(1))


def test_frontend_logic_unit_tests():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed: the frontend's unit tests need them")
    if not os.path.exists(os.path.join(FRONTEND, "node_modules", "esbuild")):
        result = _npm("ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, result.stdout + result.stderr
    files, defined = _defined_tests()
    assert len(files) >= 5 and len(defined) >= 25, (files, defined)
    result = _npm("test")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    results = [
        ("skipped" if directive else status, _tap_unescape(name))
        for status, name, directive in TAP_RESULT.findall(out)
    ]
    failed = [name for status, name in results if status == "not ok"]
    assert not failed, f"failed: {failed}\n{out}"
    passed = {name for status, name in results if status == "ok"}
    missing = {name: f for name, f in defined.items() if name not in passed}
    assert not missing, f"defined but never reported as passed: {missing}\n{out}"
    # The summary agrees: every test ran, none failed, none was skipped or left out.
    assert _summary(out, "fail") == 0, out
    assert _summary(out, "tests") == _summary(out, "pass") == len(defined), (len(defined), out)
    for key in ("cancelled", "skipped", "todo"):
        assert _summary(out, key) == 0, out
