"""The only module that reads XSpace protos: turns a `.xplane.pb` into plain event records.

Output is a `ProfileEvents` of flat tuples (no protos), so attribution stays pure and fast.
Events are read once; per-metadata facts (is this an op? which type?) are computed once
per distinct event name, not once per event.
"""

from __future__ import annotations

import dataclasses
import mmap
import operator
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
TAPE_SPAN = "tape"  # EAGER_CATEGORY_PREFIX + TAPE_SPAN: a tf.GradientTape.gradient call
HOST_PLANE = "/host:CPU"
METADATA_PLANE = "/host:metadata"
GPU_PLANE_PREFIX = "/device:GPU:"
XLA_UNMAPPED_TYPE = "XlaUnmapped"  # an XLA op whose HLO instruction names no TF op
_XLA_MARK = "\x00xla\x00"  # placeholder op name of an XLA event until HLO lookup
_LAUNCH_NAMES = ("cuLaunchKernel", "cudaLaunchKernel", "cuLaunchKernelEx", "cuLaunchCooperativeKernel",
                 "hipModuleLaunchKernel", "hipLaunchKernel")


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
    # (time_ps, +1 alloc / -1 free, bytes, address, tf_op name or "", allocator name)
    memory: List[Tuple[int, int, int, int, str, str]] = dataclasses.field(default_factory=list)
    # eager spans: (line key, start_ps, end_ps, layer path or category key,
    #               kind "forward"/"grad_begin"/"grad_end"/"category")
    spans: List[Tuple[int, int, int, str, str]] = dataclasses.field(default_factory=list)
    event_count: int = 0
    # Host line keys of tf.data's threads (their ops are input pipeline work).
    input_lines: set = dataclasses.field(default_factory=set)
    # Device (GPU) kernels and copies: (device, line key, start_ps, end_ps, self_ps, op name,
    # op type, correlation id or 0). Names are TF op names, from the `tf_op` stat or, for
    # XLA kernels, from the HLO instruction's op_name metadata.
    device_ops: List[Tuple[str, int, int, int, int, str, str, int]] = dataclasses.field(
        default_factory=list)
    # Host-side kernel launches: correlation id -> launch time (ps), to place kernels in steps.
    launches: Dict[int, int] = dataclasses.field(default_factory=dict)
    # XLA fusions whose instructions came from several TF ops: (op names, time in ps).
    xla_splits: List[Tuple[Tuple[str, ...], int]] = dataclasses.field(default_factory=list)
    # (program_id, HLO instruction) -> [(op name, op type, share)], from /host:metadata.
    hlo_ops: Dict[Tuple[int, str], List[Tuple[str, str, float]]] = dataclasses.field(
        default_factory=dict)


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
_OTHER, _OP, _STEP, _ALLOC, _FREE, _EAGER_EXEC, _SPAN, _GRAD_BEGIN, _GRAD_END, _CATEGORY, _LAUNCH = range(11)


def extract_events(space, host: str = "") -> ProfileEvents:
    """Flatten the host planes of a parsed `space` into a ProfileEvents."""
    out = ProfileEvents(host=host or (space.hostnames[0] if space.hostnames else ""))
    for plane in space.planes:
        if _plane_kind(plane.name) == "metadata":
            out.hlo_ops.update(hlo_index(plane))
    for plane in space.planes:
        kind = _plane_kind(plane.name)
        if kind == "host":
            extractor = _PlaneExtractor(plane, out)
        elif kind == "device":
            extractor = _DeviceExtractor(plane, out, plane.name)
        else:
            continue
        for line in plane.lines:
            if extractor.wants(line.name):
                _note_input_line(extractor, out, line.id, line.name)
                extractor.line(line.id, line.timestamp_ns, (line.events,))
    _finish(out)
    return out


def _finish(out: ProfileEvents) -> None:
    if _has_xla(out.ops) or _has_xla_device(out.device_ops):
        out.ops = _resolve_xla(out.ops, out, host=True)
        out.device_ops = _resolve_xla(out.device_ops, out, host=False)
    out.ops.sort(key=_BY_1)
    out.steps.sort(key=_BY_1)
    out.memory.sort(key=_BY_0)
    out.spans.sort(key=_BY_1)


def _has_xla(ops) -> bool:
    return any(op[4].startswith(_XLA_MARK) for op in ops)


