"""Who owns an op: op name -> (layer, phase) or a named category.

The rules, in order (first match wins):

1. forward: the op was created while the layer's `call` ran (its index lies in the call's
   op range; the innermost call wins, so nested layers get their own ops);
2. gradient: `gradient_tape/<forward op name>/...` -> owner of that forward op; failing
   that, the longest layer name scope found in the name;
3. categories by name scope: optimizer, loss, metrics, input pipeline;
4. graph following: an unscoped op fed by a layer's gradient ops (e.g. the `AddN` that sums
   the gradients of a tensor sliced many times) belongs to that layer's gradient;
5. framework op types (sends/receives, identities, function calls...), else unattributed.

Executed names are mapped back to traced ones first (control-flow cuts, Grappler's
renames and fusions). Eager mode has no graph: there the innermost layer span around an
op owns it (`tb_layerprof.eager`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from tb_layerprof.layermap import STEP_PATH, LayerMap
from tb_layerprof.report import OTHER_KEYS
from tb_layerprof.xplane import XLA_UNMAPPED_TYPE

FORWARD = "forward"
BACKWARD = "backward"

# Owner of an op: (layer path, phase) or (category key, "") for categories. A plain tuple
# on purpose: it is hashed once per op event in the ledgers' hot loop.
Owner = Tuple[str, str]

OPTIMIZER, LOSS, METRICS, INPUT, COLLECTIVE, FRAMEWORK, UNATTRIBUTED = OTHER_KEYS
CATEGORY_KEYS = set(OTHER_KEYS)

GRADIENT_PREFIX = "gradient_tape/"
_LOSS_SCOPES = ("compile_loss", "loss")
_METRIC_SCOPES = ("compile_metrics", "metrics")
_INPUT_TYPES = {
    "IteratorGetNext", "IteratorGetNextSync", "IteratorGetNextAsOptional",
    "OptionalGetValue", "OptionalHasValue", "OptionalNone", "MakeIterator",
    "AnonymousIteratorV3", "AnonymousIteratorV2", "IteratorV2", "OptionalFromValue",
}
_FRAMEWORK_TYPES = {
    "_Recv", "_Send", "_HostRecv", "_HostSend", "NoOp", "Identity", "IdentityN", "Const",
    "_Arg", "_Retval", "_DeviceArg", "_DeviceRetval", "StatefulPartitionedCall",
    "PartitionedCall", "ReadVariableOp", "AssignVariableOp", "VarHandleOp", "_EagerConst",
    "Placeholder", "StopGradient", "If", "StatelessIf", "While", "StatelessWhile",
    "_FusedBatchNormEx", "Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond",
    "_SwitchN", "ControlTrigger", "ZerosLike", "OnesLike", "Shape", "ShapeN", "Size", "Rank",
    "DestroyResourceOp", "AssignAddVariableOp", "AssignSubVariableOp", "Cast", "Pack",
    "Reshape", "Fill", "BroadcastTo", "Range",
}
_SPARSE_GRADIENT_SUMS = {"UnsortedSegmentSum", "SparseSegmentSum", "SegmentSum"}
_CONTRACTIONS = {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D", "Conv3D",
                 "Conv1D", "DepthwiseConv2dNative", "Einsum"}


def is_collective(op_type: str) -> bool:
    """Cross-replica communication ops (all-reduce, gather, broadcast...)."""
    return op_type.startswith(("Collective", "Nccl")) or op_type in ("AllReduce", "CrossReplicaSum")


@dataclasses.dataclass
class GraphOp:
    """One op of a traced graph: name, type and the names of the ops feeding it."""

    name: str
    type: str
    inputs: Sequence[str] = ()


# Graph id -> the graph's ops in creation order, as (name, type, input names) rows.
GraphTables = Dict[int, List[Tuple[str, str, Sequence[str]]]]


class _RecordedRanges(NamedTuple):
    """Per op of one graph: the layer (or category) whose call created it, that call's
    scope, and whether it was created inside the step function's own body."""

    owner_at: List[Optional[str]]
    scope_at: List[str]
    in_step: List[bool]


class _GraphOwners(NamedTuple):
    """First pass over one graph: owner per op name, the ops created during backprop that
    no rule owned (candidates for gradient groups), and each op's index."""

    owner: Dict[str, Owner]
    unowned: List[int]
    index_of: Dict[str, int]


