"""`tb-layerprof`: read tb_layerprof reports from a log directory, in the terminal.

One small class per subcommand; its docstring is its help. The reading path imports no
TensorFlow (only `tb_layerprof.summary`/`report`), so it starts in well under a second.

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
import codecs
import csv
import inspect
import json
import os
import sys
import textwrap
from typing import Dict, List, Optional, Sequence, TextIO, Tuple

from tb_layerprof import diff as layer_diff
from tb_layerprof import figures
from tb_layerprof import workers as layer_workers
from tb_layerprof.report import (
    OTHER_KEYS,
    SCHEMA,
    LayerStats,
    RunReport,
    WindowReport,
    reports_to_json,
)
from tb_layerprof.figures import (  # noqa: F401  (re-exported: the CLI's figures are these)
    hot_layers,
    layer_self_total,
    layer_total,
    layer_tree,
    step_basis,
    window_op_time,
)
from tb_layerprof.summary import ReportReadError, load_reports

PROG = "tb-layerprof"
DEFAULT_TABLE_TOP = 30
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 1."""


# --------------------------------------------------------------------------- formatting


def safe_text(text: object) -> str:
    """`text` with every control/format character shown as an escape (e.g. `\\x1b`, `\\n`).

    Layer names come from user code and event files we did not write; printing them raw
    could move the cursor, recolour or clear the terminal, or break the table's lines.
    """
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


class Units:
    """Human units for times (given in µs) and byte counts."""

    def __init__(self, micro: str = "µs"):
        self.micro = micro

    @classmethod
    def for_stream(cls, stream: TextIO) -> "Units":
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "µ".encode(codecs.lookup(encoding).name)
        except (LookupError, UnicodeEncodeError):
            return cls(micro="us")
        return cls()

    def time(self, us: float) -> str:
        us = float(us)
        if us != us:  # NaN
            return "?"
        a = abs(us)
        if a == 0:
            return "0"
        if a < 10:
            return f"{us:.1f} {self.micro}"
        if a < 1000:
            return f"{us:.0f} {self.micro}"
        if a < 1_000_000:
            return f"{us / 1000:.2f} ms"
        return f"{us / 1_000_000:.2f} s"

    @staticmethod
    def size(n: float) -> str:
        n = float(n)
        if n != n:
            return "?"
        a = abs(n)
        if a < 1024:
            return f"{n:.0f} B"
        for unit in ("KiB", "MiB", "GiB", "TiB"):
            n /= 1024.0
            a /= 1024.0
            if a < 1024 or unit == "TiB":
                return f"{n:.1f} {unit}"
        return f"{n:.1f} TiB"  # pragma: no cover

    @staticmethod
    def percent(part: float, whole: float) -> str:
        if not whole:
            return "-"
        return f"{100.0 * part / whole:.1f}%"


