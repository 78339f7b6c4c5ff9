"""A corpus of real Keras models nobody on this project wrote, trained under LayerProfiler.

Each case builds a model that Keras, tf_keras or keras_hub ships (random weights, small
inputs, synthetic data, nothing downloaded), trains a few steps with one profile window and
returns the window report together with the facts about the model that the invariants need
(which layers hold weights, which are trainable, which layers we planted as defects).

Run one case in this process: `run_case(name, logdir)`. Cases that need a fresh process
(tf_keras reads TF_USE_LEGACY_KERAS at import) run through `python -m tests.corpus NAME
LOGDIR`, which prints the result as JSON on its last line. `benchmarks/corpus_report.py`
runs them all and prints the per-family table quoted in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional

import numpy as np

# Families of cases, in the order the table lists them.
CASES: Dict[str, str] = {
    "resnet50": "cnn",
    "mobilenetv2": "cnn",
    "efficientnetb0": "cnn",
    "frozen_base": "cnn",
    "lstm": "rnn",
    "gru_bidirectional": "rnn",
    "transformer": "transformer",
    "bert": "keras_hub",
    "gpt2": "keras_hub",
    "mixed_precision": "mixed precision",
    "steps_per_execution": "steps_per_execution",
    "xla_cnn": "xla",
    "fit_twice_validation": "fit twice",
    "gan": "custom train_step",
    "planted_loop_cnn": "planted",
    "planted_py_function_rnn": "planted",
    "map_fn_layer": "planted",
    "tf_keras_cnn": "tf_keras",
    "tf_keras_lstm": "tf_keras",
}
SUBPROCESS_CASES = {"tf_keras_cnn", "tf_keras_lstm"}

PROFILE = (3, 4)


def _keras():
    import keras  # noqa: WPS433  (after TF_USE_LEGACY_KERAS is decided)

    return keras


# -- planted defects: the seed article's layers, written as a user would ---------------

def planted_layers():
    import tensorflow as tf

    keras = _keras()

    class SlowDouble(keras.layers.Layer):
        """x * 2 one column at a time: a Python loop unrolled at trace time."""

        def call(self, x):
            flat = tf.reshape(x, (-1, int(np.prod(x.shape[1:]))))
            cols = [flat[:, j] * 2.0 for j in range(min(flat.shape[1], 64))]
            head = tf.stack(cols, axis=1)
            return tf.reshape(tf.concat([head, flat[:, len(cols):] * 2.0], axis=1), tf.shape(x))

    class PyFunctionScale(keras.layers.Layer):
        """Scales its input in NumPy through tf.py_function: a host round trip per step."""

        def call(self, x):
            y = tf.py_function(lambda t: t.numpy() * 0.5, [x], x.dtype)
            y.set_shape(x.shape)
            return 0.5 * x + tf.stop_gradient(y)

    class MapFnSquare(keras.layers.Layer):
        """Squares each example with tf.map_fn (a while loop), vectorizable."""

        def call(self, x):
            return tf.map_fn(lambda row: row * row, x)

    return SlowDouble, PyFunctionScale, MapFnSquare


# -- the cases -------------------------------------------------------------------------

def _images(n=64, size=32, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, size, size, 3)).astype("float32")
    y = rng.integers(0, classes, size=(n,)).astype("int32")
    return x, y


def _tokens(n=64, seq=16, vocab=500, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, vocab, size=(n, seq)).astype("int32")


def _compile(model, **kw):
    kw.setdefault("optimizer", "adam")
    kw.setdefault("loss", "sparse_categorical_crossentropy")
    kw.setdefault("metrics", ["accuracy"])
    model.compile(**kw)
    return model


def _application(name: str, **kw):
    keras = _keras()
    builder = getattr(keras.applications, name)
    return builder(weights=None, input_shape=(32, 32, 3), classes=10, **kw)


def case_resnet50():
    return _compile(_application("ResNet50")), _images(), {"batch_size": 4}


def case_mobilenetv2():
    return _compile(_application("MobileNetV2", alpha=0.35)), _images(), {"batch_size": 8}


def case_efficientnetb0():
    return _compile(_application("EfficientNetB0")), _images(), {"batch_size": 8}


def case_frozen_base():
    keras = _keras()
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3),
                                          alpha=0.35)
    base.trainable = False
    inp = keras.Input((32, 32, 3))
    h = base(inp, training=False)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.2)(h)
    out = keras.layers.Dense(10, activation="softmax", name="classifier")(h)
    return _compile(keras.Model(inp, out, name="transfer")), _images(), {"batch_size": 8}


def _sequences(n=64, steps=12, features=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, features)).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    return x, y


def case_lstm():
    keras = _keras()
    model = keras.Sequential([
        keras.Input((12, 8)),
        keras.layers.LSTM(32, return_sequences=True),
        keras.layers.LSTM(16),
        keras.layers.Dense(1),
    ], name="lstm_model")
    return _compile(model, loss="mse", metrics=["mae"]), _sequences(), {"batch_size": 16}


def case_gru_bidirectional():
    keras = _keras()
    model = keras.Sequential([
        keras.Input((12, 8)),
        keras.layers.Bidirectional(keras.layers.GRU(16, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(8)),
        keras.layers.Dense(1),
    ], name="birnn")
    return _compile(model, loss="mse", metrics=["mae"]), _sequences(), {"batch_size": 16}


def case_transformer():
    """The keras.io text-classification transformer (token + position embedding, one block)."""
    import tensorflow as tf

    keras = _keras()
    L = keras.layers

    class TransformerBlock(L.Layer):
        def __init__(self, dim, heads, ff, **kw):
            super().__init__(**kw)
            self.att = L.MultiHeadAttention(num_heads=heads, key_dim=dim)
            self.ffn = keras.Sequential([L.Dense(ff, activation="relu"), L.Dense(dim)])
            self.norm1 = L.LayerNormalization(epsilon=1e-6)
            self.norm2 = L.LayerNormalization(epsilon=1e-6)
            self.drop1 = L.Dropout(0.1)
            self.drop2 = L.Dropout(0.1)

        def call(self, x, training=False):
            a = self.drop1(self.att(x, x), training=training)
            h = self.norm1(x + a)
            return self.norm2(h + self.drop2(self.ffn(h), training=training))

    class TokenAndPositionEmbedding(L.Layer):
        def __init__(self, maxlen, vocab, dim, **kw):
            super().__init__(**kw)
            self.token_emb = L.Embedding(vocab, dim)
            self.pos_emb = L.Embedding(maxlen, dim)

        def call(self, x):
            positions = tf.range(start=0, limit=tf.shape(x)[-1], delta=1)
            return self.token_emb(x) + self.pos_emb(positions)

    inp = keras.Input((16,), dtype="int32")
    h = TokenAndPositionEmbedding(16, 500, 32)(inp)
    h = TransformerBlock(32, 2, 64)(h)
    h = L.GlobalAveragePooling1D()(h)
    h = L.Dropout(0.1)(h)
    h = L.Dense(20, activation="relu")(h)
    out = L.Dense(2, activation="softmax")(h)
    x = _tokens()
    y = (x[:, 0] % 2).astype("int32")
    return _compile(keras.Model(inp, out, name="text_transformer")), (x, y), {"batch_size": 16}


def _hub_classifier(backbone, name):
    keras = _keras()
    inputs = {
        "token_ids": keras.Input((16,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input((16,), dtype="int32", name="padding_mask"),
    }
    if "segment_ids" in [i.name.split(":")[0] for i in backbone.inputs]:
        inputs["segment_ids"] = keras.Input((16,), dtype="int32", name="segment_ids")
    out = backbone(inputs)
    if isinstance(out, dict) and "pooled_output" in out:
        h = out["pooled_output"]  # as keras_hub's BertTextClassifier
    else:
        seq = out["sequence_output"] if isinstance(out, dict) else out
        h = keras.layers.GlobalAveragePooling1D()(seq)
    out = keras.layers.Dense(2, activation="softmax", name="classifier")(h)
    model = keras.Model(inputs, out, name=name)
    tokens = _tokens(vocab=500)
    feed = {"token_ids": tokens, "padding_mask": np.ones_like(tokens)}
    if "segment_ids" in inputs:
        feed["segment_ids"] = np.zeros_like(tokens)
    y = (tokens[:, 0] % 2).astype("int32")
    return _compile(model), (feed, y), {"batch_size": 8}


def case_bert():
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=500, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
        max_sequence_length=16)
    return _hub_classifier(backbone, "bert_classifier")


def case_gpt2():
    import keras_hub

    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=500, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
        max_sequence_length=16)
    return _hub_classifier(backbone, "gpt2_classifier")


def _small_cnn(name="small_cnn", extra: Optional[Callable] = None):
    keras = _keras()
    L = keras.layers
    inp = keras.Input((32, 32, 3))
    h = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    h = L.BatchNormalization()(h)
    h = L.MaxPooling2D()(h)
    h = L.Conv2D(32, 3, padding="same", activation="relu")(h)
    if extra is not None:
        h = extra(h)
    h = L.GlobalAveragePooling2D()(h)
    h = L.Dense(32, activation="relu")(h)
    out = L.Dense(10, activation="softmax")(h)
    return keras.Model(inp, out, name=name)


def case_mixed_precision():
    keras = _keras()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _small_cnn("mp_cnn")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return _compile(model), _images(), {"batch_size": 16}


def case_steps_per_execution():
    return _compile(_small_cnn("spe_cnn"), steps_per_execution=4), _images(n=256), {"batch_size": 16}


def case_xla_cnn():
    return _compile(_small_cnn("xla_cnn"), jit_compile=True), _images(), {"batch_size": 16}


def case_fit_twice_validation():
    model = _compile(_small_cnn("twice_cnn"))
    x, y = _images(n=96)
    model.fit(x, y, batch_size=16, epochs=1, validation_data=(x[:32], y[:32]), verbose=0)
    return model, (x, y), {"batch_size": 16, "validation_data": (x[:32], y[:32])}


def case_gan():
    """A keras.io-style GAN: its own train_step, a frozen-in-turn discriminator, LeakyReLU."""
    import tensorflow as tf

    keras = _keras()
    L = keras.layers
    latent = 16
    generator = keras.Sequential([
        keras.Input((latent,)), L.Dense(256), L.LeakyReLU(0.2), L.Dense(128, activation="tanh"),
    ], name="generator")
    discriminator = keras.Sequential([
        keras.Input((128,)), L.Dense(256), L.LeakyReLU(0.2), L.Dense(1),
    ], name="discriminator")

    class GAN(keras.Model):
        def __init__(self, d, g, **kw):
            super().__init__(**kw)
            self.discriminator, self.generator = d, g
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def call(self, x):
            return self.discriminator(x)

        def train_step(self, real):
            if isinstance(real, tuple):
                real = real[0]
            batch = tf.shape(real)[0]
            z = tf.random.normal((batch, latent))
            fake = self.generator(z)
            both = tf.concat([fake, real], axis=0)
            labels = tf.concat([tf.ones((batch, 1)), tf.zeros((batch, 1))], axis=0)
            with tf.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(both))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            z = tf.random.normal((batch, latent))
            with tf.GradientTape() as tape:
                g_loss = self.loss_fn(tf.zeros((batch, 1)), self.discriminator(self.generator(z)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    gan = GAN(discriminator, generator, name="gan")
    gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4),
                keras.losses.BinaryCrossentropy(from_logits=True))
    gan.build((None, 128))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 128)).astype("float32")
    return gan, (x, None), {"batch_size": 64}


def case_planted_loop_cnn():
    SlowDouble, _, _ = planted_layers()
    model = _small_cnn("planted_cnn", extra=lambda h: SlowDouble(name="planted_loop")(h))
    return _compile(model), _images(), {"batch_size": 16}


def case_planted_py_function_rnn():
    keras = _keras()
    _, PyFunctionScale, _ = planted_layers()
    model = keras.Sequential([
        keras.Input((12, 8)),
        keras.layers.LSTM(32, return_sequences=True),
        PyFunctionScale(name="planted_py_function"),
        keras.layers.LSTM(16),
        keras.layers.Dense(1),
    ], name="planted_rnn")
    return _compile(model, loss="mse", metrics=["mae"]), _sequences(), {"batch_size": 16}


def case_map_fn_layer():
    keras = _keras()
    _, _, MapFnSquare = planted_layers()
    model = keras.Sequential([
        keras.Input((32,)),
        keras.layers.Dense(64, activation="relu"),
        MapFnSquare(name="planted_map_fn"),
        keras.layers.Dense(1),
    ], name="map_fn_model")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 32)).astype("float32")
    y = rng.standard_normal((256, 1)).astype("float32")
    return _compile(model, loss="mse", metrics=["mae"]), (x, y), {"batch_size": 32}


def case_tf_keras_cnn():
    keras = _keras()
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10,
                                           alpha=0.35)
    return _compile(model), _images(), {"batch_size": 8}


def case_tf_keras_lstm():
    return case_lstm()


PLANTED = {"planted_loop": "python-loop", "planted_py_function": "host-round-trip"}


# -- running a case ----------------------------------------------------------------------

def layer_facts(model) -> Dict[str, Dict[str, Any]]:
    """Per layer path (as the profiler names them): class, own weights, trainable."""
    from tb_layerprof.instrument import walk_layers

    facts = {}
    for layer, path, _ in walk_layers(model):
        weights = list(getattr(layer, "weights", []) or [])
        trainable = list(getattr(layer, "trainable_weights", []) or [])
        facts[path] = {
            "class_name": type(layer).__name__,
            "has_weights": bool(weights),
            "trainable": bool(trainable) and bool(getattr(layer, "trainable", True)),
            "dtype_policy": str(getattr(getattr(layer, "dtype_policy", None), "name", "")),
        }
    return facts


def run_case(name: str, logdir: str) -> Dict[str, Any]:
    """Train case `name` under LayerProfiler into `logdir`; its last window and the facts."""
    if name in SUBPROCESS_CASES and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        return _run_in_subprocess(name, logdir)
    keras = _keras()
    from tb_layerprof import LayerProfiler

    keras.utils.set_random_seed(0)
    model, (x, y), fit_kw = globals()["case_" + name]()
    steps_per_exec = int(getattr(model, "steps_per_execution", 1) or 1)
    batches = len(x["token_ids"] if isinstance(x, dict) else x) // fit_kw["batch_size"]
    cb = LayerProfiler(log_dir=logdir, profile_batch=PROFILE, verbose=0, background=False)
    epochs = max(1, -(-(PROFILE[1] + 1) * steps_per_exec // max(1, batches)))
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[cb], **fit_kw)
    if not cb.reports:
        raise AssertionError(f"{name}: no window was analysed")
    return {"name": name, "family": CASES[name], "window": cb.reports[-1].to_json(),
            "facts": layer_facts(model), "windows": len(cb.reports)}


def _run_in_subprocess(name: str, logdir: str) -> Dict[str, Any]:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "tests.corpus", name, logdir], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"{name} failed in its subprocess:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import tb_layerprof  # noqa: F401  (sets the CPU allocator before TensorFlow starts)

    result = run_case(sys.argv[1], sys.argv[2])
    print(json.dumps(result))


# -- invariants ----------------------------------------------------------------------------

STOCK_FORBIDDEN_HINTS = {"python-loop", "retracing", "memory-churn", "overhead-bound", "memory-bound"}
WEIGHTED_GRAD_CLASSES = {"Dense", "Conv2D", "Conv1D", "DepthwiseConv2D", "SeparableConv2D"}


def figures(result: Dict[str, Any]) -> Dict[str, Any]:
    """The per-case figures of the corpus table."""
    from tb_layerprof import cli
    from tb_layerprof.report import WindowReport

    w = WindowReport.from_json(result["window"])
    op = w.op_time_us or 1.0
    stock_hints = sorted(f"{x.path}:{h.code}" for x in w.layers if not x.custom for h in x.hints)
    hot = [x.path for x in cli.hot_layers(w)]
    planted = {p: code for p, code in PLANTED.items()
               if any(x.path.endswith(p) for x in w.layers)}
    found = sorted(p for p, code in planted.items()
                   if any(x.path.endswith(p) and code in {h.code for h in x.hints}
                          and x.path in hot for x in w.layers))
    rows = {x.path: x for x in w.layers}
    # Informative, not an invariant: on oneDNN CPUs a small Dense head's forward (with its
    # softmax) or a first convolution (3 input channels, no input gradient) can outlast
    # its gradient.
    grad_below_forward = sorted(
        f"{p} {rows[p].backward_us:.0f}<{rows[p].forward_us:.0f}"
        for p, f in result["facts"].items()
        if f["trainable"] and f["class_name"] in WEIGHTED_GRAD_CLASSES and p in rows
        and rows[p].backward_us < rows[p].forward_us)
    return {
        "grad_below_forward": grad_below_forward,
        "coverage": 1.0 - w.other.get("unattributed_us", 0.0) / op,
        "framework": w.other.get("framework_us", 0.0) / op,
        "stock_hints": stock_hints,
        "planted": sorted(planted),
        "planted_found": found,
        "mode": w.mode,
    }


def violations(result: Dict[str, Any]) -> List[str]:
    """Every invariant of a trustworthy attribution this case breaks (empty: all hold)."""
    from tb_layerprof.report import WindowReport

    w = WindowReport.from_json(result["window"])
    fig = figures(result)
    out = []
    min_cov = 0.95 if w.mode == "xla" else 0.98
    if fig["coverage"] < min_cov:
        out.append(f"coverage {fig['coverage']:.1%} < {min_cov:.0%}")
    if fig["framework"] > 0.03:
        out.append(f"framework {fig['framework']:.1%} > 3%")
    for h in fig["stock_hints"]:
        if h.split(":")[-1] in STOCK_FORBIDDEN_HINTS:
            out.append(f"hint on a stock layer: {h}")
    missing = set(fig["planted"]) - set(fig["planted_found"])
    if missing:
        out.append(f"planted defects not found and ranked: {sorted(missing)}")
    rows = {x.path: x for x in w.layers}
    for path, f in result["facts"].items():
        if not f["has_weights"]:
            continue
        row = rows.get(path)
        if row is None:
            out.append(f"no row for {path} ({f['class_name']}), which has weights")
            continue
        if row.forward_us <= 0:
            out.append(f"{path} ({f['class_name']}): forward 0")
        if f["trainable"] and row.backward_us <= 0:
            out.append(f"{path} ({f['class_name']}): trainable but gradient 0")
    own = sum(x.self_forward_us + x.self_backward_us for x in w.layers) + sum(w.other.values())
    if abs(own - w.op_time_us) > 0.01 * max(1.0, w.op_time_us):
        out.append(f"own times + other {own:.1f} != op time {w.op_time_us:.1f}")
    return out
