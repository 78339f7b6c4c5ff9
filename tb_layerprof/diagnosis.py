"""Pure diagnosis: turns a window's per-layer figures into hints, each with its evidence.

Every rule fires only on positive evidence; thresholds are deliberately conservative so a
vectorized layer is never told it has a loop. Thresholds live here, named, so the README
can quote them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from tb_layerprof.figures import layer_rates, peak_fraction, phase_rates
from tb_layerprof.report import Hint, LayerStats, WindowReport

# Python loop unrolled at trace time: a layer's own call creates many ops, most of them
# repetitions of a few types (a loop body copied once per iteration).
LOOP_MIN_OPS_PER_CALL = 40
LOOP_MIN_REPEATS = 16
_BOOKKEEPING_TYPES = {"Const", "Identity", "NoOp", "ReadVariableOp", "Placeholder"}

# Memory churn: the layer allocates far more per step than it must: its outputs (forward)
# plus the gradients of its inputs and weights (backward).
CHURN_MIN_RATIO = 8.0
CHURN_MIN_BYTES = 256 * 1024

# Expensive gradient: a matmul's gradient costs ~2x its forward (two matmuls); on CPUs we
# measured up to ~3.7x, so warn only well above that, and only for layers that matter.
GRAD_MIN_RATIO = 5.0
GRAD_MIN_SHARE = 0.05  # of the window's op time per step

# Retracing: one trace for train, one for the last partial batch, one for evaluation are
# normal; more means Python values or changing shapes reach the layer.
RETRACE_MIN_TRACES = 4

HOST_ROUND_TRIP_TYPES = {"PyFunc", "EagerPyFunc", "PyFuncStateless"}

# Overhead-bound: many op executions, each too small to matter, the layer far below both
# roofs (the seed's per-column loop: ~0.1% of the FLOP roof, a few % of the bandwidth
# roof, hundreds of ~5 µs ops per step).
OVERHEAD_MIN_OP_EVENTS = 32  # per step, forward + gradient, the layer's own
OVERHEAD_MAX_US_PER_OP = 50.0  # mean own op time per execution
OVERHEAD_MAX_FLOPS_FRACTION = 0.01
# The bandwidth roof is a DRAM streaming copy: the small tensors of such ops live in cache
# and may move bytes faster; what marks overhead is that each op moves little.
OVERHEAD_MAX_BYTES_FRACTION = 0.5
OVERHEAD_MAX_BYTES_PER_OP = 256 * 1024
OVERHEAD_MIN_SHARE = 0.02  # of the window's op time

# Memory-bound: FLOPs per byte far below the machine's ridge point (peak FLOP/s over
# bandwidth) while it moves bytes at a real fraction of the bandwidth roof.
MEMORY_MAX_INTENSITY_OF_RIDGE = 0.25
MEMORY_MIN_BYTES_FRACTION = 0.1
MEMORY_MIN_SHARE = 0.05


def _loop_hint(layer: LayerStats) -> List[Hint]:
    own = layer.self_ops_per_call
    if not layer.custom:
        return []  # a stock layer's graph is Keras' code: nothing the user can vectorize
    if own < LOOP_MIN_OPS_PER_CALL or not layer.op_types:
        return []
    repeated = {
        t: n for t, n in layer.op_types.items() if n >= LOOP_MIN_REPEATS and t not in _BOOKKEEPING_TYPES
    }
    if not repeated:
        return []
    listing = ", ".join(f"{t} ×{n}" for t, n in sorted(repeated.items(), key=lambda kv: -kv[1]))
    return [
        Hint(
            code="python-loop",
            message=(
                f"`call` builds {own} ops per call, mostly repeats ({listing}): a Python loop "
                "is unrolled into the graph at trace time. Replace it with one vectorized "
                "op on the whole tensor (or tf.vectorized_map / tf.map_fn)."
            ),
            evidence={
                "ops_per_call": own,
                "repeated_op_types": repeated,
                "output_elements": layer.output_elements,
                "forward_op_events_per_step": round(layer.forward_op_events, 1),
                "backward_op_events_per_step": round(layer.backward_op_events, 1),
            },
        )
    ]


def _churn_hint(layer: LayerStats) -> List[Hint]:
    # Only allocations that outlive the op that made them: a kernel's scratch buffers
    # (convolution workspaces, attention temporaries) are the kernel's business.
    allocated = layer.self_kept_alloc_bytes
    if layer.output_bytes == 0 or not layer.custom:
        return []  # no size to compare with; a stock layer's allocations are not the user's code
    needed = layer.output_bytes + layer.input_bytes + layer.param_bytes
    ratio = allocated / needed
    if allocated < CHURN_MIN_BYTES or ratio < CHURN_MIN_RATIO:
        return []
    return [
        Hint(
            code="memory-churn",
            message=(
                f"allocates {allocated / 1024:.0f} KiB per step where its outputs, input "
                f"gradients and weight gradients need {needed / 1024:.0f} KiB ({ratio:.0f}×): "
                "intermediate tensors are created and thrown away (slices, per-element "
                "results, gradient zeros). Work on whole tensors."
            ),
            evidence={
                "alloc_bytes_per_step": allocated,
                "all_alloc_bytes_per_step": layer.self_forward_alloc_bytes + layer.self_backward_alloc_bytes,
                "forward_alloc_bytes": layer.self_forward_alloc_bytes,
                "backward_alloc_bytes": layer.self_backward_alloc_bytes,
                "output_bytes": layer.output_bytes,
                "input_bytes": layer.input_bytes,
                "param_bytes": layer.param_bytes,
                "ratio": round(ratio, 1),
            },
        )
    ]


def _gradient_hint(layer: LayerStats, op_time_us: float,
                   typical: Optional[Tuple[float, float]] = None) -> List[Hint]:
    """The gradient far costlier than the forward, in the window's mean step and, where
    the analysis knows it, with every op at its median run (`typical`: own forward and
    gradient µs per step): a tiny layer's ratio is otherwise one stalled op away from 50×."""
    fwd, bwd = layer.self_forward_us, layer.self_backward_us
    if fwd <= 0 or bwd <= 0 or op_time_us <= 0 or not layer.custom:
        return []  # a stock layer's gradient is Keras' and TensorFlow's code
    ratio = bwd / fwd
    share = bwd / op_time_us
    if ratio < GRAD_MIN_RATIO or share < GRAD_MIN_SHARE:
        return []
    if typical is not None:
        t_fwd, t_bwd = typical
        if t_fwd <= 0 or t_bwd < GRAD_MIN_RATIO * t_fwd or t_bwd < GRAD_MIN_SHARE * op_time_us:
            return []
    top = [op for op in layer.top_ops if op.get("phase") == "backward"][:3]
    return [
        Hint(
            code="expensive-gradient",
            message=(
                f"the gradient costs {ratio:.1f}× the forward pass ({bwd:.0f} µs vs "
                f"{fwd:.0f} µs per step, {share:.0%} of op time). Consider a cheaper "
                "formulation or an explicit tf.custom_gradient."
            ),
            evidence={
                "backward_forward_ratio": round(ratio, 2),
                "forward_us": round(fwd, 1),
                "backward_us": round(bwd, 1),
                "share_of_op_time": round(share, 3),
                **({"typical_forward_us": round(typical[0], 1), "typical_backward_us": round(typical[1], 1)}
                   if typical is not None else {}),
                "top_backward_ops": [f"{op['name']} ({op['type']})" for op in top],
            },
        )
    ]


