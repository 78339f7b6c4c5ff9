"""End to end: real Keras training under LayerProfiler, real TensorFlow profiles."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import keras
import tensorflow as tf

import tb_layerprof
from tb_layerprof import LayerProfiler, load_reports
from tests import models


def by_path(window):
    return {layer.path: layer for layer in window.layers}


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("seed"))
    model = models.seed_model()
    x, y = models.data()
    cb = LayerProfiler(log_dir=logdir, profile_batch=(3, 6), every_n_steps=10, verbose=0)
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[cb])
    return logdir, model, cb, history


def test_seed_loop_layer_is_hottest_and_diagnosed(seed_run):
    _, _, cb, _ = seed_run
    window = cb.reports[-1]
    assert window.layers[0].path == "slow"
    layers = by_path(window)
    slow, fast = layers["slow"], layers["fast"]
    assert slow.custom and fast.custom and not layers["dense_in"].custom
    assert slow.forward_us > 5 * fast.forward_us
    assert slow.backward_us > 5 * fast.backward_us
    assert "python-loop" in {h.code for h in slow.hints}
    loop = next(h for h in slow.hints if h.code == "python-loop")
    assert loop.evidence["repeated_op_types"].get("StridedSlice") == 64
    # A vectorized layer is never told it has a loop.
    for path in ("fast", "sigsin", "dense_in", "head"):
        assert "python-loop" not in {h.code for h in layers[path].hints}, path


def test_unscoped_addn_lands_in_the_loop_layers_gradient(seed_run):
    from tb_layerprof import attribution

    cb = seed_run[2]
    layer_map = cb._instrumenter.layer_map
    tables = cb._graph_tables(cb._instrumenter.graphs)
    active = max(tables)  # the train step traced last
    index = attribution.OwnerIndex(layer_map, tables, active)
    addns = [name for name, op_type, inputs in tables[active]
             if op_type == "AddN" and "/" not in name
             and any("gradient_tape/seed_1/slow_1/" in i or "gradient_tape/" in i and "/slow" in i for i in inputs)]
    assert addns, "the traced graph should sum the slices' gradients with an unscoped AddN"
    for name in addns:
        assert index.owner(name) == ("slow", "backward"), name
        # ...and so does the name it runs under once Grappler inlined the step.
        assert index.owner("StatefulPartitionedCall/" + name) == ("slow", "backward")


def test_custom_gradient_ops_land_in_their_layers_gradient(seed_run):
    layers = by_path(seed_run[2].reports[-1])
    cg = layers["sigsin_cg"]
    # tf.custom_gradient's ops carry no layer scope; they are found through the graph.
    assert cg.backward_us > 0
    assert any(op["phase"] == "backward" for op in cg.top_ops)
    assert "memory-churn" not in {h.code for h in layers["head"].hints}


def test_almost_all_op_time_is_attributed(seed_run):
    for window in seed_run[2].reports:
        assert window.op_time_us > 0
        assert window.other["unattributed_us"] < 0.02 * window.op_time_us, window.other
        total = sum(l.self_forward_us + l.self_backward_us for l in window.layers)
        total += sum(window.other.values())
        assert total == pytest.approx(window.op_time_us, rel=1e-6)
        assert window.other["optimizer_us"] > 0 and window.other["loss_us"] > 0


def test_memory_is_attributed_and_churn_diagnosed(seed_run):
    window = seed_run[2].reports[-1]
    assert window.memory_available
    layers = by_path(window)
    slow = layers["slow"]
    # The gradient of 64 column slices allocates a full-size zero tensor per slice.
    assert slow.backward_alloc_bytes > 10 * slow.output_bytes > 0
    assert "memory-churn" in {h.code for h in slow.hints}
    assert "memory-churn" not in {h.code for h in layers["fast"].hints}
    assert layers["dense_in"].param_bytes == (64 * 64 + 64) * 4


def test_periodic_windows_recorded_and_readable_without_tensorflow(seed_run):
    logdir, _, cb, _ = seed_run
    # 32 steps: windows at 3-6, 13-16, 23-26.
    assert [w.step for w in cb.reports] == [3, 13, 23]
    assert all(w.steps == 4 for w in cb.reports)
    runs, errors = load_reports(logdir)
    assert errors == []
    assert [r.run for r in runs] == ["train"]
    assert [w.step for w in runs[0].windows] == [3, 13, 23]
    assert runs[0].windows[-1].layers[0].path == "slow"
    # The raw profiles stay where TensorFlow wrote them, one session per window.
    sessions = os.listdir(os.path.join(logdir, "train", "plugins", "profile"))
    assert sorted(s.split("_steps")[1] for s in sessions) == ["13-16", "23-26", "3-6"], sessions
    assert runs[0].windows[0].profile_dir.startswith("plugins/profile/")


def test_layers_restored_after_training(seed_run):
    model = seed_run[1]
    for layer in model._flatten_layers(include_self=True, recursive=True):
        assert "call" not in layer.__dict__, layer.name


def test_training_result_unchanged_by_profiling(tmp_path):
    x, y = models.data(n=256)
    weights = []
    for callbacks in ([], [LayerProfiler(log_dir=str(tmp_path), profile_batch=(2, 3), verbose=0)]):
        model = models.seed_model(seed=1)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
        weights.append(model.get_weights())
    assert callbacks[0].reports, "the profiled run must have produced a report"
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_matmul_layers_scale_with_work(tmp_path):
    """1, 4 and 16 identical 256x256 matmuls: forward time should scale roughly 1:4:16."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((256,))
    h = models.MatMuls(1, name="mm1")(inp)
    h = models.MatMuls(4, name="mm4")(h)
    h = models.MatMuls(16, name="mm16")(h)
    out = keras.layers.Dense(1, name="head")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((2048, 256)).astype("float32")
    y = np.zeros((2048, 1), "float32")
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(3, 7), verbose=0)
    model.fit(x, y, batch_size=256, epochs=1, verbose=0, callbacks=[cb])
    layers = by_path(cb.reports[-1])
    f1, f4, f16 = (layers[p].forward_us for p in ("mm1", "mm4", "mm16"))
    # Roughly 1:4:16; generous because other processes share this machine's 2 cores.
    assert 1.5 < f4 / f1 < 12, (f1, f4, f16)
    assert 4 < f16 / f1 < 60, (f1, f4, f16)
    assert f16 > f4 > f1
    # Two matmuls per forward matmul: ~2-4x here; generous bounds for a noisy 2-core VM.
    for p in ("mm4", "mm16"):
        ratio = layers[p].backward_us / layers[p].forward_us
        assert 1.2 < ratio < 20, (p, ratio)
    assert layers["mm16"].ops_per_call >= 16