def _has_xla_device(ops) -> bool:
    return any(op[5].startswith(_XLA_MARK) for op in ops)


def _resolve_xla(ops, out: ProfileEvents, host: bool):
    """Replace XLA placeholders by the TF ops their HLO instruction came from.

    An instruction made of several TF ops (a fusion) is split by the share of its fused
    instructions that each TF op contributed; such splits are recorded in `xla_splits`.
    """
    name_at = 4 if host else 5
    resolved = []
    for op in ops:
        name = op[name_at]
        if not name.startswith(_XLA_MARK):
            resolved.append(op)
            continue
        _, program, hlo_op = name.split(_XLA_MARK)
        hlo_op = hlo_op.split("::")[-1]
        sources = out.hlo_ops.get((int(program), hlo_op))
        self_at = 3 if host else 4
        if not sources:
            resolved.append(op[:name_at] + (hlo_op, XLA_UNMAPPED_TYPE) + op[name_at + 2:])
            continue
        if len(sources) > 1:
            out.xla_splits.append((tuple(src[0] for src in sources), op[self_at]))
        for op_name, op_type, share in sources:
            part = list(op)
            part[self_at] = int(op[self_at] * share)
            part[name_at], part[name_at + 1] = op_name, op_type
            resolved.append(tuple(part))
    return resolved


_NOT_OPS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}


def hlo_index(metadata_plane) -> Dict[Tuple[int, str], List[Tuple[str, str, float]]]:
    """(program_id, instruction name) -> [(TF op name, op type, share)] from HLO protos.

    XLA keeps one serialized `xla.HloProto` per compiled program in the `/host:metadata`
    plane (stat "Hlo Proto"; the event metadata id is the program id). Each instruction's
    `metadata.op_name` names the TF op it was lowered from; a fusion's share per TF op is
    the fraction of its fused instructions that op contributed.
    """
    try:
        from tensorflow.compiler.xla.service import hlo_pb2
    except ImportError:  # TF builds without XLA protos: XLA ops stay unmapped
        return {}
    names = {k: v.name for k, v in metadata_plane.stat_metadata.items()}
    index: Dict[Tuple[int, str], List[Tuple[str, str, float]]] = {}
    for mid, md in metadata_plane.event_metadata.items():
        program_id, blob = mid, None
        for st in md.stats:
            stat_name = names.get(st.metadata_id)
            if stat_name == "Hlo Proto":
                blob = st.bytes_value
            elif stat_name == "program_id":
                program_id = st.int64_value or st.uint64_value
        if not blob:
            continue
        proto = hlo_pb2.HloProto()
        try:
            proto.ParseFromString(blob)
        except Exception:
            continue
        computations = {c.id: c for c in proto.hlo_module.computations}

        def sources(instr, depth=0):
            counts: Dict[Tuple[str, str], int] = {}
            for cid in instr.called_computation_ids if instr.opcode == "fusion" else ():
                comp = computations.get(cid)
                for inner in comp.instructions if comp is not None and depth < 8 else ():
                    if inner.opcode in _NOT_OPS:
                        continue
                    for key, n in sources(inner, depth + 1).items():
                        counts[key] = counts.get(key, 0) + n
            if not counts and instr.metadata.op_name:
                counts[(instr.metadata.op_name, instr.metadata.op_type)] = 1
            return counts

        for comp in proto.hlo_module.computations:
            named: Dict[int, List[Tuple[str, str, float]]] = {}
            unnamed = []
            for instr in comp.instructions:
                counts = sources(instr)
                total = sum(counts.values())
                if total:
                    named[instr.id] = index[(program_id, instr.name)] = [
                        (n, t, c / total) for (n, t), c in sorted(counts.items(), key=lambda kv: -kv[1])
                    ]
                elif instr.opcode not in _NOT_OPS:
                    unnamed.append(instr)
            if unnamed:
                _name_by_neighbours(comp, named, unnamed, program_id, index)
    return index


