"""XLA's HLO protos (in the `/host:metadata` plane) -> the TF ops each instruction came from."""

from __future__ import annotations

from typing import Dict, Iterator, List, Tuple

from tb_layerprof.xplane.kinds import XLA_MARK
from tb_layerprof.xplane.records import HloSource, XlaSplit

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
    try:
        from tensorflow.compiler.xla.service import hlo_pb2
    except ImportError:  # TF builds without XLA protos: XLA ops stay unmapped
        return {}
    index: HloIndex = {}
    for program_id, blob in _programs(metadata_plane):
        proto = hlo_pb2.HloProto()
        try:
            proto.ParseFromString(blob)
        except Exception:
            continue
        _index_program(proto.hlo_module, program_id, index)
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


def _index_program(module, program_id: int, index: HloIndex) -> None:
    computations = {c.id: c for c in module.computations}

    def sources(instr, depth=0) -> Dict[Tuple[str, str], int]:
        """TF ops (name, type) -> how many of the instruction's fused instructions they made."""
        counts: Dict[Tuple[str, str], int] = {}
        for cid in instr.called_computation_ids if instr.opcode == "fusion" else ():
            comp = computations.get(cid)
            for inner in comp.instructions if comp is not None and depth < _FUSION_DEPTH else ():
                if inner.opcode in _NOT_OPS:
                    continue
                for key, n in sources(inner, depth + 1).items():
                    counts[key] = counts.get(key, 0) + n
        if not counts and instr.metadata.op_name:
            counts[(instr.metadata.op_name, instr.metadata.op_type)] = 1
        return counts

    for comp in module.computations:
        named: Dict[int, List[HloSource]] = {}
        unnamed = []
        for instr in comp.instructions:
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
    for instr in comp.instructions:
        by_id[instr.id] = instr
        for o in instr.operand_ids:
            users.setdefault(o, []).append(instr.id)

    def operands(i):
        return by_id[i].operand_ids if i in by_id else ()

    def user_ids(i):
        return users.get(i, ())

    for instr in unnamed:
        consumed = _nearest(instr.id, operands, named)
        fed = _nearest(instr.id, user_ids, named)
        pick = (next((s for s in consumed if _is_gradient(s)), None)
                or next((s for s in fed if _is_gradient(s)), None)
                or (fed[0] if fed else None) or (consumed[0] if consumed else None))
        if pick is not None:
            index[(program_id, instr.name)] = pick


def _nearest(start: int, step, named) -> List[List[HloSource]]:
    """Sources of the closest named instructions from `start`, walking by `step`."""
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
