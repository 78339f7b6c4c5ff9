"""Work per layer and phase: the executed ops' FLOPs and bytes (`tb_layerprof.work`),
booked to the owners attribution gave their time, per step, totals including sublayers.

Graph mode only: every executed op is looked up by name in the traced graph tables (their
static shapes), its count multiplied by how often it ran in the window. XLA windows take
their counts from the HLO instructions instead (`tb_layerprof.hlo_work`); eager windows
have no graph and get none (null figures, coverage 0).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from tb_layerprof import work
from tb_layerprof.owners import BACKWARD, FORWARD, Owner, control_flow_cuts
from tb_layerprof.owners import _strip_rewrites as strip_rewrites
from tb_layerprof.report import LayerStats, WindowReport
from tb_layerprof.xplane.tables import MemoryTable, OpTable

logger = logging.getLogger("tb_layerprof")

_CONTRACTIONS = {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D", "Conv3D"}
_FUSED_SEARCH_DEPTH = 3


@dataclasses.dataclass
class _Books:
    """Per owner: FLOPs and bytes (window totals), and op time with and without a count."""

    flops: Dict[Owner, float] = dataclasses.field(default_factory=lambda: collections.defaultdict(float))
    bytes: Dict[Owner, float] = dataclasses.field(default_factory=lambda: collections.defaultdict(float))
    counted_ps: Dict[Owner, float] = dataclasses.field(default_factory=lambda: collections.defaultdict(float))
    estimated_ps: Dict[Owner, float] = dataclasses.field(default_factory=lambda: collections.defaultdict(float))
    uncounted_ps: Dict[Owner, float] = dataclasses.field(default_factory=lambda: collections.defaultdict(float))


class ShapeIndex:
    """Executed op name -> (traced type, shapes, input names), over all graph tables, the
    active step's graph winning where names repeat (a retrace has the same names)."""

    def __init__(self, graphs: Dict[int, list], active: Optional[int]):
        self.rows: Dict[str, Tuple[str, work.OpShapes, Sequence[str]]] = {}
        order = sorted(graphs, key=lambda g: g == active)
        for gid in order:
            table = graphs[gid]
            shapes = getattr(table, "shapes", None)
            if not shapes:
                continue  # a table built without shapes (tests, old callers)
            for name, op_type, inputs in table:
                s = shapes.get(name)
                if s is not None:
                    self.rows[name] = (op_type, s, inputs)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def find(self, name: str) -> Optional[Tuple[str, work.OpShapes, Sequence[str]]]:
        row = self.rows.get(name)
        if row is None:
            cuts = control_flow_cuts(name)
            local = cuts[-1][1] if cuts else name
            row = self.rows.get(local) or self.rows.get(strip_rewrites(local))
        return row

    def contraction_feeding(self, inputs: Iterable[str]) -> Optional[Tuple[str, work.OpShapes]]:
        """The matmul/convolution a fused kernel absorbed: a few ops up its inputs."""
        frontier = list(inputs)
        for _ in range(_FUSED_SEARCH_DEPTH):
            following = []
            for name in frontier:
                row = self.rows.get(name)
                if row is None:
                    continue
                if row[0] in _CONTRACTIONS:
                    return row[0], row[1]
                following.extend(row[2])
            frontier = following
        return None


def executed_work(op_type: str, name: str, index: ShapeIndex, batch: int) -> Optional[work.OpWork]:
    """One execution's count of the executed op `name` (None: not in a traced graph, or
    its shapes unknown)."""
    row = index.find(name)
    if row is None:
        return None
    traced_type, shapes, inputs = row
    op_type = work.canonical_type(op_type)
    if op_type.startswith("_Fused") and traced_type != op_type:
        # Grappler's remapper: MatMul + BiasAdd (+ activation) became one _FusedMatMul
        # named after the last op it absorbed; the contraction's shapes are upstream.
        found = index.contraction_feeding(inputs)
        if found is not None:
            core = work.op_work(found[0], found[1], batch)
            tail = work.op_work("BiasAdd", shapes, batch)
            if core is not None and tail is not None:
                return work.OpWork(core.flops + tail.flops, core.bytes + tail.bytes, core.label)
    return work.op_work(op_type or traced_type, shapes, batch)


