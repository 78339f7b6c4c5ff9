"""Real two-worker MultiWorkerMirroredStrategy jobs on localhost, sharing one log_dir.

Each job starts two worker processes (tests/mwms_worker.py) with `TF_CONFIG` naming free
localhost ports; both profile steps 3-5 into the same log_dir. Worker 1 is made the
straggler: its `busy` layer waits 4 ms per step in a host round trip (a sleeping
`tf.numpy_function`; worker 0's is an identity), an answer no machine load can blur. Two ways to
train under this strategy, both checked: a Keras 3 custom loop (`strategy.run` in a
`tf.function`; Keras 3 `fit` does not run under it, keras-team/keras#20585) and tf_keras
`model.fit`. Worker processes are always killed at the end, whatever happened. Each
worker is pinned to its own CPU when there are enough, so they do not slow each other.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tb_layerprof import cli, load_reports, workers
from tb_layerprof.report import WindowReport

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(REPO, "tests", "mwms_worker.py")
TIMEOUT_S = 240
N_WORKERS = 2
PORT_TAKEN = re.compile(r"address already in use|failed to add port|no address added", re.I)
# TF_PROFILER_STOP_CRASH: TF 2.21's profiler can abort a MultiWorkerMirroredStrategy worker inside
# `tf.profiler.experimental.stop()` (heap corruption in native code: "free(): invalid size",
# "double free", SIGSEGV), about once in 15 windows of the Keras 3 custom loop on this
# machine, whatever the callback does before stopping (waiting for the step, no device
# tracer, no host round trip: all tried). It is TensorFlow's crash, not ours: the job is
# run once more, and fails if it happens again.
pytestmark = pytest.mark.slow


def free_ports(n):
    """`n` distinct free TCP ports on localhost (bound to port 0, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("localhost", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pin(index):
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < N_WORKERS:
        return None
    return lambda: os.sched_setaffinity(0, {cpus[index]})


def _kill(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and anything it started
        except (ProcessLookupError, PermissionError):
            proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_job(mode, logdir, timeout=TIMEOUT_S, procs=None):
    """Run one two-worker job; returns [(returncode, stdout, stderr)] per worker.

    The workers are killed if the job fails or overruns `timeout`, and always before
    returning. `procs`, if given, receives the worker processes."""
    ports = free_ports(N_WORKERS)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = [] if procs is None else procs
    outputs = []
    try:
        for index in range(N_WORKERS):
            env = dict(os.environ)
            env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
            env["TF_CPP_MIN_LOG_LEVEL"] = "2"
            env["PYTHONFAULTHANDLER"] = "1"  # a native crash prints the Python stack
            env["TF_CONFIG"] = json.dumps({"cluster": cluster,
                                           "task": {"type": "worker", "index": index}})
            env.pop("TF_USE_LEGACY_KERAS", None)  # the worker script decides
            procs.append(subprocess.Popen(
                [sys.executable, WORKER, mode, logdir], env=env, cwd=REPO,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True, preexec_fn=_pin(index)))
        deadline = time.monotonic() + timeout
        failed = False
        for proc in procs:
            if failed:
                _kill(proc)  # its peer failed: it would wait for it forever
            try:
                out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                for p in procs:
                    _kill(p)
                pytest.fail(f"{mode}: the two-worker job did not finish in {timeout} s")
            outputs.append((proc.returncode, out, err))
            failed = failed or proc.returncode != 0
    finally:
        for proc in procs:
            _kill(proc)
    return outputs


TF_STOP_CRASH_RERUNS = 2  # a third crash in a row fails the test


@pytest.fixture(scope="module", params=["keras3-loop", "tf_keras-fit"])
def job(request, tmp_path_factory):
    mode = request.param
    logdir = str(tmp_path_factory.mktemp(mode.replace("-", "_")))
    outputs = run_job(mode, logdir)
    if any(code != 0 and PORT_TAKEN.search(err) for code, _, err in outputs):
        # A port picked free was taken by someone else before the worker bound it: retry.
        shutil.rmtree(logdir)
        os.makedirs(logdir)
        outputs = run_job(mode, logdir)
    for _ in range(TF_STOP_CRASH_RERUNS):
        if not any(code < 0 and "profiler_v2.py" in err for code, _, err in outputs):
            break
        # TensorFlow's native crash in profiler stop (see TF_PROFILER_STOP_CRASH): again.
        # About one window stop in 15 of a Keras 3 custom MWMS loop; a job stops four.
        shutil.rmtree(logdir)
        os.makedirs(logdir)
        outputs = run_job(mode, logdir)
    if any(code != 0 for code, _, _ in outputs):
        pytest.fail("\n".join(f"{mode} worker {i} exited with {code}:\n{err[-3000:]}"
                              for i, (code, _, err) in enumerate(outputs)))
    printed = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in outputs]
    return mode, logdir, printed


def windows_of(job):
    """The windows as read back from the shared log_dir, one per worker (by host)."""
    runs, errors = load_reports(job[1])
    assert errors == [] and [r.run for r in runs] == ["train"]
    return {w.host: w for w in runs[0].windows}


def test_each_worker_keeps_its_own_capture_and_events(job):
    mode, logdir, printed = job
    assert [p["worker"] for p in printed] == ["worker-0", "worker-1"]
    expected_keras = "keras" if mode == "keras3-loop" else "tf_keras"
    assert all(p["keras"].split(".")[0] == expected_keras for p in printed)
    train = os.path.join(logdir, "train")
    profiles = sorted(
        os.path.relpath(os.path.join(d, f), train)
        for d, _, files in os.walk(train) for f in files if f.endswith(".xplane.pb"))
    # One session per window, one host file per worker (XProf shows them as hosts).
    assert profiles == ["plugins/profile/steps3-5/worker-0.xplane.pb",
                        "plugins/profile/steps3-5/worker-1.xplane.pb"], profiles
    events = [f for f in os.listdir(train) if "tfevents" in f]
    assert len(events) == 2, events  # one per worker process
    assert not os.path.exists(os.path.join(train, ".layerprof-capture"))
    windows = windows_of(job)
    assert sorted(windows) == ["worker-0", "worker-1"]
    for p in printed:
        assert len(p["windows"]) == 1
        mine = WindowReport.from_json(p["windows"][0])
        assert mine.host == p["worker"] and (mine.step, mine.steps) == (3, 3)
        read = windows[p["worker"]]
        assert read.op_time_us == pytest.approx(mine.op_time_us)
        # Each report points at its own worker's capture.
        assert os.path.exists(os.path.join(train, read.profile_dir, f"{read.host}.xplane.pb"))


def test_per_worker_layers(job):
    mode = job[0]
    for host, w in windows_of(job).items():
        context = (mode, host, [(x.path, round(x.self_forward_us), round(x.self_backward_us))
                                for x in w.layers], w.other)
        layers = {x.path: x for x in w.layers}
        assert set(layers) == {"dense_in", "slow", "fast", "busy", "head"}, context
        assert not w.warnings, (context, w.warnings)
        # The loop layer tops the model's own layers on both workers (worker 1's injected
        # round trip aside).
        own = [x for x in w.layers if x.path != "busy"]
        top = max(own, key=lambda x: x.self_forward_us + x.self_backward_us)
        assert top.path == "slow", context
        assert "python-loop" in {h.code for h in layers["slow"].hints}, context
        assert layers["slow"].custom and not layers["dense_in"].custom
        assert layers["slow"].forward_us > 0 and layers["slow"].backward_us > 0, context
        assert layers["slow"].calls == 1  # one replica per worker
        busy = layers["busy"]
        if host == "worker-1":
            assert busy.forward_us > 3000.0, context  # the 4 ms sleep, per step
            assert "host-round-trip" in {h.code for h in busy.hints}, context
        else:
            assert busy.forward_us + busy.backward_us < 50.0 and not busy.hints, context
        # The all-reduce of the gradients is its own category; little has no owner.
        assert w.other["collective_us"] > 0, context
        assert w.other["optimizer_us"] > 0, context
        assert w.other["unattributed_us"] < 0.05 * w.op_time_us, context
        total = sum(x.self_forward_us + x.self_backward_us for x in w.layers)
        assert total + sum(w.other.values()) == pytest.approx(w.op_time_us, rel=1e-6)


def test_straggler_view_names_the_busy_worker_and_layer(job):
    windows = windows_of(job)
    doc = workers.compare_hosts(list(windows.values()))
    assert [h["host"] for h in doc["hosts"]] == ["worker-0", "worker-1"]
    context = (job[0], doc["hosts"], doc["straggler"])
    assert doc["slowest_host"] == "worker-1", context
    assert doc["straggler"]["host"] == "worker-1", context
    assert doc["straggler"]["layer"] == "busy", context
    assert doc["layers"][0]["path"] == "busy", [(x["path"], x["spread_us"]) for x in doc["layers"]]
    assert doc["layers"][0]["slowest_host"] == "worker-1"


def test_cli_on_the_shared_log_dir(job):
    logdir = job[1]
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["workers", logdir], out=out, err=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "2 workers | slowest worker-1, fastest worker-0" in text
    assert "Straggler: worker-1 computes" in text and "layer busy accounts for" in text
    out = io.StringIO()
    assert cli.main(["report", logdir, "--format", "json"], out=out, err=err) == 0
    doc = json.loads(out.getvalue())
    assert [(w["step"], w["host"]) for w in doc["runs"][0]["windows"]] == [
        (3, "worker-0"), (3, "worker-1")]


def test_a_job_that_overruns_is_killed(tmp_path):
    procs = []
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="did not finish in 2 s"):
        run_job("keras3-loop", str(tmp_path), timeout=2, procs=procs)
    assert time.monotonic() - started < 20
    assert len(procs) == N_WORKERS
    for proc in procs:
        assert proc.poll() is not None  # reaped: no worker left running
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)  # nor anything it started