def _retrace_hint(layer: LayerStats) -> List[Hint]:
    if layer.trace_count < RETRACE_MIN_TRACES:
        return []
    return [
        Hint(
            code="retracing",
            message=(
                f"traced {layer.trace_count} times: each trace rebuilds the graph. Changing "
                "input shapes or Python arguments to `call` cause it; pad/bucket shapes or "
                "pass tensors instead of Python values."
            ),
            evidence={"trace_count": layer.trace_count},
            severity="info" if layer.trace_count < 2 * RETRACE_MIN_TRACES else "warning",
        )
    ]


def _host_round_trip_hint(layer: LayerStats) -> List[Hint]:
    found: Dict[str, int] = {t: n for t, n in layer.op_types.items() if t in HOST_ROUND_TRIP_TYPES}
    if not found:
        return []
    return [
        Hint(
            code="host-round-trip",
            message=(
                "runs Python inside the graph (tf.py_function / tf.numpy_function): every "
                "step leaves TensorFlow, holds the GIL and copies tensors through the host. "
                "Express it with TensorFlow ops."
            ),
            evidence={"op_types": found},
        )
    ]


def _rate_evidence(rates: Dict[str, Any]) -> Dict[str, Any]:
    """The efficiency figures a hint shows as evidence (rounded, unknown ones left out)."""
    out: Dict[str, Any] = {}
    for key, name, digits in (("flops_per_s", "achieved_flops_per_s", 0),
                              ("bytes_per_s", "achieved_bytes_per_s", 0),
                              ("intensity", "flops_per_byte", 3),
                              ("flops_fraction", "share_of_peak_flops", 5),
                              ("bytes_fraction", "share_of_peak_bytes", 5)):
        if rates.get(key) is not None:
            out[name] = round(float(rates[key]), digits)
    return out


