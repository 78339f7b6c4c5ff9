"""XLA's HLO protos (in the `/host:metadata` plane), the package's one HLO reader: read at
the wire level into named records (`parse_module`: instructions with their opcode, result
shape, operands, called computations, dot and convolution attributes; `programs`,
`read_programs`), and the TF ops each instruction came from (`hlo_index`, `index_module`).
No TensorFlow and no generated protos: XLA work counts (`xla_work`) and the JAX analysis
read HLO through this module."""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from tb_layerprof.gcpause import no_cyclic_gc
from tb_layerprof.xplane import wire
from tb_layerprof.xplane.kinds import XLA_MARK
from tb_layerprof.xplane.records import HloSource, ProfileError, XlaSplit

XLA_UNMAPPED_TYPE = "XlaUnmapped"  # an XLA op whose HLO instruction names no TF op

HloIndex = Dict[Tuple[int, str], List[HloSource]]

# Instructions that do no work of their own: never a source, never given a name.
_NOT_OPS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}
_NEIGHBOUR_DEPTH = 6
_FUSION_DEPTH = 8


def hlo_index(metadata_plane) -> HloIndex:
    """(program_id, instruction name) -> [HloSource(TF op name, op type, share)].

    XLA keeps one serialized `xla.HloProto` per compiled program in the `/host:metadata`
    plane (stat "Hlo Proto"; the event metadata id is the program id). Each instruction's
    `metadata.op_name` names the TF op it was lowered from; a fusion's share per TF op is
    the fraction of its fused instructions that op contributed.
    """
    return _index(_programs(metadata_plane))


def index_programs(buf, header) -> HloIndex:
    """`hlo_index` of a `/host:metadata` plane given by its header records (wire level)."""
    return _index((p.metadata_id if p.program_id is None else p.program_id, p.blob)
                  for p in programs(buf, header))


def _index(blobs) -> HloIndex:
    index: HloIndex = {}
    for program_id, blob in blobs:
        try:
            module = parse_module(blob, shapes=False)  # the index reads names and edges only
        except ProfileError:
            continue
        index_module(module, program_id, index)
    return index


def _programs(metadata_plane) -> Iterator[Tuple[int, bytes]]:
    """(program id, serialized HloProto) of each program in the plane."""
    names = {k: v.name for k, v in metadata_plane.stat_metadata.items()}
    for mid, md in metadata_plane.event_metadata.items():
        program_id, blob = mid, None
        for st in md.stats:
            stat_name = names.get(st.metadata_id)
            if stat_name == "Hlo Proto":
                blob = st.bytes_value
            elif stat_name == "program_id":
                program_id = st.int64_value or st.uint64_value
        if blob:
            yield program_id, blob


def index_module(module: "HloModule", program_id: int, index: Optional[HloIndex] = None) -> HloIndex:
    """`hlo_index` of one parsed program, added to `index` (a new one when None)."""
    index = {} if index is None else index
    computations = module.computations

    def sources(instr, depth=0) -> Dict[Tuple[str, str], int]:
        """TF ops (name, type) -> how many of the instruction's fused instructions they made."""
        counts: Dict[Tuple[str, str], int] = {}
        for cid in instr.called_ids if instr.opcode == "fusion" else ():
            comp = computations.get(cid)
            for inner in comp if comp is not None and depth < _FUSION_DEPTH else ():
                if inner.opcode in _NOT_OPS:
                    continue
                for key, n in sources(inner, depth + 1).items():
                    counts[key] = counts.get(key, 0) + n
        if not counts and instr.op_name:
            counts[(instr.op_name, instr.op_type)] = 1
        return counts

    for comp in computations.values():
        named: Dict[int, List[HloSource]] = {}
        unnamed = []
        for instr in comp:
            counts = sources(instr)
            total = sum(counts.values())
            if total:
                named[instr.id] = index[(program_id, instr.name)] = [
                    HloSource(n, t, c / total)
                    for (n, t), c in sorted(counts.items(), key=lambda kv: -kv[1])
                ]
            elif instr.opcode not in _NOT_OPS:
                unnamed.append(instr)
        if unnamed:
            _name_by_neighbours(comp, named, unnamed, program_id, index)
    return index


