"""The one HLO reader (xplane.hlo) and what reads through it: the records of instructions
(shapes, dot and convolution attributes) checked against TensorFlow's generated protos,
XLA work counts (xla_work) pinned on a real capture, device caps (peaks) from the plane
headers, and the analysis path without TensorFlow or any generated proto module."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tb_layerprof import peaks, xla_work
from tb_layerprof.xplane import hlo, wire
from tb_layerprof.xplane.hlo import (
    ConvolutionDimensions,
    DotDimensions,
    Instruction,
    Shape,
    WindowDimension,
)
from tb_layerprof.xplane.records import ProfileError

JAX_CAPTURE = os.path.join(os.path.dirname(__file__), "data", "jax_cpu_seed.xplane.pb")
F32, TUPLE = 11, 13  # xla.PrimitiveType


def _tf_protos():
    hlo_pb2 = pytest.importorskip("tensorflow.compiler.xla.service.hlo_pb2")
    from tensorflow.compiler.xla import xla_data_pb2

    return hlo_pb2, xla_data_pb2


def _number(message, field: str) -> int:
    return message.DESCRIPTOR.fields_by_name[field].number


def _repeated(field) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 6 (no `label`)
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def test_field_numbers_match_tensorflows_hlo_schema():
    hlo_pb2, x = _tf_protos()
    ins = hlo_pb2.HloInstructionProto
    assert (hlo._INSTR_NAME, hlo._INSTR_OPCODE, hlo._INSTR_SHAPE, hlo._INSTR_METADATA,
            hlo._INSTR_WINDOW, hlo._INSTR_CONV, hlo._INSTR_DOT, hlo._INSTR_ID, hlo._INSTR_OPERANDS,
            hlo._INSTR_CALLED, hlo._INSTR_FEATURE_GROUPS, hlo._INSTR_BATCH_GROUPS) == tuple(
        _number(ins, f) for f in ("name", "opcode", "shape", "metadata", "window",
                                  "convolution_dimension_numbers", "dot_dimension_numbers", "id",
                                  "operand_ids", "called_computation_ids", "feature_group_count",
                                  "batch_group_count"))
    assert (hlo._SHAPE_ELEMENT_TYPE, hlo._SHAPE_DIMENSIONS, hlo._SHAPE_TUPLE_SHAPES) == tuple(
        _number(x.ShapeProto, f) for f in ("element_type", "dimensions", "tuple_shapes"))
    assert hlo._WINDOW_DIMENSIONS == _number(x.Window, "dimensions")
    # The records' field names are the proto's: one name for one thing.
    for table, message in ((hlo._DOT_FIELDS, x.DotDimensionNumbers),
                           (hlo._WINDOW_FIELDS, x.WindowDimension),
                           (hlo._CONV_FIELDS, x.ConvolutionDimensionNumbers)):
        assert table == {f.number: f.name for f in message.DESCRIPTOR.fields}
    assert set(hlo._CONV_FIELDS.values()) == set(ConvolutionDimensions._fields)
    assert {f.number for f in x.ConvolutionDimensionNumbers.DESCRIPTOR.fields
            if _repeated(f)} == hlo._CONV_REPEATED
    assert all(_repeated(f) for f in x.DotDimensionNumbers.DESCRIPTOR.fields)
    assert (hlo._PROTO_MODULE, hlo._MODULE_NAME, hlo._MODULE_COMPUTATIONS, hlo._MODULE_ENTRY) == (
        _number(hlo_pb2.HloProto, "hlo_module"), *(_number(hlo_pb2.HloModuleProto, f) for f in (
            "name", "computations", "entry_computation_id")))
    assert (hlo._COMP_NAME, hlo._COMP_INSTRUCTIONS, hlo._COMP_ID) == tuple(
        _number(hlo_pb2.HloComputationProto, f) for f in ("name", "instructions", "id"))


def _module_bytes() -> bytes:
    """A module with every attribute the reader decodes, built with TensorFlow's schema."""
    hlo_pb2, _ = _tf_protos()
    proto = hlo_pb2.HloProto()
    m = proto.hlo_module
    m.name, m.entry_computation_id = "m", 2
    body = m.computations.add(name="fused", id=1)
    body.instructions.add(name="p", opcode="parameter", id=10).shape.element_type = F32
    entry = m.computations.add(name="main.2", id=2)
    x = entry.instructions.add(name="x", opcode="parameter", id=20)
    x.shape.element_type, x.shape.dimensions[:] = F32, [4, 8, 8, 6]
    conv = entry.instructions.add(name="conv", opcode="convolution", id=21, feature_group_count=3)
    conv.operand_ids.extend([20, 20])
    conv.shape.element_type, conv.shape.dimensions[:] = F32, [4, 8, 8, 6]
    cd = conv.convolution_dimension_numbers
    cd.input_feature_dimension, cd.kernel_output_feature_dimension = 3, 3
    cd.input_spatial_dimensions[:], cd.kernel_spatial_dimensions[:] = [1, 2], [0, 1]
    conv.window.dimensions.add(size=3, stride=2, padding_low=-1, padding_high=1, window_dilation=1,
                               base_dilation=1, window_reversal=True)
    dot = entry.instructions.add(name="dot", opcode="dot", id=22)
    dot.operand_ids.extend([20, 21])
    dd = dot.dot_dimension_numbers
    dd.lhs_contracting_dimensions[:], dd.rhs_contracting_dimensions[:] = [3], [2]
    dd.lhs_batch_dimensions[:], dd.rhs_batch_dimensions[:] = [0], [0]
    dot.metadata.op_name, dot.metadata.op_type = "model/dense/MatMul", "MatMul"
    tup = entry.instructions.add(name="t", opcode="fusion", id=23)
    tup.called_computation_ids.append(1)
    inner = tup.shape.tuple_shapes.add(element_type=TUPLE)
    inner.tuple_shapes.add(element_type=F32).dimensions[:] = [2]
    tup.shape.element_type = TUPLE
    tup.shape.tuple_shapes.add(element_type=F32)
    return proto.SerializeToString()


