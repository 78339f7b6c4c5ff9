"""Cost of a profiled window: LayerProfiler vs Keras' own TensorBoard(profile_batch=...).

Both callbacks capture the same steps of the same model with the TensorFlow profiler.
Measured on the training thread, from the first window step's `on_train_batch_begin`
to the last window step's `on_train_batch_end` (profiler start and stop included), by
two timing callbacks placed first and last in the callback list. LayerProfiler's
analysis runs in a background thread after the window; its duration is reported
separately and is not part of the window time. Target: LayerProfiler / TensorBoard <= 1.10.

    python benchmarks/bench_window.py --out benchmarks/results/window.json
    python benchmarks/bench_window.py --model loop --window 10,19 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

_common.quiet_tensorflow()
import tb_layerprof  # noqa: E402,F401  (before TensorFlow: same allocator as a user's run)


def make_timer(keras):
    class StepTimer(keras.callbacks.Callback):
        """Records time.perf_counter() at every train batch begin and end."""

        def __init__(self):
            super().__init__()
            self.begin: List[float] = []
            self.end: List[float] = []

        def on_train_batch_begin(self, batch, logs=None):
            self.begin.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            self.end.append(time.perf_counter())

    return StepTimer


def window_figures(first, last, a: int, b: int) -> Dict[str, float]:
    """Figures of steps a..b (1-based) from the outer timers `first` and `last`."""
    i, j = a - 1, b - 1
    # start_ms: the begin hooks of step a (profiler start); stop_ms: the end hooks of step b
    # (profiler stop, writing the .xplane.pb); hooks_median_ms: both hooks of an inner step.
    per_step = [last.end[s] - first.begin[s] for s in range(i, j + 1)]
    hooks = [(last.begin[s] - first.begin[s]) + (last.end[s] - first.end[s]) for s in range(i, j + 1)]
    inner = per_step[1:-1] or per_step
    before = [last.end[s] - first.begin[s] for s in range(max(0, i - 5), i)]
    # Steps after the window run while LayerProfiler's analysis thread works (GIL, 2 cores).
    after = [last.end[s] - first.begin[s] for s in range(j + 1, min(len(last.end), len(first.begin)))]
    return {
        "window_s": last.end[j] - first.begin[i],
        "step_median_ms": statistics.median(per_step) * 1e3,
        "inner_step_median_ms": statistics.median(inner) * 1e3,
        "unprofiled_step_median_ms": statistics.median(before) * 1e3 if before else float("nan"),
        "after_window_step_median_ms": statistics.median(after) * 1e3 if after else float("nan"),
        "start_ms": (last.begin[i] - first.begin[i]) * 1e3,
        "hooks_median_ms": statistics.median(hooks[1:-1] or hooks) * 1e3,
        "stop_ms": (last.end[j] - first.end[j]) * 1e3,
        "per_step_ms": [t * 1e3 for t in per_step],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--window", default="10,29", help="profiled steps a,b (1-based, inclusive); default 10,29")
    p.add_argument("--repeats", type=int, default=15, help="fits per variant (default 15)")
    p.add_argument("--model", choices=("mlp", "loop"), default="mlp",
                   help="mlp: Dense + custom gated layer; loop: Python-loop custom layers (many ops)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--after", type=int, default=20,
                   help="steps to run after the window (they overlap LayerProfiler's analysis)")
    p.add_argument("--keep", action="store_true", help="keep the log directories")
    p.add_argument("--out", default=None, help="write JSON results here")
    args = p.parse_args(argv)
    a, b = (int(v) for v in args.window.split(","))

    import keras
    from tb_layerprof import LayerProfiler

    StepTimer = make_timer(keras)
    if args.model == "mlp":
        model = _common.build_mlp()
        x, y = _common.synthetic_data((b + args.after) * args.batch_size)
    else:
        model = _common.loop_layer_model(columns=32, blocks=3)
        import numpy as np

        rng = np.random.default_rng(0)
        n = (b + args.after) * args.batch_size
        x = rng.standard_normal((n, 32)).astype("float32")
        y = rng.standard_normal((n, 1)).astype("float32")
    root = tempfile.mkdtemp(prefix="layerprof_bench_window_")
    results: Dict[str, List[Dict[str, float]]] = {"layerprof": [], "tensorboard": []}
    analysis_s: List[float] = []
    cold: Dict[str, Dict[str, float]] = {}

    def fit(variant: str, tag: str):
        logdir = os.path.join(root, f"{variant}_{tag}")
        if variant == "layerprof":
            cb = LayerProfiler(logdir, profile_batch=(a, b), verbose=0)
            original = cb._analyse
            timings = []

            def timed(*call_args):
                t0 = time.perf_counter()
                try:
                    return original(*call_args)
                finally:
                    timings.append(time.perf_counter() - t0)

            cb._analyse = timed  # instance attribute: _analyse_safely finds it
        else:
            cb = keras.callbacks.TensorBoard(logdir, profile_batch=(a, b), write_graph=False)
            timings = []
        first, last = StepTimer(), StepTimer()
        model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False,
                  callbacks=[first, cb, last])
        figs = window_figures(first, last, a, b)
        if variant == "layerprof":
            figs["analysis_s"] = timings[0] if timings else float("nan")
            figs["reports"] = len(cb.reports)
        return figs

    try:
        print(f"model {args.model}, window steps {a}-{b} ({b - a + 1} steps), "
              f"batch {args.batch_size}; warm-up fits...", flush=True)
        cold["layerprof"] = fit("layerprof", "warmup")
        cold["tensorboard"] = fit("tensorboard", "warmup")
        for r in range(args.repeats):
            order = ("layerprof", "tensorboard") if r % 2 == 0 else ("tensorboard", "layerprof")
            for variant in order:
                figs = fit(variant, str(r))
                results[variant].append(figs)
                if variant == "layerprof":
                    analysis_s.append(figs["analysis_s"])
            lp, tb = results["layerprof"][-1], results["tensorboard"][-1]
            print(f"  repeat {r + 1}/{args.repeats}: window LayerProfiler {lp['window_s']:.3f}s  "
                  f"TensorBoard {tb['window_s']:.3f}s  ratio {lp['window_s'] / tb['window_s']:.3f}  "
                  f"(analysis {lp['analysis_s']:.2f}s in background)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"log directories kept under {root}")

    def med(variant, key):
        return statistics.median(f[key] for f in results[variant])

    ratios = [lp["window_s"] / tb["window_s"] for lp, tb in zip(results["layerprof"], results["tensorboard"])]
    step_ratios = [lp["step_median_ms"] / tb["step_median_ms"]
                   for lp, tb in zip(results["layerprof"], results["tensorboard"])]
    keys = ["window_s", "step_median_ms", "inner_step_median_ms", "start_ms", "stop_ms",
            "hooks_median_ms", "unprofiled_step_median_ms", "after_window_step_median_ms"]
    def low(variant, key):
        return min(f[key] for f in results[variant])

    _common.print_table(
        f"Profiled window, steps {a}-{b}, over {args.repeats} repeats (model {args.model}); "
        "min = best case (interference only adds time)",
        ["figure", "LayerProfiler median", "TensorBoard median", "ratio", "LP min", "TB min", "min ratio"],
        [[k, med("layerprof", k), med("tensorboard", k), med("layerprof", k) / med("tensorboard", k),
          low("layerprof", k), low("tensorboard", k), low("layerprof", k) / low("tensorboard", k)]
         for k in keys],
    )
    sr, ss, sa = _common.spread(ratios), _common.spread(step_ratios), _common.spread(analysis_s)
    _common.print_table(
        "Summary (target: window ratio <= 1.10)",
        ["statistic", "value"],
        [
            ["median paired window ratio", sr["median"]],
            ["window ratio IQR", f"{sr['q1']:.3f} .. {sr['q3']:.3f}"],
            ["ratio of best windows (min / min)", low("layerprof", "window_s") / low("tensorboard", "window_s")],
            ["window ratio min .. max", f"{sr['min']:.3f} .. {sr['max']:.3f}"],
            ["median paired per-step ratio", ss["median"]],
            ["background analysis, median s", sa["median"]],
            ["background analysis, min .. max s", f"{sa['min']:.2f} .. {sa['max']:.2f}"],
            ["cold first window (warm-up fit) LayerProfiler s", cold["layerprof"]["window_s"]],
            ["cold first window (warm-up fit) TensorBoard s", cold["tensorboard"]["window_s"]],
        ],
    )
    verdict = "meets" if sr["median"] <= 1.10 else "misses"
    print(f"\nmedian window ratio {sr['median']:.3f}: {verdict} the 1.10 target")
    _common.write_json(args.out, {
        "benchmark": "window",
        "machine": _common.machine_info(),
        "config": vars(args),
        "layerprof": results["layerprof"],
        "tensorboard": results["tensorboard"],
        "cold": cold,
        "window_ratios": ratios,
        "window_ratio": sr,
        "window_ratio_of_mins": low("layerprof", "window_s") / low("tensorboard", "window_s"),
        "step_ratio": ss,
        "analysis_s": sa,
        "target": 1.10,
        "load_average": _common.load_average(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