class OwnerIndex:
    """Resolves op names to owners using the layer map and the traced graphs."""

    def __init__(self, layer_map: LayerMap, graphs: GraphTables, active_graph: Optional[int]):
        self.layer_map = layer_map
        self.by_name: Dict[str, Owner] = {}
        self.op_type: Dict[str, str] = {}
        self.inputs_of: Dict[str, Sequence[str]] = {}
        # Executed fused kernels whose ops belong to several owners: name -> owners.
        self.fused_across: Dict[str, Tuple[Owner, ...]] = {}
        root_of = graph_roots(layer_map)
        self.self_ops: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self._cache: Dict[Tuple[str, bool], Owner] = {}
        self.optimizer_scopes = tuple(s for s in layer_map.optimizer_scopes if s)
        # Top-level scopes of ops that loss/metrics/optimizer code created (recorded ranges).
        self.category_scopes: Dict[str, str] = {}
        scope_set: Dict[str, str] = {}
        for call in layer_map.calls:
            if call.scope and call.path in layer_map.layers:
                scope_set.setdefault(call.scope, call.path)
        # (scope, layer path), longest first: the innermost scope in a name wins.
        self.scopes: List[Tuple[str, str]] = sorted(scope_set.items(), key=lambda kv: -len(kv[0]))
        # Graphs in ascending preference: the active step's graphs last so their names win.
        order = sorted(graphs, key=lambda g: (root_of.get(g, g) == active_graph, g))
        for gid in order:
            self._index_graph(gid, graphs[gid], is_active=root_of.get(gid, gid) == active_graph)

    # -- indexing the traced graphs ------------------------------------------------------

    def _index_graph(
        self, gid: int, table: List[Tuple[str, str, Sequence[str]]], is_active: bool
    ) -> None:
        ranges = self._recorded_ranges(gid, table)
        self._distrust_foreign_names(table, ranges)
        first = self._first_pass(table, ranges.owner_at)
        graph_owner = first.owner
        self._own_gradient_groups(table, first.unowned, graph_owner, first.index_of)
        self._own_sparse_gradients(table, graph_owner)
        model_path = next((p for p, info in self.layer_map.layers.items() if info.is_model), None)
        if model_path is not None and any(ranges.in_step):
            # A subclassed model's own call body: what no layer or category claims is its.
            for i, (name, _, _) in enumerate(table):
                if ranges.in_step[i] and graph_owner[name][0] == UNATTRIBUTED:
                    graph_owner[name] = (model_path, FORWARD)
        for i, (name, op_type, _) in enumerate(table):
            owner = graph_owner[name]
            self.by_name[name] = owner
            path = ranges.owner_at[i]
            if is_active and path is not None and path not in CATEGORY_KEYS:
                self.self_ops[owner[0]][op_type] += 1

    def _recorded_ranges(self, gid: int, table) -> _RecordedRanges:
        calls = [c for c in self.layer_map.calls if c.graph_id == gid and c.op_end > c.op_start]
        # Outer calls first, inner calls overwrite: the innermost layer owns its ops.
        calls.sort(key=lambda c: (c.op_start, -(c.op_end - c.op_start)))
        ranges = _RecordedRanges([None] * len(table), [""] * len(table), [False] * len(table))
        for call in calls:
            if call.path == STEP_PATH:
                for i in range(call.op_start, min(call.op_end, len(table))):
                    ranges.in_step[i] = True
                continue
            for i in range(call.op_start, min(call.op_end, len(table))):
                ranges.owner_at[i] = call.path
                ranges.scope_at[i] = call.scope
        return ranges

    def _distrust_foreign_names(self, table, ranges: _RecordedRanges) -> None:
        """Several threads can trace into one graph at once (MirroredStrategy traces each
        replica in its own thread), so an op created during a call is not always the
        call's: trust the range only when the op's name agrees with the call's scope."""
        owner_at, scope_at = ranges.owner_at, ranges.scope_at
        for i, (name, _, _) in enumerate(table):
            path = owner_at[i]
            if path is None:
                continue
            scope = scope_at[i]
            if path in CATEGORY_KEYS or (scope and not name.startswith(scope + "/")):
                by_name = self._owner_by_name(name, "", {})
                if by_name[0] in self.layer_map.layers or (
                        path in CATEGORY_KEYS and name.startswith(GRADIENT_PREFIX)):
                    owner_at[i] = None

    def _first_pass(self, table, owner_at: List[Optional[str]]) -> _GraphOwners:
        """Owner of every op by its recorded range, else by its name; notes the unowned
        ops created once backprop began (the first gradient op)."""
        graph_owner: Dict[str, Owner] = {}
        index_of: Dict[str, int] = {}
        unowned: List[int] = []
        backprop_from = None
        for i, (name, op_type, inputs) in enumerate(table):
            self.op_type[name] = op_type
            self.inputs_of[name] = inputs
            index_of[name] = i
            path = owner_at[i]
            if is_collective(op_type):
                owner = (COLLECTIVE, "")
            elif path in CATEGORY_KEYS:
                owner = (path, "")
                if "/" in name:  # e.g. tf_keras' "mean_squared_error/...": its gradient too
                    self.category_scopes.setdefault(name.split("/", 1)[0], path)
            elif path is not None:
                owner = (path, FORWARD)
            else:
                owner = self._owner_by_name(name, op_type, graph_owner)
                if owner[0] == UNATTRIBUTED and not name.startswith(GRADIENT_PREFIX):
                    owner = _reduction_of_category(inputs, graph_owner, self.op_type) or owner
                if owner[1] == BACKWARD and backprop_from is None:
                    backprop_from = i
                if owner[0] in (UNATTRIBUTED, FRAMEWORK) and backprop_from is not None:
                    unowned.append(i)
            graph_owner[name] = owner
        return _GraphOwners(graph_owner, unowned, index_of)

    def _own_gradient_groups(self, table, unowned: List[int], graph_owner: Dict[str, Owner],
                             index_of: Dict[str, int]) -> None:
        """Give unscoped ops created during backprop to the layer whose gradient they are.

        The tape creates one layer's gradient ops together, so unscoped ops created back to
        back form a group (a `tf.custom_gradient` function's body, or the `AddN` summing the
        gradients of a tensor used many times). A group that reads a layer's forward
        tensors computes that layer's gradient; when it reads several, the layer traced
        last wins (a gradient reads its own layer's activations, and its inputs, which
        earlier layers produced). A group reading no forward tensor follows the gradients
        it sums (majority of its gradient inputs). A group that consumes no gradient at all
        is not gradient work and keeps its category.
        """
        readers = _readers_of(table, unowned)
        for group in _consecutive_groups(unowned):
            members = {table[i][0] for i in group}
            path = _group_gradient_owner(table, group, members, graph_owner, index_of)
            if path is None:
                # Consumes no gradient, but may seed one: a zeros_like a loop's gradient
                # starts from belongs to the gradient it feeds.
                users = sorted({j for i in group for j in readers.get(i, ())})
                fed = collections.Counter(
                    graph_owner[table[j][0]][0] for j in users
                    if graph_owner.get(table[j][0], ("", ""))[1] == BACKWARD
                    and any(inp in members for inp in table[j][2]))
                if not fed:
                    continue  # not gradient work (e.g. function outputs)
                path = fed.most_common(1)[0][0]
            for i in group:
                graph_owner[table[i][0]] = (path, BACKWARD)

    def _own_sparse_gradients(self, table, graph_owner: Dict[str, Owner]) -> None:
        """An embedding's gradient is sparse (IndexedSlices): the tape only reshapes the
        rows, and the optimizer sums them into the table's shape (UnsortedSegmentSum under
        its scope). That sum is the layer's gradient, not the optimizer's update."""
        for name, op_type, inputs in table:
            if op_type not in _SPARSE_GRADIENT_SUMS or graph_owner.get(name, ("", ""))[0] != OPTIMIZER:
                continue
            node, hops = (inputs[0] if inputs else None), 0
            while node is not None and hops < 4:
                owner = graph_owner.get(node)
                if owner is not None and owner[1] == BACKWARD:
                    graph_owner[name] = owner
                    break
                inputs_of = self.inputs_of.get(node) or ()
                node, hops = (inputs_of[0] if inputs_of else None), hops + 1

    # -- owners by name ------------------------------------------------------------------

    def _scope_owner(self, name: str) -> Optional[str]:
        for scope, path in self.scopes:
            if name.startswith(scope) and (len(name) == len(scope) or name[len(scope)] == "/"):
                return path
            # Nested function bodies (while loops, inner tf.functions) prefix their own names.
            idx = name.find("/" + scope + "/")
            if idx >= 0:
                return path
        return None

    def _owner_by_name(self, name: str, op_type: str, known: Dict[str, Owner]) -> Owner:
        if name.startswith(GRADIENT_PREFIX):
            return self._gradient_owner(name[len(GRADIENT_PREFIX):], op_type, known)
        path = self._scope_owner(name)
        if path is not None:
            return (path, FORWARD)
        return self._category(name, op_type)

    def _gradient_owner(self, rest: str, op_type: str, known: Dict[str, Owner]) -> Owner:
        """Owner of `gradient_tape/<rest>`: the forward op it differentiates, else the
        layer scope in its name, else the category of its top-level scope."""
        for fwd_name in _forward_names(rest):
            fwd = known.get(fwd_name) or self.by_name.get(fwd_name)
            if fwd is not None and fwd[1] == FORWARD:
                return (fwd[0], BACKWARD)
            if fwd is not None and fwd[0] in (OPTIMIZER, LOSS, METRICS):
                return fwd  # the gradient of the loss is loss work
        path = self._scope_owner(_after_gradients(rest))
        if path is None:
            path = self._scope_owner(rest)
        if path is not None:
            return (path, BACKWARD)
        category = self.category_scopes.get(rest.split("/", 1)[0])
        if category is not None:
            return (category, "")
        return self._category(rest, op_type)

    def _category(self, name: str, op_type: str) -> Owner:
        if is_collective(op_type):
            return (COLLECTIVE, "")
        first = name.split("/", 1)[0]
        base = first.rstrip("0123456789").rstrip("_")  # traced scopes get _N suffixes
        if first in self.optimizer_scopes or base in self.optimizer_scopes:
            return (OPTIMIZER, "")
        if base in _LOSS_SCOPES:
            return (LOSS, "")
        if base in _METRIC_SCOPES:
            return (METRICS, "")
        if op_type in _INPUT_TYPES or "Dataset" in op_type or "Iterator" in op_type:
            return (INPUT, "")
        if op_type in _FRAMEWORK_TYPES or op_type.startswith("_"):
            return (FRAMEWORK, "")
        return (UNATTRIBUTED, "")

    # -- executed names ------------------------------------------------------------------

    def owner(self, name: str, op_type: str = "") -> Owner:
        """Owner of an executed op (or allocation) by its name.

        Executed names differ from traced ones: Grappler inlines functions into their
        callers, prefixing names with the call node (`StatefulPartitionedCall/...`), and
        lowers while loops and conds, prefixing a body's ops with `<loop>/body/_N/` (or
        `<cond>/then/_N/`); its rewriters rename some nodes and fuse others.
        """
        key = (name, _is_fused_contraction(op_type))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve(name, op_type)
            self._cache[key] = hit
        return hit

    def _resolve(self, name: str, op_type: str) -> Owner:
        cuts = control_flow_cuts(name)
        for candidate in [name] + [local for _, local in cuts]:
            hit = self.by_name.get(candidate)
            if hit is not None:
                return self._unfuse(name, candidate, op_type, hit)
            form = _strip_rewrites(candidate)
            hit = self.by_name.get(form) if form != candidate else None
            if hit is not None:
                return self._unfuse(name, form, op_type, hit)
        inner = _strip_rewrites(cuts[-1][1] if cuts else name)
        owner = self._owner_by_name(inner, op_type or self.op_type.get(inner, ""), self.by_name)
        if owner[0] in (UNATTRIBUTED, FRAMEWORK) and cuts:
            # An op of a loop body or cond branch no layer call was traced in (a loss-scale
            # cond around the optimizer, a tf.map_fn body): it is the work of the op that
            # runs the loop or branch.
            enclosing = self.owner(cuts[-1][0])
            if enclosing[0] not in (UNATTRIBUTED, FRAMEWORK):
                if enclosing[1] == FORWARD and GRADIENT_PREFIX in name:
                    return (enclosing[0], BACKWARD)
                return enclosing
        if owner[0] == UNATTRIBUTED and self.by_name and op_type != XLA_UNMAPPED_TYPE:
            # Not an op of any traced train step: Keras' own loop around it (iterator
            # plumbing, step counters), i.e. framework, not a layer we failed to find.
            return (FRAMEWORK, "")
        return owner

    def _unfuse(self, name: str, traced: str, op_type: str, owner: Owner) -> Owner:
        """A Grappler-fused kernel (MatMul/Conv + BiasAdd + activation) runs under the name
        of the last op it fused, often the activation of the next layer: it belongs to the
        layer of its contraction (the matmul or convolution, nearly all its cost)."""
        if not _is_fused_contraction(op_type) or self.op_type.get(traced) in _CONTRACTIONS:
            return owner
        frontier, seen = [traced], {traced}
        for _ in range(4):
            following = []
            for node in frontier:
                for inp in self.inputs_of.get(node, ()):
                    if inp in seen:
                        continue
                    seen.add(inp)
                    if self.op_type.get(inp) in _CONTRACTIONS:
                        contraction = self.by_name.get(inp)
                        if contraction is None or contraction == owner:
                            return owner
                        self.fused_across[name] = (contraction, owner)
                        return contraction
                    following.append(inp)
            frontier = following
        return owner


