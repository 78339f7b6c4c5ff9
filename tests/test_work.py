"""Work counts: the formulas (pure), the report fields, and real Keras training: exact
FLOPs of known-cost layers, a convolution, attention, the seed layers and their diagnoses."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from tb_layerprof import diagnosis, figures, peaks, work
from tb_layerprof.figures import layer_rates
from tb_layerprof.report import LayerStats, WindowReport, window_from_bytes, window_to_bytes
from tb_layerprof.work import OpShapes, TensorSpec, op_work

F32 = 4


def _shapes(outs, ins, **attrs) -> OpShapes:
    return OpShapes(tuple(TensorSpec(o, F32) for o in outs),
                    tuple(TensorSpec(i, F32) for i in ins), attrs)


# -- formulas ---------------------------------------------------------------------------


def test_matmul_is_2mnk_whatever_the_transposes():
    fwd = _shapes([(8, 32)], [(8, 16), (16, 32)])
    assert op_work("MatMul", fwd).flops == 2 * 8 * 32 * 16
    # Gradients: dx = dy·Wᵀ (transpose_b) and dW = xᵀ·dy (transpose_a): same formula.
    dx = _shapes([(8, 16)], [(8, 32), (16, 32)])
    dw = _shapes([(16, 32)], [(8, 16), (8, 32)])
    assert op_work("MatMul", dx).flops == 2 * 8 * 16 * 32
    assert op_work("_MklMatMul", dw).flops == 2 * 16 * 32 * 8
    w = op_work("MatMul", fwd)
    assert w.label == work.EXACT and w.bytes == (8 * 16 + 16 * 32 + 8 * 32) * F32


def test_batch_matmul_einsum_and_unknown_batch():
    bmm = _shapes([(None, 4, 8, 8)], [(None, 4, 8, 16), (None, 4, 16, 8)])
    assert op_work("BatchMatMulV2", bmm) is None  # batch unknown and not given
    assert op_work("BatchMatMulV2", bmm, batch=3).flops == 2 * 3 * 4 * 8 * 8 * 16
    assert op_work("BatchMatMulV2", bmm, batch=3).label == work.EXACT
    # An unknown dimension past the first also takes the batch, but only as an estimate.
    seq = _shapes([(None, None, 8)], [(None, None, 16), (16, 8)])
    assert op_work("BatchMatMulV2", seq, batch=3).label == work.ESTIMATED
    ein = _shapes([(2, 5, 7)], [(2, 5, 3), (3, 7)], equation="abc,cd->abd")
    assert op_work("Einsum", ein).flops == 2 * 2 * 5 * 7 * 3


def test_convolutions_forward_and_backprop():
    n, h, w, cin, cout, k = 2, 6, 6, 3, 8, 3
    per_out = 2 * k * k * cin
    fwd = _shapes([(n, h, w, cout)], [(n, h, w, cin), (k, k, cin, cout)])
    assert op_work("Conv2D", fwd).flops == n * h * w * cout * per_out
    dinp = _shapes([(n, h, w, cin)], [(4,), (k, k, cin, cout), (n, h, w, cout)])
    dfilt = _shapes([(k, k, cin, cout)], [(n, h, w, cin), (4,), (n, h, w, cout)])
    assert op_work("Conv2DBackpropInput", dinp).flops == n * h * w * cout * per_out
    assert op_work("Conv2DBackpropFilter", dfilt).flops == n * h * w * cout * per_out
    dw = _shapes([(n, h, w, cin)], [(n, h, w, cin), (k, k, cin, 1)])
    assert op_work("DepthwiseConv2dNative", dw).flops == 2 * n * h * w * cin * k * k


def test_elementwise_reductions_data_movement_and_bytes_only():
    x = _shapes([(4, 5)], [(4, 5), (4, 5)])
    assert op_work("AddV2", x).flops == 20
    assert op_work("AddN", _shapes([(4, 5)], [(4, 5)] * 3)).flops == 40
    assert op_work("Sum", _shapes([(5,)], [(4, 5), (1,)])).flops == 20
    reshape = op_work("Reshape", _shapes([(20,)], [(4, 5), (1,)]))
    assert reshape.flops == 0 and reshape.label == work.EXACT
    # A slice reads what it takes, not its whole input.
    assert op_work("StridedSlice", _shapes([(4,)], [(4, 5), (2,), (2,), (2,)])).bytes == 2 * 4 * F32
    odd = op_work("SomeCustomOp", x)
    assert odd.label == work.BYTES_ONLY and odd.flops == 0 and odd.bytes == 3 * 20 * F32


def test_fused_matmul_adds_its_elementwise_tail():
    fused = _shapes([(8, 32)], [(8, 16), (16, 32), (32,)], fused=2)
    assert op_work("_MklNativeFusedMatMul", fused).flops == 2 * 8 * 32 * 16 + 2 * 8 * 32


# -- report fields and diagnosis (synthetic) ----------------------------------------------


def test_work_fields_round_trip_with_nulls():
    layer = LayerStats(path="a", forward_flops=10.0, backward_bytes=None, work_counts="exact")
    w = WindowReport(step=1, steps=1, layers=[layer], peak_flops_per_s=1e11,
                     peak_source="calibrated-cpu", work_coverage=0.9)
    back = window_from_bytes(window_to_bytes(w))
    assert back.layers[0].forward_flops == 10.0 and back.layers[0].backward_bytes is None
    assert back.peak_flops_per_s == 1e11 and back.peak_bytes_per_s is None
    assert back.peak_source == "calibrated-cpu" and back.work_coverage == 0.9
    doc = json.loads(window_to_bytes(w))
    assert doc["layers"][0]["backward_flops"] is None
    bad = dict(doc, layers=[dict(doc["layers"][0], forward_flops="x")])
    with pytest.raises(ValueError, match="forward_flops"):
        WindowReport.from_json(bad)


def _loopy(custom=True, flops=4096.0, moved=100_000.0, events=260.0, us=300.0) -> LayerStats:
    return LayerStats(path="slow", custom=custom, self_forward_us=us / 2, self_backward_us=us / 2,
                      forward_us=us / 2, backward_us=us / 2, self_forward_flops=flops,
                      self_backward_flops=0.0, self_forward_bytes=moved, self_backward_bytes=0.0,
                      forward_op_events=events / 2, backward_op_events=events / 2)


def _window(*layers) -> WindowReport:
    return WindowReport(step=1, steps=1, layers=list(layers), op_time_us=1000.0,
                        peak_flops_per_s=1e11, peak_bytes_per_s=2e10)


def test_overhead_bound_needs_many_tiny_ops_far_below_the_roofs():
    w = diagnosis.diagnose(_window(_loopy()))
    assert "overhead-bound" in {h.code for h in w.layers[0].hints}
    hint = next(h for h in w.layers[0].hints if h.code == "overhead-bound")
    assert hint.evidence["share_of_peak_flops"] < 0.01
    busy = dataclasses.replace(_loopy(flops=1e9), self_backward_flops=2e9)  # both phases work
    for layer in (_loopy(events=4), _loopy(custom=False), busy):
        assert "overhead-bound" not in {h.code for h in diagnosis.diagnose(_window(layer)).layers[0].hints}


def test_a_loop_whose_gradient_moves_bytes_is_overhead_bound_in_its_forward():
    """The seed's loop at full size: a forward of 513 slices and multiplies of ~2 µs, a
    gradient whose AddNs sum 256 dense slice gradients (65 MB per step near the bandwidth
    roof). The layer as a whole is not far below the roofs; its forward is."""
    doubler = LayerStats(path="doubler", custom=True, self_forward_us=1170.0, forward_us=1170.0,
                         self_backward_us=10630.0, backward_us=10630.0,
                         self_forward_flops=65536.0, forward_flops=65536.0,
                         self_backward_flops=16.7e6, backward_flops=16.7e6,
                         self_forward_bytes=600e3, forward_bytes=600e3,
                         self_backward_bytes=130e6, backward_bytes=130e6,
                         forward_op_events=513.0, backward_op_events=514.0)
    window = WindowReport(step=1, steps=1, layers=[doubler], op_time_us=19660.0,
                          peak_flops_per_s=1.78e11, peak_bytes_per_s=1.4e10)
    assert diagnosis._overheads(1027.0, 11800.0, 130.6e6, layer_rates(doubler, window)) is None
    hints = {h.code: h for h in diagnosis.diagnose(window).layers[0].hints}
    assert "overhead-bound" in hints and "memory-bound" not in hints
    assert hints["overhead-bound"].evidence["phase"] == "forward"
    assert hints["overhead-bound"].message.startswith("its forward runs 513 ops per step")
    # a loop whose every phase moves bytes at the roof is not overhead-bound
    heavy = dataclasses.replace(doubler, self_forward_bytes=1.4e7, forward_bytes=1.4e7)
    heavy_hints = {h.code for h in diagnosis.diagnose(dataclasses.replace(
        window, layers=[heavy])).layers[0].hints}
    assert "overhead-bound" not in heavy_hints


def test_memory_bound_low_intensity_near_the_bandwidth_roof():
    layer = _loopy(flops=1e6, moved=4e6, events=4, us=400.0)  # 10 GB/s, 0.25 FLOP/byte
    hints = diagnosis.diagnose(_window(layer)).layers[0].hints
    assert [h.code for h in hints] == ["memory-bound"]
    assert hints[0].evidence["ridge_flops_per_byte"] == 5.0
    # A stock layer (pooling, normalization) moving bytes at the roof is working as meant.
    stock = _loopy(flops=1e6, moved=4e6, events=4, us=400.0, custom=False)
    assert not diagnosis.diagnose(_window(stock)).layers[0].hints


def test_healthy_stock_layer_is_not_hot_for_being_big():
    big = LayerStats(path="dense", self_forward_us=900.0, forward_us=900.0,
                     self_forward_flops=5e7, self_backward_flops=0.0)  # 55 GFLOP/s of 100
    small = LayerStats(path="other", self_forward_us=50.0, forward_us=50.0)
    w = _window(big, small)
    assert [x.path for x in figures.hot_layers(w)] == ["other"]
    w.peak_flops_per_s = None  # no roof: ranked by time, as before
    assert [x.path for x in figures.hot_layers(w)] == ["dense", "other"]


def test_cpu_calibration_is_quick_cached_and_skippable(tmp_path, monkeypatch):
    monkeypatch.setenv(peaks.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(peaks.SKIP_ENV, raising=False)
    first = peaks.cpu_peaks()
    assert first.source == "calibrated-cpu" and first.flops_per_s > 1e8 and first.bytes_per_s > 1e8
    assert os.path.exists(tmp_path / "peaks.json")
    monkeypatch.setattr(peaks, "calibrate_cpu", lambda: pytest.fail("calibrated twice"))
    assert peaks.cpu_peaks() == first
    monkeypatch.setenv(peaks.SKIP_ENV, "1")
    assert peaks.cpu_peaks() is None


def test_cpu_calibration_has_a_cache_roof_and_recalibrates_an_older_cache(tmp_path, monkeypatch):
    """The cache roof: a small copy repeated. A cache file written before it (two values
    per machine) is calibrated again, not read as a machine without a cache roof."""
    monkeypatch.setenv(peaks.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(peaks.SKIP_ENV, raising=False)
    (tmp_path / "peaks.json").write_text(json.dumps({peaks._machine_key(): [1e11, 1e10]}))
    got = peaks.cpu_peaks()
    assert got.cache_bytes_per_s is not None and got.cache_bytes_per_s > 1e8
    stored = json.loads((tmp_path / "peaks.json").read_text())[peaks._machine_key()]
    assert len(stored) == 3 and stored[2] == got.cache_bytes_per_s
    w = WindowReport(step=1, steps=1, peak_flops_per_s=1e11, peak_bytes_per_s=1e10,
                     peak_cache_bytes_per_s=got.cache_bytes_per_s)
    assert WindowReport.from_json(json.loads(json.dumps(w.to_json()))).peak_cache_bytes_per_s == got.cache_bytes_per_s


def test_gpu_peaks_from_device_caps():
    h100 = {"clock_rate": 1980000.0, "core_count": 132.0, "compute_cap_major": 9.0,
            "compute_cap_minor": 0.0, "memory_bandwidth": 3.35e12}
    p = peaks.gpu_peaks(h100)
    assert p.source == "gpu-device-caps" and abs(p.flops_per_s - 66.9e12) < 0.1e12
    assert p.bytes_per_s == 3.35e12
    assert peaks.gpu_peaks({}) is None


# -- real Keras training -----------------------------------------------------------------


def _train(tmp_path, model, x, y, batch_size, profile_batch=(3, 5)):
    from tb_layerprof import LayerProfiler

    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=profile_batch, verbose=0,
                       background=False)
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[cb])
    return cb.reports[-1], {layer.path: layer for layer in cb.reports[-1].layers}


@pytest.mark.slow
def test_known_cost_matmul_layers_exact_1_4_16(tmp_path):
    import keras
    from tests import models

    keras.utils.set_random_seed(0)
    inp = keras.Input((256,))
    h = models.MatMuls(1, name="mm1")(inp)
    h = models.MatMuls(4, name="mm4")(h)
    h = models.MatMuls(16, name="mm16")(h)
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(h))
    model.compile(optimizer="sgd", loss="mse")
    b = 128
    x = np.random.default_rng(0).standard_normal((b * 8, 256)).astype("float32")
    window, layers = _train(tmp_path, model, x, np.zeros((b * 8, 1), "float32"), b)
    for k in (1, 4, 16):
        layer = layers[f"mm{k}"]
        assert layer.forward_flops == 2 * b * 256 * 256 * k, k
        assert layer.work_counts == "exact"
    # Both gradients (input and weight) where the input needs one; mm1's input is the data.
    assert layers["mm4"].backward_flops == 2 * layers["mm4"].forward_flops
    assert layers["mm16"].backward_flops == 2 * layers["mm16"].forward_flops
    assert layers["mm1"].backward_flops == layers["mm1"].forward_flops
    assert layers["head"].forward_flops == 2 * b * 256 + b  # matmul + bias
    assert window.peak_cache_bytes_per_s and window.peak_cache_bytes_per_s > 0
    assert window.peak_source == "calibrated-cpu" and window.peak_flops_per_s > 0
    assert 0.5 < window.work_coverage <= 1.0


@pytest.mark.slow
def test_conv2d_and_attention_counts(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    b, hw, seq, dim, heads = 16, 8, 10, 16, 2
    img = keras.Input((hw, hw, 3))
    conv = keras.layers.Conv2D(8, 3, padding="same", name="conv")(img)
    flat = keras.layers.Flatten()(conv)
    tokens = keras.layers.Reshape((seq, dim))(keras.layers.Dense(seq * dim, name="proj")(flat))
    att = keras.layers.MultiHeadAttention(heads, dim // heads, name="mha")(tokens, tokens)
    out = keras.layers.Dense(1, name="head")(keras.layers.Flatten()(att))
    model = keras.Model(img, out)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((b * 8, hw, hw, 3)).astype("float32")
    window, layers = _train(tmp_path, model, x, np.zeros((b * 8, 1), "float32"), b)
    conv_fwd = 2 * b * hw * hw * 8 * 3 * 3 * 3
    # The convolution plus its bias (one add per output element).
    assert layers["conv"].forward_flops == conv_fwd + b * hw * hw * 8
    # The data needs no gradient: only the filter's gradient (and the bias').
    assert layers["conv"].backward_flops >= conv_fwd
    mha = layers["mha"]
    # q, k, v and output projections (2·b·seq·dim·dim each) and the two attention matmuls
    # (2·b·heads·seq·seq·(dim/heads) each), at least.
    floor = 4 * 2 * b * seq * dim * dim + 2 * 2 * b * seq * seq * dim
    assert floor <= mha.forward_flops < 1.5 * floor, (mha.forward_flops, floor)
    assert mha.backward_flops > 1.5 * mha.forward_flops
    assert mha.work_counts in ("exact", "estimated")


@pytest.mark.slow
def test_seed_loop_layer_is_overhead_bound_and_its_twin_is_not(tmp_path):
    from tests import models

    model = models.seed_model()
    x, y = models.data()
    window, layers = _train(tmp_path, model, x, y, 64, profile_batch=(3, 8))
    slow, fast, dense = layers["slow"], layers["fast"], layers["dense_in"]
    assert slow.forward_flops == 64 * 64  # one multiply per element
    assert fast.forward_flops == 64 * 64
    assert dense.forward_flops == 2 * 64 * 64 * 64 + 64 * 64
    for layer in (slow, fast, dense, layers["sigsin"], layers["head"]):
        assert layer.work_counts == "exact", layer.path
    codes = {h.code for h in slow.hints}
    assert "overhead-bound" in codes, slow.hints
    for path in ("fast", "dense_in", "sigsin", "head"):
        assert "overhead-bound" not in {h.code for h in layers[path].hints}, path
    # The same multiplies, a far lower rate (typically 1/50 of the twin's; the twin is one
    # ~5 µs op per step, so one stalled run on a loaded CI machine moves its mean rate a lot:
    # the bound leaves room for that, the Dense comparison below is the steadier one).
    assert slow.forward_flops_per_s < 0.25 * fast.forward_flops_per_s
    assert slow.forward_flops_per_s < 0.05 * dense.forward_flops_per_s
    loop = next(h for h in slow.hints if h.code == "python-loop")
    assert "achieved_flops_per_s" in loop.evidence  # efficiency as evidence


@pytest.mark.slow
def test_seed_loop_at_the_articles_size_is_overhead_bound_far_below_dense(tmp_path):
    """65,536 numbers doubled per step (batch 256 x 256 features, the demo's size): the
    loop's gradient AddNs move 130 MB near the bandwidth roof, yet the layer is
    overhead-bound (its forward), and its forward rate is under 1% of the Dense layer's."""
    from tests import models

    model = models.seed_model(features=256)
    x, y = models.data(n=256 * 8, features=256)
    window, layers = _train(tmp_path, model, x, y, 256, profile_batch=(3, 6))
    slow, dense = layers["slow"], layers["dense_in"]
    assert slow.forward_flops == 256 * 256
    hint = next((h for h in slow.hints if h.code == "overhead-bound"), None)
    assert hint is not None, [h.code for h in slow.hints]
    assert "memory-bound" not in {h.code for h in slow.hints}
    assert slow.forward_flops_per_s < 0.01 * dense.forward_flops_per_s
    for path in ("fast", "dense_in", "sigsin", "sigsin_cg", "head"):
        assert "overhead-bound" not in {h.code for h in layers[path].hints}, path


@pytest.mark.slow
def test_xla_counts_come_from_hlo_shapes(tmp_path):
    import keras
    from tests import models

    keras.utils.set_random_seed(0)
    inp = keras.Input((256,))
    h = models.MatMuls(1, name="mm1")(inp)
    h = models.MatMuls(4, name="mm4")(h)
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(h))
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    b = 64
    x = np.random.default_rng(0).standard_normal((b * 8, 256)).astype("float32")
    window, layers = _train(tmp_path, model, x, np.zeros((b * 8, 1), "float32"), b)
    assert window.mode == "xla"
    assert layers["mm1"].forward_flops == 2 * b * 256 * 256
    assert layers["mm4"].forward_flops == 4 * layers["mm1"].forward_flops
    assert layers["mm4"].backward_flops == 2 * layers["mm4"].forward_flops
    assert window.work_coverage > 0.5


