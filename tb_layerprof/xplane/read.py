"""Reads a `.xplane.pb` into a ProfileEvents: the host plane's ops, steps, allocations and
eager spans, the GPU planes' kernels, XLA ops resolved through the HLO protos.

The file is memory-mapped and walked at the wire level (`wire`); each line's events are
decoded a chunk at a time into numpy columns (`columns`) and turned into records with
per-chunk array operations, so Python does little per event and never holds a parsed
XSpace (about six times the file in protobuf memory). Mapped pages are released once a
chunk is done.
"""

from __future__ import annotations

import operator
import os
from typing import Dict, List, Optional

import numpy as np

from tb_layerprof.gcpause import no_cyclic_gc
from tb_layerprof.layermap import LAYERS_LINE
from tb_layerprof.xplane import assemble, columns, hlo, kinds, wire
from tb_layerprof.xplane.records import ProfileError, ProfileEvents
from tb_layerprof.xplane.tables import OpTable

_NO_EVENTS = np.zeros(0, dtype=np.int64)
CHUNK_EVENTS = 1 << 15  # events decoded together: bounds the columns' memory (~20 MB)


def host_from_path(path: str) -> str:
    base = os.path.basename(path)
    return base[: -len(".xplane.pb")] if base.endswith(".xplane.pb") else base


def read_profile(path: str) -> ProfileEvents:
    """Load one `.xplane.pb` and flatten it (ProfileError if it is not readable)."""
    return read_mapped(path, _read)


