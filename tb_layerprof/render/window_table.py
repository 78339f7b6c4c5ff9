"""One profile window as terminal text: header, hot layers with their diagnoses, the
layer table (nested layers indented), then the time outside layers and the coverage."""

from __future__ import annotations

import json
import textwrap
from typing import Dict, List, Optional

from tb_layerprof.figures import (
    COVERAGE_WARN_FRAMEWORK,
    COVERAGE_WARN_UNATTRIBUTED,
    hot_layers,
    layer_rates,
    peak_fraction,
    layer_self_total,
    layer_total,
    layer_tree,
    step_basis,
    window_op_time,
)
from tb_layerprof.render.columns import (
    DEFAULT_TABLE_TOP,
    MAX_NAME_WIDTH,
    aligned,
    clip,
    largest_in_tree,
    step_span,
)
from tb_layerprof.report import OTHER_KEYS, Hint, LayerStats, WindowReport
from tb_layerprof.units import Units, as_float, safe_text

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
    ("GFLOP/s", ">"),
    ("% roof", ">"),
    ("*", "<"),
    ("hints", "<"),
)
UNOWNED_OPS_LISTED = 5  # largest ops without a layer named by the coverage warning


def display_name(layer: LayerStats, depth: int) -> str:
    """Nested layers show their path relative to the parent, indented by depth."""
    path = str(layer.path)
    parent = layer.parent
    if depth and parent and path.startswith(str(parent) + "/"):
        path = path[len(str(parent)) + 1 :]
    return "  " * depth + safe_text(path)


def format_evidence(evidence: Dict[str, object], units: Units, limit: int = 5) -> str:
    """A hint's evidence as 'key=value, ...': times and sizes in units, long values cut."""
    parts = []
    for k, v in list(evidence.items())[:limit]:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k.startswith("share_of_"):
            v = f"{v:.2%}"  # a fraction of a roof (share_of_peak_bytes is not a size)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k.endswith("_flops_per_s"):
            v = f"{v / 1e9:.3g} GFLOP/s"
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k.endswith("_bytes_per_s"):
            v = units.size(v) + "/s"
        elif isinstance(v, float):
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


def _header(run_name: str, window: WindowReport, units: Units) -> List[str]:
    steps = step_span(window.step, max(int(as_float(window.steps, 1)), 1))
    head = (
        f"Run {safe_text(run_name)} | steps {steps} ({window.steps} profiled)"
        f" | host {safe_text(window.host) or '?'}"
        f" | step time {units.time(as_float(window.step_time_us))}"
        f" | op time {units.time(window_op_time(window))}/step"
    )
    if window.mode and window.mode != "graph":
        head += f" | {safe_text(window.mode)} mode"
    lines = [head, "=" * min(len(head), 100)]
    lines.extend(f"warning: {safe_text(warning)}" for warning in window.warnings or [])
    if not window.memory_available:
        lines.append(
            "note: no memory events in this profile (TF_CPU_ALLOCATOR_USE_BFC was off?);"
            " memory columns read n/a"
        )
    return lines


def _hint_lines(hint: Hint, units: Units) -> List[str]:
    mark = "!" if hint.severity == "warning" else "i"
    msg = f"{mark} [{safe_text(hint.code)}] {safe_text(hint.message)}"
    lines = textwrap.wrap(msg, width=100, initial_indent="     ", subsequent_indent="       ")
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
    return lines


def _hot_section(window: WindowReport, units: Units) -> List[str]:
    """The hot layers (figures.hot_layers) with their diagnoses, or why there are none."""
    hot = hot_layers(window)
    if not hot:
        if window.layers:
            return ["", "No hot layer: no diagnosis, and no layer takes 10% of the op time."]
        return []
    basis = step_basis(window)
    lines = ["", "Hot layers (by own time, sublayers excluded):"]
    for i, layer in enumerate(hot, 1):
        own = layer_self_total(layer)
        kind = safe_text(layer.class_name) or "?"
        if layer.custom:
            kind += ", custom"
        lines.append(
            f"  {i}. {safe_text(layer.path)} ({kind}): {units.time(own)}/step ="
            f" {units.percent(own, basis)} of step"
            f" (forward {units.time(as_float(layer.self_forward_us))},"
            f" gradient {units.time(as_float(layer.self_backward_us))})"
        )
        for hint in layer.hints:
            lines.extend(_hint_lines(hint, units))
    return lines


def _work_cells(layer: LayerStats, window: WindowReport) -> List[str]:
    """Achieved GFLOP/s (forward + gradient, sublayers included) and the share of the
    nearer roof; "-" without counts, "?" without peaks (`figures.layer_rates`)."""
    rates = layer_rates(layer, window, own=False)
    if not rates:
        return ["-", "-"]
    fraction = peak_fraction(rates)
    return [f"{rates['flops_per_s'] / 1e9:.3g}",
            _roof_percent(fraction) if fraction is not None else "?"]


def _roof_percent(fraction: float) -> str:
    pct = 100 * fraction
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.2g}%"


