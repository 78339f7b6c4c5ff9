"""Overhead of an attached LayerProfiler when no profile window falls in the fit.

Outside its windows the callback should cost (almost) nothing: target fit-time ratio
(with callback / without) <= 1.01. Both variants run in one process, after warm-up fits,
interleaved A B B A A B B A ... so slow drift (thermal, page cache, other load) hits both
alike; each ratio compares neighbouring fits. Also counts traces of the train function:
attaching the callback must not retrace when no window is due.

    python benchmarks/bench_overhead.py --out benchmarks/results/overhead.json
    python benchmarks/bench_overhead.py --repeats 6 --epochs 1   # quicker, noisier
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

_common.quiet_tensorflow()
import tb_layerprof  # noqa: E402,F401  (before TensorFlow: same allocator as a user's run)


def hook_cost(profiler_cls, logdir: str, calls: int) -> float:
    """Microseconds per step spent in the callback's batch hooks when no window is due.

    Measured by calling the hooks directly: far less noisy than fit-time differences, and
    an upper bound for what the callback itself adds to a step (Keras' own dispatch to
    one more callback comes on top; the fit ratio includes it).
    """
    cb = profiler_cls(logdir, profile_batch=(10**12, 10**12 + 1), verbose=0)
    begin, end = cb.on_train_batch_begin, cb.on_train_batch_end
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(calls):
            begin(i)
            end(i)
        best = min(best, time.perf_counter() - t0)
    return best / calls * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=16, help="fits per variant (default 16)")
    p.add_argument("--samples", type=int, default=32768)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hook-calls", type=int, default=200000,
                   help="batch-hook calls for the direct per-step cost measurement")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--out", default=None, help="write JSON results here")
    args = p.parse_args(argv)

    import tensorflow as tf  # noqa: F401
    from tb_layerprof import LayerProfiler

    x, y = _common.synthetic_data(args.samples)
    model = _common.build_mlp(width=args.width)
    steps = -(-args.samples // args.batch_size) * args.epochs
    logdir = tempfile.mkdtemp(prefix="layerprof_bench_overhead_")
    far = 10**9  # a window that never comes

    def fit(with_callback: bool) -> float:
        callbacks = [LayerProfiler(logdir, profile_batch=(far, far + 1), verbose=0)] if with_callback else []
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                  shuffle=False, callbacks=callbacks)
        return time.perf_counter() - t0

    try:
        print(f"warm-up ({steps} steps per fit)...", flush=True)
        fit(False)
        fit(True)
        train_fn = model.train_function
        traces_before = _common.tracing_count(train_fn)
        load_before = _common.load_average()

        plain, profiled, ratios = [], [], []
        for r in range(args.repeats):
            order = (False, True) if r % 2 == 0 else (True, False)  # ABBA...
            t = {}
            for with_cb in order:
                t[with_cb] = fit(with_cb)
            plain.append(t[False])
            profiled.append(t[True])
            ratios.append(t[True] / t[False])
            print(f"  repeat {r + 1}/{args.repeats}: plain {t[False]:.3f}s  "
                  f"with LayerProfiler {t[True]:.3f}s  ratio {ratios[-1]:.4f}", flush=True)
        traces_after = _common.tracing_count(model.train_function)
        rebuilt = model.train_function is not train_fn
        load_after = _common.load_average()
        hook_us = hook_cost(LayerProfiler, logdir, args.hook_calls)
        created = os.listdir(logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)

    sp, sb, sr = _common.spread(plain), _common.spread(profiled), _common.spread(ratios)
    pooled = sb["median"] / sp["median"]
    retraces = None if traces_before is None or traces_after is None else traces_after - traces_before
    if rebuilt:
        retraces = f"train function rebuilt ({retraces} traces)"
    step_ms = sp["median"] / steps * 1e3
    _common.print_table(
        f"Fit time, no window due ({args.repeats} alternating repeats, {steps} steps per fit, "
        f"batch {args.batch_size})",
        ["variant", "median s", "min s", "max s", "per-step ms"],
        [
            ["plain fit", sp["median"], sp["min"], sp["max"], sp["median"] / steps * 1e3],
            ["with LayerProfiler", sb["median"], sb["min"], sb["max"], sb["median"] / steps * 1e3],
        ],
    )
    _common.print_table(
        "Ratio (with / without), target <= 1.01",
        ["statistic", "value"],
        [
            ["median of paired ratios", sr["median"]],
            ["IQR of paired ratios", f"{sr['q1']:.4f} .. {sr['q3']:.4f}"],
            ["min .. max", f"{sr['min']:.4f} .. {sr['max']:.4f}"],
            ["ratio of medians", pooled],
            ["train_function retraces during the repeats", "n/a" if retraces is None else retraces],
            ["files written to log_dir", len(created)],
            ["load average 1 min, before .. after", f"{load_before} .. {load_after}"],
        ],
    )
    _common.print_table(
        "Direct cost of the callback's batch hooks (no window due)",
        ["statistic", "value"],
        [
            ["on_train_batch_begin+end, us per step", hook_us],
            ["as a fraction of a plain step", hook_us / (step_ms * 1e3)],
        ],
    )
    verdict = "meets" if sr["median"] <= 1.01 else "misses"
    print(f"\nmedian ratio {sr['median']:.4f}: {verdict} the 1.01 target")

    _common.write_json(args.out, {
        "benchmark": "overhead",
        "machine": _common.machine_info(),
        "config": vars(args) | {"steps_per_fit": steps},
        "plain_s": plain,
        "with_layerprofiler_s": profiled,
        "ratios": ratios,
        "ratio": sr,
        "ratio_of_medians": pooled,
        "target": 1.01,
        "train_function_traces_before": traces_before,
        "train_function_traces_after": traces_after,
        "retraces": retraces,
        "train_function_rebuilt": rebuilt,
        "files_in_log_dir": created,
        "hook_us_per_step": hook_us,
        "hook_fraction_of_step": hook_us / (step_ms * 1e3),
        "plain_step_ms": step_ms,
        "load_average_before": load_before,
        "load_average_after": load_after,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
