"""Pure attribution: profile events + layer map -> per-layer figures of one window.

Every op event and every allocation in the window's steps gets exactly one owner:
a layer's forward, a layer's gradient, or a named category (optimizer, loss, metrics,
input, framework, unattributed). Rules, in order (first match wins):

1. forward: the op was created while the layer's `call` ran (its index lies in the call's
   op range; the innermost call wins, so nested layers get their own ops);
2. gradient: `gradient_tape/<forward op name>/...` -> owner of that forward op; failing
   that, the longest layer name scope found in the name;
3. categories by name scope: optimizer, loss, metrics, input pipeline;
4. graph following: an unscoped op fed by a layer's gradient ops (e.g. the `AddN` that sums
   the gradients of a tensor sliced many times) belongs to that layer's gradient;
5. framework op types (sends/receives, identities, function calls...), else unattributed.

Eager mode has no graph: ops are attributed to the innermost layer span around them.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from tb_layerprof.layermap import STEP_PATH, CallRecord, LayerMap
from tb_layerprof.report import OTHER_KEYS, LayerStats, WindowReport
from tb_layerprof.xplane import TAPE_SPAN, XLA_UNMAPPED_TYPE, ProfileEvents

FORWARD = "forward"
BACKWARD = "backward"

# Owner of an op: (layer path, phase) or (category key, "") for categories.
Owner = Tuple[str, str]

OPTIMIZER, LOSS, METRICS, INPUT, COLLECTIVE, FRAMEWORK, UNATTRIBUTED = OTHER_KEYS
_CATEGORY_KEYS = set(OTHER_KEYS)

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
TOP_OPS = 5


def is_collective(op_type: str) -> bool:
    """Cross-replica communication ops (all-reduce, gather, broadcast...)."""
    return op_type.startswith(("Collective", "Nccl")) or op_type in ("AllReduce", "CrossReplicaSum")


_REPLICA_RE = re.compile(r"(?:^|/)replica_(\d+)/")


@dataclasses.dataclass
class GraphOp:
    """One op of a traced graph: name, type and the names of the ops feeding it."""

    name: str
    type: str
    inputs: Sequence[str] = ()


GraphTables = Dict[int, List[Tuple[str, str, Sequence[str]]]]


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
        self.scopes: List[Tuple[str, str]] = []  # (scope, layer path), longest first
        self.optimizer_scopes = tuple(s for s in layer_map.optimizer_scopes if s)
        # Top-level scopes of ops that loss/metrics/optimizer code created (recorded ranges).
        self.category_scopes: Dict[str, str] = {}
        scope_set = {}
        for call in layer_map.calls:
            if call.scope and call.path in layer_map.layers:
                scope_set.setdefault(call.scope, call.path)
        self.scopes = sorted(scope_set.items(), key=lambda kv: -len(kv[0]))
        # Graphs in ascending preference: the active step's graphs last so their names win.
        order = sorted(graphs, key=lambda g: (root_of.get(g, g) == active_graph, g))
        for gid in order:
            self._index_graph(gid, graphs[gid], is_active=root_of.get(gid, gid) == active_graph)

    def _index_graph(
        self, gid: int, table: List[Tuple[str, str, Sequence[str]]], is_active: bool
    ) -> None:
        calls = [c for c in self.layer_map.calls if c.graph_id == gid and c.op_end > c.op_start]
        # Outer calls first, inner calls overwrite: the innermost layer owns its ops.
        calls.sort(key=lambda c: (c.op_start, -(c.op_end - c.op_start)))
        owner_at: List[Optional[str]] = [None] * len(table)
        scope_at: List[str] = [""] * len(table)
        in_step = [False] * len(table)
        for call in calls:
            if call.path == STEP_PATH:
                for i in range(call.op_start, min(call.op_end, len(table))):
                    in_step[i] = True
                continue
            for i in range(call.op_start, min(call.op_end, len(table))):
                owner_at[i] = call.path
                scope_at[i] = call.scope
        # Several threads can trace into one graph at once (MirroredStrategy traces each
        # replica in its own thread), so an op created during a call is not always the
        # call's: trust the range only when the op's name agrees with the call's scope.
        for i, (name, _, _) in enumerate(table):
            path = owner_at[i]
            if path is None:
                continue
            scope = scope_at[i]
            if path in _CATEGORY_KEYS or (scope and not name.startswith(scope + "/")):
                by_name = self._owner_by_name(name, "", {})
                if by_name[0] in self.layer_map.layers or (
                        path in _CATEGORY_KEYS and name.startswith(GRADIENT_PREFIX)):
                    owner_at[i] = None
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
            elif path in _CATEGORY_KEYS:
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
        self._own_gradient_groups(table, unowned, graph_owner, index_of)
        self._own_sparse_gradients(table, graph_owner)
        model_path = next((p for p, info in self.layer_map.layers.items() if info.is_model), None)
        if model_path is not None and any(in_step):
            for i, (name, _, _) in enumerate(table):
                if in_step[i] and graph_owner[name][0] == UNATTRIBUTED:
                    graph_owner[name] = (model_path, FORWARD)
        for i, (name, op_type, _) in enumerate(table):
            owner = graph_owner[name]
            self.by_name[name] = owner
            if is_active and owner_at[i] is not None and owner_at[i] not in _CATEGORY_KEYS:
                self.self_ops[owner[0]][op_type] += 1

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
        groups: List[List[int]] = []
        # Ops reading each unowned op (by the index of the group's last member, below).
        unowned_set = {table[i][0]: i for i in unowned}
        readers: Dict[int, List[int]] = collections.defaultdict(list)
        if unowned_set:
            for j, (_, _, inputs) in enumerate(table):
                for inp in inputs:
                    k = unowned_set.get(inp)
                    if k is not None:
                        readers[k].append(j)
        for i in unowned:
            if groups and groups[-1][-1] == i - 1:
                groups[-1].append(i)
            else:
                groups.append([i])
        for group in groups:
            members = {table[i][0] for i in group}
            users = {group[-1]: sorted({j for i in group for j in readers.get(i, ())})}
            latest_forward: Tuple[int, Optional[str]] = (-1, None)
            votes: collections.Counter = collections.Counter()
            for i in group:
                for inp in table[i][2]:
                    if inp in members:
                        continue
                    owner = graph_owner.get(inp)
                    if owner is None or owner[0] in _CATEGORY_KEYS:
                        continue
                    if owner[1] == FORWARD:
                        at = index_of.get(inp, -1)
                        if at > latest_forward[0]:
                            latest_forward = (at, owner[0])
                    elif owner[1] == BACKWARD:
                        votes[owner[0]] += 1
            if not votes:
                # Consumes no gradient, but may seed one: a zeros_like a loop's gradient
                # starts from belongs to the gradient it feeds.
                fed = collections.Counter(
                    graph_owner[table[j][0]][0] for j in users.get(group[-1], ())
                    if graph_owner.get(table[j][0], ("", ""))[1] == BACKWARD
                    and any(inp in members for inp in table[j][2]))
                if not fed:
                    continue  # not gradient work (e.g. function outputs)
                path = fed.most_common(1)[0][0]
                for i in group:
                    graph_owner[table[i][0]] = (path, BACKWARD)
                continue
            path = latest_forward[1] or votes.most_common(1)[0][0]
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
            rest = name[len(GRADIENT_PREFIX):]
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
        path = self._scope_owner(name)
        if path is not None:
            return (path, FORWARD)
        return self._category(name, op_type)

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
        cuts = _control_flow_cuts(name)
        for candidate in [name] + [local for _, local in cuts]:
            for form in (candidate, _strip_rewrites(candidate)):
                hit = self.by_name.get(form)
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


_SPARSE_GRADIENT_SUMS = {"UnsortedSegmentSum", "SparseSegmentSum", "SegmentSum"}

_CONTRACTIONS = {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D", "Conv3D",
                 "Conv1D", "DepthwiseConv2dNative", "Einsum"}


def _is_fused_contraction(op_type: str) -> bool:
    """Grappler/oneDNN fused kernels: _FusedMatMul, _MklNativeFusedConv2D, ..."""
    return op_type.startswith("_") and "Fused" in op_type and ("MatMul" in op_type or "Conv" in op_type)


_INLINED_BODY = re.compile(r"^_\d+$")
_BODY_PARTS = {"body", "cond", "then", "else"}


def _control_flow_cuts(name: str) -> List[Tuple[str, str]]:
    """(enclosing op, name inside it) at each function-call or control-flow boundary of an
    executed name, outermost first: `a/while/body/_3/a/while/mul` -> [("a/while",
    "a/while/mul")]; `StatefulPartitionedCall/x/y` -> [("StatefulPartitionedCall", "x/y")]."""
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
    return cuts


def _forward_names(rest: str) -> List[str]:
    """Forward op names a gradient op name points at, most specific first.

    Tape gradients are named `gradient_tape/<forward op>/...`; gradients built inside a
    while loop's gradient body use graph-mode names, `.../gradients/<forward op>_grad/...`.
    """
    names: List[str] = []
    inner = _after_gradients(rest)
    if inner is not rest:
        parts = inner.split("/")
        for j, part in enumerate(parts):
            if part.endswith("_grad") and len(part) > 5:
                names.append("/".join(parts[:j] + [part[:-5]]))
                break
    parts = rest.split("/")
    names.extend("/".join(parts[:k]) for k in range(len(parts) - 1, 0, -1))
    return names


def _after_gradients(rest: str) -> str:
    """What follows the last `gradients/` component (graph-mode gradient names), or `rest`."""
    if rest.startswith("gradients/"):
        return _after_gradients(rest[len("gradients/"):])
    idx = rest.rfind("/gradients/")
    return rest[idx + len("/gradients/"):] if idx >= 0 else rest


_CALL_RE = re.compile(r"^(Stateful)?PartitionedCall(_\d+)?$|^.*_inlined$")


def _strip_rewrites(name: str) -> str:
    """Undo Grappler's renaming (e.g. `ArithmeticOptimizer/AddOpsRewrite_<name>`)."""
    parts = name.split("/")
    kept = [p for p in parts if not p.endswith("Optimizer") and p != "ConstantFolding"]
    if kept and kept[-1].startswith(("AddOpsRewrite_", "ReorderCastLikeAndValuePreserving_")):
        kept[-1] = kept[-1].split("_", 1)[1]
    return "/".join(kept) if kept else name


