"""The `tb-layerprof` command: rendering, selection, and every way a log directory can be bad."""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys

import pytest

from tb_layerprof import cli
from tb_layerprof.report import Hint, LayerStats, WindowReport
from tb_layerprof import figures
from tb_layerprof.summary import (
    ReportWriter,
    create_metadata,
    load_reports,
    tag_for_step,
)

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSI = re.compile(r"\x1b")


def run_cli(*argv):
    """main(argv) in-process -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def table_rows(text):
    """Layer rows of the (first) table in `text`: list of (raw line, first cell)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith("forward/gradient") or line.startswith("..."):
            break
        rows.append(line)
    return rows


def row_name(row):
    """First cell of a table row, with its indentation."""
    body = row.lstrip(" ")
    return " " * (len(row) - len(body)) + body.split("  ")[0]


@pytest.fixture
def logdir(make_logdir, make_window):
    return make_logdir({"train": [make_window(10), make_window(20, scale=1.5)]})


# --------------------------------------------------------------------------- table


def test_table_shows_latest_window_hot_layers_first_then_sorted_layers(logdir):
    code, out, err = run_cli("report", logdir)
    assert code == 0, err
    assert err == ""
    # Header of the latest window only.
    assert "Run train | steps 20-24 (5 profiled) | host worker-0" in out
    assert "steps 10-14" not in out
    # Hot layers (with diagnosis and evidence) come before the table.
    hot = out.index("Hot layers")
    assert hot < out.index("\nlayer ")
    assert "1. slow_double (SlowDouble, custom)" in out
    assert "[python-loop] 193 ops per call for a 64-column output" in out
    assert "evidence: ops_per_call=193, output_elements=4096, top_op=StridedSlice" in out
    # Table: sorted by total desc, children right under their parent, indented.
    names = [row_name(row) for row in table_rows(out)]
    assert [n.strip() for n in names] == [
        "slow_double",
        "block",
        "inner_dense",
        "norm",
        "dense",
        "sigmoid_sin",
        "sigmoid_sin_custom_grad",
        "dense_1",
        "fast_double",
    ]
    assert names[2] == "  inner_dense" and names[3] == "  norm"
    # Human units, scale 1.5: slow_double forward 2250 µs, gradient 4650 µs.
    slow = table_rows(out)[0].split()
    assert slow[:7] == ["slow_double", "2.25", "ms", "4.65", "ms", "6.90", "ms"]
    assert "256.0 KiB" in table_rows(out)[0] and "512.0 KiB" in table_rows(out)[0]
    assert "python-loop,expensive-gradient" in table_rows(out)[0]
    fast = table_rows(out)[-1]
    assert "14 µs" in fast and "16 µs" in fast  # 9.5*1.5=14.25, 11*1.5=16.5
    assert re.search(r" \*( |$)", fast)  # custom flag
    dense = next(r for r in table_rows(out) if r.startswith("dense "))
    assert not re.search(r" \*( |$)", dense)
    # The rest, and how much is attributed.
    assert "Outside layers (per step): optimizer 960 µs, loss 52 µs" in out
    assert "unattributed 19 µs" in out
    assert re.search(r"Attributed: 99\.\d% of op time", out)


def test_percent_of_step_uses_step_time(make_logdir, make_window):
    window = make_window(10)
    window.step_time_us = 10000.0
    code, out, _ = run_cli("report", make_logdir({"train": [window]}))
    assert code == 0
    slow = table_rows(out)[0]
    assert "46.0%" in slow  # (1500 + 3100) / 10000


def test_window_all_and_step_selection(logdir):
    code, out, _ = run_cli("report", logdir, "--window", "all")
    assert code == 0
    assert out.index("steps 10-14") < out.index("steps 20-24")
    code, out, _ = run_cli("report", logdir, "--window", "10")
    assert code == 0
    assert "steps 10-14" in out and "steps 20-24" not in out
    assert "1.50 ms" in table_rows(out)[0]


