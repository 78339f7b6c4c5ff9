"""Attribution on hand-built XSpace fixtures: exact figures for a known scenario."""

from __future__ import annotations

import pytest

from tb_layerprof import attribution, xplane
from tb_layerprof.layermap import CallRecord, LayerInfo, LayerMap
from tests.xspace_builder import XSpaceBuilder

US = 1_000_000  # picoseconds per microsecond

# The traced train-step graph: (name, type, inputs) in creation order.
GRAPH = [
    ("IteratorGetNext", "IteratorGetNext", []),                                   # 0
    ("functional_1/dense_1/MatMul", "MatMul", ["IteratorGetNext"]),               # 1
    ("functional_1/dense_1/BiasAdd", "BiasAdd", ["functional_1/dense_1/MatMul"]),  # 2
    ("functional_1/slow_1/strided_slice", "StridedSlice", ["functional_1/dense_1/BiasAdd"]),  # 3
    ("functional_1/slow_1/mul", "Mul", ["functional_1/slow_1/strided_slice"]),    # 4
    ("functional_1/slow_1/strided_slice_1", "StridedSlice", ["functional_1/dense_1/BiasAdd"]),  # 5
    ("functional_1/slow_1/mul_1", "Mul", ["functional_1/slow_1/strided_slice_1"]),  # 6
    ("functional_1/slow_1/stack", "Pack", ["functional_1/slow_1/mul", "functional_1/slow_1/mul_1"]),  # 7
    ("functional_1/block_1/Relu", "Relu", ["functional_1/slow_1/stack"]),         # 8
    ("functional_1/block_1/inner_1/MatMul", "MatMul", ["functional_1/block_1/Relu"]),  # 9
    ("functional_1/shared_1/MatMul", "MatMul", ["functional_1/block_1/inner_1/MatMul"]),  # 10
    ("functional_1/shared_2/MatMul", "MatMul", ["functional_1/shared_1/MatMul"]),  # 11
    ("compile_loss/mse/sub", "Sub", ["functional_1/shared_2/MatMul"]),           # 12
    ("gradient_tape/compile_loss/mse/sub_grad", "Mul", ["compile_loss/mse/sub"]),  # 13
    ("gradient_tape/functional_1/shared_2/MatMul/MatMul", "MatMul", []),         # 14
    ("gradient_tape/functional_1/slow_1/unstack", "Unpack", []),                 # 15
    ("gradient_tape/functional_1/slow_1/strided_slice/StridedSliceGrad", "StridedSliceGrad",
     ["gradient_tape/functional_1/slow_1/unstack"]),                             # 16
    ("gradient_tape/functional_1/slow_1/strided_slice_1/StridedSliceGrad", "StridedSliceGrad",
     ["gradient_tape/functional_1/slow_1/unstack"]),                             # 17
    ("AddN", "AddN", ["gradient_tape/functional_1/slow_1/strided_slice/StridedSliceGrad",
                      "gradient_tape/functional_1/slow_1/strided_slice_1/StridedSliceGrad"]),  # 18
    ("gradient_tape/functional_1/dense_1/MatMul/MatMul_1", "MatMul", ["AddN"]),  # 19
    ("adam/Mul", "Mul", ["gradient_tape/functional_1/dense_1/MatMul/MatMul_1"]),  # 20
    ("Add_2", "AddV2", []),                                                      # 21
    ("Identity", "Identity", ["Add_2"]),                                         # 22
    ("strange/Thing", "Sin", []),                                                # 23
]