def graph_roots(layer_map: LayerMap) -> Dict[int, int]:
    """Graph id -> id of the step function graph it belongs to (itself for a root)."""
    roots: Dict[int, int] = {}
    for c in layer_map.calls:
        if c.graph_id:
            roots.setdefault(c.graph_id, c.root)
    return roots


def _self_and_ancestors(layer: LayerStats, layers: Dict[str, LayerStats]):
    yield layer
    parent = layer.parent
    while parent is not None and parent in layers:
        yield layers[parent]
        parent = layers[parent].parent


def _is_device_allocator(name: str) -> bool:
    """GPU_0_bfc and friends; the CPU BFC allocator is "bfc_cpu_allocator_for_gpu"."""
    return name.upper().startswith(("GPU_", "GPU:", "TPU_", "/DEVICE:GPU"))


def _replay_allocator(trace, mem_owner, alloc_bytes, peak_live, kept_bytes=None,
                      op_end=None) -> None:
    """Bytes allocated per owner, and per layer what it held when `trace` peaked.

    `kept_bytes` (if given) receives, per owner, the bytes of allocations that outlive the
    op that made them (`op_end(tf_op, t)`: when that op's execution ended); scratch
    buffers a kernel allocates and frees within its own run are not churn.
    """
    live: Dict[int, Tuple[Owner, int, int, str]] = {}
    in_use = peak = 0
    peak_at = -1
    owners = []
    for i, (t, sign, nbytes, addr, tf_op, _) in enumerate(trace):
        if sign > 0:
            owner = mem_owner(t, tf_op)
            owners.append(owner)
            alloc_bytes[owner] += nbytes
            live[addr] = (owner, nbytes, t, tf_op)
            in_use += nbytes
            if in_use > peak:
                peak, peak_at = in_use, i
        else:
            owners.append(None)
            held = live.pop(addr, None)
            if held is not None:
                in_use -= held[1]
                if kept_bytes is not None:
                    end = op_end(held[3], held[2]) if op_end is not None and held[3] else None
                    if end is None or t > end:
                        kept_bytes[held[0]] += held[1]
    if kept_bytes is not None:
        for owner, nbytes, _, _ in live.values():
            kept_bytes[owner] += nbytes  # still held at the window's end: outlived its op
    if peak_at < 0:
        return
    live = {}
    for i, (t, sign, nbytes, addr, tf_op, _) in enumerate(trace[: peak_at + 1]):
        if sign > 0:
            live[addr] = (owners[i], nbytes)
        else:
            live.pop(addr, None)
    for owner, nbytes in live.values():
        peak_live[owner[0]] += nbytes