def test_top_limits_table_rows(logdir):
    code, out, _ = run_cli("report", logdir, "--top", "3")
    assert code == 0
    assert len(table_rows(out)) == 3
    assert "6 more layers not shown" in out
    code, out, _ = run_cli("report", logdir, "--top", "0")
    assert len(table_rows(out)) == 9


def test_all_runs_are_reported_sorted_and_run_filter(make_logdir, make_window):
    logdir = make_logdir({"train": [make_window(10)], "eval": [make_window(30, scale=0.5)]})
    code, out, _ = run_cli("report", logdir)
    assert code == 0
    assert out.index("Run eval |") < out.index("Run train |")
    code, out, _ = run_cli("report", logdir, "--run", "train")
    assert code == 0
    assert "Run train |" in out and "Run eval" not in out


def test_nested_run_directories(make_logdir, make_window):
    logdir = make_logdir({"exp1/train": [make_window(10)], ".": [make_window(12)]})
    code, out, _ = run_cli("report", logdir)
    assert code == 0
    assert "Run . |" in out and "Run exp1/train |" in out
    code, out, _ = run_cli("report", logdir, "--run", "exp1/train", "--format", "json")
    assert [r["run"] for r in json.loads(out)["runs"]] == ["exp1/train"]


def test_latest_keeps_every_host_of_the_last_step(make_logdir, make_window):
    a, b = make_window(10), make_window(10)
    b.host = "worker-1"
    old = make_window(5)
    code, out, _ = run_cli("report", make_logdir({"train": [old, a, b]}))
    assert code == 0
    assert "host worker-0" in out and "host worker-1" in out
    assert "steps 5-9" not in out


def test_memory_unavailable_and_warnings(make_logdir, make_window):
    window = make_window(10)
    window.memory_available = False
    window.warnings = ["3 steps had no step marker"]
    window.mode = "eager"
    code, out, _ = run_cli("report", make_logdir({"train": [window]}))
    assert code == 0
    assert "eager mode" in out
    assert "warning: 3 steps had no step marker" in out
    assert "n/a" in table_rows(out)[0]
    assert "KiB" not in table_rows(out)[0].split("n/a")[0]


def test_window_without_layers_or_time(make_logdir):
    empty = WindowReport(step=3, steps=1, host="h")
    code, out, err = run_cli("report", make_logdir({"train": [empty]}))
    assert code == 0, err
    assert "(no layers in this window)" in out
    assert "no op time recorded" in out


def test_damaged_report_values_do_not_crash(make_logdir, make_window):
    """Reports are data from disk: a parent cycle and non-numeric figures still render."""
    window = make_window(10)
    window.layers.append(LayerStats(path="a", parent="b", forward_us=5.0))
    window.layers.append(LayerStats(path="b", parent="a", forward_us=4.0))
    window.layers.append(LayerStats(path="self", parent="self", forward_us=3.0))
    window.layers[0].hints = [Hint(code="x", message="m", evidence={"k": [1, 2], "b": None})]
    damaged = make_window(20)
    damaged.layers[0].backward_us = "lots"  # type: ignore[assignment]
    logdir = make_logdir({"train": [window, damaged]})
    for fmt in ("table", "csv", "json"):
        code, out, err = run_cli("report", logdir, "--format", fmt, "--top", "0", "--window", "all")
        assert code == 0, (fmt, err)
        assert "internal error" not in err and "Traceback" not in err
        # The damaged window is named with the field that is wrong; the other one renders.
        assert "'backward_us' is not a number" in err, (fmt, err)
    code, out, _ = run_cli("report", logdir, "--top", "0")
    names = [r.split()[0] for r in table_rows(out)]
    assert {"a", "b", "self"} <= set(names)


def test_units():
    u = cli.Units()
    assert u.time(0) == "0"
    assert u.time(9.5) == "9.5 µs"
    assert u.time(640) == "640 µs"
    assert u.time(1500) == "1.50 ms"
    assert u.time(2_500_000) == "2.50 s"
    assert u.size(0) == "0 B"
    assert u.size(1023) == "1023 B"
    assert u.size(1024) == "1.0 KiB"
    assert u.size(3 * 1024 * 1024) == "3.0 MiB"
    assert u.size(5 * 1024**3) == "5.0 GiB"
    ascii_stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert cli.Units.for_stream(ascii_stream).time(5) == "5.0 us"


