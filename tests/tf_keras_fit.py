"""Train a small model with tf_keras `model.fit` under LayerProfiler (run as a subprocess).

`TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is imported, so this runs in its own
process: `python tests/tf_keras_fit.py LOGDIR [--eager]`. Prints one JSON line with what
the test checks (which Keras was used, the callback's base class, the reports).
"""

import json
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tb_layerprof  # noqa: E402,F401  (first: BFC allocator for memory events)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_layerprof import LayerProfiler  # noqa: E402

keras = tf.keras  # tf_keras, because of TF_USE_LEGACY_KERAS


class SlowDouble(keras.layers.Layer):
    """x * 2 one column at a time: a Python loop unrolled at trace time."""

    def call(self, x):
        return tf.stack([x[:, j] * 2.0 for j in range(x.shape[-1])], axis=-1)


class FastDouble(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


class Block(keras.layers.Layer):
    """A custom layer with a nested Dense."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(64, activation="relu", name="inner")

    def call(self, x):
        return self.inner(x) + x


def main():
    logdir = sys.argv[1]
    eager = "--eager" in sys.argv[2:]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    h = keras.layers.Dense(64, activation="relu", name="dense_in")(inputs)
    h = SlowDouble(name="slow")(h)
    h = FastDouble(name="fast")(h)
    h = Block(name="block")(h)
    outputs = keras.layers.Dense(1, name="head")(h)
    model = keras.Model(inputs, outputs, name="seed")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"], run_eagerly=eager)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 64)).astype("float32")
    y = rng.standard_normal((1024, 1)).astype("float32")
    profiler = LayerProfiler(log_dir=logdir, profile_batch=(3, 6), every_n_steps=10, verbose=0)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[profiler])
    wrapped = [layer.name for layer in model._flatten_layers(include_self=True, recursive=True)
               if "call" in layer.__dict__]
    print(json.dumps({
        "keras_module": keras.__name__,
        "callback_bases": [c.__module__ + "." + c.__name__ for c in type(profiler).__mro__],
        "left_wrapped": wrapped,
        "windows": [w.to_json() for w in profiler.reports],
    }))


if __name__ == "__main__":
    main()
