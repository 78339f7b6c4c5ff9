"""Vectorised (numpy) wire decoding of many XEvent records at once into columns.

Touching every event as a protobuf message from Python costs about a microsecond an
event; here each step of the decoding runs over all events of a chunk together ("lock
step": the k-th field of every event, then the (k+1)-th, ...), so Python's cost is per
field position, not per event. The semantics are protobuf's: fields in any order, the
last occurrence of a scalar wins, unknown fields are skipped, a wrong wire type for a
known field is skipped as unknown, setting `num_occurrences` clears `offset_ps` (a oneof),
and the last value field of an XStat wins (its `value` oneof). One shortcut, safe for what
serializers write: an event whose stats are not wanted is not read past its first stat
(see `decode_events`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Tuple

import numpy as np

from tb_layerprof.xplane.records import ProfileError

# XEvent and XStat field numbers (checked against TensorFlow's schema in the tests).
EVENT_METADATA_ID, EVENT_OFFSET_PS, EVENT_DURATION_PS, EVENT_STATS, EVENT_NUM_OCCURRENCES = 1, 2, 3, 4, 5
STAT_METADATA_ID, STAT_DOUBLE, STAT_UINT64, STAT_INT64 = 1, 2, 3, 4
STAT_STR, STAT_BYTES, STAT_REF = 5, 6, 7

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
    if not np.any(wire):  # only varints (an event's id, offset and duration): the usual round
        value, after = varints_at(data, pos)
        if np.any(after > ends):
            raise ProfileError("a field runs past the end of its message")
        return value, pos, after, after
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
    if act.size == n and n and (stop - start).min() >= 2:
        # The first round as serializers write it: every stat opens with a one-byte id.
        first = data[start + 1]
        if (data[start] == 0x08).all() and (first < 0x80).all():
            mid[:] = first
            cur += 2
            act = np.flatnonzero(cur < stop)
    while act.size:  # one round per field position: usually two (id, value)
        key = data[cur[act]]
        if np.all((key == 0x08) | (key == 0x18) | (key == 0x20) | (key == 0x38)):
            # Only ids and integer or reference values at this position: plain varints.
            val, after = varints_at(data, cur[act] + 1)
            if np.any(after > stop[act]):
                raise ProfileError("a field runs past the end of its message")
            is_id = key == 0x08
            mid[act[is_id]] = val[is_id]
            is_value = ~is_id
            kind[act[is_value]] = (key[is_value] >> 3).astype(np.int64)
            value[act[is_value]] = val[is_value]
            cur[act] = after
            act = act[after < stop[act]]
            continue
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
                  needs_stats: Optional[Callable[[np.ndarray], np.ndarray]],
                  keep: np.ndarray) -> Events:
    """Decode the XEvent bodies [start, stop).

    `needs_stats(metadata ids)` says which events' stats to decode (None: all); of those,
    only stats whose metadata id is in the sorted array `keep` are returned. An event
    whose stats are not needed is left at its first stat: serializers write fields in
    number order, so what follows is only more stats (and `num_occurrences`, which only
    aggregated, non-trace events carry).
    """
    n = len(start)
    head = np.zeros((3, n), np.uint64)  # metadata_id, offset_ps, duration_ps
    table = _id_table(keep)
    parts: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    needs = None
    # The events still being read, where each is, where each ends (compact, aligned).
    act = np.flatnonzero(start < stop)
    pos, lim = start[act], stop[act]
    first = True
    while act.size:  # one round per field position (an allocation has ~17 fields)
        key = data[pos]
        if np.all((key >= 0x08) & (key <= 0x18) & ((key & 7) == 0)):
            # Only the id, offset or duration at this position (the first rounds): one
            # varint each, stored straight into its row of `head` (last one wins).
            val, after = varints_at(data, pos + 1)
            head[(key >> 3).astype(np.intp) - 1, act] = val
            going = np.ones(len(act), dtype=bool)
        elif needs is not None and np.all(key == 0x22) and np.all(
                (length := data[np.minimum(pos + 1, len(data) - 1)]) < 0x80):
            # Only short stats left at this position (the rounds through an allocation's
            # dozen stats): no varints to decode.
            after = pos + 2 + length
            going = needs[act]
            if going.all():  # the usual case (allocations): no copies to select them
                events, body, end = act, pos + 2, after
            else:
                events, body, end = act[going], pos[going] + 2, after[going]
            kept = _may_keep(data, body, end, table)
            parts.append((events[kept], body[kept], end[kept]))
        else:
            after, going = _general_round(data, act, pos, lim, head, needs, table, parts)
        if np.any(after > lim):
            raise ProfileError("a field runs past the end of its message")
        if first and needs_stats is not None:
            # Known after the first field (the id, in serializers' order); an event that
            # starts otherwise has all its stats decoded.
            needs = needs_stats(head[0].view(np.int64))
            needs[act[key != (EVENT_METADATA_ID << 3)]] = True
        first = False
        more = going & (after < lim)
        act, pos, lim = act[more], after[more], lim[more]
    stats = decode_stats(data, *_concat(parts), keep)
    return Events(head[0].view(np.int64), head[1].view(np.int64), head[2].view(np.int64), stats)


def _general_round(data, act, pos, lim, head, needs, table, parts) -> Tuple[np.ndarray, np.ndarray]:
    """One field of each active event, of any kind; returns (positions after, still going)."""
    key = data[pos]
    if np.any(key >= 0x80):
        field, wire, pos = _keys(data, pos)
    else:  # one-byte keys (fields 1-15): the usual case
        if np.any(key < 8):
            raise ProfileError("field number 0")
        field, wire, pos = (key >> 3).astype(np.int64), (key & 7).astype(np.int64), pos + 1
    after = np.empty_like(pos)
    going = np.ones(len(act), dtype=bool)
    is_stat = (field == EVENT_STATS) & (wire == 2)
    stat = np.flatnonzero(is_stat)
    if stat.size:
        body, end = _delimited(data, pos[stat])
        after[stat] = end
        events = act[stat]
        if needs is not None:
            going[stat] = wanted = needs[events]
            events, body, end = events[wanted], body[wanted], end[wanted]
        kept = _may_keep(data, body, end, table)
        parts.append((events[kept], body[kept], end[kept]))
    rest = np.flatnonzero(~is_stat)
    if rest.size:
        val, _, _, after[rest] = _skip_field(data, pos[rest], wire[rest], lim[rest])
        _set_head(head, act[rest], field[rest], wire[rest], val)
    return after, going


def _set_head(head: np.ndarray, events: np.ndarray, field: np.ndarray, wire: np.ndarray,
              val: np.ndarray) -> None:
    """Store varint fields 1-3 (last one wins); num_occurrences clears offset_ps (a oneof)."""
    varint = wire == 0
    for row, number in enumerate((EVENT_METADATA_ID, EVENT_OFFSET_PS, EVENT_DURATION_PS)):
        sel = varint & (field == number)
        head[row, events[sel]] = val[sel]
    sel = varint & (field == EVENT_NUM_OCCURRENCES)
    head[1, events[sel]] = 0


def _delimited(data: np.ndarray, pos: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """[body start, body stop) of length-delimited payloads whose length is at `pos`."""
    n = data[pos]
    body = pos + 1
    end = body + n.astype(np.int64)
    long = np.flatnonzero(n >= 0x80)
    if long.size:
        ln, lb = varints_at(data, pos[long])
        if np.any(ln >= np.uint64(1 << 62)):
            raise ProfileError("a field runs past the end of its message")
        body[long] = lb
        end[long] = lb + ln.astype(np.int64)
    return body, end


_TABLE_IDS = 1 << 14  # stat ids below this (two-byte varints) are looked up in a table


def _id_table(keep: np.ndarray) -> np.ndarray:
    table = np.zeros(_TABLE_IDS, dtype=bool)
    table[keep[(keep >= 0) & (keep < _TABLE_IDS)]] = True
    return table


def _may_keep(data: np.ndarray, body: np.ndarray, end: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Stats worth decoding: those that start with an id in `table`, and any that do not
    start the usual way (decoded fully, filtered afterwards)."""
    if len(body) and (end - body).min() >= 2:
        ids = data[body + 1]
        if (data[body] == 0x08).all() and (ids < 0x80).all():  # one-byte ids: nearly always
            return table[ids]
    usual = np.zeros(len(body), dtype=bool)
    ids = np.zeros(len(body), dtype=np.int64)
    room = np.flatnonzero(end - body >= 3)  # key, an id of up to two bytes, more
    if room.size:
        b = body[room]
        k, b1, b2 = data[b], data[b + 1].astype(np.int64), data[b + 2].astype(np.int64)
        one = (k == 0x08) & (b1 < 0x80)
        two = (k == 0x08) & (b1 >= 0x80) & (b2 < 0x80)
        usual[room] = one | two
        ids[room] = np.where(one, b1, ((b1 & 0x7F) | (b2 << 7)) * two)
    return ~usual | table[ids]


def _concat(parts) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stat rows of all rounds, ordered by event and, within an event, by field order."""
    if not parts:
        return _EMPTY, _EMPTY, _EMPTY
    ev, s0, s1 = (np.concatenate(col) for col in zip(*parts))
    order = np.argsort(ev, kind="stable")  # rounds went field by field: stable keeps that
    return ev[order], s0[order], s1[order]


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