def _is_gradient(sources: List[HloSource]) -> bool:
    return any("gradient_tape/" in n or n.startswith("gradients/") for n, _, _ in sources)


def _name_by_neighbours(comp, named, unnamed, program_id: int, index: HloIndex) -> None:
    """Give instructions without `op_name` metadata (layout copies, a max-pool gradient's
    reduce-window, a convolution's weight gradient, iotas) the TF op of their neighbours in
    the dataflow, in this order: a gradient op they consume (work on a gradient continues
    it), a gradient op they feed, any op they feed (a layout copy of a weight for the
    convolution using it), any op they consume. Neighbours without a name are looked
    through, a few levels deep."""
    users: Dict[int, List[int]] = {}
    by_id = {}
    for instr in comp:
        by_id[instr.id] = instr
        for o in instr.operand_ids:
            users.setdefault(o, []).append(instr.id)

    def operands(i):
        return by_id[i].operand_ids if i in by_id else ()

    def user_ids(i):
        return users.get(i, ())

    for instr in unnamed:
        consumed = nearest_named(instr.id, operands, named)
        fed = nearest_named(instr.id, user_ids, named)
        pick = (next((s for s in consumed if _is_gradient(s)), None)
                or next((s for s in fed if _is_gradient(s)), None)
                or (fed[0] if fed else None) or (consumed[0] if consumed else None))
        if pick is not None:
            index[(program_id, instr.name)] = pick


def resolve_xla(ops: list, hlo_ops: HloIndex, splits: list) -> list:
    """Replace XLA placeholders (kinds.xla_placeholder) by the TF ops their HLO instruction
    came from. Works on Op and DeviceOp records alike (fields `name`, `type`, `self_ps`).

    An instruction made of several TF ops (a fusion) is split by the share of its fused
    instructions that each TF op contributed; such splits are appended to `splits`.
    """
    resolved = []
    for op in ops:
        name = op.name
        if not name.startswith(XLA_MARK):
            resolved.append(op)
            continue
        _, program, hlo_op = name.split(XLA_MARK)
        hlo_op = hlo_op.split("::")[-1]
        sources = hlo_ops.get((int(program), hlo_op))
        if not sources:
            resolved.append(op._replace(name=hlo_op, type=XLA_UNMAPPED_TYPE))
            continue
        if len(sources) > 1:
            splits.append(XlaSplit(tuple(src[0] for src in sources), op.self_ps))
        for op_name, op_type, share in sources:
            resolved.append(op._replace(self_ps=int(op.self_ps * share), name=op_name, type=op_type))
    return resolved