def _name_by_neighbours(comp, named, unnamed, program_id: int, index) -> None:
    """Give instructions without `op_name` metadata (layout copies, a max-pool gradient's
    reduce-window, a convolution's weight gradient, iotas) the TF op of their neighbours in
    the dataflow, in this order: a gradient op they consume (work on a gradient continues
    it), a gradient op they feed, any op they feed (a layout copy of a weight for the
    convolution using it), any op they consume. Neighbours without a name are looked
    through, a few levels deep."""
    users: Dict[int, List[int]] = {}
    by_id = {}
    for instr in comp.instructions:
        by_id[instr.id] = instr
        for o in instr.operand_ids:
            users.setdefault(o, []).append(instr.id)

    def nearest(start, step) -> List[List[Tuple[str, str, float]]]:
        found, frontier, seen = [], [start], {start}
        for _ in range(_NEIGHBOUR_DEPTH):
            following = []
            for i in frontier:
                for j in step(i):
                    if j in seen:
                        continue
                    seen.add(j)
                    if j in named:
                        found.append(named[j])
                    else:
                        following.append(j)
            if found or not following:
                return found
            frontier = following
        return found

    def is_gradient(sources) -> bool:
        return any("gradient_tape/" in n or n.startswith("gradients/") for n, _, _ in sources)

    for instr in unnamed:
        consumed = nearest(instr.id, lambda i: by_id[i].operand_ids if i in by_id else ())
        fed = nearest(instr.id, lambda i: users.get(i, ()))
        pick = (next((s for s in consumed if is_gradient(s)), None)
                or next((s for s in fed if is_gradient(s)), None)
                or (fed[0] if fed else None) or (consumed[0] if consumed else None))
        if pick is not None:
            index[(program_id, instr.name)] = pick


_NEIGHBOUR_DEPTH = 6


_BY_0 = operator.itemgetter(0)
_BY_1 = operator.itemgetter(1)


def _classify(name: str) -> Tuple[int, str, str]:
    if name == STEP_EVENT_NAME:
        return _STEP, "", ""
    if name == "MemoryAllocation":
        return _ALLOC, "", ""
    if name == "MemoryDeallocation":
        return _FREE, "", ""
    if name == "EagerExecute":
        return _EAGER_EXEC, "", ""
    if name in _LAUNCH_NAMES:
        return _LAUNCH, "", ""
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


_SPAN_LABELS = {_SPAN: "forward", _GRAD_BEGIN: "grad_begin", _GRAD_END: "grad_end",
                _CATEGORY: "category"}
_NOT_FOUND = (_OTHER, "", "")


# The stats the extractors read: attribute `sid_<key>` holds the plane's id for each name.
_STATS = {
    "step": "step_num", "bytes": "allocation_bytes", "addr": "addr", "tf_op": "tf_op",
    "eager_op": "eager_op", "is_func": "is_func", "allocator": "allocator_name",
    "hlo_op": "hlo_op", "program_id": "program_id", "correlation": "correlation_id",
    "kernel": "kernel_details", "memcpy": "memcpy_details",
}


def _read_stat_ids(extractor, plane) -> None:
    """Set `stat_names` (id -> name) and a `sid_<key>` id (or None) for every `_STATS` name."""
    extractor.stat_names = {k: v.name for k, v in plane.stat_metadata.items()}
    ids = {v: k for k, v in extractor.stat_names.items()}
    for key, name in _STATS.items():
        setattr(extractor, f"sid_{key}", ids.get(name))