# Per-step self time (µs) of each executed op; names as executed (inlined into the
# caller, hence the StatefulPartitionedCall/ prefix).
STEP_OPS = {
    "IteratorGetNext": 3,
    "functional_1/dense_1/MatMul": 10,
    "functional_1/dense_1/BiasAdd": 2,
    "functional_1/slow_1/strided_slice": 3,
    "functional_1/slow_1/mul": 1,
    "functional_1/slow_1/strided_slice_1": 3,
    "functional_1/slow_1/mul_1": 1,
    "functional_1/slow_1/stack": 4,
    "functional_1/block_1/Relu": 5,
    "functional_1/block_1/inner_1/MatMul": 20,
    "functional_1/shared_1/MatMul": 6,
    "functional_1/shared_2/MatMul": 6,
    "compile_loss/mse/sub": 1,
    "gradient_tape/compile_loss/mse/sub_grad": 1,
    "gradient_tape/functional_1/shared_2/MatMul/MatMul": 8,
    "gradient_tape/functional_1/slow_1/unstack": 5,
    "gradient_tape/functional_1/slow_1/strided_slice/StridedSliceGrad": 7,
    "gradient_tape/functional_1/slow_1/strided_slice_1/StridedSliceGrad": 7,
    "AddN": 30,
    "gradient_tape/functional_1/dense_1/MatMul/MatMul_1": 15,
    "adam/Mul": 9,
    "Add_2": 2,
    "Identity": 1,
    "strange/Thing": 0.5,
}
STEP_US = 1000  # each step lasts 1 ms
CALL_US = 900  # the enclosing function-call op event


def layer_map() -> LayerMap:
    lm = LayerMap(model_name="functional", optimizer_scopes=["adam"])
    for info in [
        LayerInfo("functional", "Functional", is_model=True),
        LayerInfo("dense", "Dense", param_bytes=1024),
        LayerInfo("slow", "SlowDouble", custom=True),
        LayerInfo("block", "Block", custom=True),
        LayerInfo("block/inner", "Dense", parent="block", param_bytes=4096),
        LayerInfo("shared", "Dense", param_bytes=256),
    ]:
        lm.layers[info.path] = info
    for path, scope, a, b in [
        ("functional", "functional_1", 1, 12),
        ("dense", "functional_1/dense_1", 1, 3),
        ("slow", "functional_1/slow_1", 3, 8),
        ("block", "functional_1/block_1", 8, 10),
        ("block/inner", "functional_1/block_1/inner_1", 9, 10),
        ("shared", "functional_1/shared_1", 10, 11),
        ("shared", "functional_1/shared_2", 11, 12),
        ("metrics_us", "", 21, 22),
    ]:
        lm.calls.append(CallRecord(path, 1, scope, a, b, output_elements=64, output_bytes=256))
    return lm


def build_profile(tmp_path) -> str:
    b = XSpaceBuilder(host="worker-0")
    plane = b.plane("/host:CPU")
    py = plane.line("python")
    compute = plane.line("tf_Compute/1")
    for i, step in enumerate((10, 11)):
        t0 = i * STEP_US * US
        py.event("train", t0, STEP_US * US, step_num=step, _r=1)
        # The function-call op encloses the step's ops on the same thread.
        compute.op("StatefulPartitionedCall", "StatefulPartitionedCall", t0 + 10 * US, CALL_US * US)
        t = t0 + 20 * US
        for name, us in STEP_OPS.items():
            dur = int(us * US)
            compute.op("StatefulPartitionedCall/" + name, dict((g[0], g[1]) for g in GRAPH)[name], t, dur)
            t += dur + 1 * US
    # Memory: slow allocates forward and (more) in its gradient; dense a little.
    mem = plane.line("python_mem")
    mem.alloc("functional_1/slow_1/stack", 4096, 1, 100 * US)
    mem.alloc("functional_1/dense_1/MatMul", 1024, 3, 150 * US)
    mem.alloc("gradient_tape/functional_1/slow_1/strided_slice/StridedSliceGrad", 65536, 2, 200 * US)
    mem.free("gradient_tape/functional_1/slow_1/strided_slice/StridedSliceGrad", 65536, 2, 300 * US)
    mem.alloc("gradient_tape/functional_1/slow_1/strided_slice/StridedSliceGrad", 65536, 4, 1200 * US)
    mem.free("gradient_tape/functional_1/slow_1/strided_slice/StridedSliceGrad", 65536, 4, 1300 * US)
    # Outside the steps: ignored.
    compute.op("StatefulPartitionedCall/functional_1/slow_1/stack", "Pack", 5000 * US, 500 * US)
    mem.alloc("functional_1/slow_1/stack", 10**9, 9, 5000 * US)
    return b.write(str(tmp_path / "worker-0.xplane.pb"))


