"""XLA HLO module protos read at the protobuf wire level (no TensorFlow, no generated code),
and the `op_name` metadata JAX writes into them turned into (Keras scope, phase).

JAX names every HLO instruction after the primitive that produced it and the name stack
it ran under: `jit(train_step)/jvp(dense)/dot_general` is the forward pass of layer
`dense`, `jit(train_step)/transpose(jvp(dense))/dot_general` its gradient (reverse-mode AD
is the transpose of the JVP). Keras opens a `jax.named_scope` per layer call, so the
scopes between the transform wrappers are layer names, outermost first.

Only the few fields the analysis needs are decoded (field numbers from xla's public
`hlo.proto` / `xla_data.proto`; a test checks them against TensorFlow's descriptors where
TensorFlow is installed).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, Iterator, List, Optional, Tuple

# -- protobuf wire format ------------------------------------------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def varint(buf: bytes, pos: int) -> Tuple[int, int]:
    """(value, position after it) of the varint at `pos`."""
    if pos < len(buf) and buf[pos] < 0x80:  # most keys and lengths: one byte
        return buf[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise WireError("varint too long")


def fields(buf: bytes, start: int = 0, end: Optional[int] = None) -> Iterator[Tuple[int, int, object]]:
    """(field number, wire type, value) of each field in buf[start:end]; a LEN field's value
    is a (start, end) range into `buf` (no copy), a varint's an int."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = varint(buf, pos)
        elif wire == _LEN:
            n, pos = varint(buf, pos)
            if pos + n > end:
                raise WireError("truncated field")
            value, pos = (pos, pos + n), pos + n
        elif wire == _I64:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == _I32:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise WireError(f"unsupported wire type {wire}")
        yield number, wire, value


def _packed_ints(buf: bytes, wire: int, value: object) -> List[int]:
    """A repeated int64 field's values: packed (LEN) or one plain varint."""
    if wire == _VARINT:
        return [value]  # type: ignore[list-item]
    a, b = value  # type: ignore[misc]
    out, pos = [], a
    while pos < b:
        v, pos = varint(buf, pos)
        out.append(v)
    return out


def _text(buf: bytes, span: object) -> str:
    a, b = span  # type: ignore[misc]
    return buf[a:b].decode("utf-8", "replace")


# -- HLO module -----------------------------------------------------------------------------

# HloProto.hlo_module = 1; HloModuleProto: name = 1, computations = 3, entry_computation_id = 6;
# HloComputationProto: name = 1, instructions = 2, id = 5; HloInstructionProto: name = 1,
# opcode = 2, metadata = 7, id = 35, operand_ids = 36, called_computation_ids = 38;
# OpMetadata: op_type = 1, op_name = 2.
_PROTO_MODULE = 1
_MODULE_NAME, _MODULE_COMPUTATIONS, _MODULE_ENTRY = 1, 3, 6
_COMP_NAME, _COMP_INSTRUCTIONS, _COMP_ID = 1, 2, 5
_INSTR_NAME, _INSTR_OPCODE, _INSTR_METADATA, _INSTR_ID, _INSTR_OPERANDS, _INSTR_CALLED = 1, 2, 7, 35, 36, 38
_META_OP_NAME = 2


