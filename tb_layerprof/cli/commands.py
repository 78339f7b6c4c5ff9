"""The subcommands of `tb-layerprof`, one small class each; its docstring is its help.

A command reads the log directory (`tb_layerprof.logdir`), compares windows where it must
(`diff`, `workers`), and writes what a renderer (`tb_layerprof.render`, `csv_export`)
made of it. Nothing here computes a figure.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import List, Optional, Sequence, TextIO, Tuple

from tb_layerprof import figures
from tb_layerprof import diff as layer_diff
from tb_layerprof import workers as layer_workers
from tb_layerprof.csv_export import window_rows_csv
from tb_layerprof.logdir import load_runs, select_windows
from tb_layerprof.render.columns import DEFAULT_TABLE_TOP
from tb_layerprof.render.diff_table import render_diff_table
from tb_layerprof.render.window_table import render_window_table
from tb_layerprof.render.workers_table import host_name, render_workers_table
from tb_layerprof.report import SCHEMA, RunReport, WindowReport
from tb_layerprof.units import Units, safe_text

PROG = "tb-layerprof"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 1."""


def read_runs(logdir: str, run: Optional[str], which: str, warn: TextIO) -> List[RunReport]:
    """`logdir.load_runs`, its skipped files reported on `warn` as the CLI's warnings.

    Raises `logdir.LogdirError` (one line for the user) when there is nothing to show.
    """
    def skipped(message: str) -> None:
        warn.write(f"{PROG}: warning: skipped unreadable file: {safe_text(message)}\n")

    return load_runs(logdir, run, which, skipped)


def render_json(runs: Sequence[RunReport]) -> str:
    """The report document (DESIGN.md section 4), each window with its `figures`."""
    return json.dumps(figures.reports_json(runs), indent=2) + "\n"


def render_table(
    runs: Sequence[RunReport],
    which: str = "latest",
    top: Optional[int] = DEFAULT_TABLE_TOP,
    units: Optional[Units] = None,
) -> str:
    """All selected windows of all runs as terminal text, pointing at `workers` where
    several workers profiled the same step."""
    units = units or Units()
    blocks = []
    for run in runs:
        windows = select_windows(run, which)
        blocks.extend(render_window_table(run.run, window, units, top) for window in windows)
        several = layer_workers.steps_with_several_hosts(RunReport(run=run.run, windows=windows))
        if several and blocks:
            blocks[-1] += (
                f"\n\nnote: several workers profiled step {several[-1]} of run"
                f" {safe_text(run.run)}; `{PROG} workers LOGDIR --run {safe_text(run.run)}`"
                " compares them (straggler layers)"
            )
    return "\n\n\n".join(blocks) + "\n"


# --------------------------------------------------------------------------- arguments


def _window_arg(value: str) -> str:
    value = value.strip().lower()
    if value in ("latest", "all"):
        return value
    try:
        return str(int(value))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'latest', 'all' or a step number, got {value!r}"
        ) from None


def _diff_window_arg(value: str) -> str:
    value = value.strip().lower()
    if value == "latest":
        return value
    try:
        return str(int(value))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'latest' or a step number, got {value!r}"
        ) from None


def _top_arg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (all) or more")
    return n


def _add_logdir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logdir", metavar="LOGDIR", help="log directory (as for TensorBoard)")


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    _add_logdir_arg(parser)
    parser.add_argument(
        "--run", metavar="RUN", help="only this run (a directory below LOGDIR, e.g. train)"
    )


def _add_format_arg(parser: argparse.ArgumentParser, *choices: str) -> None:
    parser.add_argument(
        "--format", choices=choices, default="table", help="output format (default: table)"
    )


