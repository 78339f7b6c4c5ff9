"""Write a big synthetic logdir for the frontend benchmark: one run with 2,000 layers
(nested: 200 blocks of 9 sublayers) and 200 profile windows, via ReportWriter.

The windows carry what the callback writes today, so that the tab's newer code paths are
exercised at scale: per-layer work (forward/backward and own FLOPs and bytes, achieved
FLOP/s, `work_counts`), the window's peaks and work coverage (the rate columns and the
roofline), top ops and op types (the op drill-down), host/device times, allocation splits,
and a timeline of every layer's forward and gradient span with `busy` intervals (and
`self_busy` for the blocks, whose own ops run around their sublayers'). `--legacy` writes
the older, leaner windows (times, memory and hints only; no work, no timeline).

    python benchmarks/make_big_logdir.py /tmp/big_logdir [--layers 2000] [--windows 200] [--legacy]
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

PEAK_FLOPS, PEAK_BYTES = 1.8e11, 1.4e10
OP_TYPES = {"Dense": ["MatMul", "BiasAdd", "Relu"], "Conv2D": ["Conv2D", "BiasAdd", "Relu"],
            "SlowLoop": ["StridedSlice", "Mul", "AddN"], "ResidualBlock": ["AddV2", "Identity"]}
# FLOPs per byte moved by class (a matmul or convolution does work; a loop of slices does not).
INTENSITY = {"Dense": 6.0, "Conv2D": 20.0, "SlowLoop": 0.05, "ResidualBlock": 0.08}


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


def add_work(layer: LayerStats, rng: random.Random) -> None:
    """The layer's own work (FLOPs and bytes per step) from its class and times."""
    per_byte = INTENSITY[layer.class_name] * rng.uniform(0.7, 1.3)
    for phase in ("forward", "backward"):
        us = getattr(layer, f"self_{phase}_us")
        nbytes = us * 1e-6 * PEAK_BYTES * rng.uniform(0.05, 0.6)
        setattr(layer, f"self_{phase}_bytes", round(nbytes, 1))
        setattr(layer, f"self_{phase}_flops", round(nbytes * per_byte, 1))
    layer.work_counts = "estimated" if layer.class_name in ("SlowLoop", "ResidualBlock") else "exact"


def add_details(layer: LayerStats, rng: random.Random) -> None:
    """Top ops, op types, op events, host times and allocation splits, as the analysis writes."""
    types = OP_TYPES[layer.class_name]
    ops = []
    for phase in ("forward", "backward"):
        left = getattr(layer, f"self_{phase}_us")
        for k in range(3 if phase == "forward" else 2):
            share = left * rng.uniform(0.3, 0.6)
            left -= share
            prefix = "gradient_tape/" if phase == "backward" else ""
            ops.append({"name": f"{prefix}{layer.path}/{types[k % len(types)]}_{k}", "type": types[k % len(types)],
                        "phase": phase, "us": round(share, 3)})
    layer.top_ops = sorted(ops, key=lambda o: -o["us"])[:5]
    layer.op_types = {t: (64 if layer.class_name == "SlowLoop" else 1) for t in types}
    layer.self_ops_per_call = layer.ops_per_call
    layer.trace_count = 1
    layer.output_elements = 4096
    layer.output_bytes = layer.input_bytes = 16384
    layer.forward_op_events = float(layer.ops_per_call)
    layer.backward_op_events = float(layer.ops_per_call + 1)
    layer.forward_host_us, layer.backward_host_us = layer.forward_us, layer.backward_us
    layer.self_forward_alloc_bytes = layer.forward_alloc_bytes
    layer.self_backward_alloc_bytes = layer.backward_alloc_bytes
    layer.self_kept_alloc_bytes = layer.forward_alloc_bytes // 4


def totals(parent: LayerStats, children) -> None:
    """A block's work and allocations: its own plus its sublayers' (as the analysis sums them)."""
    for f in ("flops", "bytes"):
        for phase in ("forward", "backward"):
            own = getattr(parent, f"self_{phase}_{f}") or 0.0
            setattr(parent, f"{phase}_{f}", round(own + sum(getattr(c, f"{phase}_{f}") for c in children), 1))
    for layer in [parent, *children]:
        for phase in ("forward", "backward"):
            us = getattr(layer, f"{phase}_us")
            setattr(layer, f"{phase}_flops_per_s", getattr(layer, f"{phase}_flops") / us * 1e6 if us > 0 else None)


