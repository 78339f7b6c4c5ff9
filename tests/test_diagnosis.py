"""Diagnosis rules: each fires on its evidence and stays silent without it."""

from __future__ import annotations

from tb_layerprof import diagnosis
from tb_layerprof.report import LayerStats, WindowReport


def codes(layer, op_time=1000.0):
    return {h.code for h in diagnosis.diagnose_layer(layer, op_time)}


def loop_layer(**kw):
    base = dict(path="slow", custom=True, self_ops_per_call=193, op_types={"StridedSlice": 64, "Mul": 64, "Const": 64, "Pack": 1},
                output_elements=4096)
    base.update(kw)
    return LayerStats(**base)


def test_python_loop_fires_on_repeated_ops():
    hints = diagnosis.diagnose_layer(loop_layer(), 1000.0)
    loop = next(h for h in hints if h.code == "python-loop")
    assert loop.evidence["ops_per_call"] == 193
    assert loop.evidence["repeated_op_types"] == {"StridedSlice": 64, "Mul": 64}
    assert "StridedSlice ×64" in loop.message


def test_python_loop_silent_for_vectorized_and_for_bookkeeping_repeats():
    assert "python-loop" not in codes(LayerStats(path="fast", self_ops_per_call=2, op_types={"Mul": 1, "Const": 1}))
    # Many ops, but only constants repeat: not a loop.
    assert "python-loop" not in codes(loop_layer(op_types={"Const": 150, "MatMul": 3}))
    # A layer whose repeats live in its sublayers is judged on its own ops only.
    assert "python-loop" not in codes(loop_layer(self_ops_per_call=3, op_types={"Relu": 1}))


def test_memory_churn_needs_both_volume_and_ratio():
    churn = LayerStats(path="a", custom=True, self_backward_alloc_bytes=4 << 20,
                       self_kept_alloc_bytes=4 << 20, output_bytes=64 << 10)
    assert "memory-churn" in codes(churn)
    proportionate = LayerStats(path="b", custom=True, self_forward_alloc_bytes=1 << 20,
                               self_kept_alloc_bytes=1 << 20, output_bytes=512 << 10)
    assert "memory-churn" not in codes(proportionate)
    tiny = LayerStats(path="c", custom=True, self_forward_alloc_bytes=10 << 10,
                      self_kept_alloc_bytes=10 << 10, output_bytes=16)
    assert "memory-churn" not in codes(tiny)
    # A Dense head's gradient allocates its input's gradient: expected, not churn.
    head = LayerStats(path="head", custom=True, self_backward_alloc_bytes=257 << 10,
                      self_kept_alloc_bytes=257 << 10, output_bytes=1 << 10,
                      input_bytes=256 << 10, param_bytes=1 << 10)
    assert "memory-churn" not in codes(head)


def test_memory_churn_counts_only_allocations_that_outlive_their_op():
    # A convolution's workspace: 4 MiB allocated and freed inside the kernel's own run.
    scratch = LayerStats(path="conv", custom=True, self_forward_alloc_bytes=4 << 20,
                         self_kept_alloc_bytes=64 << 10, output_bytes=64 << 10)
    assert "memory-churn" not in codes(scratch)


def test_stock_layers_get_no_advice_about_code_they_do_not_own():
    stock = dict(custom=False, self_ops_per_call=193,
                 op_types={"StridedSlice": 64, "Mul": 64}, self_forward_us=100,
                 self_backward_us=900, self_kept_alloc_bytes=4 << 20, output_bytes=64 << 10)
    assert codes(LayerStats(path="conv", **stock), 2000.0) == set()
    assert codes(LayerStats(path="mine", **dict(stock, custom=True)), 2000.0) == {
        "python-loop", "expensive-gradient", "memory-churn"}
    # Retracing comes from the user's inputs, so stock layers keep it.
    assert "retracing" in codes(LayerStats(path="conv", trace_count=6))


def test_host_round_trip_reads_every_op_type_not_the_first_few():
    types = {f"Op{i}": 20 - i for i in range(12)}
    types["EagerPyFunc"] = 1  # the 13th type by count
    assert "host-round-trip" in codes(LayerStats(path="p", op_types=types))


def test_expensive_gradient_ratio_and_share():
    heavy = LayerStats(path="g", custom=True, self_forward_us=100, self_backward_us=900,
                       top_ops=[{"name": "x/grad", "type": "AddN", "phase": "backward", "us": 500}])
    hint = next(h for h in diagnosis.diagnose_layer(heavy, 2000.0) if h.code == "expensive-gradient")
    assert hint.evidence["backward_forward_ratio"] == 9.0
    assert hint.evidence["top_backward_ops"] == ["x/grad (AddN)"]
    matmul_like = LayerStats(path="m", custom=True, self_forward_us=100, self_backward_us=370)
    assert "expensive-gradient" not in codes(matmul_like, 2000.0)
    negligible = LayerStats(path="n", custom=True, self_forward_us=1, self_backward_us=20)
    assert "expensive-gradient" not in codes(negligible, 10000.0)


def test_expensive_gradient_must_hold_in_the_typical_step_too():
    # The JAX seed's vectorized layer: a 1 µs forward and a gradient of three 1 µs ops, one
    # of which stalled once in the window (40 µs mean); with each op at its median run the
    # gradient is 2.3 µs, and the layer is not told its gradient is expensive.
    stalled = LayerStats(path="fast", custom=True, self_forward_us=0.8, self_backward_us=39.1)
    assert "expensive-gradient" in codes(stalled, 300.0)
    hints = diagnosis.diagnose_layer(stalled, 300.0, typical=(0.8, 2.3))
    assert "expensive-gradient" not in {h.code for h in hints}
    # A gradient that is costly on every run still is, and says so in both figures.
    steady = LayerStats(path="g", custom=True, self_forward_us=100, self_backward_us=900)
    hint = next(h for h in diagnosis.diagnose_layer(steady, 2000.0, typical=(95.0, 880.0))
                if h.code == "expensive-gradient")
    assert (hint.evidence["typical_forward_us"], hint.evidence["typical_backward_us"]) == (95.0, 880.0)
    # diagnose() takes the typical figures by layer path.
    window = WindowReport(step=1, steps=4, op_time_us=300.0, layers=[stalled])
    assert not [h for h in diagnosis.diagnose(window, typical={"fast": (0.8, 2.3)}).layers[0].hints
                if h.code == "expensive-gradient"]


def test_retracing_and_host_round_trip():
    assert "retracing" in codes(LayerStats(path="r", trace_count=6))
    assert "retracing" not in codes(LayerStats(path="r", trace_count=2))
    hint = diagnosis.diagnose_layer(LayerStats(path="p", op_types={"EagerPyFunc": 1, "Mul": 1}), 10.0)
    assert [h.code for h in hint] == ["host-round-trip"]
    assert hint[0].evidence["op_types"] == {"EagerPyFunc": 1}


def test_diagnose_fills_every_layer():
    window = WindowReport(step=1, steps=1, op_time_us=1000.0,
                          layers=[loop_layer(), LayerStats(path="fast", self_ops_per_call=2)])
    diagnosis.diagnose(window)
    assert [bool(l.hints) for l in window.layers] == [True, False]
