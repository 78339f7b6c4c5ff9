"""Decoded event columns of one line -> ProfileEvents records (ops with self time,
allocations, steps, eager spans, launches; GPU kernels and copies).

Work per event is done with array operations and C-level `map`s; Python loops remain
only for rare events (eager ops, XLA host ops, odd stat types), for GPU kernels and for
the self time of overlapping ops.
"""

from __future__ import annotations

import functools
import operator
from typing import Dict, List, Optional, Tuple

import numpy as np

from tb_layerprof.xplane import columns, kinds, wire
from tb_layerprof.xplane.columns import (STAT_BYTES, STAT_DOUBLE, STAT_INT64, STAT_REF, STAT_STR,
                                         STAT_UINT64)
from tb_layerprof.xplane.records import DeviceOp, Span, Step
from tb_layerprof.xplane.tables import MemoryTable, OpTable

_HIGH_BIT = np.uint64(1 << 63)


def _maker(cls):
    """Build `cls` records from tuples without NamedTuple's Python-level __new__."""
    return functools.partial(tuple.__new__, cls)


_STEP, _SPAN = _maker(Step), _maker(Span)


def int_column(stats: columns.Stats, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """`uint64_value or int64_value` of each row's stat as raw uint64 (0 where rows is -1
    or the stat holds another type), and where that is a negative int64."""
    n = len(rows)
    vals = np.zeros(n, np.uint64)
    ok = rows >= 0
    kind = np.zeros(n, np.int64)
    kind[ok] = stats.kind[rows[ok]]
    ints = (kind == STAT_UINT64) | (kind == STAT_INT64)
    vals[ints] = stats.value[rows[ints]]
    return vals, (kind == STAT_INT64) & (vals >= _HIGH_BIT)


def int_values(stats: columns.Stats, rows: np.ndarray) -> List[int]:
    """`int_column` as Python ints."""
    vals, negative = int_column(stats, rows)
    result = vals.tolist()
    for i in np.flatnonzero(negative).tolist():
        result[i] = wire.signed(result[i])
    return result


class RefNames:
    """Stat metadata names by id, for resolving `ref_value`s of many stats at once."""

    _DENSE = 1 << 20  # ids below this (all of them, in TensorFlow's planes): one table

    def __init__(self, names: Dict[int, str]):
        self.names = names
        dense = bool(names) and min(names) >= 0 and max(names) < self._DENSE
        size = max(names) + 1 if dense else 0
        self.table = np.full(size + 1, "", dtype=object)  # the last entry: unknown ids
        for key, name in names.items() if dense else ():
            self.table[key] = name
        self._indices: Dict[int, np.ndarray] = {}  # id(value table) -> ref id -> its index

    def indices(self, ids: np.ndarray, values: Dict) -> np.ndarray:
        """Index in `values` (name -> index, extended) of the names of `ids` (uint64)."""
        if len(self.table) == 1 and self.names:  # sparse ids: one lookup each
            return np.array([values.setdefault(n, len(values)) for n in self.many(ids).tolist()],
                            dtype=np.int64)
        index = self._indices.get(id(values))
        if index is None:
            index = self._indices[id(values)] = np.array(
                [values.setdefault(n, len(values)) for n in self.table.tolist()], dtype=np.int64)
        return index[np.minimum(ids, np.uint64(len(self.table) - 1)).astype(np.intp)]

    def many(self, ids: np.ndarray) -> np.ndarray:
        """Names of `ids` (uint64), "" for unknown ones, as an object array."""
        if len(self.table) > 1 or not self.names:
            return self.table[np.minimum(ids, np.uint64(len(self.table) - 1)).astype(np.intp)]
        out = np.empty(len(ids), dtype=object)
        out[:] = [self.names.get(i, "") for i in ids.tolist()]
        return out


def any_values(stats: columns.Stats, rows: np.ndarray, buf, names: RefNames) -> List:
    """Each row's stat value as protobuf's Python API gives it (a ref resolved to its name),
    then `or ""` (missing and falsy values become "")."""
    n = len(rows)
    out = np.full(n, "", dtype=object)
    ok = np.flatnonzero(rows >= 0)
    if not ok.size:
        return out.tolist()
    r = rows[ok]
    kind = stats.kind[r]
    refs = np.flatnonzero(kind == STAT_REF)
    if refs.size:
        out[ok[refs]] = names.many(stats.value[r[refs]])
    strings: Dict[bytes, str] = {}
    for i in np.flatnonzero(kind != STAT_REF).tolist():  # rare: strings, numbers, bytes
        row = int(r[i])
        value = _python_value(stats, row, buf, strings)
        out[ok[i]] = value or ""
    return out.tolist()


def value_indices(stats: columns.Stats, rows: np.ndarray, buf, names: RefNames,
                  values: Dict) -> np.ndarray:
    """`any_values`, as indices into `values` (value -> index, extended): references
    through one table per plane, other stat types (rare) one at a time."""
    out = np.full(len(rows), values.setdefault("", len(values)), np.int64)
    ok = np.flatnonzero(rows >= 0)
    if not ok.size:
        return out
    r = rows[ok]
    kind = stats.kind[r]
    refs = np.flatnonzero(kind == STAT_REF)
    if refs.size:
        out[ok[refs]] = names.indices(stats.value[r[refs]], values)
    strings: Dict[bytes, str] = {}
    for i in np.flatnonzero(kind != STAT_REF).tolist():
        value = _python_value(stats, int(r[i]), buf, strings) or ""
        out[ok[i]] = values.setdefault(value, len(values))
    return out


def _python_value(stats: columns.Stats, row: int, buf, strings: Dict[bytes, str]):
    kind = int(stats.kind[row])
    if kind == STAT_STR or kind == STAT_BYTES:
        raw = bytes(buf[int(stats.start[row]):int(stats.stop[row])])
        if kind == STAT_BYTES:
            return raw
        text = strings.get(raw)
        if text is None:
            text = strings[raw] = raw.decode("utf-8", "replace")
        return text
    if kind == STAT_DOUBLE:
        return float(np.array([stats.value[row]], np.uint64).view(np.float64)[0])
    if kind == STAT_UINT64:
        return int(stats.value[row])
    if kind == STAT_INT64:
        return wire.signed(int(stats.value[row]))
    return None


def _shared(stats: columns.Stats, rows: np.ndarray, ints: Dict[int, int]) -> List[int]:
    """`int_values`, with one int object per distinct value across the plane (`ints`
    holds them): an allocation and its free repeat a size and an address, and sizes
    recur, so sharing keeps the records ~8 MB smaller. One dict lookup per distinct value
    of the chunk, not per event."""
    vals, negative = int_column(stats, rows)
    if negative.any() or len(vals) < 2:
        return int_values(stats, rows)
    distinct, inverse = np.unique(vals, return_inverse=True)
    values = distinct.tolist()
    objects = np.empty(len(values), dtype=object)
    objects[:] = list(map(ints.setdefault, values, values))
    return objects[inverse.reshape(-1)].tolist()


class TableParts:
    """Each host line's op and allocation columns, joined into one OpTable and one
    MemoryTable (sorted by time) when the whole file has been read."""

    def __init__(self):
        self.ops: List[tuple] = []  # (line key, base ps, start, duration, self, name ids, type ids)
        self.memory: List[tuple] = []  # (base ps, offset, sign, bytes, address, negative, op ids, allocator ids)
        # value -> index tables the ids point into (the host plane's, for op names and types)
        self.op_names: Dict[str, int] = {}
        self.op_types: Dict[str, int] = {}
        self.memory_ops: Dict = {}
        self.allocators: Dict = {}

    def op_table(self) -> OpTable:
        if not self.ops:
            return OpTable.from_records([])
        base = min(part[1] for part in self.ops)
        start = np.concatenate([part[2] + (part[1] - base) for part in self.ops])
        end = start + np.concatenate([part[3] for part in self.ops])
        line = np.concatenate([np.full(len(part[2]), part[0], np.int64) for part in self.ops])
        selfs = np.concatenate([part[4] for part in self.ops])
        name = np.concatenate([part[5] for part in self.ops])
        op_type = np.concatenate([part[6] for part in self.ops])
        order = np.argsort(start, kind="stable")
        return OpTable(base, line[order], start[order], end[order], selfs[order], name[order],
                       op_type[order], list(self.op_names), list(self.op_types))

    def memory_table(self) -> MemoryTable:
        if not self.memory:
            return MemoryTable.from_records([])
        parts = self.memory
        base = min(part[0] for part in parts)
        time = np.concatenate([part[1] + (part[0] - base) for part in parts])
        negative = np.concatenate([part[5] for part in parts])
        order = np.argsort(time, kind="stable")

        def column(k: int) -> np.ndarray:
            return np.concatenate([part[k] for part in parts])[order]

        return MemoryTable(base, time[order], column(2), column(3), column(4), column(6), column(7),
                           list(self.memory_ops), list(self.allocators),
                           negative[order] if negative.any() else None)


class _Names:
    """A chunk's event names and op types (object arrays), gathered on first use: most
    chunks (graph-mode ops, allocations) need only their ids."""

    def __init__(self, plane, at: np.ndarray):
        self._plane, self._at = plane, at
        self._name: Optional[np.ndarray] = None
        self._type: Optional[np.ndarray] = None

    @property
    def name(self) -> np.ndarray:
        if self._name is None:
            self._name = self._plane.a[self._at]
        return self._name

    @property
    def type(self) -> np.ndarray:
        if self._type is None:
            self._type = self._plane.b[self._at]
        return self._type


class HostLine:
    """One host line: records go to `out` as chunks arrive; ops wait for `finish` (their
    self time needs the line's nesting)."""

    def __init__(self, plane, out, key: int, base_ps: int, tables: "TableParts"):
        self.plane, self.out, self.key, self.base_ps = plane, out, key, base_ps
        self.tables = tables
        self.op_start: List[np.ndarray] = []
        self.op_dur: List[np.ndarray] = []
        self.op_name: List[np.ndarray] = []
        self.op_type: List[np.ndarray] = []

    def add(self, data: np.ndarray, buf, events: columns.Events) -> None:
        plane, stats = self.plane, events.stats
        n = len(events.metadata_id)
        at = plane.lookup(events.metadata_id)
        kind = plane.kind[at]
        sid = plane.sid
        is_op = kind == kinds.OP
        names = _Names(plane, at)
        name_ids, type_ids = plane.a_id[at], plane.b_id[at]
        self._eager_ops(kind, stats, is_op, names, buf, n)
        self._xla_ops(kind, stats, is_op, names, buf, n)
        for i in np.flatnonzero(is_op & (kind != kinds.OP)).tolist():  # renamed above
            name_ids[i] = plane.op_names.setdefault(names.name[i], len(plane.op_names))
            type_ids[i] = plane.op_types.setdefault(names.type[i], len(plane.op_types))
        ops = np.flatnonzero(is_op)
        self.op_start.append(events.offset_ps[ops])
        self.op_dur.append(events.duration_ps[ops])
        self.op_name.append(name_ids[ops])
        self.op_type.append(type_ids[ops])
        mem = np.flatnonzero((kind == kinds.ALLOC) | (kind == kinds.FREE))
        if mem.size:
            self._memory(events, mem, kind, buf)
        steps = np.flatnonzero(kind == kinds.STEP)
        if steps.size:
            rows = columns.last_rows(stats, sid["step"], n)[steps]
            found = rows >= 0
            steps, rows = steps[found], rows[found]
            self.out.steps += map(_STEP, zip(int_values(stats, rows), *self._times(events, steps)))
        launches = np.flatnonzero(kind == kinds.LAUNCH)
        if launches.size:
            rows = columns.last_rows(stats, sid["correlation"], n)[launches]
            found = rows >= 0
            times = self._times(events, launches[found])[0]
            self.out.launches.update(zip(int_values(stats, rows[found]), times))
        spans = np.flatnonzero((kind >= kinds.SPAN) & (kind <= kinds.CATEGORY))
        if spans.size:
            labels = [kinds.SPAN_LABELS[k] for k in kind[spans].tolist()]
            starts, ends = self._times(events, spans)
            self.out.spans += map(_SPAN, zip([self.key] * len(spans), starts, ends,
                                             names.name[spans].tolist(), labels))

    def _times(self, events: columns.Events, idx: np.ndarray):
        """Start and end times (ps since the epoch, Python ints: they overflow int64)."""
        starts = list(map(self.base_ps.__add__, events.offset_ps[idx].tolist()))
        return starts, list(map(operator.add, starts, events.duration_ps[idx].tolist()))

    def _memory(self, events: columns.Events, mem: np.ndarray, kind: np.ndarray, buf) -> None:
        stats, sid, n = events.stats, self.plane.sid, len(kind)
        nbytes, _ = int_column(stats, columns.last_rows(stats, sid["bytes"], n)[mem])
        addr, negative = int_column(stats, columns.last_rows(stats, sid["addr"], n)[mem])
        tables, refs = self.tables, self.plane.ref_names
        tf_op = value_indices(stats, columns.last_rows(stats, sid["tf_op"], n)[mem], buf, refs,
                              tables.memory_ops)
        allocator = value_indices(stats, columns.last_rows(stats, sid["allocator"], n)[mem], buf,
                                  refs, tables.allocators)
        sign = np.where(kind[mem] == kinds.ALLOC, 1, -1).astype(np.int8)
        self.tables.memory.append((self.base_ps, events.offset_ps[mem], sign, nbytes.view(np.int64),
                                   addr, negative, tf_op, allocator))

    def _eager_ops(self, kind, stats, is_op, names: "_Names", buf, n: int) -> None:
        """EagerExecute events of single ops become ops named "eager/<Type>"."""
        eager = np.flatnonzero(kind == kinds.EAGER_EXEC)
        if not eager.size:
            return
        sid = self.plane.sid
        op_types = any_values(stats, columns.last_rows(stats, sid["eager_op"], n)[eager], buf,
                              self.plane.ref_names)
        is_func = int_values(stats, columns.last_rows(stats, sid["is_func"], n)[eager])
        for i, op_type, func in zip(eager.tolist(), op_types, is_func):
            if func or not op_type:
                continue  # a tf.function call: its ops appear on their own
            is_op[i] = True
            names.name[i], names.type[i] = "eager/" + op_type, op_type

    def _xla_ops(self, kind, stats, is_op, names: "_Names", buf, n: int) -> None:
        """Events of other kinds with an `hlo_op` stat are XLA ops (resolved later)."""
        sid = self.plane.sid
        if sid["hlo_op"] is None:
            return
        rows = columns.last_rows(stats, sid["hlo_op"], n)
        other = np.flatnonzero((kind == kinds.OTHER) & (rows >= 0))
        if not other.size:
            return
        hlo_ops = any_values(stats, rows[other], buf, self.plane.ref_names)
        programs = int_values(stats, columns.last_rows(stats, sid["program_id"], n)[other])
        for i, hlo_op, program in zip(other.tolist(), hlo_ops, programs):
            if hlo_op:
                self.plane.xla[0] = True
                is_op[i] = True
                names.name[i], names.type[i] = kinds.xla_placeholder(program, hlo_op), ""

    def finish(self) -> None:
        if not self.op_start:
            return
        start = np.concatenate(self.op_start)
        dur = np.concatenate(self.op_dur)
        self.tables.ops.append((self.key, self.base_ps, start, dur, nested_self_times(start, dur),
                                np.concatenate(self.op_name), np.concatenate(self.op_type)))
        self.tables.op_names, self.tables.op_types = self.plane.op_names, self.plane.op_types


def nested_self_times(starts, durations) -> np.ndarray:
    """Self time of each op of a line (int64 arrays or lists, by start): its duration
    minus those of the ops directly inside.

    An op that starts after every earlier op ended leaves nothing open: the line splits
    there into independent runs, found with array operations. Only runs of overlapping
    ops (none at all in a typical graph-mode capture) go through the stack walk.
    """
    start = np.asarray(starts, dtype=np.int64)
    durs = np.asarray(durations, dtype=np.int64)
    selfs = durs.copy()
    if len(start) < 2:
        return selfs
    end = start + durs
    fresh = np.ones(len(start), dtype=bool)  # nothing open when this op starts
    fresh[1:] = start[1:] >= np.maximum.accumulate(end)[:-1]
    run_starts = np.flatnonzero(fresh)
    run_stops = np.append(run_starts[1:], len(start))
    for a, b in zip(run_starts.tolist(), run_stops.tolist()):
        if b - a > 1:
            run = durs[a:b].tolist()
            _stack_walk(start[a:b].tolist(), durs[a:b].tolist(), run, 0, b - a)
            selfs[a:b] = run
    return selfs


def _stack_walk(starts: List[int], durations: List[int], selfs: List[int], a: int, b: int) -> None:
    """Measured hot loop (one pass per op of an overlapping run): a stack of open ops; an
    op inside the top one (ends no later) is the top's child; an op that overlaps the top
    without ending inside it is pushed too, as it always was."""
    ends: List[int] = []
    owners: List[int] = []
    for i in range(a, b):
        start, dur = starts[i], durations[i]
        end = start + dur
        while ends and ends[-1] <= start:
            ends.pop()
            owners.pop()
        if ends and end <= ends[-1]:
            selfs[owners[-1]] -= dur
        ends.append(end)
        owners.append(i)


class DeviceLine:
    """One GPU stream line: kernels and copies (events with kernel or memcpy details)."""

    def __init__(self, plane, out, key: int, base_ps: int):
        self.plane, self.out, self.key, self.base_ps = plane, out, key, base_ps
        self.split_cache: Dict[str, tuple] = {}

    def add(self, data: np.ndarray, buf, events: columns.Events) -> None:
        stats, sid, n = events.stats, self.plane.sid, len(events.metadata_id)
        work = ((columns.last_rows(stats, sid["kernel"], n) >= 0)
                | (columns.last_rows(stats, sid["memcpy"], n) >= 0))
        idx = np.flatnonzero(work)  # the rest: overhead markers, counters
        if not idx.size:
            return
        names = self.plane.ref_names
        tf_ops = any_values(stats, columns.last_rows(stats, sid["tf_op"], n)[idx], buf, names)
        hlo_ops = any_values(stats, columns.last_rows(stats, sid["hlo_op"], n)[idx], buf, names)
        programs = int_values(stats, columns.last_rows(stats, sid["program_id"], n)[idx])
        correlations = int_values(stats, columns.last_rows(stats, sid["correlation"], n)[idx])
        durs = events.duration_ps[idx].tolist()
        starts = list(map(self.base_ps.__add__, events.offset_ps[idx].tolist()))
        for start, dur, tf_op, hlo_op, program, corr in zip(starts, durs, tf_ops, hlo_ops,
                                                             programs, correlations):
            if hlo_op:
                self.plane.xla[0] = True
                name, op_type = kinds.xla_placeholder(program, hlo_op), ""
            else:
                parsed = self.split_cache.get(tf_op)
                if parsed is None:
                    parsed = self.split_cache[tf_op] = kinds.split_tf_op(tf_op)
                name, op_type = parsed
            self.out.device_ops.append(DeviceOp(self.plane.name, self.key, start, start + dur,
                                                dur, name, op_type, corr))

    def finish(self) -> None:
        pass
