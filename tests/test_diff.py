"""`tb_layerprof.diff` (pure) and `tb-layerprof diff` (CLI) on synthetic reports."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from tb_layerprof import cli, diff
from tb_layerprof.report import Hint, LayerStats, OTHER_KEYS

from tests.test_cli import HOSTILE, subprocess_env


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def by_path(doc):
    return {row["path"]: row for row in doc["layers"]}


def fixed_window(make_window, step=10, **kw):
    """The seed window with the loop layer swapped for its vectorized twin."""
    window = make_window(step, **kw)
    slow = next(x for x in window.layers if x.path == "slow_double")
    slow.class_name = "FastDouble"
    slow.forward_us, slow.backward_us = 10.0, 12.0
    slow.self_forward_us, slow.self_backward_us = 10.0, 12.0
    slow.forward_alloc_bytes, slow.backward_alloc_bytes = 16384, 16384
    slow.peak_live_bytes = 16384
    slow.ops_per_call = 1
    slow.hints = []
    window.step_time_us -= 4578.0
    window.op_time_us -= 4578.0
    window.other["optimizer_us"] = 600.0
    return window


# --------------------------------------------------------------------------- pure


def test_layers_matched_by_path_sorted_by_abs_delta(make_window):
    base, run = make_window(10), fixed_window(make_window)
    doc = diff.diff_windows(base, run, "loop", "vectorized")
    assert doc["schema"] == 1 and doc["base"] == "loop" and doc["run"] == "vectorized"
    paths = [row["path"] for row in doc["layers"]]
    assert sorted(paths) == sorted(x.path for x in base.layers)
    assert paths[0] == "slow_double"
    deltas = [abs(row["delta_us"]) for row in doc["layers"]]
    assert deltas == sorted(deltas, reverse=True)
    # Unchanged layers: delta 0, ratio 1, sorted by path among themselves.
    zero = [row["path"] for row in doc["layers"] if row["delta_us"] == 0]
    assert zero == sorted(zero) and len(zero) == len(paths) - 1
    assert all(by_path(doc)[p]["ratio"] == 1.0 for p in zero)
    assert doc["counts"] == {"both": len(paths), "added": 0, "removed": 0}


def test_layer_row_figures(make_window):
    doc = diff.diff_windows(make_window(10), fixed_window(make_window), "a", "b")
    row = by_path(doc)["slow_double"]
    assert row["status"] == "both"
    assert row["base_us"] == 4600.0 and row["run_us"] == 22.0
    assert row["delta_us"] == pytest.approx(-4578.0)
    assert row["ratio"] == pytest.approx(22.0 / 4600.0)
    assert (row["base_forward_us"], row["run_forward_us"], row["delta_forward_us"]) == (
        1500.0, 10.0, -1490.0)
    assert (row["base_backward_us"], row["run_backward_us"], row["delta_backward_us"]) == (
        3100.0, 12.0, -3088.0)
    assert row["base_alloc_bytes"] == 262144 + 524288
    assert row["run_alloc_bytes"] == 32768
    assert row["delta_alloc_bytes"] == 32768 - 786432
    assert row["delta_peak_live_bytes"] == 16384 - 131072
    assert row["base_class_name"] == "SlowDouble" and row["class_name"] == "FastDouble"
    assert row["base_ops_per_call"] == 193 and row["run_ops_per_call"] == 1
    assert row["base_hints"] == ["python-loop", "expensive-gradient"]
    assert row["run_hints"] == []
    assert row["custom"] is True and row["parent"] is None
    # Nested layers keep their parent; *_us include sublayers, self_* do not.
    block = by_path(doc)["block"]
    assert block["base_us"] == 800.0 and block["base_self_us"] == 50.0
    assert by_path(doc)["block/norm"]["parent"] == "block"


def test_step_time_op_time_and_other_compared(make_window):
    base, run = make_window(10), fixed_window(make_window)
    doc = diff.diff_windows(base, run)
    st = doc["step_time"]
    assert st["base_us"] == base.step_time_us and st["run_us"] == run.step_time_us
    assert st["delta_us"] == pytest.approx(-4578.0)
    assert st["ratio"] == pytest.approx(run.step_time_us / base.step_time_us)
    assert diff.speedup(st) == pytest.approx(base.step_time_us / run.step_time_us)
    assert doc["op_time"]["delta_us"] == pytest.approx(-4578.0)
    assert list(doc["other"]) == list(OTHER_KEYS)
    assert doc["other"]["optimizer_us"] == {
        "base_us": 640.0, "run_us": 600.0, "delta_us": -40.0, "ratio": 600.0 / 640.0}
    assert doc["other"]["loss_us"]["delta_us"] == 0.0
    assert doc["base_window"] == {"step": 10, "steps": 5, "host": "worker-0",
                                  "mode": "graph", "memory_available": True}


def test_added_and_removed_layers(make_window):
    base, run = make_window(10), make_window(10)
    run.layers = [x for x in run.layers if x.path != "dense_1"]
    run.layers.append(LayerStats(path="attention", class_name="MultiHeadAttention",
                                 forward_us=300.0, backward_us=500.0,
                                 self_forward_us=300.0, self_backward_us=500.0,
                                 forward_alloc_bytes=1000, backward_alloc_bytes=24,
                                 hints=[Hint("python-loop", "m")]))
    doc = diff.diff_windows(base, run)
    rows = by_path(doc)
    added, removed = rows["attention"], rows["dense_1"]
    assert added["status"] == "added"
    assert (added["base_us"], added["run_us"], added["delta_us"]) == (0.0, 800.0, 800.0)
    assert added["ratio"] is None and added["base_class_name"] is None
    assert added["run_alloc_bytes"] == 1024 and added["base_ops_per_call"] is None
    assert removed["status"] == "removed"
    assert (removed["base_us"], removed["run_us"], removed["delta_us"]) == (75.0, 0.0, -75.0)
    assert removed["ratio"] == 0.0 and removed["run_ops_per_call"] is None
    assert doc["layers"][0]["path"] == "attention"  # largest |delta|
    assert doc["counts"] == {"both": len(base.layers) - 1, "added": 1, "removed": 1}


def test_memory_unavailable_on_either_side_gives_null_memory(make_window):
    base, run = make_window(10), make_window(10)
    run.memory_available = False
    doc = diff.diff_windows(base, run)
    assert doc["memory_available"] is False
    row = by_path(doc)["dense"]
    for key in ("alloc_bytes", "peak_live_bytes"):
        assert row[f"base_{key}"] is None and row[f"delta_{key}"] is None
    assert row["delta_param_bytes"] == 0  # weights are known without memory events


def test_zero_base_and_damaged_values(make_window):
    base, run = make_window(10), make_window(10)
    base.step_time_us = 0.0
    base.op_time_us = 0.0  # falls back to the sum of self times and other
    base.layers[0].forward_us = None  # a damaged report reads 0, never crashes
    run.layers[0].backward_us = float("nan")
    run.other["custom_us"] = 5.0  # unknown categories are compared too
    doc = diff.diff_windows(base, run)
    assert doc["step_time"]["ratio"] is None and diff.speedup(doc["step_time"]) is None
    assert doc["op_time"]["base_us"] == pytest.approx(run.op_time_us)
    assert doc["other"]["custom_us"] == {"base_us": 0.0, "run_us": 5.0, "delta_us": 5.0,
                                         "ratio": None}
    dense = by_path(doc)["dense"]
    assert dense["base_forward_us"] == 0.0 and dense["run_backward_us"] == 0.0
    json.dumps(doc, allow_nan=False)  # strict JSON


def test_empty_windows(make_window):
    base, run = make_window(10), make_window(10)
    base.layers, run.layers = [], []
    doc = diff.diff_windows(base, run)
    assert doc["layers"] == [] and doc["counts"] == {"both": 0, "added": 0, "removed": 0}
    text = cli.render_diff_table(doc, cli.Units())
    assert "(no layers in either window)" in text


def test_diff_module_is_pure():
    code = ("import sys, tb_layerprof.diff\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in\n"
            "               ('tensorflow', 'keras', 'tf_keras'))\n"
            "print(heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def logdir(make_logdir, make_window):
    return make_logdir({
        "loop": [make_window(10), make_window(20, scale=1.5)],
        "vectorized": [fixed_window(make_window, 10), fixed_window(make_window, 20)],
        "other": [make_window(30)],
    })


def test_cli_table(logdir):
    code, out, err = run_cli("diff", logdir, "--base", "loop", "--run", "vectorized")
    assert code == 0 and err == ""
    assert out.startswith("Diff: run vectorized against base loop\n")
    assert "base loop        steps 20-24 (5 profiled) | host worker-0" in out
    assert "run  vectorized  steps 20-24 (5 profiled) | host worker-0" in out
    assert "step time " in out and "faster)" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    first = lines[header + 2]
    # Latest windows: base at scale 1.5 (slow_double 6.90 ms), run 22 µs.
    assert first.split()[:8] == ["slow_double", "6.90", "ms", "22", "µs", "-6.88", "ms", "0.003x"]
    assert "SlowDouble → FastDouble" in first
    assert "fixed: python-loop,expensive-gradient" in first
    assert "Outside layers (per step):" in out
    optimizer = next(line for line in lines if line.strip().startswith("optimizer "))
    assert optimizer.split() == ["optimizer", "960", "µs", "600", "µs", "-360", "µs", "0.62x"]


def test_cli_json_document(logdir):
    code, out, err = run_cli("diff", logdir, "--base", "loop", "--run", "vectorized",
                             "--format", "json", "--window", "10")
    assert code == 0, err
    doc = json.loads(out)
    assert {"schema", "base", "run", "layers", "step_time", "op_time", "other"} <= set(doc)
    assert (doc["schema"], doc["base"], doc["run"]) == (1, "loop", "vectorized")
    assert doc["base_window"]["step"] == 10 and doc["run_window"]["step"] == 10
    first = doc["layers"][0]
    assert {"path", "base_us", "run_us", "delta_us", "ratio", "base_forward_us",
            "run_forward_us", "base_backward_us", "run_backward_us", "status",
            "delta_alloc_bytes"} <= set(first)
    assert first["path"] == "slow_double" and first["base_us"] == 4600.0
    assert first["run_us"] == 22.0 and first["status"] == "both"
    assert doc == diff.diff_windows(
        *(next(w for w in r.windows if w.step == 10)
          for r in sorted(cli.read_runs(logdir, None, "all", io.StringIO()),
                          key=lambda r: r.run != "loop") if r.run in ("loop", "vectorized")),
        "loop", "vectorized")


def test_cli_added_removed_and_top(make_logdir, make_window):
    base, run = make_window(10), make_window(10)
    run.layers = [x for x in run.layers if x.path != "fast_double"]
    run.layers.append(LayerStats(path="extra", class_name="Extra", forward_us=5.0))
    logdir = make_logdir({"a": [base], "b": [run]})
    code, out, _ = run_cli("diff", logdir, "--base", "a", "--run", "b", "--top", "0")
    assert code == 0
    removed = next(line for line in out.splitlines() if line.startswith("fast_double "))
    assert removed.split()[1:4] == ["20", "µs", "-"] and "removed; FastDouble" in removed
    added = next(line for line in out.splitlines() if line.startswith("extra "))
    assert added.split()[1:5] == ["-", "5.0", "µs", "+5.0"] and "added; Extra" in added
    assert "layers     8 in both, 1 added, 1 removed" in out
    code, out, _ = run_cli("diff", logdir, "--base", "a", "--run", "b", "--top", "2")
    assert "... 8 more layer(s) (--top 0 shows all)" in out


@pytest.mark.parametrize("flag", ["--base", "--run"])
def test_cli_unknown_run_lists_known_runs(logdir, flag):
    argv = {"--base": "loop", "--run": "vectorized"}
    argv[flag] = "nope\x1b[2J"
    code, out, err = run_cli("diff", logdir, "--base", argv["--base"], "--run", argv["--run"])
    assert code == 1 and out == ""
    assert err == ("tb-layerprof: error: unknown run nope\\x1b[2J; runs with reports: "
                   "loop, other, vectorized\n")


def test_cli_window_step_missing_in_one_run(logdir):
    code, _, err = run_cli("diff", logdir, "--base", "loop", "--run", "other", "--window", "10")
    assert code == 1
    assert err == ("tb-layerprof: error: run other has no window at step 10; its windows "
                   "start at steps: 30\n")
    # latest compares each run's own latest window, whatever its step.
    code, out, _ = run_cli("diff", logdir, "--base", "loop", "--run", "other")
    assert code == 0 and "steps 30-34" in out and "steps 20-24" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["diff", "x", "--run", "b"], "--base"),
        (["diff", "x", "--base", "a"], "--run"),
        (["diff", "x", "--base", "a", "--run", "b", "--window", "all"], "'latest' or a step"),
        (["diff", "x", "--base", "a", "--run", "b", "--format", "csv"], "invalid choice"),
    ],
)
def test_cli_usage_errors(argv, fragment):
    code, _, err = run_cli(*argv)
    assert code == 2 and fragment in err and "Traceback" not in err


def test_cli_missing_logdir(tmp_path):
    code, _, err = run_cli("diff", tmp_path / "none", "--base", "a", "--run", "b")
    assert code == 1 and "log directory not found" in err


def test_cli_hostile_names(make_logdir, make_window):
    base, run = make_window(10), make_window(10)
    for window in (base, run):
        window.layers[1].path = HOSTILE
        window.host = "host\r\x1b[K"
    run.layers[1].class_name = "Cls\x1b[31m"
    run.layers[1].forward_us = 1.0
    logdir = make_logdir({"run\x1b[31m": [base], "b\u202e": [run]})
    code, out, err = run_cli("diff", logdir, "--base", "run\x1b[31m", "--run", "b\u202e")
    assert code == 0, err
    bad = [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0
           or c == "\u202e"]
    assert bad == []
    assert "Diff: run b\\u202e against base run\\x1b[31m" in out
    assert "host host\\r\\x1b[K" in out and "SlowDouble → Cls\\x1b[31m" in out
    # The hostile row stays one line of the table (its long escaped name is clipped).
    rows = [line for line in out.splitlines() if "SlowDouble → Cls" in line]
    assert len(rows) == 1 and rows[0].startswith("…") and "\\u202eend" in rows[0]
    code, out, _ = run_cli("diff", logdir, "--base", "run\x1b[31m", "--run", "b\u202e",
                           "--format", "json")
    assert "\x1b" not in out
    doc = json.loads(out)
    assert doc["base"] == "run\x1b[31m" and doc["layers"][0]["path"] == HOSTILE


def test_cli_several_hosts_note(make_logdir, make_window):
    # Three hosts; worker-1 computes longest (the straggler), worker-0 comes first by name.
    a, b, c = make_window(10), make_window(10, scale=2.0), make_window(10, scale=1.5)
    a.host, b.host, c.host = "worker-0", "worker-1", "worker-2"
    logdir = make_logdir({"x": [a, b, c], "y": [make_window(10)]})
    code, out, _ = run_cli("diff", logdir, "--base", "x", "--run", "y")
    assert code == 0
    assert "note: run x has 3 hosts at step 10; comparing host worker-1, the straggler" in out
    code, out, _ = run_cli("diff", logdir, "--base", "x", "--run", "y", "--format", "json")
    assert json.loads(out)["base_window"]["host"] == "worker-1"


def test_cli_ascii_terminal(logdir):
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    err = io.StringIO()
    code = cli.main(["diff", logdir, "--base", "loop", "--run", "vectorized"], out=out, err=err)
    out.flush()
    text = out.buffer.getvalue().decode("ascii")
    assert code == 0 and "SlowDouble -> FastDouble" in text and " us" in text


def test_cli_subprocess_no_tensorflow(logdir):
    code = (
        "import sys\n"
        "from tb_layerprof import cli\n"
        "rc = cli.main(['diff', sys.argv[1], '--base', 'loop', '--run', 'vectorized',"
        " '--format', 'json'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "               ('tensorflow', 'keras', 'tf_keras'))\n"
        "sys.stderr.write('RC=%s HEAVY=%s\\n' % (rc, heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, logdir], capture_output=True,
                          text=True, env=subprocess_env(), timeout=120)
    assert "RC=0 HEAVY=[]" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["run"] == "vectorized"
    proc = subprocess.run([sys.executable, "-m", "tb_layerprof", "diff", logdir, "--base",
                           "loop", "--run", "missing"], capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "unknown run missing; runs with reports: loop, other, vectorized" in proc.stderr


def test_help_is_the_docstring():
    code, out, _ = run_cli("diff", "--help")
    assert code == 0 and "Compare two runs layer by layer" in out and "--base" in out
    code, out, _ = run_cli()
    assert "diff" in out
