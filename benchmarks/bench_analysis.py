"""Analysis throughput (XEvents/s) on a large profile, side by side with XProf.

Ours: `xplane.read_profile` (read + parse + extract) then `attribution.attribute` with the
layer map and graph tables the callback really produced for that capture. XProf: its own
conversion of the same file to the `framework_op_stats` tool (the C++ converter behind
TensorBoard's Profile tab, through `xprof.convert._pywrap_profiler_plugin
.xspace_to_tools_data`, `use_saved_result=False`, on a private copy of the file so its
cache files never land in a log directory). Target: ours faster than XProf's.

The profile comes from really training a model of Python-loop custom layers under
LayerProfiler for a 30-step window (~560k events, ~32 MB); it is cached in --workdir and
reused. Or bring your own file with --xplane (attribution then uses --layermap, a pickle
written by this script, or an empty layer map).

    python benchmarks/bench_analysis.py --out benchmarks/results/analysis.json
    python benchmarks/bench_analysis.py --xplane logs/train/plugins/profile/S/host.xplane.pb
    python benchmarks/bench_analysis.py --cprofile 25     # where does our time go?

Before/after a reader change, side by side in one run (the old reader's module is timed in
the same rotation as ours and XProf, and must return the same events):

    git show <old commit>:tb_layerprof/xplane.py > /tmp/xplane_before.py
    python benchmarks/bench_analysis.py --baseline-reader /tmp/xplane_before.py
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

_common.quiet_tensorflow()
import tb_layerprof  # noqa: E402,F401

DEFAULT_WORKDIR = os.path.join(tempfile.gettempdir(), "tb_layerprof_bench")


def get_fixture(args) -> dict:
    if args.xplane:
        fixture = {"xplane": args.xplane, "layer_map": _common.empty_layer_map(),
                   "graph_tables": {}, "mode": "graph", "model": None}
        if args.layermap:
            with open(args.layermap, "rb") as f:
                loaded = pickle.load(f)
            fixture.update({k: loaded[k] for k in ("layer_map", "graph_tables", "mode")})
        return fixture
    fixture = None if args.regenerate else _common.load_fixture(args.workdir)
    if fixture is None:
        shutil.rmtree(os.path.join(args.workdir, "logs"), ignore_errors=True)
        os.makedirs(args.workdir, exist_ok=True)
        print(f"training a model under LayerProfiler to capture a large profile in {args.workdir} ...",
              flush=True)
        fixture = _common.make_big_profile(args.workdir, columns=args.columns, blocks=args.blocks,
                                           steps=args.steps)
    return fixture


def run_xprof(path: str, tool: str = "framework_op_stats"):
    from xprof.convert import _pywrap_profiler_plugin as plugin

    with _common.silenced_stderr():
        data, ok = plugin.xspace_to_tools_data([path], tool, {"use_saved_result": False})
    if not ok:
        raise RuntimeError(f"XProf could not convert {path} to {tool}: {data[:300]!r}")
    return data


def _cold_caches() -> None:
    """Each timed analysis starts as a process's first would: the per-name and per-shape
    caches that later windows of a run reuse are emptied."""
    from tb_layerprof import owners, work

    owners.control_flow_cuts.cache_clear()
    work._WORK_CACHE.clear()


def load_reader(path: str):
    """A reader module loaded from a file (it must import only the standard library,
    TensorFlow's protos and tb_layerprof)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("baseline_reader", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def check_same_events(a, b) -> None:
    """The baseline and our reader must agree on every field of ProfileEvents."""
    for field in ("host", "ops", "steps", "memory", "spans", "event_count", "device_ops",
                  "launches", "xla_splits", "hlo_ops", "input_lines"):
        if getattr(a, field) != getattr(b, field):
            raise SystemExit(f"the baseline reader and ours disagree on ProfileEvents.{field}")
    print("baseline reader and ours return the same ProfileEvents", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--xplane", help="analyse this .xplane.pb instead of capturing one")
    p.add_argument("--layermap", help="with --xplane: a layermap.pkl written by this script")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR, help=f"capture cache (default {DEFAULT_WORKDIR})")
    p.add_argument("--regenerate", action="store_true", help="capture a new profile even if cached")
    p.add_argument("--columns", type=int, default=256, help="loop layer width (ops per layer call)")
    p.add_argument("--blocks", type=int, default=4, help="number of loop layers")
    p.add_argument("--steps", type=int, default=30, help="window length in steps")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-xprof", action="store_true", help="skip XProf's conversion")
    p.add_argument("--baseline-reader", metavar="PATH",
                   help="also time read_profile of another reader module file (e.g. an older "
                        "checkout's tb_layerprof/xplane.py, saved with git show), interleaved "
                        "with ours, and check it returns the same events")
    p.add_argument("--cprofile", type=int, metavar="N", default=0,
                   help="also run ours once under cProfile and print the top N functions")
    p.add_argument("--out", default=None, help="write JSON results here")
    args = p.parse_args(argv)

    from tb_layerprof import attribution, xplane

    fixture = get_fixture(args)
    path = fixture["xplane"]
    size = os.path.getsize(path)
    private = tempfile.mkdtemp(prefix="layerprof_bench_xprof_")
    xprof_copy = os.path.join(private, "session", os.path.basename(path))
    os.makedirs(os.path.dirname(xprof_copy))
    shutil.copyfile(path, xprof_copy)

    # Wall time is what the comparison uses; our CPU time (one thread) is kept too, as it
    # varies less on a shared machine.
    reads, attrs, xprofs, read_cpu, attr_cpu, base_reads, base_cpu = [], [], [], [], [], [], []
    baseline = load_reader(args.baseline_reader) if args.baseline_reader else None
    events = window = None
    xprof_rows = None
    try:
        # Warm-up, untimed: imports (TensorFlow's proto module), XProf's library, caches.
        from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: F401

        attribution.attribute(xplane.read_profile(path), fixture["layer_map"], fixture["graph_tables"],
                              mode=fixture["mode"])
        if not args.no_xprof:
            run_xprof(xprof_copy)
        if baseline is not None:
            check_same_events(baseline.read_profile(path), xplane.read_profile(path))
        variants = ["ours", "xprof"] + (["baseline"] if baseline is not None else [])
        for r in range(args.repeats):
            order = variants[r % len(variants):] + variants[:r % len(variants)]  # rotate
            for which in order:
                if which == "baseline":
                    events = window = None
                    c0, t0 = time.process_time(), time.perf_counter()
                    baseline.read_profile(path)
                    base_reads.append(time.perf_counter() - t0)
                    base_cpu.append(time.process_time() - c0)
                    continue
                if which == "ours":
                    events = window = None
                    _cold_caches()
                    c0, t0 = time.process_time(), time.perf_counter()
                    events = xplane.read_profile(path)
                    c1, t1 = time.process_time(), time.perf_counter()
                    window = attribution.attribute(events, fixture["layer_map"], fixture["graph_tables"],
                                                   mode=fixture["mode"])
                    c2, t2 = time.process_time(), time.perf_counter()
                    reads.append(t1 - t0)
                    attrs.append(t2 - t1)
                    read_cpu.append(c1 - c0)
                    attr_cpu.append(c2 - c1)
                elif not args.no_xprof:
                    for name in os.listdir(os.path.dirname(xprof_copy)):  # XProf's caches
                        if name != os.path.basename(xprof_copy):
                            stale = os.path.join(os.path.dirname(xprof_copy), name)
                            shutil.rmtree(stale) if os.path.isdir(stale) else os.remove(stale)
                    t0 = time.perf_counter()
                    data = run_xprof(xprof_copy)
                    xprofs.append(time.perf_counter() - t0)
                    try:
                        xprof_rows = len(json.loads(data)[0]["rows"])
                    except Exception:
                        xprof_rows = None
            print(f"  repeat {r + 1}/{args.repeats}: read+extract {reads[-1]:.3f}s "
                  f"(CPU {read_cpu[-1]:.3f}s)  attribute {attrs[-1]:.3f}s (CPU {attr_cpu[-1]:.3f}s)"
                  + (f"  XProf {xprofs[-1]:.3f}s" if xprofs else "")
                  + (f"  baseline read {base_reads[-1]:.3f}s (CPU {base_cpu[-1]:.3f}s)" if base_reads else ""),
                  flush=True)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if events is None:  # the last repeat ended on the baseline: ours again, untimed
        events = xplane.read_profile(path)
        window = attribution.attribute(events, fixture["layer_map"], fixture["graph_tables"],
                                       mode=fixture["mode"])

    n = events.event_count
    sr, sa = _common.spread(reads), _common.spread(attrs)
    ours = [a + b for a, b in zip(reads, attrs)]
    so = _common.spread(ours)
    rows = [
        ["ours: read + extract (xplane.read_profile)", sr["median"], n / sr["median"]],
        ["ours: attribute", sa["median"], n / sa["median"]],
        ["ours: total", so["median"], n / so["median"]],
    ]
    sb = _common.spread(base_reads) if base_reads else None
    if sb:
        rows.insert(1, ["baseline: read + extract (--baseline-reader)", sb["median"], n / sb["median"]])
    sx = _common.spread(xprofs) if xprofs else None
    if sx:
        rows.append(["XProf: xspace -> framework_op_stats", sx["median"], n / sx["median"]])
    _common.print_table(
        f"Analysis of {path} ({size / 1e6:.1f} MB, {n:,} XEvents; {len(events.ops):,} op events, "
        f"{len(events.memory):,} memory events, {len(events.steps)} steps), medians of {args.repeats}",
        ["stage", "seconds", "XEvents/s"],
        rows,
    )
    if sx:
        speedup = sx["median"] / so["median"]
        print(f"\nours / XProf time: {so['median'] / sx['median']:.3f} (ours {speedup:.2f}x "
              f"{'faster' if speedup > 1 else 'slower'}; target: faster)")
    top = window.layers[0] if window and window.layers else None
    if top is not None:
        print(f"top layer: {top.path} ({top.class_name}) {top.forward_us + top.backward_us:.0f} us/step; "
              f"{len(window.layers)} layers; XProf rows: {xprof_rows}")

    hot = None
    if args.cprofile:
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        ev = xplane.read_profile(path)
        attribution.attribute(ev, fixture["layer_map"], fixture["graph_tables"], mode=fixture["mode"])
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.cprofile)
        hot = buf.getvalue()
        print(hot)

    _common.write_json(args.out, {
        "benchmark": "analysis",
        "machine": _common.machine_info(),
        "config": {k: v for k, v in vars(args).items()},
        "xplane": path,
        "xplane_bytes": size,
        "event_count": n,
        "op_events": len(events.ops),
        "memory_events": len(events.memory),
        "steps": len(events.steps),
        "model": fixture.get("model"),
        "read_extract_s": sr,
        "attribute_s": sa,
        "read_extract_cpu_s": _common.spread(read_cpu),
        "attribute_cpu_s": _common.spread(attr_cpu),
        "ours_total_s": so,
        "xprof_framework_op_stats_s": sx,
        "baseline_reader": args.baseline_reader,
        "baseline_read_extract_s": sb,
        "baseline_read_extract_cpu_s": _common.spread(base_cpu) if base_cpu else None,
        "ours_events_per_s": n / so["median"],
        "xprof_events_per_s": n / sx["median"] if sx else None,
        "ours_over_xprof_time": so["median"] / sx["median"] if sx else None,
        "xprof_rows": xprof_rows,
        "layers": len(window.layers) if window else None,
        "cprofile": hot,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
