"""Many runs: the CLI on a log directory of 50 runs and 500 profile windows.

Builds (once, cached in --logdir) a synthetic log directory through `ReportWriter`, with
windows the size of real ones: 50 layers each (10 custom blocks of 4 sublayers), per-layer
top ops, op types and hints, and a step timeline of the layers' spans. 40 runs hold one
worker's 10 windows; 10 runs are two-worker jobs (5 steps x 2 hosts, one worker slowed in
one layer). Then it measures, as a user feels it (a fresh `python -m tb_layerprof`
process each time, interpreter start-up and imports included):

- `report LOGDIR` (table: the latest window of every run),
- `report LOGDIR --format json` (every window of every run),
- `report LOGDIR --run run_049` (one run: only its event files are read),
- `diff LOGDIR --base run_000 --run run_001`,
- `workers LOGDIR` (table: latest multi-worker step of every run) and
  `workers LOGDIR --window all --format json` (every multi-worker step),

and, in-process, how much of it is reading the event files (`load_reports`). No TensorFlow
is involved. (The TensorBoard tab on the same log directory is measured by
`bench_frontend.py`.)

    python benchmarks/bench_many_runs.py --out benchmarks/results/many_runs.json
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

from tb_layerprof import cli  # noqa: E402
from tb_layerprof.report import OTHER_KEYS, Hint, LayerStats, WindowReport  # noqa: E402
from tb_layerprof.summary import ReportWriter, load_reports  # noqa: E402

RUNS = 50
WORKER_RUNS = 10  # of which two-worker jobs
WINDOWS_PER_RUN = 10
LAYERS = 50  # 10 blocks x (1 parent + 4 children)
DEFAULT_LOGDIR = os.path.join(tempfile.gettempdir(), "tb_layerprof_bench_many_runs")
OP_TYPES = ["MatMul", "BiasAdd", "Relu", "StridedSlice", "Mul", "AddN", "Sum", "Tile"]


def make_window(step: int, host: str, rng: random.Random, slow_layer: str = "",
                slow_us: float = 0.0) -> WindowReport:
    layers = []
    for b in range(LAYERS // 5):
        block = f"encoder/block_{b}"
        kids = []
        for k in range(4):
            path = f"{block}/layer_{k}"
            custom = k == 3
            f = rng.uniform(20, 400) * (6 if custom and b == 2 else 1)
            bw = f * rng.uniform(1.5, 3.0) + (slow_us if path == slow_layer else 0.0)
            hints = []
            if custom and b == 2:
                hints.append(Hint(
                    "python-loop",
                    "`call` builds 577 ops per call, mostly repeats (StridedSlice x96, Mul x96):"
                    " a Python loop is unrolled into the graph at trace time. Replace it with"
                    " one vectorized op on the whole tensor.",
                    {"ops_per_call": 577, "repeated_op_types": {"StridedSlice": 96, "Mul": 96},
                     "output_elements": 6144}))
            kids.append(LayerStats(
                path=path, class_name="LoopLayer" if custom else "Dense", custom=custom,
                parent=block, forward_us=f, backward_us=bw, self_forward_us=f,
                self_backward_us=bw, forward_alloc_bytes=int(f * 900),
                backward_alloc_bytes=int(bw * 1100), peak_live_bytes=int(f * 200),
                param_bytes=0 if custom else 148_224, calls=1,
                ops_per_call=577 if custom else 6, trace_count=1, output_elements=6144,
                output_bytes=24576, input_bytes=24576, self_ops_per_call=577 if custom else 6,
                op_types={t: rng.randint(1, 96) for t in rng.sample(OP_TYPES, 4)},
                forward_op_events=rng.uniform(2, 200), backward_op_events=rng.uniform(2, 200),
                top_ops=[{"name": f"StatefulPartitionedCall/{path}/op_{i}", "type": rng.choice(OP_TYPES),
                          "phase": rng.choice(["forward", "backward"]), "us": rng.uniform(1, 50)}
                         for i in range(5)],
                forward_host_us=f, backward_host_us=bw, hints=hints))
        sf, sb = rng.uniform(1, 20), rng.uniform(1, 30)
        parent = LayerStats(
            path=block, class_name="Block", custom=True, parent=None,
            forward_us=sf + sum(x.forward_us for x in kids),
            backward_us=sb + sum(x.backward_us for x in kids),
            self_forward_us=sf, self_backward_us=sb, calls=1, ops_per_call=40, trace_count=1,
            forward_host_us=sf, backward_host_us=sb)
        layers.append(parent)
        layers.extend(kids)
    other = {k: rng.uniform(5, 300) for k in OTHER_KEYS}
    other["collective_us"] = rng.uniform(500, 3000) if host.startswith("worker") else 0.0
    op_time = sum(x.self_forward_us + x.self_backward_us for x in layers) + sum(other.values())
    step_time = op_time * 1.1
    spans = []
    t = 0.0
    for x in layers:
        if x.parent is None:
            continue
        for phase, dur in (("forward", x.forward_us), ("backward", x.backward_us)):
            spans.append({"path": x.path, "phase": phase, "start_us": t, "end_us": t + dur})
            t += dur
    return WindowReport(
        step=step, steps=5, host=host, step_time_us=step_time, layers=layers, other=other,
        op_time_us=op_time, host_op_time_us=op_time, memory_allocators=["mklcpu"],
        profile_dir=f"plugins/profile/2026_01_01_00_00_{step % 60:02d}_steps{step}-{step + 4}",
        wall_time=1_767_225_600.0 + step,
        timeline={"step": step + 4, "step_time_us": step_time, "spans": spans})


def build_logdir(logdir: str, seed: int = 0) -> dict:
    rng = random.Random(seed)
    if os.path.exists(logdir):
        shutil.rmtree(logdir)
    os.makedirs(logdir)
    windows = 0
    started = time.perf_counter()
    for r in range(RUNS):
        run = f"run_{r:03d}"
        multi = r >= RUNS - WORKER_RUNS
        hosts = ["worker-0", "worker-1"] if multi else ["vm"]
        steps = WINDOWS_PER_RUN // len(hosts)
        for index, host in enumerate(hosts):
            writer = ReportWriter(os.path.join(logdir, run))  # one event file per process
            try:
                for s in range(steps):
                    slow = ("encoder/block_4/layer_1", 1500.0) if index == 1 else ("", 0.0)
                    writer.write(make_window(10 + 100 * s, host, rng, *slow))
                    windows += 1
            finally:
                writer.close()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs)
    return {"runs": RUNS, "windows": windows, "layers_per_window": LAYERS,
            "two_worker_runs": WORKER_RUNS, "bytes": size,
            "build_s": time.perf_counter() - started}


COMMANDS = {
    "report (table)": ["report", "{logdir}"],
    "report --format json": ["report", "{logdir}", "--format", "json"],
    "report --run run_049 (one run)": ["report", "{logdir}", "--run", "run_049"],
    "diff": ["diff", "{logdir}", "--base", "run_000", "--run", "run_001"],
    "workers (table)": ["workers", "{logdir}"],
    "workers --window all --format json": ["workers", "{logdir}", "--window", "all", "--format", "json"],
}


def time_subprocess(argv, repeats: int) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = _common.REPO + os.pathsep + env.get("PYTHONPATH", "")
    times, size = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "tb_layerprof", *argv], env=env,
                             capture_output=True, check=True)
        times.append(time.perf_counter() - started)
        size = len(out.stdout)
    return {"wall_s": _common.spread(times), "stdout_bytes": size}


def time_in_process(fn, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return _common.spread(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=DEFAULT_LOGDIR, help="where to build the log directory")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()

    built = build_logdir(args.logdir)
    print(f"built {built['runs']} runs, {built['windows']} windows of {LAYERS} layers"
          f" ({built['bytes'] / 1e6:.1f} MB of event files) in {built['build_s']:.1f} s"
          f" at {args.logdir}")

    baseline = time_subprocess(["--help"], args.repeats)
    results = {"python -m tb_layerprof --help (start-up)": baseline}
    for name, argv in COMMANDS.items():
        results[name] = time_subprocess([a.format(logdir=args.logdir) for a in argv], args.repeats)

    def cli_quiet(*argv):
        cli.main(list(argv), out=io.StringIO(), err=io.StringIO())

    in_process = {
        "load_reports": time_in_process(lambda: load_reports(args.logdir), args.repeats),
        "report (table)": time_in_process(lambda: cli_quiet("report", args.logdir), args.repeats),
        "workers (table)": time_in_process(lambda: cli_quiet("workers", args.logdir), args.repeats),
    }

    _common.print_table(
        f"CLI wall time, fresh process, median of {args.repeats} (min-max)",
        ["command", "median s", "min s", "max s", "stdout KB"],
        [[name, r["wall_s"]["median"], r["wall_s"]["min"], r["wall_s"]["max"],
          round(r["stdout_bytes"] / 1024, 1)] for name, r in results.items()])
    _common.print_table(
        "In-process (no interpreter start-up)",
        ["phase", "median s", "min s", "max s"],
        [[name, r["median"], r["min"], r["max"]] for name, r in in_process.items()])
    _common.write_json(args.out, {
        "benchmark": "many_runs",
        "machine": _common.machine_info(),
        "logdir": built,
        "repeats": args.repeats,
        "cli_subprocess": results,
        "in_process": in_process,
    })


if __name__ == "__main__":
    main()