def _add_top_arg(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--top", type=_top_arg, default=None, metavar="N", help=help)


# --------------------------------------------------------------------------- commands


class ReportCommand:
    """Show the per-layer report of every run below LOGDIR.

    The table shows, for the latest profile window of each run: the hot layers with
    their diagnoses, then every layer with forward and gradient time per step, memory,
    parameters and op counts (nested layers indented), then the time spent outside any
    layer. `--format json` prints the report document (all windows unless --window);
    `--format csv` one row per run, window and layer.
    """

    name = "report"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        _add_source_args(parser)
        _add_format_arg(parser, "table", "json", "csv")
        parser.add_argument(
            "--window",
            type=_window_arg,
            default=None,
            metavar="latest|all|STEP",
            help="which profile windows: the latest (table default), all (json/csv "
            "default), or the one starting at STEP",
        )
        _add_top_arg(
            parser,
            f"show the N layers with most total time (table default "
            f"{DEFAULT_TABLE_TOP}, csv default all; 0 = all; json always has all)",
        )

    def run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        which = args.window or ("latest" if args.format == "table" else "all")
        runs = read_runs(args.logdir, args.run, which, err)
        if args.format == "json":
            out.write(render_json(runs))
        elif args.format == "csv":
            out.write(window_rows_csv(runs, top=args.top))
        else:
            top = DEFAULT_TABLE_TOP if args.top is None else args.top
            out.write(render_table(runs, "all", top, Units.for_stream(out)))
        return EXIT_OK


class ExportCommand:
    """Write the report document (the `report --format json` output) to a file.

    All windows of all runs unless --run/--window narrow it down.
    """

    name = "export"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        _add_source_args(parser)
        parser.add_argument(
            "--out", metavar="FILE.json", required=True, help="file to write ('-' = stdout)"
        )
        parser.add_argument(
            "--window",
            type=_window_arg,
            default="all",
            metavar="latest|all|STEP",
            help="which profile windows (default: all)",
        )

    def run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        runs = read_runs(args.logdir, args.run, args.window, err)
        text = render_json(runs)
        if args.out == "-":
            out.write(text)
            return EXIT_OK
        # Through a temporary file: an interrupted export never leaves half a document.
        tmp = args.out + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, args.out)
        except OSError as e:
            raise CommandError(f"cannot write {args.out}: {e.strerror or e}") from None
        n = sum(len(r.windows) for r in runs)
        err.write(f"wrote {n} window(s) of {len(runs)} run(s) to {args.out}\n")
        return EXIT_OK


def pick_window(run: RunReport, which: str) -> Tuple[WindowReport, List[str]]:
    """The window of `run` to compare: the latest or the one at step `which`.

    Windows of several hosts at that step: the straggler's (`workers.straggler_host`, the
    host with the most compute, as the tab and `/diff` pick), with a note."""
    windows = select_windows(run, which)
    if not windows:
        steps = sorted({w.step for w in run.windows})
        raise CommandError(
            f"run {safe_text(run.run)} has no window at step {which}; its windows start at"
            f" steps: " + ", ".join(str(s) for s in steps)
        )
    straggler = layer_workers.straggler_host(windows)
    window = [w for w in windows if str(w.host) == straggler][-1]
    notes = []
    hosts = {str(w.host) for w in windows}
    if len(hosts) > 1:
        notes.append(
            f"run {run.run} has {len(hosts)} hosts at step {window.step}; comparing"
            f" host {window.host}, the straggler (most compute; `tb-layerprof workers`"
            f" compares them all)"
        )
    return window, notes


class DiffCommand:
    """Compare two runs layer by layer: what got faster, slower, added or removed.

    Takes the latest profile window of each run (or the one starting at --window STEP in
    both; of several hosts, the straggler's: the most compute) and shows, per layer matched by path, forward + gradient time per step in the
    base and in the run, the delta (run - base) and ratio (run / base), forward and
    gradient separately and the change in memory, sorted by |delta|; then step time, op
    time and the time outside layers. Layers found in one run only show as added/removed.
    `--format json` prints {"schema": 1, "base": ..., "run": ..., "layers": [...]}.

    Example: tb-layerprof diff logs --base loop --run vectorized
    """

    name = "diff"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        _add_logdir_arg(parser)
        parser.add_argument(
            "--base", metavar="RUN_A", required=True, help="the run to compare against"
        )
        parser.add_argument(
            "--run", metavar="RUN_B", required=True, help="the run to compare (the new one)"
        )
        _add_format_arg(parser, "table", "json")
        parser.add_argument(
            "--window", type=_diff_window_arg, default="latest", metavar="latest|STEP",
            help="compare the latest window of each run (default), or the windows starting"
            " at STEP in both",
        )
        _add_top_arg(
            parser,
            f"table: show the N layers with the largest |delta| (default "
            f"{DEFAULT_TABLE_TOP}; 0 = all; json always has all)",
        )

    def run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        runs = {}
        for name in dict.fromkeys((args.base, args.run)):  # only the two runs' files
            runs.update((r.run, r) for r in read_runs(args.logdir, name, "all", err))
        base, base_notes = pick_window(runs[args.base], args.window)
        new, run_notes = pick_window(runs[args.run], args.window)
        doc = layer_diff.diff_windows(base, new, args.base, args.run)
        notes = base_notes + run_notes
        if notes:
            doc["notes"] = notes
        if args.format == "json":
            out.write(json.dumps(doc, indent=2) + "\n")
        else:
            top = DEFAULT_TABLE_TOP if args.top is None else args.top
            out.write(render_diff_table(doc, Units.for_stream(out), top))
        return EXIT_OK


