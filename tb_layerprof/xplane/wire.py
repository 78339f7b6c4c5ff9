"""Protobuf wire-format reading of `.xplane.pb` files: varints, fields, lines, mapped pages.

No TensorFlow and no generated proto modules: the few XSpace field numbers the reader
walks are written here (a test checks them against TensorFlow's schema).
"""

from __future__ import annotations

import array
import mmap
from typing import Dict, Iterator, List, Optional, Tuple

from tb_layerprof.xplane.records import ProfileError

# Plane names TensorFlow and XLA write.
HOST_PLANE = "/host:CPU"
METADATA_PLANE = "/host:metadata"
GPU_PLANE_PREFIX = "/device:GPU:"

# The schema's field numbers (checked against TensorFlow's descriptors in the tests).
SPACE_PLANES, SPACE_HOSTNAMES = 1, 4
PLANE_NAME, PLANE_LINES, PLANE_EVENT_METADATA, PLANE_STAT_METADATA = 2, 3, 4, 5
LINE_ID, LINE_NAME, LINE_TIMESTAMP, LINE_EVENTS = 1, 2, 3, 4

BATCH_BYTES = 1 << 20  # events are handed on in runs of about this many bytes
DROP_EVERY = 4 << 20  # release mapped pages after scanning this many bytes

Range = Tuple[int, int]


def varint(buf, pos: int) -> Tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProfileError("varint too long")


def fields(buf, pos: int, end: int) -> Iterator[Tuple[int, int, int, object, int]]:
    """Yield (field number, wire type, record start, value, record end) in [pos, end).

    value: the integer for varints, the (start, stop) range for length-delimited fields,
    None for fixed-width ones.
    """
    while pos < end:
        record = pos
        key, pos = varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ProfileError("field number 0")
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            n, pos = varint(buf, pos)
            value = (pos, pos + n)
            pos += n
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ProfileError(f"unsupported wire type {wire}")
        if pos > end:
            raise ProfileError("a field runs past the end of its message")
        yield field, wire, record, value, pos


def signed(v: int) -> int:
    """A varint read as int64 (negative numbers are 10-byte two's complement)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def text(buf, span: Range) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Mapped:
    """The file's bytes: memory-mapped when possible, with a way to release used pages."""

    def __init__(self, f):
        self.map = None
        try:
            self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self.buf = self.map
        except (OSError, ValueError):
            self.buf = f.read()
        self.size = len(self.buf)
        self._can_drop = self.map is not None and hasattr(self.map, "madvise") and hasattr(
            mmap, "MADV_DONTNEED")

    def drop(self, start: int, stop: int) -> None:
        """Tell the kernel we are done with [start, stop) (it stays in the page cache)."""
        if not self._can_drop:
            return
        page = mmap.PAGESIZE
        a = start - start % page
        b = min(self.size, stop)
        if b > a:
            try:
                self.map.madvise(mmap.MADV_DONTNEED, a, b - a)
            except (OSError, ValueError):
                self._can_drop = False

    def close(self) -> None:
        if self.map is not None:
            try:
                self.map.close()
            except BufferError:  # a traceback still holds an array over it: the GC closes it
                pass


def space_layout(buf, size: int) -> Tuple[List[Range], List[str]]:
    """The byte ranges of an XSpace's planes, and its hostnames."""
    planes: List[Range] = []
    hostnames: List[str] = []
    for field, wire, _, value, _ in fields(buf, 0, size):
        if wire != 2:
            continue
        if field == SPACE_PLANES:
            planes.append(value)
        elif field == SPACE_HOSTNAMES:
            hostnames.append(text(buf, value))
    return planes, hostnames


def plane_layout(buf, span: Range) -> Tuple[Optional[str], List[Range], List[Range]]:
    """A plane's name, the records of its header (all but the lines) and its lines' ranges."""
    name = None
    lines: List[Range] = []
    header: List[Range] = []
    for field, wire, record, value, nxt in fields(buf, span[0], span[1]):
        if field == PLANE_LINES and wire == 2:
            lines.append(value)
            continue
        if field == PLANE_NAME and wire == 2:
            name = text(buf, value)
        header.append((record, nxt))
    return name, header, lines


def scan_line(buf, start: int, end: int) -> Tuple[int, int, array.array, str]:
    """Line id, timestamp_ns, the start of each event record (its key byte; an array of
    int64, 8 bytes an event), name."""
    line_id = timestamp_ns = 0
    line_name = ""
    records = array.array("q")
    add = records.append
    pos = start
    # Measured hot loop (one pass per event record, ~0.15 s for 560k events): a line is
    # mostly events, so they get an inlined fast path and every other field goes
    # through `fields` one at a time.
    while pos < end:
        if buf[pos] == 0x22:  # field 4 (events), length-delimited: one XEvent
            add(pos)
            n = buf[pos + 1]
            if n < 0x80:
                pos += 2 + n
            else:
                n2 = buf[pos + 2]
                if n2 < 0x80:  # two-byte length: an allocation's event (~150 bytes)
                    pos += 3 + ((n & 0x7F) | (n2 << 7))
                else:
                    n, pos = varint(buf, pos + 1)
                    pos += n
            continue
        for field, wire, _, value, nxt in fields(buf, pos, end):
            if wire == 0 and field == LINE_ID:
                line_id = signed(value)
            elif wire == 0 and field == LINE_TIMESTAMP:
                timestamp_ns = signed(value)
            elif wire == 2 and field == LINE_NAME:
                line_name = text(buf, value)
            pos = nxt
            break  # one field at a time: back to the fast path for events
    if pos != end:
        raise ProfileError("an event runs past the end of its line")
    return line_id, timestamp_ns, records, line_name