def test_nested_shared_sequential_and_subclassed(tmp_path):
    keras.utils.set_random_seed(0)
    shared = keras.layers.Dense(32, name="shared")

    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.block = models.Block(name="block")
            self.shared = shared
            self.out = keras.layers.Dense(1, name="out")

        def call(self, x):
            h = self.block(x)
            h = self.shared(h)
            h = self.shared(h)  # the same layer twice
            return self.out(h * 0.5)  # an op of the model's own

    model = Net()
    model.compile(optimizer="sgd", loss="mse")
    x, y = models.data(n=512, features=32)
    cb = LayerProfiler(log_dir=str(tmp_path / "sub"), profile_batch=(2, 4), verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    layers = by_path(cb.reports[-1])
    assert {"block", "block/inner", "block/slow", "shared", "out"} <= set(layers)
    assert layers["block/slow"].parent == "block"
    assert layers["block"].forward_us >= layers["block/slow"].forward_us + layers["block/inner"].forward_us - 1e-6
    assert layers["block"].self_forward_us < layers["block"].forward_us
    assert layers["shared"].calls == 2
    assert "python-loop" in {h.code for h in layers["block/slow"].hints}
    assert "python-loop" not in {h.code for h in layers["block"].hints}

    seq = keras.Sequential([keras.Input((32,)), models.SlowDouble(name="slow"), keras.layers.Dense(1, name="d")])
    seq.compile(optimizer="sgd", loss="mse")
    cb2 = LayerProfiler(log_dir=str(tmp_path / "seq"), profile_batch=(2, 3), verbose=0)
    seq.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb2])
    seq_layers = by_path(cb2.reports[-1])
    assert set(seq_layers) == {"slow", "d"}
    assert "python-loop" in {h.code for h in seq_layers["slow"].hints}
    # The first layer has no weights and its input needs no gradient: no backward at all.
    assert seq_layers["slow"].backward_us == 0 and seq_layers["d"].backward_us > 0