def test_records_of_each_attribute():
    mod = hlo.parse_module(_module_bytes())
    entry = {i.name: i for i in mod.entry()}
    conv = entry["conv"]
    assert conv.shape == Shape(F32, (4, 8, 8, 6))
    assert conv.feature_group_count == 3 and conv.batch_group_count == 1  # unset: 1, as XLA reads it
    assert conv.convolution_dimension_numbers == ConvolutionDimensions(
        input_feature_dimension=3, input_spatial_dimensions=(1, 2), kernel_output_feature_dimension=3,
        kernel_spatial_dimensions=(0, 1))
    assert conv.window == (WindowDimension(3, 2, -1, 1, 1, 1, True),)  # negative padding is int64
    dot = entry["dot"]
    assert dot.dot_dimension_numbers == DotDimensions((3,), (2,), (0,), (0,))
    assert (dot.op_name, dot.op_type, dot.operand_ids) == ("model/dense/MatMul", "MatMul", [20, 21])
    assert dot.window == () and dot.convolution_dimension_numbers == hlo.NO_CONVOLUTION
    assert entry["t"].shape == Shape(TUPLE, (), (Shape(TUPLE, (), (Shape(F32, (2,)),)), Shape(F32)))
    assert entry["t"].called_ids == [1] and mod.computations[1][0].shape == Shape(F32)
    assert entry["x"].dot_dimension_numbers == hlo.NO_DOT


