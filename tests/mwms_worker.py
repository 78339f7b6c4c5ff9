"""One worker of a two-worker MultiWorkerMirroredStrategy job (run as a subprocess).

    python tests/mwms_worker.py keras3-loop|tf_keras-fit LOGDIR

`TF_CONFIG` (set by the launcher, tests/test_multiworker.py) names the cluster and this
worker's task. Both workers share LOGDIR. `keras3-loop` trains with a Keras 3 custom loop
(`strategy.run` inside a `tf.function`, LayerProfiler driven through a CallbackList; Keras 3
`fit` does not run under this strategy, keras-team/keras#20585); `tf_keras-fit` uses
tf_keras `model.fit` (`TF_USE_LEGACY_KERAS=1`). Prints one JSON line: the worker identity
the callback picked and its reports.

The model: Dense -> `slow` (a Python loop over the columns) -> `fast` -> `busy` -> Dense.
On worker MWMS_BUSY_WORKER (default 1) `busy` sleeps MWMS_BUSY_MS (default 4) ms per call
in a `tf.numpy_function`: the straggler, with its layer known. MWMS_FEATURES (default 96)
sets the width.
"""

import json
import os
import sys
import time

MODE = sys.argv[1]
LOGDIR = sys.argv[2]
if MODE == "tf_keras-fit":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
elif MODE != "keras3-loop":
    sys.exit(f"unknown mode {MODE!r}")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tb_layerprof  # noqa: E402,F401  (before TF creates devices: memory events)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_layerprof import LayerProfiler  # noqa: E402

FEATURES = int(os.environ.get("MWMS_FEATURES", "96"))
GLOBAL_BATCH = 128
STEPS = 8
PROFILE = (3, 5)
# The straggler: this worker's `busy` layer waits BUSY_MS per call in a host round trip
# (a tf.numpy_function that sleeps; the other workers' is an identity), so the straggler
# view has a known answer whatever the load of the machine.
BUSY_WORKER = int(os.environ.get("MWMS_BUSY_WORKER", "1"))
BUSY_MS = float(os.environ.get("MWMS_BUSY_MS", "4"))

# Before any other TF call: the strategy sets up the cluster from TF_CONFIG.
strategy = tf.distribute.MultiWorkerMirroredStrategy()
keras = tf.keras  # tf_keras with TF_USE_LEGACY_KERAS=1, else Keras 3
if MODE == "keras3-loop":
    import keras  # noqa: E402,F811


class SlowDouble(keras.layers.Layer):
    """x * 2 one column at a time: a Python loop unrolled at trace time."""

    def call(self, x):
        return tf.stack([x[:, j] * 2.0 for j in range(x.shape[-1])], axis=-1)


class FastDouble(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def _sleep(value):
    time.sleep(BUSY_MS / 1000.0)
    return value


class Busy(keras.layers.Layer):
    """Identity, but with `slow=True` each call first waits in a host round trip."""

    def __init__(self, slow=False, **kwargs):
        super().__init__(**kwargs)
        self.slow = slow

    def call(self, x):
        if not self.slow:
            return tf.identity(x)
        waited = tf.numpy_function(_sleep, [tf.reduce_sum(x)], tf.float32, stateful=True)
        waited.set_shape(())
        return x + 0.0 * tf.stop_gradient(waited)


def task_index():
    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))


def build_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((FEATURES,))
    h = keras.layers.Dense(FEATURES, name="dense_in")(inputs)
    h = SlowDouble(name="slow")(h)
    h = FastDouble(name="fast")(h)
    h = Busy(task_index() == BUSY_WORKER, name="busy")(h)
    outputs = keras.layers.Dense(1, name="head")(h)
    return keras.Model(inputs, outputs, name="mw")


def dataset():
    rng = np.random.default_rng(0)
    n = GLOBAL_BATCH * STEPS
    x = rng.standard_normal((n, FEATURES)).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH, drop_remainder=True)


def keras3_loop(profiler):
    with strategy.scope():
        model = build_model()
        optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.MeanSquaredError(reduction="none")
    dist = strategy.experimental_distribute_dataset(dataset())

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = loss_fn(yb, model(xb, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    # The batch is taken inside the step function, as Keras' own fit does. Iterated
    # eagerly, a distributed dataset all-reduces "has a value" in a fresh thread pool per
    # batch whose threads exit while the next step runs; TF's profiler can crash the
    # process (`free(): invalid size` in profiler stop) collecting their trace buffers.
    @tf.function
    def train_step(iterator):
        xb, yb = next(iterator)
        losses = strategy.run(replica_step, args=(xb, yb))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    callbacks = keras.callbacks.CallbackList([profiler], model=model)
    callbacks.on_train_begin()  # before train_step is first traced: the layer map
    iterator = iter(dist)
    for step in range(STEPS):
        callbacks.on_train_batch_begin(step)
        loss = train_step(iterator)
        callbacks.on_train_batch_end(step, {"loss": loss})
    callbacks.on_train_end()


def tf_keras_fit(profiler):
    with strategy.scope():
        model = build_model()
        model.compile(optimizer="adam", loss="mse")
    model.fit(dataset(), epochs=1, verbose=0, callbacks=[profiler])


def main():
    profiler = LayerProfiler(log_dir=LOGDIR, profile_batch=PROFILE, verbose=0)
    (keras3_loop if MODE == "keras3-loop" else tf_keras_fit)(profiler)
    print(json.dumps({
        "worker": profiler.worker,
        "keras": keras.__name__,
        "windows": [w.to_json() for w in profiler.reports],
    }), flush=True)


if __name__ == "__main__":
    main()
