"""LayerProfiler beyond Keras 3 `model.fit`: custom training loops, and tf_keras `fit`.

Real training, real TensorFlow profiles. The tf_keras test runs in a subprocess because
`TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is imported; it needs the optional
`tf_keras` package (`make setup` installs it) and fails, not skips, without it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from tb_layerprof import LayerProfiler, cli, load_reports
from tb_layerprof.report import WindowReport
from tests import models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def subprocess_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def uncompiled_seed_model():
    """The seed model without `compile`: a custom loop brings its own optimizer and loss."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    h = keras.layers.Dense(64, name="dense_in")(inp)
    h = models.SlowDouble(name="slow")(h)
    h = models.FastDouble(name="fast")(h)
    h = models.SigmoidSin(name="sigsin")(h)
    out = keras.layers.Dense(1, name="head")(h)
    return keras.Model(inp, out, name="seed")


def custom_loop(model, callbacks, epochs=2, compiled=True, trace_first=False):
    """A user's own training loop, driving the callbacks like `fit` does."""
    x, y = models.data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.MeanSquaredError()

    def step_fn(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    train_step = tf.function(step_fn) if compiled else step_fn
    if trace_first:  # the mistake the README warns about: traced before on_train_begin
        train_step(x[:64], y[:64])
    callbacks.on_train_begin()
    step = 0
    for _ in range(epochs):
        for xb, yb in dataset:
            callbacks.on_train_batch_begin(step)
            loss = train_step(xb, yb)
            callbacks.on_train_batch_end(step, {"loss": loss})
            step += 1
    callbacks.on_train_end()
    return step


def check_attribution(window: WindowReport, max_unattributed=0.03):
    layers = {layer.path: layer for layer in window.layers}
    top = max(window.layers, key=lambda x: x.self_forward_us + x.self_backward_us)
    assert top.path == "slow", [(x.path, x.forward_us, x.backward_us) for x in window.layers]
    assert "python-loop" in {h.code for h in layers["slow"].hints}
    assert "python-loop" not in {h.code for h in layers["fast"].hints}
    assert layers["slow"].backward_us > 0 and layers["slow"].custom
    assert not layers["dense_in"].custom
    assert window.op_time_us > 0
    assert window.other["unattributed_us"] < max_unattributed * window.op_time_us, window.other
    assert window.other["optimizer_us"] > 0 and window.other["loss_us"] > 0, window.other
    total = sum(x.self_forward_us + x.self_backward_us for x in window.layers)
    assert total + sum(window.other.values()) == pytest.approx(window.op_time_us, rel=1e-6)


# --------------------------------------------------------------------------- custom loops


@pytest.fixture(scope="module")
def custom_loop_run(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("custom_loop"))
    model = uncompiled_seed_model()
    assert getattr(model, "optimizer", None) is None
    profiler = LayerProfiler(log_dir=logdir, profile_batch=(3, 6), every_n_steps=10, verbose=0)
    callbacks = keras.callbacks.CallbackList([profiler], model=model)  # no params
    steps = custom_loop(model, callbacks)
    return logdir, model, profiler, steps


def test_custom_loop_windows_without_params(custom_loop_run):
    logdir, _, profiler, steps = custom_loop_run
    assert not profiler.params  # CallbackList without params: no step count known
    assert steps == 32
    assert [w.step for w in profiler.reports] == [3, 13, 23]
    assert all(w.steps == 4 and w.mode == "graph" and not w.warnings for w in profiler.reports)
    runs, errors = load_reports(logdir)
    assert errors == [] and [r.run for r in runs] == ["train"]
    assert [w.step for w in runs[0].windows] == [3, 13, 23]


def test_custom_loop_attribution_same_as_fit(custom_loop_run):
    for window in custom_loop_run[2].reports:
        check_attribution(window)
        # Step markers bound the steps as in fit: the step time covers the op time.
        assert window.step_time_us > 0


def test_custom_loop_cli_report(custom_loop_run):
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["report", custom_loop_run[0]], out=out, err=err) == 0, err.getvalue()
    assert "1. slow (SlowDouble, custom)" in out.getvalue()


def test_custom_loop_wrappers_removed(custom_loop_run):
    model = custom_loop_run[1]
    for layer in model._flatten_layers(include_self=True, recursive=True):
        assert "call" not in layer.__dict__, layer.name
    # The optimizer and loss classes wrapped for the loop are exactly as before.
    for cls in (keras.optimizers.Optimizer, keras.losses.Loss):
        for klass in cls.__mro__:
            for name, value in vars(klass).items():
                assert not getattr(value, "_layerprof", False), (klass, name)


def test_custom_loop_traced_before_begin_warns(tmp_path, caplog):
    model = uncompiled_seed_model()
    profiler = LayerProfiler(log_dir=str(tmp_path), profile_batch=(2, 3), verbose=0)
    callbacks = keras.callbacks.CallbackList([profiler], model=model)
    with caplog.at_level("WARNING", logger="tb_layerprof"):
        custom_loop(model, callbacks, epochs=1, trace_first=True)
    (window,) = profiler.reports  # training and the report went on
    assert any("call on_train_begin() before your tf.function" in w for w in window.warnings)
    assert "on_train_begin() before your tf.function" in caplog.text