@pytest.fixture
def window(tmp_path):
    events = xplane.read_profile(build_profile(tmp_path))
    return attribution.attribute(events, layer_map(), {1: GRAPH})


def by_path(window):
    return {layer.path: layer for layer in window.layers}


def test_window_header(window):
    assert window.step == 10 and window.steps == 2
    assert window.host == "worker-0"
    assert window.step_time_us == pytest.approx(STEP_US)
    # Self time: the call op's children are subtracted, so all op time is its 900 µs.
    assert window.op_time_us == pytest.approx(CALL_US)


def test_forward_and_gradient_per_layer(window):
    layers = by_path(window)
    assert layers["dense"].forward_us == pytest.approx(12)
    assert layers["dense"].backward_us == pytest.approx(15)
    assert layers["slow"].forward_us == pytest.approx(12)
    assert layers["shared"].forward_us == pytest.approx(12)
    assert layers["shared"].backward_us == pytest.approx(8)


def test_unscoped_gradient_addn_goes_to_the_layer_by_following_the_graph(window):
    slow = by_path(window)["slow"]
    # unstack 5 + two StridedSliceGrad 7 + the unscoped AddN 30
    assert slow.backward_us == pytest.approx(49)
    assert slow.top_ops[0]["type"] == "AddN" and slow.top_ops[0]["phase"] == "backward"


def test_nested_layers_have_self_and_total(window):
    layers = by_path(window)
    assert layers["block/inner"].parent == "block"
    assert layers["block/inner"].forward_us == pytest.approx(20)
    assert layers["block"].self_forward_us == pytest.approx(5)
    assert layers["block"].forward_us == pytest.approx(25)


def test_shared_layer_counts_both_calls(window):
    shared = by_path(window)["shared"]
    assert shared.calls == 2
    assert shared.ops_per_call == 1


def test_categories(window):
    other = window.other
    assert other["optimizer_us"] == pytest.approx(9)
    assert other["loss_us"] == pytest.approx(2)
    assert other["metrics_us"] == pytest.approx(2)
    assert other["input_us"] == pytest.approx(3)
    assert other["unattributed_us"] == pytest.approx(0.5)
    # The call op's own time plus the Identity.
    busy = sum(STEP_OPS.values())
    assert other["framework_us"] == pytest.approx(CALL_US - busy + 1)


def test_self_times_and_other_sum_to_op_time(window):
    total = sum(l.self_forward_us + l.self_backward_us for l in window.layers)
    total += sum(window.other.values())
    assert total == pytest.approx(window.op_time_us)


def test_model_row_dropped_when_it_owns_nothing(window):
    assert "functional" not in by_path(window)


def test_memory_allocations_and_peak(window):
    layers = by_path(window)
    slow = layers["slow"]
    assert slow.forward_alloc_bytes == 4096 // 2
    assert slow.backward_alloc_bytes == 65536  # 2 × 64 KiB over 2 steps
    assert slow.peak_live_bytes == 4096 + 65536
    assert layers["dense"].peak_live_bytes == 1024
    assert window.memory_available


def test_layers_sorted_by_total_time(window):
    totals = [l.forward_us + l.backward_us for l in window.layers]
    assert totals == sorted(totals, reverse=True)
    assert window.layers[0].path == "slow"


