"""Allocator replay: a window's allocations per owner (bytes allocated, bytes that outlived
their op, bytes live at the allocator's peak) and the batch size the window ran.

Pure: memory records of `tb_layerprof.xplane` (t, sign, bytes, address, tf_op, allocator)
and a function naming each allocation's owner in; figures out.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tb_layerprof.layermap import CallRecord
from tb_layerprof.owners import Owner, OwnerIndex, control_flow_cuts

# mem_owner(t, tf_op): owner of an allocation made at time t by op tf_op ("" if unknown).
MemOwner = Callable[[int, str], Owner]
# op_end(tf_op, t): when the execution of tf_op running at time t ended (None: unknown).
OpEnd = Callable[[str, int], Optional[int]]


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


def memory_figures(window_mem, mem_owner: MemOwner, op_end: Optional[OpEnd] = None) -> MemoryFigures:
    """Replay every allocator of the window.

    On a GPU run only the device allocators count (the host's are bookkeeping then).
    """
    allocators = sorted({m[5] for m in window_mem})
    primary = [a for a in allocators if is_device_allocator(a)] or allocators
    figures = MemoryFigures(primary, collections.defaultdict(int), collections.defaultdict(int),
                            collections.defaultdict(int))
    for allocator in primary:
        trace = [m for m in window_mem if m[5] == allocator]
        _replay_allocator(trace, mem_owner, figures, op_end)
    return figures


def _replay_allocator(trace, mem_owner: MemOwner, out: MemoryFigures,
                      op_end: Optional[OpEnd]) -> None:
    """Bytes allocated per owner, and per layer what it held when `trace` peaked.

    Kept bytes are those of allocations that outlive the op that made them (`op_end`);
    scratch buffers a kernel allocates and frees within its own run are not churn.
    Hot loop: one pass per allocation event of the window.
    """
    alloc_bytes, kept_bytes = out.alloc_bytes, out.kept_bytes
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
                end = op_end(held[3], held[2]) if op_end is not None and held[3] else None
                if end is None or t > end:
                    kept_bytes[held[0]] += held[1]
    for owner, nbytes, _, _ in live.values():
        kept_bytes[owner] += nbytes  # still held at the window's end: outlived its op
    if peak_at < 0:
        return
    at_peak: Dict[int, Tuple[Owner, int]] = {}
    for i, (t, sign, nbytes, addr, tf_op, _) in enumerate(trace[: peak_at + 1]):
        if sign > 0:
            at_peak[addr] = (owners[i], nbytes)
        else:
            at_peak.pop(addr, None)
    for owner, nbytes in at_peak.values():
        out.peak_live[owner[0]] += nbytes


def op_end_index(window_ops) -> OpEnd:
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