# --------------------------------------------------------------------------- json / csv


def test_json_is_exactly_the_report_document_and_round_trips(logdir, make_window):
    code, out, err = run_cli("report", logdir, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    runs, errors = load_reports(logdir)
    assert errors == []
    assert doc == figures.reports_json(runs)
    assert doc["schema"] == 1
    assert [r["run"] for r in doc["runs"]] == ["train"]
    windows = [WindowReport.from_json(w) for w in doc["runs"][0]["windows"]]
    assert windows == [make_window(10), make_window(20, scale=1.5)]
    first = doc["runs"][0]["windows"][0]["layers"][1]
    assert first["path"] == "slow_double" and first["forward_us"] == 1500.0
    assert first["hints"][0]["code"] == "python-loop"


def test_json_window_selection(logdir):
    code, out, _ = run_cli("report", logdir, "--format", "json", "--window", "latest")
    assert code == 0
    assert [w["step"] for w in json.loads(out)["runs"][0]["windows"]] == [20]
    code, out, _ = run_cli("report", logdir, "--format", "json", "--window", "10")
    assert [w["step"] for w in json.loads(out)["runs"][0]["windows"]] == [10]


def test_csv_rows_per_run_window_layer(make_logdir, make_window):
    logdir = make_logdir({"train": [make_window(10), make_window(20)], "eval": [make_window(7)]})
    code, out, err = run_cli("report", logdir, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 * 9
    assert list(rows[0]) == list(cli.CSV_FIELDS)
    assert [(r["run"], r["step"]) for r in rows[::9]] == [("eval", "7"), ("train", "10"),
                                                          ("train", "20")]
    slow = rows[9]
    assert slow["path"] == "slow_double" and slow["custom"] == "1"
    assert float(slow["forward_us"]) == 1500.0 and float(slow["total_us"]) == 4600.0
    assert int(slow["forward_alloc_bytes"]) == 262144 and slow["ops_per_call"] == "193"
    assert slow["hints"] == "python-loop;expensive-gradient"
    inner = next(r for r in rows if r["path"] == "block/inner_dense")
    assert inner["parent"] == "block" and inner["depth"] == "1"
    code, out, _ = run_cli("report", logdir, "--format", "csv", "--top", "2", "--window", "latest")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["run"], r["path"]) for r in rows] == [
        ("eval", "slow_double"), ("eval", "block"), ("train", "slow_double"), ("train", "block")]


def test_export_writes_the_json_document(logdir, tmp_path):
    target = tmp_path / "out.json"
    code, out, err = run_cli("export", logdir, "--out", target)
    assert code == 0, err
    assert out == ""
    assert "wrote 2 window(s) of 1 run(s)" in err
    assert json.loads(target.read_text()) == json.loads(run_cli("report", logdir, "--format",
                                                                "json")[1])
    code, _, err = run_cli("export", logdir, "--out", tmp_path / "no" / "such" / "x.json")
    assert code == 1 and "cannot write" in err


# --------------------------------------------------------------------------- bad inputs


def assert_one_line_error(code, out, err, *fragments):
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("tb-layerprof: error: ")
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def test_missing_logdir(tmp_path):
    code, out, err = run_cli("report", tmp_path / "nope")
    assert_one_line_error(code, out, err, "log directory not found", "nope")
    assert len(err.strip().splitlines()) == 1


def test_logdir_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_line_error(*run_cli("report", f), "not a directory")


def test_empty_logdir_explains_why(tmp_path):
    code, out, err = run_cli("report", tmp_path)
    assert_one_line_error(code, out, err, "no tb_layerprof reports found", "profile window")


def test_logdir_with_profiles_but_no_report(tmp_path):
    d = tmp_path / "train" / "plugins" / "profile" / "2025_01_01"
    d.mkdir(parents=True)
    (d / "host.xplane.pb").write_bytes(b"")
    assert_one_line_error(*run_cli("report", tmp_path), "1 raw profile", "analysis may have failed")


