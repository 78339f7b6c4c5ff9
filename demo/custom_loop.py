"""LayerProfiler in a custom training loop (your own `tf.function` train step).

Drive the callback through `keras.callbacks.CallbackList`, exactly as `model.fit` would:
`on_train_begin()` once, `on_train_batch_begin/end(step)` around every step, and
`on_train_end()` at the end. Call `on_train_begin()` BEFORE the first call of your
`tf.function`: the profiler learns which ops belong to which layer while the function is
traced (on its first call), so a function traced earlier cannot be attributed.

    python demo/custom_loop.py                  # ~10 s on 2 CPU cores
    tb-layerprof report demo/logs_custom_loop
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tb_layerprof  # noqa: E402  (before TensorFlow creates a tensor: memory events)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_layerprof import LayerProfiler  # noqa: E402


class SlowDouble(keras.layers.Layer):
    """x * 2, one column at a time: a Python loop unrolled into ops at trace time."""

    def call(self, x):
        return tf.stack([x[:, j] * 2.0 for j in range(x.shape[-1])], axis=-1)


def build_model(features):
    inputs = keras.Input(shape=(features,))
    h = keras.layers.Dense(features, activation="relu", name="dense_in")(inputs)
    h = SlowDouble(name="slow_double")(h)
    h = keras.layers.Dense(features, activation="relu", name="dense_1")(h)
    outputs = keras.layers.Dense(1, name="head")(h)
    return keras.Model(inputs, outputs, name="custom_loop")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=os.path.join(os.path.dirname(__file__), "logs_custom_loop"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--features", type=int, default=64)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * 64, args.features)).astype("float32")
    y = rng.normal(size=(args.steps * 64, 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)

    model = build_model(args.features)
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.MeanSquaredError()

    profiler = LayerProfiler(log_dir=args.logdir, profile_batch=(10, 14))
    callbacks = keras.callbacks.CallbackList([profiler], model=model)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    callbacks.on_train_begin()  # before train_step's first call (its trace)
    for step, (xb, yb) in enumerate(dataset):
        callbacks.on_train_batch_begin(step)
        loss = train_step(xb, yb)
        callbacks.on_train_batch_end(step, {"loss": loss})
    callbacks.on_train_end()  # finishes the analysis, removes the wrappers

    from tb_layerprof import cli

    return cli.main(["report", args.logdir])


if __name__ == "__main__":
    sys.exit(main())