# -- HLO protos at the wire level (no TensorFlow, no generated code) ------------------------
#
# Field numbers of the public openxla/xla schema (xla/service/hlo.proto, xla/xla_data.proto;
# the tests check them against TensorFlow's generated descriptors):
#   HloProto: hlo_module = 1
#   HloModuleProto: name = 1, computations = 3, entry_computation_id = 6
#   HloComputationProto: name = 1, instructions = 2, id = 5
#   HloInstructionProto: name = 1, opcode = 2, shape = 3, metadata = 7, window = 15,
#     convolution_dimension_numbers = 16, dot_dimension_numbers = 30, id = 35,
#     operand_ids = 36, called_computation_ids = 38, feature_group_count = 50,
#     batch_group_count = 58
#   OpMetadata: op_type = 1, op_name = 2
#   ShapeProto: element_type = 2, dimensions = 3, tuple_shapes = 4
#   DotDimensionNumbers: lhs_contracting_dimensions = 1, rhs_contracting_dimensions = 2,
#     lhs_batch_dimensions = 3, rhs_batch_dimensions = 4
#   Window: dimensions = 1; WindowDimension: size = 1, stride = 2, padding_low = 3,
#     padding_high = 4, window_dilation = 5, base_dilation = 6, window_reversal = 7
#   ConvolutionDimensionNumbers: kernel_input_feature_dimension = 3,
#     kernel_output_feature_dimension = 4, kernel_spatial_dimensions = 6,
#     input_batch_dimension = 7, input_feature_dimension = 8, output_batch_dimension = 9,
#     output_feature_dimension = 10, input_spatial_dimensions = 11,
#     output_spatial_dimensions = 12
_PROTO_MODULE = 1
_MODULE_NAME, _MODULE_COMPUTATIONS, _MODULE_ENTRY = 1, 3, 6
_COMP_NAME, _COMP_INSTRUCTIONS, _COMP_ID = 1, 2, 5
_INSTR_NAME, _INSTR_OPCODE, _INSTR_SHAPE, _INSTR_METADATA = 1, 2, 3, 7
_INSTR_WINDOW, _INSTR_CONV, _INSTR_DOT = 15, 16, 30
_INSTR_ID, _INSTR_OPERANDS, _INSTR_CALLED = 35, 36, 38
_INSTR_FEATURE_GROUPS, _INSTR_BATCH_GROUPS = 50, 58
_META_OP_TYPE, _META_OP_NAME = 1, 2
_SHAPE_ELEMENT_TYPE, _SHAPE_DIMENSIONS, _SHAPE_TUPLE_SHAPES = 2, 3, 4
_WINDOW_DIMENSIONS = 1
_DOT_FIELDS = {1: "lhs_contracting_dimensions", 2: "rhs_contracting_dimensions",
               3: "lhs_batch_dimensions", 4: "rhs_batch_dimensions"}
_WINDOW_FIELDS = {1: "size", 2: "stride", 3: "padding_low", 4: "padding_high",
                  5: "window_dilation", 6: "base_dilation", 7: "window_reversal"}
_CONV_FIELDS = {3: "kernel_input_feature_dimension", 4: "kernel_output_feature_dimension",
                6: "kernel_spatial_dimensions", 7: "input_batch_dimension",
                8: "input_feature_dimension", 9: "output_batch_dimension",
                10: "output_feature_dimension", 11: "input_spatial_dimensions",
                12: "output_spatial_dimensions"}
_DOT_REPEATED = set(_DOT_FIELDS)  # all four
_CONV_REPEATED = {6, 11, 12}


class Shape(NamedTuple):
    """An xla.ShapeProto: an array's element type (xla.PrimitiveType: F32 = 11, ...) and
    dimensions, or a tuple's element shapes (element type TUPLE = 13, no dimensions)."""

    element_type: int = 0  # PRIMITIVE_TYPE_INVALID: the instruction has no shape
    dimensions: Tuple[int, ...] = ()  # () for a scalar
    tuple_shapes: Tuple["Shape", ...] = ()


class DotDimensions(NamedTuple):
    """An xla.DotDimensionNumbers: which operand dimensions a dot contracts and batches."""

    lhs_contracting_dimensions: Tuple[int, ...] = ()
    rhs_contracting_dimensions: Tuple[int, ...] = ()
    lhs_batch_dimensions: Tuple[int, ...] = ()
    rhs_batch_dimensions: Tuple[int, ...] = ()


class WindowDimension(NamedTuple):
    """One xla.WindowDimension of a convolution or reduce-window (as stored: 0 if unset)."""

    size: int = 0
    stride: int = 0
    padding_low: int = 0  # negative: elements removed
    padding_high: int = 0
    window_dilation: int = 0
    base_dilation: int = 0
    window_reversal: bool = False


class ConvolutionDimensions(NamedTuple):
    """An xla.ConvolutionDimensionNumbers: the role of each input, kernel and output
    dimension (0 where the proto leaves a number unset, as protobuf reads it)."""

    input_batch_dimension: int = 0
    input_feature_dimension: int = 0
    input_spatial_dimensions: Tuple[int, ...] = ()
    kernel_input_feature_dimension: int = 0
    kernel_output_feature_dimension: int = 0
    kernel_spatial_dimensions: Tuple[int, ...] = ()
    output_batch_dimension: int = 0
    output_feature_dimension: int = 0
    output_spatial_dimensions: Tuple[int, ...] = ()


