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
_REF_STATS = {"tf_op", "allocator_name", "region_type", "shape", "eager_op", "kernel_details",
              "hlo_op", "hlo_module", "memcpy_details"}
_UINT_STATS = {"allocation_bytes", "addr", "requested_bytes", "correlation_id", "memory_size",
               "memory_bandwidth"}


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
            elif key in _UINT_STATS:
                stat.uint64_value = value
            else:
                stat.int64_value = value
        return self

    def op(self, name: str, op_type: str, start_ps: int, dur_ps: int) -> "LineBuilder":
        return self.event(f"{name}:{op_type}", start_ps, dur_ps)

    def alloc(self, tf_op: str, nbytes: int, addr: int, t_ps: int, **stats) -> "LineBuilder":
        return self.event("MemoryAllocation", t_ps, 0, allocation_bytes=nbytes, addr=addr, tf_op=tf_op,
                          **stats)

    def free(self, tf_op: str, nbytes: int, addr: int, t_ps: int, **stats) -> "LineBuilder":
        return self.event("MemoryDeallocation", t_ps, 0, allocation_bytes=nbytes, addr=addr, tf_op=tf_op,
                          **stats)


def set_plane_stats(plane: PlaneBuilder, **stats) -> None:
    """Plane-level stats (e.g. a GPU's device capabilities)."""
    for key, value in stats.items():
        stat = plane.plane.stats.add()
        stat.metadata_id = plane.stat_id(key)
        if isinstance(value, str):
            stat.str_value = value
        elif key in _UINT_STATS:
            stat.uint64_value = value
        else:
            stat.int64_value = value


def add_hlo_module(space: xplane_pb2.XSpace, program_id: int, module_name: str,
                   instructions, fusions=None) -> None:
    """A "/host:metadata" plane holding one serialized xla.HloProto, as XLA's collector does.

    `instructions`: [(name, opcode, op_name, op_type)] of the entry computation;
    `fusions`: {fusion instruction name: [(name, opcode, op_name, op_type)]} fused bodies.
    """
    from tensorflow.compiler.xla.service import hlo_pb2

    proto = hlo_pb2.HloProto()
    module = proto.hlo_module
    module.name = module_name
    module.id = program_id
    next_id = [1]

    def add_computation(name, rows):
        comp = module.computations.add()
        comp.id = next_id[0]
        next_id[0] += 1
        comp.name = name
        for row_name, opcode, op_name, op_type in rows:
            instr = comp.instructions.add()
            instr.id = next_id[0]
            next_id[0] += 1
            instr.name = row_name
            instr.opcode = opcode
            if op_name:
                instr.metadata.op_name = op_name
                instr.metadata.op_type = op_type
        return comp

    fused = {name: add_computation(f"fused_{name}", rows) for name, rows in (fusions or {}).items()}
    entry = add_computation("main", instructions)
    for instr in entry.instructions:
        if instr.name in fused:
            instr.called_computation_ids.append(fused[instr.name].id)
    module.entry_computation_id = entry.id

    plane = space.planes.add()
    plane.name = "/host:metadata"
    md = plane.event_metadata[program_id]
    md.id = program_id
    md.name = f"{module_name}({program_id})"
    plane.stat_metadata[1].id = 1
    plane.stat_metadata[1].name = "Hlo Proto"
    stat = md.stats.add()
    stat.metadata_id = 1
    stat.bytes_value = proto.SerializeToString()


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