def test_eager_mode_attributes_by_spans(tmp_path):
    model = models.seed_model(features=32, run_eagerly=True)
    x, y = models.data(n=256, features=32)
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(2, 3), verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    window = cb.reports[-1]
    assert window.mode == "eager"
    layers = by_path(window)
    assert layers["slow"].forward_us > layers["fast"].forward_us > 0
    assert layers["slow"].calls == 1
    real_layers = [l for l in window.layers if l.path != "seed"]  # not the model's own row
    assert max(real_layers, key=lambda l: l.forward_us).path == "slow"
    # Gradient markers split the tape's work per layer too.
    assert layers["slow"].backward_us > layers["fast"].backward_us > 0
    assert window.other["optimizer_us"] > 0
    assert window.other["unattributed_us"] < 0.10 * window.op_time_us
    assert "python-loop" in {h.code for h in layers["slow"].hints}
    assert "python-loop" not in {h.code for h in layers["fast"].hints}
    # The gradient markers' own identity ops are the profiler's cost, never the model's.
    for row in window.layers:
        assert not any(op["type"] == "Identity" for op in row.top_ops), (row.path, row.top_ops)


def test_second_fit_retraces_only_when_a_window_is_due(tmp_path):
    model = models.seed_model(features=16)
    x, y = models.data(n=256, features=16)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = model.train_function
    idle = LayerProfiler(log_dir=str(tmp_path / "idle"), profile_batch=(100, 101), verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[idle])
    assert model.train_function is before  # no window due: nothing re-made
    assert idle.reports == []
    cb = LayerProfiler(log_dir=str(tmp_path / "due"), profile_batch=(2, 3), verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    assert model.train_function is not before
    # The fresh trace ran under the wrappers: the layer map knows the loop layer's ops.
    slow = by_path(cb.reports[-1])["slow"]
    assert slow.ops_per_call > 40 and slow.forward_us > 0 and slow.backward_us > 0


# -- never fatal ---------------------------------------------------------------------


def _fit_small(callbacks):
    model = models.seed_model(features=16)
    x, y = models.data(n=256, features=16)
    return model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)


def test_unwritable_log_dir_warns_and_trains(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cb = LayerProfiler(log_dir=str(blocker / "logs"), profile_batch=(2, 3), verbose=0)
    with caplog.at_level(logging.WARNING, logger="tb_layerprof"):
        history = _fit_small([cb])
    assert len(history.history["loss"]) == 1
    assert any("skipped" in r.getMessage() for r in caplog.records)


def test_someone_elses_profiler_session_is_left_alone(tmp_path, caplog):
    tf.profiler.experimental.start(str(tmp_path / "theirs"))
    try:
        cb = LayerProfiler(log_dir=str(tmp_path / "ours"), profile_batch=(2, 3), verbose=0)
        with caplog.at_level(logging.WARNING, logger="tb_layerprof"):
            _fit_small([cb])
        assert cb.reports == []
        assert any("could not start the profiler" in r.getMessage() for r in caplog.records)
    finally:
        tf.profiler.experimental.stop()  # raises if our callback had stopped their session
    assert os.listdir(tmp_path / "theirs" / "plugins" / "profile")


def test_analysis_failure_keeps_training_and_raw_profile(tmp_path, caplog, monkeypatch):
    from tb_layerprof import attribution

    def broken(*args, **kwargs):
        raise RuntimeError("boom in analysis")

    monkeypatch.setattr(attribution, "attribute_window", broken)
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(2, 3), verbose=0)
    with caplog.at_level(logging.WARNING, logger="tb_layerprof"):
        history = _fit_small([cb])
    assert len(history.history["loss"]) == 1
    assert cb.reports == []
    assert any("boom in analysis" in r.getMessage() for r in caplog.records)
    sessions = os.listdir(tmp_path / "train" / "plugins" / "profile")
    assert sessions  # nothing lost: the raw capture is still there


