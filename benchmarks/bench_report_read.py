"""Reading one stored window back (`report.window_from_bytes`) at the big logdir's size
(2,000 layers with work, top ops and a busy-interval timeline: make_big_logdir's window),
against the floor of parsing its JSON; with and without the step timeline (the plugin's
per-run cache, behind /windows and /trend, needs no timeline).

    python benchmarks/bench_report_read.py [--layers 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import make_big_logdir  # noqa: E402
from tb_layerprof.report import window_from_bytes, window_to_bytes  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    rng = random.Random(0)
    data = window_to_bytes(make_big_logdir.make_window(10, make_big_logdir.make_layers(args.layers, rng), rng))
    rows = [("json.loads (the floor)", best(lambda: json.loads(data.decode("utf-8")), args.repeats)),
            ("window_from_bytes", best(lambda: window_from_bytes(data), args.repeats)),
            ("window_from_bytes(timeline=False)", best(lambda: window_from_bytes(data, timeline=False), args.repeats))]
    print(f"one window: {args.layers} layers, {len(data) / 1e6:.1f} MB of JSON; best of {args.repeats}")
    for name, seconds in rows:
        print(f"  {name:<36} {seconds * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