# -- gradient groups -----------------------------------------------------------------------


def _readers_of(table, unowned: List[int]) -> Dict[int, List[int]]:
    """Index of each unowned op -> indices of the ops reading it."""
    unowned_set = {table[i][0]: i for i in unowned}
    readers: Dict[int, List[int]] = collections.defaultdict(list)
    if unowned_set:
        for j, (_, _, inputs) in enumerate(table):
            for inp in inputs:
                k = unowned_set.get(inp)
                if k is not None:
                    readers[k].append(j)
    return readers


def _consecutive_groups(indices: List[int]) -> List[List[int]]:
    """Runs of consecutive op indices: ops the tape created back to back."""
    groups: List[List[int]] = []
    for i in indices:
        if groups and groups[-1][-1] == i - 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _group_gradient_owner(table, group: List[int], members: set, graph_owner: Dict[str, Owner],
                          index_of: Dict[str, int]) -> Optional[str]:
    """The layer whose gradient a group computes, from what it reads: the forward tensor
    traced last, else the majority of the gradients it sums; None if it reads neither."""
    latest_forward: Tuple[int, Optional[str]] = (-1, None)
    votes: collections.Counter = collections.Counter()
    for i in group:
        for inp in table[i][2]:
            if inp in members:
                continue
            owner = graph_owner.get(inp)
            if owner is None or owner[0] in CATEGORY_KEYS:
                continue
            if owner[1] == FORWARD:
                at = index_of.get(inp, -1)
                if at > latest_forward[0]:
                    latest_forward = (at, owner[0])
            elif owner[1] == BACKWARD:
                votes[owner[0]] += 1
    if not votes:
        return None
    return latest_forward[1] or votes.most_common(1)[0][0]


