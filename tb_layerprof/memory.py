"""Allocator replay: a window's allocations per owner (bytes allocated, bytes that outlived
their op, bytes live at the allocator's peak) and the batch size the window ran.

Pure: memory records of `tb_layerprof.xplane` (t, sign, bytes, address, tf_op, allocator)
and a function naming each allocation's owner in; figures out.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tb_layerprof.layermap import CallRecord
from tb_layerprof.owners import Owner, OwnerIndex, control_flow_cuts
from tb_layerprof.xplane.tables import MemoryTable, OpTable

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
    memory = MemoryTable.from_records(window_mem)
    allocators = sorted(memory.allocators[k] for k in np.unique(memory.allocator).tolist())
    primary = [a for a in allocators if is_device_allocator(a)] or allocators
    figures = MemoryFigures(primary, collections.defaultdict(int), collections.defaultdict(int),
                            collections.defaultdict(int))
    if not len(memory):
        return figures
    runs = _OpRuns(OpTable.from_records(window_ops), memory)
    for allocator in primary:
        trace = memory if len(allocators) == 1 else memory.take(
            np.flatnonzero(memory.allocator == memory.allocators.index(allocator)))
        _replay_allocator(trace, mem_owner, figures, runs)
    return figures


class _OpRuns:
    """When each execution of each op ran, to ask "when did the run of op X that was going
    on at time t end?" for many allocations of `memory` at once."""

    def __init__(self, ops: OpTable, memory: MemoryTable):
        self.ops = ops
        ids = {name: k for k, name in enumerate(ops.names) if name}  # "" names no op
        # memory's op names -> ops' name ids (-1: no such op ran)
        self.of_memory_op = np.array([ids.get(name, -1) if isinstance(name, str) else -1
                                      for name in memory.op_names] + [-1], np.int64)
        self.shift = memory.base_ps - ops.base_ps  # memory times -> ops' time base

    def ends(self, tf_op: np.ndarray, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """For each allocation (memory's op id, memory time): whether that op was running
        then (its last execution that started at or before t had not ended), and when that
        execution ended (ops' time base)."""
        ops = self.ops
        q = self.of_memory_op[tf_op]
        t = t + self.shift
        n_ops = len(ops)
        if not n_ops:
            return np.zeros(len(q), bool), np.zeros(len(q), np.int64)
        # ops and queries in one order: by name, then time, an op before a query at the
        # same instant (an op starting at t is running at t)
        name = np.concatenate([ops.name, q])
        time = np.concatenate([ops.start, t])
        is_query = np.r_[np.zeros(n_ops, bool), np.ones(len(q), bool)]
        order = np.lexsort((is_query, time, name))
        queries = is_query[order]
        latest_op = np.maximum.accumulate(np.where(queries, -1, np.arange(len(order))))
        at = np.empty(len(q), np.int64)
        at[order[queries] - n_ops] = latest_op[queries]
        op = np.where(at >= 0, order[np.maximum(at, 0)], 0)
        found = (at >= 0) & (q >= 0) & (ops.name[op] == q)
        end = ops.end[op]
        return found & (end >= t), end - self.shift


def _replay_allocator(trace: MemoryTable, mem_owner: MemOwner, out: MemoryFigures,
                      runs: _OpRuns) -> None:
    """Bytes allocated per owner, and per layer what it held when `trace` peaked.

    Kept bytes are those of allocations that outlive the op that made them; scratch
    buffers a kernel allocates and frees within its own run are not churn. The replay is
    done with array operations: a free releases the allocation just before it at the same
    address (if that event is an allocation), as a map of live addresses would.
    """
    n = len(trace)
    t, alloc, nbytes, addr = trace.time, trace.sign > 0, trace.nbytes, trace.address
    owners, own = _allocation_owners(trace, alloc, mem_owner)
    order = np.lexsort((np.arange(n), addr))  # by address, then time
    same_prev = np.r_[False, addr[order][1:] == addr[order][:-1]]
    alloc_s = alloc[order]
    freeing = np.flatnonzero(same_prev & ~alloc_s & np.r_[False, alloc_s[:-1]])
    freed, made = order[freeing], order[freeing - 1]
    delta = np.where(alloc, nbytes, 0)
    delta[freed] -= nbytes[made]
    _add_per_owner(out.alloc_bytes, owners, own[alloc], nbytes[alloc])
    # kept: freed after the op that made it ended (or the op is unknown), or never freed
    ran, end = runs.ends(trace.tf_op[made], t[made])
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
    peak: Dict[Owner, int] = collections.defaultdict(int)
    _add_per_owner(peak, owners, own[held], nbytes[held])
    for owner, b in peak.items():
        out.peak_live[owner[0]] += b


def _allocation_owners(trace: MemoryTable, alloc: np.ndarray, mem_owner: MemOwner):
    """The distinct owners of the allocations and each event's index into them (-1 for
    frees). An allocation naming its op is owned by that op's owner (one lookup per
    distinct op); one without (eager) by the span around it, looked up per event."""
    index: Dict[Owner, int] = {}
    base = trace.base_ps
    of_op = np.full(len(trace.op_names) + 1, -1, np.int64)
    distinct, first = np.unique(trace.tf_op, return_index=True)
    for k, at in zip(distinct.tolist(), first.tolist()):
        name = trace.op_names[k]
        if name:
            of_op[k] = index.setdefault(mem_owner(base + int(trace.time[at]), name), len(index))
    own = of_op[trace.tf_op]
    for i in np.flatnonzero(alloc & (own < 0)).tolist():
        name = trace.op_names[int(trace.tf_op[i])]
        own[i] = index.setdefault(mem_owner(base + int(trace.time[i]), name), len(index))
    own[~alloc] = -1
    return list(index), own


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
    memory = MemoryTable.from_records(window_mem)
    static_of = np.zeros(len(memory.op_names) + 1, np.int64)  # per op name: its output's static bytes
    for k, tf_op in enumerate(memory.op_names):
        if tf_op and isinstance(tf_op, str):
            cuts = control_flow_cuts(tf_op)
            static_of[k] = wanted.get(cuts[-1][1] if cuts else tf_op, 0)
    static = static_of[memory.tf_op]
    nbytes = memory.nbytes
    votes = (memory.sign > 0) & (static > 0)
    votes[votes] &= (nbytes[votes] >= static[votes]) & (nbytes[votes] % np.maximum(static[votes], 1) == 0)
    if not votes.any():
        return 0
    ratios = nbytes[votes] // static[votes]
    values, counts = np.unique(ratios, return_counts=True)
    # the most common ratio; ties: the one seen first (as Counter.most_common)
    best = np.flatnonzero(counts == counts.max())
    first_seen = [int(np.flatnonzero(ratios == values[b])[0]) for b in best.tolist()]
    return int(values[best[int(np.argmin(first_seen))]])