def _num(value: object, default: float = 0.0) -> float:
    """A report figure as a float; anything unusable (None, text) reads as `default`."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def display_name(layer: LayerStats, depth: int) -> str:
    """Nested layers show their path relative to the parent, indented by depth."""
    path = str(layer.path)
    parent = layer.parent
    if depth and parent and path.startswith(str(parent) + "/"):
        path = path[len(str(parent)) + 1 :]
    return "  " * depth + safe_text(path)


def format_evidence(evidence: Dict[str, object], units: Units, limit: int = 5) -> str:
    parts = []
    for k, v in list(evidence.items())[:limit]:
        if isinstance(v, float):
            if k.endswith("_us"):
                v = units.time(v)
            elif k.endswith("_bytes"):
                v = units.size(v)
            else:
                v = f"{v:.3g}"
        elif isinstance(v, int) and not isinstance(v, bool) and k.endswith("_bytes"):
            v = units.size(v)
        elif isinstance(v, (list, dict)):
            v = json.dumps(v, ensure_ascii=True)
            if len(v) > 60:
                v = v[:57] + "..."
        parts.append(f"{safe_text(k)}={safe_text(v)}")
    if len(evidence) > limit:
        parts.append(f"(+{len(evidence) - limit} more)")
    return ", ".join(parts)


def select_windows(run: RunReport, which: str) -> List[WindowReport]:
    """`latest`: the windows of the highest step (one per host); `all`; or a step number."""
    if not run.windows:
        return []
    if which == "all":
        return list(run.windows)
    if which == "latest":
        last = max(w.step for w in run.windows)
        return [w for w in run.windows if w.step == last]
    step = int(which)
    return [w for w in run.windows if w.step == step]


# --------------------------------------------------------------------------- renderers

TABLE_COLUMNS = (
    # title, align
    ("layer", "<"),
    ("forward", ">"),
    ("gradient", ">"),
    ("total", ">"),
    ("% step", ">"),
    ("fwd alloc", ">"),
    ("grad alloc", ">"),
    ("peak live", ">"),
    ("params", ">"),
    ("calls", ">"),
    ("ops/call", ">"),
    ("*", "<"),
    ("hints", "<"),
)
MAX_NAME_WIDTH = 48


def _clip(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    indent = len(text) - len(text.lstrip(" "))
    return text[:indent] + "…" + text[len(text) - (width - indent - 1) :]


def render_window_table(
    run_name: str, window: WindowReport, units: Units, top: Optional[int] = DEFAULT_TABLE_TOP
) -> str:
    """One window as text: header, hot layers with diagnoses, the layer table, the rest."""
    lines: List[str] = []
    last_step = window.step + max(int(_num(window.steps, 1)), 1) - 1
    steps = f"{window.step}" if last_step == window.step else f"{window.step}-{last_step}"
    op_time = window_op_time(window)
    basis = step_basis(window)
    head = (
        f"Run {safe_text(run_name)} | steps {steps} ({window.steps} profiled)"
        f" | host {safe_text(window.host) or '?'}"
        f" | step time {units.time(_num(window.step_time_us))}"
        f" | op time {units.time(op_time)}/step"
    )
    if window.mode and window.mode != "graph":
        head += f" | {safe_text(window.mode)} mode"
    lines.append(head)
    lines.append("=" * min(len(head), 100))
    for warning in window.warnings or []:
        lines.append(f"warning: {safe_text(warning)}")
    if not window.memory_available:
        lines.append(
            "note: no memory events in this profile (TF_CPU_ALLOCATOR_USE_BFC was off?);"
            " memory columns read n/a"
        )

    # Hot layers first, with their diagnoses.
    hot = hot_layers(window)
    if hot:
        lines.append("")
        lines.append("Hot layers (by own time, sublayers excluded):")
        for i, layer in enumerate(hot, 1):
            own = layer_self_total(layer)
            kind = safe_text(layer.class_name) or "?"
            if layer.custom:
                kind += ", custom"
            lines.append(
                f"  {i}. {safe_text(layer.path)} ({kind}): {units.time(own)}/step ="
                f" {units.percent(own, basis)} of step"
                f" (forward {units.time(_num(layer.self_forward_us))},"
                f" gradient {units.time(_num(layer.self_backward_us))})"
            )
            for hint in layer.hints:
                mark = "!" if hint.severity == "warning" else "i"
                msg = f"{mark} [{safe_text(hint.code)}] {safe_text(hint.message)}"
                lines.extend(
                    textwrap.wrap(
                        msg, width=100, initial_indent="     ", subsequent_indent="       "
                    )
                )
                if hint.evidence:
                    lines.extend(
                        textwrap.wrap(
                            "evidence: " + format_evidence(hint.evidence, units),
                            width=100,
                            initial_indent="       ",
                            subsequent_indent="         ",
                            break_on_hyphens=False,
                        )
                    )
    elif window.layers:
        lines.append("")
        lines.append("No hot layer: no diagnosis, and no layer takes 10% of the op time.")

    # The layer table.
    lines.append("")
    tree = layer_tree(window.layers)
    if not tree:
        lines.append("(no layers in this window)")
    else:
        shown = tree
        if top and len(tree) > top:
            keep = {
                id(x)
                for x in sorted(window.layers, key=lambda x: (-layer_total(x), str(x.path)))[:top]
            }
            shown = [(x, d) for x, d in tree if id(x) in keep]
        mem = bool(window.memory_available)
        rows = []
        for layer, depth in shown:
            total = layer_total(layer)
            rows.append(
                [
                    _clip(display_name(layer, depth), MAX_NAME_WIDTH),
                    units.time(_num(layer.forward_us)),
                    units.time(_num(layer.backward_us)),
                    units.time(total),
                    units.percent(total, basis),
                    units.size(_num(layer.forward_alloc_bytes)) if mem else "n/a",
                    units.size(_num(layer.backward_alloc_bytes)) if mem else "n/a",
                    units.size(_num(layer.peak_live_bytes)) if mem else "n/a",
                    units.size(_num(layer.param_bytes)),
                    str(int(_num(layer.calls))),
                    str(int(_num(layer.ops_per_call))),
                    "*" if layer.custom else "",
                    safe_text(",".join(h.code for h in layer.hints)),
                ]
            )
        header = [title for title, _ in TABLE_COLUMNS]
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

        def fmt(cells: List[str]) -> str:
            out = []
            for cell, width, (_, align) in zip(cells, widths, TABLE_COLUMNS):
                out.append(cell.ljust(width) if align == "<" else cell.rjust(width))
            return "  ".join(out).rstrip()

        lines.append(fmt(header))
        lines.append(fmt(["-" * w for w in widths]))
        lines.extend(fmt(r) for r in rows)
        if len(shown) < len(tree):
            lines.append(
                f"... {len(tree) - len(shown)} more layers not shown (--top 0 shows all)"
            )
        lines.append(
            "forward/gradient include sublayers; times per step; * = custom layer"
        )

    # Everything that is not a layer, and how much has an owner.
    other = window.other or {}
    parts = []
    for key in OTHER_KEYS:
        parts.append(f"{key[:-3]} {units.time(_num(other.get(key)))}")
    for key in sorted(k for k in other if k not in OTHER_KEYS):
        parts.append(f"{safe_text(key[:-3] if key.endswith('_us') else key)}"
                     f" {units.time(_num(other.get(key)))}")
    lines.append("")
    lines.append("Outside layers (per step): " + ", ".join(parts))
    if op_time > 0:
        unattributed = _num(other.get("unattributed_us"))
        in_layers = sum(layer_self_total(x) for x in window.layers)
        lines.append(
            f"Attributed: {units.percent(op_time - unattributed, op_time)} of op time"
            f" ({units.time(op_time - unattributed)} of {units.time(op_time)}/step);"
            f" in layers: {units.percent(in_layers, op_time)}"
        )
        framework = _num(other.get("framework_us"))
        if unattributed > 0.02 * op_time or framework > 0.03 * op_time:
            listed = [o for o in (getattr(window, "unowned_ops", None) or []) if isinstance(o, dict)][:5]
            lines.append(
                f"! Coverage: unattributed {units.percent(unattributed, op_time)} (limit 2%),"
                f" framework {units.percent(framework, op_time)} (limit 3%); largest ops without"
                " a layer: " + ("; ".join(
                    f"{safe_text(o.get('name', ''))} ({safe_text(o.get('type', ''))},"
                    f" {safe_text(str(o.get('category', ''))[:-3])}) {units.time(_num(o.get('us')))}"
                    for o in listed) or "n/a"))
    else:
        lines.append("Attributed: no op time recorded in this window")
    return "\n".join(lines)


def render_table(
    runs: Sequence[RunReport],
    which: str = "latest",
    top: Optional[int] = DEFAULT_TABLE_TOP,
    units: Optional[Units] = None,
) -> str:
    """All selected windows of all runs as terminal text."""
    units = units or Units()
    blocks = []
    for run in runs:
        windows = select_windows(run, which)
        for window in windows:
            blocks.append(render_window_table(run.run, window, units, top))
        several = layer_workers.steps_with_several_hosts(RunReport(run=run.run, windows=windows))
        if several and blocks:
            blocks[-1] += (
                f"\n\nnote: several workers profiled step {several[-1]} of run"
                f" {safe_text(run.run)}; `{PROG} workers LOGDIR --run {safe_text(run.run)}`"
                " compares them (straggler layers)"
            )
    return "\n\n\n".join(blocks) + "\n"


CSV_FIELDS = (
    "run",
    "step",
    "steps",
    "host",
    "step_time_us",
    "path",
    "parent",
    "depth",
    "class_name",
    "custom",
    "forward_us",
    "backward_us",
    "total_us",
    "self_forward_us",
    "self_backward_us",
    "pct_of_step",
    "forward_alloc_bytes",
    "backward_alloc_bytes",
    "peak_live_bytes",
    "param_bytes",
    "calls",
    "ops_per_call",
    "trace_count",
    "hints",
)


def render_csv(
    runs: Sequence[RunReport], which: str = "all", top: Optional[int] = None
) -> str:
    """One row per (run, window, layer), layers in table order, plain numbers."""
    import io

    buf = io.StringIO()
    # RFC 4180 line ends: with "\r\n" as terminator, the csv module quotes any field
    # holding a bare "\r" or "\n", so hostile names cannot break a row.
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for run in runs:
        for window in select_windows(run, which):
            basis = step_basis(window)
            tree = layer_tree(window.layers)
            if top:
                keep = {
                    id(x)
                    for x in sorted(
                        window.layers, key=lambda x: (-layer_total(x), str(x.path))
                    )[:top]
                }
                tree = [(x, d) for x, d in tree if id(x) in keep]
            for layer, depth in tree:
                total = layer_total(layer)
                writer.writerow(
                    [
                        run.run,
                        window.step,
                        window.steps,
                        window.host,
                        _num(window.step_time_us),
                        layer.path,
                        layer.parent or "",
                        depth,
                        layer.class_name,
                        int(bool(layer.custom)),
                        _num(layer.forward_us),
                        _num(layer.backward_us),
                        total,
                        _num(layer.self_forward_us),
                        _num(layer.self_backward_us),
                        round(100.0 * total / basis, 3) if basis else "",
                        int(_num(layer.forward_alloc_bytes)),
                        int(_num(layer.backward_alloc_bytes)),
                        int(_num(layer.peak_live_bytes)),
                        int(_num(layer.param_bytes)),
                        int(_num(layer.calls)),
                        int(_num(layer.ops_per_call)),
                        int(_num(layer.trace_count)),
                        ";".join(h.code for h in layer.hints),
                    ]
                )
    return buf.getvalue()


def filter_windows(runs: Sequence[RunReport], which: str) -> List[RunReport]:
    """Runs keeping only the selected windows; runs left with none are dropped."""
    out = []
    for run in runs:
        windows = select_windows(run, which)
        if windows:
            out.append(RunReport(run=run.run, windows=windows))
    return out


def render_json(runs: Sequence[RunReport]) -> str:
    """Exactly `reports_to_json(runs)` (DESIGN.md section 4)."""
    return json.dumps(reports_to_json(list(runs)), indent=2) + "\n"


# --------------------------------------------------------------------------- loading


def _count_profiles(logdir: str) -> int:
    count = 0
    for _dirpath, _dirnames, filenames in os.walk(logdir):
        count += sum(1 for f in filenames if f.endswith(".xplane.pb"))
    return count


def _has_event_files(logdir: str) -> bool:
    for _dirpath, _dirnames, filenames in os.walk(logdir):
        if any("tfevents" in f for f in filenames):
            return True
    return False


def read_runs(
    logdir: str, run: Optional[str], which: str, warn: TextIO
) -> List[RunReport]:
    """Runs with the selected windows, or CommandError with a message that says why not.

    Unreadable files are reported on `warn` but do not hide the good runs beside them.
    """
    if not os.path.exists(logdir):
        raise CommandError(f"log directory not found: {logdir}")
    if not os.path.isdir(logdir):
        raise CommandError(f"not a directory: {logdir}")
    def load(only: Optional[str]):
        try:
            return load_reports(logdir, only)
        except ReportReadError as e:
            raise CommandError(str(e)) from None
        except OSError as e:
            raise CommandError(f"cannot read {logdir}: {e.strerror or e}") from None

    # One run asked for: read only its event files (a log directory may hold hundreds of
    # runs); all of them only to list the known runs when it has no reports.
    runs, errors = load(run) if run is not None else ([], [])
    if not runs:
        runs, errors = load(None)
    for message in errors:
        warn.write(f"{PROG}: warning: skipped unreadable file: {safe_text(message)}\n")

    if not runs:
        if errors:
            raise CommandError(
                f"no report could be read below {logdir}: {len(errors)} unreadable "
                f"event file(s), see the warnings above"
            )
        profiles = _count_profiles(logdir)
        if profiles:
            why = (
                f"found {profiles} raw profile(s) (.xplane.pb) but no report: the analysis "
                "may have failed, see the training log for tb_layerprof messages"
            )
        elif _has_event_files(logdir):
            why = (
                "there are TensorBoard event files, but none holds a tb_layerprof report: "
                "was LayerProfiler among the callbacks, and did training get past its "
                "profile window (profile_batch, default steps 10-14)?"
            )
        else:
            why = (
                "LayerProfiler writes a report when its profile window ends (profile_batch, "
                "default steps 10-14): train past it, and point LOGDIR at its log_dir"
            )
        raise CommandError(f"no tb_layerprof reports found below {logdir}; {why}")

    if run is not None:
        known = [r.run for r in runs]
        runs = [r for r in runs if r.run == run]
        if not runs:
            raise CommandError(
                f"unknown run {safe_text(run)!s}; runs with reports: "
                + ", ".join(safe_text(k) for k in known)
            )

    selected = filter_windows(runs, which)
    if not selected:
        steps = sorted({w.step for r in runs for w in r.windows})
        raise CommandError(
            f"no window starts at step {which}; windows start at steps: "
            + ", ".join(str(s) for s in steps)
        )
    return selected


# --------------------------------------------------------------------------- commands


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


def _top_arg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (all) or more")
    return n


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logdir", metavar="LOGDIR", help="log directory (as for TensorBoard)")
    parser.add_argument(
        "--run", metavar="RUN", help="only this run (a directory below LOGDIR, e.g. train)"
    )


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
        parser.add_argument(
            "--format",
            choices=("table", "json", "csv"),
            default="table",
            help="output format (default: table)",
        )
        parser.add_argument(
            "--window",
            type=_window_arg,
            default=None,
            metavar="latest|all|STEP",
            help="which profile windows: the latest (table default), all (json/csv "
            "default), or the one starting at STEP",
        )
        parser.add_argument(
            "--top",
            type=_top_arg,
            default=None,
            metavar="N",
            help=f"show the N layers with most total time (table default "
            f"{DEFAULT_TABLE_TOP}, csv default all; 0 = all; json always has all)",
        )

    def run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        which = args.window or ("latest" if args.format == "table" else "all")
        runs = read_runs(args.logdir, args.run, which, err)
        if args.format == "json":
            out.write(render_json(runs))
        elif args.format == "csv":
            out.write(render_csv(runs, "all", args.top))
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


# --------------------------------------------------------------------------- diff


def _signed_time(us: float, units: Units) -> str:
    text = units.time(us)
    return "+" + text if us > 0 else text


def _signed_size(n: Optional[float]) -> str:
    if n is None:
        return "n/a"
    text = Units.size(n)
    return "+" + text if n > 0 else text


def _ratio_text(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 0.01:
        return f"{value:.3f}x"
    if value < 10:
        return f"{value:.2f}x"
    return f"{value:.1f}x"


def _window_label(info: Dict[str, object]) -> str:
    step, steps = int(_num(info.get("step"))), max(int(_num(info.get("steps"), 1)), 1)
    span = f"{step}" if steps == 1 else f"{step}-{step + steps - 1}"
    text = f"steps {span} ({steps} profiled) | host {safe_text(info.get('host')) or '?'}"
    mode = info.get("mode")
    if mode and mode != "graph":
        text += f" | {safe_text(mode)} mode"
    return text


DIFF_COLUMNS = (
    ("layer", "<"),
    ("base", ">"),
    ("run", ">"),
    ("delta", ">"),
    ("ratio", ">"),
    ("forward", "<"),
    ("gradient", "<"),
    ("alloc delta", ">"),
    ("peak delta", ">"),
    ("*", "<"),
    ("change", "<"),
)


def _aligned(rows: List[List[str]], columns) -> List[str]:
    header = [title for title, _ in columns]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def fmt(cells: List[str]) -> str:
        out = []
        for cell, width, (_, align) in zip(cells, widths, columns):
            out.append(cell.ljust(width) if align == "<" else cell.rjust(width))
        return "  ".join(out).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def _layer_change(row: Dict[str, object], arrow: str) -> str:
    """What changed besides the numbers: added/removed, class swapped, hints gone or new."""
    parts = []
    status = row.get("status")
    if status != layer_diff.STATUS_BOTH:
        parts.append(str(status))
    base_cls, cls = row.get("base_class_name"), row.get("class_name")
    if status == layer_diff.STATUS_BOTH and base_cls != cls:
        parts.append(f"{safe_text(base_cls)} {arrow} {safe_text(cls)}")
    elif status != layer_diff.STATUS_BOTH and cls:
        parts.append(safe_text(cls))
    if status == layer_diff.STATUS_BOTH:
        base_hints = list(row.get("base_hints") or [])
        run_hints = list(row.get("run_hints") or [])
        gone = [h for h in base_hints if h not in run_hints]
        new = [h for h in run_hints if h not in base_hints]
        if gone:
            parts.append("fixed: " + safe_text(",".join(gone)))
        if new:
            parts.append("new: " + safe_text(",".join(new)))
    return "; ".join(parts)


def render_diff_table(doc: Dict[str, object], units: Units, top: Optional[int] = DEFAULT_TABLE_TOP) -> str:
    """The `diff_windows` document as terminal text."""
    arrow = "\u2192" if units.micro == "µs" else "->"
    lines: List[str] = []
    head = f"Diff: run {safe_text(doc['run'])} against base {safe_text(doc['base'])}"
    lines.append(head)
    lines.append("=" * min(max(len(head), 60), 100))
    name_w = max(len(safe_text(doc["base"])), len(safe_text(doc["run"])))
    lines.append(f"  base {safe_text(doc['base']).ljust(name_w)}  {_window_label(doc['base_window'])}")
    lines.append(f"  run  {safe_text(doc['run']).ljust(name_w)}  {_window_label(doc['run_window'])}")
    for note in doc.get("notes") or []:
        lines.append(f"note: {safe_text(note)}")
    lines.append("")
    for label, key in (("step time", "step_time"), ("op time", "op_time")):
        c = doc[key]
        text = (
            f"{label:<10} {units.time(c['base_us'])} {arrow} {units.time(c['run_us'])}"
            f"  ({_signed_time(c['delta_us'], units)}, ratio {_ratio_text(c['ratio'])}"
        )
        if c["base_us"] > 0 and c["run_us"] > 0 and c["base_us"] != c["run_us"]:
            text += ", " + figures.speedup_text(figures.speedup(c["base_us"], c["run_us"]))
        lines.append(text + ")")
    counts = doc.get("counts") or {}
    lines.append(
        f"layers     {counts.get('both', 0)} in both, {counts.get('added', 0)} added,"
        f" {counts.get('removed', 0)} removed"
    )

    lines.append("")
    rows_doc = list(doc["layers"])
    if not rows_doc:
        lines.append("(no layers in either window)")
    else:
        shown = rows_doc[:top] if top else rows_doc
        rows = []
        for row in shown:
            added = row["status"] == layer_diff.STATUS_ADDED
            removed = row["status"] == layer_diff.STATUS_REMOVED
            rows.append(
                [
                    _clip(safe_text(row["path"]), MAX_NAME_WIDTH),
                    "-" if added else units.time(row["base_us"]),
                    "-" if removed else units.time(row["run_us"]),
                    _signed_time(row["delta_us"], units),
                    _ratio_text(row["ratio"]),
                    f"{units.time(row['base_forward_us'])} {arrow} {units.time(row['run_forward_us'])}",
                    f"{units.time(row['base_backward_us'])} {arrow} {units.time(row['run_backward_us'])}",
                    _signed_size(row["delta_alloc_bytes"]),
                    _signed_size(row["delta_peak_live_bytes"]),
                    "*" if row.get("custom") else "",
                    _layer_change(row, arrow),
                ]
            )
        lines.extend(_aligned(rows, DIFF_COLUMNS))
        if len(shown) < len(rows_doc):
            lines.append(f"... {len(rows_doc) - len(shown)} more layer(s) (--top 0 shows all)")
        lines.append(
            "sorted by |delta|; times per step, forward/gradient include sublayers;"
            " delta = run - base, ratio = run / base; * = custom layer"
        )

    lines.append("")
    lines.append("Outside layers (per step):")
    rows = []
    for key, c in (doc.get("other") or {}).items():
        name = key[:-3] if key.endswith("_us") else key
        rows.append(
            [
                safe_text(name),
                units.time(c["base_us"]),
                units.time(c["run_us"]),
                _signed_time(c["delta_us"], units),
                _ratio_text(c["ratio"]),
            ]
        )
    other_cols = (("category", "<"), ("base", ">"), ("run", ">"), ("delta", ">"), ("ratio", ">"))
    lines.extend("  " + line for line in _aligned(rows, other_cols))
    return "\n".join(lines) + "\n"


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


def pick_window(run: RunReport, which: str) -> Tuple[WindowReport, List[str]]:
    """The window of `run` to compare: the latest or the one at step `which`.

    Windows of several hosts at that step: the first host (by name), with a note."""
    windows = select_windows(run, which)
    if not windows:
        steps = sorted({w.step for w in run.windows})
        raise CommandError(
            f"run {safe_text(run.run)} has no window at step {which}; its windows start at"
            f" steps: " + ", ".join(str(s) for s in steps)
        )
    windows = sorted(windows, key=lambda w: str(w.host))
    notes = []
    if len(windows) > 1:
        notes.append(
            f"run {run.run} has {len(windows)} hosts at step {windows[0].step}; comparing"
            f" host {windows[0].host}"
        )
    return windows[0], notes


class DiffCommand:
    """Compare two runs layer by layer: what got faster, slower, added or removed.

    Takes the latest profile window of each run (or the one starting at --window STEP in
    both) and shows, per layer matched by path, forward + gradient time per step in the
    base and in the run, the delta (run - base) and ratio (run / base), forward and
    gradient separately and the change in memory, sorted by |delta|; then step time, op
    time and the time outside layers. Layers found in one run only show as added/removed.
    `--format json` prints {"schema": 1, "base": ..., "run": ..., "layers": [...]}.

    Example: tb-layerprof diff logs --base loop --run vectorized
    """

    name = "diff"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("logdir", metavar="LOGDIR", help="log directory (as for TensorBoard)")
        parser.add_argument(
            "--base", metavar="RUN_A", required=True, help="the run to compare against"
        )
        parser.add_argument(
            "--run", metavar="RUN_B", required=True, help="the run to compare (the new one)"
        )
        parser.add_argument(
            "--format", choices=("table", "json"), default="table",
            help="output format (default: table)",
        )
        parser.add_argument(
            "--window", type=_diff_window_arg, default="latest", metavar="latest|STEP",
            help="compare the latest window of each run (default), or the windows starting"
            " at STEP in both",
        )
        parser.add_argument(
            "--top", type=_top_arg, default=None, metavar="N",
            help=f"table: show the N layers with the largest |delta| (default "
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


# --------------------------------------------------------------------------- workers

MAX_HOST_COLUMNS = 6


def _host_name(host: object) -> str:
    return safe_text(host) or "?"


def render_workers_table(
    run_name: str, doc: Dict[str, object], units: Units, top: Optional[int] = DEFAULT_TABLE_TOP
) -> str:
    """One `workers.compare_hosts` document as terminal text."""
    lines: List[str] = []
    hosts = doc["hosts"]
    step, steps = int(_num(doc["step"])), max(int(_num(doc["steps"], 1)), 1)
    span = f"{step}" if steps == 1 else f"{step}-{step + steps - 1}"
    head = (
        f"Run {safe_text(run_name)} | steps {span} ({steps} profiled) | {len(hosts)} workers"
        f" | slowest {_host_name(doc['slowest_host'])}, fastest {_host_name(doc['fastest_host'])}"
    )
    lines.append(head)
    lines.append("=" * min(len(head), 100))
    lines.append("")
    rows = []
    for h in hosts:
        mark = "slowest" if h["host"] == doc["slowest_host"] else (
            "fastest" if h["host"] == doc["fastest_host"] else "")
        rows.append([
            _clip(_host_name(h["host"]), MAX_NAME_WIDTH),
            units.time(h["step_time_us"]),
            units.time(h["op_time_us"]),
            units.time(h["compute_us"]),
            units.time(h["collective_us"]),
            _signed_time(h["excess_us"], units),
            mark,
        ])
    host_cols = (("worker", "<"), ("step time", ">"), ("op time", ">"), ("compute", ">"),
                 ("collective", ">"), ("excess", ">"), ("rank", "<"))
    lines.extend(_aligned(rows, host_cols))
    lines.extend(textwrap.wrap(
        "compute = op time outside collectives; excess = compute - the fastest worker's. In"
        " synchronous training the fast workers wait for the slowest at the all-reduce: their"
        " wait is collective time, and step times even out.", width=100,
    ))

    lines.append("")
    straggler = doc.get("straggler")
    if straggler:
        share = straggler.get("share")
        of_it = f" ({share:.0%} of it)" if share is not None else ""
        lines.append(
            f"Straggler: {_host_name(straggler['host'])} computes"
            f" {units.time(straggler['excess_us'])}/step more than"
            f" {_host_name(straggler['fastest_host'])}; layer"
            f" {safe_text(straggler['layer'])} accounts for"
            f" {_signed_time(straggler['extra_us'], units)}{of_it}."
        )
        causes = []
        for c in straggler.get("causes") or []:
            name = str(c["name"])
            if c["kind"] == "other":
                name = (name[:-3] if name.endswith("_us") else name) + " (outside layers)"
            causes.append(f"{safe_text(name)} {_signed_time(c['extra_us'], units)}")
        if causes:
            lines.extend(textwrap.wrap(
                "largest differences (own time): " + ", ".join(causes),
                width=100, initial_indent="  ", subsequent_indent="    ",
            ))
    elif len(hosts) > 1:
        lines.append("No straggler layer: no layer takes longer on the slowest worker.")

    lines.append("")
    layer_rows = list(doc["layers"])
    if not layer_rows:
        lines.append("(no layers in these windows)")
        return "\n".join(lines) + "\n"
    shown = layer_rows[:top] if top else layer_rows
    names = [h["host"] for h in hosts]
    per_host = len(names) <= MAX_HOST_COLUMNS
    columns = [("layer", "<")]
    if per_host:
        columns += [(_clip(_host_name(n), 24), ">") for n in names]
    else:
        columns += [("min", ">"), ("max", ">")]
    columns += [("spread", ">"), ("ratio", ">"), ("slowest", "<"), ("missing on", "<")]
    rows = []
    for layer in shown:
        by_host = layer["by_host"]
        cells = [_clip(safe_text(layer["path"]), MAX_NAME_WIDTH)]
        if per_host:
            cells += [units.time(by_host[n]["total_us"]) if n in by_host else "-" for n in names]
        else:
            totals = [t["total_us"] for t in by_host.values()]
            cells += [units.time(min(totals)), units.time(max(totals))]
        missing = layer.get("missing_on") or []
        cells += [
            units.time(layer["spread_us"]),
            _ratio_text(layer["ratio"]),
            _host_name(layer["slowest_host"]) if len(by_host) > 1 else "",
            _clip(", ".join(_host_name(m) for m in missing), 40),
        ]
        rows.append(cells)
    lines.append("Layers by spread between workers (forward + gradient per step, sublayers included):")
    lines.extend(_aligned(rows, tuple(columns)))
    if len(shown) < len(layer_rows):
        lines.append(f"... {len(layer_rows) - len(shown)} more layer(s) (--top 0 shows all)")
    lines.append("spread = slowest - fastest worker; ratio = slowest / fastest")
    return "\n".join(lines) + "\n"


def select_worker_steps(run: RunReport, which: str) -> List[int]:
    """Steps of `run` with several hosts: the latest, all, or the given one."""
    several = layer_workers.steps_with_several_hosts(run)
    if not several or which == "all":
        return several
    if which == "latest":
        return several[-1:]
    return [s for s in several if s == int(which)]


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
        parser.add_argument(
            "--format", choices=("table", "json"), default="table",
            help="output format (default: table)",
        )
        parser.add_argument(
            "--window", type=_window_arg, default="latest", metavar="latest|all|STEP",
            help="which step: the latest profiled by several workers (default), all such"
            " steps, or the window starting at STEP",
        )
        parser.add_argument(
            "--top", type=_top_arg, default=None, metavar="N",
            help=f"table: show the N layers with the largest spread (default "
            f"{DEFAULT_TABLE_TOP}; 0 = all; json always has all)",
        )

    def run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        runs = read_runs(args.logdir, args.run, "all", err)
        picked = [(run, select_worker_steps(run, args.window)) for run in runs]
        picked = [(run, steps) for run, steps in picked if steps]
        if not picked:
            hosts = sorted({str(w.host) for r in runs for w in r.windows}, key=layer_workers.host_sort_key)
            where = f"at step {args.window}" if args.window not in ("latest", "all") else "at any step"
            raise CommandError(
                f"no run has windows of several workers {where}; hosts found: "
                + (", ".join(_host_name(h) for h in hosts) or "none")
                + ". Each worker of a multi-worker job files its windows under its identity"
                " (TF_CONFIG task, e.g. worker-0) when all share one log_dir."
            )
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
        blocks = [render_workers_table(name, doc, units, top) for name, steps in docs for doc in steps]
        out.write("\n\n".join(blocks))
        return EXIT_OK


COMMANDS = (ReportCommand, ExportCommand, DiffCommand, WorkersCommand)


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


def main(
    argv: Optional[Sequence[str]] = None,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """Run the CLI; returns the exit code (never raises, never prints a traceback)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    for stream in (out, err):
        # A layer name the terminal's encoding cannot show must not crash the output.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    parser = build_parser(out, err)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        if not getattr(args, "command_obj", None):
            parser.print_help(out)
            return EXIT_USAGE
        return args.command_obj.run(args, out, err)
    except _ParserExit as e:
        return e.status
    except CommandError as e:
        err.write(f"{PROG}: error: {e}\n")
        return EXIT_ERROR
    except BrokenPipeError:
        # `tb-layerprof report ... | head`: the reader left; not an error of ours.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
        except (OSError, ValueError, AttributeError):
            pass
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
