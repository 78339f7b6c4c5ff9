"""`tb-layerprof`: read tb_layerprof reports from a log directory, in the terminal.

This module holds the entry point (`main`, the console script `tb_layerprof.cli:main`) and
the argument parser; the subcommands are in `commands` (one small class each, its
docstring its help). The reading path imports no TensorFlow (only `tb_layerprof.summary`
/`report`), so it starts in well under a second.

    tb-layerprof report LOGDIR [--run RUN] [--format table|json|csv]
                               [--window latest|all|STEP] [--top N]
    tb-layerprof export LOGDIR --out FILE.json [--run RUN] [--window ...]
    tb-layerprof diff LOGDIR --base RUN_A --run RUN_B [--format table|json]
                             [--window latest|STEP] [--top N]
    tb-layerprof workers LOGDIR [--run RUN] [--format table|json]
                                [--window latest|all|STEP] [--top N]
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from typing import Optional, Sequence, TextIO

from tb_layerprof.cli.commands import (
    COMMANDS,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CommandError,
    DiffCommand,
    ExportCommand,
    ReportCommand,
    WorkersCommand,
    pick_window,
    read_runs,
    render_json,
    render_table,
    select_worker_steps,
)
from tb_layerprof.logdir import LogdirError, filter_windows, select_windows
from tb_layerprof.units import safe_text

# Re-exported: what callers of `tb_layerprof.cli` (tests, the demo, benchmarks) use by
# these names. Each lives in one place; these are the same objects.
from tb_layerprof.csv_export import CSV_FIELDS, window_rows_csv  # noqa: F401
from tb_layerprof.figures import (  # noqa: F401
    hot_layers,
    layer_self_total,
    layer_total,
    layer_tree,
    step_basis,
    window_op_time,
)
from tb_layerprof.render.columns import DEFAULT_TABLE_TOP  # noqa: F401
from tb_layerprof.render.diff_table import render_diff_table  # noqa: F401
from tb_layerprof.render.window_table import (  # noqa: F401
    display_name,
    format_evidence,
    render_window_table,
)
from tb_layerprof.render.workers_table import render_workers_table  # noqa: F401
from tb_layerprof.units import Units  # noqa: F401

__all__ = [
    "main", "build_parser", "COMMANDS", "PROG", "CommandError", "LogdirError",
    "ReportCommand", "ExportCommand", "DiffCommand", "WorkersCommand",
    "read_runs", "select_windows", "filter_windows", "pick_window", "select_worker_steps",
    "render_table", "render_window_table", "render_diff_table", "render_workers_table",
    "render_json", "window_rows_csv", "CSV_FIELDS", "Units", "safe_text", "display_name",
    "format_evidence",
    "hot_layers", "layer_self_total", "layer_total", "layer_tree", "step_basis",
    "window_op_time", "DEFAULT_TABLE_TOP", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE",
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on the given stream instead of sys.stderr."""

    out: TextIO = sys.stdout
    err: TextIO = sys.stderr

    def _print_message(self, message, file=None):  # argparse hook
        if message:
            if file is None or file is sys.stderr:
                file = self.err
            elif file is sys.stdout:
                file = self.out
            file.write(message)

    def exit(self, status=0, message=None):
        if message:
            self.err.write(message)
        raise _ParserExit(status)


class _ParserExit(Exception):
    def __init__(self, status: int):
        self.status = status


def build_parser(out: TextIO, err: TextIO) -> argparse.ArgumentParser:
    """The `tb-layerprof` parser: one subparser per command, its help the class docstring."""
    def make(**kwargs) -> _Parser:
        p = _Parser(**kwargs)
        p.out, p.err = out, err
        return p

    parser = make(
        prog=PROG,
        description="Per-layer time and memory of Keras models, from tb_layerprof reports.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cls in COMMANDS:
        command = cls()
        doc = inspect.cleandoc(cls.__doc__ or "")
        p = sub.add_parser(
            command.name,
            help=doc.splitlines()[0] if doc else None,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.out, p.err = out, err
        command.prepare_parser(p)
        p.set_defaults(command_obj=command)
    return parser


def _tolerant(stream: TextIO) -> None:
    """A layer name the terminal's encoding cannot show must not crash the output."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):
            pass


def _silence(out: TextIO) -> None:
    """`tb-layerprof report ... | head`: the reader left; drop the rest of our output."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(
    argv: Optional[Sequence[str]] = None,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """Run the CLI; returns the exit code (never raises, never prints a traceback)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    _tolerant(out)
    _tolerant(err)
    parser = build_parser(out, err)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        if not getattr(args, "command_obj", None):
            parser.print_help(out)
            return EXIT_USAGE
        return args.command_obj.run(args, out, err)
    except _ParserExit as e:
        return e.status
    except (CommandError, LogdirError) as e:
        err.write(f"{PROG}: error: {e}\n")
        return EXIT_ERROR
    except BrokenPipeError:
        _silence(out)  # not an error of ours
        return EXIT_OK
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as e:  # last resort: one line, not a traceback
        if os.environ.get("TB_LAYERPROF_DEBUG"):
            raise
        err.write(
            f"{PROG}: internal error: {type(e).__name__}: {safe_text(e)} "
            f"(set TB_LAYERPROF_DEBUG=1 to see the traceback)\n"
        )
        return EXIT_ERROR
