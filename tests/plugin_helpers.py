"""Shared helpers of the plugin and browser tests: synthetic reports, real TensorBoard.

The synthetic reports are shaped like the callback's (a model with a nested block, a
custom layer with a Python loop, a vectorized layer), so ordering assertions are meaningful.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from tb_layerprof.report import Hint, LayerStats, WindowReport
from tb_layerprof.summary import ReportWriter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(REPO, "test-artifacts")
XSS_RUN = "<img src=x onerror=alert(1)>"


def synthetic_window(step: int, scale: float = 1.0, steps: int = 2) -> WindowReport:
    """A realistic window: `block/slow` (custom loop) is hottest, then `dense`, ..."""
    loop_hint = Hint(
        code="python-loop",
        message="slow runs 193 ops per call for an output of 64 elements: a Python loop "
        "was unrolled at trace time. Vectorize it.",
        evidence={"ops_per_call": 193, "output_elements": 64},
    )
    grad_hint = Hint(
        code="expensive-gradient",
        message="The gradient of slow takes 2.1x its forward time.",
        evidence={"ratio": 2.1},
        severity="info",
    )
    layers = [
        LayerStats(
            path="block", class_name="Block", custom=True, parent=None,
            forward_us=1700.0 * scale, backward_us=3400.0 * scale,
            self_forward_us=100.0 * scale, self_backward_us=150.0 * scale,
            forward_alloc_bytes=300000, backward_alloc_bytes=600000,
            peak_live_bytes=150000, param_bytes=0, calls=1, ops_per_call=200,
        ),
        LayerStats(
            path="block/slow", class_name="SlowLoop", custom=True, parent="block",
            forward_us=1500.0 * scale, backward_us=3100.0 * scale,
            self_forward_us=1500.0 * scale, self_backward_us=3100.0 * scale,
            forward_alloc_bytes=262144, backward_alloc_bytes=524288,
            peak_live_bytes=131072, param_bytes=0, calls=1, ops_per_call=193,
            hints=[loop_hint, grad_hint], output_elements=64,
        ),
        LayerStats(
            path="block/fast", class_name="Vectorized", custom=True, parent="block",
            forward_us=100.0 * scale, backward_us=150.0 * scale,
            self_forward_us=100.0 * scale, self_backward_us=150.0 * scale,
            forward_alloc_bytes=4096, backward_alloc_bytes=8192,
            peak_live_bytes=4096, param_bytes=0, calls=1, ops_per_call=3,
        ),
        LayerStats(
            path="dense", class_name="Dense", custom=False, parent=None,
            forward_us=400.0 * scale, backward_us=700.0 * scale,
            self_forward_us=400.0 * scale, self_backward_us=700.0 * scale,
            forward_alloc_bytes=16384, backward_alloc_bytes=32768,
            peak_live_bytes=16384, param_bytes=8448, calls=1, ops_per_call=4,
        ),
        LayerStats(
            path="dense_1", class_name="Dense", custom=False, parent=None,
            forward_us=50.0 * scale, backward_us=80.0 * scale,
            self_forward_us=50.0 * scale, self_backward_us=80.0 * scale,
            forward_alloc_bytes=1024, backward_alloc_bytes=2048,
            peak_live_bytes=1024, param_bytes=260, calls=1, ops_per_call=4,
        ),
    ]
    other = {
        "optimizer_us": 600.0 * scale, "loss_us": 80.0 * scale, "metrics_us": 40.0 * scale,
        "input_us": 120.0 * scale, "framework_us": 200.0 * scale, "unattributed_us": 30.0 * scale,
    }
    op_time = sum(x.self_forward_us + x.self_backward_us for x in layers) + sum(other.values())
    return WindowReport(
        step=step, steps=steps, host="worker-0", step_time_us=op_time * 1.1,
        layers=layers, other=other, op_time_us=op_time, mode="graph",
        wall_time=1_700_000_000.0 + step,
        profile_dir=f"plugins/profile/2026_01_01_00_00_{step % 60:02d}_steps{step}-{step + steps - 1}",
        timeline=synthetic_timeline(step + steps - 1, scale, op_time * 1.1),
    )


# (path, phase, start, end) in µs at scale 1: nested spans lie inside their parent's.
TIMELINE_SPANS = [
    ("block", "forward", 100.0, 1900.0),
    ("block/slow", "forward", 150.0, 1650.0),
    ("block/fast", "forward", 1700.0, 1800.0),
    ("dense", "forward", 1950.0, 2350.0),
    ("dense_1", "forward", 2400.0, 2450.0),
    ("dense_1", "backward", 2500.0, 2580.0),
    ("dense", "backward", 2600.0, 3300.0),
    ("block", "backward", 3350.0, 6800.0),
    ("block/fast", "backward", 3400.0, 3550.0),
    ("block/slow", "backward", 3600.0, 6700.0),
]


def synthetic_timeline(step: int, scale: float, step_time_us: float) -> dict:
    return {
        "step": step,
        "step_time_us": round(step_time_us, 3),
        "spans": [
            {"path": p, "phase": ph, "start_us": round(s * scale, 3), "end_us": round(e * scale, 3)}
            for p, ph, s, e in TIMELINE_SPANS
        ],
    }


def write_run(logdir: str, run: str, windows: List[WindowReport]) -> str:
    run_dir = os.path.join(logdir, run) if run != "." else logdir
    writer = ReportWriter(run_dir)
    for w in windows:
        writer.write(w)
    writer.close()
    return run_dir


def make_synthetic_logdir(logdir: str, windows: int = 12) -> Dict[str, int]:
    """Runs: `train` (`windows` windows, growing slower), `xss` payload run, `empty` (no reports)."""
    write_run(logdir, "train", [synthetic_window(10 + 20 * i, 1.0 + 0.1 * i) for i in range(windows)])
    write_run(logdir, XSS_RUN, [synthetic_window(3)])
    # A run with other summaries but no layerprof report (e.g. training still warming up).
    _write_scalar_run(os.path.join(logdir, "warmup"))
    return {"train": windows, XSS_RUN: 1}


def _write_scalar_run(run_dir: str) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "events.out.tfevents.1.localhost.1.scalars"), "wb") as f:
        w = RecordWriter(f)
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        for step in range(3):
            value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))
            ev = event_pb2.Event(wall_time=2.0 + step, step=step, summary=summary_pb2.Summary(value=[value]))
            w.write(ev.SerializeToString())


# -- real TensorBoard ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry_point_installed() -> bool:
    eps = importlib.metadata.entry_points(group="tensorboard_plugins")
    return any(ep.name == "layerprof" for ep in eps)


def _plugin_env(tmp: str) -> Dict[str, str]:
    """Environment in which TensorBoard finds the plugin through its entry point.

    If tb_layerprof is pip-installed (`pip install -e .`) the real entry point is used.
    Otherwise a minimal dist-info declaring the same entry point as setup.py is put on
    PYTHONPATH, so TensorBoard still discovers the plugin the way it does when installed.
    """
    env = dict(os.environ)
    paths = [REPO]
    if not _entry_point_installed():
        info = os.path.join(tmp, "site", "tb_layerprof_dev-0.0.dist-info")
        os.makedirs(info, exist_ok=True)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: tb_layerprof_dev\nVersion: 0.0\n")
        with open(os.path.join(info, "entry_points.txt"), "w") as f:
            f.write("[tensorboard_plugins]\nlayerprof = tb_layerprof.plugin:LayerProfPlugin\n")
        paths.append(os.path.join(tmp, "site"))
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


class TensorBoardProcess:
    """A real `tensorboard` subprocess on 127.0.0.1:<free port>; always killed on exit."""

    def __init__(self, logdir: str, extra_args: Optional[List[str]] = None):
        self.logdir = logdir
        self.extra_args = list(extra_args or [])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.mkdtemp(prefix="tb_layerprof_tb_")
        self.log_path = os.path.join(self._tmp, "tensorboard.log")
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 90.0) -> "TensorBoardProcess":
        cmd = [
            sys.executable, "-m", "tensorboard.main", "--logdir", self.logdir,
            "--host", "127.0.0.1", "--port", str(self.port), "--reload_interval", "1",
        ] + self.extra_args
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=_plugin_env(self._tmp), cwd=self._tmp
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited early:\n{self.log()}")
            try:
                status, _ = self.get("/data/plugins_listing")
                if status == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"tensorboard did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-5000:]
        except OSError:
            return ""

    def get(self, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str):
        status, body = self.get(path)
        return status, json.loads(body.decode("utf-8"))

    def wait_for(self, path: str, predicate, timeout: float = 60.0):
        """Poll a JSON route until `predicate(json)` holds (TensorBoard loads asynchronously)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            status, body = self.get(path)
            if status == 200:
                last = json.loads(body.decode("utf-8"))
                if predicate(last):
                    return last
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting on {path}; last answer: {last}\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


