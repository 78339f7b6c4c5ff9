"""Shared fixtures: synthetic but realistic reports, and log directories holding them.

`make_window(step=10, **overrides)` builds the seed scenario's report (a model with a
Python-loop layer, its vectorized twin, a sigmoid*sin layer and its custom-gradient twin,
between Dense layers, plus a nested block) whose figures satisfy DESIGN.md section 4:
forward/backward include sublayers, and all self_* plus all `other` equal `op_time_us`.

`make_logdir({"train": [window, ...], "eval": [...]})` writes them with ReportWriter,
one run per key, and returns the log directory.
"""

from __future__ import annotations

import copy
import os
from typing import Dict, List

import pytest

from tb_layerprof.report import Hint, LayerStats, WindowReport
from tb_layerprof.summary import ReportWriter


# Keras fixes its backend at import: the JAX tests run in build/jax-venv with
# KERAS_BACKEND=jax (tests/test_jax_suite.py launches them there), not in this process.
collect_ignore = [] if os.environ.get("KERAS_BACKEND") == "jax" else ["test_jax_backend.py"]


def _layer(path, cls, custom=False, parent=None, fwd=0.0, bwd=0.0, **kw):
    return LayerStats(
        path=path,
        class_name=cls,
        custom=custom,
        parent=parent,
        forward_us=fwd,
        backward_us=bwd,
        self_forward_us=kw.pop("self_fwd", fwd),
        self_backward_us=kw.pop("self_bwd", bwd),
        **kw,
    )


def build_window(step: int = 10, steps: int = 5, scale: float = 1.0) -> WindowReport:
    """The seed-scenario report; `scale` multiplies every time (to make windows differ)."""
    s = scale
    layers: List[LayerStats] = [
        _layer("dense", "Dense", fwd=120.0 * s, bwd=260.0 * s,
               forward_alloc_bytes=16384, backward_alloc_bytes=49152,
               peak_live_bytes=16384, param_bytes=8448, calls=1, ops_per_call=3,
               trace_count=1, output_elements=4096),
        _layer("slow_double", "SlowDouble", custom=True, fwd=1500.0 * s, bwd=3100.0 * s,
               forward_alloc_bytes=262144, backward_alloc_bytes=524288,
               peak_live_bytes=131072, param_bytes=0, calls=1, ops_per_call=193,
               trace_count=1, output_elements=4096,
               hints=[Hint(code="python-loop",
                           message="193 ops per call for a 64-column output: a Python loop "
                                   "was unrolled when the layer was traced. Use one "
                                   "vectorized op (e.g. x * 2).",
                           evidence={"ops_per_call": 193, "output_elements": 4096,
                                     "top_op": "StridedSlice", "same_type_ops": 64}),
                      Hint(code="expensive-gradient",
                           message="gradient takes 2.1x the forward time",
                           evidence={"ratio": 2.0666, "backward_us": 3100.0 * s},
                           severity="info")]),
        _layer("fast_double", "FastDouble", custom=True, fwd=9.5 * s, bwd=11.0 * s,
               forward_alloc_bytes=16384, backward_alloc_bytes=16384,
               peak_live_bytes=16384, calls=1, ops_per_call=1, trace_count=1,
               output_elements=4096),
        _layer("sigmoid_sin", "SigmoidSin", custom=True, fwd=40.0 * s, bwd=95.0 * s,
               forward_alloc_bytes=49152, backward_alloc_bytes=98304,
               peak_live_bytes=32768, calls=1, ops_per_call=3, trace_count=1,
               output_elements=4096),
        _layer("sigmoid_sin_custom_grad", "SigmoidSinCustomGrad", custom=True,
               fwd=42.0 * s, bwd=70.0 * s, forward_alloc_bytes=49152,
               backward_alloc_bytes=65536, peak_live_bytes=32768, calls=1,
               ops_per_call=4, trace_count=1, output_elements=4096),
        # A nested block: its totals include its two sublayers.
        _layer("block", "ResidualBlock", custom=True, fwd=300.0 * s, bwd=500.0 * s,
               self_fwd=20.0 * s, self_bwd=30.0 * s, forward_alloc_bytes=65536,
               backward_alloc_bytes=131072, peak_live_bytes=65536, param_bytes=33280,
               calls=1, ops_per_call=9, trace_count=1, output_elements=4096),
        _layer("block/inner_dense", "Dense", parent="block", fwd=200.0 * s, bwd=350.0 * s,
               forward_alloc_bytes=32768, backward_alloc_bytes=98304,
               peak_live_bytes=32768, param_bytes=16640, calls=1, ops_per_call=3,
               trace_count=1),
        _layer("block/norm", "LayerNormalization", parent="block", fwd=80.0 * s,
               bwd=120.0 * s, forward_alloc_bytes=16384, backward_alloc_bytes=32768,
               peak_live_bytes=16384, param_bytes=512, calls=1, ops_per_call=6,
               trace_count=1),
        _layer("dense_1", "Dense", fwd=30.0 * s, bwd=45.0 * s, forward_alloc_bytes=256,
               backward_alloc_bytes=8192, peak_live_bytes=256, param_bytes=260, calls=1,
               ops_per_call=3, trace_count=1),
    ]
    other = {
        "optimizer_us": 640.0 * s,
        "loss_us": 35.0 * s,
        "metrics_us": 18.0 * s,
        "input_us": 210.0 * s,
        "collective_us": 0.0,
        "framework_us": 95.0 * s,
        "unattributed_us": 12.5 * s,
    }
    op_time = sum(x.self_forward_us + x.self_backward_us for x in layers) + sum(other.values())
    return WindowReport(
        step=step,
        steps=steps,
        host="worker-0",
        step_time_us=op_time * 1.08,
        layers=layers,
        other=other,
        op_time_us=op_time,
        mode="graph",
        memory_available=True,
        profile_dir=f"plugins/profile/2025_01_30_10_00_{step:02d}",
        wall_time=1738231200.0 + step,
    )


@pytest.fixture
def make_window():
    """Factory: `make_window(step=10, steps=5, scale=1.0)` -> a fresh WindowReport."""
    return build_window


@pytest.fixture
def make_logdir(tmp_path):
    """Factory: `make_logdir({run: [WindowReport, ...]}, name="logs")` -> logdir path.

    Run "." writes into the logdir itself. Each call makes a new directory.
    """
    counter = [0]

    def make(runs: Dict[str, List[WindowReport]], name: str = "logs") -> str:
        counter[0] += 1
        logdir = os.path.join(str(tmp_path), f"{name}{counter[0]}")
        os.makedirs(logdir)
        for run, windows in runs.items():
            writer = ReportWriter(os.path.join(logdir, run))
            try:
                for window in windows:
                    writer.write(copy.deepcopy(window))
            finally:
                writer.close()
        return logdir

    return make