@dataclasses.dataclass
class Instruction:
    name: str
    opcode: str
    id: int
    op_name: str = ""
    operand_ids: List[int] = dataclasses.field(default_factory=list)
    called_ids: List[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Module:
    name: str
    entry_id: int
    computations: Dict[int, List[Instruction]]  # computation id -> its instructions
    computation_names: Dict[int, str]

    def entry(self) -> List[Instruction]:
        if self.entry_id in self.computations:
            return self.computations[self.entry_id]
        # Older protos without entry_computation_id: XLA names the entry "main..."
        for cid, name in self.computation_names.items():
            if name.startswith("main"):
                return self.computations[cid]
        return []


def _instruction(buf: bytes, a: int, b: int) -> Instruction:
    ins = Instruction(name="", opcode="", id=0)
    for number, wire, value in fields(buf, a, b):
        if number == _INSTR_NAME:
            ins.name = _text(buf, value)
        elif number == _INSTR_OPCODE:
            ins.opcode = _text(buf, value)
        elif number == _INSTR_ID and wire == _VARINT:
            ins.id = value  # type: ignore[assignment]
        elif number == _INSTR_OPERANDS:
            ins.operand_ids.extend(_packed_ints(buf, wire, value))
        elif number == _INSTR_CALLED:
            ins.called_ids.extend(_packed_ints(buf, wire, value))
        elif number == _INSTR_METADATA and wire == _LEN:
            ma, mb = value  # type: ignore[misc]
            for n2, w2, v2 in fields(buf, ma, mb):
                if n2 == _META_OP_NAME and w2 == _LEN:
                    ins.op_name = _text(buf, v2)
    return ins


def parse_module(blob: bytes) -> Module:
    """The module of a serialized `xla.HloProto` (raises WireError if malformed)."""
    module_span = next((v for n, w, v in fields(blob) if n == _PROTO_MODULE and w == _LEN), None)
    if module_span is None:
        raise WireError("no hlo_module in HloProto")
    a, b = module_span  # type: ignore[misc]
    mod = Module(name="", entry_id=-1, computations={}, computation_names={})
    for number, wire, value in fields(blob, a, b):
        if number == _MODULE_NAME and wire == _LEN:
            mod.name = _text(blob, value)
        elif number == _MODULE_ENTRY and wire == _VARINT:
            mod.entry_id = value  # type: ignore[assignment]
        elif number == _MODULE_COMPUTATIONS and wire == _LEN:
            ca, cb = value  # type: ignore[misc]
            cid, cname, instrs = 0, "", []
            for n2, w2, v2 in fields(blob, ca, cb):
                if n2 == _COMP_INSTRUCTIONS and w2 == _LEN:
                    instrs.append(_instruction(blob, *v2))  # type: ignore[misc]
                elif n2 == _COMP_ID and w2 == _VARINT:
                    cid = v2  # type: ignore[assignment]
                elif n2 == _COMP_NAME and w2 == _LEN:
                    cname = _text(blob, v2)
            mod.computations[cid] = instrs
            mod.computation_names[cid] = cname
    return mod


# -- op_name -> (scopes, phase) -------------------------------------------------------------

FORWARD, BACKWARD = "forward", "backward"
_WRAPPER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")
# JAX transforms that wrap name-stack entries; `transpose` marks reverse-mode AD.
_TRANSFORMS = {"jvp", "transpose", "vmap", "remat", "checkpoint", "pmap", "xmap", "shard_map",
               "jit", "pjit", "vjp", "linearize", "custom_jvp_call", "custom_vjp_call",
               "custom_vjp_call_jaxpr", "custom_jvp_call_jaxpr", "cond", "while", "scan", "body",
               "checkpoint_name", "named_call", "core_call"}


def split_op_name(op_name: str) -> Tuple[List[str], str, bool]:
    """(named scopes outermost first, primitive, inside a `transpose(...)`).

    `jit(train_step)/transpose(jvp(block))/inner/mul` -> (["block", "inner"], "mul", True).
    The outermost `jit(...)` is the program, not a scope; nested `jit(_where)` (a jnp
    helper) is transparent. A scope counts as differentiated if any wrapper around it is
    `transpose`.
    """
    parts = [p for p in _split_top(op_name) if p]
    if not parts:
        return [], "", False
    primitive = parts[-1]
    scopes: List[str] = []
    gradient = False
    for part in parts[:-1]:
        inner, wrappers = _unwrap(part)
        if "transpose" in wrappers:
            gradient = True
        if wrappers and wrappers[-1] in ("jit", "pjit"):
            continue  # the program (jit(train_step)) or a jnp helper's own jit(_where)
        if inner:
            scopes.extend(s for s in inner.split("/") if s)
    return scopes, primitive, gradient


def _split_top(name: str) -> List[str]:
    """Split on '/' outside parentheses (a wrapper may hold a '/': `jvp(block/inner)`)."""
    parts, depth, cur = [], 0, []
    for ch in name:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "/" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unwrap(part: str) -> Tuple[str, List[str]]:
    """`transpose(jvp(slow))` -> ("slow", ["transpose", "jvp"])."""
    wrappers = []
    m = _WRAPPER.match(part)
    while m and m.group(1) in _TRANSFORMS:
        wrappers.append(m.group(1))
        part = m.group(2)
        m = _WRAPPER.match(part)
    return part, wrappers


def in_autodiff(op_name: str) -> bool:
    """Whether the op ran inside the differentiated function (a jvp/transpose wrapper)."""
    return "jvp(" in op_name or "transpose(" in op_name


# -- instruction -> sources ----------------------------------------------------------------

_NOT_OPS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}
_NEIGHBOUR_DEPTH = 6

