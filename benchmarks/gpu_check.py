#!/usr/bin/env python3
"""GPU check of tb_layerprof on Keras 3 + JAX: real captures, real figures.

Trains three models with KERAS_BACKEND=jax (the seed model with its Python-loop layer, a
ResNet-style CNN, a small transformer block) and, for each, prints and saves (JSON):
  - coverage and per-layer device time (forward / gradient per step) from LayerProfiler;
  - the share of the train program's GPU kernels matched to the window's steps;
  - GPU memory (jax's device memory_stats, and what the capture's planes carry);
  - the window's cost: fit time with LayerProfiler and with Keras' own
    `keras.callbacks.TensorBoard(profile_batch=...)`, each minus the same fit without;
  - the device planes' layout (line names, event and stat names), to compare with the
    hand-built TensorFlow GPU fixtures of the test suite;
and saves a trimmed copy of each capture (the window's steps only, no Python lines) to
commit as test fixtures.

Needs: JAX with CUDA, keras (+ namex, optree), tensorboard, numpy, protobuf; NO TensorFlow
and no network. Keras' TensorBoard callback imports `tensorflow.summary` to write its
trace graph, so without TensorFlow it cannot run: the script then times the exact
profiler calls it makes on JAX (`keras.src.backend.jax.tensorboard`: start_trace with
jax's defaults, one TraceAnnotation per batch, closed in `on_train_batch_end`, which
makes Keras dispatch batch ends synchronously) and says so in the output.

    bash benchmarks/gpu_check.sh             # on the GPU machine (see docs/jax.md)
    python benchmarks/gpu_check.py --allow-cpu --quick   # smoke test on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from tb_layerprof import figures, jax_analysis, xplane  # noqa: E402
from tb_layerprof.jax_callback import LayerProfiler, scopes_of  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xspace_schema  # noqa: E402


# -- models ---------------------------------------------------------------------------------

class SlowDouble(keras.layers.Layer):
    def call(self, x):
        return ops.stack([x[:, j] * 2.0 for j in range(x.shape[-1])], axis=-1)


class FastDouble(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def seed_model(features: int) -> keras.Model:
    inp = keras.Input((features,))
    h = keras.layers.Dense(features, name="dense_in")(inp)
    h = SlowDouble(name="slow")(h)
    h = FastDouble(name="fast")(h)
    out = keras.layers.Dense(1, name="head")(h)
    model = keras.Model(inp, out, name="seed")
    model.compile(optimizer="adam", loss="mse")
    return model


def resnet_model(size: int, width: int, blocks: int) -> keras.Model:
    inp = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(width, 3, padding="same", name="stem")(inp)
    for b in range(blocks):
        r = keras.layers.Conv2D(width, 3, padding="same", name=f"block{b}_conv1")(h)
        r = keras.layers.BatchNormalization(name=f"block{b}_bn1")(r)
        r = keras.layers.ReLU(name=f"block{b}_relu")(r)
        r = keras.layers.Conv2D(width, 3, padding="same", name=f"block{b}_conv2")(r)
        r = keras.layers.BatchNormalization(name=f"block{b}_bn2")(r)
        h = keras.layers.Add(name=f"block{b}_add")([h, r])
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(10, name="logits")(h)
    model = keras.Model(inp, out, name="resnet")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def transformer_model(seq: int, dim: int, heads: int) -> keras.Model:
    inp = keras.Input((seq,), dtype="int32")
    h = keras.layers.Embedding(1000, dim, name="embed")(inp)
    a = keras.layers.MultiHeadAttention(heads, dim // heads, name="mha")(h, h)
    h = keras.layers.LayerNormalization(name="ln1")(h + a)
    f = keras.layers.Dense(4 * dim, activation="gelu", name="ffn1")(h)
    f = keras.layers.Dense(dim, name="ffn2")(f)
    h = keras.layers.LayerNormalization(name="ln2")(h + f)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    out = keras.layers.Dense(2, name="cls")(h)
    model = keras.Model(inp, out, name="transformer")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def workloads(quick: bool) -> List[Tuple[str, Any, Tuple[np.ndarray, np.ndarray], int]]:
    """(name, model builder, data, batch size); --quick keeps a CPU smoke test short."""
    rng = np.random.default_rng(0)
    n = 512 if quick else 4096
    feats, size, seq = (64, 16, 16) if quick else (128, 32, 128)
    return [
        ("seed", lambda: seed_model(feats),
         (rng.standard_normal((n, feats)).astype("float32"), rng.standard_normal((n, 1)).astype("float32")), 32),
        ("resnet", lambda: resnet_model(size, 16 if quick else 64, 2 if quick else 4),
         (rng.standard_normal((n, size, size, 3)).astype("float32"), rng.integers(0, 10, (n,))), 32),
        ("transformer", lambda: transformer_model(seq, 32 if quick else 256, 2 if quick else 8),
         (rng.integers(0, 1000, (n, seq)).astype("int32"), rng.integers(0, 2, (n,))), 32),
    ]


# -- Keras' TensorBoard profiling, as it runs on JAX ---------------------------------------

class KerasTensorBoardProfile(keras.callbacks.Callback):
    """What `keras.callbacks.TensorBoard(profile_batch=(a, b))` does to profile on JAX,
    without its `tensorflow.summary` graph export (used only where TensorFlow is absent)."""

    def __init__(self, log_dir: str, start: int, stop: int):
        super().__init__()
        from keras.src.backend.jax import tensorboard as tb

        self.tb, self.log_dir, self.start, self.stop = tb, log_dir, start, stop
        self.step, self.ctx = 0, None

    def on_train_batch_begin(self, batch, logs=None):
        self.step += 1
        if self.step == self.start:
            self.tb.start_trace(self.log_dir)
        if self.start <= self.step <= self.stop:
            self.ctx = self.tb.start_batch_trace(batch)

    def on_train_batch_end(self, batch, logs=None):  # overriding this makes dispatch synchronous
        if self.ctx is not None:
            self.tb.stop_batch_trace(self.ctx)
            self.ctx = None
        if self.step == self.stop:
            self.tb.stop_trace(save=True)


def tensorboard_callback(log_dir: str, start: int, stop: int) -> Tuple[keras.callbacks.Callback, str]:
    try:
        import tensorflow  # noqa: F401  (Keras' TensorBoard writes its graph with it)

        return keras.callbacks.TensorBoard(log_dir=log_dir, profile_batch=(start, stop)), "keras.callbacks.TensorBoard"
    except ImportError:
        return KerasTensorBoardProfile(log_dir, start, stop), "TensorBoard's JAX profiler calls (no TensorFlow here)"


# -- measuring --------------------------------------------------------------------------------

def timed_fit(model, data, batch: int, steps: int, callbacks) -> float:
    x, y = data
    t = time.perf_counter()
    model.fit(x[: steps * batch], y[: steps * batch], batch_size=batch, epochs=1, verbose=0,
              callbacks=callbacks, shuffle=False)
    jax.block_until_ready([v.value for v in model.variables])
    return time.perf_counter() - t


def memory_stats() -> Dict[str, Any]:
    out = {}
    for d in jax.local_devices():
        try:
            stats = d.memory_stats() or {}
        except Exception:
            stats = {}
        keep = {k: v for k, v in stats.items() if k in ("bytes_in_use", "peak_bytes_in_use", "bytes_limit",
                                                       "largest_alloc_size", "num_allocs")}
        if keep:
            out[str(d)] = keep
    return out


def kernel_match(capture: xplane.XlaEvents, first: int, last: int) -> Dict[str, Any]:
    """Share of the capture's train-program kernels (device thunks on a GPU, CPU thunks
    otherwise) that start inside one of the window's step markers."""
    in_window, _ = jax_analysis.window_thunks(capture, first, last)
    device = any(t.device for t in capture.thunks)
    pool = [t for t in capture.thunks if t.device == device and "train" in t.module]
    matched = [t for t in in_window if t.device == device and "train" in t.module]
    return {"kernels": len(pool), "matched": len(matched),
            "share": round(len(matched) / len(pool), 4) if pool else None,
            "kind": "GPU kernels" if device else "CPU thunks"}


