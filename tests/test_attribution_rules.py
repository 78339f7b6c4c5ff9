"""Attribution rules on a hand-built capture with the executed names real models produce
(names copied from captures of keras CNNs and LSTMs under steps_per_execution, loss-scale
conds and Grappler fusions on this machine): control-flow prefixes, loop-body gradients,
fused kernels, scratch allocations, per-batch figures, trace counts."""

from __future__ import annotations

import pytest

from tb_layerprof import attribution, diagnosis, owners, xplane
from tb_layerprof.layermap import CallRecord, LayerInfo, LayerMap
from tests.xspace_builder import XSpaceBuilder

US = 1_000_000
# One execution of Keras' multi-step loop runs the one-step function inside a while
# loop's body and a cond's then-branch.
P = "while/body/_1/while/cond/then/_7/while/cond/StatefulPartitionedCall/"
BODY = "model_1/lstm_1/while/body/_36/"
CELL_GRAD = ("gradient_tape/model_1/lstm_1/while/model_1/lstm_1/while_grad/body/_362/"
             "gradient_tape/model_1/lstm_1/while/gradients/model_1/lstm_1/while/lstm_cell_1/"
             "MatMul_grad/MatMul")

STEP_GRAPH = [  # the one-step function, as traced
    ("model_1/dense_1/MatMul", "MatMul", []),                                   # 0
    ("model_1/dense_1/BiasAdd", "BiasAdd", ["model_1/dense_1/MatMul"]),          # 1
    ("model_1/leaky_re_lu_1/LeakyRelu", "LeakyRelu", ["model_1/dense_1/BiasAdd"]),  # 2
    ("model_1/lstm_1/while", "StatelessWhile", ["model_1/leaky_re_lu_1/LeakyRelu"]),  # 3
    ("compile_loss/mse/sub", "Sub", ["model_1/lstm_1/while"]),                   # 4
    ("gradient_tape/model_1/lstm_1/while/model_1/lstm_1/while_grad", "StatelessWhile", []),  # 5
    ("gradient_tape/model_1/dense_1/MatMul/MatMul_1", "MatMul", []),             # 6
    ("cond", "StatelessIf", []),                                                 # 7 loss-scale cond
]
BODY_GRAPH = [  # the LSTM's while body, traced while the cell was called
    ("model_1/lstm_1/while/lstm_cell_1/MatMul", "MatMul", []),
    ("model_1/lstm_1/while/add", "AddV2", []),
]

EXECUTED = [  # (name, type, µs per step)
    (P + "model_1/leaky_re_lu_1/LeakyRelu", "_MklNativeFusedMatMul", 40),
    (P + BODY + "model_1/lstm_1/while/lstm_cell_1/MatMul", "_MklMatMul", 12),
    (P + BODY + "model_1/lstm_1/while/add", "AddV2", 4),
    (P + CELL_GRAD, "_MklMatMul", 24),
    (P + "gradient_tape/model_1/dense_1/MatMul/MatMul_1", "_MklMatMul", 16),
    (P + "cond/then/_3/cond/adam/Pow_4", "Pow", 8),
    (P + "compile_loss/mse/sub", "Sub", 2),
    ("while/cond/_0/while/Less", "Less", 2),
]
STEP_US = 400


def layer_map() -> LayerMap:
    lm = LayerMap(model_name="model", optimizer_scopes=["adam"])
    for info in [LayerInfo("model", "Functional", is_model=True),
                 LayerInfo("dense", "Dense", param_bytes=4096),
                 LayerInfo("leaky_re_lu", "LeakyReLU"),
                 LayerInfo("lstm", "LSTM"),
                 LayerInfo("lstm/lstm_cell", "LSTMCell", parent="lstm", param_bytes=8192)]:
        lm.layers[info.path] = info
    for path, gid, scope, a, b in [
        ("model", 1, "model_1", 0, 4), ("dense", 1, "model_1/dense_1", 0, 2),
        ("leaky_re_lu", 1, "model_1/leaky_re_lu_1", 2, 3), ("lstm", 1, "model_1/lstm_1", 3, 4),
        ("loss_us", 1, "", 4, 5), ("optimizer_us", 1, "", 7, 8),
        ("lstm/lstm_cell", 2, "model_1/lstm_1/while/lstm_cell_1", 0, 1),
    ]:
        lm.calls.append(CallRecord(path, gid, scope, a, b, output_elements=64, output_bytes=256,
                                   root_graph_id=1, signature="float32[None, 8]"))
    return lm