def test_a_failing_count_is_a_warning_not_a_lost_window(monkeypatch):
    from tb_layerprof import work_ledger

    layer = LayerStats(path="a", forward_us=1.0)
    window = WindowReport(step=1, steps=1, layers=[layer])

    def broken(*args, **kwargs):
        layer.forward_flops = 5.0  # half-written figures are cleared
        raise RuntimeError("boom")

    monkeypatch.setattr(work_ledger, "_book_work", broken)
    work_ledger.book_work(window, {"a": layer}, {}, None, {}, None, 0, 1.0)
    assert layer.forward_flops is None and "work counts" in window.warnings[-1]


@pytest.mark.slow
def test_unknown_batch_dimension_takes_the_executed_batch(tmp_path):
    """A tf.data pipeline without drop_remainder traces the batch as None: counts use the
    batch the window executed."""
    import keras
    import tensorflow as tf

    from tb_layerprof import LayerProfiler
    from tests import models

    keras.utils.set_random_seed(0)
    inp = keras.Input((256,))
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(models.MatMuls(4, name="mm4")(inp)))
    model.compile(optimizer="sgd", loss="mse")
    b = 96
    x = np.random.default_rng(0).standard_normal((b * 8, 256)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros((b * 8, 1), "float32"))).batch(b)
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(3, 5), verbose=0, background=False)
    model.fit(ds, epochs=1, verbose=0, callbacks=[cb])
    tables = cb._graph_tables(cb._instrumenter.graphs)
    traced = [s for t in tables.values() for n, s in t.shapes.items() if n.endswith("mm4_1/MatMul")]
    assert traced and traced[0].outputs[0].dims[0] is None  # the batch really was unknown
    layer = {x.path: x for x in cb.reports[-1].layers}["mm4"]
    assert layer.forward_flops == 2 * b * 256 * 256 * 4
    # Two gradient matmuls per forward one, but the first's input (the data) needs none.
    assert layer.backward_flops == 7 / 4 * layer.forward_flops
