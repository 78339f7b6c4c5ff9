"""Small real Keras models for end-to-end tests: the seed article's layers and friends."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras


class SlowDouble(keras.layers.Layer):
    """Doubles its input one column at a time: a Python loop unrolled at trace time."""

    def call(self, x):
        return tf.stack([x[:, j] * 2.0 for j in range(x.shape[1])], axis=1)


class FastDouble(keras.layers.Layer):
    """The vectorized twin of SlowDouble."""

    def call(self, x):
        return x * 2.0


class SigmoidSin(keras.layers.Layer):
    def call(self, x):
        return tf.sigmoid(x) * tf.sin(x)


class SigmoidSinCustomGrad(keras.layers.Layer):
    """sigmoid(x) * sin(x) with an explicit gradient (its ops are created unscoped)."""

    def call(self, x):
        @tf.custom_gradient
        def f(x):
            s = tf.sigmoid(x)
            y = s * tf.sin(x)

            def grad(dy):
                return dy * (s * (1.0 - s) * tf.sin(x) + s * tf.cos(x))

            return y, grad

        return f(x)


class MatMuls(keras.layers.Layer):
    """`n` chained 256x256 matmuls, each with its own weight."""

    def __init__(self, n, units=256, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.units = units

    def build(self, input_shape):
        self.ws = [
            self.add_weight(shape=(self.units, self.units), initializer="orthogonal", name=f"w{i}")
            for i in range(self.n)
        ]

    def call(self, x):
        for w in self.ws:
            x = tf.matmul(x, w)
        return x


class Block(keras.layers.Layer):
    """A custom layer with nested sublayers (one of them custom)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(32, name="inner")
        self.slow = SlowDouble(name="slow")

    def call(self, x):
        return self.slow(self.inner(x))


def seed_model(features=64, run_eagerly=False, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((features,))
    h = keras.layers.Dense(features, name="dense_in")(inp)
    h = SlowDouble(name="slow")(h)
    h = FastDouble(name="fast")(h)
    h = SigmoidSin(name="sigsin")(h)
    h = SigmoidSinCustomGrad(name="sigsin_cg")(h)
    out = keras.layers.Dense(1, name="head")(h)
    model = keras.Model(inp, out, name="seed")
    model.compile(optimizer="adam", loss="mse", run_eagerly=run_eagerly)
    return model


def data(n=1024, features=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    return x, y