def _layer_cells(
    layer: LayerStats, depth: int, units: Units, basis: float, mem: bool,
    window: WindowReport,
) -> List[str]:
    total = layer_total(layer)
    return [
        clip(display_name(layer, depth), MAX_NAME_WIDTH),
        units.time(as_float(layer.forward_us)),
        units.time(as_float(layer.backward_us)),
        units.time(total),
        units.percent(total, basis),
        units.size(as_float(layer.forward_alloc_bytes)) if mem else "n/a",
        units.size(as_float(layer.backward_alloc_bytes)) if mem else "n/a",
        units.size(as_float(layer.peak_live_bytes)) if mem else "n/a",
        units.size(as_float(layer.param_bytes)),
        str(int(as_float(layer.calls))),
        str(int(as_float(layer.ops_per_call))),
        *_work_cells(layer, window),
        "*" if layer.custom else "",
        safe_text(",".join(h.code for h in layer.hints)),
    ]


def _layer_table(window: WindowReport, units: Units, top: Optional[int]) -> List[str]:
    """Every layer (or the `top` largest) in tree order, one aligned row each."""
    tree = layer_tree(window.layers)
    if not tree:
        return ["", "(no layers in this window)"]
    shown = largest_in_tree(tree, window.layers, top)
    basis, mem = step_basis(window), bool(window.memory_available)
    rows = [_layer_cells(layer, depth, units, basis, mem, window) for layer, depth in shown]
    lines = [""] + aligned(rows, TABLE_COLUMNS)
    if len(shown) < len(tree):
        lines.append(f"... {len(tree) - len(shown)} more layers not shown (--top 0 shows all)")
    lines.append("forward/gradient include sublayers; times per step; * = custom layer;"
                 " GFLOP/s achieved, % roof of the nearer peak" + _peak_note(window))
    return lines


def _peak_note(window: WindowReport) -> str:
    if not window.peak_flops_per_s:
        return " (no peaks known)"
    bw = f", {as_float(window.peak_bytes_per_s) / 1e9:.3g} GB/s" if window.peak_bytes_per_s else ""
    if bw and window.peak_cache_bytes_per_s:
        bw += f" ({as_float(window.peak_cache_bytes_per_s) / 1e9:.3g} GB/s in cache)"
    return (f" ({as_float(window.peak_flops_per_s) / 1e9:.3g} GFLOP/s{bw},"
            f" {safe_text(window.peak_source or '?')}; counts cover"
            f" {100 * as_float(window.work_coverage):.0f}% of op time)")


def _coverage_warning(window: WindowReport, units: Units, op_time: float) -> List[str]:
    """A warning naming the largest unowned ops when coverage is below the analysis' limits."""
    other = window.other or {}
    unattributed = as_float(other.get("unattributed_us"))
    framework = as_float(other.get("framework_us"))
    if not (unattributed > COVERAGE_WARN_UNATTRIBUTED * op_time
            or framework > COVERAGE_WARN_FRAMEWORK * op_time):
        return []
    unowned = getattr(window, "unowned_ops", None) or []
    listed = [o for o in unowned if isinstance(o, dict)][:UNOWNED_OPS_LISTED]
    ops = "; ".join(
        f"{safe_text(o.get('name', ''))} ({safe_text(o.get('type', ''))},"
        f" {safe_text(str(o.get('category', ''))[:-3])}) {units.time(as_float(o.get('us')))}"
        for o in listed
    )
    return [
        f"! Coverage: unattributed {units.percent(unattributed, op_time)} (limit 2%),"
        f" framework {units.percent(framework, op_time)} (limit 3%); largest ops without"
        " a layer: " + (ops or "n/a")
    ]


def _outside_section(window: WindowReport, units: Units) -> List[str]:
    """Time outside every layer by category, and how much of the op time has an owner."""
    other = window.other or {}
    parts = [f"{key[:-3]} {units.time(as_float(other.get(key)))}" for key in OTHER_KEYS]
    for key in sorted(k for k in other if k not in OTHER_KEYS):
        parts.append(f"{safe_text(key[:-3] if key.endswith('_us') else key)}"
                     f" {units.time(as_float(other.get(key)))}")
    lines = ["", "Outside layers (per step): " + ", ".join(parts)]
    op_time = window_op_time(window)
    if op_time <= 0:
        return lines + ["Attributed: no op time recorded in this window"]
    unattributed = as_float(other.get("unattributed_us"))
    in_layers = sum(layer_self_total(x) for x in window.layers)
    lines.append(
        f"Attributed: {units.percent(op_time - unattributed, op_time)} of op time"
        f" ({units.time(op_time - unattributed)} of {units.time(op_time)}/step);"
        f" in layers: {units.percent(in_layers, op_time)}"
    )
    return lines + _coverage_warning(window, units, op_time)


def render_window_table(
    run_name: str, window: WindowReport, units: Units, top: Optional[int] = DEFAULT_TABLE_TOP
) -> str:
    """One window as text: header, hot layers with diagnoses, the layer table, the rest."""
    lines = _header(run_name, window, units)
    lines += _hot_section(window, units)
    lines += _layer_table(window, units, top)
    lines += _outside_section(window, units)
    return "\n".join(lines)