Sources = List[Tuple[str, float]]  # [(op_name, share)], shares sum to 1


def instruction_sources(mod: Module) -> Dict[str, Sources]:
    """Entry-computation instruction name -> the op_names it came from, with shares.

    A fusion goes to its root's op_name; a call or loop without metadata of its own is
    split by how many of the instructions it runs came from each op_name. Instructions
    without metadata (layout copies, a dot XLA rewrote, reduce-windows) take their
    dataflow neighbours' op_name: a gradient op they consume or feed first (the work is
    part of that gradient), else any op they feed, else any they consume.
    """
    out: Dict[str, Sources] = {}
    for cid, instrs in mod.computations.items():
        named: Dict[int, Sources] = {}
        unnamed: List[Instruction] = []
        for ins in instrs:
            if not ins.op_name and ins.opcode == "fusion" and _runs_bare_contraction(mod, ins):
                unnamed.append(ins)  # a weight gradient XLA fused without metadata: see _by_weight
                continue
            if ins.op_name and ins.opcode == "fusion":
                # A fusion is charged to its root's op_name (the fusion's own metadata):
                # XLA duplicates cheap producers (a bias add) into every consumer fusion,
                # and that work exists because of the consumer (64 slices of a loop).
                named[ins.id] = out[ins.name] = [(ins.op_name, 1.0)]
                continue
            counts = _counts(mod, ins, 0)
            total = sum(counts.values())
            if total:
                named[ins.id] = out[ins.name] = [
                    (n, c / total) for n, c in sorted(counts.items(), key=lambda kv: -kv[1])]
            elif ins.opcode not in _NOT_OPS:
                unnamed.append(ins)
        if unnamed:
            _name_by_neighbours(instrs, named, unnamed, out)
    return out


def _counts(mod: Module, ins: Instruction, depth: int) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    if depth < 8:
        for cid in ins.called_ids:
            for inner in mod.computations.get(cid, ()):
                if inner.opcode in _NOT_OPS:
                    continue
                for key, n in _counts(mod, inner, depth + 1).items():
                    counts[key] = counts.get(key, 0) + n
    if not counts and ins.op_name:
        counts[ins.op_name] = 1
    return counts


def _name_by_neighbours(instrs: List[Instruction], named: Dict[int, Sources],
                        unnamed: List[Instruction], out: Dict[str, Sources]) -> None:
    by_id = {i.id: i for i in instrs}
    users: Dict[int, List[int]] = {}
    for i in instrs:
        for o in i.operand_ids:
            users.setdefault(o, []).append(i.id)

    def nearest(start: int, step) -> List[Sources]:
        found, frontier, seen = [], [start], {start}
        for _ in range(_NEIGHBOUR_DEPTH):
            following = []
            for i in frontier:
                for j in step(i):
                    if j in seen:
                        continue
                    seen.add(j)
                    (found if j in named else following).append(named.get(j, j))
            if found or not following:
                return found
            frontier = following
        return found

    def gradient(src: Sources) -> bool:
        return any("transpose(" in n for n, _ in src)

    params = _trainable_params(instrs)
    for ins in unnamed:
        via_weight = _by_weight(ins, by_id, users, params, named, gradient)
        if via_weight is not None:
            out[ins.name] = via_weight
            continue
        consumed = nearest(ins.id, lambda i: by_id[i].operand_ids if i in by_id else ())
        fed = nearest(ins.id, lambda i: users.get(i, ()))
        pick = (next((s for s in consumed if gradient(s)), None)
                or next((s for s in fed if gradient(s)), None)
                or (fed[0] if fed else None) or (consumed[0] if consumed else None))
        if pick is not None:
            out[ins.name] = pick