def book_work(window: WindowReport, layers: Dict[str, LayerStats], per_op: Dict, steps: Any,
              graphs: Dict[int, list], active: Optional[int], batch: int, n_steps: float,
              mode: str = "graph", events: Any = None) -> None:
    """Fill in the work figures of `layers` (per step, self and total) and the window's
    coverage of counts. `per_op` is the main clock's (owner, name, type) -> op time,
    `steps` the window's records (`.ops`, `.memory`), `batch` attribution's executed batch
    (a fallback: `executed_batch` below weighs every op's allocations); in
    XLA mode `events.xla_programs` (`xla_work.program_work`, set by the analysis) holds
    the counts. Never raises: counts are context, a bug in them must not cost the window
    its times (they become a warning, the figures stay null)."""
    try:
        _book_work(window, layers, per_op, steps, graphs, active, batch, n_steps, mode, events)
    except Exception as e:  # noqa: BLE001
        for s in layers.values():
            for f in _WORK_FIELDS:
                setattr(s, f, None)
        window.work_coverage = window.flops_coverage = 0.0
        window.warnings.append(f"work counts (FLOPs, bytes) failed: {type(e).__name__}: {e}")
        logger.warning("layerprof: %s", window.warnings[-1])


_WORK_FIELDS = ("forward_flops", "backward_flops", "forward_bytes", "backward_bytes",
                "self_forward_flops", "self_backward_flops", "self_forward_bytes",
                "self_backward_bytes", "forward_flops_per_s", "backward_flops_per_s",
                "work_counts")


def _book_work(window: WindowReport, layers: Dict[str, LayerStats], per_op: Dict, steps: Any,
               graphs: Dict[int, list], active: Optional[int], batch: int, n_steps: float,
               mode: str, events: Any) -> None:
    total_ps = sum(per_op.values())
    if not total_ps:
        return
    if mode == "xla":
        count = _xla_counter(getattr(events, "xla_programs", None) or {}, per_op, n_steps)
    elif mode == "graph":
        index = ShapeIndex(graphs, active)
        batch = executed_batch(index, getattr(steps, "memory", ())) or batch
        count = _graph_counter(index, getattr(steps, "ops", steps), batch)
    else:
        return
    if count is None:
        return
    books = _Books()
    flop_ps = 0.0
    for (owner, name, op_type), ps in per_op.items():
        found = count(name, op_type)
        if found is None:
            books.uncounted_ps[owner] += ps
            continue
        w, times = found
        books.flops[owner] += w.flops * times
        books.bytes[owner] += w.bytes * times
        books.counted_ps[owner] += ps
        if w.label != work.BYTES_ONLY:
            flop_ps += ps
        if w.label != work.EXACT:
            books.estimated_ps[owner] += ps
    window.work_coverage = round(sum(books.counted_ps.values()) / total_ps, 4)
    window.flops_coverage = round(flop_ps / total_ps, 4)  # with a FLOP figure, exact or not
    _layer_figures(layers, books, n_steps)


BATCH_MIN_ALLOC_BYTES = 4096  # smaller allocations are rounded up by the BFC allocator


