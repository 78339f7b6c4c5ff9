"""The one CSV writer (`tb_layerprof.csv_export`) and its spreadsheet formula guard."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from tb_layerprof import csv_export
from tb_layerprof.csv_export import CSV_FIELDS, guard_cell, is_plain_number, window_rows_csv
from tb_layerprof.report import RunReport
from tests.test_cli import HOSTILE, run_cli, subprocess_env

# What OWASP lists as CSV injection payloads, and what the old guard let through.
FORMULAS = [
    "=HYPERLINK(\"http://x\",\"y\")",
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "-5;cmd",
    "-1e3+cmd",
    "-0x10",
    "- 5",
    "-",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]
NUMBERS = ["-5", "-5.25", "+1.5", "-.5", "1e-3", "-1e-3", "-2E+10", "0", "42"]


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_text_gets_a_quote(value):
    assert not is_plain_number(value)
    assert guard_cell(value) == "'" + value


@pytest.mark.parametrize("value", NUMBERS)
def test_plain_numbers_stay(value):
    assert is_plain_number(value)
    assert guard_cell(value) == value


@pytest.mark.parametrize("value", [-5, -2.5, 0, 1e-3, float("-inf")])
def test_python_numbers_stay_numbers(value):
    assert guard_cell(value) == value


@pytest.mark.parametrize("value", ["layer", "", "a=b", "x-1", "dense_1/kernel", HOSTILE])
def test_harmless_text_is_unchanged(value):
    assert guard_cell(value) == value


def test_none_and_bool_are_written_as_the_csv_module_would():
    assert guard_cell(None) == "" and guard_cell(True) == "True"


def hostile_run(make_window, name="@run"):
    window = make_window(10)
    window.host = "\tworker"
    slow = window.layers[1]
    slow.path = "=HYPERLINK(\"http://evil\",\"click\")"
    slow.class_name = "+cmd|' /C calc'!A0"
    slow.hints[0].code = "-2+3+cmd|' /C calc'!A0"
    window.layers[2].path = "-5"  # a number-like name is left alone: it is inert
    return RunReport(run=name, windows=[window])


def test_hostile_layer_class_hint_run_and_host_are_guarded(make_window):
    run = hostile_run(make_window)
    rows = rows_of(window_rows_csv([run]))
    assert rows and all(tuple(r) == CSV_FIELDS for r in rows)
    assert {r["run"] for r in rows} == {"'@run"}
    assert {r["host"] for r in rows} == {"'\tworker"}
    slow = next(r for r in rows if r["path"].startswith("'=HYPERLINK"))
    assert slow["path"] == "'=HYPERLINK(\"http://evil\",\"click\")"
    assert slow["class_name"] == "'+cmd|' /C calc'!A0"
    assert slow["hints"].startswith("'-2+3+cmd|")
    assert any(r["path"] == "-5" for r in rows)
    # After the guard no field of any row starts a formula.
    for row in rows:
        for field, value in row.items():
            if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert is_plain_number(value), (field, value)


def test_the_cli_writes_the_same_guarded_csv(make_logdir, make_window):
    run = hostile_run(make_window, name="train")
    logdir = make_logdir({"train": run.windows})
    code, out, err = run_cli("report", logdir, "--format", "csv")
    assert code == 0, err
    assert out == window_rows_csv([run])
    assert any(r["class_name"] == "'+cmd|' /C calc'!A0" for r in rows_of(out))


def test_numbers_stay_numbers(make_window):
    window = make_window(10)
    window.layers[0].forward_us = -3.5  # damaged report: still a number, not text
    rows = rows_of(window_rows_csv(RunReport(run="r", windows=[window])))
    first = next(r for r in rows if r["path"] == window.layers[0].path)
    assert first["forward_us"] == "-3.5"
    assert float(rows[0]["step_time_us"]) == window.step_time_us


def test_bare_windows_single_run_and_top(make_window):
    a, b = make_window(10), make_window(20)
    as_runs = window_rows_csv([RunReport(run="train", windows=[a, b])])
    assert window_rows_csv([a, b], run="train") == as_runs
    assert window_rows_csv(RunReport(run="train", windows=[a, b])) == as_runs
    rows = rows_of(window_rows_csv(a, run="train", top=2))
    assert len(rows) == 2 and {r["step"] for r in rows} == {"10"}
    assert window_rows_csv([]) == ",".join(CSV_FIELDS) + "\r\n"


def test_needs_no_cli_and_no_tensorflow():
    code = ("import sys, tb_layerprof.csv_export\n"
            "print(sorted(m for m in sys.modules if m.startswith('tb_layerprof.cli')\n"
            "             or m.split('.')[0] in ('tensorflow', 'keras')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    assert csv_export.window_rows_csv is window_rows_csv