@contextlib.contextmanager
def tensorboard(logdir: str, extra_args: Optional[List[str]] = None) -> Iterator[TensorBoardProcess]:
    tb = TensorBoardProcess(logdir, extra_args).start()
    try:
        yield tb
    finally:
        tb.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def trained_logdir(tmp_path_factory):
    """A logdir written by real training: the seed model (a custom Python-loop layer and
    its vectorized twin) under `LayerProfiler(profile_batch=(3, 4))`. Built once per session."""
    import numpy as np  # noqa: F401  (TensorFlow only here, never in the plugin)
    from tb_layerprof import LayerProfiler, load_reports
    from tests import models

    logdir = str(tmp_path_factory.mktemp("trained"))
    model = models.seed_model()
    x, y = models.data(n=512)
    cb = LayerProfiler(log_dir=logdir, profile_batch=(3, 4), verbose=0)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[cb])
    runs, errors = load_reports(logdir)
    assert not errors and runs and runs[0].windows, (runs, errors)
    return logdir


# Work per step (FLOPs, bytes moved) of the synthetic layers, shaped like the seed demo's:
# the loop layer does almost nothing per op (far below both roofs), dense runs near them,
# dense_1 has no count. (path -> forward FLOPs, gradient FLOPs, forward bytes, gradient bytes, counts)
WORK = {
    "block/slow": (65536.0, 131072.0, 1.5e6, 1.3e8, "exact"),
    "block/fast": (65536.0, 65536.0, 5.2e5, 5.2e5, "estimated"),
    "dense": (3.36e7, 6.72e7, 1.57e6, 2.6e6, "exact"),
}
PEAK_FLOPS, PEAK_BYTES, PEAK_CACHE_BYTES = 1.8e11, 1.4e10, 8.4e10


