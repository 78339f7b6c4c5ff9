"""Work of XLA-compiled steps (`jit_compile=True`): FLOPs and bytes of each HLO instruction
from its shapes in the captured HLO protos, given to the TF ops it was lowered from.

Formulas: dot (2 · output elements · contracted size), convolution (2 · output elements ·
kernel elements per output feature), elementwise (1 per output element), reductions
(1 per input element); a fusion's FLOPs are its fused instructions', its bytes what it
reads and writes (operands + result). Data movement (copy, transpose, slice...) does no
FLOPs; other instructions (custom calls, collectives) are bytes only.

Each executed computation (the entry, while bodies, conditional branches) is counted once
per program execution, and a program as running once per profiled step.

`program_work(xplane_path)` reads the file's `/host:metadata` plane with the xplane
package's HLO reader (`xplane.hlo`: the instructions' shapes and attributes, and the TF ops
each came from), with no TensorFlow and no generated protos; `tb_layerprof.work_ledger`
books it.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Dict, Iterable, List, Optional

from tb_layerprof import work
from tb_layerprof.xplane import hlo
from tb_layerprof.xplane.hlo import HloIndex, HloModule, HloProgram, Instruction, Shape
from tb_layerprof.xplane.records import ProfileError

logger = logging.getLogger("tb_layerprof")

# TF op name -> [FLOPs, bytes, exact (1.0) or bytes-only (0.0)] per program execution.
ProgramWork = Dict[str, List[float]]

# xla.PrimitiveType -> bytes per element (PRED..F8 types; TUPLE, OPAQUE, TOKEN: 0).
_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 2, 8: 4, 9: 8, 10: 2, 11: 4, 12: 8,
             15: 8, 16: 2, 18: 16, 19: 1, 20: 1, 21: 1, 22: 1, 23: 1}
_ELEMENTWISE = {
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "negate", "exponential",
    "exponential-minus-one", "log", "log-plus-one", "tanh", "logistic", "sqrt", "rsqrt",
    "cbrt", "power", "abs", "sign", "sine", "cosine", "tan", "floor", "ceil", "round-nearest-afz",
    "round-nearest-even", "select", "compare", "clamp", "and", "or", "xor", "not", "atan2",
    "remainder", "erf", "is-finite",
}
_REDUCTIONS = {"reduce", "reduce-window", "reduce-precision", "select-and-scatter"}
_NO_FLOPS = {
    "parameter", "constant", "tuple", "get-tuple-element", "bitcast", "copy", "transpose",
    "reshape", "broadcast", "slice", "dynamic-slice", "dynamic-update-slice", "concatenate",
    "pad", "iota", "convert", "gather", "reverse", "bitcast-convert", "copy-start",
    "copy-done", "while", "conditional", "call", "after-all", "opt-barrier",
}
_CONTROL = {"while", "conditional", "call"}


def _elements(shape: Shape) -> int:
    return math.prod(shape.dimensions) if shape.dimensions else 1


def _shape_bytes(shape: Shape) -> float:
    if shape.tuple_shapes:
        return float(sum(_shape_bytes(s) for s in shape.tuple_shapes))
    return float(_elements(shape) * _ITEMSIZE.get(shape.element_type, 0))


def instruction_flops(instr: Instruction, operand: Callable[[int], Optional[Instruction]],
                      computations: Dict[int, List[Instruction]], depth: int = 0) -> Optional[float]:
    """FLOPs of one HLO instruction (fusions: of their fused instructions); None when it
    has no formula (a custom call, a collective). `operand`: instruction id -> the
    instruction in the same computation; `computations`: the module's, by id."""
    op = instr.opcode
    out = _elements(instr.shape) if not instr.shape.tuple_shapes else 0
    if op == "fusion":
        return _fusion_flops(instr, computations, depth)
    if op == "dot":
        lhs = operand(instr.operand_ids[0]) if instr.operand_ids else None
        if lhs is None:
            return None
        dims = lhs.shape.dimensions
        k = math.prod(dims[d] for d in instr.dot_dimension_numbers.lhs_contracting_dimensions)
        return 2.0 * out * k
    if op == "convolution":
        kernel = operand(instr.operand_ids[1]) if len(instr.operand_ids) > 1 else None
        if kernel is None:
            return None
        kdims = kernel.shape.dimensions
        features = kdims[instr.convolution_dimension_numbers.kernel_output_feature_dimension]
        return 2.0 * out * _elements(kernel.shape) / max(1, features)
    if op in _ELEMENTWISE:
        return float(out)
    if op in _REDUCTIONS:
        first = operand(instr.operand_ids[0]) if instr.operand_ids else None
        return float(_elements(first.shape)) if first is not None else None
    if op in _NO_FLOPS:
        return 0.0
    return None