# Keras' JAX train step takes its state as `state[0][i]`: the i-th trainable variable.
_TRAINABLE = re.compile(r"^state\[0\]\[(\d+)\]$")
WEIGHT_SCOPE = "__weight{}__"  # synthetic scope: "the layer owning trainable variable i"
_THROUGH = {"copy", "bitcast", "transpose", "reshape", "fusion", "parameter"}


def _trainable_params(instrs: List[Instruction]) -> Dict[int, int]:
    """Instruction id -> trainable variable index, for the step's parameters and their
    plain copies/bitcasts (layout changes keep the weight's identity)."""
    out: Dict[int, int] = {}
    for ins in instrs:
        m = _TRAINABLE.match(ins.op_name)
        if m and ins.opcode in _THROUGH:
            out[ins.id] = int(m.group(1))
    for ins in instrs:  # copies XLA inserted without metadata
        if not ins.op_name and ins.opcode in ("copy", "bitcast") and ins.operand_ids:
            if ins.operand_ids[0] in out:
                out[ins.id] = out[ins.operand_ids[0]]
    return out


def _runs_bare_contraction(mod: Module, ins: Instruction) -> bool:
    """A fusion that runs a dot or convolution carrying no op_name."""
    return any(inner.opcode in ("dot", "convolution") and not inner.op_name
               for cid in ins.called_ids for inner in mod.computations.get(cid, ()))


def _by_weight(ins: Instruction, by_id, users, params: Dict[int, int], named, gradient) -> Optional[Sources]:
    """A dot or convolution XLA stripped of metadata, named by the weight it touches:
    one that reads trainable variable i is its layer's forward (or, when it also reads a
    gradient, its input gradient); one whose result an op on variable i consumes (the
    optimizer's update) is that layer's weight gradient."""
    if ins.opcode not in ("dot", "convolution", "custom-call", "fusion"):
        return None
    weights = [params[o] for o in ins.operand_ids if o in params]
    if weights:
        grad_in = any(o in named and gradient(named[o]) for o in ins.operand_ids)
        scope = WEIGHT_SCOPE.format(weights[0])
        wrapped = f"transpose(jvp({scope}))" if grad_in else f"jvp({scope})"
        return [(f"jit(train_step)/{wrapped}/{ins.opcode}", 1.0)]
    # A weight gradient feeds the optimizer, whose update reads the weight a few ops on
    # (Adam: the moments first, then the variable).
    frontier, seen = [ins.id], {ins.id}
    for _ in range(3):
        following = []
        for i in frontier:
            for u in users.get(i, ()):
                user = by_id.get(u)
                if user is None or u in seen:
                    continue
                seen.add(u)
                touched = [params[o] for o in user.operand_ids if o in params]
                if touched:
                    return [(f"jit(train_step)/transpose(jvp({WEIGHT_SCOPE.format(touched[0])}))/{ins.opcode}", 1.0)]
                following.append(u)
        frontier = following
    return None


def instruction_count(mod: Module) -> Dict[str, int]:
    """op_name -> how many HLO instructions (fused ones included) came from it: the size
    of the program a scope generated, which is what an unrolled Python loop inflates."""
    counts: Dict[str, int] = {}
    for instrs in mod.computations.values():
        for ins in instrs:
            if ins.op_name and ins.opcode not in _NOT_OPS and ins.opcode != "fusion":
                counts[ins.op_name] = counts.get(ins.op_name, 0) + 1
    return counts


def fused_op_names(mod: Module) -> Dict[str, List[str]]:
    """Fusion instruction name -> the distinct op_names of the instructions fused into it
    (to tell fusions that span several layers)."""
    out: Dict[str, List[str]] = {}
    for instrs in mod.computations.values():
        for ins in instrs:
            if ins.opcode == "fusion":
                names = sorted(_counts(mod, Instruction(ins.name, "call", ins.id, "", [], ins.called_ids), 0))
                if len(names) > 1:
                    out[ins.name] = names
    return out
