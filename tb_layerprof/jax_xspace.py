"""Read a `jax.profiler` capture (`.xplane.pb`) without TensorFlow: step markers, XLA thunk
executions and the HLO protos of the programs that ran.

The XSpace schema (tsl's public `xplane.proto`) is declared here as a FileDescriptorProto
and turned into message classes by the protobuf runtime, so parsing runs at upb speed
(a full parse of a 32 MB capture takes ~0.2 s) without TensorFlow's generated modules.
The project's `xplane` reader needs TensorFlow's protos; this one is what the JAX path,
which must run where TensorFlow cannot be installed, uses.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Dict, List, Tuple

STEP_EVENT_NAME = "train"  # the callback marks steps with StepTraceAnnotation("train", ...)
HOST_PLANE = "/host:CPU"
METADATA_PLANE = "/host:metadata"
GPU_PLANE_PREFIX = "/device:GPU:"


class CaptureError(Exception):
    """A capture that is missing, truncated or not an XSpace."""


@functools.lru_cache(maxsize=None)
def _classes():
    """Message classes for XSpace and friends, built once from the schema below."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    i64, u64, dbl, st, by, msg = F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_DOUBLE, F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_MESSAGE
    pkg = "tb_layerprof_jax.xplane"
    schema = {
        # message: [(name, number, label, type, message type name, oneof index)]
        "XSpace": [("planes", 1, rep, msg, "XPlane", None), ("hostnames", 4, rep, st, None, None)],
        "XPlane": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None),
                   ("lines", 3, rep, msg, "XLine", None),
                   ("event_metadata", 4, rep, msg, "XPlane.EventMetadataEntry", None),
                   ("stat_metadata", 5, rep, msg, "XPlane.StatMetadataEntry", None),
                   ("stats", 6, rep, msg, "XStat", None)],
        "XLine": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None),
                  ("timestamp_ns", 3, opt, i64, None, None), ("events", 4, rep, msg, "XEvent", None)],
        "XEvent": [("metadata_id", 1, opt, i64, None, None), ("offset_ps", 2, opt, i64, None, 0),
                   ("duration_ps", 3, opt, i64, None, None), ("stats", 4, rep, msg, "XStat", None),
                   ("num_occurrences", 5, opt, i64, None, 0)],
        "XStat": [("metadata_id", 1, opt, i64, None, None), ("double_value", 2, opt, dbl, None, 0),
                  ("uint64_value", 3, opt, u64, None, 0), ("int64_value", 4, opt, i64, None, 0),
                  ("str_value", 5, opt, st, None, 0), ("bytes_value", 6, opt, by, None, 0),
                  ("ref_value", 7, opt, u64, None, 0)],
        "XEventMetadata": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None),
                           ("stats", 5, rep, msg, "XStat", None)],
        "XStatMetadata": [("id", 1, opt, i64, None, None), ("name", 2, opt, st, None, None)],
    }
    oneofs = {"XEvent": "data", "XStat": "value"}
    fdp = descriptor_pb2.FileDescriptorProto(name="tb_layerprof_jax_xplane.proto", package=pkg,
                                             syntax="proto3")
    for name, flds in schema.items():
        m = fdp.message_type.add(name=name)
        if name in oneofs:
            m.oneof_decl.add(name=oneofs[name])
        for fname, number, label, ftype, tname, oneof in flds:
            f = m.field.add(name=fname, number=number, label=label, type=ftype)
            if tname:
                f.type_name = f".{pkg}.{tname}"
            if oneof is not None:
                f.oneof_index = oneof
        if name == "XPlane":  # map<int64, XEventMetadata>, map<int64, XStatMetadata>
            for entry, value in (("EventMetadataEntry", "XEventMetadata"), ("StatMetadataEntry", "XStatMetadata")):
                e = m.nested_type.add(name=entry)
                e.options.map_entry = True
                e.field.add(name="key", number=1, label=opt, type=i64)
                e.field.add(name="value", number=2, label=opt, type=msg, type_name=f".{pkg}.{value}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{pkg}.XSpace"))


