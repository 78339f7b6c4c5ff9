"""How does a custom Keras layer affect training speed? Measured, not guessed.

The seed article's three layers, made runnable, plus the custom-gradient variant it talks
about, each between ordinary Dense layers:

* `SlowDouble`           doubles its input one column at a time in a Python loop;
* `FastDouble`           the same with one vectorized op (`x * 2`);
* `SigmoidSin`           `sigmoid(x) * sin(x)`, gradient left to autodiff;
* `SigmoidSinCustomGrad` the same with an explicit `tf.custom_gradient`.

The model trains on synthetic data (no download) with `LayerProfiler` among its callbacks,
twice: run "loop" with `SlowDouble` in the `doubler` slot, then run "vectorized" with the
loop replaced by its vectorized twin `FastDouble`. The loop run's report is printed and
each layer gets a short, measured answer; then `tb-layerprof diff` shows, layer by layer,
what the fix changed, and how much step time it gained.

    python demo/seed_demo.py                     # ~20 s on 2 CPU cores (both runs)
    python demo/seed_demo.py --epochs 1 --samples 512 --profile-batch 2,4
    tb-layerprof diff demo/logs --base loop --run vectorized
    tensorboard --logdir demo/logs               # then open the "Layer Profile" tab
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

# Import tb_layerprof before TensorFlow creates its first tensor: it switches the CPU
# allocator to BFC so that memory shows up in the profile (see README, "Memory").
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO lines
import tb_layerprof  # noqa: E402,F401  (must come first)
from tb_layerprof.cli import Units, render_diff_table, render_table  # noqa: E402
from tb_layerprof import figures  # noqa: E402
from tb_layerprof.diff import diff_windows, speedup  # noqa: E402
from tb_layerprof.summary import load_reports  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LOGDIR = os.path.join(HERE, "logs")
MARKER = ".tb_layerprof_demo"  # only directories holding it are ever cleared

TWINS = {
    "SlowDouble": "FastDouble",
    "FastDouble": "SlowDouble",
    "SigmoidSin": "SigmoidSinCustomGrad",
    "SigmoidSinCustomGrad": "SigmoidSin",
}


RUNS = ("loop", "vectorized")  # run names: the doubler slot as a Python loop, then fixed


def build_model(features: int, vectorized: bool = False):
    """Dense -> doubler -> Dense -> FastDouble -> Dense -> SigmoidSin -> Dense ->
    SigmoidSinCustomGrad -> Dense(1), where the `doubler` is SlowDouble, or FastDouble if
    `vectorized`. Layer classes are defined here, outside the Keras package, so the
    profiler flags them as custom."""
    import keras
    import tensorflow as tf

    class SlowDouble(keras.layers.Layer):
        """x * 2, one column at a time: a Python loop, unrolled into ops at trace time.

        (The article's `output[i, j] = ...` does not run at all: tensors do not support
        item assignment. Building a list of columns and stacking it is the closest version
        that does run, and it is just as slow for the same reason.)
        """

        def call(self, x):
            columns = [x[:, j] * 2.0 for j in range(x.shape[-1])]
            return tf.stack(columns, axis=-1)

    class FastDouble(keras.layers.Layer):
        """x * 2 as one vectorized op."""

        def call(self, x):
            return x * 2.0

    class SigmoidSin(keras.layers.Layer):
        """sigmoid(x) * sin(x); TensorFlow derives the gradient."""

        def call(self, x):
            return tf.sigmoid(x) * tf.sin(x)

    @tf.custom_gradient
    def sigmoid_sin(x):
        s = tf.sigmoid(x)
        sin = tf.sin(x)

        def grad(dy):
            # d/dx sigmoid(x) sin(x) = s (1 - s) sin(x) + s cos(x), reusing s and sin(x).
            return dy * (s * ((1.0 - s) * sin + tf.cos(x)))

        return s * sin, grad

    class SigmoidSinCustomGrad(keras.layers.Layer):
        """sigmoid(x) * sin(x) with an explicit gradient (`tf.custom_gradient`)."""

        def call(self, x):
            return sigmoid_sin(x)

    width = features
    inputs = keras.Input(shape=(features,), name="features")
    h = keras.layers.Dense(width, activation="relu", name="dense_in")(inputs)
    h = (FastDouble if vectorized else SlowDouble)(name="doubler")(h)
    h = keras.layers.Dense(width, activation="relu", name="dense_1")(h)
    h = FastDouble(name="fast_double")(h)
    h = keras.layers.Dense(width, activation="relu", name="dense_2")(h)
    h = SigmoidSin(name="sigmoid_sin")(h)
    h = keras.layers.Dense(width, activation="relu", name="dense_3")(h)
    h = SigmoidSinCustomGrad(name="sigmoid_sin_custom_grad")(h)
    outputs = keras.layers.Dense(1, name="head")(h)
    model = keras.Model(inputs, outputs, name="seed_demo")
    model.compile(optimizer="adam", loss="mse")
    return model


def synthetic_data(samples: int, features: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    w = rng.normal(size=(features, 1)).astype("float32") / np.sqrt(features)
    y = np.sin(x @ w) + 0.1 * rng.normal(size=(samples, 1)).astype("float32")
    return x, y.astype("float32")


def prepare_logdir(logdir: str) -> None:
    """Start from an empty log directory; clear it only if this demo made it."""
    if os.path.isdir(logdir) and os.listdir(logdir):
        if not os.path.exists(os.path.join(logdir, MARKER)):
            raise SystemExit(
                f"seed_demo: {logdir} exists and was not made by this demo; "
                "pass --logdir with a new or empty directory"
            )
        shutil.rmtree(logdir)
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(logdir, MARKER), "w") as f:
        f.write("made by demo/seed_demo.py; the demo clears this directory on each run\n")


def parse_profile_batch(text: str):
    parts = [int(p) for p in text.replace("-", ",").split(",") if p.strip()]
    if len(parts) == 1:
        return parts[0]
    if len(parts) != 2 or parts[0] > parts[1] or parts[0] < 1:
        raise argparse.ArgumentTypeError("expected START,STOP with 1 <= START <= STOP")
    return tuple(parts)


def find(window, class_name):
    for layer in window.layers:
        if layer.class_name == class_name:
            return layer
    return None


def _times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def answers(window, units: Units) -> list:
    """One measured paragraph per demo layer, from the report's figures."""
    basis = figures.step_basis(window) or 1.0
    lines = []
    for cls in ("SlowDouble", "FastDouble", "SigmoidSin", "SigmoidSinCustomGrad"):
        layer, twin = find(window, cls), find(window, TWINS[cls])
        if layer is None:
            lines.append(f"{cls}: not in the report (see the warnings above).")
            continue
        fwd, bwd = layer.forward_us, layer.backward_us
        total = figures.layer_total(layer)
        text = (
            f"{cls}: forward {units.time(fwd)}, gradient {units.time(bwd)} per step"
            f" ({100.0 * total / basis:.1f}% of the step)"
        )
        if fwd > 0 and bwd > 0:
            text += f", gradient/forward {bwd / fwd:.1f}x"
        elif bwd == 0:
            text += ", no gradient time attributed to it"
        text += f"; {layer.ops_per_call} ops per call"
        if twin is not None:
            t_total = figures.layer_total(twin)
            if total > 0 and t_total > 0:
                ratio = total / t_total
                if ratio >= 1:
                    text += f"; {_times(ratio)} the time of {TWINS[cls]}"
                else:
                    text += f"; {_times(1 / ratio)} faster than {TWINS[cls]}"
            if cls.startswith("SigmoidSin") and bwd > 0 and twin.backward_us > 0:
                text += f" (gradient {bwd / twin.backward_us:.2f}x of {TWINS[cls]}'s)"
        codes = [h.code for h in layer.hints]
        if codes:
            text += f". Diagnosis: {', '.join(codes)}"
        lines.append(text + ".")

    slow, fast = find(window, "SlowDouble"), find(window, "FastDouble")
    auto, custom = find(window, "SigmoidSin"), find(window, "SigmoidSinCustomGrad")
    verdict = []
    if slow and fast and figures.layer_total(fast) > 0:
        ratio = figures.layer_total(slow) / figures.layer_total(fast)
        verdict.append(
            f"The same math (x * 2) costs {_times(ratio)} the time as a Python loop: the loop"
            f" is unrolled into {slow.ops_per_call} ops per call at trace time (vs"
            f" {fast.ops_per_call}), and every one of them gets its own gradient ops."
        )
    if auto and custom and auto.backward_us > 0 and custom.backward_us > 0:
        change = 100.0 * (custom.backward_us - auto.backward_us) / auto.backward_us
        verdict.append(
            f"The explicit gradient changed SigmoidSin's gradient time by {change:+.0f}%:"
            " a custom gradient pays off when it saves real work, not by default."
        )
    if verdict:
        lines.append("")
        lines.append(
            "In short: a custom layer is as fast as the ops it emits. " + " ".join(verdict)
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=DEFAULT_LOGDIR, help="where to write (cleared)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=8192, help="training examples")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--features", type=int, default=256, help="width of every layer")
    parser.add_argument(
        "--profile-batch", type=parse_profile_batch, default=(10, 14),
        help="first profile window, as for keras.callbacks.TensorBoard (default 10,14)",
    )
    parser.add_argument(
        "--every-n-steps", type=int, default=None,
        help="also profile a window every N steps (default: once per epoch)",
    )
    args = parser.parse_args(argv)

    prepare_logdir(args.logdir)
    steps_per_epoch = -(-args.samples // args.batch_size)
    every = args.every_n_steps or steps_per_epoch

    import keras  # noqa: F401  (after tb_layerprof, see above)
    from tb_layerprof import LayerProfiler

    x, y = synthetic_data(args.samples, args.features)
    for run in RUNS:
        model = build_model(args.features, vectorized=run == "vectorized")
        print(
            f"Run {run}: training {args.epochs} epoch(s) x {steps_per_epoch} steps, profiling"
            f" steps {args.profile_batch} and every {every} steps after; logs in"
            f" {os.path.join(args.logdir, run)}",
            flush=True,
        )
        started = time.time()
        model.fit(
            x,
            y,
            epochs=args.epochs,
            batch_size=args.batch_size,
            verbose=2,
            callbacks=[
                LayerProfiler(
                    log_dir=args.logdir, run=run, profile_batch=args.profile_batch,
                    every_n_steps=every,
                )
            ],
        )
        print(f"Run {run}: training took {time.time() - started:.1f} s (profiled windows"
              " included).\n", flush=True)

    runs, errors = load_reports(args.logdir)
    for error in errors:
        print(f"warning: {error}", file=sys.stderr)
    by_name = {r.run: r for r in runs}
    if any(run not in by_name for run in RUNS):
        print("No report was written: see the tb_layerprof messages above.", file=sys.stderr)
        return 1
    units = Units.for_stream(sys.stdout)
    loop = by_name["loop"]
    print(render_table([loop], "latest", top=0, units=units))

    window = loop.windows[-1]
    print(f"How does a custom layer affect training speed? (run {loop.run}, "
          f"{len(loop.windows)} window(s), latest from step {window.step})")
    for line in answers(window, units):
        print(("  " + line) if line else "")

    base, fixed = loop.windows[-1], by_name["vectorized"].windows[-1]
    doc = diff_windows(base, fixed, "loop", "vectorized")
    rel = os.path.relpath(args.logdir)
    print()
    print(f"The fix, measured: the doubler's Python loop replaced by one vectorized op"
          f" (tb-layerprof diff {rel} --base loop --run vectorized)")
    print()
    print(render_diff_table(doc, units, top=0))
    print(gain_line(doc, units))
    print()
    print(f"Every window:   tb-layerprof report {rel} --window all")
    print(f"The diff:       tb-layerprof diff {rel} --base loop --run vectorized")
    print(f"In TensorBoard: tensorboard --logdir {rel}   (then the 'Layer Profile' tab)")
    return 0


def gain_line(doc, units: Units) -> str:
    """The step time gained by the fix, and the doubler's share of it."""
    step = doc["step_time"]
    faster = speedup(step)
    verb = "gained" if faster and faster > 1 else "changed"
    sign = "+" if step["delta_us"] > 0 else ""
    text = (f"Step time {verb}: {units.time(step['base_us'])} -> {units.time(step['run_us'])}"
            f" per step ({sign}{units.time(step['delta_us'])}")
    if faster:
        text += ", " + figures.speedup_text(faster, digits=1)
    text += ")"
    doubler = next((row for row in doc["layers"] if row["path"] == "doubler"), None)
    if doubler is not None:
        text += (f"; the doubler alone went from {units.time(doubler['base_us'])} to"
                 f" {units.time(doubler['run_us'])} per step ({units.time(doubler['delta_us'])}).")
    return text


if __name__ == "__main__":
    sys.exit(main())