def timeline(layers, step: int, rng: random.Random) -> dict:
    """The last profiled step: blocks one after the other (forward, then gradient in reverse),
    each block's own ops before and after its sublayers', each layer's ops in a few bursts."""
    by_parent = {}
    for x in layers:
        by_parent.setdefault(x.parent, []).append(x)
    spans, t = [], 0.0

    def bursts(start: float, us: float):
        n = rng.randint(1, 4)
        out, at = [], start
        for _ in range(n):
            out.append([round(at, 3), round(at + us / n, 3)])
            at += us / n + rng.uniform(0.5, 3.0)  # another layer's op in between
        return out, at

    for phase in ("forward", "backward"):
        blocks = by_parent[None] if phase == "forward" else list(reversed(by_parent[None]))
        for block in blocks:
            own_us = getattr(block, f"self_{phase}_us")
            start = t
            head, t = bursts(t, own_us / 2)
            busy, kids = list(head), []
            children = by_parent.get(block.path, [])
            for c in children if phase == "forward" else list(reversed(children)):
                b, end = bursts(t, getattr(c, f"self_{phase}_us"))
                kids.append({"path": c.path, "phase": phase, "start_us": b[0][0], "end_us": b[-1][1],
                             "busy": b, "busy_us": round(sum(e - s for s, e in b), 3)})
                busy.extend(b)
                t = end
            tail, t = bursts(t, own_us / 2)
            own = head + tail
            busy.extend(tail)
            spans.append({"path": block.path, "phase": phase, "start_us": round(start, 3), "end_us": busy[-1][1],
                          "busy": busy, "busy_us": round(sum(e - s for s, e in busy), 3),
                          "self_busy": own, "self_busy_us": round(sum(e - s for s, e in own), 3)})
            spans.extend(kids)
            t += rng.uniform(1, 5)
    return {"step": step + 1, "step_time_us": round(t * 1.02, 3), "spans": spans}


def make_window(step: int, base, rng: random.Random, legacy: bool = False) -> WindowReport:
    layers = []
    children = {}
    for path, parent, cls, custom, t in base:
        if parent is None:
            continue
        f = t * rng.uniform(0.9, 1.1)
        b = 2.1 * f
        hints = []
        if cls == "SlowLoop":
            hints = [Hint("python-loop", f"{path} builds 193 ops per call: a Python loop.", {"ops_per_call": 193})]
        layer = LayerStats(
            path=path, class_name=cls, custom=custom, parent=parent, forward_us=f, backward_us=b,
            self_forward_us=f, self_backward_us=b, forward_alloc_bytes=int(f * 1000),
            backward_alloc_bytes=int(b * 1000), peak_live_bytes=int(f * 300), param_bytes=65536,
            calls=1, ops_per_call=193 if cls == "SlowLoop" else 4, hints=hints,
        )
        if not legacy:
            add_work(layer, rng)
            for phase in ("forward", "backward"):
                for f_ in ("flops", "bytes"):
                    setattr(layer, f"{phase}_{f_}", getattr(layer, f"self_{phase}_{f_}"))
            add_details(layer, rng)
        layers.append(layer)
        children.setdefault(parent, []).append(layer)
    parents = []
    for path, parent, cls, custom, t in base:
        if parent is not None:
            continue
        kids = children.get(path, [])
        f, b = sum(c.forward_us for c in kids), sum(c.backward_us for c in kids)
        layer = LayerStats(
            path=path, class_name=cls, custom=custom, parent=None, forward_us=f + 5, backward_us=b + 8,
            self_forward_us=5.0, self_backward_us=8.0, calls=1, ops_per_call=2,
        )
        if not legacy:
            add_work(layer, rng)
            add_details(layer, rng)
            totals(layer, kids)
        parents.append(layer)
    all_layers = parents + layers
    other = {"optimizer_us": 5000.0, "loss_us": 100.0, "metrics_us": 50.0, "input_us": 300.0,
             "framework_us": 400.0, "unattributed_us": 20.0}
    op = sum(x.self_forward_us + x.self_backward_us for x in all_layers) + sum(other.values())
    w = WindowReport(step=step, steps=2, host="bench", step_time_us=op * 1.05, layers=all_layers,
                     other=other, op_time_us=op, wall_time=1_700_000_000.0 + step)
    if not legacy:
        w.host_op_time_us = op
        w.profile_dir = f"plugins/profile/2026_01_01_00_00_00_steps{step}-{step + 1}"
        w.peak_flops_per_s, w.peak_bytes_per_s, w.peak_source = PEAK_FLOPS, PEAK_BYTES, "calibrated-cpu"
        w.work_coverage, w.flops_coverage = 0.94, 0.91
        w.coverage = 1 - other["unattributed_us"] / op
        w.unowned_ops = [{"name": f"Identity_{k}", "type": "Identity", "category": "framework_us", "us": 40.0 - k}
                         for k in range(10)]
        w.timeline = timeline(all_layers, step, rng)
    return w


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logdir")
    ap.add_argument("--layers", type=int, default=2000)
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--run", default="train")
    ap.add_argument("--legacy", action="store_true", help="the older windows: no work, no timeline, no details")
    args = ap.parse_args(argv)
    rng = random.Random(0)
    base = make_layers(args.layers, rng)
    writer = ReportWriter(os.path.join(args.logdir, args.run))
    t0 = time.time()
    for i in range(args.windows):
        writer.write(make_window(10 + 10 * i, base, rng, args.legacy))
    writer.close()
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(args.logdir) for f in fs)
    print(f"wrote {args.windows} windows x {args.layers} layers to {args.logdir} "
          f"({size / 1e6:.1f} MB) in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