def test_logdir_with_other_summaries_only(tmp_path):
    run = tmp_path / "train"
    run.mkdir()
    with open(run / "events.out.tfevents.1.host", "wb") as f:
        w = RecordWriter(f)
        w.write(event_pb2.Event(file_version="brain.Event:2").SerializeToString())
        value = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
        w.write(event_pb2.Event(step=1, summary=summary_pb2.Summary(value=[value]))
                .SerializeToString())
    assert_one_line_error(*run_cli("report", tmp_path), "none holds a tb_layerprof report")


def test_unknown_run_lists_known_runs(make_logdir, make_window):
    logdir = make_logdir({"train": [make_window(10)], "eval": [make_window(10)]})
    code, out, err = run_cli("report", logdir, "--run", "validation")
    assert_one_line_error(code, out, err, "unknown run validation", "eval, train")


def test_unknown_window_step_lists_steps(logdir):
    assert_one_line_error(*run_cli("report", logdir, "--window", "11"), "step 11", "10, 20")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["report"], "LOGDIR"),
        (["report", "x", "--window", "soon"], "expected 'latest', 'all' or a step"),
        (["report", "x", "--top", "-1"], "0 (all) or more"),
        (["report", "x", "--format", "xml"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors(argv, fragment):
    code, out, err = run_cli(*argv)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err


def test_help_is_the_docstring():
    code, out, _ = run_cli("report", "--help")
    assert code == 0
    assert "Show the per-layer report of every run below LOGDIR." in out
    assert "--window" in out
    code, out, _ = run_cli()
    assert code == 2 and "report" in out and "export" in out


def write_random(path, n, seed=0):
    path.write_bytes(random.Random(seed).randbytes(n))


def write_garbage_record(path):
    """A correctly framed TFRecord whose payload is not an Event."""
    with open(path, "wb") as f:
        RecordWriter(f).write(random.Random(1).randbytes(300))


def write_garbage_report(path):
    """A valid Event with layerprof metadata whose tensor is not a report."""
    value = summary_pb2.Summary.Value(
        tag=tag_for_step(10),
        metadata=create_metadata(),
        tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"\x00{not json"]),
    )
    with open(path, "wb") as f:
        RecordWriter(f).write(
            event_pb2.Event(step=10, summary=summary_pb2.Summary(value=[value])).SerializeToString()
        )


