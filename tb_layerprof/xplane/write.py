"""Writes an extra line of events (the "Keras Layers" spans) into a captured `.xplane.pb`."""

from __future__ import annotations

import os
import struct
from typing import Dict, Iterable, List, Optional, Set, Tuple

from tb_layerprof.xplane import wire
from tb_layerprof.xplane.records import ProfileError

def add_line(path: str, line_name: str, events: Iterable, plane_names: Optional[List[str]] = None,
             line_id: Optional[int] = 1) -> int:
    """Append a line of events to planes of the `.xplane.pb` at `path`; returns planes changed.

    `events` are objects with `name`, `start_ps` (since the epoch), `duration_ps` and
    `stats` (a dict of str/int/float). The file is rewritten atomically (temporary file,
    then rename); every existing plane, line and event is copied byte for byte. Works on
    the wire format: a plane's new line and metadata are encoded as a small XPlane message
    and appended to the plane's bytes (protobuf merges repeated fields and map entries),
    so the capture is never parsed whole. `line_id` None: one above the plane's line ids.
    """
    events = list(events)
    if not events:
        return 0
    targets = set(plane_names or [wire.HOST_PLANE])
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
    tmp = f"{path}.layerprof-tmp"
    with f:
        mapped = wire.Mapped(f)
        try:
            with open(tmp, "wb") as out:
                changed = _copy_with_line(mapped, out, targets, line_name, line_id, events)
        except ProfileError:
            _remove_quietly(tmp)
            raise
        except (IndexError, ValueError, OSError) as e:
            _remove_quietly(tmp)
            raise ProfileError(f"could not add a line to {path}: {e}") from None
        finally:
            mapped.close()
    if changed:
        os.replace(tmp, path)
    else:
        _remove_quietly(tmp)
    return changed


def _copy_with_line(mapped: wire.Mapped, out, targets: Set[str], line_name: str, line_id: Optional[int],
                    events: list) -> int:
    """Copy the XSpace to `out`, the new line appended to each target plane; planes changed."""
    buf = mapped.buf
    changed = 0
    for field, wt, record, value, nxt in wire.fields(buf, 0, mapped.size):
        if field == wire.SPACE_PLANES and wt == 2:
            extra = _plane_extra(buf, value, targets, line_name, line_id, events)
            if extra:
                body_len = value[1] - value[0] + len(extra)
                out.write(wire.encode_varint((wire.SPACE_PLANES << 3) | 2))
                out.write(wire.encode_varint(body_len))
                _copy_range(mapped, out, value[0], value[1])
                out.write(extra)
                changed += 1
                continue
        _copy_range(mapped, out, record, nxt)
    return changed


def _copy_range(mapped: wire.Mapped, out, start: int, stop: int) -> None:
    """Write bytes [start, stop) of the mapped file to `out` in batches, releasing pages."""
    pos = start
    while pos < stop:
        nxt = min(stop, pos + wire.BATCH_BYTES)
        out.write(mapped.buf[pos:nxt])
        mapped.drop(pos, nxt)
        pos = nxt


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _plane_extra(buf, span, targets: Set[str], line_name: str, line_id: Optional[int],
                 events: list) -> bytes:
    """Encoded XPlane fields (the new line and its metadata) for a target plane, else b"".

    Encoded here at the wire level (no TensorFlow): the XPlane fields `lines` (3),
    `event_metadata` (4) and `stat_metadata` (5), with proto3's rules (zero scalars left
    out, a set oneof member written even when zero)."""
    name, header, lines = wire.plane_layout(buf, span)
    if name not in targets:
        return b""
    if line_id is None:  # one above the plane's own lines
        line_id = max([_line_id(buf, ln) for ln in lines] + [0]) + 1
    ids = _NewIds(wire.metadata_names(buf, header, wire.PLANE_STAT_METADATA),
                  wire.metadata_names(buf, header, wire.PLANE_EVENT_METADATA))
    base_ps = min(ev.start_ps for ev in events)
    timestamp_ns = base_ps // 1000
    base_ps = timestamp_ns * 1000
    duration_ps = max(ev.start_ps + ev.duration_ps for ev in events) - base_ps
    body = [_int(_LINE_ID, line_id), _text(_LINE_NAME, line_name), _int(_LINE_TIMESTAMP, timestamp_ns)]
    for ev in events:
        fields = [_int(_EVENT_METADATA_ID, ids.event(ev.name)),
                  _int(_EVENT_OFFSET, ev.start_ps - base_ps, always=True),
                  _int(_EVENT_DURATION, max(0, ev.duration_ps))]
        for key, val in ev.stats.items():
            fields.append(_message(_EVENT_STATS, _int(_STAT_ID, ids.stat(key)) + _stat_value(val)))
        body.append(_message(_LINE_EVENTS, b"".join(fields)))
    body += [_int(_LINE_DURATION, duration_ps), _int(_LINE_DISPLAY_ID, line_id),
             _text(_LINE_DISPLAY_NAME, line_name)]
    out = [_message(wire.PLANE_LINES, b"".join(body))]
    for mid, event_name in ids.new_events:
        md = _int(1, mid) + _text(2, event_name) + _text(4, event_name)  # id, name, display_name
        out.append(_message(wire.PLANE_EVENT_METADATA, _int(1, mid) + _message(2, md)))
    for sid, stat_name in ids.new_stats:
        md = _int(1, sid) + _text(2, stat_name)  # id, name
        out.append(_message(wire.PLANE_STAT_METADATA, _int(1, sid) + _message(2, md)))
    return b"".join(out)