def _reduction_of_category(inputs: Sequence[str], graph_owner: Dict[str, Owner],
                           op_type: Dict[str, str]) -> Optional[Owner]:
    """An unscoped op that reads only the loss (or only metrics) and constants works on
    that category's values: a custom loop's own reduction of the per-example loss
    (`tf.nn.compute_average_loss`: `Sum`, `div_no_nan`) is loss work, not unowned."""
    found: Optional[Owner] = None
    for inp in inputs:
        owner = graph_owner.get(inp)
        if owner is not None and owner[0] in (LOSS, METRICS):
            if found is not None and found != owner:
                return None
            found = owner
        elif op_type.get(inp) != "Const":
            return None
    return found


# -- executed names back to traced ones ------------------------------------------------------


def _is_fused_contraction(op_type: str) -> bool:
    """Grappler/oneDNN fused kernels: _FusedMatMul, _MklNativeFusedConv2D, ..."""
    return op_type.startswith("_") and "Fused" in op_type and ("MatMul" in op_type or "Conv" in op_type)


_INLINED_BODY = re.compile(r"^_\d+$")
_BODY_PARTS = {"body", "cond", "then", "else"}
_CALL_RE = re.compile(r"^(Stateful)?PartitionedCall(_\d+)?$|^.*_inlined$")


