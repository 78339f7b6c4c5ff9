"""Helpers shared by the benchmark scripts: machine facts, statistics, tables, JSON, models.

Benchmarks are measurements, not tests: they print a table, write JSON and never assert on
timings. Import `tb_layerprof` before TensorFlow in every script that trains (it selects
the BFC CPU allocator so memory events exist, exactly as a user's run would).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
from typing import Any, Dict, Iterable, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def machine_info() -> Dict[str, Any]:
    """What the figures were measured on (goes into every JSON result)."""
    info: Dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
    }
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow", "keras", "xprof", "tensorboard-plugin-profile",
                 "protobuf"):
        try:
            info[dist.replace("-", "_") + "_version"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        from google.protobuf.internal import api_implementation

        info["protobuf_backend"] = api_implementation.Type()
    except Exception:
        pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def spread(values: Sequence[float]) -> Dict[str, float]:
    """Median, min, max and interquartile range of a sample."""
    vals = sorted(values)
    if not vals:
        return {"n": 0}
    out = {"n": len(vals), "median": statistics.median(vals), "min": vals[0], "max": vals[-1]}
    if len(vals) >= 4:
        q = statistics.quantiles(vals, n=4, method="inclusive")
        out["q1"], out["q3"] = q[0], q[2]
    else:
        out["q1"], out["q3"] = vals[0], vals[-1]
    return out


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A plain aligned text table."""
    rows = [[_fmt(c) for c in r] for r in rows]
    header = list(header)
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(header)]
    print()
    print(title)
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        if c == 0 or 0.001 <= abs(c) < 1e6:
            return f"{c:.4g}" if abs(c) < 10 else f"{c:,.1f}"
        return f"{c:.3e}"
    if isinstance(c, int) and not isinstance(c, bool):
        return f"{c:,}"
    return str(c)


def _numeric(s: str) -> bool:
    try:
        float(s.replace(",", "").rstrip("x%"))
        return True
    except ValueError:
        return False


def write_json(path: Optional[str], payload: Dict[str, Any]) -> None:
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    print(f"\nresults written to {path}")


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_mlp(features: int = 64, width: int = 256, classes: int = 10, seed: int = 0):
    """A small-but-not-tiny model: Dense layers around a custom gated layer."""
    import keras
    import tensorflow as tf

    class GatedResidual(keras.layers.Layer):
        """A custom layer: x + sigmoid(x W) * tanh(x), with its own weights."""

        def build(self, input_shape):
            d = int(input_shape[-1])
            self.w = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="w")
            self.b = self.add_weight(shape=(d,), initializer="zeros", name="b")

        def call(self, x):
            gate = tf.sigmoid(tf.matmul(x, self.w) + self.b)
            return x + gate * tf.tanh(x)

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(features,))
    h = keras.layers.Dense(width, activation="relu", name="dense_in")(inputs)
    h = GatedResidual(name="gated")(h)
    h = keras.layers.Dense(width, activation="relu", name="dense_mid")(h)
    h = keras.layers.Dense(width // 2, activation="relu", name="dense_narrow")(h)
    outputs = keras.layers.Dense(classes, name="logits")(h)
    model = keras.Model(inputs, outputs, name="bench_mlp")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def synthetic_data(samples: int, features: int = 64, classes: int = 10, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, features)).astype("float32")
    y = rng.integers(0, classes, size=(samples,)).astype("int32")
    return x, y


def loop_layer_model(columns: int = 32, width: int = 32, blocks: int = 1, seed: int = 0):
    """A model whose custom layer(s) double the input one column at a time (Python loop)."""
    import keras
    import tensorflow as tf

    class LoopDouble(keras.layers.Layer):
        """x * 2 one column at a time: unrolled into ~2 ops per column at trace time."""

        def call(self, x):
            return tf.stack([x[:, j] * 2.0 for j in range(x.shape[-1])], axis=-1)

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(columns,))
    h = inputs
    for i in range(blocks):
        h = keras.layers.Dense(width, activation="relu", name=f"dense_{i}")(h)
        h = LoopDouble(name=f"loop_{i}")(h)
    outputs = keras.layers.Dense(1, name="out")(h)
    model = keras.Model(inputs, outputs, name="loop_model")
    model.compile(optimizer="sgd", loss="mse")
    return model