def select_worker_steps(run: RunReport, which: str) -> List[int]:
    """Steps of `run` with several hosts: the latest, all, or the given one."""
    several = layer_workers.steps_with_several_hosts(run)
    if not several or which == "all":
        return several
    if which == "latest":
        return several[-1:]
    return [s for s in several if s == int(which)]


def _no_workers_error(runs: Sequence[RunReport], which: str) -> CommandError:
    hosts = sorted({str(w.host) for r in runs for w in r.windows},
                   key=layer_workers.host_sort_key)
    where = f"at step {which}" if which not in ("latest", "all") else "at any step"
    return CommandError(
        f"no run has windows of several workers {where}; hosts found: "
        + (", ".join(host_name(h) for h in hosts) or "none")
        + ". Each worker of a multi-worker job files its windows under its identity"
        " (TF_CONFIG task, e.g. worker-0) when all share one log_dir."
    )


class WorkersCommand:
    """Compare the workers of a multi-worker job: per-worker times and straggler layers.

    Every worker of a multi-worker job (e.g. MultiWorkerMirroredStrategy) profiles the
    same steps and files its own window under its worker identity (from TF_CONFIG). For
    the latest step profiled by several workers (or --window all|STEP), this shows each
    worker's step time, op time, compute (op time outside collectives) and collective
    time, which worker is slowest and which layer makes it slow, then every layer's time
    on each worker, sorted by the spread between the slowest and the fastest worker.
    `--format json` prints {"schema": 1, "runs": [{"run": ..., "steps": [...]}]}, one
    entry per step as documented in tb_layerprof/workers.py.

    Example: tb-layerprof workers logs --run train
    """

    name = "workers"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        _add_source_args(parser)
        _add_format_arg(parser, "table", "json")
        parser.add_argument(
            "--window", type=_window_arg, default="latest", metavar="latest|all|STEP",
            help="which step: the latest profiled by several workers (default), all such"
            " steps, or the window starting at STEP",
        )
        _add_top_arg(
            parser,
            f"table: show the N layers with the largest spread (default "
            f"{DEFAULT_TABLE_TOP}; 0 = all; json always has all)",
        )

    def run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        runs = read_runs(args.logdir, args.run, "all", err)
        picked = [(run, select_worker_steps(run, args.window)) for run in runs]
        picked = [(run, steps) for run, steps in picked if steps]
        if not picked:
            raise _no_workers_error(runs, args.window)
        docs = [(run.run, layer_workers.compare_run(run, steps)) for run, steps in picked]
        if args.format == "json":
            payload = {
                "schema": SCHEMA,
                "runs": [{"run": name, "steps": steps} for name, steps in docs],
            }
            out.write(json.dumps(payload, indent=2) + "\n")
            return EXIT_OK
        top = DEFAULT_TABLE_TOP if args.top is None else args.top
        units = Units.for_stream(out)
        blocks = [render_workers_table(name, doc, units, top) for name, steps in docs
                  for doc in steps]
        out.write("\n\n".join(blocks))
        return EXIT_OK


COMMANDS = (ReportCommand, ExportCommand, DiffCommand, WorkersCommand)