@functools.lru_cache(maxsize=1 << 16)
def control_flow_cuts(name: str) -> Tuple[Tuple[str, str], ...]:
    """(enclosing op, name inside it) at each function-call or control-flow boundary of an
    executed name, outermost first: `a/while/body/_3/a/while/mul` -> (("a/while",
    "a/while/mul"),); `StatefulPartitionedCall/x/y` -> (("StatefulPartitionedCall", "x/y"),).
    Cached: the owner lookup, the shape index and the batch vote ask about the same names."""
    parts = name.split("/")
    cuts: List[Tuple[str, str]] = []
    i = 0
    while i < len(parts) - 1:
        p = parts[i]
        if p in _BODY_PARTS and i >= 1 and i + 2 < len(parts) and _INLINED_BODY.match(parts[i + 1]):
            cuts.append(("/".join(parts[:i]), "/".join(parts[i + 2:])))
            i += 2
            continue
        if _CALL_RE.match(p):
            cuts.append(("/".join(parts[:i + 1]), "/".join(parts[i + 1:])))
        i += 1
    return tuple(cuts)


def _forward_names(rest: str) -> Iterator[str]:
    """Forward op names a gradient op name points at, most specific first (lazily: the
    first one nearly always names a traced op).

    Tape gradients are named `gradient_tape/<forward op>/...`; gradients built inside a
    while loop's gradient body use graph-mode names, `.../gradients/<forward op>_grad/...`.
    """
    inner = _after_gradients(rest)
    if inner is not rest:
        parts = inner.split("/")
        for j, part in enumerate(parts):
            if part.endswith("_grad") and len(part) > 5:
                yield "/".join(parts[:j] + [part[:-5]])
                break
    cut = len(rest)
    while True:  # the prefixes, longest first: what `rest.rsplit("/", k)[0]` gives for k = 1, 2, ...
        cut = rest.rfind("/", 0, cut)
        if cut <= 0:
            return
        yield rest[:cut]