def traced_functions(fn, _seen=None) -> list:
    """The tf.functions reachable from `fn` through closures and wrappers.

    Keras 3's `model.train_function` is a plain Python closure around `tf.function`s
    (`multi_step_on_iterator`, `one_step_on_data`); their tracing counts tell whether a
    fit retraced.
    """
    seen = _seen if _seen is not None else set()
    if fn is None or id(fn) in seen:
        return []
    seen.add(id(fn))
    found = [fn] if hasattr(fn, "experimental_get_tracing_count") else []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            found += traced_functions(cell.cell_contents, seen)
        except ValueError:  # empty cell
            pass
    for attr in ("__wrapped__", "python_function"):
        found += traced_functions(getattr(fn, attr, None), seen)
    return found


def tracing_count(fn) -> Optional[int]:
    """Total traces of the tf.functions behind `fn` (None when there are none)."""
    total, any_found = 0, False
    for f in traced_functions(fn):
        try:
            total += int(f.experimental_get_tracing_count())
            any_found = True
        except Exception:
            pass
    return total if any_found else None


def load_average() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def make_big_profile(workdir: str, columns: int = 256, blocks: int = 4, steps: int = 30,
                     batch_size: int = 32, verbose: int = 1) -> Dict[str, Any]:
    """Really train a model under LayerProfiler and keep what its analysis consumed.

    The model chains `blocks` Python-loop custom layers over `columns` features, so each
    step runs thousands of small ops (and as many allocations): about 19k XEvents per step
    with the defaults, ~560k for a 30-step window. Writes into `workdir`:

    * the captured `.xplane.pb` (under `logs/train/plugins/profile/<session>/`),
    * `layermap.pkl`: `{"layer_map", "graph_tables", "mode", "xplane"}`, i.e. the layer map
      snapshot and graph tables the callback hands to `attribution.attribute`.

    Returns that dict. Imports TensorFlow.
    """
    import glob
    import pickle

    import numpy as np

    from tb_layerprof import LayerProfiler

    logdir = os.path.join(workdir, "logs")
    model = loop_layer_model(columns=columns, width=columns, blocks=blocks)
    n = (steps + 4) * batch_size
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, columns)).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    cb = LayerProfiler(logdir, profile_batch=(3, 2 + steps), background=False, verbose=verbose)
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[cb])
    found = sorted(glob.glob(os.path.join(logdir, "train", "plugins", "profile", "*", "*.xplane.pb")),
                   key=os.path.getmtime)
    if not found or cb._instrumenter is None:
        raise RuntimeError(f"no profile was captured under {logdir}")
    fixture = {
        "xplane": found[-1],
        "layer_map": cb._instrumenter.layer_map.snapshot(),
        "graph_tables": cb._graph_tables(cb._instrumenter.graphs),
        "mode": cb._mode,
        "model": {"columns": columns, "blocks": blocks, "steps": steps, "batch_size": batch_size},
    }
    with open(os.path.join(workdir, "layermap.pkl"), "wb") as f:
        pickle.dump(fixture, f, protocol=pickle.HIGHEST_PROTOCOL)
    return fixture


def load_fixture(workdir: str) -> Optional[Dict[str, Any]]:
    """The fixture `make_big_profile` left in `workdir`, if its profile still exists."""
    import pickle

    path = os.path.join(workdir, "layermap.pkl")
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        fixture = pickle.load(f)
    return fixture if os.path.exists(fixture.get("xplane", "")) else None


def empty_layer_map():
    from tb_layerprof.layermap import LayerMap

    return LayerMap()


class silenced_stderr:
    """Send file descriptor 2 to /dev/null (XProf's C++ logging is very chatty)."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        return False
