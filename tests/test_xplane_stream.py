"""The wire-level reader (`xplane.read_profile`) against the reference reader
(tests/xplane_reference.py: the whole XSpace parsed with TensorFlow's proto classes).

`read_profile` walks the wire format itself and decodes events in numpy chunks; it must
give exactly what the reference gives, whatever the layout of the file.
"""

from __future__ import annotations

import pytest

from tb_layerprof import xplane
from tb_layerprof.xplane import columns, read, wire
from tests import xplane_reference
from tests.xspace_builder import XSpaceBuilder, add_hlo_module

US = 1_000_000

FIELDS = ("host", "ops", "steps", "memory", "spans", "event_count", "device_ops", "launches",
          "xla_splits", "hlo_ops", "input_lines")


def both(path):
    streamed = xplane.read_profile(path)
    parsed = xplane_reference.extract_events(xplane_reference.load_xspace(path),
                                             host=xplane_reference.host_from_path(path))
    return streamed, parsed


def assert_same(a, b):
    for field in FIELDS:
        assert getattr(a, field) == getattr(b, field), field
    # Same record types too, not only equal tuples.
    for field in ("ops", "steps", "memory", "spans", "device_ops"):
        assert [type(r) for r in getattr(a, field)] == [type(r) for r in getattr(b, field)], field


def test_field_numbers_match_tensorflow_schema():
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    def num(msg, name):
        return msg.DESCRIPTOR.fields_by_name[name].number

    space, plane, line = xplane_pb2.XSpace, xplane_pb2.XPlane, xplane_pb2.XLine
    event, stat = xplane_pb2.XEvent, xplane_pb2.XStat
    assert (num(space, "planes"), num(space, "hostnames")) == (wire.SPACE_PLANES, wire.SPACE_HOSTNAMES)
    assert (num(plane, "name"), num(plane, "lines"), num(plane, "event_metadata"),
            num(plane, "stat_metadata")) == (wire.PLANE_NAME, wire.PLANE_LINES,
                                             wire.PLANE_EVENT_METADATA, wire.PLANE_STAT_METADATA)
    assert (num(line, "id"), num(line, "name"), num(line, "timestamp_ns"), num(line, "events")) == (
        wire.LINE_ID, wire.LINE_NAME, wire.LINE_TIMESTAMP, wire.LINE_EVENTS)
    assert num(xplane_pb2.XEventMetadata, "name") == 2 and num(xplane_pb2.XStatMetadata, "name") == 2
    assert (num(event, "metadata_id"), num(event, "offset_ps"), num(event, "duration_ps"),
            num(event, "stats"), num(event, "num_occurrences")) == (
        columns.EVENT_METADATA_ID, columns.EVENT_OFFSET_PS, columns.EVENT_DURATION_PS,
        columns.EVENT_STATS, columns.EVENT_NUM_OCCURRENCES)
    assert (num(stat, "metadata_id"), num(stat, "double_value"), num(stat, "uint64_value"),
            num(stat, "int64_value"), num(stat, "str_value"), num(stat, "bytes_value"),
            num(stat, "ref_value")) == (
        columns.STAT_METADATA_ID, columns.STAT_DOUBLE, columns.STAT_UINT64, columns.STAT_INT64,
        columns.STAT_STR, columns.STAT_BYTES, columns.STAT_REF)