@dataclasses.dataclass
class _Ledger:
    """Op time of one window per owner, on one clock (host op events or device kernels)."""

    self_time: Dict[Owner, float] = dataclasses.field(default_factory=lambda: collections.defaultdict(float))
    per_op: Dict[Tuple[Owner, str, str], float] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(float))
    total_ps: float = 0
    # (layer, phase, step index, device or "") -> [first op start, last op end]
    extent: Dict[Tuple[str, str, int, str], List[int]] = dataclasses.field(default_factory=dict)
    op_events: Dict[Owner, int] = dataclasses.field(default_factory=lambda: collections.defaultdict(int))
    replica_time: Dict[Tuple[Owner, int], float] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(float))
    executed_types: Dict[str, collections.Counter] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(collections.Counter))

    def add(self, owner: Owner, name: str, op_type: str, self_ps: float) -> None:
        self.self_time[owner] += self_ps
        self.per_op[(owner, name, op_type)] += self_ps
        self.total_ps += self_ps

    def extend(self, key: Tuple[str, str, int, str], s: int, e: int) -> None:
        span = self.extent.get(key)
        if span is None:
            self.extent[key] = [s, e]
        else:
            if s < span[0]:
                span[0] = s
            if e > span[1]:
                span[1] = e


def _eager_owner_at(spans: "SpanIndex", grads: "SpanIndex", line: Optional[int], s: int,
                    e: int) -> Optional[Owner]:
    """Eager mode: the owner of [s, e] by the innermost layer/category span, then by the
    gradient spans; `line` None searches every line (allocations carry no thread)."""
    for index, phase in ((spans, FORWARD), (grads, BACKWARD)):
        for key in (index if line is None else (line,)):
            path = _eager_owner(index, key, s, e)
            if path is not None:
                return (path, "") if path in _CATEGORY_KEYS else (path, phase)
    return None


