"""Figures derived from a window report: the one definition of each, for every view.

The CLI, the TensorBoard plugin (and through it the tab), the training log line and the
demo all read op time, the step basis, the layer tree, hot layers, coverage and speed-ups
from here, so that no two views can disagree. Pure functions of `report` objects.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tb_layerprof.report import LayerStats, RunReport, WindowReport, reports_to_json

HOT_LAYERS = 5  # the costliest layers a summary names, plus any other with a warning
COVERAGE_WARN_UNATTRIBUTED = 0.02  # of op time (the analysis warns past these)
COVERAGE_WARN_FRAMEWORK = 0.03
HEALTHY_PEAK_FRACTION = 0.3  # of the nearer roof: a stock layer at or above runs as it should


def finite(value: Any, default: float = 0.0) -> float:
    """A report figure as a finite float; anything unusable (None, text, NaN) is `default`."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def layer_total(layer: LayerStats) -> float:
    """Forward + gradient time per step, sublayers included."""
    return finite(layer.forward_us) + finite(layer.backward_us)


def layer_self_total(layer: LayerStats) -> float:
    """Forward + gradient time per step of the layer's own ops (sublayers excluded)."""
    return finite(layer.self_forward_us) + finite(layer.self_backward_us)


def window_op_time(window: WindowReport) -> float:
    """All op time per step: the report's figure, or the sum it must equal (own times of
    every layer plus every `other` category)."""
    if finite(window.op_time_us) > 0:
        return finite(window.op_time_us)
    return sum(layer_self_total(x) for x in window.layers) + sum(
        finite(v) for v in (window.other or {}).values()
    )


def step_basis(window: WindowReport) -> float:
    """What "% of step" divides by: the measured step time, else the op time. (Op time can
    exceed step time: ops of several threads run at once.)"""
    return finite(window.step_time_us) or window_op_time(window)


def share(part: float, whole: float) -> float:
    """part / whole, 0 when there is no whole."""
    return part / whole if whole > 0 else 0.0


def layer_tree(layers: Sequence[LayerStats]) -> List[Tuple[LayerStats, int]]:
    """Layers in display order with their depth: parents before children, siblings by total
    time (descending), ties by path. A parent missing from the report, or a parent cycle in
    a damaged report, puts the layer at the top level."""
    by_path = {x.path: x for x in layers}
    children: Dict[Optional[str], List[LayerStats]] = {}
    for layer in layers:
        parent = layer.parent if layer.parent in by_path and layer.parent != layer.path else None
        children.setdefault(parent, []).append(layer)

    def key(x: LayerStats):
        return (-layer_total(x), str(x.path))

    out: List[Tuple[LayerStats, int]] = []
    seen = set()
    stack: List[Tuple[LayerStats, int]] = []

    def visit(root: LayerStats) -> None:
        stack.append((root, 0))
        while stack:
            layer, depth = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append((layer, depth))
            kids = sorted(children.get(layer.path, []), key=key)
            stack.extend((child, depth + 1) for child in reversed(kids))

    for root in sorted(children.get(None, []), key=key):
        visit(root)
    # Members of a parent cycle are reachable from no root: show them flat, not lose them.
    for layer in sorted(layers, key=key):
        if id(layer) not in seen:
            visit(layer)
    return out


def rate(count: Optional[float], us: float) -> Optional[float]:
    """Per second, of a count per step done in `us` µs per step (None: unknown)."""
    if count is None or not us or us <= 0:
        return None
    return finite(count) / us * 1e6


def layer_rates(layer: LayerStats, window: WindowReport, own: bool = True) -> Dict[str, Any]:
    """Achieved FLOP/s and bytes/s of a layer (its own ops, or with sublayers), the
    arithmetic intensity (FLOPs per byte) and the fraction of each roof; {} when the layer
    has no counts. Fractions are None where the window has no peaks."""
    if own:
        return _rates(_sum_known(layer.self_forward_flops, layer.self_backward_flops),
                      _sum_known(layer.self_forward_bytes, layer.self_backward_bytes),
                      layer_self_total(layer), window)
    return _rates(_sum_known(layer.forward_flops, layer.backward_flops),
                  _sum_known(layer.forward_bytes, layer.backward_bytes), layer_total(layer), window)


def phase_rates(layer: LayerStats, window: WindowReport, phase: str,
                own: bool = False) -> Dict[str, Any]:
    """`layer_rates` of one phase alone, "forward" or "backward" (sublayers included, or
    with `own` the layer's own ops only)."""
    own_ = "self_" if own else ""
    return _rates(getattr(layer, f"{own_}{phase}_flops"), getattr(layer, f"{own_}{phase}_bytes"),
                  finite(getattr(layer, f"{own_}{phase}_us")), window)


def _rates(flops: Optional[float], moved: Optional[float], us: float,
           window: WindowReport) -> Dict[str, Any]:
    flops_per_s, bytes_per_s = rate(flops, us), rate(moved, us)
    if flops_per_s is None:
        return {}
    peak_f, peak_b = window.peak_flops_per_s, window.peak_bytes_per_s
    return {
        "flops_per_s": flops_per_s,
        "bytes_per_s": bytes_per_s,
        "intensity": flops / moved if moved else None,
        "flops_fraction": flops_per_s / peak_f if peak_f else None,
        "bytes_fraction": bytes_per_s / peak_b if peak_b and bytes_per_s is not None else None,
    }