class _PlaneExtractor:
    """Turns the events of one plane's lines into ProfileEvents records.

    Per-metadata facts (kind, op name and type) are computed once per distinct event name.
    Allocator events carry a dozen stats in a fixed order; the positions of the three we
    need are learned from the first event of each kind and verified on every event (a
    mismatch falls back to a full scan), which avoids touching the other stats.
    """

    def __init__(self, plane, out: ProfileEvents):
        self.out = out
        _read_stat_ids(self, plane)
        self.kinds = {mid: _classify(md.name) for mid, md in plane.event_metadata.items()}
        # Learned stat layout (position of bytes, addr, tf_op or -1; stat count; position of
        # allocator_name or -1) for allocations and for frees.
        self.alloc_pos: Optional[Tuple[int, int, int, int, int]] = None
        self.free_pos: Optional[Tuple[int, int, int, int, int]] = None
        # Repeated sizes and addresses share one int object (allocations come in pairs).
        self.ints: Dict[int, int] = {}

    def wants(self, line_name: str) -> bool:
        return line_name != "Keras Layers"  # our own line, if the analysis runs again

    def _memory_slow(self, stats) -> Tuple[int, int, str, str, Tuple[int, int, int, int, int]]:
        nbytes = addr = 0
        tf_op = allocator = ""
        pb = pa = pt = pn = -1
        for i, s in enumerate(stats):
            m = s.metadata_id
            if m == self.sid_bytes:
                nbytes, pb = s.uint64_value or s.int64_value, i
            elif m == self.sid_addr:
                addr, pa = s.uint64_value or s.int64_value, i
            elif m == self.sid_tf_op:
                tf_op, pt = _stat_value(s, self.stat_names) or "", i
            elif m == self.sid_allocator:
                allocator, pn = _stat_value(s, self.stat_names) or "", i
        return nbytes, addr, tf_op, allocator, (pb, pa, pt, len(stats), pn)

    def _xla_event(self, ev) -> Optional[Tuple[str, str]]:
        """(placeholder name, "") of an XLA op event (it has an `hlo_op` stat), else None."""
        hlo_op = None
        program_id = 0
        for s in ev.stats:
            m = s.metadata_id
            if m == self.sid_hlo_op:
                hlo_op = _stat_value(s, self.stat_names)
            elif m == self.sid_program_id:
                program_id = s.int64_value or s.uint64_value
        if not hlo_op:
            return None
        return f"{_XLA_MARK}{program_id}{_XLA_MARK}{hlo_op}", ""

    def line(self, key: int, timestamp_ns: int, batches) -> None:
        """Add one line's events, given as consecutive batches of XEvent messages."""
        out = self.out
        ops, memory = out.ops, out.memory
        kinds_get = self.kinds.get
        sid_bytes, sid_addr, sid_tf_op = self.sid_bytes, self.sid_addr, self.sid_tf_op
        stat_names_get = self.stat_names.get
        ints_setdefault = self.ints.setdefault
        sid_allocator = self.sid_allocator
        xla = self.sid_hlo_op is not None
        base_ps = timestamp_ns * 1000
        # Stack of open op events on this line: (end_ps, index in ops) for self-time.
        stack: List[Tuple[int, int]] = []
        for events in batches:
            out.event_count += len(events)
            for ev in events:
                kind, a, b = kinds_get(ev.metadata_id, _NOT_FOUND)
                if kind == _OTHER:
                    if not xla or not ev.stats:
                        continue
                    found = self._xla_event(ev)
                    if found is None:
                        continue
                    kind, (a, b) = _OP, found
                start = base_ps + ev.offset_ps
                if kind == _OP or kind == _EAGER_EXEC:
                    if kind == _EAGER_EXEC:
                        op_type = ""
                        is_func = 0
                        for s in ev.stats:
                            if s.metadata_id == self.sid_eager_op:
                                op_type = _stat_value(s, self.stat_names) or ""
                            elif s.metadata_id == self.sid_is_func:
                                is_func = s.int64_value or s.uint64_value
                        if is_func or not op_type:
                            continue  # a tf.function call: its ops appear on their own
                        a, b = "eager/" + op_type, op_type
                    dur = ev.duration_ps
                    end = start + dur
                    while stack and stack[-1][0] <= start:
                        stack.pop()
                    if stack and end <= stack[-1][0]:
                        i = stack[-1][1]
                        parent = ops[i]
                        ops[i] = parent[:3] + (parent[3] - dur,) + parent[4:]
                    stack.append((end, len(ops)))
                    ops.append((key, start, end, dur, a, b))
                elif kind == _ALLOC or kind == _FREE:
                    stats = ev.stats
                    alloc = kind == _ALLOC
                    pos = self.alloc_pos if alloc else self.free_pos
                    nbytes = None
                    allocator = ""
                    if pos is not None:
                        pb, pa, pt, count, pn = pos
                        n = len(stats)
                        if pn >= 0:
                            sn = stats[pn] if pn < n else None
                            if sn is not None and sn.metadata_id == sid_allocator:
                                allocator = stat_names_get(sn.ref_value, "") if sn.ref_value else sn.str_value
                            else:
                                pb = n  # layout changed: take the slow path below
                        if pb < n and pa < n:
                            sb, sa = stats[pb], stats[pa]
                            if sb.metadata_id == sid_bytes and sa.metadata_id == sid_addr:
                                if pt >= 0:
                                    st = stats[pt] if pt < n else None
                                    if st is not None and st.metadata_id == sid_tf_op:
                                        ref = st.ref_value
                                        tf_op = (stat_names_get(ref, "") if ref else st.str_value) or ""
                                        nbytes = sb.uint64_value or sb.int64_value
                                elif n == count:  # same layout, which had no tf_op
                                    tf_op = ""
                                    nbytes = sb.uint64_value or sb.int64_value
                                if nbytes is not None:
                                    addr = sa.uint64_value or sa.int64_value
                    if nbytes is None:  # first of its kind, or another layout: full scan
                        nbytes, addr, tf_op, allocator, learned = self._memory_slow(stats)
                        if learned[0] >= 0 and learned[1] >= 0:
                            if alloc:
                                self.alloc_pos = learned
                            else:
                                self.free_pos = learned
                    memory.append((start, 1 if alloc else -1, ints_setdefault(nbytes, nbytes),
                                   ints_setdefault(addr, addr), tf_op, allocator))
                elif kind == _LAUNCH:
                    for s in ev.stats:
                        if s.metadata_id == self.sid_correlation:
                            out.launches[s.uint64_value or s.int64_value] = start
                elif kind == _STEP:
                    step = None
                    for s in ev.stats:
                        if s.metadata_id == self.sid_step:
                            step = s.int64_value or s.uint64_value
                    if step is not None:
                        out.steps.append((int(step), start, start + ev.duration_ps))
                else:  # eager layer span, gradient marker or category span
                    out.spans.append((key, start, start + ev.duration_ps, a, _SPAN_LABELS[kind]))


