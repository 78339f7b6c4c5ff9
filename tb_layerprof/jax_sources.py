"""HLO instructions of a JAX program -> the `op_name`s (JAX name stacks) they came from,
by JAX's and Keras' rules: a fusion goes to its root's op_name, calls and loops are split
by what they run, instructions XLA left without metadata are named by their dataflow
neighbours or by the trainable variable (`state[0][i]`) they touch.

The HLO protos are read by the xplane package (`xplane.hlo.parse_module`); what an op_name
means (layer scope, phase) is the analysis' (`jax_analysis.split_op_name`).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from tb_layerprof.xplane.hlo import HloModule, Instruction, nearest_named

# -- instruction -> sources ----------------------------------------------------------------

_NOT_OPS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}

Sources = List[Tuple[str, float]]  # [(op_name, share)], shares sum to 1


def instruction_sources(mod: HloModule) -> Dict[str, Sources]:
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


def _counts(mod: HloModule, ins: Instruction, depth: int) -> Dict[str, int]:
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

    def gradient(src: Sources) -> bool:
        return any("transpose(" in n for n, _ in src)

    params = _trainable_params(instrs)
    for ins in unnamed:
        via_weight = _by_weight(ins, by_id, users, params, named, gradient)
        if via_weight is not None:
            out[ins.name] = via_weight
            continue
        consumed = nearest_named(ins.id, lambda i: by_id[i].operand_ids if i in by_id else (), named)
        fed = nearest_named(ins.id, lambda i: users.get(i, ()), named)
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


def _runs_bare_contraction(mod: HloModule, ins: Instruction) -> bool:
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


def instruction_count(mod: HloModule) -> Dict[str, int]:
    """op_name -> how many HLO instructions (fused ones included) came from it: the size
    of the program a scope generated, which is what an unrolled Python loop inflates."""
    counts: Dict[str, int] = {}
    for instrs in mod.computations.values():
        for ins in instrs:
            if ins.op_name and ins.opcode not in _NOT_OPS and ins.opcode != "fusion":
                counts[ins.op_name] = counts.get(ins.op_name, 0) + 1
    return counts


def fused_op_names(mod: HloModule) -> Dict[str, List[str]]:
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