def test_corrupt_profile_is_reported_not_fatal(tmp_path, caplog, monkeypatch):
    from tb_layerprof import capture

    real = capture.unique_session

    def corrupting(path, first, last):
        moved = real(path, first, last)
        with open(moved, "wb") as f:
            f.write(b"\x08\x96\x01garbage" * 3)
        return moved

    monkeypatch.setattr(capture, "unique_session", corrupting)
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(2, 3), verbose=0, background=False)
    with caplog.at_level(logging.WARNING, logger="tb_layerprof"):
        history = _fit_small([cb])
    assert len(history.history["loss"]) == 1
    assert cb.reports == []
    assert any("not analysed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "value, expected",
    [(5, (5, 5)), ((2, 4), (2, 4)), ("3,7", (3, 7)), (0, (0, 0)), ([1, 1], (1, 1))],
)
def test_profile_batch_follows_keras_tensorboard(value, expected):
    from tb_layerprof.callback import parse_profile_batch

    assert parse_profile_batch(value) == expected


@pytest.mark.parametrize("value", [(5, 2), -1, "a,b", (1, 2, 3), (0, 4)])
def test_profile_batch_rejects_nonsense(value):
    with pytest.raises(ValueError, match="profile_batch"):
        LayerProfiler(profile_batch=value)


def test_package_import_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, tb_layerprof; tb_layerprof.load_reports; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_py_function_layer_gets_host_round_trip_hint(tmp_path):
    class HostLayer(keras.layers.Layer):
        def call(self, x):
            y = tf.py_function(lambda t: t * 2.0, [x], tf.float32)
            y.set_shape(x.shape)
            return y + x

    keras.utils.set_random_seed(0)
    inp = keras.Input((16,))
    out = keras.layers.Dense(1, name="d")(HostLayer(name="host")(keras.layers.Dense(16, name="pre")(inp)))
    model = keras.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    x, y = models.data(n=256, features=16)
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(2, 3), verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    layers = by_path(cb.reports[-1])
    assert "host-round-trip" in {h.code for h in layers["host"].hints}
    assert not layers["pre"].hints


def test_xla_compiled_step_is_attributed_through_hlo_metadata(tmp_path):
    """jit_compile=True on CPU: XLA ops map back to TF ops, hence layers, via HLO protos."""
    model = models.seed_model(features=32)
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    x, y = models.data(n=512, features=32)
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(3, 5), verbose=0)
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 1
    window = cb.reports[-1]
    assert window.mode == "xla"
    layers = by_path(window)
    for path in ("dense_in", "slow", "fast", "sigsin", "head"):
        assert layers[path].forward_us > 0, path
    assert layers["dense_in"].backward_us > 0
    assert window.other["unattributed_us"] < 0.10 * window.op_time_us, window.other
    assert "python-loop" in {h.code for h in layers["slow"].hints}


def test_trace_viewer_shows_a_keras_layers_line_over_the_ops(seed_run):
    """XProf's own converter finds our line, one span per layer and phase, inside the steps."""
    import glob
    import json

    from xprof.convert import raw_to_tool_data

    logdir, _, cb, _ = seed_run
    window = cb.reports[-1]
    path = glob.glob(os.path.join(logdir, "train", window.profile_dir, "*.xplane.pb"))[0]
    data, _ = raw_to_tool_data.xspace_to_tool_data([path], "trace_viewer", {"use_saved_result": False})
    trace = json.loads(data)["traceEvents"]
    names = {(e.get("pid"), e.get("tid")): e["args"]["name"] for e in trace
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    line = [k for k, v in names.items() if v == "Keras Layers"]
    assert len(line) == 1
    spans = [e for e in trace if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) == line[0]]
    steps = [e for e in trace if e.get("ph") == "X" and e.get("args", {}).get("step_name", "").startswith("train")]
    assert len(steps) == window.steps
    lo = min(e["ts"] for e in steps)
    hi = max(e["ts"] + e["dur"] for e in steps)
    expected = {f"{l.path} (forward)" for l in window.layers} | {
        f"{l.path} (gradient)" for l in window.layers if l.backward_us > 0}
    assert expected <= {e["name"] for e in spans}
    # One span per layer, phase and step, all inside the profiled steps.
    assert sum(1 for e in spans if e["name"] == "slow (forward)") == window.steps
    for e in spans:
        assert lo - 1 <= e["ts"] and e["ts"] + e["dur"] <= hi + 1, e
        assert e["args"]["layer"] in {l.path for l in window.layers}
    # The original op events are untouched: the loop layer's ops are all still there.
    ops = [e for e in trace if e.get("ph") == "X" and e.get("name") == "StridedSlice"
           and "/slow_1/strided_slice" in e.get("args", {}).get("long_name", "")]
    assert len(ops) >= 64 * window.steps


