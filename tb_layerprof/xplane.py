"""The only module that reads XSpace protos: turns a `.xplane.pb` into plain event records.

Output is a `ProfileEvents` of flat tuples (no protos), so attribution stays pure and fast.
Events are read once; per-metadata facts (is this an op? which type?) are computed once
per distinct event name, not once per event.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Optional, Tuple

# "op_name:OpType" is how TensorFlow's executor names the TraceMe of a graph op
# (XProf parses it the same way). OpType is a TF identifier.
_TF_OP_RE = re.compile(r"^([^:\s][^:]*):([A-Za-z_][A-Za-z0-9_]*)$")

STEP_EVENT_NAME = "train"  # the callback marks steps with Trace("train", step_num=..., _r=1)
EAGER_SPAN_PREFIX = "layerprof:"
EAGER_GRAD_BEGIN = "layerprof_grad_begin:"
EAGER_GRAD_END = "layerprof_grad_end:"
EAGER_CATEGORY_PREFIX = "layerprof_cat:"  # eager spans of loss/metrics/optimizer code
HOST_PLANE = "/host:CPU"


class ProfileError(Exception):
    """A profile file that is missing, truncated or not an XSpace."""


@dataclasses.dataclass
class ProfileEvents:
    """Plain records of one capture. Times are picoseconds since the epoch."""

    host: str = ""
    # (line key, start_ps, end_ps, self_ps, op name, op type)
    ops: List[Tuple[int, int, int, int, str, str]] = dataclasses.field(default_factory=list)
    # (step_num, start_ps, end_ps)
    steps: List[Tuple[int, int, int]] = dataclasses.field(default_factory=list)
    # (time_ps, +1 alloc / -1 free, bytes, address, tf_op name or "")
    memory: List[Tuple[int, int, int, int, str]] = dataclasses.field(default_factory=list)
    # eager spans: (line key, start_ps, end_ps, layer path or category key,
    #               kind "forward"/"grad_begin"/"grad_end"/"category")
    spans: List[Tuple[int, int, int, str, str]] = dataclasses.field(default_factory=list)
    event_count: int = 0
    eager: bool = False


def _stat_value(stat, ref_names: Dict[int, str]):
    which = stat.WhichOneof("value")
    if which == "ref_value":
        return ref_names.get(stat.ref_value, "")
    if which is None:
        return None
    return getattr(stat, which)


def load_xspace(path: str):
    """Parse a `.xplane.pb` file; raises ProfileError with a clear message."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # only here: TF's proto

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
    if not data:
        raise ProfileError(f"profile {path} is empty")
    space = xplane_pb2.XSpace()
    try:
        space.ParseFromString(data)
    except Exception as e:
        raise ProfileError(f"profile {path} is not a valid XSpace: {e}") from None
    if not space.planes:
        raise ProfileError(f"profile {path} holds no planes")
    return space


def host_from_path(path: str) -> str:
    base = os.path.basename(path)
    return base[: -len(".xplane.pb")] if base.endswith(".xplane.pb") else base


# Per-metadata classification codes.
_OTHER, _OP, _STEP, _ALLOC, _FREE, _EAGER_EXEC, _SPAN, _GRAD_BEGIN, _GRAD_END, _CATEGORY = range(10)


def extract_events(space, host: str = "") -> ProfileEvents:
    """Flatten the host planes of `space` into a ProfileEvents."""
    out = ProfileEvents(host=host or (space.hostnames[0] if space.hostnames else ""))
    for plane in space.planes:
        if plane.name != HOST_PLANE:
            continue
        _extract_plane(plane, out)
    out.ops.sort(key=lambda r: r[1])
    out.steps.sort(key=lambda r: r[1])
    out.memory.sort(key=lambda r: r[0])
    out.spans.sort(key=lambda r: r[1])
    return out