def build(tmp_path) -> str:
    b = XSpaceBuilder(host="h")
    plane = b.plane("/host:CPU")
    py = plane.line("python")
    compute = plane.line("tf_Compute/1")
    mem = plane.line("mem")
    for i, step in enumerate((5, 6)):
        t0 = i * STEP_US * US
        py.event("train", t0, STEP_US * US, step_num=step, _r=1)
        t = t0 + 10 * US
        for name, op_type, us in EXECUTED:
            dur = us * US
            compute.op(name, op_type, t, dur)
            if name.endswith("lstm_cell_1/MatMul"):
                # A scratch buffer freed within the op's run, and an output kept after it.
                mem.alloc(name, 1 << 20, 100 + i, t + 1 * US)
                mem.free(name, 1 << 20, 100 + i, t + 5 * US)
                mem.alloc(name, 4096, 200 + i, t + 6 * US)
                mem.free(name, 4096, 200 + i, t + 60 * US)
            t += dur + 1 * US
    return b.write(str(tmp_path / "h.xplane.pb"))


@pytest.fixture
def window(tmp_path):
    events = xplane.read_profile(build(tmp_path))
    w = attribution.attribute(events, layer_map(), {1: STEP_GRAPH, 2: BODY_GRAPH}, batches=8)
    return diagnosis.diagnose(w)


def rows(window):
    return {x.path: x for x in window.layers}


def test_control_flow_prefixes_are_looked_through(window):
    r = rows(window)
    assert r["lstm/lstm_cell"].self_forward_us == pytest.approx(12 / 4)
    assert r["lstm"].self_forward_us == pytest.approx(4 / 4)  # loop plumbing stays the LSTM's
    assert window.other["loss_us"] == pytest.approx(2 / 4)
    assert window.other["framework_us"] == pytest.approx(2 / 4)  # Keras' multi-step loop
    assert window.other["unattributed_us"] == 0


def test_loop_body_gradients_belong_to_the_cell(window):
    r = rows(window)
    assert r["lstm/lstm_cell"].self_backward_us == pytest.approx(24 / 4)
    assert r["lstm"].self_backward_us == 0
    assert r["lstm"].backward_us == pytest.approx(24 / 4)  # totals include the cell


def test_cond_branch_inherits_the_owner_of_its_cond(window):
    # The LossScaleOptimizer's cond: Adam's update inside the then-branch is optimizer work.
    assert window.other["optimizer_us"] == pytest.approx(8 / 4)


def test_fused_kernel_goes_to_the_layer_of_its_matmul(window):
    r = rows(window)
    assert r["dense"].self_forward_us == pytest.approx(40 / 4)
    assert "leaky_re_lu" not in r or r["leaky_re_lu"].self_forward_us == 0
    assert window.fused_across_us == pytest.approx(40 / 4)
    assert any("fused" in w for w in window.warnings)


def test_steps_per_execution_figures_are_per_batch(window):
    assert window.batches_per_step == 4
    assert window.step_time_us == pytest.approx(STEP_US / 4)
    total = sum(x.self_forward_us + x.self_backward_us for x in window.layers) + sum(window.other.values())
    assert total == pytest.approx(window.op_time_us)
    assert window.op_time_us == pytest.approx(sum(us for _, _, us in EXECUTED) / 4)


def test_churn_counts_allocations_that_outlive_their_op(window):
    cell = rows(window)["lstm/lstm_cell"]
    assert cell.self_forward_alloc_bytes == pytest.approx(((1 << 20) + 4096) / 4, rel=0.01)
    assert cell.self_kept_alloc_bytes == pytest.approx(4096 / 4, rel=0.01)


def test_coverage_and_unowned_ops(window):
    assert window.coverage == 1.0
    assert [o["name"] for o in window.unowned_ops] == ["while/cond/_0/while/Less"]