def metadata_names(buf, records: List[Range], field: int) -> Dict[int, str]:
    """Map key -> `name` of the entries of a map<int64, XEventMetadata or XStatMetadata>
    field among a plane's header `records` (the last entry of a key wins, as in protobuf).
    """
    names: Dict[int, str] = {}
    want = (field << 3) | 2
    for record, stop in records:
        if buf[record] != want:
            continue
        n, body = varint(buf, record + 1)
        end = body + n
        found = _usual_entry(buf, body, end)
        if found is not None:
            names[found[0]] = found[1]
            continue
        key, value = _entry(buf, body, end)
        names[key] = _name(buf, value) if value is not None else ""
    return names


def _usual_entry(buf, body: int, end: int) -> Optional[Tuple[int, str]]:
    """(key, name) of a map entry laid out as serializers write it (key, then the value
    metadata: its id, then its name, then fields other than a name), or None for any other
    layout (the general path reads it)."""
    if buf[body] != 0x08:
        return None
    key, pos = varint(buf, body + 1)
    if pos >= end or buf[pos] != 0x12:
        return None
    n, value = varint(buf, pos + 1)
    if value + n != end or value >= end or buf[value] != 0x08:
        return None
    _, pos = varint(buf, value + 1)
    if pos >= end or buf[pos] != 0x12:
        return None
    length, start = varint(buf, pos + 1)
    stop = start + length
    if stop > end:
        return None
    for f, _, _, _, _ in fields(buf, stop, end):  # display_name, stats...: but a later name wins
        if f == 2:
            return None
    return signed(key), bytes(buf[start:stop]).decode("utf-8", "replace")


def _entry(buf, start: int, stop: int) -> Tuple[int, Optional[Range]]:
    key, value = 0, None
    for f, w, _, v, _ in fields(buf, start, stop):
        if f == 1 and w == 0:
            key = signed(v)
        elif f == 2 and w == 2:
            value = v
    return key, value


def _name(buf, body: Range) -> str:
    name = ""
    for f, w, _, v, _ in fields(buf, body[0], body[1]):
        if f == 2 and w == 2:
            name = text(buf, v)
    return name


# XStat and XEventMetadata fields read from plane headers (the events' stats are decoded
# in bulk by `columns`); the same numbers as `columns.STAT_*`.
STAT_ID, STAT_DOUBLE, STAT_UINT64, STAT_INT64, STAT_STR, STAT_BYTES, STAT_REF = 1, 2, 3, 4, 5, 6, 7
PLANE_STATS = 6
EVENT_METADATA_ID, EVENT_METADATA_NAME, EVENT_METADATA_STATS = 1, 2, 5


def stat(buf, span: Range) -> Tuple[int, int, object]:
    """(metadata id, value field, value) of one XStat message: the value an int (uint64,
    int64, ref id), a float, a str or bytes; field 0 and None when it holds none."""
    import struct

    sid, kind, value = 0, 0, None
    for f, w, _, v, nxt in fields(buf, span[0], span[1]):
        if f == STAT_ID and w == 0:
            sid = signed(v)
        elif f == STAT_DOUBLE and w == 1:
            kind, value = f, struct.unpack("<d", bytes(buf[nxt - 8:nxt]))[0]
        elif f in (STAT_UINT64, STAT_REF) and w == 0:
            kind, value = f, v
        elif f == STAT_INT64 and w == 0:
            kind, value = f, signed(v)
        elif f == STAT_STR and w == 2:
            kind, value = f, text(buf, v)
        elif f == STAT_BYTES and w == 2:
            kind, value = f, bytes(buf[v[0]:v[1]])
    return sid, kind, value


def plane_stats(buf, header: List[Range]) -> List[Tuple[int, int, object]]:
    """The plane's own stats (`XPlane.stats`) among its header records, as `stat` gives them."""
    out = []
    for record, stop in header:
        for f, w, _, v, _ in fields(buf, record, stop):
            if f == PLANE_STATS and w == 2:
                out.append(stat(buf, v))
    return out


def event_metadata(buf, header: List[Range]) -> Iterator[Tuple[int, str, List[Tuple[int, int, object]]]]:
    """(id, name, stats) of each XEventMetadata among a plane's header records (the last
    entry of a key wins, as in protobuf)."""
    found: Dict[int, Tuple[str, list]] = {}
    for record, stop in header:
        if buf[record] != (PLANE_EVENT_METADATA << 3) | 2:
            continue
        n, body = varint(buf, record + 1)
        key, value = _entry(buf, body, body + n)
        name, stats = "", []
        for f, w, _, v, _ in fields(buf, *value) if value is not None else ():
            if f == EVENT_METADATA_NAME and w == 2:
                name = text(buf, v)
            elif f == EVENT_METADATA_STATS and w == 2:
                stats.append(stat(buf, v))
        found[key] = (name, stats)
    for key, (name, stats) in found.items():
        yield key, name, stats