def _sum_known(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None and b is None:
        return None
    return finite(a) + finite(b)


def peak_fraction(rates: Dict[str, Any]) -> Optional[float]:
    """How close a layer runs to the nearer roof: the larger of its two roof fractions."""
    known = [f for f in (rates.get("flops_fraction"), rates.get("bytes_fraction")) if f is not None]
    return max(known) if known else None


def layer_work(window: WindowReport) -> Dict[str, Dict[str, Any]]:
    """The work figures of each layer that has counts, as the tab's rate column and
    roofline show them: `layer_rates` with sublayers (the CLI table's GFLOP/s and % roof)
    and its `peak_fraction`, for both phases (`total`) and each alone (`forward`,
    `backward`; null without a count or time there). {path: {"counts", "total", "forward",
    "backward"}}."""
    out: Dict[str, Dict[str, Any]] = {}
    for layer in window.layers:
        total = layer_rates(layer, window, own=False)
        if total:
            out[layer.path] = {"counts": layer.work_counts, "total": _with_peak_fraction(total),
                               **{phase: _with_peak_fraction(phase_rates(layer, window, phase))
                                  for phase in ("forward", "backward")}}
    return out


def _with_peak_fraction(rates: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    return {**rates, "peak_fraction": peak_fraction(rates)} if rates else None


def healthy_stock_layer(layer: LayerStats, window: WindowReport) -> bool:
    """A stock layer running near a roof: big because the model is, nothing to fix."""
    if layer.custom:
        return False
    fraction = peak_fraction(layer_rates(layer, window))
    return fraction is not None and fraction >= HEALTHY_PEAK_FRACTION


def hot_layers(window: WindowReport, limit: int = HOT_LAYERS) -> List[LayerStats]:
    """Layers worth reading about first, ranked by their own time: the `limit` costliest,
    with or without a diagnosis, then up to `limit` more that carry a warning. A stock
    layer at a healthy fraction of its roof (`healthy_stock_layer`) is not hot for being
    big (windows without counts or peaks rank by time alone, as before)."""
    ranked = sorted((x for x in window.layers if x.hints or not healthy_stock_layer(x, window)),
                    key=lambda x: (-layer_self_total(x), str(x.path)))
    top = [x for x in ranked[:limit] if layer_self_total(x) > 0]
    chosen = {id(x) for x in top}
    flagged = [x for x in ranked[limit:]
               if any(h.severity == "warning" for h in x.hints) and id(x) not in chosen]
    return sorted(top + flagged[:limit], key=lambda x: (-layer_self_total(x), str(x.path)))


def coverage(window: WindowReport) -> float:
    """Share of op time owned by a layer or a named category (1 - unattributed share)."""
    op_time = window_op_time(window)
    if op_time <= 0:
        return 1.0
    unattributed = finite((window.other or {}).get("unattributed_us"))
    return max(0.0, min(1.0, 1.0 - unattributed / op_time))


def speedup(base_us: float, run_us: float) -> Optional[float]:
    """How many times faster `run` is than `base` (below 1: slower); None without both."""
    base_us, run_us = finite(base_us), finite(run_us)
    if base_us <= 0 or run_us <= 0:
        return None
    return base_us / run_us


def speedup_text(factor: Optional[float], digits: int = 2) -> str:
    """'2.30x faster', '1.40x slower', 'no change', or '' without a factor."""
    if factor is None:
        return ""
    if round(factor, digits) == 1.0:
        return "no change"
    if factor > 1:
        return f"{factor:.{digits}f}x faster"
    return f"{1 / factor:.{digits}f}x slower"


def window_figures(window: WindowReport) -> Dict[str, Any]:
    """The derived figures of a window as JSON, as every view shows them (`/window`,
    `/windows`, the CLI's JSON): op time, step basis, coverage and the hot layers."""
    op_time = window_op_time(window)
    return {
        "op_time_us": op_time,
        "step_basis_us": step_basis(window),
        "layers_self_us": sum(layer_self_total(x) for x in window.layers),
        "coverage": coverage(window),
        "hot_layers": [
            {"path": x.path, "self_us": layer_self_total(x),
             "share_of_op_time": share(layer_self_total(x), op_time),
             "hints": [h.code for h in x.hints]}
            for x in hot_layers(window)
        ],
        "hint_count": sum(len(x.hints) for x in window.layers),
        "custom_count": sum(1 for x in window.layers if x.custom),
        "layer_count": len(window.layers),
    }


def reports_json(runs: Sequence[RunReport]) -> Dict[str, Any]:
    """The report document (DESIGN.md section 4) of `runs`, each window with its derived
    `figures` (`window_figures`): what `tb-layerprof report --format json` prints and the
    plugin's `/report` serves, so both name the same hot layers and coverage."""
    doc = reports_to_json(list(runs))
    for run, run_doc in zip(runs, doc["runs"]):
        for window, window_doc in zip(run.windows, run_doc["windows"]):
            window_doc["figures"] = window_figures(window)
    return doc


def summary_line(window: WindowReport, first: int, last: int, backend: str = "") -> str:
    """The training log's one line per window: the top hot layer, its share of op time,
    step time, coverage and the hints found (both backends' callbacks print it)."""
    head = f"layerprof: window steps {first}\u2013{last} analysed" + (f" ({backend})" if backend else "")
    hot = hot_layers(window)
    if not hot:
        return head + ": no layer ops found"
    top = hot[0]
    total = layer_self_total(top)
    hints = ", ".join(sorted({h.code for lyr in window.layers for h in lyr.hints})) or "none"
    return (
        f"{head}: top layer {top.path} ({top.class_name}) {total / 1000:.2f} ms/step "
        f"(fwd {top.self_forward_us / 1000:.2f} + grad {top.self_backward_us / 1000:.2f}), "
        f"{share(total, window_op_time(window)):.0%} of op time; step "
        f"{finite(window.step_time_us) / 1000:.2f} ms; coverage {coverage(window):.1%}; hints: {hints}"
    )
