"""The reference reader the tests hold `xplane.read_profile` to: the whole XSpace parsed
with TensorFlow's own proto classes, every event walked as a message.

Slow and memory-hungry (a parsed XSpace is ~6x its file), but written from the schema's
point of view, independently of the wire-level reader, so that the two agreeing on a file
means the fast reader decoded it right.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from tb_layerprof.layermap import LAYERS_LINE
from tb_layerprof.xplane import hlo, kinds, wire
from tb_layerprof.xplane.records import (DeviceOp, Memory, Op, ProfileError, ProfileEvents,
                                         Span, Step)


def load_xspace(path: str):
    """Parse a `.xplane.pb` file; raises ProfileError with a clear message."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

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


def extract_events(space, host: str = "") -> ProfileEvents:
    """Flatten the host and GPU planes of a parsed `space` into a ProfileEvents."""
    out = ProfileEvents(host=host or (space.hostnames[0] if space.hostnames else ""))
    for plane in space.planes:
        if plane.name == wire.METADATA_PLANE:
            out.hlo_ops.update(hlo.hlo_index(plane))
    for plane in space.planes:
        if plane.name == wire.HOST_PLANE:
            extractor = _HostExtractor(plane, out)
        elif plane.name.startswith(wire.GPU_PLANE_PREFIX):
            extractor = _DeviceExtractor(plane, out)
        else:
            continue
        for line in plane.lines:
            if not extractor.wants(line.name):
                continue
            if extractor.host and line.name.startswith("tf_data"):
                out.input_lines.add(line.id)
            out.event_count += len(line.events)
            extractor.line(line.id, line.timestamp_ns * 1000, line.events)
    if any(op.name.startswith(kinds.XLA_MARK) for op in out.ops + out.device_ops):
        out.ops = hlo.resolve_xla(out.ops, out.hlo_ops, out.xla_splits)
        out.device_ops = hlo.resolve_xla(out.device_ops, out.hlo_ops, out.xla_splits)
    out.ops.sort(key=lambda r: r[1])
    out.steps.sort(key=lambda r: r[1])
    out.memory.sort(key=lambda r: r[0])
    out.spans.sort(key=lambda r: r[1])
    return out


def _value(stat, names: Dict[int, str]):
    which = stat.WhichOneof("value")
    if which == "ref_value":
        return names.get(stat.ref_value, "")
    if which is None:
        return None
    return getattr(stat, which)


def _int(stat) -> int:
    return stat.uint64_value or stat.int64_value


class _Extractor:
    host = False

    def __init__(self, plane, out: ProfileEvents):
        self.out = out
        self.device = plane.name
        self.names = {k: v.name for k, v in plane.stat_metadata.items()}
        ids = {v: k for k, v in self.names.items()}
        self.sid = {key: ids.get(name) for key, name in kinds.STATS.items()}

    def stats(self, ev) -> Dict[str, object]:
        """The event's stats that the reader uses, by short key; the last one of a key wins."""
        by_id = {sid: key for key, sid in self.sid.items() if sid is not None}
        found = {}
        for s in ev.stats:
            key = by_id.get(s.metadata_id)
            if key is not None:
                found[key] = s
        return found


class _HostExtractor(_Extractor):
    host = True

    def __init__(self, plane, out):
        super().__init__(plane, out)
        self.kinds = {mid: kinds.classify(md.name) for mid, md in plane.event_metadata.items()}

    @staticmethod
    def wants(line_name: str) -> bool:
        return line_name != LAYERS_LINE

    def line(self, key: int, base_ps: int, events) -> None:
        out = self.out
        stack: List[Tuple[int, int]] = []  # open ops: (end_ps, index in out.ops)
        for ev in events:
            kind, a, b = self.kinds.get(ev.metadata_id, kinds.NOT_FOUND)
            st = self.stats(ev)
            if kind == kinds.OTHER:
                hlo_op = _value(st["hlo_op"], self.names) if "hlo_op" in st else None
                if not hlo_op:
                    continue
                program = _int(st["program_id"]) if "program_id" in st else 0
                kind, a, b = kinds.OP, kinds.xla_placeholder(program, hlo_op), ""
            start = base_ps + ev.offset_ps
            if kind == kinds.EAGER_EXEC:
                op_type = _value(st["eager_op"], self.names) or "" if "eager_op" in st else ""
                if (_int(st["is_func"]) if "is_func" in st else 0) or not op_type:
                    continue  # a tf.function call: its ops appear on their own
                kind, a, b = kinds.OP, "eager/" + op_type, op_type
            if kind == kinds.OP:
                end = start + ev.duration_ps
                while stack and stack[-1][0] <= start:
                    stack.pop()
                if stack and end <= stack[-1][0]:
                    i = stack[-1][1]
                    out.ops[i] = out.ops[i]._replace(self_ps=out.ops[i].self_ps - ev.duration_ps)
                stack.append((end, len(out.ops)))
                out.ops.append(Op(key, start, end, ev.duration_ps, a, b))
            elif kind in (kinds.ALLOC, kinds.FREE):
                tf_op = _value(st["tf_op"], self.names) or "" if "tf_op" in st else ""
                allocator = _value(st["allocator"], self.names) or "" if "allocator" in st else ""
                out.memory.append(Memory(
                    start, 1 if kind == kinds.ALLOC else -1,
                    _int(st["bytes"]) if "bytes" in st else 0,
                    _int(st["addr"]) if "addr" in st else 0, tf_op, allocator))
            elif kind == kinds.LAUNCH:
                if "correlation" in st:
                    out.launches[_int(st["correlation"])] = start
            elif kind == kinds.STEP:
                if "step" in st:
                    step = st["step"].int64_value or st["step"].uint64_value
                    out.steps.append(Step(int(step), start, start + ev.duration_ps))
            else:
                out.spans.append(Span(key, start, start + ev.duration_ps, a, kinds.SPAN_LABELS[kind]))


class _DeviceExtractor(_Extractor):
    @staticmethod
    def wants(line_name: str) -> bool:
        return line_name.startswith("Stream #")

    def line(self, key: int, base_ps: int, events) -> None:
        for ev in events:
            st = self.stats(ev)
            if "kernel" not in st and "memcpy" not in st:
                continue  # overhead markers, counters
            hlo_op = _value(st["hlo_op"], self.names) if "hlo_op" in st else None
            if hlo_op:
                program = _int(st["program_id"]) if "program_id" in st else 0
                name, op_type = kinds.xla_placeholder(program, hlo_op), ""
            else:
                tf_op = _value(st["tf_op"], self.names) if "tf_op" in st else None
                name, op_type = kinds.split_tf_op(tf_op or "")
            start = base_ps + ev.offset_ps
            self.out.device_ops.append(DeviceOp(
                self.device, key, start, start + ev.duration_ps, ev.duration_ps, name, op_type,
                _int(st["correlation"]) if "correlation" in st else 0))