def test_control_flow_cuts():
    cuts = owners.control_flow_cuts(P + BODY + "model_1/lstm_1/while/add")
    assert cuts[-1] == (P + "model_1/lstm_1/while", "model_1/lstm_1/while/add")
    assert cuts[0] == ("while", "while/cond/then/_7/while/cond/StatefulPartitionedCall/" + BODY
                       + "model_1/lstm_1/while/add")
    # A user's scope named "body" is not a loop body unless an inlining index follows.
    assert owners.control_flow_cuts("model/body/dense/MatMul") == ()


def test_trace_counts_are_distinct_signatures_per_trace():
    lm = LayerMap()

    def call(path, gid, root, sig):
        lm.calls.append(CallRecord(path, gid, "", 0, 1, root_graph_id=root, signature=sig))

    # Two traces of the step with the same signature (variable creation, the profiler's
    # retrace, a second fit) and a loop body: one trace.
    for gid in (1, 3, 5):
        call("cell", gid + 1, gid, "float32[None, 8]")
        call("dense", gid, gid, "float32[None, 8]")
    # A Python value that changes per call: each is a retrace.
    for gid, value in ((7, "0.1"), (8, "0.2"), (9, "0.3")):
        call("dense", gid, gid, f"float32[None, 8];scale={value}")
    counts = attribution.trace_counts(lm)
    assert counts == {"cell": 1, "dense": 4}


def test_hot_layers_rank_by_cost_with_or_without_hints():
    from tb_layerprof import cli
    from tb_layerprof.report import Hint, LayerStats, WindowReport

    layers = [LayerStats(path=f"l{i}", self_forward_us=100.0 - i) for i in range(8)]
    layers.append(LayerStats(path="hinted", self_forward_us=1.0,
                             hints=[Hint(code="python-loop", message="m")]))
    hot = cli.hot_layers(WindowReport(step=1, steps=1, layers=layers, op_time_us=1000.0))
    assert [x.path for x in hot] == ["l0", "l1", "l2", "l3", "l4", "hinted"]


def test_a_custom_loops_reduction_of_the_loss_is_loss_work(tmp_path):
    # A custom training loop: the Loss object's call is recorded as loss; the loop's own
    # `tf.nn.compute_average_loss` (unscoped `Sum`, `div_no_nan`) and its gradient are
    # loss work too. An unscoped op that reads a layer's output is not.
    graph = [
        ("mw/dense/MatMul", "MatMul", []),
        ("mean_squared_error/Mean", "Mean", ["mw/dense/MatMul"]),
        ("Const", "Const", []),
        ("Sum", "Sum", ["mean_squared_error/Mean"]),
        ("div_no_nan", "DivNoNan", ["Sum", "Const"]),
        ("Sum_1", "Sum", ["mw/dense/MatMul"]),
        ("gradient_tape/div_no_nan/RealDiv", "RealDiv", []),
    ]
    lm = LayerMap(model_name="mw")
    lm.layers["mw"] = LayerInfo("mw", "Functional", is_model=True)
    lm.layers["dense"] = LayerInfo("dense", "Dense", param_bytes=4096)
    for path, scope, a, b in [("mw", "mw", 0, 1), ("dense", "mw/dense", 0, 1),
                              ("loss_us", "", 1, 2)]:
        lm.calls.append(CallRecord(path, 1, scope, a, b, root_graph_id=1))
    b = XSpaceBuilder(host="h")
    plane = b.plane("/host:CPU")
    plane.line("python").event("train", 0, 200 * US, step_num=1, _r=1)
    compute = plane.line("tf_Compute/1")
    for i, (name, op_type, _) in enumerate(graph):
        if op_type != "Const":
            compute.op(name, op_type, (10 + 20 * i) * US, 10 * US)
    events = xplane.read_profile(b.write(str(tmp_path / "h.xplane.pb")))
    w = attribution.attribute(events, lm, {1: graph})
    assert w.other["loss_us"] == pytest.approx(40)
    assert w.other["unattributed_us"] == pytest.approx(10)
    assert [o["name"] for o in w.unowned_ops] == ["Sum_1"]