def _host_ledger(window_ops, op_step: List[int], index: "OwnerIndex", spans: "SpanIndex",
                 grads: "SpanIndex", eager: bool, input_lines=frozenset()) -> _Ledger:
    """Self time of host op events per owner, with per-step spans and per-replica time."""
    ledger = _Ledger()
    owner_of = index.owner
    replica_of: Dict[str, int] = {}
    use_spans = bool(spans or grads)
    for i, (line, s, e, self_ps, name, op_type) in enumerate(window_ops):
        owner = _eager_owner_at(spans, grads, line, s, e) if use_spans else None
        if owner is None:
            owner = owner_of(name, op_type)
            if owner[0] == FRAMEWORK and line in input_lines:
                owner = (INPUT, "")
        ledger.add(owner, name, op_type, self_ps)
        ledger.op_events[owner] += 1
        if not owner[1]:
            continue
        replica = replica_of.get(name)
        if replica is None:
            m = _REPLICA_RE.search(name)
            replica = replica_of[name] = int(m.group(1)) if m else 0
        ledger.replica_time[(owner, replica)] += self_ps
        if eager and owner[1] == FORWARD:
            ledger.executed_types[owner[0]][op_type] += 1
        ledger.extend((owner[0], owner[1], op_step[i], ""), s, e)
    return ledger


DEVICE_SLACK = 0.5  # kernels may finish after the host step ends: accept half a step more


def _device_ledger(events: ProfileEvents, index: "OwnerIndex", starts: List[int],
                   ends: List[int]) -> _Ledger:
    """Kernel self time per owner on device planes, for kernels of the window's steps.

    A kernel belongs to the step whose host thread launched it (same correlation id);
    without launch events, to the step its start falls in (or just after).
    """
    ledger = _Ledger()
    if not events.device_ops:
        return ledger
    launches = events.launches
    lo = starts[0] if starts else None
    hi = None
    if ends:
        hi = ends[-1] + int(DEVICE_SLACK * (ends[-1] - starts[0]) / max(1, len(starts)))
    for device, line, s, e, self_ps, name, op_type, corr in events.device_ops:
        t = launches.get(corr, s) if corr else s
        if lo is not None:
            if corr in launches:
                if not _in_steps(starts, ends, t):
                    continue
            elif not (lo <= t <= hi):
                continue
        owner = index.owner(name, op_type) if name else (UNATTRIBUTED, "")
        ledger.add(owner, name, op_type, self_ps)
        if owner[1]:
            k = max(0, bisect.bisect_right(starts, t) - 1) if starts else 0
            ledger.extend((owner[0], owner[1], k, device), s, e)
    return ledger


def _memory(window_mem, mem_owner, op_end=None):
    """(allocators reported, bytes allocated per owner, per layer bytes live at the peak,
    bytes per owner that outlived the op that allocated them).

    On a GPU run only the device allocators count (the host's are bookkeeping then).
    """
    allocators = sorted({m[5] for m in window_mem})
    primary = [a for a in allocators if _is_device_allocator(a)] or allocators
    alloc_bytes: Dict[Owner, int] = collections.defaultdict(int)
    kept_bytes: Dict[Owner, int] = collections.defaultdict(int)
    peak_live: Dict[str, int] = collections.defaultdict(int)
    for allocator in primary:
        trace = [m for m in window_mem if m[5] == allocator]
        _replay_allocator(trace, mem_owner, alloc_bytes, peak_live, kept_bytes, op_end)
    return primary, alloc_bytes, peak_live, kept_bytes


def _op_end_index(window_ops):
    """`op_end(name, t)`: when the execution of op `name` running at time t ended."""
    runs: Dict[str, Tuple[List[int], List[int]]] = {}
    for _, s, e, _, name, _ in window_ops:  # sorted by start
        entry = runs.get(name)
        if entry is None:
            entry = runs[name] = ([], [])
        entry[0].append(s)
        entry[1].append(e)

    def op_end(name: str, t: int) -> Optional[int]:
        entry = runs.get(name)
        if entry is None:
            return None
        i = bisect.bisect_right(entry[0], t) - 1
        if i < 0 or entry[1][i] < t:
            return None
        return entry[1][i]

    return op_end


def _nest_extents(extent: Dict[Tuple[str, str, int, str], List[int]],
                  layers: Dict[str, LayerStats]) -> None:
    """Widen every ancestor's span to cover its sublayers' (they nest in the trace viewer)."""
    for (path, phase, k, device), (s0, e0) in list(extent.items()):
        parent = layers[path].parent if path in layers else None
        while parent is not None and parent in layers:
            span = extent.setdefault((parent, phase, k, device), [s0, e0])
            span[0], span[1] = min(span[0], s0), max(span[1], e0)
            parent = layers[parent].parent


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
        for _, local in _control_flow_cuts(name):
            names.add(local)
    hits: Dict[int, int] = collections.defaultdict(int)
    for gid in graphs:
        hits[roots.get(gid, gid)] += sum(1 for row in graphs[gid] if row[0] in names)
    best, best_hits = None, -1
    for root in sorted(hits):
        if hits[root] >= best_hits:
            best, best_hits = root, hits[root]
    return best