def test_no_memory_events_is_reported_not_faked(tmp_path):
    b = XSpaceBuilder()
    plane = b.plane()
    plane.line("python").event("train", 0, 10 * US, step_num=1)
    plane.line("tf_Compute/1").op("functional_1/dense_1/MatMul", "MatMul", 1 * US, 2 * US)
    events = xplane.read_profile(b.write(str(tmp_path / "h.xplane.pb")))
    w = attribution.attribute(events, layer_map(), {1: GRAPH})
    assert not w.memory_available
    assert any("memory" in msg for msg in w.warnings)
    assert by_path(w)["dense"].forward_us == pytest.approx(2)


def test_eager_spans_attribute_by_time_containment(tmp_path):
    b = XSpaceBuilder()
    plane = b.plane()
    py = plane.line("python")
    py.event("train", 0, 100 * US, step_num=1)
    py.event("layerprof:block", 10 * US, 50 * US)
    py.event("layerprof:block/inner", 20 * US, 20 * US)
    py.event("EagerExecute", 12 * US, 3 * US, eager_op="Relu", is_func=0)
    py.event("EagerExecute", 25 * US, 10 * US, eager_op="MatMul", is_func=0)
    py.event("EagerExecute", 70 * US, 4 * US, eager_op="Mul", is_func=0)  # outside layers
    events = xplane.read_profile(b.write(str(tmp_path / "e.xplane.pb")))
    w = attribution.attribute(events, layer_map(), {}, mode="eager")
    layers = by_path(w)
    assert layers["block/inner"].self_forward_us == pytest.approx(10)
    assert layers["block"].self_forward_us == pytest.approx(3)
    assert layers["block"].forward_us == pytest.approx(13)
    assert w.other["unattributed_us"] == pytest.approx(4)


@pytest.mark.parametrize("garbage", [b"", b"\x00\x01not a proto\xff" * 10])
def test_corrupt_profile_raises_profile_error(tmp_path, garbage):
    path = tmp_path / "bad.xplane.pb"
    path.write_bytes(garbage)
    with pytest.raises(xplane.ProfileError):
        xplane.read_profile(str(path))


def test_missing_profile_raises_profile_error(tmp_path):
    with pytest.raises(xplane.ProfileError, match="cannot read"):
        xplane.read_profile(str(tmp_path / "nope.xplane.pb"))


def test_custom_gradient_body_is_owned_by_the_layer_whose_activations_it_reads():
    graph = [
        ("m/dense/BiasAdd", "BiasAdd", []),                                  # 0 dense
        ("m/cg/Sigmoid", "Sigmoid", ["m/dense/BiasAdd"]),                    # 1 cg
        ("m/cg/Sin", "Sin", ["m/dense/BiasAdd"]),                            # 2 cg
        ("m/cg/mul", "Mul", ["m/cg/Sigmoid", "m/cg/Sin"]),                   # 3 cg
        ("m/head/MatMul", "MatMul", ["m/cg/mul"]),                           # 4 head
        ("gradient_tape/m/head/MatMul/MatMul", "MatMul", []),                # 5 head grad
        # tf.custom_gradient's grad(dy) body: created unscoped, back to back.
        ("sub/x", "Const", []),                                              # 6
        ("sub", "Sub", ["sub/x", "m/cg/Sigmoid"]),                           # 7
        ("mul_1", "Mul", ["m/cg/Sigmoid", "sub"]),                           # 8
        ("Sin", "Sin", ["m/dense/BiasAdd"]),                                 # 9
        ("mul_2", "Mul", ["mul_1", "Sin"]),                                  # 10
        ("mul_3", "Mul", ["gradient_tape/m/head/MatMul/MatMul", "mul_2"]),   # 11
        ("gradient_tape/m/dense/MatMul/MatMul", "MatMul", ["mul_3"]),        # 12 dense grad
        ("Identity", "Identity", ["m/head/MatMul"]),                         # 13 function output
    ]
    lm = LayerMap()
    for path in ("dense", "cg", "head"):
        lm.layers[path] = LayerInfo(path)
    for path, a, b in (("dense", 0, 1), ("cg", 1, 4), ("head", 4, 5)):
        lm.calls.append(CallRecord(path, 1, f"m/{path}", a, b))
    index = attribution.OwnerIndex(lm, {1: graph}, 1)
    for name in ("sub/x", "sub", "mul_1", "Sin", "mul_2", "mul_3"):
        assert index.owner(name) == ("cg", "backward"), name
    assert index.owner("gradient_tape/m/dense/MatMul/MatMul") == ("dense", "backward")
    assert index.owner("gradient_tape/m/head/MatMul/MatMul") == ("head", "backward")
    assert index.owner("m/cg/Sin") == ("cg", "forward")
    assert index.owner("Identity")[0] == "framework_us"