def executed_batch(index: ShapeIndex, window_mem) -> int:
    """The batch size the window ran, from the allocations of ops whose traced output has
    one unknown dimension: allocated bytes over the static size. An op's output outlives
    the op (another op allocates before it is freed), a kernel's scratch buffer does not,
    and scratch sizes can be multiples of the static size too (oneDNN's 160 KiB): so only
    outliving allocations vote when there are any. Each op votes once for every ratio its
    allocations show; the ratio most ops share wins (ties: most bytes); 0 when none.
    Small allocations, which BFC rounds up, do not vote."""
    memory = MemoryTable.from_records(window_mem)
    if not len(memory):
        return 0
    names = memory.op_names
    static_of = np.array([_static_bytes(index.find(name)) if name and isinstance(name, str) else 0
                          for name in names] + [0], np.int64)
    named = np.array([bool(name) for name in names] + [False])[memory.tf_op]
    op, nbytes, address = memory.tf_op, memory.nbytes, memory.address
    alloc = memory.sign > 0
    static = static_of[op]
    candidate = alloc & named & (nbytes >= BATCH_MIN_ALLOC_BYTES) & (static > 0)
    candidate[candidate] &= nbytes[candidate] % static[candidate] == 0
    if not candidate.any():
        return 0
    ratio = np.where(candidate, nbytes // np.maximum(static, 1), 0)
    every = _largest_per_op_ratio(op, ratio, nbytes, np.flatnonzero(candidate))
    made, freed = _candidate_frees(candidate, ~alloc, address)
    # some other op allocated between the allocation and its free: an output, not scratch
    other = _last_other_allocation(np.flatnonzero(alloc & named), op, made, freed)
    by_free = np.argsort(freed, kind="stable")  # the books fill as the frees come
    outlived = made[by_free][(other > made)[by_free]]
    kept = _largest_per_op_ratio(op, ratio, nbytes, outlived) if outlived.size else {}
    votes: Dict[int, List[float]] = collections.defaultdict(lambda: [0, 0.0])
    for seen in (kept or every).values():
        for r, size in seen.items():
            votes[r][0] += 1
            votes[r][1] += size
    return max(votes.items(), key=lambda kv: (kv[1][0], kv[1][1]))[0]


def _largest_per_op_ratio(op: np.ndarray, ratio: np.ndarray, nbytes: np.ndarray,
                          at: np.ndarray) -> Dict[int, Dict[int, int]]:
    """op -> ratio -> the largest allocation among events `at` (taken in that order)."""
    out: Dict[int, Dict[int, int]] = collections.defaultdict(dict)
    for k, r, b in zip(op[at].tolist(), ratio[at].tolist(), nbytes[at].tolist()):
        seen = out[k]
        if b > seen.get(r, -1):
            seen[r] = b
    return out


def _candidate_frees(candidate: np.ndarray, free: np.ndarray, address: np.ndarray):
    """(allocation, its free) pairs: a free releases the candidate allocation before it at
    its address (other allocations there are not tracked)."""
    events = np.flatnonzero(candidate | free)
    order = events[np.lexsort((events, address[events]))]
    addr = address[order]
    pair = np.flatnonzero((addr[1:] == addr[:-1]) & candidate[order[:-1]] & free[order[1:]])
    return order[pair], order[pair + 1]


def _last_other_allocation(allocs: np.ndarray, op: np.ndarray, made: np.ndarray,
                           freed: np.ndarray) -> np.ndarray:
    """For each (allocation `made`, its free `freed`): the event index of the last
    allocation before the free by an op other than the one that made it (-1: none).
    `allocs`: the named allocations' event indices, sorted."""
    if not allocs.size or not freed.size:
        return np.full(len(freed), -1, np.int64)
    ops = op[allocs]
    run_start = np.flatnonzero(np.r_[True, ops[1:] != ops[:-1]])
    run_of = np.cumsum(np.r_[True, ops[1:] != ops[:-1]]) - 1
    k = np.searchsorted(allocs, freed) - 1  # the last allocation before each free
    prev_run_end = np.r_[-1, run_start[1:] - 1]  # the last event of the run before each run
    kk = np.maximum(k, 0)
    same = ops[kk] == op[made]
    before = np.where(prev_run_end[run_of[kk]] >= 0, allocs[np.maximum(prev_run_end[run_of[kk]], 0)], -1)
    return np.where(k < 0, -1, np.where(same, before, allocs[kk]))


def _static_bytes(row) -> int:
    """Bytes of an op's first output with its one unknown dimension as 1 (0: not that)."""
    if row is None or not row[1].outputs:
        return 0
    out = row[1].outputs[0]
    if out.dims is None or not out.itemsize or sum(d is None for d in out.dims) != 1:
        return 0
    return work.elements([d for d in out.dims if d is not None]) * out.itemsize


Counter = Callable[[str, str], Optional[Tuple[work.OpWork, float]]]


def _graph_counter(index: ShapeIndex, window_ops, batch: int) -> Optional[Counter]:
    """(one execution's work, executions in the window) of an executed op, by name."""
    if not index:
        return None
    runs = OpTable.from_records(window_ops).name_counts()
    cache: Dict[Tuple[str, str], Optional[work.OpWork]] = {}

    def count(name: str, op_type: str) -> Optional[Tuple[work.OpWork, float]]:
        key = (name, op_type)
        if key not in cache:
            cache[key] = executed_work(op_type, name, index, batch)
        w = cache[key]
        return None if w is None or not runs.get(name) else (w, runs[name])

    return count


def _xla_counter(programs: Dict, per_op: Dict, n_steps: float) -> Optional[Counter]:
    """XLA: each TF op's share of its program's instructions, once per step. A TF op split
    over several op records (kernels, types) is counted with the first of them only."""
    from tb_layerprof import xla_work

    merged = xla_work.executed_programs(programs, {name for (_, name, _) in per_op})
    if not merged:
        return None
    booked: set = set()
    zero = work.OpWork(0.0, 0.0, work.EXACT)

    def count(name: str, op_type: str) -> Optional[Tuple[work.OpWork, float]]:
        entry = merged.get(name)
        if entry is None:
            return None
        if name in booked:
            return zero, 0.0
        booked.add(name)
        return xla_work.as_op_work(entry), n_steps

    return count


def _layer_figures(layers: Dict[str, LayerStats], books: _Books, n_steps: float) -> None:
    """Self figures per layer, then totals over each layer and its ancestors."""
    state: Dict[str, List[float]] = {}  # path -> [counted, estimated, uncounted] ps, totals
    for path, s in layers.items():
        f, b = (path, FORWARD), (path, BACKWARD)
        counted = books.counted_ps.get(f, 0) + books.counted_ps.get(b, 0)
        if counted:
            s.self_forward_flops = books.flops.get(f, 0.0) / n_steps
            s.self_backward_flops = books.flops.get(b, 0.0) / n_steps
            s.self_forward_bytes = books.bytes.get(f, 0.0) / n_steps
            s.self_backward_bytes = books.bytes.get(b, 0.0) / n_steps
        state[path] = [0.0, 0.0, 0.0]
    for path, s in layers.items():
        f, b = (path, FORWARD), (path, BACKWARD)
        mine = (books.counted_ps.get(f, 0) + books.counted_ps.get(b, 0),
                books.estimated_ps.get(f, 0) + books.estimated_ps.get(b, 0),
                books.uncounted_ps.get(f, 0) + books.uncounted_ps.get(b, 0))
        for lyr in _self_and_ancestors(s, layers):
            acc = state[lyr.path]
            for i in range(3):
                acc[i] += mine[i]
            if s.self_forward_flops is not None:
                lyr.forward_flops = (lyr.forward_flops or 0.0) + s.self_forward_flops
                lyr.backward_flops = (lyr.backward_flops or 0.0) + (s.self_backward_flops or 0.0)
                lyr.forward_bytes = (lyr.forward_bytes or 0.0) + (s.self_forward_bytes or 0.0)
                lyr.backward_bytes = (lyr.backward_bytes or 0.0) + (s.self_backward_bytes or 0.0)
    for path, s in layers.items():
        counted, estimated, uncounted = state[path]
        if counted:
            s.work_counts = work.EXACT if not estimated and not uncounted else "estimated"
        if s.forward_flops is not None:
            s.forward_flops_per_s = s.forward_flops / s.forward_us * 1e6 if s.forward_us > 0 else None
            s.backward_flops_per_s = s.backward_flops / s.backward_us * 1e6 if s.backward_us > 0 else None


def _self_and_ancestors(layer: LayerStats, layers: Dict[str, LayerStats]):
    yield layer
    parent = layer.parent
    while parent is not None and parent in layers:
        yield layers[parent]
        parent = layers[parent].parent