def _overhead_hint(layer: LayerStats, rates: Dict[str, Any], window: WindowReport) -> List[Hint]:
    """Many tiny ops far below both roofs: in the whole layer, else in one of its phases
    (the seed's loop: its forward is 500 slices of a few µs; its gradient sums their
    gradients in dense AddNs that do move bytes, so the layer as a whole is not)."""
    own_us = layer.self_forward_us + layer.self_backward_us
    op_time_us = window.op_time_us
    if not layer.custom or own_us <= 0 or op_time_us <= 0 or own_us / op_time_us < OVERHEAD_MIN_SHARE:
        return []
    moved = (layer.self_forward_bytes or 0.0) + (layer.self_backward_bytes or 0.0)
    events = layer.forward_op_events + layer.backward_op_events
    found = _overheads(events, own_us, moved, rates)
    if found is not None:
        return [_overhead_message("", found, rates)]
    for phase in ("forward", "backward"):
        if getattr(layer, f"self_{phase}_us") / op_time_us < OVERHEAD_MIN_SHARE:
            continue
        phase_rate = phase_rates(layer, window, phase, own=True)
        found = _overheads(getattr(layer, f"{phase}_op_events"), getattr(layer, f"self_{phase}_us"),
                           getattr(layer, f"self_{phase}_bytes") or 0.0, phase_rate)
        if found is not None:
            return [_overhead_message("forward" if phase == "forward" else "gradient", found,
                                      phase_rate)]
    return []


def _overheads(events: float, us: float, moved: float, rates: Dict[str, Any]) -> Optional[Dict[str, float]]:
    """The overhead figures when `events` ops taking `us` and moving `moved` bytes per
    step are many, tiny and far below both roofs; None otherwise."""
    if not rates or events < OVERHEAD_MIN_OP_EVENTS or us <= 0:
        return None
    per_op = us / events
    f_frac, b_frac = rates.get("flops_fraction"), rates.get("bytes_fraction")
    if per_op > OVERHEAD_MAX_US_PER_OP or f_frac is None or b_frac is None:
        return None
    if moved / events > OVERHEAD_MAX_BYTES_PER_OP:
        return None
    if f_frac > OVERHEAD_MAX_FLOPS_FRACTION or b_frac > OVERHEAD_MAX_BYTES_FRACTION:
        return None
    return {"events": events, "per_op": per_op, "f_frac": f_frac, "b_frac": b_frac,
            "bytes_per_op": moved / events}


