"""The one CSV writer of tb_layerprof: one row per (run, window, layer), with the one
guard against spreadsheet formula injection.

Used by `tb-layerprof report --format csv` and by the plugin's `/report?format=csv`; a
pure function of `report` objects (no CLI, no TensorBoard, no TensorFlow).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Iterable, Iterator, List, Optional, Tuple, Union

from tb_layerprof.figures import layer_rates, layer_total, layer_tree, peak_fraction, step_basis
from tb_layerprof.render.columns import largest_in_tree
from tb_layerprof.report import LayerStats, RunReport, WindowReport
from tb_layerprof.units import as_float

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
    # Work (appended: older readers index the columns above by position).
    "forward_flops",
    "backward_flops",
    "forward_bytes",
    "backward_bytes",
    "forward_flops_per_s",
    "backward_flops_per_s",
    "work_counts",
    "peak_fraction",
    "peak_flops_per_s",
    "peak_bytes_per_s",
    "peak_source",
    "work_coverage",
)

# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV
# injection"): `=HYPERLINK(...)`, `+cmd|...`, `-2+3+cmd|' /C calc'!A0`, `@SUM(...)`;
# tab and CR are there because some spreadsheets strip them and then see the next one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number, the whole field: "-5", "+1.5", "-1e-3", "-.5". Anything more
# ("-2+3", "-5;x", "-0x10", "- 5") is not, so it is guarded.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")

Cell = Union[str, int, float, None]
Source = Union[RunReport, WindowReport]


def is_plain_number(text: str) -> bool:
    """Whether `text` is exactly a decimal number (what a spreadsheet reads as a value)."""
    return _PLAIN_NUMBER.match(text) is not None


def guard_cell(value: Cell) -> Cell:
    """`value` made inert for spreadsheets: text that would start a formula gets a `'`.

    Numbers (Python int/float, or text that is a plain number) stay as they are, so
    negative figures remain numbers; every other text starting with =, +, -, @, tab or CR
    is prefixed with `'`, which spreadsheets show but do not evaluate.
    """
    if value is None:
        return ""  # as the csv module writes None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not is_plain_number(text):
        return "'" + text
    return text


def layer_row(run: str, window: WindowReport, layer: LayerStats, depth: int) -> List[Cell]:
    """One CSV row (the columns of CSV_FIELDS, unguarded): plain numbers, no units."""
    total = layer_total(layer)
    basis = step_basis(window)
    return [
        run,
        window.step,
        window.steps,
        window.host,
        as_float(window.step_time_us),
        layer.path,
        layer.parent or "",
        depth,
        layer.class_name,
        int(bool(layer.custom)),
        as_float(layer.forward_us),
        as_float(layer.backward_us),
        total,
        as_float(layer.self_forward_us),
        as_float(layer.self_backward_us),
        round(100.0 * total / basis, 3) if basis else "",
        int(as_float(layer.forward_alloc_bytes)),
        int(as_float(layer.backward_alloc_bytes)),
        int(as_float(layer.peak_live_bytes)),
        int(as_float(layer.param_bytes)),
        int(as_float(layer.calls)),
        int(as_float(layer.ops_per_call)),
        int(as_float(layer.trace_count)),
        ";".join(str(h.code) for h in layer.hints),
    ] + _work_cells(window, layer)


def _work_cells(window: WindowReport, layer: LayerStats) -> List[Cell]:
    """The work columns: counts per step, achieved rates, the roofs (empty where unknown)."""
    fraction = peak_fraction(layer_rates(layer, window, own=False))
    return [
        _known(layer.forward_flops), _known(layer.backward_flops),
        _known(layer.forward_bytes), _known(layer.backward_bytes),
        _known(layer.forward_flops_per_s), _known(layer.backward_flops_per_s),
        layer.work_counts or "",
        round(fraction, 6) if fraction is not None else "",
        _known(window.peak_flops_per_s), _known(window.peak_bytes_per_s),
        window.peak_source or "",
        as_float(window.work_coverage),
    ]


def _known(value: Optional[float]) -> Cell:
    return "" if value is None else as_float(value)


def _windows(sources: Iterable[Source], run: str) -> Iterator[Tuple[str, WindowReport]]:
    """(run name, window) for runs (all their windows) and bare windows (named `run`)."""
    for source in sources:
        if isinstance(source, RunReport):
            for window in source.windows:
                yield source.run, window
        else:
            yield run, source


def window_rows_csv(
    runs_or_windows: Union[Source, Iterable[Source]],
    run: str = "",
    top: Optional[int] = None,
) -> str:
    """CSV text: a header (CSV_FIELDS), then one row per layer of every window, layers in
    table order (parents before children, largest first), every field guarded.

    `runs_or_windows`: RunReports (each with all its windows), bare WindowReports (their
    `run` column is `run`), or one of either. `top`: only the `top` layers with most total
    time of each window (None/0: all).
    """
    if isinstance(runs_or_windows, (RunReport, WindowReport)):
        runs_or_windows = [runs_or_windows]
    buf = io.StringIO()
    # RFC 4180 line ends: with "\r\n" as terminator, the csv module quotes any field
    # holding a bare "\r" or "\n", so hostile names cannot break a row.
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for run_name, window in _windows(runs_or_windows, run):
        tree = largest_in_tree(layer_tree(window.layers), window.layers, top)
        for layer, depth in tree:
            writer.writerow([guard_cell(c) for c in layer_row(run_name, window, layer, depth)])
    return buf.getvalue()
