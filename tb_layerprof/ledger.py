"""Op time of one window per owner, on the host and the device clock (`Clocks`).

Every op event of the window's steps has one owner (`OwnerIndex`, or in eager mode the
innermost layer span around it); a `Ledger` books its self time per owner and per
(owner, op), counts executions, keeps each layer's first-to-last extent per step and
phase, and the intervals where a layer's ops of the last step really ran (the tab's
timeline draws those, not the extent: with inter-op parallelism a layer's first and last
op can be far apart while it ran for a fraction of that).

In graph mode an op's owner depends only on its name and type, so the host ledger groups
the events by (name, type) with array operations and resolves each distinct name once
(measured: ~5x faster than a pass per event on bench_analysis' 126k op events).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tb_layerprof.eager import EagerSpans, eager_owner_at
from tb_layerprof.owners import FORWARD, FRAMEWORK, INPUT, UNATTRIBUTED, Owner, OwnerIndex
from tb_layerprof.xplane import ProfileEvents
from tb_layerprof.xplane.tables import OpTable

DEVICE_SLACK = 0.5  # of a step: kernels may finish this long after their step's end
_REPLICA_RE = re.compile(r"(?:^|/)replica_(\d+)/")

Interval = Tuple[int, int]


@dataclasses.dataclass
class Ledger:
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
    # (layer, phase) -> merged [start, end] intervals of its own ops in the last step
    busy: Dict[Tuple[str, str], List[Interval]] = dataclasses.field(default_factory=dict)
    # Owner -> self time with every op at its median run in the window (graph mode: an op
    # does the same work every step), so one stalled run of a tiny op makes no diagnosis;
    # None where runs are not grouped by op (eager mode, kernels).
    typical_time: Optional[Dict[Owner, float]] = None

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


@dataclasses.dataclass
class Clocks:
    """The window's op time on both clocks. On an accelerator the work is the kernels'
    time (host op events only launch them): `main` is the device ledger then; the host
    view stays available in the *_host_us fields."""

    host: Ledger
    device: Ledger

    @property
    def on_device(self) -> bool:
        return bool(self.device.total_ps)

    @property
    def main(self) -> Ledger:
        return self.device if self.on_device else self.host


def merge_intervals(intervals: Sequence[Interval]) -> List[Interval]:
    """Sorted, non-overlapping union of [start, end] intervals (touching ones join)."""
    merged: List[List[int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def coarsen(intervals: List[Interval], at_most: int) -> List[Interval]:
    """Merged `intervals`, their shortest gaps closed until at most `at_most` remain (the
    busy total is reported apart, so drawing fewer, wider segments loses no figure)."""
    if len(intervals) <= at_most:
        return intervals
    gaps = sorted(b[0] - a[1] for a, b in zip(intervals, intervals[1:]))
    bridge = gaps[len(gaps) - at_most]  # closing gaps up to this one leaves <= at_most runs
    out: List[List[int]] = [list(intervals[0])]
    for s, e in intervals[1:]:
        if s - out[-1][1] <= bridge:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def host_ledger(window_ops: OpTable, op_step: np.ndarray, index: OwnerIndex, eager: EagerSpans,
                eager_calls: bool, input_lines=frozenset()) -> Ledger:
    """Self time of host op events per owner, with per-step spans and per-replica time."""
    if eager.forward or eager.gradient or eager_calls:
        return _host_ledger_per_event(window_ops, op_step.tolist(), index, eager, eager_calls,
                                      input_lines)
    return _host_ledger_by_name(window_ops, op_step, index, input_lines)


def _replica(name: str) -> int:
    m = _REPLICA_RE.search(name)
    return int(m.group(1)) if m else 0


def _host_ledger_by_name(ops: OpTable, op_step: np.ndarray, index: OwnerIndex,
                         input_lines) -> Ledger:
    """Graph mode: the events grouped by (name, type, on an input line), each group's
    owner resolved once; sums, counts and extents with array operations."""
    ledger = Ledger()
    if not len(ops):
        return ledger
    on_input = (np.isin(ops.line, np.fromiter(input_lines, np.int64, len(input_lines)))
                if input_lines else np.zeros(len(ops), bool))
    key = (ops.name * len(ops.types) + ops.type) * 2 + on_input
    # groups in order of their first event, so the books fill in the order events came
    distinct, first, gid = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    gid = rank[gid.reshape(-1)]
    sums = np.zeros(len(order), np.int64)
    np.add.at(sums, gid, ops.self_ps)
    counts = np.bincount(gid, minlength=len(order))
    typical = _median_runs(ops.self_ps, gid, counts) * counts
    ledger.typical_time = collections.defaultdict(float)
    owners: List[Owner] = []
    for k, ps, count, typ in zip(distinct[order].tolist(), sums.tolist(), counts.tolist(), typical.tolist()):
        name_type, input_line = divmod(k, 2)
        name, op_type = ops.names[name_type // len(ops.types)], ops.types[name_type % len(ops.types)]
        owner = index.owner(name, op_type)
        if input_line and owner[0] == FRAMEWORK:
            owner = (INPUT, "")
        owners.append(owner)
        ledger.add(owner, name, op_type, ps)
        ledger.typical_time[owner] += typ
        ledger.op_events[owner] += count
        if owner[1]:
            ledger.replica_time[(owner, _replica(name))] += ps
    _book_extents(ledger, ops, op_step, gid, owners)
    return ledger


def _median_runs(self_ps: np.ndarray, gid: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per group (every group has runs), the median of its runs' self times."""
    # One sort of (group, self time) packed in an int64 (a lexsort takes 3x as long);
    # a run's self time is capped at 2^42 ps (73 minutes), far past any one op.
    low = (1 << 42) - 1
    if len(counts) < 1 << 20:
        packed = np.sort((gid.astype(np.int64) << 42) | np.minimum(self_ps, low))
        by_group = (packed & low).astype(np.float64)
    else:  # more op names than the packing has room for
        by_group = np.asarray(self_ps, np.float64)[np.lexsort((self_ps, gid))]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    upper = by_group[starts + counts // 2]
    lower = by_group[starts + (counts - 1) // 2]
    return (upper + lower) / 2.0


def _book_extents(ledger: Ledger, ops: OpTable, op_step: np.ndarray, gid: np.ndarray,
                  owners: List[Owner]) -> None:
    """Per (layer, phase, step): first start and last end; the last step's busy intervals."""
    layer_owners = sorted({o for o in owners if o[1]})
    if not layer_owners:
        return
    owner_id = {o: i for i, o in enumerate(layer_owners)}
    event_owner = np.array([owner_id.get(o, -1) for o in owners], np.int64)[gid]
    picked = np.flatnonzero(event_owner >= 0)
    if not picked.size:
        return
    base = ops.base_ps
    step = np.asarray(op_step, np.int64)
    n_steps = int(step.max()) + 1
    key = event_owner[picked] * n_steps + step[picked]
    order = np.argsort(key, kind="stable")
    key, at = key[order], picked[order]
    heads = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    firsts = np.minimum.reduceat(ops.start[at], heads).tolist()
    lasts = np.maximum.reduceat(ops.end[at], heads).tolist()
    for k, s, e in zip(key[heads].tolist(), firsts, lasts):
        path, phase = layer_owners[k // n_steps]
        ledger.extent[(path, phase, k % n_steps, "")] = [base + s, base + e]
    last = np.flatnonzero(step[at] == n_steps - 1)
    intervals: Dict[Tuple[str, str], List[Interval]] = collections.defaultdict(list)
    for k, s, e in zip(key[last].tolist(), ops.start[at[last]].tolist(), ops.end[at[last]].tolist()):
        intervals[layer_owners[k // n_steps]].append((base + s, base + e))
    ledger.busy = {o: merge_intervals(v) for o, v in intervals.items()}


def _host_ledger_per_event(window_ops, op_step: List[int], index: OwnerIndex, eager: EagerSpans,
                           eager_calls: bool, input_lines) -> Ledger:
    """Eager mode: an op's owner depends on when it ran (the layer span around it), so
    one pass per op event. Measured hot loop."""
    ledger = Ledger()
    owner_of = index.owner
    spans, grads = eager.forward, eager.gradient
    replica_of: Dict[str, int] = {}
    use_spans = bool(spans or grads)
    last_step = op_step[-1] if op_step else 0
    intervals: Dict[Tuple[str, str], List[Interval]] = collections.defaultdict(list)
    for i, (line, s, e, self_ps, name, op_type) in enumerate(window_ops):
        owner = eager_owner_at(spans, grads, line, s, e) if use_spans else None
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
            replica = replica_of[name] = _replica(name)
        ledger.replica_time[(owner, replica)] += self_ps
        if eager_calls and owner[1] == FORWARD:
            ledger.executed_types[owner[0]][op_type] += 1
        ledger.extend((owner[0], owner[1], op_step[i], ""), s, e)
        if op_step[i] == last_step:
            intervals[owner].append((s, e))
    ledger.busy = {o: merge_intervals(v) for o, v in intervals.items()}
    return ledger


def device_ledger(events: ProfileEvents, index: OwnerIndex, starts: List[int],
                  ends: List[int]) -> Ledger:
    """Kernel self time per owner on device planes, for kernels of the window's steps.

    A kernel belongs to the step whose host thread launched it (same correlation id);
    without launch events, to the step its start falls in (or just after).
    """
    ledger = Ledger()
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
                if not in_steps(starts, ends, t):
                    continue
            elif not (lo <= t <= hi):
                continue
        owner = index.owner(name, op_type) if name else (UNATTRIBUTED, "")
        ledger.add(owner, name, op_type, self_ps)
        if owner[1]:
            k = max(0, bisect.bisect_right(starts, t) - 1) if starts else 0
            ledger.extend((owner[0], owner[1], k, device), s, e)
    return ledger


def in_steps(starts: List[int], ends: List[int], t: int) -> bool:
    """Whether time `t` falls inside one of the steps [starts[i], ends[i]]."""
    i = bisect.bisect_right(starts, t) - 1
    return i >= 0 and t <= ends[i]


def layer_busy(busy: Dict[Tuple[str, str], List[Interval]], parents: Dict[str, Optional[str]]
               ) -> Dict[Tuple[str, str], List[Interval]]:
    """Busy intervals per (layer, phase) with every sublayer's folded into its ancestors'
    (a block ran while any of its sublayers did)."""
    gathered: Dict[Tuple[str, str], List[Interval]] = collections.defaultdict(list)
    for (path, phase), intervals in busy.items():
        node: Optional[str] = path
        while node is not None and node in parents:
            gathered[(node, phase)].extend(intervals)
            node = parents[node]
    return {k: merge_intervals(v) for k, v in gathered.items()}


TIMELINE_MAX_BUSY = 64  # intervals a timeline span keeps: more cannot be told apart at a chart's width


def busy_fields(intervals: List[Interval], t0: int, own: Optional[List[Interval]] = None
                ) -> Dict[str, object]:
    """A timeline span's `busy` (µs after `t0`, at most TIMELINE_MAX_BUSY) and `busy_us`
    (the exact total) from merged intervals in ps; {} when there are none. A layer with
    sublayers also gets `self_busy` / `self_busy_us`: where its own ops ran (`own`), for
    the tab to shade inside the bars."""
    if not intervals:
        return {}
    out = _busy(intervals, t0, "")
    if own is not None and own != intervals:
        out.update(_busy(own, t0, "self_"))
    return out


def _busy(intervals: List[Interval], t0: int, prefix: str) -> Dict[str, object]:
    return {f"{prefix}busy": [[round((s - t0) / 1e6, 3), round((e - t0) / 1e6, 3)]
                              for s, e in coarsen(intervals, TIMELINE_MAX_BUSY)],
            f"{prefix}busy_us": round(sum(e - s for s, e in intervals) / 1e6, 3)}