def test_mixed_memory_layouts_nesting_steps_and_other_planes(tmp_path):
    b = XSpaceBuilder()
    b.plane("/device:GPU:0").line("stream").op("gpu_op", "MatMul", 0, 5 * US)  # not read
    plane = b.plane()
    other = plane.line("tf_Compute", timestamp_ns=1_700_000_000_000_000_000)
    other.event("train", 0, 100 * US, step_num=7)
    other.op("model/dense/MatMul", "MatMul", 1 * US, 10 * US)
    other.op("model/dense/inner", "Mul", 2 * US, 3 * US)  # nested: parent self time shrinks
    other.event("ExecutorDoneCallback", 3 * US, 1 * US)  # ignored kind
    other.alloc("model/dense/MatMul", 256, 0x1000, 4 * US)
    other.free("model/dense/MatMul", 256, 0x1000, 5 * US)  # a free that names its op
    # Allocations whose stats come in another order, with extra stats, without tf_op.
    other.event("MemoryAllocation", 6 * US, 0, requested_bytes=8, addr=0x2000, allocation_bytes=64,
                tf_op="model/dense/inner", peak_bytes_in_use=1)
    other.event("MemoryAllocation", 7 * US, 0, allocation_bytes=32, addr=0x3000)
    other.event("MemoryDeallocation", 8 * US, 0, allocation_bytes=64, addr=0x2000)
    other.event("MemoryDeallocation", 9 * US, 0, addr=0x3000, allocation_bytes=32, region_type="x")
    other.event("MemoryAllocation", 10 * US, 0, allocation_bytes=16, addr=0x4000,
                tf_op="model/dense/MatMul")
    second = plane.line("tf_Compute_2", timestamp_ns=1_700_000_000_000_001_000)
    second.op("model/other/Relu", "Relu", 0, 2 * US)
    second.alloc("model/other/Relu", 1 << 40, (1 << 63) + 5, 1 * US)  # big values
    path = b.write(str(tmp_path / "mixed.xplane.pb"))
    streamed, parsed = both(path)
    assert_same(streamed, parsed)
    assert len(streamed.memory) == 8
    tf_ops = [m[4] for m in streamed.memory]
    assert tf_ops.count("model/dense/MatMul") == 3 and "model/dense/inner" in tf_ops
    assert streamed.host == "mixed"


def test_eager_spans_and_eager_execute(tmp_path):
    b = XSpaceBuilder()
    py = b.plane().line("python")
    py.event("train", 0, 100 * US, step_num=1)
    py.event("layerprof:block", 10 * US, 50 * US)
    py.event("layerprof_cat:loss_us", 60 * US, 5 * US)
    py.event("EagerExecute", 12 * US, 3 * US, eager_op="Relu", is_func=0)
    py.event("EagerExecute", 20 * US, 3 * US, eager_op="__inference_f", is_func=1)
    path = b.write(str(tmp_path / "eager.xplane.pb"))
    streamed, parsed = both(path)
    assert_same(streamed, parsed)
    assert [s[4] for s in streamed.spans] == ["forward", "category"]
    assert [op[4] for op in streamed.ops] == ["eager/Relu"]  # a function call is not an op