COVERAGE_MAX_UNATTRIBUTED = 0.02  # of op time, before the report warns
COVERAGE_MAX_FRAMEWORK = 0.03
UNOWNED_LISTED = 10


def _coverage(window: WindowReport, per_op, us, index: "OwnerIndex") -> None:
    """Coverage figures of a window: the share of op time that has an owner (a layer or a
    named category), the largest ops without a layer, warnings past the thresholds, and
    how much fused-kernel time crossed a layer boundary."""
    op = window.op_time_us
    unattributed = window.other.get(UNATTRIBUTED, 0.0)
    window.coverage = round(1.0 - unattributed / op, 4) if op > 0 else 1.0
    unowned = sorted(((t, name, op_type, owner[0]) for (owner, name, op_type), t in per_op.items()
                      if owner[0] in (UNATTRIBUTED, FRAMEWORK)), reverse=True)[:UNOWNED_LISTED]
    window.unowned_ops = [{"name": name, "type": op_type, "category": cat, "us": round(us(t), 3)}
                          for t, name, op_type, cat in unowned]
    for key, limit, what in ((UNATTRIBUTED, COVERAGE_MAX_UNATTRIBUTED, "has no owner"),
                             (FRAMEWORK, COVERAGE_MAX_FRAMEWORK, "is framework work (Keras' loop, "
                                                                 "TensorFlow plumbing)")):
        share = window.other.get(key, 0.0) / op if op > 0 else 0.0
        if share > limit:
            names = ", ".join(f"{o['name']} ({o['type']})" for o in window.unowned_ops
                              if o["category"] == key)[:300]
            window.warnings.append(f"{share:.1%} of op time {what}; largest: {names}")
    fused = sum(t for (owner, name, _), t in per_op.items() if name in index.fused_across)
    window.fused_across_us = us(fused)
    if fused:
        window.warnings.append(
            f"Grappler fused a matmul/convolution with the next layer's ops into one kernel "
            f"({us(fused):.1f} µs per step); its time is charged to the layer of the "
            "matmul/convolution"
        )


def trace_counts(layer_map: LayerMap) -> Dict[str, int]:
    """Per layer, how many different traces of the step it took part in.

    A trace is counted once per distinct set of call signatures (input shapes, Python
    arguments): the variable-creating first trace of a tf.function, the profiler's own
    retrace, a second `fit`, the evaluation function and loop bodies (counted with the step
    they belong to) repeat a signature and are not retraces; a new input shape or Python
    value is.
    """
    per_root: Dict[Tuple[str, int], List[str]] = collections.defaultdict(list)
    for c in layer_map.calls:
        if c.graph_id:
            per_root[(c.path, c.root)].append(c.signature)
    distinct: Dict[str, set] = collections.defaultdict(set)
    for (path, _), sigs in per_root.items():
        distinct[path].add(tuple(sorted(set(sigs))))
    return {path: len(v) for path, v in distinct.items()}