def _classify(name: str) -> Tuple[int, str, str]:
    if name == STEP_EVENT_NAME:
        return _STEP, "", ""
    if name == "MemoryAllocation":
        return _ALLOC, "", ""
    if name == "MemoryDeallocation":
        return _FREE, "", ""
    if name == "EagerExecute":
        return _EAGER_EXEC, "", ""
    if name.startswith(EAGER_SPAN_PREFIX):
        return _SPAN, name[len(EAGER_SPAN_PREFIX):], ""
    if name.startswith(EAGER_CATEGORY_PREFIX):
        return _CATEGORY, name[len(EAGER_CATEGORY_PREFIX):], ""
    if name.startswith(EAGER_GRAD_BEGIN):
        return _GRAD_BEGIN, name[len(EAGER_GRAD_BEGIN):], ""
    if name.startswith(EAGER_GRAD_END):
        return _GRAD_END, name[len(EAGER_GRAD_END):], ""
    m = _TF_OP_RE.match(name)
    if m and "::" not in name:
        return _OP, m.group(1), m.group(2)
    return _OTHER, "", ""


def _extract_plane(plane, out: ProfileEvents) -> None:
    stat_names = {k: v.name for k, v in plane.stat_metadata.items()}
    stat_id = {v: k for k, v in stat_names.items()}
    sid_step = stat_id.get("step_num")
    sid_bytes = stat_id.get("allocation_bytes")
    sid_addr = stat_id.get("addr")
    sid_tf_op = stat_id.get("tf_op")
    sid_eager_op = stat_id.get("eager_op")
    sid_is_func = stat_id.get("is_func")
    kinds = {mid: _classify(md.name) for mid, md in plane.event_metadata.items()}

    ops = out.ops
    for line in plane.lines:
        base_ps = line.timestamp_ns * 1000
        key = line.id
        # Stack of open op events on this line: [end_ps, index in ops] for self-time.
        stack: List[List[int]] = []
        events = line.events
        out.event_count += len(events)
        for ev in events:
            kind, a, b = kinds.get(ev.metadata_id, (_OTHER, "", ""))
            if kind == _OTHER:
                continue
            start = base_ps + ev.offset_ps
            if kind == _OP or kind == _EAGER_EXEC:
                if kind == _EAGER_EXEC:
                    op_type = ""
                    is_func = 0
                    for s in ev.stats:
                        if s.metadata_id == sid_eager_op:
                            op_type = _stat_value(s, stat_names) or ""
                        elif s.metadata_id == sid_is_func:
                            is_func = s.int64_value or s.uint64_value
                    if is_func or not op_type:
                        continue  # a tf.function call: its ops appear on their own
                    a, b = "eager/" + op_type, op_type
                    out.eager = True
                dur = ev.duration_ps
                end = start + dur
                while stack and stack[-1][0] <= start:
                    stack.pop()
                if stack and end <= stack[-1][0]:
                    parent = ops[stack[-1][1]]
                    ops[stack[-1][1]] = parent[:3] + (parent[3] - dur,) + parent[4:]
                ops.append((key, start, end, dur, a, b))
                stack.append([end, len(ops) - 1])
            elif kind == _STEP:
                step = None
                for s in ev.stats:
                    if s.metadata_id == sid_step:
                        step = s.int64_value or s.uint64_value
                if step is not None:
                    out.steps.append((int(step), start, start + ev.duration_ps))
            elif kind == _ALLOC or kind == _FREE:
                nbytes = addr = 0
                tf_op = ""
                for s in ev.stats:
                    m = s.metadata_id
                    if m == sid_bytes:
                        nbytes = s.uint64_value or s.int64_value
                    elif m == sid_addr:
                        addr = s.uint64_value or s.int64_value
                    elif m == sid_tf_op:
                        tf_op = _stat_value(s, stat_names) or ""
                out.memory.append((start, 1 if kind == _ALLOC else -1, nbytes, addr, tf_op))
            else:  # eager layer span or gradient marker
                label = {_SPAN: "forward", _GRAD_BEGIN: "grad_begin", _GRAD_END: "grad_end",
                         _CATEGORY: "category"}[kind]
                out.spans.append((key, start, start + ev.duration_ps, a, label))


def read_profile(path: str) -> ProfileEvents:
    """Load one `.xplane.pb` and flatten it (ProfileError if it is not readable)."""
    space = load_xspace(path)
    try:
        return extract_events(space, host=host_from_path(path))
    except ProfileError:
        raise
    except Exception as e:  # a structurally odd XSpace: say so, do not crash training
        raise ProfileError(f"profile {path} could not be read: {e}") from None