def with_work(window: WindowReport) -> WindowReport:
    """`window` with the work figures the analysis writes (`WORK`, the parent `block` the sum
    of its sublayers, rates over each phase's time) and calibrated CPU peaks."""
    by_path = {x.path: x for x in window.layers}
    for path, (ff, bf, fb, bb, counts) in WORK.items():
        for layer in (by_path[path], by_path[path].parent and by_path.get(by_path[path].parent)):
            if not layer:
                continue
            layer.forward_flops = (layer.forward_flops or 0.0) + ff
            layer.backward_flops = (layer.backward_flops or 0.0) + bf
            layer.forward_bytes = (layer.forward_bytes or 0.0) + fb
            layer.backward_bytes = (layer.backward_bytes or 0.0) + bb
            layer.work_counts = counts if layer.path == path else "estimated"
    for layer in window.layers:
        if layer.forward_flops is not None:
            layer.forward_flops_per_s = layer.forward_flops / layer.forward_us * 1e6
            layer.backward_flops_per_s = layer.backward_flops / layer.backward_us * 1e6
    window.peak_flops_per_s, window.peak_bytes_per_s = PEAK_FLOPS, PEAK_BYTES
    window.peak_cache_bytes_per_s = PEAK_CACHE_BYTES
    window.peak_source, window.work_coverage, window.flops_coverage = "calibrated-cpu", 0.93, 0.9
    return window