def _fusion_flops(instr: Instruction, computations: Dict[int, List[Instruction]],
                  depth: int) -> Optional[float]:
    total = 0.0
    for cid in instr.called_ids:
        comp = computations.get(cid)
        if comp is None or depth > 8:
            return None
        by_id = {i.id: i for i in comp}
        for inner in comp:
            f = instruction_flops(inner, by_id.get, computations, depth + 1)
            if f is None:
                return None
            total += f
    return total


def _executed_computations(module: HloModule) -> List[List[Instruction]]:
    """The entry computation and those it runs as control flow (not fused bodies), in the
    order they are booked (the order decides how the float sums round)."""
    computations = module.computations
    todo, seen, out = [_entry_id(module)], set(), []
    while todo:
        cid = todo.pop()
        if cid in seen or cid not in computations:
            continue
        seen.add(cid)
        out.append(computations[cid])
        for instr in computations[cid]:
            if instr.opcode in _CONTROL:
                todo.extend(instr.called_ids)
    return out


def _entry_id(module: HloModule) -> int:
    """entry_computation_id; XLA always writes it, older protos name the entry "main..."."""
    if module.entry_id in module.computations:
        return module.entry_id
    return next((cid for cid, name in module.computation_names.items()
                 if name.startswith("main")), module.entry_id)


def module_work(module: HloModule, program_id: int, sources: HloIndex) -> ProgramWork:
    """Work per TF op of one compiled program, split by each instruction's source shares
    (`sources`: the xplane package's hlo_index)."""
    computations = module.computations
    skip = work_skip()
    book: ProgramWork = {}
    for comp in _executed_computations(module):
        by_id = {i.id: i for i in comp}
        for instr in comp:
            if instr.opcode in skip:
                continue
            found = sources.get((program_id, instr.name))
            if not found:
                continue
            flops = instruction_flops(instr, by_id.get, computations)
            moved = _shape_bytes(instr.shape) + sum(
                _shape_bytes(by_id[o].shape) for o in instr.operand_ids if o in by_id)
            for name, _type, share in found:
                entry = book.setdefault(name, [0.0, 0.0, 1.0])
                entry[0] += (flops or 0.0) * share
                entry[1] += moved * share
                if flops is None:
                    entry[2] = 0.0
    return book


def work_skip() -> set:
    """Instructions that are no work of their own (XLA's `_NOT_OPS` in the HLO reader)."""
    return {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"} | _CONTROL


def programs_work(found: Iterable[HloProgram]) -> Dict[int, ProgramWork]:
    """Program id -> its work per TF op, for HLO programs already read; each module is
    parsed once, for the TF ops of its instructions and for their shapes. A module that
    does not parse is left out (logged), the others still count."""
    out: Dict[int, ProgramWork] = {}
    for program in found:
        pid = program.id
        try:
            module = hlo.parse_module(program.blob)
        except ProfileError as e:
            logger.info("layerprof: no XLA work counts for program %s: %s", pid, e)
            continue
        out[pid] = module_work(module, pid, hlo.index_module(module, pid))
    return out


def program_work(xplane_path: str) -> Dict[int, ProgramWork]:
    """Program id -> its work per TF op; {} without HLO protos or on any error (counts are
    context, never a reason to lose the window)."""
    try:
        return programs_work(hlo.read_programs(xplane_path))
    except Exception as e:  # noqa: BLE001
        logger.info("layerprof: no XLA work counts from %s: %s", xplane_path, e)
        return {}


def executed_programs(programs: Dict[int, ProgramWork], executed: set) -> ProgramWork:
    """The work per TF op of the programs that ran in the window: those most of whose TF
    ops appear among the executed op names (the train step, not the evaluation's)."""
    merged: ProgramWork = {}
    for book in programs.values():
        if not book or len(executed.intersection(book)) < 0.5 * len(book):
            continue
        for name, (flops, moved, exact) in book.items():
            entry = merged.setdefault(name, [0.0, 0.0, 1.0])
            entry[0] += flops
            entry[1] += moved
            entry[2] = min(entry[2], exact)
    return merged


def as_op_work(entry: List[float]) -> work.OpWork:
    return work.OpWork(entry[0], entry[1], work.EXACT if entry[2] else work.BYTES_ONLY)
