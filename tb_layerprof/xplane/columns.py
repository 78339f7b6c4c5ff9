"""Vectorised (numpy) wire decoding of many XEvent records at once into columns.

Touching every event as a protobuf message from Python costs about a microsecond an
event; here each step of the decoding runs over all events of a chunk together ("lock
step": the k-th field of every event, then the (k+1)-th, ...), so Python's cost is per
field position, not per event. The semantics are protobuf's: fields in any order, the
last occurrence of a scalar wins, unknown fields are skipped, a wrong wire type for a
known field is skipped as unknown, setting `num_occurrences` clears `offset_ps` (a oneof),
and the last value field of an XStat wins (its `value` oneof).
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from tb_layerprof.xplane.records import ProfileError

# XEvent and XStat field numbers (checked against TensorFlow's schema in the tests).
EVENT_METADATA_ID, EVENT_OFFSET_PS, EVENT_DURATION_PS, EVENT_STATS, EVENT_NUM_OCCURRENCES = 1, 2, 3, 4, 5
STAT_METADATA_ID, STAT_DOUBLE, STAT_UINT64, STAT_INT64, STAT_STR, STAT_BYTES, STAT_REF = 1, 2, 3, 4, 5, 6, 7

_U7F = np.uint64(0x7F)
_EMPTY = np.zeros(0, np.int64)


def varints_at(data: np.ndarray, pos: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The varints starting at each of `pos` (uint64) and the positions after them."""
    b = data[pos]
    val = (b & 0x7F).astype(np.uint64)
    nxt = pos + 1
    more = np.flatnonzero(b >= 0x80)
    shift = 7
    while more.size:  # one round per varint byte; most varints here are 1-3 bytes
        if shift > 63:
            raise ProfileError("varint too long")
        q = nxt[more]
        b = data[q]
        val[more] |= (b.astype(np.uint64) & _U7F) << np.uint64(shift)
        nxt[more] = q + 1
        more = more[b >= 0x80]
        shift += 7
    return val, nxt