CORRUPTIONS = {
    "random-bytes": lambda p: write_random(p, 4096),
    "garbage-record": write_garbage_record,
    "garbage-report": write_garbage_report,
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_file_alone_fails_with_message(tmp_path, kind):
    run = tmp_path / "train"
    run.mkdir()
    bad = run / "events.out.tfevents.123.host.layerprof"
    CORRUPTIONS[kind](bad)
    code, out, err = run_cli("report", tmp_path)
    assert_one_line_error(code, out, err, "no report could be read", "1 unreadable")
    assert "warning: skipped unreadable file" in err and str(bad) in err


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_good_run_beside_corrupt_one_is_reported(make_logdir, make_window, kind, fmt):
    logdir = make_logdir({"train": [make_window(10)]})
    os.makedirs(os.path.join(logdir, "broken"))
    bad = os.path.join(logdir, "broken", "events.out.tfevents.9.host")
    CORRUPTIONS[kind](pathlib.Path(bad))
    code, out, err = run_cli("report", logdir, "--format", fmt)
    assert code == 0
    assert "Traceback" not in err
    assert err.count("\n") == 1 and "warning: skipped unreadable file" in err and bad in err
    if fmt == "json":
        assert [r["run"] for r in json.loads(out)["runs"]] == ["train"]
    elif fmt == "csv":
        assert {r["run"] for r in csv.DictReader(io.StringIO(out))} == {"train"}
    else:
        assert "Run train |" in out and "broken" not in out


def test_corrupt_file_in_the_same_run_keeps_the_good_windows(make_logdir, make_window):
    logdir = make_logdir({"train": [make_window(10)]})
    bad = pathlib.Path(logdir, "train", "events.out.tfevents.99.other-host")
    write_garbage_report(bad)
    code, out, err = run_cli("report", logdir, "--format", "json")
    assert code == 0
    assert [w["step"] for w in json.loads(out)["runs"][0]["windows"]] == [10]
    assert "warning: skipped unreadable file" in err and str(bad) in err


def test_one_run_asked_for_reads_only_its_files(make_logdir, make_window):
    """--run (and diff's two runs) read only those runs' event files: a log directory of
    hundreds of runs stays fast, and a broken run elsewhere is not even opened."""
    logdir = make_logdir({"a": [make_window(10)], "b": [make_window(10, scale=0.5)]})
    os.makedirs(os.path.join(logdir, "broken"))
    write_garbage_report(pathlib.Path(logdir, "broken", "events.out.tfevents.9.host"))
    code, out, err = run_cli("report", logdir, "--run", "a")
    assert code == 0 and err == "" and "Run a |" in out
    code, out, err = run_cli("diff", logdir, "--base", "a", "--run", "b")
    assert code == 0 and err == "", err
    # An unknown run still lists the runs that exist (reading everything to say so).
    code, out, err = run_cli("report", logdir, "--run", "nope")
    assert code == 1 and "unknown run nope; runs with reports: a, b" in err


def test_truncated_file_keeps_complete_windows(make_logdir, make_window):
    logdir = make_logdir({"train": [make_window(10), make_window(20)]})
    (name,) = os.listdir(os.path.join(logdir, "train"))
    path = os.path.join(logdir, "train", name)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 100)  # a writer killed in the middle of the second window
    code, out, err = run_cli("report", logdir, "--format", "json")
    assert code == 0, err
    assert [w["step"] for w in json.loads(out)["runs"][0]["windows"]] == [10]
    with open(path, "r+b") as f:
        f.truncate(30)  # not even the first window
    assert_one_line_error(*run_cli("report", logdir), "no tb_layerprof reports")


def test_unexpected_failure_is_one_line(monkeypatch, logdir):
    def boom(*a, **k):
        raise RuntimeError("kaput")

    # Where the report command looks it up (tb_layerprof.cli re-exports the same function).
    monkeypatch.setattr(cli.commands, "render_table", boom)
    monkeypatch.delenv("TB_LAYERPROF_DEBUG", raising=False)
    code, out, err = run_cli("report", logdir)
    assert code == 1
    assert err.strip() == ("tb-layerprof: internal error: RuntimeError: kaput "
                           "(set TB_LAYERPROF_DEBUG=1 to see the traceback)")


# --------------------------------------------------------------------------- hostile names

HOSTILE = 'evil\x1b[2J\x1b]0;pwned\x07\nsecond line,"quoted",\r\u202eend'


def hostile_window(make_window):
    window = make_window(10)
    slow = window.layers[1]
    slow.path = HOSTILE
    slow.class_name = "Cls\x1b[31m"
    slow.hints[0].message = "red \x1b[31malert\x1b[0m\nnext"
    slow.hints[0].evidence = {"op\x1b": "x\ny"}
    slow.hints[0].code = "code\x1b[1m"
    window.host = "host\r\x1b[K"
    window.warnings = ["warn\x1b[5m"]
    return window


def test_hostile_names_table_emits_no_control_characters(make_logdir, make_window):
    window = hostile_window(make_window)
    run_name = "run\x1b[31m"
    logdir = make_logdir({run_name: [window]})
    code, out, err = run_cli("report", logdir)
    assert code == 0, err
    bad = [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0
           or c == "\u202e"]
    assert bad == []
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\nsecond line" in out
    assert "\\u202eend" in out
    assert "red \\x1b[31malert" in out and "Cls\\x1b[31m" in out
    assert "Run run\\x1b[31m | " in out and "host host\\r\\x1b[K" in out
    # The hostile row is one line of the table: every row has the same column count.
    rows = table_rows(out)
    assert len(rows) == 9
    assert any(r.startswith("evil\\x1b") or "…" in r.split("  ")[0] for r in rows)
    # Error messages too: an unknown run lists the escaped name.
    code, _, err = run_cli("report", logdir, "--run", "x\x1b[2J")
    assert code == 1 and "\x1b" not in err and "run\\x1b[31m" in err


