"""Allocator replay: a window's allocations per owner (bytes allocated, bytes that outlived
their op, bytes live at the allocator's peak) and the batch size the window ran.

Pure: memory records of `tb_layerprof.xplane` (t, sign, bytes, address, tf_op, allocator)
and a function naming each allocation's owner in; figures out.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import operator
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tb_layerprof.layermap import CallRecord
from tb_layerprof.owners import Owner, OwnerIndex, control_flow_cuts

# mem_owner(t, tf_op): owner of an allocation made at time t by op tf_op ("" if unknown).
MemOwner = Callable[[int, str], Owner]


@dataclasses.dataclass
class MemoryFigures:
    """Per owner, the allocations of one window (totals over its steps)."""

    allocators: List[str]  # the allocators counted (the device's on a GPU run)
    alloc_bytes: Dict[Owner, int]  # bytes allocated
    peak_live: Dict[str, int]  # per layer path: bytes it held when its allocator peaked
    kept_bytes: Dict[Owner, int]  # bytes of allocations that outlived the op making them


def is_device_allocator(name: str) -> bool:
    """GPU_0_bfc and friends; the CPU BFC allocator is "bfc_cpu_allocator_for_gpu"."""
    return name.upper().startswith(("GPU_", "GPU:", "TPU_", "/DEVICE:GPU"))


def memory_figures(window_mem, mem_owner: MemOwner, window_ops: Sequence = ()) -> MemoryFigures:
    """Replay every allocator of the window.

    On a GPU run only the device allocators count (the host's are bookkeeping then).
    `window_ops` (op records sorted by start) tell when the op making an allocation ended.
    """
    allocators = sorted(set(map(operator.itemgetter(5), window_mem)))
    primary = [a for a in allocators if is_device_allocator(a)] or allocators
    figures = MemoryFigures(primary, collections.defaultdict(int), collections.defaultdict(int),
                            collections.defaultdict(int))
    if not window_mem:
        return figures
    base = min(window_mem[0][0], window_ops[0][1]) if window_ops else window_mem[0][0]
    runs = _OpRuns(window_ops, base)
    for allocator in primary:
        trace = window_mem if len(allocators) == 1 else [m for m in window_mem if m[5] == allocator]
        _replay_allocator(trace, mem_owner, figures, runs, base)
    return figures


class _OpRuns:
    """When each execution of each op ran, to ask "when did the run of op X that was going
    on at time t end?" for many allocations at once."""

    def __init__(self, window_ops: Sequence, base: int):
        n = len(window_ops)
        self.ids: Dict[str, int] = {}
        self.name = np.fromiter(map(self.ids.setdefault, map(operator.itemgetter(4), window_ops),
                                    range(n)), np.int64, n)
        self.start = np.fromiter(map(base.__rsub__, map(operator.itemgetter(1), window_ops)), np.int64, n)
        self.end = np.fromiter(map(base.__rsub__, map(operator.itemgetter(2), window_ops)), np.int64, n)
        self.ids.pop("", None)  # an allocation naming no op asks about none

    def ends(self, names: Sequence[str], t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """For each (names[i], t[i]): whether op names[i] was running at t[i] (its last
        execution that started at or before t[i] had not ended), and when that ended."""
        q = np.fromiter(map(self.ids.get, names, itertools.repeat(-1)), np.int64, len(names))
        n_ops = len(self.name)
        # ops and queries in one order: by name, then time, an op before a query at the
        # same instant (an op starting at t is running at t)
        name = np.concatenate([self.name, q])
        time = np.concatenate([self.start, t])
        is_query = np.r_[np.zeros(n_ops, bool), np.ones(len(q), bool)]
        order = np.lexsort((is_query, time, name))
        pos = np.arange(len(order))
        latest_op = np.maximum.accumulate(np.where(is_query[order], -1, pos))
        at = np.empty(len(q), np.int64)
        at[order[is_query[order]] - n_ops] = latest_op[is_query[order]]
        op = np.where(at >= 0, order[np.maximum(at, 0)], 0)
        found = (at >= 0) & (q >= 0) & (op < n_ops)
        op = np.where(found, op, 0)
        found &= self.name[op] == q if n_ops else False
        end = self.end[op] if n_ops else np.zeros(len(q), np.int64)
        return found & (end >= t), end


def _replay_allocator(trace, mem_owner: MemOwner, out: MemoryFigures, runs: _OpRuns,
                      base: int) -> None:
    """Bytes allocated per owner, and per layer what it held when `trace` peaked.

    Kept bytes are those of allocations that outlive the op that made them; scratch
    buffers a kernel allocates and frees within its own run are not churn. The replay is
    done with array operations: a free releases the allocation just before it at the same
    address (if that event is an allocation), as a map of live addresses would.
    """
    n = len(trace)
    t = np.fromiter(map(base.__rsub__, map(operator.itemgetter(0), trace)), np.int64, n)
    alloc = np.fromiter(map(operator.itemgetter(1), trace), np.int64, n) > 0
    nbytes = np.fromiter(map(operator.itemgetter(2), trace), np.int64, n)
    first_at: Dict[int, int] = {}  # addresses are only compared: each becomes its first index
    addr = np.fromiter(map(first_at.setdefault, map(operator.itemgetter(3), trace), range(n)), np.int64, n)
    tf_ops = list(map(operator.itemgetter(4), trace))
    owners, own = _allocation_owners(trace, tf_ops, alloc, mem_owner)
    order = np.lexsort((np.arange(n), addr))  # by address, then time
    same_prev = np.r_[False, addr[order][1:] == addr[order][:-1]]
    alloc_s = alloc[order]
    freeing = np.flatnonzero(same_prev & ~alloc_s & np.r_[False, alloc_s[:-1]])
    freed, made = order[freeing], order[freeing - 1]
    delta = np.where(alloc, nbytes, 0)
    delta[freed] -= nbytes[made]
    _add_per_owner(out.alloc_bytes, owners, own[alloc], nbytes[alloc])
    # kept: freed after the op that made it ended (or the op is unknown), or never freed
    ran, end = runs.ends([tf_ops[i] for i in made.tolist()], t[made])
    kept = made[~ran | (t[freed] > end)]
    last_of_addr = np.r_[~same_prev[1:], True]
    kept = np.concatenate([kept, order[alloc_s & last_of_addr]])
    _add_per_owner(out.kept_bytes, owners, own[kept], nbytes[kept])
    in_use = np.cumsum(delta)
    if not n or in_use.max() <= 0:
        return
    peak_at = int(np.argmax(in_use))
    # held at the peak: per address, the last event up to the peak is an allocation
    upto = order <= peak_at
    last_upto = upto & np.r_[~same_prev[1:] | ~upto[1:], True]
    held = order[last_upto & alloc_s]
    peak = collections.defaultdict(int)
    _add_per_owner(peak, owners, own[held], nbytes[held])
    for owner, b in peak.items():
        out.peak_live[owner[0]] += b


def _allocation_owners(trace, tf_ops: List[str], alloc: np.ndarray, mem_owner: MemOwner):
    """The distinct owners of the allocations and each event's index into them (-1 for
    frees). An allocation naming its op is owned by that op's owner (one lookup per
    distinct op); one without (eager) by the span around it, looked up per event."""
    owners: List[Owner] = []
    index: Dict[Owner, int] = {}
    first_at: Dict[str, int] = {}
    n = len(trace)
    name_first = np.fromiter(map(first_at.setdefault, tf_ops, range(n)), np.int64, n)
    of_first = np.full(n, -1, np.int64)
    for name, i in first_at.items():
        if name:
            of_first[i] = index.setdefault(mem_owner(trace[i][0], name), len(index))
    own = of_first[name_first]
    for i in np.flatnonzero(alloc & (own < 0)).tolist():
        own[i] = index.setdefault(mem_owner(trace[i][0], tf_ops[i]), len(index))
    own[~alloc] = -1
    owners = list(index)
    return owners, own


def _add_per_owner(book: Dict[Owner, int], owners: List[Owner], own: np.ndarray,
                   nbytes: np.ndarray) -> None:
    sums = np.zeros(len(owners), np.int64)
    np.add.at(sums, own, nbytes)
    for k in np.flatnonzero(sums).tolist():
        book[owners[k]] += int(sums[k])


def executed_batch(calls: Sequence[CallRecord], active: Optional[int], window_mem,
                   index: OwnerIndex) -> int:
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
            cuts = control_flow_cuts(tf_op)
            local = local_of[tf_op] = cuts[-1][1] if cuts else tf_op
        static = wanted.get(local)
        if static and nbytes >= static and nbytes % static == 0:
            ratios[nbytes // static] += 1
    return ratios.most_common(1)[0][0] if ratios else 0