# XLine, XEvent and XStat field numbers written (tsl's xplane.proto).
_LINE_ID, _LINE_NAME, _LINE_TIMESTAMP, _LINE_EVENTS = 1, 2, 3, 4
_LINE_DURATION, _LINE_DISPLAY_ID, _LINE_DISPLAY_NAME = 9, 10, 11
_EVENT_METADATA_ID, _EVENT_OFFSET, _EVENT_DURATION, _EVENT_STATS = 1, 2, 3, 4
_STAT_ID, _STAT_DOUBLE, _STAT_INT64, _STAT_STR = 1, 2, 4, 5


def _line_id(buf, span) -> int:
    for field, wt, _, value, _ in wire.fields(buf, span[0], span[1]):
        if field == wire.LINE_ID and wt == 0:
            return wire.signed(value)
    return 0


def _int(field: int, value: int, always: bool = False) -> bytes:
    if not value and not always:
        return b""
    return wire.encode_varint(field << 3) + wire.encode_varint(value & ((1 << 64) - 1))


def _text(field: int, value: str) -> bytes:
    return _message(field, value.encode("utf-8")) if value else b""


def _message(field: int, body: bytes) -> bytes:
    return wire.encode_varint((field << 3) | 2) + wire.encode_varint(len(body)) + body


def _stat_value(val) -> bytes:
    if isinstance(val, bool) or isinstance(val, int):
        return _int(_STAT_INT64, int(val), always=True)
    if isinstance(val, float):
        return wire.encode_varint((_STAT_DOUBLE << 3) | 1) + struct.pack("<d", val)
    return _message(_STAT_STR, str(val).encode("utf-8"))


class _NewIds:
    """Metadata ids for the new line: existing stat names keep theirs; new names get fresh
    ids above the plane's, listed in `new_stats` / `new_events` for the plane's maps."""

    def __init__(self, stat_names: Dict[int, str], event_names: Dict[int, str]):
        self.stat_ids: Dict[str, int] = {name: sid for sid, name in stat_names.items()}
        self.next_stat = max(list(stat_names) + [0]) + 1
        self.next_event = max(list(event_names) + [0]) + 1
        self.event_ids: Dict[str, int] = {}
        self.new_stats: List[Tuple[int, str]] = []
        self.new_events: List[Tuple[int, str]] = []

    def stat(self, name: str) -> int:
        sid = self.stat_ids.get(name)
        if sid is None:
            sid = self.stat_ids[name] = self.next_stat
            self.next_stat += 1
            self.new_stats.append((sid, name))
        return sid

    def event(self, name: str) -> int:
        mid = self.event_ids.get(name)
        if mid is None:
            mid = self.event_ids[name] = self.next_event
            self.next_event += 1
            self.new_events.append((mid, name))
        return mid
