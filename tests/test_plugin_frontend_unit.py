"""Runs the frontend's own unit tests (sorting, formatting, tree building, URL state...) so
that `pytest` alone covers them. They are TypeScript bundled by esbuild, run by `node --test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

FRONTEND = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "frontend")


def _npm(*args, timeout=600):
    return subprocess.run(
        ["npm", *args], cwd=FRONTEND, capture_output=True, text=True, timeout=timeout
    )


def test_frontend_logic_unit_tests():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed: the frontend's unit tests need them")
    if not os.path.exists(os.path.join(FRONTEND, "node_modules", "esbuild")):
        result = _npm("ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, result.stdout + result.stderr
    result = _npm("test")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "# fail 0" in out and "# pass " in out, out
    passed = int(out.split("# pass ")[1].split()[0])
    assert passed >= 10, out
