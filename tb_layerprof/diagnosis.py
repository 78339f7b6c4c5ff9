"""Pure diagnosis: turns a window's per-layer figures into hints, each with its evidence.

Every rule fires only on positive evidence; thresholds are deliberately conservative so a
vectorized layer is never told it has a loop. Thresholds live here, named, so the README
can quote them.
"""

from __future__ import annotations

from typing import Dict, List

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


def _gradient_hint(layer: LayerStats, op_time_us: float) -> List[Hint]:
    fwd, bwd = layer.self_forward_us, layer.self_backward_us
    if fwd <= 0 or bwd <= 0 or op_time_us <= 0 or not layer.custom:
        return []  # a stock layer's gradient is Keras' and TensorFlow's code
    ratio = bwd / fwd
    share = bwd / op_time_us
    if ratio < GRAD_MIN_RATIO or share < GRAD_MIN_SHARE:
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


def diagnose_layer(layer: LayerStats, op_time_us: float) -> List[Hint]:
    """All hints for one layer (self figures, so a parent is not blamed for its child)."""
    return (
        _loop_hint(layer)
        + _churn_hint(layer)
        + _gradient_hint(layer, op_time_us)
        + _retrace_hint(layer)
        + _host_round_trip_hint(layer)
    )


def diagnose(window: WindowReport) -> WindowReport:
    """Fill in `hints` of every layer of `window` (in place) and return it."""
    for layer in window.layers:
        layer.hints = diagnose_layer(layer, window.op_time_us)
    return window