def test_hostile_names_csv_and_json_keep_exact_values(make_logdir, make_window):
    logdir = make_logdir({"train": [hostile_window(make_window)]})
    code, out, err = run_cli("report", logdir, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert len(rows) == 9
    assert [r["path"] for r in rows][0] == HOSTILE
    assert all(len(r) == len(cli.CSV_FIELDS) and None not in r for r in rows)
    code, out, _ = run_cli("report", logdir, "--format", "json")
    assert "\x1b" not in out  # JSON escapes control characters
    doc = json.loads(out)
    assert doc["runs"][0]["windows"][0]["layers"][1]["path"] == HOSTILE


# --------------------------------------------------------------------------- as a program


def test_module_entry_point_and_no_tensorflow_import(logdir):
    """`python -m tb_layerprof report` works, and the reading path imports no TensorFlow."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['tb-layerprof', 'report', sys.argv[1], '--format', 'json']\n"
        "try:\n"
        "    runpy.run_module('tb_layerprof', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "               ('tensorflow', 'keras', 'tf_keras', 'jax', 'torch'))\n"
        "sys.stderr.write('RC=%s HEAVY=%s\\n' % (rc, heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, logdir],
        capture_output=True, text=True, env=subprocess_env(), timeout=120,
    )
    assert "RC=0 HEAVY=[]" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["runs"][0]["run"] == "train"


def test_subprocess_table_errors_and_exit_codes(logdir, tmp_path):
    env = subprocess_env()
    env["PYTHONIOENCODING"] = "utf-8"
    proc = subprocess.run([sys.executable, "-m", "tb_layerprof", "report", logdir],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "slow_double" in proc.stdout and proc.stderr == ""
    proc = subprocess.run([sys.executable, "-m", "tb_layerprof", "report", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("tb-layerprof: error: log directory not found")
    assert "Traceback" not in proc.stderr


def test_ascii_terminal_gets_ascii_units(logdir, make_window):
    env = subprocess_env()
    env["PYTHONIOENCODING"] = "ascii"
    hostile = hostile_window(make_window)
    hostile.layers[2].path = "naïve_日本"
    d = os.path.join(os.path.dirname(logdir), "asciilogs")
    w = ReportWriter(os.path.join(d, "train"))
    w.write(hostile)
    w.close()
    proc = subprocess.run([sys.executable, "-m", "tb_layerprof", "report", d],
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("ascii")  # pure ASCII, or this raises
    assert " us " in text and "na\\xefve_\\u65e5\\u672c" in text


def test_broken_pipe_is_quiet(make_logdir, make_window):
    logdir = make_logdir({f"run{i}": [make_window(10)] for i in range(40)})
    proc = subprocess.Popen([sys.executable, "-m", "tb_layerprof", "report", logdir],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "Error" not in stderr


@pytest.mark.skipif(shutil.which("tb-layerprof") is None, reason="package not pip-installed")
def test_console_script(logdir):
    proc = subprocess.run(["tb-layerprof", "report", logdir, "--format", "csv"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("run,step,steps,host,")


def test_evidence_rates_and_roof_shares_read_in_their_units():
    from tb_layerprof.render.window_table import format_evidence
    from tb_layerprof.units import Units

    text = format_evidence({"achieved_flops_per_s": 3.2e7, "achieved_bytes_per_s": 2.0 * 2**30,
                            "share_of_peak_flops": 0.00031, "share_of_peak_bytes": 0.5,
                            "alloc_bytes": 4096}, Units(), limit=9)
    assert "achieved_flops_per_s=0.032 GFLOP/s" in text
    assert "achieved_bytes_per_s=2.0 GiB/s" in text or "achieved_bytes_per_s=2.00 GiB/s" in text, text
    assert "share_of_peak_flops=0.03%" in text and "share_of_peak_bytes=50.00%" in text
    assert "alloc_bytes=4.0 KiB" in text or "alloc_bytes=4.00 KiB" in text, text