def test_eager_gradient_without_end_marker_ends_with_the_tape(tmp_path):
    """The first layer's input needs no gradient: its gradient span ends with the tape."""
    b = XSpaceBuilder()
    py = b.plane().line("python")
    py.event("train", 0, 200 * US, step_num=1)
    py.event("layerprof_cat:tape", 100 * US, 50 * US)
    py.event("layerprof_grad_begin:block", 110 * US, 0)
    py.event("layerprof_grad_begin:dense", 130 * US, 0)  # never ends: no input gradient
    py.event("layerprof_grad_end:block", 128 * US, 0)
    py.event("EagerExecute", 115 * US, 5 * US, eager_op="ReluGrad", is_func=0)
    py.event("EagerExecute", 135 * US, 6 * US, eager_op="MatMul", is_func=0)
    py.event("layerprof_cat:optimizer_us", 160 * US, 30 * US)
    py.event("EagerExecute", 152 * US, 2 * US, eager_op="Mul", is_func=0)  # after the tape: no owner
    py.event("EagerExecute", 165 * US, 9 * US, eager_op="AssignSubVariableOp", is_func=0)
    for plane in b.space.planes:
        for line in plane.lines:
            line.events.sort(key=lambda e: e.offset_ps)
    events = xplane.read_profile(b.write(str(tmp_path / "t.xplane.pb")))
    w = attribution.attribute(events, layer_map(), {}, mode="eager")
    layers = by_path(w)
    assert layers["block"].self_backward_us == pytest.approx(5)
    assert layers["dense"].self_backward_us == pytest.approx(6)
    assert w.other["optimizer_us"] == pytest.approx(9)
    assert w.other["unattributed_us"] == pytest.approx(2)


def test_gradient_of_a_recorded_loss_scope_is_loss():
    """tf_keras names its loss ops after the loss ("mean_squared_error/..."); its gradient
    ops exist only in the tape ("gradient_tape/mean_squared_error/DynamicStitch")."""
    graph = [
        ("m/dense_1/MatMul", "MatMul", []),
        ("mean_squared_error/SquaredDifference", "SquaredDifference", ["m/dense_1/MatMul"]),
        ("mean_squared_error/Mean", "Mean", ["mean_squared_error/SquaredDifference"]),
        ("gradient_tape/mean_squared_error/DynamicStitch", "DynamicStitch", []),
        ("gradient_tape/mean_squared_error/Tile", "Tile", ["gradient_tape/mean_squared_error/DynamicStitch"]),
        ("gradient_tape/m/dense_1/MatMul/MatMul", "MatMul", ["gradient_tape/mean_squared_error/Tile"]),
    ]
    lm = LayerMap()
    lm.layers["dense"] = LayerInfo("dense")
    lm.calls.append(CallRecord("dense", 1, "m/dense_1", 0, 1))
    lm.calls.append(CallRecord("loss_us", 1, "", 1, 3))
    index = attribution.OwnerIndex(lm, {1: graph}, 1)
    assert index.owner("gradient_tape/mean_squared_error/DynamicStitch") == ("loss_us", "")
    assert index.owner("StatefulPartitionedCall/gradient_tape/mean_squared_error/Tile") == ("loss_us", "")
    assert index.owner("gradient_tape/m/dense_1/MatMul/MatMul") == ("dense", "backward")