def test_custom_loop_eager(tmp_path):
    """Without tf.function the layers run eagerly: the report switches to eager mode."""
    model = uncompiled_seed_model()
    profiler = LayerProfiler(log_dir=str(tmp_path), profile_batch=(3, 5), verbose=0,
                             background=False)
    callbacks = keras.callbacks.CallbackList([profiler], model=model)
    custom_loop(model, callbacks, epochs=1, compiled=False)
    (window,) = profiler.reports
    assert window.mode == "eager" and window.steps == 3
    check_attribution(window, max_unattributed=0.05)


def test_demo_custom_loop_runs(tmp_path):
    logdir = tmp_path / "logs"
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "demo", "custom_loop.py"), "--logdir", str(logdir),
         "--steps", "16", "--features", "32"],
        capture_output=True, text=True, env=subprocess_env(), timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1. slow_double (SlowDouble, custom)" in proc.stdout
    assert "[python-loop]" in proc.stdout
    runs, errors = load_reports(str(logdir))
    assert errors == [] and runs[0].windows[0].step == 10


def test_readme_custom_loop_example_is_the_demo():
    """The README's example is demo/custom_loop.py's loop, so it is tested above."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "## Custom training loops" in readme
    for line in (
        "callbacks = keras.callbacks.CallbackList([profiler], model=model)",
        "callbacks.on_train_begin()  # before train_step's first call (its trace)",
        "callbacks.on_train_batch_begin(step)",
        "callbacks.on_train_batch_end(step, {\"loss\": loss})",
        "callbacks.on_train_end()",
    ):
        assert line in readme, line


# --------------------------------------------------------------------------- tf_keras


def run_tf_keras_fit(logdir, *flags):
    if importlib.util.find_spec("tf_keras") is None:
        pytest.fail(
            "tf_keras is not installed, so the tf_keras integration cannot be tested: run "
            "`make setup` (installs it) or `pip install -e '.[tf_keras]'`"
        )
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "tf_keras_fit.py"), str(logdir), *flags],
        capture_output=True, text=True, env=subprocess_env(TF_USE_LEGACY_KERAS="1"),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tf_keras_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tf_keras")
    return str(logdir), run_tf_keras_fit(logdir)


def test_tf_keras_callback_is_a_tf_keras_callback(tf_keras_run):
    result = tf_keras_run[1]
    assert result["keras_module"].startswith("tf_keras")
    assert "tf_keras.src.callbacks.Callback" in result["callback_bases"]
    assert not any(b.startswith("keras.") for b in result["callback_bases"])
    assert result["left_wrapped"] == []


def test_tf_keras_fit_windows_and_attribution(tf_keras_run):
    windows = [WindowReport.from_json(w) for w in tf_keras_run[1]["windows"]]
    # tf_keras marks steps itself (per epoch, from 0) around ours: ours count.
    assert [(w.step, w.steps) for w in windows] == [(3, 4), (13, 4), (23, 4)]
    for window in windows:
        assert window.mode == "graph" and not window.warnings
        check_attribution(window)
        assert window.other["metrics_us"] > 0  # tf_keras builds its metrics lazily
        layers = {x.path: x for x in window.layers}
        assert layers["block/inner"].parent == "block"
        assert layers["block"].forward_us >= layers["block/inner"].forward_us


def test_tf_keras_reports_read_by_cli(tf_keras_run):
    logdir = tf_keras_run[0]
    runs, errors = load_reports(logdir)
    assert errors == [] and [w.step for w in runs[0].windows] == [3, 13, 23]
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["report", logdir], out=out, err=err) == 0, err.getvalue()
    assert "1. slow (SlowDouble, custom)" in out.getvalue()


def test_tf_keras_eager_fit(tmp_path):
    result = run_tf_keras_fit(tmp_path, "--eager")
    windows = [WindowReport.from_json(w) for w in result["windows"]]
    assert [w.step for w in windows] == [3, 13, 23]
    for window in windows:
        assert window.mode == "eager"
        # Eager: the loss's gradient ops (before the first layer's gradient marker) have
        # no owner yet; about 2-3% of op time on an idle machine, more under load.
        check_attribution(window, max_unattributed=0.15)


def test_innermost_steps_drops_enclosing_markers():
    from tb_layerprof.analysis import innermost_steps

    # tf_keras: its marker (epoch-local step 2) encloses ours (global step 3).
    steps = [(2, 100, 900), (3, 110, 890), (3, 1000, 1900), (4, 1010, 1890), (5, 2000, 2500)]
    assert innermost_steps(steps) == [(3, 110, 890), (4, 1010, 1890), (5, 2000, 2500)]
    assert innermost_steps([(1, 0, 10), (2, 10, 20)]) == [(1, 0, 10), (2, 10, 20)]
    assert innermost_steps([]) == []
