"""What work counts cost: the CPU calibration, and the analysis time counting adds.

1. Calibration (`peaks.calibrate_cpu`: a float32 matmul and a 64 MiB copy, best of 3):
   wall time over several runs, and the cached lookup (`peaks.cpu_peaks` with its file).
2. Counting in the analysis: `attribution.attribute` on bench_analysis' large profile
   (Python-loop layers, ~560k events) with the graph tables the callback produced,
   "before" with tables stripped of their shapes (counting finds nothing to count and
   stops at once, as the code before counts did) and "after" with them, timed in the same
   rotation; the shape index alone too. Also the trace-time cost of recording the
   shapes (`work.op_shapes` over every op of the traced graphs).

    python benchmarks/bench_work.py --out benchmarks/results/work.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

_common.quiet_tensorflow()
import tb_layerprof  # noqa: E402,F401

DEFAULT_WORKDIR = os.path.join(tempfile.gettempdir(), "tb_layerprof_bench_work")


def time_calibration(runs: int) -> dict:
    from tb_layerprof import peaks

    walls, results = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        results.append(peaks.calibrate_cpu())
        walls.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as cache:
        os.environ[peaks.CACHE_ENV] = cache
        peaks.cpu_peaks()  # calibrates once, writes the cache
        t0 = time.perf_counter()
        for _ in range(100):
            peaks.cpu_peaks()
        cached = (time.perf_counter() - t0) / 100
        del os.environ[peaks.CACHE_ENV]
    return {
        "calibration_s": _common.spread(walls),
        "cached_lookup_ms": round(cached * 1e3, 3),
        "peak_flops_per_s": statistics.median(r.flops_per_s for r in results),
        "peak_bytes_per_s": statistics.median(r.bytes_per_s for r in results),
    }


def _strip(tables: dict) -> dict:
    return {gid: list(rows) for gid, rows in tables.items()}


def time_counting(fixture: dict, rounds: int) -> dict:
    from tb_layerprof import attribution, work_ledger, xplane

    events = xplane.read_profile(fixture["xplane"])
    layer_map, tables = fixture["layer_map"], fixture["graph_tables"]
    plain = _strip(tables)
    before, after, ledger = [], [], []
    window = None
    attribution.attribute(events, layer_map, plain, mode=fixture["mode"])  # warm-up
    for i in range(rounds):
        # Alternate which goes first: neither side always pays for the other's garbage.
        for side in ((plain, before), (tables, after))[:: 1 if i % 2 else -1]:
            t0 = time.perf_counter()
            result = attribution.attribute(events, layer_map, side[0], mode=fixture["mode"])
            side[1].append(time.perf_counter() - t0)
            if side[0] is tables:
                window = result
    # The shape index alone (built once per window from the graph tables).
    for _ in range(rounds):
        t0 = time.perf_counter()
        work_ledger.ShapeIndex(tables, max(tables))
        ledger.append(time.perf_counter() - t0)
    return {
        "events": events.event_count,
        "ops": len(events.ops),
        "attribute_before_s": _common.spread(before),
        "attribute_after_s": _common.spread(after),
        "overhead_pct": round(100 * (statistics.median(after) / statistics.median(before) - 1), 1),
        "shape_index_s": _common.spread(ledger),
        "work_coverage": window.work_coverage,
        "layers_with_counts": sum(1 for x in window.layers if x.forward_flops is not None),
    }


def time_recording(steps: int) -> dict:
    """Trace-time cost: work.op_shapes over every op of a traced loop-layer train step."""
    import numpy as np

    from tb_layerprof import LayerProfiler, work

    model = _common.loop_layer_model(columns=256, width=256, blocks=4)
    x = np.zeros((64 * steps, 256), "float32")
    y = np.zeros((64 * steps, 1), "float32")
    with tempfile.TemporaryDirectory() as logdir:
        cb = LayerProfiler(logdir, profile_batch=(2, 2), background=False, verbose=0)
        model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[cb])
        graphs = cb._instrumenter.graphs
        ops = [op for g in graphs.values() for op in g.get_operations()]
        t0 = time.perf_counter()
        for op in ops:
            work.op_shapes(op)
        took = time.perf_counter() - t0
    return {"graph_ops": len(ops), "op_shapes_s": round(took, 4),
            "us_per_op": round(took / max(1, len(ops)) * 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    calibration = time_calibration(5)
    _common.print_table("CPU calibration", ["figure", "value"], [
        ("calibration median (s)", calibration["calibration_s"]["median"]),
        ("cached lookup (ms)", calibration["cached_lookup_ms"]),
        ("peak GFLOP/s", calibration["peak_flops_per_s"] / 1e9),
        ("peak GB/s", calibration["peak_bytes_per_s"] / 1e9),
    ])
    fixture = _common.load_fixture(args.workdir) or _common.make_big_profile(args.workdir, verbose=0)
    counting = time_counting(fixture, args.rounds)
    _common.print_table("Analysis with and without counts", ["figure", "value"], [
        ("XEvents", counting["events"]),
        ("attribute before (s, median)", counting["attribute_before_s"]["median"]),
        ("attribute after (s, median)", counting["attribute_after_s"]["median"]),
        ("overhead (%)", counting["overhead_pct"]),
        ("work coverage", counting["work_coverage"]),
    ])
    recording = time_recording(4)
    _common.print_table("Recording shapes at trace time", ["figure", "value"],
                        list(recording.items()))
    _common.write_json(args.out, {"machine": _common.machine_info(), "calibration": calibration,
                                  "counting": counting, "recording": recording})


if __name__ == "__main__":
    main()
