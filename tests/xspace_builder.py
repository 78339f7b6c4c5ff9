"""Builds XSpace protos by hand, with TensorFlow's own xplane_pb2 schema.

For cases a CPU-only test machine cannot produce or control precisely (exact op timings,
memory traces, GPU planes). Names follow what TensorFlow writes: host plane "/host:CPU",
op events named "op_name:OpType", step markers "train" with a `step_num` stat, allocator
events "MemoryAllocation"/"MemoryDeallocation" with `allocation_bytes`, `addr` and a
`tf_op` reference stat.
"""

from __future__ import annotations

from typing import Dict

from tensorflow.tsl.profiler.protobuf import xplane_pb2

# Stats that TensorFlow stores as references into the plane's stat metadata.
_REF_STATS = {"tf_op", "allocator_name", "region_type", "shape", "eager_op"}


class PlaneBuilder:
    def __init__(self, plane: xplane_pb2.XPlane):
        self.plane = plane
        self._event_ids: Dict[str, int] = {}
        self._stat_ids: Dict[str, int] = {}
        self._next_line = 1

    def event_id(self, name: str) -> int:
        if name not in self._event_ids:
            mid = len(self._event_ids) + 1
            self._event_ids[name] = mid
            self.plane.event_metadata[mid].id = mid
            self.plane.event_metadata[mid].name = name
        return self._event_ids[name]

    def stat_id(self, name: str) -> int:
        if name not in self._stat_ids:
            sid = len(self._stat_ids) + 1
            self._stat_ids[name] = sid
            self.plane.stat_metadata[sid].id = sid
            self.plane.stat_metadata[sid].name = name
        return self._stat_ids[name]

    def line(self, name: str, timestamp_ns: int = 0) -> "LineBuilder":
        line = self.plane.lines.add()
        line.id = self._next_line
        self._next_line += 1
        line.name = name
        line.timestamp_ns = timestamp_ns
        return LineBuilder(self, line)


class LineBuilder:
    def __init__(self, plane: PlaneBuilder, line: xplane_pb2.XLine):
        self.plane = plane
        self.line = line

    def event(self, name: str, start_ps: int, dur_ps: int = 0, **stats) -> "LineBuilder":
        ev = self.line.events.add()
        ev.metadata_id = self.plane.event_id(name)
        ev.offset_ps = start_ps
        ev.duration_ps = dur_ps
        for key, value in stats.items():
            stat = ev.stats.add()
            stat.metadata_id = self.plane.stat_id(key)
            if key in _REF_STATS:
                stat.ref_value = self.plane.stat_id(str(value))
            elif isinstance(value, str):
                stat.str_value = value
            elif isinstance(value, float):
                stat.double_value = value
            elif key in ("allocation_bytes", "addr", "requested_bytes"):
                stat.uint64_value = value
            else:
                stat.int64_value = value
        return self

    def op(self, name: str, op_type: str, start_ps: int, dur_ps: int) -> "LineBuilder":
        return self.event(f"{name}:{op_type}", start_ps, dur_ps)

    def alloc(self, tf_op: str, nbytes: int, addr: int, t_ps: int) -> "LineBuilder":
        return self.event("MemoryAllocation", t_ps, 0, allocation_bytes=nbytes, addr=addr, tf_op=tf_op)

    def free(self, tf_op: str, nbytes: int, addr: int, t_ps: int) -> "LineBuilder":
        return self.event("MemoryDeallocation", t_ps, 0, allocation_bytes=nbytes, addr=addr, tf_op=tf_op)


class XSpaceBuilder:
    def __init__(self, host: str = "testhost"):
        self.space = xplane_pb2.XSpace()
        self.space.hostnames.append(host)

    def plane(self, name: str = "/host:CPU") -> PlaneBuilder:
        plane = self.space.planes.add()
        plane.id = len(self.space.planes)
        plane.name = name
        return PlaneBuilder(plane)

    def write(self, path: str) -> str:
        with open(path, "wb") as f:
            f.write(self.space.SerializeToString())
        return path