def _skip_field(data: np.ndarray, pos: np.ndarray, wire: np.ndarray, ends: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read one field's value at `pos` (just after its key), whatever its wire type.

    Returns (varint values (0 where not a varint), start of the payload, its end,
    position after the field) for each element; raises ProfileError on a bad wire type or
    a field that runs past `ends`."""
    if np.any((wire != 0) & (wire != 1) & (wire != 2) & (wire != 5)):
        bad = int(wire[(wire != 0) & (wire != 1) & (wire != 2) & (wire != 5)][0])
        raise ProfileError(f"unsupported wire type {bad}")
    value = np.zeros(len(pos), np.uint64)
    start = pos.copy()
    after = pos + 4  # wire type 5
    after[wire == 1] += 4
    varint = np.flatnonzero(wire == 0)
    if varint.size:
        value[varint], after[varint] = varints_at(data, pos[varint])
    delimited = np.flatnonzero(wire == 2)
    if delimited.size:
        n, body = varints_at(data, pos[delimited])
        start[delimited] = body
        after[delimited] = body + n.astype(np.int64)
        if np.any(n >= np.uint64(1 << 62)):
            raise ProfileError("a field runs past the end of its message")
    if np.any(after > ends):
        raise ProfileError("a field runs past the end of its message")
    return value, start, after, after


def _keys(data: np.ndarray, pos: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(field numbers, wire types, positions after the keys) of the keys at `pos`."""
    key, after = varints_at(data, pos)
    field = (key >> np.uint64(3)).astype(np.int64)
    if np.any(field == 0):
        raise ProfileError("field number 0")
    return field, (key & np.uint64(7)).astype(np.int64), after


@dataclasses.dataclass
class Stats:
    """Decoded XStats of a chunk, one row per stat kept, in (event, field order) order."""

    event: np.ndarray  # index of the event in its chunk
    metadata_id: np.ndarray  # int64
    kind: np.ndarray  # field number of the value (STAT_*), 0 when the stat has none
    value: np.ndarray  # uint64: varint value, or the raw bits of a double
    start: np.ndarray  # str/bytes payload [start, stop) in the file
    stop: np.ndarray


def decode_stats(data: np.ndarray, event: np.ndarray, start: np.ndarray, stop: np.ndarray,
                 keep: Optional[np.ndarray]) -> Stats:
    """Decode the XStat bodies [start, stop); keep only those whose metadata id is in the
    sorted array `keep` (None: keep all)."""
    n = len(start)
    mid = np.zeros(n, np.uint64)
    kind = np.zeros(n, np.int64)
    value = np.zeros(n, np.uint64)
    vstart = np.zeros(n, np.int64)
    vstop = np.zeros(n, np.int64)
    cur = start.copy()
    act = np.flatnonzero(cur < stop)
    while act.size:  # one round per field position: usually two (id, value)
        field, wire, pos = _keys(data, cur[act])
        val, pstart, pstop, after = _skip_field(data, pos, wire, stop[act])
        sel = (field == STAT_METADATA_ID) & (wire == 0)
        mid[act[sel]] = val[sel]
        sel = ((field == STAT_UINT64) | (field == STAT_INT64) | (field == STAT_REF)) & (wire == 0)
        kind[act[sel]] = field[sel]
        value[act[sel]] = val[sel]
        sel = ((field == STAT_STR) | (field == STAT_BYTES)) & (wire == 2)
        kind[act[sel]] = field[sel]
        vstart[act[sel]] = pstart[sel]
        vstop[act[sel]] = pstop[sel]
        sel = np.flatnonzero((field == STAT_DOUBLE) & (wire == 1))
        if sel.size:
            kind[act[sel]] = STAT_DOUBLE
            value[act[sel]] = _fixed64(data, pos[sel])
        cur[act] = after
        act = act[after < stop[act]]
    mid = mid.view(np.int64)
    rows = slice(None) if keep is None else np.isin(mid, keep)
    return Stats(event[rows], mid[rows], kind[rows], value[rows], vstart[rows], vstop[rows])


def _fixed64(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out = np.zeros(len(pos), np.uint64)
    for k in range(8):
        out |= data[pos + k].astype(np.uint64) << np.uint64(8 * k)
    return out


@dataclasses.dataclass
class Events:
    """A chunk of decoded XEvents: one entry per event, and the stats asked for."""

    metadata_id: np.ndarray  # int64
    offset_ps: np.ndarray  # int64
    duration_ps: np.ndarray  # int64
    stats: Stats


def decode_events(data: np.ndarray, start: np.ndarray, stop: np.ndarray,
                  wants_stats: Optional[np.ndarray], keep: Optional[np.ndarray]) -> Events:
    """Decode the XEvent bodies [start, stop).

    Stats are decoded only for events whose entry in `wants_stats` (a function of the
    metadata id, so known only after the first round: a bool array indexed by event) is
    true, or for all events when it is None; of those only stats with an id in `keep`.
    """
    n = len(start)
    mid = np.zeros(n, np.uint64)
    offset = np.zeros(n, np.uint64)
    duration = np.zeros(n, np.uint64)
    stat_event: List[np.ndarray] = []
    stat_start: List[np.ndarray] = []
    stat_stop: List[np.ndarray] = []
    cur = start.copy()
    act = np.flatnonzero(cur < stop)
    while act.size:  # one round per field position (an allocation has ~17 fields)
        field, wire, pos = _keys(data, cur[act])
        val, pstart, pstop, after = _skip_field(data, pos, wire, stop[act])
        w0 = wire == 0
        for number, column in ((EVENT_METADATA_ID, mid), (EVENT_OFFSET_PS, offset),
                               (EVENT_DURATION_PS, duration)):
            sel = (field == number) & w0
            column[act[sel]] = val[sel]
        sel = (field == EVENT_NUM_OCCURRENCES) & w0
        offset[act[sel]] = 0  # offset_ps and num_occurrences share a oneof
        sel = (field == EVENT_STATS) & (wire == 2)
        if sel.any():
            stat_event.append(act[sel])
            stat_start.append(pstart[sel])
            stat_stop.append(pstop[sel])
        cur[act] = after
        act = act[after < stop[act]]
    ev = np.concatenate(stat_event) if stat_event else _EMPTY
    s0 = np.concatenate(stat_start) if stat_start else _EMPTY
    s1 = np.concatenate(stat_stop) if stat_stop else _EMPTY
    if wants_stats is not None:
        rows = wants_stats(mid.view(np.int64))[ev]
        ev, s0, s1 = ev[rows], s0[rows], s1[rows]
    # Rows in field order per event: a stable sort by event keeps each event's stats in
    # the order they were written (rounds went field by field).
    order = np.argsort(ev, kind="stable")
    stats = decode_stats(data, ev[order], s0[order], s1[order], keep)
    return Events(mid.view(np.int64), offset.view(np.int64), duration.view(np.int64), stats)


def last_rows(stats: Stats, metadata_id: Optional[int], n: int) -> np.ndarray:
    """For each of `n` events, the row of its last stat with `metadata_id`, or -1."""
    rows = np.full(n, -1, np.int64)
    if metadata_id is None or not len(stats.event):
        return rows
    found = np.flatnonzero(stats.metadata_id == metadata_id)
    # Rows are ordered by (event, field position): the last assignment per event wins.
    rows[stats.event[found]] = found
    return rows


def record_bodies(data: np.ndarray, records: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """[start, stop) of the message bodies of length-delimited records starting at `records`
    (each at its key byte, a one-byte key)."""
    n, body = varints_at(data, records + 1)
    return body, body + n.astype(np.int64)