def test_unpacked_repeated_fields_read_as_packed_ones():
    """proto2 writers (and old XLA) may write repeated int64 one varint a field."""
    def field(number: int, wt: int, payload: bytes) -> bytes:
        key = wire.encode_varint(number << 3 | wt)
        return key + (wire.encode_varint(len(payload)) + payload if wt == 2 else payload)

    shape = field(2, 0, b"\x0b") + field(3, 0, b"\x05") + field(3, 0, b"\x07")
    ins = (field(1, 2, b"d") + field(2, 2, b"dot") + field(3, 2, shape) + field(35, 0, b"\x09")
           + field(36, 0, b"\x03") + field(36, 0, b"\x04"))
    comp = field(2, 2, ins) + field(5, 0, b"\x01")
    blob = field(1, 2, field(3, 2, comp) + field(6, 0, b"\x01"))
    (only,) = hlo.parse_module(blob).entry()
    assert (only.id, only.operand_ids, only.shape) == (9, [3, 4], Shape(F32, (5, 7)))


def test_records_match_tensorflows_parse_of_a_real_capture():
    """Every instruction of the real JAX capture, field by field, as protobuf reads it."""
    hlo_pb2, _ = _tf_protos()

    def shape(s) -> Shape:
        return Shape(s.element_type, tuple(s.dimensions), tuple(shape(t) for t in s.tuple_shapes))

    (program,) = hlo.read_programs(JAX_CAPTURE)
    mod = hlo.parse_module(program.blob)
    ref = hlo_pb2.HloProto.FromString(program.blob).hlo_module
    assert (mod.name, mod.entry_id) == (ref.name, ref.entry_computation_id)
    assert list(mod.computations) == [c.id for c in ref.computations]
    seen = set()
    for comp in ref.computations:
        assert len(mod.computations[comp.id]) == len(comp.instructions)
        for ours, theirs in zip(mod.computations[comp.id], comp.instructions):
            seen.add(ours.opcode)
            d = theirs.dot_dimension_numbers
            assert ours == Instruction(
                theirs.name, theirs.opcode, theirs.id, theirs.metadata.op_name,
                list(theirs.operand_ids), list(theirs.called_computation_ids), theirs.metadata.op_type,
                shape(theirs.shape),
                DotDimensions(tuple(d.lhs_contracting_dimensions), tuple(d.rhs_contracting_dimensions),
                              tuple(d.lhs_batch_dimensions), tuple(d.rhs_batch_dimensions)),
                feature_group_count=theirs.feature_group_count or 1,
                batch_group_count=theirs.batch_group_count or 1)
    assert {"dot", "fusion", "reduce", "broadcast"} <= seen


def test_the_index_reads_no_shapes_and_loses_nothing_by_it():
    (program,) = hlo.read_programs(JAX_CAPTURE)
    full, light = hlo.parse_module(program.blob), hlo.parse_module(program.blob, shapes=False)
    assert all(i.shape == hlo.NO_SHAPE for c in light.computations.values() for i in c)
    assert hlo.index_module(light, 18) == hlo.index_module(full, 18) != {}


@pytest.mark.parametrize("blob", [
    b"\x0a\x05\x1a\x03\x12",  # an instruction cut short
    b"\x0a\x02\x00\x00",  # field number 0
    b"\x0a\x02\x1b\x00",  # wire type 3 (groups)
    b"\x0a\x03\x1a\x09\x12",  # a computation longer than its module
])
def test_malformed_modules_are_profile_errors(blob):
    with pytest.raises(ProfileError):
        hlo.parse_module(blob)


def test_a_module_that_does_not_parse_costs_only_its_own_counts():
    (good,) = hlo.read_programs(JAX_CAPTURE)
    bad = hlo.HloProgram(99, "broken(99)", None, b"\x0a\x05\x1a\x03\x12")
    assert set(xla_work.programs_work([bad, good])) == {18}
    assert xla_work.program_work("/nonexistent.xplane.pb") == {}


# -- work formulas on named records --------------------------------------------------------


def _ins(name: str, opcode: str, iid: int, dims=(), operands=(), **kw) -> Instruction:
    return Instruction(name, opcode, iid, operand_ids=list(operands), shape=Shape(F32, tuple(dims)), **kw)