def _after_gradients(rest: str) -> str:
    """What follows the last `gradients/` component (graph-mode gradient names), or `rest`."""
    if rest.startswith("gradients/"):
        return _after_gradients(rest[len("gradients/"):])
    idx = rest.rfind("/gradients/")
    return rest[idx + len("/gradients/"):] if idx >= 0 else rest


def _strip_rewrites(name: str) -> str:
    """Undo Grappler's renaming (e.g. `ArithmeticOptimizer/AddOpsRewrite_<name>`)."""
    if "Optimizer" not in name and "ConstantFolding" not in name and "Rewrite" not in name \
            and "ReorderCastLikeAndValuePreserving_" not in name:
        return name  # nothing renamed: most names
    parts = name.split("/")
    kept = [p for p in parts if not p.endswith("Optimizer") and p != "ConstantFolding"]
    if kept and kept[-1].startswith(("AddOpsRewrite_", "ReorderCastLikeAndValuePreserving_")):
        kept[-1] = kept[-1].split("_", 1)[1]
    return "/".join(kept) if kept else name


# -- which traced graph ran ----------------------------------------------------------------


def graph_roots(layer_map: LayerMap) -> Dict[int, int]:
    """Graph id -> id of the step function graph it belongs to (itself for a root)."""
    roots: Dict[int, int] = {}
    for c in layer_map.calls:
        if c.graph_id:
            roots.setdefault(c.graph_id, c.root)
    return roots


def choose_active_graph(graphs: GraphTables, op_names: Iterable[str],
                        roots: Optional[Dict[int, int]] = None) -> Optional[int]:
    """The traced step function whose op names best match what ran (train vs eval
    functions, a retrace...); graphs nested in it (loop bodies) count towards it."""
    if not graphs:
        return None
    roots = roots or {}
    names = set()
    for name in op_names:
        names.add(name)
        for _, local in control_flow_cuts(name):
            names.add(local)
    hits: Dict[int, int] = collections.defaultdict(int)
    for gid in graphs:
        hits[roots.get(gid, gid)] += sum(1 for row in graphs[gid] if row[0] in names)
    best, best_hits = None, -1
    for root in sorted(hits):
        if hits[root] >= best_hits:
            best, best_hits = root, hits[root]
    return best