def executed_batch(calls: Sequence[CallRecord], active: Optional[int], window_mem,
                   index: "OwnerIndex") -> int:
    """The batch size the window ran: bytes the ops producing layer outputs allocated,
    over their static size with the unknown (batch) dimension counted as 1. The most common
    whole ratio over the layers; 0 when no output allocation can be matched."""
    wanted: Dict[str, int] = {}
    for c in calls:
        if c.root == active and c.batch_unknown and c.output_bytes and len(c.output_ops) == 1:
            wanted.setdefault(c.output_ops[0], c.output_bytes)
    if not wanted or not window_mem:
        return 0
    ratios: collections.Counter = collections.Counter()
    local_of: Dict[str, str] = {}
    for _, sign, nbytes, _, tf_op, _ in window_mem:
        if sign <= 0 or not tf_op:
            continue
        local = local_of.get(tf_op)
        if local is None:
            cuts = _control_flow_cuts(tf_op)
            local = local_of[tf_op] = cuts[-1][1] if cuts else tf_op
        static = wanted.get(local)
        if static and nbytes >= static and nbytes % static == 0:
            ratios[nbytes // static] += 1
    return ratios.most_common(1)[0][0] if ratios else 0


def _slice_steps(records, time_at: int, starts: List[int], ends: List[int]):
    """Records (sorted by time) that fall inside a step, and the step index of each."""
    times = [r[time_at] for r in records]
    picked: List = []
    step_of: List[int] = []
    for k, (s, e) in enumerate(zip(starts, ends)):
        lo = bisect.bisect_left(times, s)
        hi = bisect.bisect_right(times, e)
        picked.extend(records[lo:hi])
        step_of.extend([k] * (hi - lo))
    return picked, step_of


def _in_steps(starts: List[int], ends: List[int], t: int) -> bool:
    i = bisect.bisect_right(starts, t) - 1
    return i >= 0 and t <= ends[i]


def _eager_owner(spans_by_line, line: int, start: int, end: int) -> Optional[str]:
    """Innermost eager layer span on `line` that contains [start, end]."""
    spans = spans_by_line.get(line)
    if not spans:
        return None
    starts = spans[0]
    i = bisect.bisect_right(starts, start) - 1
    best = None
    best_len = None
    # Spans are few per line; walk back over the candidates that start before the op.
    while i >= 0:
        s, e, path = spans[1][i]
        if s <= start and end <= e and (best_len is None or e - s < best_len):
            best, best_len = path, e - s
        i -= 1
    return best


@dataclasses.dataclass
class LayerSpan:
    """From a layer's first to its last op of one phase in one step (picoseconds)."""

    path: str
    phase: str  # FORWARD or BACKWARD
    step: int
    start_ps: int
    end_ps: int
    device: str = ""  # "" for host ops, else the device plane ("/device:GPU:0")


TIMELINE_MAX_SPANS = 5000


def _timeline(spans: List[LayerSpan], steps, layers) -> Dict[str, object]:
    """The last profiled step's layer spans, relative to the step start, for the tab."""
    if not spans:
        return {}
    step = steps[-1][0] if steps else spans[-1].step
    t0 = steps[-1][1] if steps else min(sp.start_ps for sp in spans if sp.step == step)
    picked = [sp for sp in spans if sp.step == step and sp.path in layers and not sp.device]
    picked = picked[:TIMELINE_MAX_SPANS]
    return {
        "step": step,
        "step_time_us": round((steps[-1][2] - steps[-1][1]) / 1e6, 3) if steps else 0.0,
        "spans": [
            {"path": sp.path, "phase": sp.phase,
             "start_us": round((sp.start_ps - t0) / 1e6, 3), "end_us": round((sp.end_ps - t0) / 1e6, 3)}
            for sp in picked
        ],
    }


SpanIndex = Dict[int, Tuple[List[int], List[Tuple[int, int, str]]]]


def _index_spans(spans: Iterable[Tuple[int, int, int, str]]) -> SpanIndex:
    index: SpanIndex = {}
    for line, s, e, path in sorted(spans, key=lambda x: x[1]):
        entry = index.setdefault(line, ([], []))
        entry[0].append(s)
        entry[1].append((s, e, path))
    return index


def _eager_span_index(spans, window_end: Optional[int]) -> Tuple[SpanIndex, SpanIndex]:
    """Eager mode: (forward and category spans, gradient spans) per line.

    A layer's gradient runs from the marker left when backprop reaches its outputs to the
    one left at its inputs. Inputs that need no gradient (the model's input data) leave no
    end marker; such a gradient ends at the next marker of a layer outside it, or where
    the optimizer/loss/metrics code starts, or at the end of the window.
    """
    forward = [(l, s, e, p) for l, s, e, p, k in spans
               if k == "forward" or (k == "category" and p != TAPE_SPAN)]
    tapes: Dict[int, List[Tuple[int, int]]] = collections.defaultdict(list)
    for l, s, e, p, k in spans:
        if k == "category" and p == TAPE_SPAN:
            tapes[l].append((s, e))
    markers = sorted(((l, s, p, k) for l, s, e, p, k in spans if k in ("grad_begin", "grad_end")),
                     key=lambda m: m[1])
    boundaries: Dict[int, List[Tuple[int, str]]] = collections.defaultdict(list)
    for l, s, p, k in markers:
        boundaries[l].append((s, p))
    for l, s, e, p, k in spans:
        if k == "category":
            boundaries[l].append((s, ""))
    for b in boundaries.values():
        b.sort()
    closed: List[Tuple[int, int, int, str]] = []
    open_by_line: Dict[int, List[Tuple[str, int]]] = collections.defaultdict(list)
    for line, t, path, kind in markers:
        stack = open_by_line[line]
        if kind == "grad_begin":
            stack.append((path, t))
            continue
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == path:
                closed.append((line, stack[i][1], t, path))
                del stack[i]
                break
    for line, stack in open_by_line.items():
        for path, start in stack:
            end = window_end if window_end is not None else start
            for t0, t1 in tapes.get(line, ()):
                if t0 <= start <= t1:
                    end = t1  # backprop ended with the tape's gradient call
                    break
            for t, other in boundaries[line]:
                if t > start and not (other == path or other.startswith(path + "/")):
                    end = min(end, t)
                    break
            closed.append((line, start, end, path))
    return _index_spans(forward), _index_spans(closed)


def attribute(
    events: ProfileEvents,
    layer_map: LayerMap,
    graphs: GraphTables,
    mode: str = "graph",
    spans_out: Optional[List["LayerSpan"]] = None,
    batches: int = 0,
) -> WindowReport:
    """Per-layer figures (no hints yet) of the window captured in `events`.

    If `spans_out` is given, it receives every layer's span per step and phase (for the
    trace viewer's "Keras Layers" line).
    """
    steps = sorted(events.steps, key=lambda s: s[1])
    # With steps_per_execution > 1 one profiled step (one execution) runs several
    # batches: `batches` (how many the window ran) turns every figure into per batch.
    per_step_batches = batches / len(steps) if steps and batches > len(steps) else 1.0
    n_steps = max(1, len(steps)) * per_step_batches
    starts = [s[1] for s in steps]
    ends = [s[2] for s in steps]
    if steps:
        # Records are sorted by time: one slice per step instead of a search per event.
        window_ops, op_step = _slice_steps(events.ops, 1, starts, ends)
        window_mem, _ = _slice_steps(events.memory, 0, starts, ends)
    else:
        window_ops = list(events.ops)
        window_mem = list(events.memory)
        op_step = [0] * len(window_ops)

    active = choose_active_graph(graphs, {o[4] for o in window_ops}, graph_roots(layer_map))
    index = OwnerIndex(layer_map, graphs, active)

    spans_by_line, grad_by_line = _eager_span_index(events.spans, ends[-1] if ends else None)
    eager_calls = mode == "eager"
    host = _host_ledger(window_ops, op_step, index, spans_by_line, grad_by_line, eager_calls,
                        events.input_lines)
    device = _device_ledger(events, index, starts, ends)
    on_device = bool(device.total_ps)
    # On an accelerator the work is the kernels' time; host op events only launch them.
    # The host view stays available in the *_host_us fields.
    main = device if on_device else host

    def mem_owner(t: int, tf_op: str) -> Owner:
        if tf_op:
            return index.owner(tf_op)
        # Eager allocations carry no op name: the innermost span around them owns them.
        return _eager_owner_at(spans_by_line, grad_by_line, None, t, t) or (UNATTRIBUTED, "")

    primary, alloc_bytes, peak_live, kept_bytes = _memory(window_mem, mem_owner,
                                                          _op_end_index(window_ops))

    us = lambda ps: ps / 1e6 / n_steps  # noqa: E731  picoseconds total -> µs per step

    # Calls, op counts and output sizes from the active step's call records (its loop
    # bodies included).
    calls_by_path: Dict[str, List[CallRecord]] = collections.defaultdict(list)
    for c in layer_map.calls:
        if c.root == active or (active is None and c.graph_id == 0):
            calls_by_path[c.path].append(c)
    traces = trace_counts(layer_map)
    batch = executed_batch(layer_map.calls, active, window_mem, index)

    ops_by_path: Dict[str, List[Tuple[float, str, str, str]]] = collections.defaultdict(list)
    for (owner, name, op_type), t in main.per_op.items():
        ops_by_path[owner[0]].append((t, name, op_type, owner[1]))

    replicas_of: Dict[str, List[int]] = collections.defaultdict(list)
    for (owner, replica) in sorted(host.replica_time, key=lambda k: k[1]):
        if replica not in replicas_of[owner[0]]:
            replicas_of[owner[0]].append(replica)

    layers: Dict[str, LayerStats] = {}
    # Self figures not kept in LayerStats: (peak live bytes, host fwd/bwd, device fwd/bwd µs).
    own: Dict[str, Tuple[int, float, float, float, float]] = {}
    for path, info in layer_map.layers.items():
        f, b = (path, FORWARD), (path, BACKWARD)
        calls = calls_by_path.get(path, [])
        n_calls = len(calls)
        if eager_calls:
            n_calls = int(round(n_calls / n_steps)) if calls else 0
            created = 0
        else:
            created = sum(c.op_end - c.op_start for c in calls)
        stats = LayerStats(
            path=path,
            class_name=info.class_name,
            custom=info.custom,
            parent=info.parent,
            self_forward_us=us(main.self_time.get(f, 0)),
            self_backward_us=us(main.self_time.get(b, 0)),
            self_forward_alloc_bytes=int(alloc_bytes.get(f, 0) / n_steps),
            self_backward_alloc_bytes=int(alloc_bytes.get(b, 0) / n_steps),
            self_kept_alloc_bytes=int((kept_bytes.get(f, 0) + kept_bytes.get(b, 0)) / n_steps),
            param_bytes=info.param_bytes,
            calls=n_calls,
            ops_per_call=int(round(created / n_calls)) if n_calls and created else 0,
            trace_count=traces.get(path, 0),
            output_elements=int(sum(c.output_elements for c in calls) / len(calls)) if calls else 0,
            forward_op_events=host.op_events.get(f, 0) / n_steps,
            backward_op_events=host.op_events.get(b, 0) / n_steps,
        )
        own[path] = (
            peak_live.get(path, 0),
            us(host.self_time.get(f, 0)), us(host.self_time.get(b, 0)),
            us(device.self_time.get(f, 0)), us(device.self_time.get(b, 0)),
        )
        # Static sizes count an unknown (batch) dimension as 1: scale those by the batch
        # size the executed allocations show.
        scale = [batch if c.batch_unknown and batch else 1 for c in calls]
        stats.output_bytes = int(sum(c.output_bytes * k for c, k in zip(calls, scale)) / len(calls) * n_calls) if calls else 0
        stats.input_bytes = int(sum(c.input_bytes * k for c, k in zip(calls, scale)) / len(calls) * n_calls) if calls else 0
        types = index.self_ops.get(path, collections.Counter())
        if eager_calls:
            # No graph: count the ops each call executed instead of the ops it created.
            types = collections.Counter(
                {t: c / n_steps for t, c in host.executed_types.get(path, {}).items()}
            )
            stats.ops_per_call = int(round(sum(types.values()) / n_calls)) if n_calls else 0
        if n_calls:
            stats.self_ops_per_call = int(round(sum(types.values()) / n_calls))
            # Every type (rules read complete data; views show the first few).
            stats.op_types = {t: int(round(c / n_calls)) for t, c in types.most_common()}
        replicas = replicas_of.get(path, ())
        if len(replicas) > 1 and not on_device:
            stats.replicas = [
                {"replica": r, "self_forward_us": round(us(host.replica_time.get((f, r), 0)), 3),
                 "self_backward_us": round(us(host.replica_time.get((b, r), 0)), 3)}
                for r in replicas
            ]
        ops_here = sorted(ops_by_path.get(path, ()), reverse=True)[:TOP_OPS]
        stats.top_ops = [
            {"name": name, "type": op_type, "phase": phase, "us": round(us(t), 3)}
            for t, name, op_type, phase in ops_here
        ]
        layers[path] = stats

    # Totals include sublayers: add each layer's self figures to itself and its ancestors.
    for s in layers.values():
        peak, hf, hb, df, db = own[s.path]
        for lyr in _self_and_ancestors(s, layers):
            lyr.forward_us += s.self_forward_us
            lyr.backward_us += s.self_backward_us
            lyr.forward_alloc_bytes += s.self_forward_alloc_bytes
            lyr.backward_alloc_bytes += s.self_backward_alloc_bytes
            lyr.peak_live_bytes += peak
            lyr.forward_host_us += hf
            lyr.backward_host_us += hb
            lyr.forward_device_us += df
            lyr.backward_device_us += db

    extent = {**host.extent, **device.extent}
    _nest_extents(extent, layers)
    layer_spans = [
        LayerSpan(path, phase, steps[k][0] if steps else 0, s0, e0, dev)
        for (path, phase, k, dev), (s0, e0) in extent.items()
        if path in layers
    ]
    layer_spans.sort(key=lambda sp: (sp.start_ps, -sp.end_ps))

    # The model row only when it owns ops of its own (subclassed models' call bodies).
    model_rows = [p for p, i in layer_map.layers.items() if i.is_model]
    for p in model_rows:
        s = layers[p]
        if s.self_forward_us == 0 and s.self_backward_us == 0 and s.forward_alloc_bytes == 0:
            del layers[p]

    other = {k: 0.0 for k in OTHER_KEYS}
    for owner, t in main.self_time.items():
        if owner[0] in _CATEGORY_KEYS:
            other[owner[0]] += us(t)
        elif owner[0] not in layers:
            # a layer we dropped (an empty model row) or do not know: no owner
            other[UNATTRIBUTED] += us(t)

    step_time = (sum(e - s for _, s, e in steps) / len(steps) / 1e6 / per_step_batches) if steps else 0.0
    if spans_out is not None:
        spans_out.extend(sp for sp in layer_spans if sp.path in layers)
    window = WindowReport(
        step=steps[0][0] if steps else 0,
        steps=len(steps),
        host=events.host,
        step_time_us=step_time,
        layers=sorted(layers.values(), key=lambda s: -(s.forward_us + s.backward_us)),
        other=other,
        op_time_us=us(main.total_ps),
        host_op_time_us=us(host.total_ps),
        device_op_time_us=us(device.total_ps),
        clock="device" if on_device else "host",
        memory_allocators=primary,
        mode=mode,
        memory_available=bool(events.memory),
        timeline=_timeline(layer_spans, steps, layers),
    )
    split_ps = 0
    for op_names, ps in events.xla_splits:
        owners = {index.owner(n)[0] for n in op_names}
        if len(owners & set(layers)) > 1:
            split_ps += ps
    window.xla_split_us = us(split_ps)
    window.batches_per_step = per_step_batches
    if per_step_batches > 1:
        window.warnings.append(
            f"steps_per_execution: each profiled step ran {per_step_batches:g} batches; every "
            "time and byte figure here is per batch (step time included)"
        )
    _coverage(window, main.per_op, us, index)
    if split_ps:
        window.warnings.append(
            f"XLA fused ops of several layers into single kernels ({us(split_ps):.1f} µs per "
            "step); their time is split between those layers by each layer's share of the "
            "fused instructions"
        )
    if mode == "xla" and not events.hlo_ops:
        window.warnings.append(
            "the train step is XLA-compiled but the profile holds no HLO protos, so XLA ops "
            "could not be traced back to layers; they are reported as unattributed"
        )
    if not events.memory:
        window.warnings.append(
            "no memory events in this profile: import tb_layerprof before TensorFlow creates "
            "its first tensor (it sets TF_CPU_ALLOCATOR_USE_BFC=true), or set that variable"
        )
    return window
