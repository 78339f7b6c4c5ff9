"""What the Layer Profile plugin reads of stored windows: TensorBoard tensor data ->
`WindowReport`s (through `report`, the one reader), per-window summaries for `/windows`,
the layers' work figures `/window` serves, and the compact per-layer vectors the `/trend`
route serves. Pure; no HTTP here."""

from __future__ import annotations

import logging
import sys
from array import array
from typing import Any, Dict, List, Tuple

from tensorboard.data import provider

from tb_layerprof import figures
from tb_layerprof.report import OTHER_KEYS, WindowReport, window_from_bytes
from tb_layerprof.summary import ReportReadError

logger = logging.getLogger("tb_layerprof.plugin")

# Per-layer numbers kept for the trend route, in this order (see _layer_vector).
TREND_FIELDS = (
    "forward_us",
    "backward_us",
    "self_forward_us",
    "self_backward_us",
    "forward_alloc_bytes",
    "backward_alloc_bytes",
    "peak_live_bytes",
    "calls",
)


def datum_bytes(datum: provider.TensorDatum) -> bytes:
    value = datum.numpy
    if getattr(value, "shape", None) not in ((), None):
        if value.size != 1:
            raise ReportReadError("layerprof summary is not a scalar string tensor")
        value = value.reshape(())
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise ReportReadError("layerprof summary is not a string tensor")
    return value


def tag_windows(run: str, tag: str, data: list, timeline: bool = True
                ) -> Tuple[List[WindowReport], List[Dict[str, Any]]]:
    """(readable windows of one tag, oldest write first; one {"tag", "step", "error"} per
    stored window that is not a readable report). A later write of the same step and host
    replaces an earlier one, as in `summary.load_reports`. `timeline=False`: without their
    step timelines (what `Entry` keeps needs none)."""
    out, bad = [], []
    for datum in sorted(data, key=lambda d: (d.step, d.wall_time)):
        try:
            out.append(window_from_bytes(datum_bytes(datum), timeline))
        except (ReportReadError, ValueError) as e:
            logger.warning("layerprof: run %r tag %r unreadable: %s", run, tag, e)
            bad.append({"tag": tag, "step": int(datum.step), "error": str(e)})
    return out, bad


def window_summary(window: WindowReport) -> Dict[str, Any]:
    """What `/windows` lists of a window: its figures, not its layers."""
    derived = figures.window_figures(window)
    by_path = {x.path: x for x in window.layers}
    return {
        "step": window.step,
        "steps": window.steps,
        "host": window.host,
        "step_time_us": window.step_time_us,
        "op_time_us": derived["op_time_us"],
        "layers_self_us": derived["layers_self_us"],
        "other": {k: window.other.get(k, 0.0) for k in OTHER_KEYS},
        "mode": window.mode,
        "memory_available": window.memory_available,
        "warnings": list(window.warnings),
        "wall_time": window.wall_time,
        "layer_count": derived["layer_count"],
        "custom_count": derived["custom_count"],
        "hint_count": derived["hint_count"],
        # The hot layers (figures.hot_layers), with their own times by phase.
        "top": [
            {"path": h["path"], "self_forward_us": by_path[h["path"]].self_forward_us,
             "self_backward_us": by_path[h["path"]].self_backward_us}
            for h in derived["hot_layers"]
        ],
        "figures": derived,
    }


def layer_vector(window: WindowReport) -> Tuple[Dict[str, int], array]:
    """Compact per-layer numbers of one window, for the trend route (path -> row offset)."""
    index: Dict[str, int] = {}
    flat: List[float] = []
    for layer in window.layers:
        path = sys.intern(layer.path)
        if path in index:
            continue
        index[path] = len(flat)
        flat.extend(float(getattr(layer, f)) for f in TREND_FIELDS)
    return index, array("d", flat)


class Entry:
    """What the plugin keeps of one stored window: its summary and its trend numbers.

    The full window (possibly megabytes) is not kept; the data provider already holds it.
    """

    __slots__ = ("summary", "index", "values")

    def __init__(self, window: WindowReport):
        self.summary = window_summary(window)
        self.index, self.values = layer_vector(window)
