"""Reads the XLA executions of a capture: step markers, every event with an `hlo_op` stat
(XLA CPU thunks on the host plane, GPU kernels and copies) and the HLO programs that ran,
as an XlaEvents. The JAX path's reading; the same wire walking and column decoding as
`read.read_profile`, with records kept per HLO instruction instead of per TF op.
"""

from __future__ import annotations

from typing import List

import numpy as np

from tb_layerprof.layermap import STEP_EVENT_NAME
from tb_layerprof.xplane import assemble, columns, hlo, wire
from tb_layerprof.xplane.read import CHUNK_EVENTS, read_mapped
from tb_layerprof.xplane.records import ProfileError, Step, XlaEvents, XlaOp

_STATS = ("hlo_op", "program_id", "hlo_module", "run_id", "step_num")


def read_xla(path: str) -> XlaEvents:
    """Load one `.xplane.pb` (ProfileError with a clear message if it is not readable)."""
    return read_mapped(path, _read)


def _read(mapped: wire.Mapped, host: str, path: str) -> XlaEvents:
    buf = mapped.buf
    planes, _ = wire.space_layout(buf, mapped.size)
    if not planes:
        raise ProfileError(f"profile {path} holds no planes")
    out = XlaEvents(host=host)
    data = np.frombuffer(buf, dtype=np.uint8)
    try:
        for span in planes:
            name, header, lines = wire.plane_layout(buf, span)
            if name == wire.METADATA_PLANE:
                _programs(buf, header, out)
            elif name == wire.HOST_PLANE or (name or "").startswith(wire.GPU_PLANE_PREFIX):
                _Plane(buf, data, name, header, out).read(lines)
    finally:
        del data  # the mapping cannot close while an array views it
    out.steps.sort(key=lambda s: s[1])
    out.thunks.sort(key=lambda t: t.start_ps)
    return out


def _programs(buf, header, out: XlaEvents) -> None:
    for program in hlo.programs(buf, header):
        program_id, label = program.program_id or program.metadata_id, program.name
        # The event name is "<module>(<program id>)": the id the thunks' stats carry.
        if label.endswith(")") and "(" in label:
            head, _, tail = label[:-1].rpartition("(")
            if tail.isdigit():
                program_id, label = int(tail), head
        out.programs[program_id] = (label, program.blob)


class _Plane:
    def __init__(self, buf, data: np.ndarray, name: str, header, out: XlaEvents):
        self.buf, self.data, self.name, self.out = buf, data, name, out
        self.device = name.startswith(wire.GPU_PLANE_PREFIX)
        stat_names = wire.metadata_names(buf, header, wire.PLANE_STAT_METADATA)
        self.refs = assemble.RefNames(stat_names)
        ids = {v: k for k, v in stat_names.items()}
        self.sid = {s: ids.get(s) for s in _STATS}
        self.keep = np.array(sorted({i for i in self.sid.values() if i is not None}), dtype=np.int64)
        self.event_names = wire.metadata_names(buf, header, wire.PLANE_EVENT_METADATA)
        if self.device:
            out.device_planes.append(name)
            for sid, kind, value in wire.plane_stats(buf, header):  # memory_bandwidth, ...
                stat = stat_names.get(sid, "")
                if kind in (wire.STAT_DOUBLE, wire.STAT_UINT64, wire.STAT_INT64) and "memory" in stat:
                    out.memory[f"{name}:{stat}"] = float(value)

    def read(self, lines) -> None:
        for span in lines:
            line_id, timestamp_ns, records, _ = wire.scan_line(self.buf, span[0], span[1])
            self.out.event_count += len(records)
            starts = np.frombuffer(records, dtype=np.int64) if records else None
            ops: List[tuple] = []
            for at in range(0, len(records), CHUNK_EVENTS):
                chunk = starts[at:at + CHUNK_EVENTS]
                start, stop = columns.record_bodies(self.data, chunk)
                events = columns.decode_events(self.data, start, stop, None, self.keep)
                ops += self._events(events, timestamp_ns * 1000)
            del starts, records
            key = f"{self.name}/{line_id}"
            ops.sort(key=lambda op: (op[0], -op[1]))
            selfs = assemble.nested_self_times([op[0] for op in ops], [op[1] - op[0] for op in ops])
            self.out.thunks += [XlaOp(key, s, e, max(0, own), *rest)
                                for (s, e, *rest), own in zip(ops, selfs.tolist())]

    def _events(self, events: columns.Events, base_ps: int) -> List[tuple]:
        """(start, end, program id, hlo_op, module, run id, device) of the chunk's XLA ops;
        step markers go to `out.steps`."""
        stats, n, sid = events.stats, len(events.metadata_id), self.sid

        def values(name: str, ints: bool) -> list:
            rows = columns.last_rows(stats, sid[name], n)
            if ints:
                return assemble.int_values(stats, rows)
            return assemble.any_values(stats, rows, self.buf, self.refs)

        has_hlo = columns.last_rows(stats, sid["hlo_op"], n) >= 0
        has_step = columns.last_rows(stats, sid["step_num"], n) >= 0
        hlo_ops, modules = values("hlo_op", False), values("hlo_module", False)
        programs, runs, step_nums = values("program_id", True), values("run_id", True), values("step_num", True)
        names = self.event_names
        out: List[tuple] = []
        for i, (mid, offset, dur) in enumerate(zip(events.metadata_id.tolist(), events.offset_ps.tolist(),
                                                   events.duration_ps.tolist())):
            start = base_ps + offset
            if has_step[i] and names.get(mid) == STEP_EVENT_NAME:
                self.out.steps.append(Step(step_nums[i], start, start + dur))
                continue
            if has_hlo[i]:
                hlo_op = str(hlo_ops[i])
            elif self.device and dur > 0:
                # A GPU kernel or copy without the hlo_op annotation: kept under its own
                # name (the analysis matches kernel names to instructions, else it is
                # unattributed): device time must never silently vanish.
                hlo_op = names.get(mid, "")
            else:
                continue
            out.append((start, start + dur, programs[i], hlo_op, str(modules[i]), runs[i], self.device))
        return out
