"""What an event's name means to the reader: a TF op, a step, an allocation, a span, ..."""

from __future__ import annotations

import re
from typing import Tuple

from tb_layerprof.layermap import (
    EAGER_CATEGORY_PREFIX,
    EAGER_GRAD_BEGIN,
    EAGER_GRAD_END,
    EAGER_SPAN_PREFIX,
    STEP_EVENT_NAME,
)

# "op_name:OpType" is how TensorFlow's executor names the TraceMe of a graph op
# (XProf parses it the same way). OpType is a TF identifier.
TF_OP_RE = re.compile(r"^([^:\s][^:]*):([A-Za-z_][A-Za-z0-9_]*)$")

LAUNCH_NAMES = ("cuLaunchKernel", "cudaLaunchKernel", "cuLaunchKernelEx", "cuLaunchCooperativeKernel",
                "hipModuleLaunchKernel", "hipLaunchKernel")

# Kind codes, computed once per distinct event name (event metadata), not per event.
OTHER, OP, STEP, ALLOC, FREE, EAGER_EXEC, SPAN, GRAD_BEGIN, GRAD_END, CATEGORY, LAUNCH = range(11)

SPAN_LABELS = {SPAN: "forward", GRAD_BEGIN: "grad_begin", GRAD_END: "grad_end", CATEGORY: "category"}
NOT_FOUND = (OTHER, "", "")

# The stats the extractors read: short key -> stat name.
STATS = {
    "step": "step_num", "bytes": "allocation_bytes", "addr": "addr", "tf_op": "tf_op",
    "eager_op": "eager_op", "is_func": "is_func", "allocator": "allocator_name",
    "hlo_op": "hlo_op", "program_id": "program_id", "correlation": "correlation_id",
    "kernel": "kernel_details", "memcpy": "memcpy_details",
}

# An XLA op's name until the HLO protos resolve it: mark, program id, mark, instruction.
XLA_MARK = "\x00xla\x00"


def xla_placeholder(program_id: int, hlo_op: str) -> str:
    return f"{XLA_MARK}{program_id}{XLA_MARK}{hlo_op}"


def classify(name: str) -> Tuple[int, str, str]:
    """(kind, a, b) for an event name: for ops a, b = op name, op type; for spans a = key."""
    if name == STEP_EVENT_NAME:
        return STEP, "", ""
    if name == "MemoryAllocation":
        return ALLOC, "", ""
    if name == "MemoryDeallocation":
        return FREE, "", ""
    if name == "EagerExecute":
        return EAGER_EXEC, "", ""
    if name in LAUNCH_NAMES:
        return LAUNCH, "", ""
    for prefix, kind in ((EAGER_SPAN_PREFIX, SPAN), (EAGER_CATEGORY_PREFIX, CATEGORY),
                         (EAGER_GRAD_BEGIN, GRAD_BEGIN), (EAGER_GRAD_END, GRAD_END)):
        if name.startswith(prefix):
            return kind, name[len(prefix):], ""
    m = TF_OP_RE.match(name)
    if m and "::" not in name:
        return OP, m.group(1), m.group(2)
    return OTHER, "", ""


def split_tf_op(tf_op: str) -> Tuple[str, str]:
    """("name", "Type") of a `tf_op` stat "name:Type"; (tf_op, "") when it is not one."""
    parsed = TF_OP_RE.match(tf_op)
    return (parsed.group(1), parsed.group(2)) if parsed else (tf_op, "")