def plane_layout(path: str) -> Dict[str, Any]:
    """Per plane: lines (name, events), most common event names and the stat names events
    carry: what a reader must expect of real captures."""
    space = xspace_schema.load(path)
    layout = {}
    for plane in space.planes:
        stat_names = {k: v.name for k, v in plane.stat_metadata.items()}
        lines = []
        for line in list(plane.lines)[:40]:
            names: Dict[str, int] = {}
            stats = set()
            for ev in list(line.events)[:5000]:
                n = plane.event_metadata[ev.metadata_id].name if ev.metadata_id in plane.event_metadata else "?"
                names[n[:60]] = names.get(n[:60], 0) + 1
                stats.update(stat_names.get(s.metadata_id, "?") for s in ev.stats)
            top = sorted(names.items(), key=lambda kv: -kv[1])[:6]
            lines.append({"name": line.name, "events": len(line.events), "top": top, "stats": sorted(stats)})
        layout[plane.name] = {"lines": lines, "plane_stats": sorted({stat_names.get(s.metadata_id, "?") for s in plane.stats})}
    return layout


def trim_capture(path: str, out_path: str, first: int, last: int, max_bytes: int) -> int:
    """Write the window's part of a capture: the steps' events on host and device planes
    (Python-tracer calls dropped) and the train programs' HLO; fewer steps if too big."""
    capture = xplane.read_xla(path)
    steps = sorted(s for s in capture.steps if first <= s[0] <= last)
    while steps:
        t0, t1 = steps[0][1], steps[-1][2]
        data = _trimmed(path, t0, t1)
        if len(data) <= max_bytes or len(steps) == 1:
            with open(out_path, "wb") as f:
                f.write(data)
            return len(data)
        steps = steps[: max(1, len(steps) // 2)]
    return 0


def _trimmed(path: str, t0_ps: int, t1_ps: int) -> bytes:
    space = xspace_schema.load(path)
    for plane in space.planes:
        if plane.name == xspace_schema.METADATA_PLANE:
            for k in [k for k, md in plane.event_metadata.items() if "train" not in md.name]:
                del plane.event_metadata[k]
            continue
        keep_lines = []
        python_calls = {k for k, md in plane.event_metadata.items() if md.name.startswith("$")}
        for line in plane.lines:
            base = line.timestamp_ns * 1000
            # Python-tracer calls ("$file.py:12 fn") go; the step markers on the same
            # thread's line stay.
            kept = [e for e in line.events
                    if t0_ps <= base + e.offset_ps <= t1_ps and e.metadata_id not in python_calls]
            if kept:
                del line.events[:]
                line.events.extend(kept)
                keep_lines.append(line)
        kept_copy = [type(line)() for line in keep_lines]
        for dst, src in zip(kept_copy, keep_lines):
            dst.CopyFrom(src)
        del plane.lines[:]
        plane.lines.extend(kept_copy)
    return space.SerializeToString()


# -- one workload -----------------------------------------------------------------------------

def check(name: str, build, data, batch: int, args, out_dir: str) -> Dict[str, Any]:
    keras.utils.set_random_seed(0)
    model = build()
    first, last = args.window
    steps = args.steps
    timed_fit(model, data, batch, steps, [])  # compile and warm up
    base = min(timed_fit(model, data, batch, steps, []) for _ in range(2))
    mem_before = memory_stats()
    log_dir = os.path.join(out_dir, "logs", name)
    profiler = LayerProfiler(log_dir=log_dir, profile_batch=(first, last), background=True, verbose=1)
    analysis_s = _time_analysis(profiler)
    with_profiler = timed_fit(model, data, batch, steps, [profiler])
    tb_dir = os.path.join(out_dir, "tensorboard", name)
    tb, tb_kind = tensorboard_callback(tb_dir, first, last)
    with_tensorboard = timed_fit(model, data, batch, steps, [tb])
    result: Dict[str, Any] = {
        "model": name, "params": int(model.count_params()), "batch": batch, "steps": steps,
        "window": [first, last], "fit_s": {"baseline": base, "layerprof": with_profiler,
                                             "tensorboard": with_tensorboard},
        "window_cost_s": {"layerprof": with_profiler - base, "tensorboard": with_tensorboard - base,
                          "layerprof_analysis": sum(analysis_s),
                          "layerprof_capture": with_profiler - base - sum(analysis_s),
                          "tensorboard_kind": tb_kind},
        "memory": {"before": mem_before, "after": memory_stats()},
    }
    if not profiler.reports:
        result["error"] = "no window analysed (see warnings above)"
        return result
    window = profiler.reports[0]
    path = _capture_path(log_dir, window)
    capture = xplane.read_xla(path)
    t = time.perf_counter()
    jax_analysis.analyse(capture, [], first, last, scopes=scopes_of(model))
    result.update(_figures(window, capture, first, last))
    result["analysis_s_without_layers"] = time.perf_counter() - t
    result["capture"] = {"path": os.path.relpath(path, out_dir), "bytes": os.path.getsize(path),
                         "events": capture.event_count, "device_planes": capture.device_planes,
                         "plane_memory_stats": capture.memory}
    result["layout"] = plane_layout(path)
    trimmed = os.path.join(out_dir, "captures", f"{name}.xplane.pb")
    os.makedirs(os.path.dirname(trimmed), exist_ok=True)
    result["trimmed_capture"] = {"path": os.path.relpath(trimmed, out_dir),
                                 "bytes": trim_capture(path, trimmed, first, last, args.keep_mb << 20)}
    again = jax_analysis.analyse(xplane.read_xla(trimmed), profiler._layers or [], first, last,
                                 scopes=scopes_of(model))
    result["trimmed_capture"].update(coverage=again.coverage, steps=again.steps)
    return result


def _time_analysis(profiler: LayerProfiler) -> List[float]:
    """Seconds each window's analysis took (it runs inside fit's on_train_end wait)."""
    spent: List[float] = []
    inner = profiler._analyse_safely

    def timed(*args):
        t = time.perf_counter()
        try:
            return inner(*args)
        finally:
            spent.append(time.perf_counter() - t)

    profiler._analyse_safely = timed
    return spent


def _capture_path(log_dir: str, window) -> str:
    run_dir = os.path.join(log_dir, "train", window.profile_dir)
    return os.path.join(run_dir, next(f for f in sorted(os.listdir(run_dir)) if f.endswith(".xplane.pb")))


def _figures(window, capture, first: int, last: int) -> Dict[str, Any]:
    layers = sorted(window.layers, key=lambda x: -figures.layer_self_total(x))
    return {
        "coverage": window.coverage, "clock": window.clock, "op_time_us": window.op_time_us,
        "step_time_us": window.step_time_us, "other_us": window.other,
        "fused_across_us": window.fused_across_us,
        "kernels_matched_to_steps": kernel_match(capture, first, last),
        "layers": [{"path": x.path, "class": x.class_name, "custom": x.custom,
                    "forward_us": round(x.self_forward_us, 2), "backward_us": round(x.self_backward_us, 2),
                    "hints": [h.code for h in x.hints]} for x in layers if figures.layer_self_total(x) > 0],
    }


def print_result(r: Dict[str, Any]) -> None:
    print(f"\n== {r['model']} ({r['params']:,} params, batch {r['batch']}, window {r['window']})")
    if "error" in r:
        print("  ERROR:", r["error"])
        return
    km = r["kernels_matched_to_steps"]
    print(f"  coverage {r['coverage']:.2%}  clock {r['clock']}  op time {r['op_time_us']:.1f} us/step  "
          f"step {r['step_time_us']:.1f} us  {km['kind']} matched to steps: {km['matched']}/{km['kernels']}"
          f" ({km['share']})")
    for x in r["layers"][:12]:
        print(f"    {x['path']:<28} {x['class']:<22} fwd {x['forward_us']:>9.1f}  grad {x['backward_us']:>9.1f} us"
              f"  {' '.join(x['hints'])}")
    c = r["window_cost_s"]
    print(f"  window cost: layerprof {c['layerprof']:+.3f} s (capture {c['layerprof_capture']:+.3f} s, "
          f"analysis {c['layerprof_analysis']:.3f} s), tensorboard {c['tensorboard']:+.3f} s "
          f"({c['tensorboard_kind']}); baseline fit {r['fit_s']['baseline']:.3f} s")
    print(f"  memory: {json.dumps(r['memory']['after'])}  capture planes: {json.dumps(r['capture']['plane_memory_stats'])}")
    print(f"  capture {r['capture']['bytes']:,} B -> trimmed {r['trimmed_capture']['bytes']:,} B "
          f"at {r['trimmed_capture']['path']} (re-read: coverage {r['trimmed_capture']['coverage']:.2%}, "
          f"{r['trimmed_capture']['steps']} steps)")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or os.path.join(ROOT, "benchmarks", "results", "gpu_check"))
    ap.add_argument("--steps", type=int, default=40, help="steps per timed fit")
    ap.add_argument("--window", type=lambda s: tuple(int(v) for v in s.split(",")), default=(10, 14))
    ap.add_argument("--keep-mb", type=int, default=3, help="trimmed capture size limit per model")
    ap.add_argument("--quick", action="store_true", help="small models (a CPU smoke test)")
    ap.add_argument("--allow-cpu", action="store_true", help="run without a GPU")
    ap.add_argument("--only", default="", help="comma-separated model names")
    args = ap.parse_args(argv)
    devices = jax.devices()
    print("jax", jax.__version__, "keras", keras.__version__, "devices", devices,
          "tensorflow imported:", "tensorflow" in sys.modules)
    if devices[0].platform != "gpu" and not args.allow_cpu:
        print("no GPU found: pass --allow-cpu for a CPU smoke test")
        return 2
    os.makedirs(args.out, exist_ok=True)
    results = []
    for name, build, data, batch in workloads(args.quick):
        if args.only and name not in args.only.split(","):
            continue
        try:
            r = check(name, build, data, batch, args, args.out)
        except Exception as e:  # one model's failure must not lose the others' figures
            r = {"model": name, "params": 0, "batch": batch, "window": list(args.window),
                 "error": f"{type(e).__name__}: {e}"}
        print_result(r)
        results.append(r)
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump({"jax": jax.__version__, "keras": keras.__version__, "devices": [str(d) for d in devices],
                   "results": results}, f, indent=1, default=str)
    print("\nwrote", os.path.join(args.out, "gpu_check.json"))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
