"""Writes an extra line of events (the "Keras Layers" spans) into a captured `.xplane.pb`."""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Set

from tb_layerprof.xplane import wire
from tb_layerprof.xplane.records import ProfileError

def add_line(path: str, line_name: str, events: Iterable, plane_names: Optional[List[str]] = None,
             line_id: int = 1) -> int:
    """Append a line of events to planes of the `.xplane.pb` at `path`; returns planes changed.

    `events` are objects with `name`, `start_ps` (since the epoch), `duration_ps` and
    `stats` (a dict of str/int/float). The file is rewritten atomically (temporary file,
    then rename); every existing plane, line and event is copied byte for byte. Works on
    the wire format: a plane's new line and metadata are encoded as a small XPlane message
    and appended to the plane's bytes (protobuf merges repeated fields and map entries),
    so the capture is never parsed whole.
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


def _copy_with_line(mapped: wire.Mapped, out, targets: Set[str], line_name: str, line_id: int,
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


def _plane_extra(buf, span, targets: Set[str], line_name: str, line_id: int, events: list) -> bytes:
    """Encoded XPlane fields (the new line and its metadata) for a target plane, else b""."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # only here: TF's proto

    name, header, _ = wire.plane_layout(buf, span)
    if name not in targets:
        return b""
    existing = xplane_pb2.XPlane.FromString(b"".join(buf[a:b] for a, b in header))
    addition = xplane_pb2.XPlane()
    ids = _NewIds(existing, addition)
    line = addition.lines.add()
    line.id = line_id
    line.display_id = line_id
    line.name = line_name
    line.display_name = line_name
    base_ps = min(ev.start_ps for ev in events)
    line.timestamp_ns = base_ps // 1000
    base_ps = line.timestamp_ns * 1000
    line.duration_ps = max(ev.start_ps + ev.duration_ps for ev in events) - base_ps
    for ev in events:
        xe = line.events.add()
        xe.metadata_id = ids.event(ev.name)
        xe.offset_ps = ev.start_ps - base_ps
        xe.duration_ps = ev.duration_ps
        for key, val in ev.stats.items():
            st = xe.stats.add()
            st.metadata_id = ids.stat(key)
            if isinstance(val, bool) or isinstance(val, int):
                st.int64_value = int(val)
            elif isinstance(val, float):
                st.double_value = val
            else:
                st.str_value = str(val)
    return addition.SerializeToString()


class _NewIds:
    """Metadata ids for the new line: existing stat names keep theirs; new names get fresh
    ids above the plane's, with their metadata added to `addition`."""

    def __init__(self, existing, addition):
        self.addition = addition
        self.stat_ids: Dict[str, int] = {md.name: sid for sid, md in existing.stat_metadata.items()}
        self.next_stat = max(list(existing.stat_metadata.keys()) + [0]) + 1
        self.next_event = max(list(existing.event_metadata.keys()) + [0]) + 1
        self.event_ids: Dict[str, int] = {}

    def stat(self, name: str) -> int:
        sid = self.stat_ids.get(name)
        if sid is None:
            sid = self.stat_ids[name] = self.next_stat
            self.next_stat += 1
            self.addition.stat_metadata[sid].id = sid
            self.addition.stat_metadata[sid].name = name
        return sid

    def event(self, name: str) -> int:
        mid = self.event_ids.get(name)
        if mid is None:
            mid = self.event_ids[name] = self.next_event
            self.next_event += 1
            md = self.addition.event_metadata[mid]
            md.id = mid
            md.name = name
            md.display_name = name
        return mid