def test_work_formulas_on_records():
    lhs, rhs = _ins("a", "parameter", 1, (3, 8, 16)), _ins("b", "parameter", 2, (3, 16, 32))
    dot = _ins("d", "dot", 3, (3, 8, 32), (1, 2),
               dot_dimension_numbers=DotDimensions((2,), (1,), (0,), (0,)))
    img, depthwise = _ins("x", "parameter", 4, (2, 6, 6, 5)), _ins("k", "parameter", 5, (3, 3, 1, 5))
    conv = _ins("c", "convolution", 6, (2, 6, 6, 5), (4, 5), feature_group_count=5,
                convolution_dimension_numbers=ConvolutionDimensions(kernel_output_feature_dimension=3))
    red = _ins("r", "reduce", 7, (3,), (3,))
    custom = _ins("cc", "custom-call", 8, (4,), (1,))
    comp = [lhs, rhs, dot, img, depthwise, conv, red, custom]
    by_id = {i.id: i for i in comp}
    flops = {i.name: xla_work.instruction_flops(i, by_id.get, {}) for i in comp}
    assert flops["d"] == 2 * 3 * 8 * 32 * 16  # batched: 2 · output elements · contracted size
    assert flops["c"] == 2 * 2 * 6 * 6 * 5 * 9  # depthwise: one 3×3 window per output element
    assert flops["r"] == 3 * 8 * 32 and flops["a"] == 0.0 and flops["cc"] is None
    fused = [_ins("p", "parameter", 20, (8,)), _ins("m", "multiply", 21, (8,), (20, 20)),
             _ins("e", "exponential", 22, (8,), (21,))]
    fusion = _ins("f", "fusion", 9, (8,), (1,), called_ids=[30])
    assert xla_work.instruction_flops(fusion, by_id.get, {30: fused}) == 16.0
    assert xla_work.instruction_flops(fusion, by_id.get, {}) is None  # body missing: no formula
    assert xla_work._shape_bytes(Shape(TUPLE, (), (Shape(F32, (2, 3)), Shape(F32)))) == 28.0


def test_module_work_books_instructions_by_their_sources():
    entry = [_ins("x", "parameter", 1, (4, 8)), _ins("w", "parameter", 2, (8, 2)),
             _ins("dot", "dot", 3, (4, 2), (1, 2), op_name="m/d/MatMul", op_type="MatMul",
                  dot_dimension_numbers=DotDimensions((1,), (0,))),
             _ins("loop", "while", 4, (), (3,), called_ids=[11]),
             _ins("cc", "custom-call", 5, (4,), (3,), op_name="m/c/Op", op_type="Op")]
    body = [_ins("p", "parameter", 20, (4, 2)), _ins("n", "negate", 21, (4, 2), (20,), op_name="m/n/Neg")]
    dead = [_ins("dead", "negate", 30, (9,), op_name="m/x")]
    module = hlo.HloModule("m", 10, {10: entry, 11: body, 12: dead}, {10: "main", 11: "body", 12: "unused"})
    book = xla_work.module_work(module, 7, hlo.index_module(module, 7))
    assert book["m/d/MatMul"] == [2 * 4 * 2 * 8, 4 * (8 + 32 + 16), 1.0]
    assert book["m/n/Neg"] == [8.0, 64.0, 1.0]  # the loop body runs (once per execution)
    assert book["m/c/Op"] == [0.0, 48.0, 0.0]  # bytes only
    assert "m/x" not in book  # a computation nothing calls


def test_xla_work_of_a_real_capture_is_pinned():
    """The counts of the JAX capture as the generated-proto reader gave them (exact)."""
    (book,) = xla_work.program_work(JAX_CAPTURE).values()
    assert len(book) == 35 and all(exact == 1.0 for _, _, exact in book.values())
    assert math.fsum(f for f, _, _ in book.values()) == 856093.0
    assert math.fsum(b for _, b, _ in book.values()) == 868944.0
    assert book["jit(train_step)/jvp(dense_in)/dot_general"] == [262144.0, 32768.0, 1.0]
    assert book["jit(train_step)/jvp(slow)/mul"] == [33280.0, 137216.0, 1.0]
    assert book["jit(train_step)/transpose(jvp(slow))/mul"] == [32896.50196078431, 4114.070588235294, 1.0]