class _DeviceExtractor:
    """GPU planes: kernels and copies on "Stream #..." lines, attributed by TF op.

    A kernel names its TF op in the `tf_op` stat ("name:Type", from the executor's
    annotation); an XLA kernel names its HLO instruction (`hlo_op`, `program_id`), which
    the HLO protos map to TF ops. Events without either keep an empty name.
    """

    def __init__(self, plane, out: ProfileEvents, device: str):
        self.out = out
        self.device = device
        _read_stat_ids(self, plane)

    @staticmethod
    def wants(line_name: str) -> bool:
        return line_name.startswith("Stream #")

    def line(self, key: int, timestamp_ns: int, batches) -> None:
        out = self.out
        base_ps = timestamp_ns * 1000
        names = self.stat_names
        for events in batches:
            out.event_count += len(events)
            for ev in events:
                tf_op = hlo_op = None
                program_id = correlation = 0
                is_work = False
                for s in ev.stats:
                    m = s.metadata_id
                    if m == self.sid_tf_op:
                        tf_op = _stat_value(s, names)
                    elif m == self.sid_hlo_op:
                        hlo_op = _stat_value(s, names)
                    elif m == self.sid_program_id:
                        program_id = s.int64_value or s.uint64_value
                    elif m == self.sid_correlation:
                        correlation = s.uint64_value or s.int64_value
                    elif m == self.sid_kernel or m == self.sid_memcpy:
                        is_work = True
                if not is_work:
                    continue  # overhead markers, counters
                if hlo_op:
                    name, op_type = f"{_XLA_MARK}{program_id}{_XLA_MARK}{hlo_op}", ""
                else:
                    parsed = _TF_OP_RE.match(tf_op or "")
                    name, op_type = (parsed.group(1), parsed.group(2)) if parsed else (tf_op or "", "")
                start = base_ps + ev.offset_ps
                dur = ev.duration_ps
                out.device_ops.append(
                    (self.device, key, start, start + dur, dur, name, op_type, correlation))


# -- streaming reader ------------------------------------------------------------------
#
# A whole parsed XSpace costs about six times its file size in protobuf memory. The
# reader below never holds it: it walks the file's wire format (memory-mapped, pages
# dropped once used), parses only the host plane's header (names of events and stats),
# and parses that plane's lines in batches of about _BATCH_BYTES of events at a time.

_BATCH_BYTES = 1 << 20
_DROP_EVERY = 4 << 20  # release mapped pages after scanning this many bytes