NO_SHAPE = Shape()
NO_DOT = DotDimensions()
NO_CONVOLUTION = ConvolutionDimensions()


@dataclasses.dataclass
class Instruction:
    """One HLO instruction: its name, opcode, id, the op it was lowered from, its edges,
    its result shape and the attributes that say how much work it does."""

    name: str
    opcode: str
    id: int
    op_name: str = ""  # metadata.op_name: the TF op, or JAX's name stack + primitive
    operand_ids: List[int] = dataclasses.field(default_factory=list)
    called_ids: List[int] = dataclasses.field(default_factory=list)  # called_computation_ids
    op_type: str = ""  # metadata.op_type
    shape: Shape = NO_SHAPE  # the result's
    dot_dimension_numbers: DotDimensions = NO_DOT  # dot only
    convolution_dimension_numbers: ConvolutionDimensions = NO_CONVOLUTION  # convolution only
    window: Tuple[WindowDimension, ...] = ()  # convolution, reduce-window, select-and-scatter
    # Unset (0) reads as 1, as XLA reads it: a plain convolution is one group.
    feature_group_count: int = 1
    batch_group_count: int = 1


@dataclasses.dataclass
class HloModule:
    """One compiled program: its computations' instructions, by computation id."""

    name: str
    entry_id: int
    computations: Dict[int, List[Instruction]]
    computation_names: Dict[int, str]

    def entry(self) -> List[Instruction]:
        if self.entry_id in self.computations:
            return self.computations[self.entry_id]
        # Older protos without entry_computation_id: XLA names the entry "main..."
        for cid, name in self.computation_names.items():
            if name.startswith("main"):
                return self.computations[cid]
        return []


class HloProgram(NamedTuple):
    """One program's entry in the `/host:metadata` plane."""

    metadata_id: int  # the event metadata id (XLA uses the program id)
    name: str  # the event name: "<module>(<program id>)" in JAX captures
    program_id: Optional[int]  # the `program_id` stat, None when absent
    blob: bytes  # the serialized xla.HloProto ("Hlo Proto" stat)

    @property
    def id(self) -> int:
        """The program id XLA's events carry: the stat, else the metadata id."""
        return self.metadata_id if self.program_id is None else self.program_id


_varint = wire.varint


def _fields(buf, pos: int, end: int) -> Iterator[Tuple[int, int, object]]:
    """(field number, wire type, value) of each field in [pos, end): the int of a varint,
    the (start, stop) range of a length-delimited field, None for fixed-width ones.

    `wire.fields` without the record offsets, and with keys, lengths and varints of one or
    two bytes read inline: nearly all of an HLO proto's are (field numbers up to 2047,
    lengths and ids under 16384), and this loop is most of the parse (measured on a 17k
    instruction module: 0.19 s with a `wire.varint` call each, 0.13 s inline).
    """
    while pos < end:
        key = buf[pos]
        if key < 0x80:
            pos += 1
        elif buf[pos + 1] < 0x80:
            key = (key & 0x7F) | (buf[pos + 1] << 7)
            pos += 2
        else:
            key, pos = _varint(buf, pos)
        if key < 8:
            raise ProfileError("field number 0")
        wt = key & 7
        if wt == 2 or wt == 0:
            v = buf[pos]
            if v < 0x80:
                pos += 1
            elif buf[pos + 1] < 0x80:
                v = (v & 0x7F) | (buf[pos + 1] << 7)
                pos += 2
            else:
                v, pos = _varint(buf, pos)
            if wt == 0:
                yield key >> 3, 0, v
                continue
            start = pos
            pos += v
            if pos > end:
                raise ProfileError("a field runs past the end of its message")
            yield key >> 3, 2, (start, pos)
        elif wt == 1 or wt == 5:
            pos += 8 if wt == 1 else 4
            yield key >> 3, wt, None
        else:
            raise ProfileError(f"unsupported wire type {wt}")
    if pos > end:
        raise ProfileError("a field runs past the end of its message")


