"""A capture's op events and allocations as columns (`OpTable`, `MemoryTable`), which read
as sequences of `Op` / `Memory` records.

A window holds hundreds of thousands of both. The analysis works on the columns with
array operations; a record tuple is made only when someone iterates or indexes (the
trace-line writer, eager mode, tests), then kept. Times are int64 picoseconds after
`base_ps` (ps since the epoch overflow int64); names are indices into a shared list.
"""

from __future__ import annotations

import collections.abc
import functools
import operator
from typing import Dict, List, Optional, Sequence

import numpy as np

from tb_layerprof.xplane import wire
from tb_layerprof.xplane.records import Memory, Op


def _maker(cls):
    return functools.partial(tuple.__new__, cls)


_OP, _MEMORY = _maker(Op), _maker(Memory)


class _Table(collections.abc.Sequence):
    """Shared sequence behaviour: records on demand, equality with any sequence."""

    _records: Optional[list] = None

    def records(self) -> list:
        if self._records is None:
            self._records = self._make_records()
        return self._records

    def __iter__(self):
        return iter(self.records())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        return self.records()[i]

    def __eq__(self, other) -> bool:
        if isinstance(other, (list, tuple, _Table)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} records)"

    def _make_records(self) -> list:
        raise NotImplementedError

    def take(self, idx: np.ndarray) -> "_Table":
        raise NotImplementedError


class OpTable(_Table):
    """Host op events, in start order: the columns of `Op` records."""

    def __init__(self, base_ps: int, line: np.ndarray, start: np.ndarray, end: np.ndarray,
                 self_ps: np.ndarray, name: np.ndarray, op_type: np.ndarray,
                 names: List[str], types: List[str]):
        self.base_ps = base_ps
        self.line, self.start, self.end, self.self_ps = line, start, end, self_ps
        self.name, self.type = name, op_type  # indices into names / types
        self.names, self.types = names, types

    @classmethod
    def from_records(cls, ops: Sequence[Op]) -> "OpTable":
        if isinstance(ops, OpTable):
            return ops
        n = len(ops)
        base = min(map(operator.itemgetter(1), ops)) if n else 0
        col = functools.partial(_int_column, ops, n)
        names: dict = {}
        types: dict = {}
        table = cls(base, col(0), col(1, base), col(2, base), col(3),
                    ids([op[4] for op in ops], names),
                    ids([op[5] for op in ops], types), list(names), list(types))
        table._records = list(ops)
        return table

    def __len__(self) -> int:
        return len(self.start)

    def take(self, idx: np.ndarray) -> "OpTable":
        return OpTable(self.base_ps, self.line[idx], self.start[idx], self.end[idx],
                       self.self_ps[idx], self.name[idx], self.type[idx], self.names, self.types)

    def name_set(self) -> set:
        """The distinct op names."""
        return {self.names[i] for i in np.unique(self.name).tolist()}

    def name_counts(self) -> Dict[str, int]:
        """Executions per op name."""
        counts = np.bincount(self.name, minlength=len(self.names)).tolist()
        return {name: c for name, c in zip(self.names, counts) if c}

    def _make_records(self) -> list:
        base = self.base_ps
        names = np.array(self.names + [""], dtype=object)
        types = np.array(self.types + [""], dtype=object)
        return list(map(_OP, zip(self.line.tolist(), map(base.__add__, self.start.tolist()),
                                 map(base.__add__, self.end.tolist()), self.self_ps.tolist(),
                                 names[self.name].tolist(), types[self.type].tolist())))


class MemoryTable(_Table):
    """Allocator events, in time order: the columns of `Memory` records."""

    def __init__(self, base_ps: int, time: np.ndarray, sign: np.ndarray, nbytes: np.ndarray,
                 address: np.ndarray, tf_op: np.ndarray, allocator: np.ndarray,
                 op_names: List[str], allocators: List[str], negative: Optional[np.ndarray] = None):
        self.base_ps = base_ps
        self.time, self.sign, self.nbytes = time, sign, nbytes
        self.address = address  # uint64 bits; `negative` marks int64 stats below zero
        self.negative = negative
        self.tf_op, self.allocator = tf_op, allocator  # indices into op_names / allocators
        self.op_names, self.allocators = op_names, allocators

    @classmethod
    def from_records(cls, memory: Sequence[Memory]) -> "MemoryTable":
        if isinstance(memory, MemoryTable):
            return memory
        n = len(memory)
        base = min(map(operator.itemgetter(0), memory)) if n else 0
        col = functools.partial(_int_column, memory, n)
        address, negative = _uint64_bits([m[3] for m in memory])
        ops: dict = {}
        allocators: dict = {}
        table = cls(base, col(0, base), col(1), col(2), address,
                    ids([m[4] for m in memory], ops),
                    ids([m[5] for m in memory], allocators),
                    list(ops), list(allocators), negative)
        table._records = list(memory)
        return table

    def __len__(self) -> int:
        return len(self.time)

    def take(self, idx: np.ndarray) -> "MemoryTable":
        return MemoryTable(self.base_ps, self.time[idx], self.sign[idx], self.nbytes[idx],
                           self.address[idx], self.tf_op[idx], self.allocator[idx],
                           self.op_names, self.allocators,
                           None if self.negative is None else self.negative[idx])

    def _make_records(self) -> list:
        base = self.base_ps
        address = self.address.tolist()
        if self.negative is not None:
            for i in np.flatnonzero(self.negative).tolist():
                address[i] = wire.signed(address[i])
        ops = np.array(self.op_names + [""], dtype=object)
        allocators = np.array(self.allocators + [""], dtype=object)
        return list(map(_MEMORY, zip(map(base.__add__, self.time.tolist()), self.sign.tolist(),
                                     self.nbytes.tolist(), address, ops[self.tf_op].tolist(),
                                     allocators[self.allocator].tolist())))


def _int_column(records: Sequence, n: int, at: int, base: int = 0) -> np.ndarray:
    values = map(operator.itemgetter(at), records)
    return np.fromiter(map(base.__rsub__, values) if base else values, np.int64, n)


def _uint64_bits(values: List[int]):
    """Integers as uint64 bits, and where they were negative (None if none were)."""
    try:
        return np.array(values, dtype=np.uint64), None
    except OverflowError:
        negative = np.array([v < 0 for v in values], dtype=bool)
        return np.array([v & 0xFFFFFFFFFFFFFFFF for v in values], dtype=np.uint64), negative


def ids(values: Sequence, table: dict) -> np.ndarray:
    """Index of each value in `table`, which starts empty and ends as value -> index
    (0..k-1 in order of first appearance)."""
    n = len(values)
    firsts = np.fromiter(map(table.setdefault, values, range(n)), np.int64, n)
    if not n:
        return firsts
    distinct, dense = np.unique(firsts, return_inverse=True)
    for k, value in enumerate(list(table)):  # insertion order == increasing first index
        table[value] = k
    return dense.reshape(-1).astype(np.int64)
