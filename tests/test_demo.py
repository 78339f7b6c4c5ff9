"""The seed demo trains for real under LayerProfiler and answers the seed question."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from tb_layerprof.summary import load_reports

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "demo", "seed_demo.py")


def load_demo_module():
    spec = importlib.util.spec_from_file_location("seed_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_never_clears_a_directory_it_did_not_make(tmp_path):
    demo = load_demo_module()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("x")
    with pytest.raises(SystemExit, match="was not made by this demo"):
        demo.prepare_logdir(str(precious))
    assert (precious / "keep.txt").exists()
    ours = tmp_path / "ours"
    demo.prepare_logdir(str(ours))
    (ours / "old-report").write_text("stale")
    demo.prepare_logdir(str(ours))
    assert sorted(os.listdir(ours)) == [demo.MARKER]


@pytest.mark.slow
def test_seed_demo_runs_small_reports_all_four_layers_and_the_diff(tmp_path):
    logdir = tmp_path / "logs"
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONIOENCODING"] = "utf-8"
    proc = subprocess.run(
        [sys.executable, DEMO, "--logdir", str(logdir), "--epochs", "2", "--samples", "1024",
         "--batch-size", "128", "--features", "32", "--profile-batch", "2,3",
         "--every-n-steps", "4"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Run loop | steps" in out
    assert "How does a custom layer affect training speed?" in out
    for cls in ("SlowDouble", "FastDouble", "SigmoidSin", "SigmoidSinCustomGrad"):
        assert f"\n  {cls}: forward " in out, cls
    assert "tensorboard --logdir" in out

    # The story as a diff: the loop replaced by its vectorized twin, and the time gained.
    assert "Diff: run vectorized against base loop" in out
    assert out.index("Run loop | steps") < out.index("Diff: run vectorized")
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer ") and "delta" in line)
    first = lines[header + 2]
    assert first.startswith("doubler ") and "SlowDouble → FastDouble" in first, first
    assert "fixed: python-loop" in first
    assert " -" in first.split("→")[0]  # a negative delta before the forward column
    # A tiny model's step time is noise-prone: "gained" (faster) or "changed" (slower).
    gained = next(line for line in lines if line.startswith("Step time "))
    assert re.match(r"Step time (gained|changed): .* -> .* per step \(.*x (faster|slower)\)", gained)
    assert "the doubler alone went from" in gained
    assert f"tb-layerprof diff {os.path.relpath(logdir)} --base loop --run vectorized" in out

    runs, errors = load_reports(str(logdir))
    assert errors == []
    assert [r.run for r in runs] == ["loop", "vectorized"]
    for run in runs:
        assert [w.step for w in run.windows][:3] == [2, 6, 10]  # 8 steps/epoch, 2 epochs
    window = runs[0].windows[-1]
    by_class = {layer.class_name: layer for layer in window.layers}
    slow, fast = by_class["SlowDouble"], by_class["FastDouble"]
    assert slow.path == "doubler"
    assert slow.custom and fast.custom and not by_class["Dense"].custom
    # 32 columns: one slice and one multiply per column, versus a single multiply.
    assert slow.ops_per_call >= 2 * 32 > fast.ops_per_call
    assert slow.forward_us + slow.backward_us > fast.forward_us + fast.backward_us
    assert "python-loop" in [h.code for h in slow.hints]
    fixed = {layer.path: layer for layer in runs[1].windows[-1].layers}
    assert fixed["doubler"].class_name == "FastDouble"
    assert "python-loop" not in [h.code for h in fixed["doubler"].hints]
    # The fix is measured where it happened (step times of a tiny model are too noisy on a
    # loaded machine to compare in a test; the demo prints them).
    assert fixed["doubler"].forward_us + fixed["doubler"].backward_us < (
        slow.forward_us + slow.backward_us)
    assert runs[1].windows[-1].step_time_us > 0