def _overhead_message(phase: str, f: Dict[str, float], rates: Dict[str, Any]) -> Hint:
    who = f"its {phase} runs" if phase else "runs"
    evidence = {"op_events_per_step": round(f["events"], 1), "us_per_op": round(f["per_op"], 2),
                "bytes_per_op": round(f["bytes_per_op"]), **_rate_evidence(rates)}
    if phase:
        evidence = {"phase": phase, **evidence}
    return Hint(
        code="overhead-bound",
        message=(
            f"{who} {f['events']:.0f} ops per step of {f['per_op']:.1f} µs each on average, at "
            f"{f['f_frac']:.2%} of the FLOP roof and {f['b_frac']:.1%} of the bandwidth roof: its "
            "time is per-op overhead (dispatch, small kernels), not work. Fewer, larger ops on "
            "whole tensors (vectorize) remove it."
        ),
        evidence=evidence,
    )


def _memory_hint(layer: LayerStats, rates: Dict[str, Any], window: WindowReport) -> List[Hint]:
    own_us = layer.self_forward_us + layer.self_backward_us
    op_time = window.op_time_us
    intensity, b_frac = rates.get("intensity"), rates.get("bytes_fraction")
    peak_f, peak_b = window.peak_flops_per_s, window.peak_bytes_per_s
    if intensity is None or b_frac is None or not peak_f or not peak_b or op_time <= 0:
        return []
    if not layer.custom:
        # A stock pooling or normalization layer is memory-bound by nature, and nothing
        # the user controls changes that: saying so on every such layer is noise.
        return []
    ridge = peak_f / peak_b
    if own_us / op_time < MEMORY_MIN_SHARE or b_frac < MEMORY_MIN_BYTES_FRACTION:
        return []
    if intensity > MEMORY_MAX_INTENSITY_OF_RIDGE * ridge:
        return []
    advice = (" Fuse the elementwise steps (fewer passes over the data), or keep "
              "intermediates smaller (lower precision).")
    return [Hint(
        code="memory-bound",
        message=(
            f"does {intensity:.2f} FLOPs per byte moved (the machine's ridge point is "
            f"{ridge:.1f}) at {b_frac:.0%} of the bandwidth roof: its time is set by the "
            f"bytes it moves, not its arithmetic.{advice}"
        ),
        evidence={"ridge_flops_per_byte": round(ridge, 3), **_rate_evidence(rates)},
        severity="info",
    )]


def diagnose_layer(layer: LayerStats, op_time_us: float,
                   window: Optional[WindowReport] = None,
                   typical: Optional[Tuple[float, float]] = None) -> List[Hint]:
    """All hints for one layer (self figures, so a parent is not blamed for its child).
    With the window, work-based hints too, and the layer's efficiency as evidence; with
    `typical` (own forward and gradient µs per step, each op at its median run), timing
    ratios must hold in the typical step too."""
    hints = (
        _loop_hint(layer)
        + _churn_hint(layer)
        + _gradient_hint(layer, op_time_us, typical)
        + _retrace_hint(layer)
        + _host_round_trip_hint(layer)
    )
    if window is None:
        return hints
    rates = layer_rates(layer, window)
    extra = _rate_evidence(rates)
    for hint in hints:
        for key, value in extra.items():
            hint.evidence.setdefault(key, value)
    overhead = _overhead_hint(layer, rates, window)
    return hints + overhead + ([] if overhead else _memory_hint(layer, rates, window))


def diagnose(window: WindowReport,
             typical: Optional[Mapping[str, Tuple[float, float]]] = None) -> WindowReport:
    """Fill in `hints` of every layer of `window` (in place) and return it. `typical`:
    layer path -> own (forward, gradient) µs per step with each op at its median run, where
    the analysis has it."""
    typical = typical or {}
    for layer in window.layers:
        layer.hints = diagnose_layer(layer, window.op_time_us, window, typical.get(layer.path))
    return window


def efficiency(layer: LayerStats, window: WindowReport) -> Optional[float]:
    """The layer's fraction of the nearer roof (None without counts or peaks)."""
    return peak_fraction(layer_rates(layer, window))