def test_many_batches_and_line_fields_after_events(tmp_path, monkeypatch):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    b = XSpaceBuilder()
    plane = b.plane()
    line = plane.line("tf_Compute", timestamp_ns=0)
    for i in range(3000):
        line.op(f"model/layer_{i % 7}/op_{i}", "Mul", i * 10 * US, 5 * US)
        line.alloc(f"model/layer_{i % 7}/op_{i}", 64 + i, 0x1000 + i, i * 10 * US + 1)
    # Put the line's id and timestamp after its events (legal wire order) by merging a
    # second serialized XLine into the first.
    lines = plane.plane.lines
    events_only = xplane_pb2.XLine()
    events_only.events.extend(lines[0].events)
    tail = xplane_pb2.XLine(id=42, timestamp_ns=1_700_000_000_000_000_000, name="late")
    merged_line = events_only.SerializeToString() + tail.SerializeToString()
    del lines[:]
    plane_bytes = plane.plane.SerializeToString()
    line_record = bytes([0x1A]) + _varint(len(merged_line)) + merged_line  # field 3 (lines)
    plane_bytes += line_record
    space = xplane_pb2.XSpace()
    space.hostnames.append("h")
    space_bytes = space.SerializeToString() + bytes([0x0A]) + _varint(len(plane_bytes)) + plane_bytes
    path = tmp_path / "late.xplane.pb"
    path.write_bytes(space_bytes)
    monkeypatch.setattr(read, "CHUNK_EVENTS", 7)  # many small chunks, one cut mid-pair
    streamed, parsed = both(str(path))
    assert_same(streamed, parsed)
    assert len(streamed.ops) == 3000 and streamed.ops[0][0] == 42
    assert streamed.ops[0][1] == 1_700_000_000_000_000_000 * 1000


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@pytest.mark.parametrize("cut", [1, 7, 100, -3])
def test_truncated_profile_raises_profile_error(tmp_path, cut):
    b = XSpaceBuilder()
    line = b.plane().line("tf_Compute")
    for i in range(50):
        line.op(f"op_{i}", "Mul", i * US, US)
    data = b.space.SerializeToString()
    path = tmp_path / "cut.xplane.pb"
    path.write_bytes(data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(xplane.ProfileError, match="profile "):
        xplane.read_profile(str(path))


def test_no_planes(tmp_path):
    b = XSpaceBuilder()
    path = b.write(str(tmp_path / "none.xplane.pb"))
    with pytest.raises(xplane.ProfileError, match="holds no planes"):
        xplane.read_profile(path)


def test_records_have_named_fields_in_the_old_positional_order(tmp_path):
    b = XSpaceBuilder()
    line = b.plane().line("tf_Compute")
    line.event("train", 0, 10 * US, step_num=3)
    line.op("model/dense/MatMul", "MatMul", 1 * US, 2 * US)
    line.alloc("model/dense/MatMul", 64, 0x10, 2 * US, allocator_name="cpu")
    events = xplane.read_profile(b.write(str(tmp_path / "named.xplane.pb")))
    op, mem, step = events.ops[0], events.memory[0], events.steps[0]
    assert (op.name, op.type, op.self_ps) == (op[4], op[5], op[3])
    assert (op.name, op.type, op.self_ps) == ("model/dense/MatMul", "MatMul", 2 * US)
    assert (mem.sign, mem.bytes, mem.address, mem.tf_op, mem.allocator) == (
        1, 64, 0x10, "model/dense/MatMul", "cpu")
    assert step == (3, 0, 10 * US) and step.step == 3


def _record(field: int, body: bytes) -> bytes:
    return bytes([(field << 3) | 2]) + _varint(len(body)) + body


def test_odd_but_legal_encodings(tmp_path, monkeypatch):
    """Fields out of order, unknown fields, repeated scalars (last wins), stat types the
    writer does not use (str instead of ref, negative int64, doubles), unknown metadata
    ids, num_occurrences clearing offset_ps, an XLA op on the host plane."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    b = XSpaceBuilder()
    plane = b.plane()
    pb = plane.plane
    sid = plane.stat_id
    ok = plane.line("tf_Compute", timestamp_ns=1_000)
    ok.event("train", 0, 50 * US, step_num=-2)  # a negative int64
    ok.event("MemoryAllocation", 1 * US, 0, allocation_bytes=8, addr=0x20, tf_op="a/b",
             allocator_name="gpu_bfc")
    ok.event("fusion.3", 2 * US, 4 * US, hlo_op="fusion.3", program_id=9)
    add_hlo_module(b.space, 9, "cluster_9", [("fusion.3", "fusion", "", "")],
                   fusions={"fusion.3": [("mul", "multiply", "m/d/Mul", "Mul"),
                                         ("add", "add", "m/d/Add", "AddV2"),
                                         ("add2", "add", "m/d/Add", "AddV2")]})
    odd = []
    alloc_id, op_id = plane.event_id("MemoryAllocation"), plane.event_id("m/x/Relu:Relu")
    # An allocation whose stats come first, tf_op as a str, sizes repeated (last wins), an
    # unknown stat type (double) for the address, then the id and times.
    stats = xplane_pb2.XEvent()
    for key, kind, value in (("tf_op", "str_value", "m/x/Relu"), ("allocation_bytes", "uint64_value", 1),
                             ("allocation_bytes", "int64_value", 48), ("addr", "double_value", 2.5),
                             ("allocator_name", "str_value", "cpu")):
        st = stats.stats.add(metadata_id=sid(key))
        setattr(st, kind, value)
    head = xplane_pb2.XEvent(metadata_id=alloc_id, offset_ps=3 * US)
    odd.append(stats.SerializeToString() + head.SerializeToString()
               + bytes([0x30 | 0, 7]))  # unknown field 6 (varint 7)
    # An op whose offset is set twice (last wins) and one with num_occurrences after the
    # offset (the oneof clears it).
    odd.append(xplane_pb2.XEvent(metadata_id=op_id, offset_ps=1, duration_ps=5).SerializeToString()
               + xplane_pb2.XEvent(offset_ps=6 * US).SerializeToString())
    odd.append(xplane_pb2.XEvent(metadata_id=op_id, offset_ps=7 * US, duration_ps=1).SerializeToString()
               + xplane_pb2.XEvent(num_occurrences=3).SerializeToString())
    odd.append(xplane_pb2.XEvent(metadata_id=999, offset_ps=8 * US).SerializeToString())  # no metadata
    odd_line = xplane_pb2.XLine(id=77, name="odd", timestamp_ns=2_000).SerializeToString()
    odd_line += b"".join(_record(4, ev) for ev in odd)
    # The odd line goes into the host plane as one more line record.
    space = xplane_pb2.XSpace(hostnames=["h"]).SerializeToString()
    for p in b.space.planes:
        extra = _record(3, odd_line) if p.name == "/host:CPU" else b""
        space += _record(1, p.SerializeToString() + extra)
    path = tmp_path / "odd.xplane.pb"
    path.write_bytes(space)
    monkeypatch.setattr(read, "CHUNK_EVENTS", 3)
    streamed, parsed = both(str(path))
    assert_same(streamed, parsed)
    assert streamed.steps[0].step == -2
    odd_mem = [m for m in streamed.memory if m.tf_op == "m/x/Relu"]
    assert odd_mem == [(2_000_000 + 3 * US, 1, 48, 0, "m/x/Relu", "cpu")]
    relu = [op for op in streamed.ops if op.name == "m/x/Relu"]
    assert [op.start_ps for op in relu] == [2_000_000, 2_000_000 + 6 * US]  # oneof cleared the offset
    assert {op.name for op in streamed.ops} >= {"m/d/Mul", "m/d/Add"}
    assert streamed.xla_splits and streamed.hlo_ops


@pytest.mark.parametrize("body", [bytes([0x0F, 1]), bytes([0x08]), bytes([0x22, 0x7F, 0x08]),
                                  bytes([0x00, 1])])
def test_corrupt_event_bodies_raise_profile_error(tmp_path, body):
    """Wire type 7, a varint cut short, a stat running past its event, field number 0."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    line = xplane_pb2.XLine(id=1, name="tf_Compute").SerializeToString() + _record(4, body)
    plane = xplane_pb2.XPlane(name="/host:CPU").SerializeToString() + _record(3, line)
    path = tmp_path / "bad.xplane.pb"
    path.write_bytes(_record(1, plane))
    with pytest.raises(xplane.ProfileError, match="profile "):
        xplane.read_profile(str(path))


def test_metadata_names_fast_layout_and_the_general_one_agree():
    """A metadata map entry as serializers write it takes the fast path; any other layout
    (fields out of order, a second name, which protobuf lets win) the general one."""
    v = wire.encode_varint

    def field(number, payload):
        return v((number << 3) | 2) + v(len(payload)) + payload

    def entry(key, *meta_fields):
        meta = b"".join(meta_fields)
        return field(4, b"\x08" + v(key) + field(2, meta))

    usual = entry(7, b"\x08" + v(7), field(2, b"model/d/MatMul:MatMul"), field(4, b"MatMul"))
    second = entry(8, b"\x08" + v(8), field(2, b"first"), field(4, b"x"), field(2, b"last"))
    reordered = entry(9, field(2, b"name first"), b"\x08" + v(9))
    buf = usual + second + reordered
    records, pos = [], 0
    for _, _, record, _, nxt in wire.fields(buf, 0, len(buf)):
        records.append((record, nxt))
    assert wire._usual_entry(buf, 2, len(usual)) == (7, "model/d/MatMul:MatMul")
    assert wire.metadata_names(buf, records, 4) == {7: "model/d/MatMul:MatMul", 8: "last",
                                                    9: "name first"}