def _varint(buf, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProfileError("varint too long")


def _fields(buf, pos: int, end: int):
    """Yield (field number, wire type, record start, value) for the fields in [pos, end).

    value: the integer for varints, the (start, stop) range for length-delimited fields,
    None for fixed-width ones.
    """
    while pos < end:
        record = pos
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ProfileError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value = (pos, pos + n)
            pos += n
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ProfileError(f"unsupported wire type {wire}")
        if pos > end:
            raise ProfileError("a field runs past the end of its message")
        yield field, wire, record, value, pos


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


class _Mapped:
    """The file's bytes: memory-mapped when possible, with a way to release used pages."""

    def __init__(self, f):
        self.map = None
        try:
            self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self.buf = self.map
        except (OSError, ValueError):
            self.buf = f.read()
        self.size = len(self.buf)
        self._can_drop = self.map is not None and hasattr(self.map, "madvise") and hasattr(
            mmap, "MADV_DONTNEED")

    def drop(self, start: int, stop: int) -> None:
        """Tell the kernel we are done with [start, stop) (it stays in the page cache)."""
        if not self._can_drop:
            return
        page = mmap.PAGESIZE
        a = start - start % page
        b = min(self.size, stop)
        if b > a:
            try:
                self.map.madvise(mmap.MADV_DONTNEED, a, b - a)
            except (OSError, ValueError):
                self._can_drop = False

    def close(self) -> None:
        if self.map is not None:
            self.map.close()


def _scan_line(mapped: _Mapped, start: int, end: int):
    """Line id, timestamp_ns and the byte ranges of its events, in batches."""
    buf = mapped.buf
    line_id = timestamp_ns = 0
    line_name = ""
    batches: List[Tuple[int, int]] = []
    run = -1
    dropped = start
    pos = start
    while pos < end:
        if buf[pos] == 0x22:  # field 4 (events), length-delimited: one XEvent
            if run < 0:
                run = pos
            n = buf[pos + 1]
            if n < 0x80:
                pos += 2 + n
            else:
                n, pos = _varint(buf, pos + 1)
                pos += n
            if pos - run >= _BATCH_BYTES:
                batches.append((run, pos))
                run = -1
                if pos - dropped >= _DROP_EVERY:
                    mapped.drop(dropped, pos)
                    dropped = pos
            continue
        if run >= 0:
            batches.append((run, pos))
            run = -1
        for field, wire, _, value, nxt in _fields(buf, pos, end):
            if wire == 0 and field == _LINE_ID:
                line_id = _signed(value)
            elif wire == 0 and field == _LINE_TIMESTAMP:
                timestamp_ns = _signed(value)
            elif wire == 2 and field == _LINE_NAME:
                line_name = bytes(buf[value[0]:value[1]]).decode("utf-8", "replace")
            pos = nxt
            break  # one field at a time: back to the fast path for events
    if pos != end:
        raise ProfileError("an event runs past the end of its line")
    if run >= 0:
        batches.append((run, pos))
    mapped.drop(dropped, end)
    return line_id, timestamp_ns, batches, line_name


def _note_input_line(extractor, out: ProfileEvents, line_id: int, line_name: Optional[str]) -> None:
    """Host threads of tf.data (`tf_data_private_threadpool/...`, `tf_data_iterator_...`):
    ops they run are the input pipeline's (a numpy dataset's batch gathers)."""
    if isinstance(extractor, _PlaneExtractor) and line_name and line_name.startswith("tf_data"):
        out.input_lines.add(line_id)


def _read_streaming(mapped: _Mapped, host: str, path: str) -> ProfileEvents:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # only here: TF's proto

    buf = mapped.buf
    planes: List[Tuple[int, int]] = []
    hostnames: List[str] = []
    for field, wire, _, value, _ in _fields(buf, 0, mapped.size):
        if wire != 2:
            continue
        if field == _SPACE_PLANES:
            planes.append(value)
        elif field == _SPACE_HOSTNAMES:
            hostnames.append(bytes(buf[value[0]:value[1]]).decode("utf-8", "replace"))
    if not planes:
        raise ProfileError(f"profile {path} holds no planes")
    out = ProfileEvents(host=host or (hostnames[0] if hostnames else ""))
    by_kind: Dict[str, List[Tuple[str, List[Tuple[int, int]], List[Tuple[int, int]]]]] = {
        "metadata": [], "host": [], "device": []}
    for p_start, p_end in planes:
        name = None
        lines: List[Tuple[int, int]] = []
        header: List[Tuple[int, int]] = []  # every record but the lines
        for field, wire, record, value, nxt in _fields(buf, p_start, p_end):
            if field == _PLANE_LINES and wire == 2:
                lines.append(value)
                continue
            if field == _PLANE_NAME and wire == 2:
                name = bytes(buf[value[0]:value[1]]).decode("utf-8", "replace")
            header.append((record, nxt))
        kind = _plane_kind(name)
        if kind:
            by_kind[kind].append((name, header, lines))

    def header_plane(header):
        return xplane_pb2.XPlane.FromString(b"".join(buf[a:b] for a, b in header))

    # HLO protos first: XLA events on the other planes are looked up in them.
    for _, header, _ in by_kind["metadata"]:
        out.hlo_ops.update(hlo_index(header_plane(header)))
    for name, header, lines in by_kind["host"] + by_kind["device"]:
        plane = header_plane(header)
        if name == HOST_PLANE:
            extractor = _PlaneExtractor(plane, out)
        else:
            extractor = _DeviceExtractor(plane, out, name)
        del plane
        for l_start, l_end in lines:
            line_id, timestamp_ns, batches, line_name = _scan_line(mapped, l_start, l_end)
            if not extractor.wants(line_name):
                continue
            _note_input_line(extractor, out, line_id, line_name)
            extractor.line(line_id, timestamp_ns, _parse_batches(mapped, batches, xplane_pb2.XLine))
    _finish(out)
    return out


def _plane_kind(name: Optional[str]) -> str:
    if name == HOST_PLANE:
        return "host"
    if name == METADATA_PLANE:
        return "metadata"
    if name and name.startswith(GPU_PLANE_PREFIX):
        return "device"
    return ""


def _parse_batches(mapped: _Mapped, batches, line_cls):
    """Parse each byte range of consecutive event records as a partial XLine."""
    for a, b in batches:
        events = line_cls.FromString(mapped.buf[a:b]).events
        yield events
        mapped.drop(a, b)


def _field_numbers():
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    def num(msg, name):
        return msg.DESCRIPTOR.fields_by_name[name].number

    return (num(xplane_pb2.XSpace, "planes"), num(xplane_pb2.XSpace, "hostnames"),
            num(xplane_pb2.XPlane, "name"), num(xplane_pb2.XPlane, "lines"),
            num(xplane_pb2.XLine, "id"), num(xplane_pb2.XLine, "name"),
            num(xplane_pb2.XLine, "timestamp_ns"),
            num(xplane_pb2.XLine, "events"))


# The schema's field numbers (checked against TensorFlow's descriptors in the tests).
_SPACE_PLANES, _SPACE_HOSTNAMES = 1, 4
_PLANE_NAME, _PLANE_LINES = 2, 3
_LINE_ID, _LINE_NAME, _LINE_TIMESTAMP, _LINE_EVENTS = 1, 2, 3, 4


def read_profile(path: str) -> ProfileEvents:
    """Load one `.xplane.pb` and flatten it (ProfileError if it is not readable).

    Streams the file: only the host plane is parsed, one batch of events at a time, so
    memory stays near the size of the returned records rather than of the parsed proto.
    """
    from google.protobuf.message import DecodeError

    try:
        f = open(path, "rb")
    except OSError as e:
        raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
    with f:
        try:
            mapped = _Mapped(f)
        except OSError as e:
            raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
        try:
            if not mapped.size:
                raise ProfileError(f"profile {path} is empty")
            return _read_streaming(mapped, host_from_path(path), path)
        except ProfileError as e:
            if str(e).startswith("profile "):
                raise
            raise ProfileError(f"profile {path} is not a valid XSpace: {e}") from None
        except (IndexError, DecodeError) as e:
            raise ProfileError(f"profile {path} is not a valid XSpace: {e or 'truncated'}") from None
        except Exception as e:  # a structurally odd XSpace: say so, do not crash training
            raise ProfileError(f"profile {path} could not be read: {e}") from None
        finally:
            mapped.close()


# -- writing: an extra line in a captured XSpace ------------------------------------------


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def add_line(path: str, line_name: str, events, plane_names: Optional[List[str]] = None,
             line_id: int = 1) -> int:
    """Append a line of events to planes of the `.xplane.pb` at `path`; returns planes changed.

    `events` are objects with `name`, `start_ps` (since the epoch), `duration_ps` and
    `stats` (a dict of str/int/float). The file is rewritten atomically (temporary file,
    then rename); every existing plane, line and event is copied byte for byte. Works on
    the wire format: a plane's new line and metadata are encoded as a small XPlane message
    and appended to the plane's bytes (protobuf merges repeated fields and map entries),
    so the capture is never parsed whole.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # only here: TF's proto

    events = list(events)
    if not events:
        return 0
    targets = set(plane_names or [HOST_PLANE])
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
    tmp = f"{path}.layerprof-tmp"
    changed = 0
    with f:
        mapped = _Mapped(f)
        try:
            buf = mapped.buf
            with open(tmp, "wb") as out:
                for field, wire, record, value, nxt in _fields(buf, 0, mapped.size):
                    if field == _SPACE_PLANES and wire == 2:
                        extra = _plane_extra(buf, value, targets, line_name, line_id, events,
                                             xplane_pb2)
                        if extra:
                            body_len = value[1] - value[0] + len(extra)
                            out.write(_encode_varint((_SPACE_PLANES << 3) | 2))
                            out.write(_encode_varint(body_len))
                            _copy_range(mapped, out, value[0], value[1])
                            out.write(extra)
                            changed += 1
                            continue
                    _copy_range(mapped, out, record, nxt)
        except ProfileError:
            _remove_quietly(tmp)
            raise
        except (IndexError, ValueError, OSError) as e:
            _remove_quietly(tmp)
            raise ProfileError(f"could not add a line to {path}: {e}") from None
        finally:
            mapped.close()
    if changed:
        os.replace(tmp, path)
    else:
        _remove_quietly(tmp)
    return changed


def _copy_range(mapped: _Mapped, out, start: int, stop: int) -> None:
    """Write bytes [start, stop) of the mapped file to `out` in batches, releasing pages."""
    pos = start
    while pos < stop:
        nxt = min(stop, pos + _BATCH_BYTES)
        out.write(mapped.buf[pos:nxt])
        mapped.drop(pos, nxt)
        pos = nxt


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _plane_extra(buf, span, targets, line_name, line_id, events, xplane_pb2) -> bytes:
    """Encoded XPlane fields (the new line and its metadata) for a target plane, else b""."""
    start, end = span
    name = None
    header = []
    for field, wire, record, value, nxt in _fields(buf, start, end):
        if field == _PLANE_LINES and wire == 2:
            continue
        if field == _PLANE_NAME and wire == 2:
            name = bytes(buf[value[0]:value[1]]).decode("utf-8", "replace")
        header.append((record, nxt))
    if name not in targets:
        return b""
    existing = xplane_pb2.XPlane.FromString(b"".join(buf[a:b] for a, b in header))
    next_event_id = max(list(existing.event_metadata.keys()) + [0]) + 1
    stat_ids = {md.name: sid for sid, md in existing.stat_metadata.items()}
    next_stat_id = max(list(existing.stat_metadata.keys()) + [0]) + 1
    addition = xplane_pb2.XPlane()

    def stat_id(stat_name: str) -> int:
        nonlocal next_stat_id
        sid = stat_ids.get(stat_name)
        if sid is None:
            sid = next_stat_id
            next_stat_id += 1
            stat_ids[stat_name] = sid
            addition.stat_metadata[sid].id = sid
            addition.stat_metadata[sid].name = stat_name
        return sid

    event_ids: Dict[str, int] = {}
    line = addition.lines.add()
    line.id = line_id
    line.display_id = line_id
    line.name = line_name
    line.display_name = line_name
    base_ps = min(ev.start_ps for ev in events)
    line.timestamp_ns = base_ps // 1000
    base_ps = line.timestamp_ns * 1000
    line.duration_ps = max(ev.start_ps + ev.duration_ps for ev in events) - base_ps
    for ev in events:
        mid = event_ids.get(ev.name)
        if mid is None:
            mid = event_ids[ev.name] = next_event_id
            next_event_id += 1
            addition.event_metadata[mid].id = mid
            addition.event_metadata[mid].name = ev.name
            addition.event_metadata[mid].display_name = ev.name
        xe = line.events.add()
        xe.metadata_id = mid
        xe.offset_ps = ev.start_ps - base_ps
        xe.duration_ps = ev.duration_ps
        for key, val in ev.stats.items():
            st = xe.stats.add()
            st.metadata_id = stat_id(key)
            if isinstance(val, bool) or isinstance(val, int):
                st.int64_value = int(val)
            elif isinstance(val, float):
                st.double_value = val
            else:
                st.str_value = str(val)
    return addition.SerializeToString()
