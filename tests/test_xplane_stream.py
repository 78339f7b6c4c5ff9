"""The streaming reader (`xplane.read_profile`) against the parsed-proto path (`extract_events`).

`read_profile` walks the wire format itself and parses the host plane in batches; it must
give exactly what parsing the whole XSpace and calling `extract_events` gives, whatever
the layout of the file.
"""

from __future__ import annotations

import pytest

from tb_layerprof import xplane
from tests.xspace_builder import XSpaceBuilder

US = 1_000_000

FIELDS = ("host", "ops", "steps", "memory", "spans", "event_count", "device_ops", "launches",
          "xla_splits", "hlo_ops")


def both(path):
    streamed = xplane.read_profile(path)
    parsed = xplane.extract_events(xplane.load_xspace(path), host=xplane.host_from_path(path))
    return streamed, parsed


def assert_same(a, b):
    for field in FIELDS:
        assert getattr(a, field) == getattr(b, field), field


def test_field_numbers_match_tensorflow_schema():
    assert xplane._field_numbers() == (
        xplane._SPACE_PLANES, xplane._SPACE_HOSTNAMES, xplane._PLANE_NAME, xplane._PLANE_LINES,
        xplane._LINE_ID, xplane._LINE_NAME, xplane._LINE_TIMESTAMP, xplane._LINE_EVENTS,
    )


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
    monkeypatch.setattr(xplane, "_BATCH_BYTES", 4096)  # many small batches
    monkeypatch.setattr(xplane, "_DROP_EVERY", 8192)
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
