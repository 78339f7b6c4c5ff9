"""Write a big synthetic logdir for the frontend benchmark: one run with 2,000 layers
(nested: 200 blocks of 9 sublayers) and 200 profile windows, via ReportWriter.

    python benchmarks/make_big_logdir.py /tmp/big_logdir [--layers 2000] [--windows 200]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_layerprof.report import Hint, LayerStats, WindowReport  # noqa: E402
from tb_layerprof.summary import ReportWriter  # noqa: E402


def make_layers(n: int, rng: random.Random):
    """Base figures of `n` layers: blocks of 1 parent + 9 children."""
    base = []
    block = None
    for i in range(n):
        if i % 10 == 0:
            block = f"stage_{i // 100}/block_{i // 10}"
            base.append((block, None, "ResidualBlock", True))
        else:
            base.append((f"{block}/layer_{i % 10}", block, rng.choice(["Dense", "Conv2D", "SlowLoop"]), i % 7 == 0))
    return [(p, parent, cls, custom, rng.uniform(1, 300)) for p, parent, cls, custom in base]


def make_window(step: int, base, rng: random.Random) -> WindowReport:
    layers = []
    children_sum = {}
    for path, parent, cls, custom, t in base:
        if parent is None:
            continue
        f = t * rng.uniform(0.9, 1.1)
        b = 2.1 * f
        children_sum.setdefault(parent, [0.0, 0.0])
        children_sum[parent][0] += f
        children_sum[parent][1] += b
        hints = []
        if cls == "SlowLoop":
            hints = [Hint("python-loop", f"{path} builds 193 ops per call: a Python loop.", {"ops_per_call": 193})]
        layers.append(LayerStats(
            path=path, class_name=cls, custom=custom, parent=parent, forward_us=f, backward_us=b,
            self_forward_us=f, self_backward_us=b, forward_alloc_bytes=int(f * 1000),
            backward_alloc_bytes=int(b * 1000), peak_live_bytes=int(f * 300), param_bytes=65536,
            calls=1, ops_per_call=193 if cls == "SlowLoop" else 4, hints=hints,
        ))
    parents = []
    for path, parent, cls, custom, t in base:
        if parent is not None:
            continue
        f, b = children_sum.get(path, [0.0, 0.0])
        parents.append(LayerStats(
            path=path, class_name=cls, custom=custom, parent=None, forward_us=f + 5, backward_us=b + 8,
            self_forward_us=5.0, self_backward_us=8.0, calls=1, ops_per_call=2,
        ))
    all_layers = parents + layers
    other = {"optimizer_us": 5000.0, "loss_us": 100.0, "metrics_us": 50.0, "input_us": 300.0,
             "framework_us": 400.0, "unattributed_us": 20.0}
    op = sum(x.self_forward_us + x.self_backward_us for x in all_layers) + sum(other.values())
    return WindowReport(step=step, steps=2, host="bench", step_time_us=op * 1.05, layers=all_layers,
                        other=other, op_time_us=op, wall_time=1_700_000_000.0 + step)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logdir")
    ap.add_argument("--layers", type=int, default=2000)
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--run", default="train")
    args = ap.parse_args(argv)
    rng = random.Random(0)
    base = make_layers(args.layers, rng)
    writer = ReportWriter(os.path.join(args.logdir, args.run))
    t0 = time.time()
    for i in range(args.windows):
        writer.write(make_window(10 + 10 * i, base, rng))
    writer.close()
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(args.logdir) for f in fs)
    print(f"wrote {args.windows} windows x {args.layers} layers to {args.logdir} "
          f"({size / 1e6:.1f} MB) in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