@dataclasses.dataclass
class Thunk:
    """One execution of one HLO instruction (a CPU thunk or a GPU kernel)."""

    line: str  # "<plane>/<line id>"
    start_ps: int
    end_ps: int
    self_ps: int
    program_id: int
    hlo_op: str
    module: str
    run_id: int
    device: bool = False


@dataclasses.dataclass
class JaxCapture:
    """Plain records of one capture; times are picoseconds since the epoch."""

    host: str = ""
    steps: List[Tuple[int, int, int]] = dataclasses.field(default_factory=list)  # (step, start, end)
    thunks: List[Thunk] = dataclasses.field(default_factory=list)
    programs: Dict[int, Tuple[str, bytes]] = dataclasses.field(default_factory=dict)  # id -> (name, HloProto)
    event_count: int = 0
    device_planes: List[str] = dataclasses.field(default_factory=list)
    # Device memory figures from the capture when it has them (GPU planes' stats).
    memory: Dict[str, float] = dataclasses.field(default_factory=dict)


def load(path: str):
    """The parsed XSpace of `path` (CaptureError with a clear message)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CaptureError(f"cannot read profile {path}: {e.strerror or e}") from None
    if not data:
        raise CaptureError(f"profile {path} is empty")
    space = _classes()()
    try:
        space.ParseFromString(data)
    except Exception as e:
        raise CaptureError(f"profile {path} is not a valid XSpace: {e}") from None
    if not space.planes:
        raise CaptureError(f"profile {path} holds no planes")
    return space


def _value(stat, names: Dict[int, str]):
    which = stat.WhichOneof("value")
    if which == "ref_value":
        return names.get(stat.ref_value, "")
    return getattr(stat, which) if which else None


def read_capture(path: str) -> JaxCapture:
    """Flatten one capture into a JaxCapture."""
    space = load(path)
    base = os.path.basename(path)
    out = JaxCapture(host=base[: -len(".xplane.pb")] if base.endswith(".xplane.pb") else base)
    for plane in space.planes:
        if plane.name == METADATA_PLANE:
            _programs(plane, out)
        elif plane.name == HOST_PLANE or plane.name.startswith(GPU_PLANE_PREFIX):
            _events(plane, out, device=plane.name.startswith(GPU_PLANE_PREFIX))
    out.steps.sort(key=lambda s: s[1])
    out.thunks.sort(key=lambda t: t.start_ps)
    return out


def _programs(plane, out: JaxCapture) -> None:
    names = {k: v.name for k, v in plane.stat_metadata.items()}
    for mid, md in plane.event_metadata.items():
        blob, program_id = b"", mid
        for st in md.stats:
            name = names.get(st.metadata_id)
            if name == "Hlo Proto":
                blob = st.bytes_value
            elif name == "program_id" and (st.int64_value or st.uint64_value):
                program_id = st.int64_value or st.uint64_value
        if blob:
            # The event name is "<module>(<program id>)": the id the thunks' stats carry.
            label = md.name
            if label.endswith(")") and "(" in label:
                head, _, tail = label[:-1].rpartition("(")
                if tail.isdigit():
                    program_id, label = int(tail), head
            out.programs[program_id] = (label, blob)


def _events(plane, out: JaxCapture, device: bool) -> None:
    names = {k: v.name for k, v in plane.stat_metadata.items()}
    ids = {v: k for k, v in names.items()}
    sid_hlo, sid_prog, sid_mod = ids.get("hlo_op"), ids.get("program_id"), ids.get("hlo_module")
    sid_run, sid_step = ids.get("run_id"), ids.get("step_num")
    if device:
        out.device_planes.append(plane.name)
        for st in plane.stats:  # e.g. memory_bandwidth, memory_size on GPU planes
            value = _value(st, names)
            if isinstance(value, (int, float)) and "memory" in names.get(st.metadata_id, ""):
                out.memory[f"{plane.name}:{names[st.metadata_id]}"] = float(value)
    md_names = {k: v.name for k, v in plane.event_metadata.items()}
    for line in plane.lines:
        base_ps = line.timestamp_ns * 1000
        key = f"{plane.name}/{line.id}"
        spans: List[Thunk] = []
        for ev in line.events:
            out.event_count += 1
            start = base_ps + ev.offset_ps
            stats = {st.metadata_id: st for st in ev.stats}
            if sid_step is not None and sid_step in stats and md_names.get(ev.metadata_id) == STEP_EVENT_NAME:
                step = _value(stats[sid_step], names)
                out.steps.append((int(step), start, start + ev.duration_ps))
                continue
            if sid_hlo is None or sid_hlo not in stats:
                if not device or ev.duration_ps <= 0:
                    continue
                # A GPU kernel or copy without the hlo_op annotation: kept under its own
                # name (the analysis matches kernel names to instructions, else it is
                # unattributed): device time must never silently vanish.
                hlo_op = md_names.get(ev.metadata_id, "")
            else:
                hlo_op = str(_value(stats[sid_hlo], names))
            spans.append(Thunk(
                line=key, start_ps=start, end_ps=start + ev.duration_ps, self_ps=ev.duration_ps,
                program_id=int(_value(stats[sid_prog], names) or 0) if sid_prog in stats else 0,
                hlo_op=hlo_op,
                module=str(_value(stats[sid_mod], names)) if sid_mod in stats else "",
                run_id=int(_value(stats[sid_run], names) or 0) if sid_run in stats else 0,
                device=device))
        _self_times(spans)
        out.thunks.extend(spans)


def _self_times(spans: List[Thunk]) -> None:
    """Subtract each thunk's direct children on its line (a while/call thunk runs others)
    so that nested thunks are not counted twice."""
    spans.sort(key=lambda t: (t.start_ps, -t.end_ps))
    stack: List[Thunk] = []
    for t in spans:
        while stack and stack[-1].end_ps <= t.start_ps:
            stack.pop()
        if stack and t.end_ps <= stack[-1].end_ps:
            stack[-1].self_ps -= t.end_ps - t.start_ps
        stack.append(t)
    for t in spans:
        t.self_ps = max(0, t.self_ps)


def add_line(path: str, line_name: str, events, plane_names: List[str]) -> int:
    """Append a line of events (objects with name, start_ps, duration_ps, stats) to the
    named planes of the capture at `path`; returns how many planes changed.

    The TF path's writer (`xplane.add_line`) needs TensorFlow's protos; JAX captures are
    small enough (a few MB) to parse whole with this module's schema. Fields the schema
    does not declare are kept as unknown fields, so nothing else in the file changes.
    The file is replaced atomically.
    """
    events = list(events)
    if not events:
        return 0
    space = load(path)
    changed = 0
    for plane in space.planes:
        if plane.name in plane_names:
            _append_line(plane, line_name, events)
            changed += 1
    if changed:
        tmp = f"{path}.layerprof-tmp"
        with open(tmp, "wb") as f:
            f.write(space.SerializeToString())
        os.replace(tmp, path)
    return changed


def _append_line(plane, line_name: str, events) -> None:
    stat_ids = {md.name: k for k, md in plane.stat_metadata.items()}
    event_ids = {md.name: k for k, md in plane.event_metadata.items()}
    next_id = max(list(plane.stat_metadata.keys()) + list(plane.event_metadata.keys()) + [0]) + 1

    def stat_id(name: str) -> int:
        nonlocal next_id
        if name not in stat_ids:
            stat_ids[name] = next_id
            md = plane.stat_metadata[next_id]
            md.id, md.name = next_id, name
            next_id += 1
        return stat_ids[name]

    line = plane.lines.add()
    line.id = max([ln.id for ln in plane.lines] + [0]) + 1
    line.name = line_name
    line.timestamp_ns = min(e.start_ps for e in events) // 1000
    base_ps = line.timestamp_ns * 1000
    for e in events:
        if e.name not in event_ids:
            event_ids[e.name] = next_id
            md = plane.event_metadata[next_id]
            md.id, md.name = next_id, e.name
            next_id += 1
        ev = line.events.add(metadata_id=event_ids[e.name], offset_ps=e.start_ps - base_ps,
                             duration_ps=max(0, e.duration_ps))
        for key, value in e.stats.items():
            st = ev.stats.add(metadata_id=stat_id(key))
            if isinstance(value, bool) or isinstance(value, int):
                st.int64_value = int(value)
            elif isinstance(value, float):
                st.double_value = value
            else:
                st.str_value = str(value)