def _ints(buf, wt: int, value) -> List[int]:
    """A repeated int64 field's values: packed (LEN) or one plain varint, as int64."""
    if wt == 0:
        return [value - (1 << 64) if value >= 1 << 63 else value]
    out, pos, end = [], value[0], value[1]
    add = out.append
    while pos < end:
        v = buf[pos]
        if v < 0x80:
            pos += 1
        elif buf[pos + 1] < 0x80:
            v = (v & 0x7F) | (buf[pos + 1] << 7)
            pos += 2
        else:
            v, pos = _varint(buf, pos)
            if v >= 1 << 63:
                v -= 1 << 64
        add(v)
    if pos > end:
        raise ProfileError("a packed field runs past its end")
    return out


def _text(buf, span) -> str:
    return str(buf[span[0]:span[1]], "utf-8", "replace")


def _shape(buf, a: int, b: int) -> Shape:
    element_type, dims, tuples = 0, [], []
    for number, wt, value in _fields(buf, a, b):
        if number == _SHAPE_DIMENSIONS and wt != 1 and wt != 5:
            dims += _ints(buf, wt, value)
        elif number == _SHAPE_ELEMENT_TYPE and wt == 0:
            element_type = value
        elif number == _SHAPE_TUPLE_SHAPES and wt == 2:
            tuples.append(_shape(buf, *value))
    return Shape(element_type, tuple(dims), tuple(tuples))


def _numbers(buf, span, names: Dict[int, str], repeated) -> Dict[str, object]:
    """The int64 fields of a small message (dot / convolution dimension numbers, a window
    dimension) by the record's field names; repeated ones as tuples."""
    found: Dict[str, object] = {}
    for number, wt, value in _fields(buf, span[0], span[1]):
        name = names.get(number)
        if name is None or wt == 1 or wt == 5:
            continue
        if number in repeated:
            found[name] = found.get(name, ()) + tuple(_ints(buf, wt, value))
        elif wt == 0:
            found[name] = wire.signed(value)
    return found


def _window(buf, span) -> Tuple[WindowDimension, ...]:
    out = []
    for number, wt, value in _fields(buf, span[0], span[1]):
        if number == _WINDOW_DIMENSIONS and wt == 2:
            dim = _numbers(buf, value, _WINDOW_FIELDS, ())
            if "window_reversal" in dim:
                dim["window_reversal"] = bool(dim["window_reversal"])
            out.append(WindowDimension(**dim))
    return tuple(out)


def _instruction(buf, a: int, b: int, shapes: bool) -> Instruction:
    ins = Instruction(name="", opcode="", id=0)
    for number, wt, value in _fields(buf, a, b):
        if wt == 2:
            if number == _INSTR_NAME:
                ins.name = _text(buf, value)
            elif number == _INSTR_OPCODE:
                ins.opcode = _text(buf, value)
            elif number == _INSTR_SHAPE:
                if shapes:
                    ins.shape = _shape(buf, *value)
            elif number == _INSTR_METADATA:
                for n2, w2, v2 in _fields(buf, value[0], value[1]):
                    if n2 == _META_OP_NAME and w2 == 2:
                        ins.op_name = _text(buf, v2)
                    elif n2 == _META_OP_TYPE and w2 == 2:
                        ins.op_type = _text(buf, v2)
            elif number == _INSTR_OPERANDS:
                ins.operand_ids += _ints(buf, wt, value)
            elif number == _INSTR_CALLED:
                ins.called_ids += _ints(buf, wt, value)
            elif number == _INSTR_DOT:
                ins.dot_dimension_numbers = DotDimensions(**_numbers(buf, value, _DOT_FIELDS, _DOT_REPEATED))
            elif number == _INSTR_CONV:
                ins.convolution_dimension_numbers = ConvolutionDimensions(
                    **_numbers(buf, value, _CONV_FIELDS, _CONV_REPEATED))
            elif number == _INSTR_WINDOW:
                ins.window = _window(buf, value)
        elif wt == 0:
            if number == _INSTR_ID:
                ins.id = wire.signed(value)
            elif number == _INSTR_OPERANDS:
                ins.operand_ids += _ints(buf, wt, value)
            elif number == _INSTR_CALLED:
                ins.called_ids += _ints(buf, wt, value)
            elif number == _INSTR_FEATURE_GROUPS:
                ins.feature_group_count = wire.signed(value) or 1
            elif number == _INSTR_BATCH_GROUPS:
                ins.batch_group_count = wire.signed(value) or 1
    return ins