def test_step_time_matches_xprof_overview_page(seed_run):
    """Our step boundaries are XProf's: same steps, same mean step time (within a few %)."""
    import glob
    import json

    from xprof.convert import raw_to_tool_data

    logdir, _, cb, _ = seed_run
    for window in cb.reports:
        found = glob.glob(os.path.join(logdir, "train", window.profile_dir, "*.xplane.pb"))
        assert found, (window.profile_dir, os.listdir(os.path.join(logdir, "train", "plugins", "profile")))
        data, _ = raw_to_tool_data.xspace_to_tool_data([found[0]], "overview_page", {"use_saved_result": False})
        tables = [t for t in json.loads(data) if any(c["id"] == "stepTimeMs" for c in t.get("cols", []))]
        rows = tables[0]["rows"]
        col = [c["id"] for c in tables[0]["cols"]].index("stepTimeMs")
        xprof_steps = [row["c"][0]["v"] for row in rows]
        assert xprof_steps == [f"train {s}" for s in range(window.step, window.step + window.steps)]
        xprof_ms = sum(row["c"][col]["v"] for row in rows) / len(rows)
        assert window.step_time_us / 1000 == pytest.approx(xprof_ms, rel=0.03)


def test_workers_sharing_a_log_dir_keep_their_own_captures(tmp_path, monkeypatch):
    """Two workers (same hostname) profile the same steps into one log_dir."""
    import json as _json

    reports = []
    for index in (0, 1):
        monkeypatch.setenv("TF_CONFIG", _json.dumps(
            {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": index}}))
        cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(2, 3), verbose=0)
        assert cb.worker == f"worker-{index}"
        _fit_small([cb])
        reports.append(cb.reports[-1])
    assert [w.host for w in reports] == ["worker-0", "worker-1"]
    runs, errors = load_reports(str(tmp_path))
    assert not errors
    assert [(w.step, w.host) for w in runs[0].windows] == [(2, "worker-0"), (2, "worker-1")]
    profile = tmp_path / "train" / "plugins" / "profile"
    files = sorted(str(p.relative_to(profile)) for p in profile.glob("*/*.xplane.pb"))
    # One session for the window, one host per worker: XProf shows them side by side.
    assert files == ["steps2-3/worker-0.xplane.pb", "steps2-3/worker-1.xplane.pb"]
    assert not (tmp_path / "train" / ".layerprof-capture").exists()


def test_fit_stays_asynchronous_with_the_profiler(tmp_path, monkeypatch):
    """Keras dispatches batch-end callbacks asynchronously on thread-safe backends unless a
    callback needs them synchronous. With the TensorFlow backend's switch forced on (off
    in Keras 3.15, tensorflow#78338), LayerProfiler keeps async dispatch, and its windows
    still hold exactly their steps (the step markers are placed at batch begins)."""
    from keras.src import backend as keras_backend
    from keras.src.callbacks.callback_list import CallbackList

    monkeypatch.setattr(keras_backend, "IS_THREAD_SAFE", True)
    cb = LayerProfiler(log_dir=str(tmp_path), profile_batch=(3, 5), verbose=0, background=False)
    dispatch = CallbackList([cb], model=models.seed_model())
    assert dispatch._async_train, "LayerProfiler made fit's batch-end callbacks synchronous"

    keras.utils.set_random_seed(0)
    model = models.seed_model()
    x, y = models.data(n=64 * 10)
    seen = []

    class Probe(keras.callbacks.Callback):
        async_safe = True

        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_data=(x[:64], y[:64]),
              callbacks=[cb, Probe()])
    assert sorted(seen) == sorted(list(range(10)) * 2)  # every batch end, both epochs
    (window,) = cb.reports
    assert (window.step, window.steps) == (3, 3) and window.batches_per_step == 1
    layers = {x.path: x for x in window.layers}
    assert layers["slow"].forward_us > 0 and layers["slow"].backward_us > 0
    runs, errors = load_reports(str(tmp_path))
    assert not errors and [w.step for w in runs[0].windows] == [3]
