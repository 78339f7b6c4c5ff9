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
import statistics
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

    # Step times without adding a callback: Keras calls model.train_function once per step,
    # so wrapping it timestamps every step (callback hooks included, between two calls).
    # A per-fit median step time shrugs off the occasional stall of a shared machine
    # (on CPU-quota'd VMs whole fits move in 100 ms quanta), which fit wall time cannot.
    stamps: list = []

    def fit(with_callback: bool):
        callbacks = [LayerProfiler(logdir, profile_batch=(far, far + 1), verbose=0)] if with_callback else []
        stamps.clear()
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                  shuffle=False, callbacks=callbacks)
        wall = time.perf_counter() - t0
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        return wall, (statistics.median(gaps) if gaps else float("nan"))

    try:
        print(f"warm-up ({steps} steps per fit)...", flush=True)
        fit(False)
        fit(True)
        train_fn = model.train_function
        traces_before = _common.tracing_count(train_fn)

        def timed_train_function(iterator):
            stamps.append(time.perf_counter())
            return train_fn(iterator)

        model.train_function = timed_train_function
        load_before = _common.load_average()

        plain, profiled, ratios = [], [], []
        plain_step, profiled_step, step_ratios = [], [], []
        for r in range(args.repeats):
            order = (False, True) if r % 2 == 0 else (True, False)  # ABBA...
            t = {}
            for with_cb in order:
                t[with_cb] = fit(with_cb)
            plain.append(t[False][0])
            profiled.append(t[True][0])
            ratios.append(t[True][0] / t[False][0])
            plain_step.append(t[False][1])
            profiled_step.append(t[True][1])
            step_ratios.append(t[True][1] / t[False][1])
            print(f"  repeat {r + 1}/{args.repeats}: fit plain {t[False][0]:.3f}s  with LayerProfiler "
                  f"{t[True][0]:.3f}s  ratio {ratios[-1]:.4f} | median step {t[False][1] * 1e3:.3f} vs "
                  f"{t[True][1] * 1e3:.3f} ms  ratio {step_ratios[-1]:.4f}", flush=True)
        rebuilt = model.train_function is not timed_train_function
        model.train_function = train_fn
        traces_after = _common.tracing_count(model.train_function)
        load_after = _common.load_average()
        hook_us = hook_cost(LayerProfiler, logdir, args.hook_calls)
        created = os.listdir(logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)

    sp, sb, sr = _common.spread(plain), _common.spread(profiled), _common.spread(ratios)
    ssr = _common.spread(step_ratios)
    sps, sbs = _common.spread(plain_step), _common.spread(profiled_step)
    pooled = sb["median"] / sp["median"]
    retraces = None if traces_before is None or traces_after is None else traces_after - traces_before
    if rebuilt:
        retraces = f"train function rebuilt ({retraces} traces)"
    step_ms = sps["median"] * 1e3
    _common.print_table(
        f"Fit time, no window due ({args.repeats} alternating repeats, {steps} steps per fit, "
        f"batch {args.batch_size})",
        ["variant", "fit median s", "fit min s", "fit max s", "median step ms"],
        [
            ["plain fit", sp["median"], sp["min"], sp["max"], sps["median"] * 1e3],
            ["with LayerProfiler", sb["median"], sb["min"], sb["max"], sbs["median"] * 1e3],
        ],
    )
    _common.print_table(
        "Ratio (with / without), target <= 1.01",
        ["statistic", "value"],
        [
            ["fit time: median of paired ratios", sr["median"]],
            ["fit time: IQR of paired ratios", f"{sr['q1']:.4f} .. {sr['q3']:.4f}"],
            ["fit time: min .. max", f"{sr['min']:.4f} .. {sr['max']:.4f}"],
            ["fit time: ratio of medians", pooled],
            ["median step time: median of paired ratios", ssr["median"]],
            ["median step time: IQR of paired ratios", f"{ssr['q1']:.4f} .. {ssr['q3']:.4f}"],
            ["median step time: min .. max", f"{ssr['min']:.4f} .. {ssr['max']:.4f}"],
            ["train_function retraces during the repeats", "n/a" if retraces is None else retraces],
            ["files written to log_dir", len(created)],
            ["load average 1 min, before .. after", f"{load_before:.2f} .. {load_after:.2f}"],
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
    for label, value in (("fit time", sr["median"]), ("median step time", ssr["median"])):
        verdict = "meets" if value <= 1.01 else "misses"
        print(f"{label} ratio {value:.4f}: {verdict} the 1.01 target")

    _common.write_json(args.out, {
        "benchmark": "overhead",
        "machine": _common.machine_info(),
        "config": vars(args) | {"steps_per_fit": steps},
        "plain_s": plain,
        "with_layerprofiler_s": profiled,
        "ratios": ratios,
        "ratio": sr,
        "ratio_of_medians": pooled,
        "plain_step_s": plain_step,
        "with_layerprofiler_step_s": profiled_step,
        "step_ratios": step_ratios,
        "step_ratio": ssr,
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