def parse_module(blob: bytes, shapes: bool = True) -> HloModule:
    """The module of a serialized `xla.HloProto` (ProfileError if malformed).

    shapes=False leaves every instruction's result `shape` unset (NO_SHAPE): the TF-op
    index needs none, and decoding them is a fifth of the parse.
    """
    try:
        with no_cyclic_gc():  # ~10 objects an instruction, none in a cycle
            return _parse_module(blob, shapes)
    except (IndexError, RecursionError):  # truncated, or tuple shapes nested without end
        raise ProfileError("truncated or malformed HloProto") from None


def _parse_module(blob: bytes, shapes: bool) -> HloModule:
    span = next((v for n, w, v in _fields(blob, 0, len(blob))
                 if n == _PROTO_MODULE and w == 2), None)
    if span is None:
        raise ProfileError("no hlo_module in HloProto")
    mod = HloModule(name="", entry_id=-1, computations={}, computation_names={})
    for number, wt, value in _fields(blob, span[0], span[1]):
        if number == _MODULE_NAME and wt == 2:
            mod.name = _text(blob, value)
        elif number == _MODULE_ENTRY and wt == 0:
            mod.entry_id = wire.signed(value)
        elif number == _MODULE_COMPUTATIONS and wt == 2:
            cid, cname, instrs = 0, "", []
            for n2, w2, v2 in _fields(blob, value[0], value[1]):
                if n2 == _COMP_INSTRUCTIONS and w2 == 2:
                    instrs.append(_instruction(blob, v2[0], v2[1], shapes))
                elif n2 == _COMP_ID and w2 == 0:
                    cid = wire.signed(v2)
                elif n2 == _COMP_NAME and w2 == 2:
                    cname = _text(blob, v2)
            mod.computations[cid] = instrs
            mod.computation_names[cid] = cname
    return mod


def programs(buf, header) -> List[HloProgram]:
    """The HLO programs in the header records of a `/host:metadata` plane (wire level)."""
    stat_names = wire.metadata_names(buf, header, wire.PLANE_STAT_METADATA)
    out: List[HloProgram] = []
    for mid, name, stats in wire.event_metadata(buf, header):
        blob, program_id = b"", None
        for sid, kind, value in stats:
            stat = stat_names.get(sid)
            if stat == "Hlo Proto" and kind == wire.STAT_BYTES:
                blob = value
            elif stat == "program_id" and kind in (wire.STAT_INT64, wire.STAT_UINT64):
                program_id = value
        if blob:
            out.append(HloProgram(mid, name, program_id, blob))
    return out


def read_programs(path: str) -> List[HloProgram]:
    """The HLO programs of a capture's `/host:metadata` planes (ProfileError if the file
    is not readable); only the planes' headers are walked, never their events."""
    # Imported here: read.py imports this module to index the programs it reads.
    from tb_layerprof.xplane.read import read_mapped

    def read(mapped: wire.Mapped, _host: str, _path: str) -> List[HloProgram]:
        found: List[HloProgram] = []
        for span in wire.space_layout(mapped.buf, mapped.size)[0]:
            name, header, _ = wire.plane_layout(mapped.buf, span)
            if name == wire.METADATA_PLANE:
                found += programs(mapped.buf, header)
        return found

    return read_mapped(path, read)


def nearest_named(start: int, step, named: dict, depth: int = _NEIGHBOUR_DEPTH) -> list:
    """Sources of the closest instructions in `named` from `start`, walking by `step`
    (instruction id -> neighbour ids); neighbours not in `named` are looked through."""
    found, frontier, seen = [], [start], {start}
    for _ in range(depth):
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
