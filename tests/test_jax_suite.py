"""Runs the Keras-on-JAX tests (tests/test_jax_backend.py) inside build/jax-venv.

Keras fixes its backend at import and this suite's process runs TensorFlow, so the JAX
tests need a process (and an environment: JAX's own virtualenv, without TensorFlow) of
their own. `make test` builds the venv first (`make jax-env`); without it this test
SKIPS, loudly, naming the command that builds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAX_PYTHON = os.path.join(ROOT, "build", "jax-venv", "bin", "python")

pytestmark = pytest.mark.slow


def test_keras_on_jax_suite():
    if not os.path.exists(JAX_PYTHON):
        message = ("JAX BACKEND TESTS NOT RUN: build/jax-venv is missing; run `make jax-env` "
                   "(or `make test`, which builds it) to run tests/test_jax_backend.py")
        warnings.warn(message)
        print(message, file=sys.stderr)
        pytest.skip(message)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    env.pop("TF_USE_LEGACY_KERAS", None)
    out = subprocess.run(
        [JAX_PYTHON, "-m", "pytest", os.path.join(ROOT, "tests", "test_jax_backend.py"), "-q",
         "-p", "no:cacheprovider", "-o", "addopts=", "-W", "ignore::DeprecationWarning"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    tail = (out.stdout + out.stderr)[-6000:]
    assert out.returncode == 0, f"Keras-on-JAX tests failed in build/jax-venv:\n{tail}"
    assert " passed" in out.stdout and " skipped" not in out.stdout.splitlines()[-1], tail