# -- device caps from the plane headers -------------------------------------------------------


def test_device_caps_from_gpu_plane_stats(tmp_path):
    pytest.importorskip("tensorflow")
    from tests.xspace_builder import XSpaceBuilder, set_plane_stats

    b = XSpaceBuilder()
    for i, clock in enumerate((1980000, 1410000)):
        set_plane_stats(b.plane(f"/device:GPU:{i}"), device_vendor="Nvidia", clock_rate=clock,
                        core_count=132, compute_cap_major=9, compute_cap_minor=0,
                        memory_bandwidth=3350000000000, memory_size=80 << 30)
    b.plane("/host:CPU").line("python")
    path = b.write(str(tmp_path / "gpu.xplane.pb"))
    caps = peaks.device_caps(path)
    assert set(caps) == {"/device:GPU:0", "/device:GPU:1"}
    assert caps["/device:GPU:1"] == {"device_vendor": 0.0, "clock_rate": 1410000.0, "core_count": 132.0,
                                     "compute_cap_major": 9.0, "compute_cap_minor": 0.0,
                                     "memory_bandwidth": 3.35e12, "memory_size": float(80 << 30)}
    assert peaks.window_peaks(path, on_device=True) == peaks.gpu_peaks(caps["/device:GPU:0"])
    assert peaks.device_caps(str(tmp_path / "missing.xplane.pb")) == {}


# -- the analysis path loads neither TensorFlow nor generated protos -------------------------

# Runs in a fresh interpreter. `import tb_layerprof` loads no generated proto (the event
# files' reader, summary.py, is imported on first use); reading and analysing captures
# must add none, and load no TensorFlow, XProf or Keras at all.
_ANALYSE = """
import json, pickle, sys
import tb_layerprof
baseline = {m for m in sys.modules if m.endswith("_pb2")}
def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorboard_plugin_profile",
                  "xprof", "tf_keras", "keras", "jax") or (m.endswith("_pb2") and m not in baseline))
from tb_layerprof import analysis, jax_analysis, peaks, xla_work, xplane
after_import = loaded()
layer_map, graphs = pickle.load(open(sys.argv[2], "rb"))
window, _ = analysis.analyse_window(sys.argv[1], layer_map, graphs, 5, 6, mode="xla")
capture = xplane.read_xla(sys.argv[3])
jax_analysis.analyse(capture, [], 4, 7)
work = xla_work.program_work(sys.argv[3])
print(json.dumps({"baseline": sorted(baseline), "after_import": after_import, "imported": loaded(),
                  "peak": window.peak_source, "mode": window.mode, "programs": len(work),
                  "caps": peaks.device_caps(sys.argv[1])}))
"""


def test_analysis_reads_xla_and_gpu_captures_without_tensorflow_or_generated_protos(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")  # the GPU capture is built with TensorFlow's schema, here
    import pickle

    from tests import test_gpu_fixture

    monkeypatch.setenv(peaks.CACHE_ENV, str(tmp_path))
    capture = test_gpu_fixture.build(tmp_path)
    inputs = tmp_path / "inputs.pkl"
    inputs.write_bytes(pickle.dumps((test_gpu_fixture.layer_map(), {1: test_gpu_fixture.GRAPH})))
    out = subprocess.run([sys.executable, "-c", _ANALYSE, capture, str(inputs), JAX_CAPTURE],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["after_import"] == [] and got["imported"] == []
    assert got["baseline"] == []
    # It really read what the generated protos used to read: HLO programs and device caps.
    assert got["mode"] == "xla" and got["peak"] == "gpu-device-caps" and got["programs"] == 1
    assert got["caps"]["/device:GPU:0"]["core_count"] == 108.0
