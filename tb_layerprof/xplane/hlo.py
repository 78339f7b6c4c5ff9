"""XLA's HLO protos (in the `/host:metadata` plane): read at the wire level (`parse_module`,
`programs`), and the TF ops each instruction came from (`hlo_index`)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

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
            module = parse_module(blob)
        except ProfileError:
            continue
        _index_program(module, program_id, index)
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


def _index_program(module: "HloModule", program_id: int, index: HloIndex) -> None:
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

# Field numbers of xla's public hlo.proto (checked against TensorFlow's schema in the tests):
# HloProto.hlo_module = 1; HloModuleProto: name = 1, computations = 3, entry_computation_id
# = 6; HloComputationProto: name = 1, instructions = 2, id = 5; HloInstructionProto: name = 1,
# opcode = 2, metadata = 7, id = 35, operand_ids = 36, called_computation_ids = 38;
# OpMetadata: op_type = 1, op_name = 2.
_PROTO_MODULE = 1
_MODULE_NAME, _MODULE_COMPUTATIONS, _MODULE_ENTRY = 1, 3, 6
_COMP_NAME, _COMP_INSTRUCTIONS, _COMP_ID = 1, 2, 5
_INSTR_NAME, _INSTR_OPCODE, _INSTR_METADATA, _INSTR_ID, _INSTR_OPERANDS, _INSTR_CALLED = 1, 2, 7, 35, 36, 38
_META_OP_TYPE, _META_OP_NAME = 1, 2


@dataclasses.dataclass
class Instruction:
    """One HLO instruction: its name, opcode, id, the op it was lowered from and its edges."""

    name: str
    opcode: str
    id: int
    op_name: str = ""  # metadata.op_name: the TF op, or JAX's name stack + primitive
    operand_ids: List[int] = dataclasses.field(default_factory=list)
    called_ids: List[int] = dataclasses.field(default_factory=list)
    op_type: str = ""  # metadata.op_type


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


def _packed(buf, wt: int, value) -> List[int]:
    """A repeated int64 field's values: packed (LEN) or one plain varint."""
    if wt == 0:
        return [value]
    out, pos = [], value[0]
    while pos < value[1]:
        v, pos = wire.varint(buf, pos)
        out.append(v)
    return out


def _instruction(buf, a: int, b: int) -> Instruction:
    ins = Instruction(name="", opcode="", id=0)
    for number, wt, _, value, _ in wire.fields(buf, a, b):
        if number == _INSTR_NAME and wt == 2:
            ins.name = wire.text(buf, value)
        elif number == _INSTR_OPCODE and wt == 2:
            ins.opcode = wire.text(buf, value)
        elif number == _INSTR_ID and wt == 0:
            ins.id = value
        elif number == _INSTR_OPERANDS and wt in (0, 2):
            ins.operand_ids.extend(_packed(buf, wt, value))
        elif number == _INSTR_CALLED and wt in (0, 2):
            ins.called_ids.extend(_packed(buf, wt, value))
        elif number == _INSTR_METADATA and wt == 2:
            for n2, w2, _, v2, _ in wire.fields(buf, value[0], value[1]):
                if n2 == _META_OP_NAME and w2 == 2:
                    ins.op_name = wire.text(buf, v2)
                elif n2 == _META_OP_TYPE and w2 == 2:
                    ins.op_type = wire.text(buf, v2)
    return ins


def parse_module(blob: bytes) -> HloModule:
    """The module of a serialized `xla.HloProto` (ProfileError if malformed)."""
    try:
        return _parse_module(blob)
    except IndexError:
        raise ProfileError("truncated HloProto") from None


def _parse_module(blob: bytes) -> HloModule:
    span = next((v for n, w, _, v, _ in wire.fields(blob, 0, len(blob))
                 if n == _PROTO_MODULE and w == 2), None)
    if span is None:
        raise ProfileError("no hlo_module in HloProto")
    mod = HloModule(name="", entry_id=-1, computations={}, computation_names={})
    for number, wt, _, value, _ in wire.fields(blob, span[0], span[1]):
        if number == _MODULE_NAME and wt == 2:
            mod.name = wire.text(blob, value)
        elif number == _MODULE_ENTRY and wt == 0:
            mod.entry_id = value
        elif number == _MODULE_COMPUTATIONS and wt == 2:
            cid, cname, instrs = 0, "", []
            for n2, w2, _, v2, _ in wire.fields(blob, value[0], value[1]):
                if n2 == _COMP_INSTRUCTIONS and w2 == 2:
                    instrs.append(_instruction(blob, *v2))
                elif n2 == _COMP_ID and w2 == 0:
                    cid = v2
                elif n2 == _COMP_NAME and w2 == 2:
                    cname = wire.text(blob, v2)
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