def read_mapped(path: str, read):
    """`read(mapped file, host, path)` on the memory-mapped `path`, with the cyclic GC
    paused; every failure becomes a ProfileError that names the file."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
    with f:
        try:
            mapped = wire.Mapped(f)
        except OSError as e:
            raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
        try:
            if not mapped.size:
                raise ProfileError(f"profile {path} is empty")
            with no_cyclic_gc():
                return read(mapped, host_from_path(path), path)
        except ProfileError as e:
            if str(e).startswith("profile "):
                raise
            raise ProfileError(f"profile {path} is not a valid XSpace: {e}") from None
        except IndexError as e:
            raise ProfileError(f"profile {path} is not a valid XSpace: {e or 'truncated'}") from None
        except Exception as e:  # a structurally odd XSpace: say so, do not crash training
            raise ProfileError(f"profile {path} could not be read: {e}") from None
        finally:
            mapped.close()


def _read(mapped: wire.Mapped, host: str, path: str) -> ProfileEvents:
    buf = mapped.buf
    planes, hostnames = wire.space_layout(buf, mapped.size)
    if not planes:
        raise ProfileError(f"profile {path} holds no planes")
    out = ProfileEvents(host=host or (hostnames[0] if hostnames else ""))
    layouts = [wire.plane_layout(buf, span) for span in planes]
    # HLO protos first: XLA events on the other planes are looked up in them.
    for name, header, _ in layouts:
        if name == wire.METADATA_PLANE:
            out.hlo_ops.update(hlo.index_programs(buf, header))
    data = np.frombuffer(buf, dtype=np.uint8)
    xla = [False]  # set when an event got an XLA placeholder name
    parts = assemble.TableParts()
    try:
        for name, header, lines in ([lay for lay in layouts if lay[0] == wire.HOST_PLANE]
                                    + [lay for lay in layouts if _is_device(lay[0])]):
            plane = _Plane(buf, header, name, xla)
            for span in lines:
                line_id, timestamp_ns, records, line_name = wire.scan_line(buf, span[0], span[1])
                if not plane.wants(line_name):
                    continue
                if plane.host and line_name.startswith("tf_data"):
                    out.input_lines.add(line_id)
                out.event_count += len(records)
                starts = np.frombuffer(records, dtype=np.int64) if records else _NO_EVENTS
                _read_line(mapped, data, plane, out, parts, line_id, timestamp_ns * 1000, starts)
                del starts, records
    finally:
        del data  # the mapping cannot close while an array views it
    out.ops = parts.op_table()
    out.memory = parts.memory_table()
    if xla[0]:
        out.ops = OpTable.from_records(sorted(hlo.resolve_xla(list(out.ops), out.hlo_ops, out.xla_splits),
                                              key=_start))
        out.device_ops = hlo.resolve_xla(out.device_ops, out.hlo_ops, out.xla_splits)
    out.steps.sort(key=_start)
    out.spans.sort(key=_start)
    return out


_start = operator.itemgetter(1)


def _is_device(name: Optional[str]) -> bool:
    return bool(name) and name.startswith(wire.GPU_PLANE_PREFIX)


class _Plane:
    """What the reader needs of a plane's header: event kinds and names, stat ids.

    Event metadata become sorted lookup arrays (id -> kind, op name, op type), so a
    chunk's events are classified with one `searchsorted`.
    """

    def __init__(self, buf, header, name: str, xla: List[bool]):
        self.name = name
        self.xla = xla
        self.host = name == wire.HOST_PLANE
        self.ints: Dict[int, int] = {}  # shared int objects of allocation sizes and addresses
        self.stat_names = wire.metadata_names(buf, header, wire.PLANE_STAT_METADATA)
        self.ref_names = assemble.RefNames(self.stat_names)
        ids = {v: k for k, v in self.stat_names.items()}
        self.sid: Dict[str, Optional[int]] = {k: ids.get(n) for k, n in kinds.STATS.items()}
        present = sorted({sid for sid in self.sid.values() if sid is not None})
        self.keep = np.array(present, dtype=np.int64)
        if not self.host:
            return
        by_id = {k: kinds.classify(name)
                 for k, name in wire.metadata_names(buf, header, wire.PLANE_EVENT_METADATA).items()}
        keys = sorted(by_id)
        self.ids = np.array(keys, dtype=np.int64)
        self.kind = np.array([by_id[k][0] for k in keys] + [kinds.OTHER], dtype=np.int64)
        self.a = np.array([by_id[k][1] for k in keys] + [""], dtype=object)
        self.b = np.array([by_id[k][2] for k in keys] + [""], dtype=object)
        # op names and types as indices into the tables the OpTable keeps (one per name)
        self.op_names: Dict[str, int] = {}
        self.op_types: Dict[str, int] = {}
        self.a_id = np.array([self.op_names.setdefault(x, len(self.op_names)) for x in self.a.tolist()],
                             dtype=np.int64)
        self.b_id = np.array([self.op_types.setdefault(x, len(self.op_types)) for x in self.b.tolist()],
                             dtype=np.int64)
        wants = np.zeros(kinds.LAUNCH + 1, dtype=bool)
        wants[[kinds.ALLOC, kinds.FREE, kinds.STEP, kinds.LAUNCH, kinds.EAGER_EXEC]] = True
        # Any event of another kind may be an XLA op, known by its `hlo_op` stat.
        wants[kinds.OTHER] = self.sid["hlo_op"] is not None
        self.kind_wants_stats = wants

    def wants(self, line_name: str) -> bool:
        if self.host:
            return line_name != LAYERS_LINE  # our own line, if the analysis runs again
        return line_name.startswith("Stream #")

    def lookup(self, mid: np.ndarray) -> np.ndarray:
        """Index into `kind`/`a`/`b` of each metadata id (the last, OTHER, if unknown)."""
        at = np.searchsorted(self.ids, mid)
        at[at >= len(self.ids)] = len(self.ids)
        unknown = at == len(self.ids)
        unknown[~unknown] = self.ids[at[~unknown]] != mid[~unknown]
        at[unknown] = len(self.ids)
        return at

    def wants_stats(self, mid: np.ndarray) -> np.ndarray:
        return self.kind_wants_stats[self.kind[self.lookup(mid)]]


def _read_line(mapped: wire.Mapped, data: np.ndarray, plane: _Plane, out: ProfileEvents,
               parts: assemble.TableParts, key: int, base_ps: int, records: np.ndarray) -> None:
    """Decode one line's events (given by their record starts) a chunk at a time."""
    line = assemble.HostLine(plane, out, key, base_ps, parts) if plane.host else assemble.DeviceLine(
        plane, out, key, base_ps)
    for at in range(0, len(records), CHUNK_EVENTS):
        chunk = records[at:at + CHUNK_EVENTS]
        start, stop = columns.record_bodies(data, chunk)
        events = columns.decode_events(data, start, stop,
                                       plane.wants_stats if plane.host else None,
                                       plane.keep)
        line.add(data, mapped.buf, events)
        mapped.drop(int(chunk[0]), int(stop[-1]))
    line.finish()
