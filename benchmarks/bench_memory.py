"""Peak memory of the analysis (read + attribute) relative to the `.xplane.pb` size.

Target: peak extra memory <= 3x the file size. Each measurement runs in a fresh Python
subprocess that first imports everything (TensorFlow's XSpace proto module included) and
loads the layer map, so the baseline holds no analysis data. Two measurements, because
neither sees everything on its own:

* tracemalloc peak: Python objects only (the event tuples, strings, dicts, the file's
  bytes). The parsed protobuf lives in upb's native arenas (malloc), which tracemalloc does
  not see.
* resident set size: everything, native included. The kernel's peak RSS (VmHWM) is reset
  just before the analysis (`echo 5 > /proc/self/clear_refs`) and read after it, so the
  figure is the analysis' own high-water mark above the baseline RSS. If that reset is not
  available, the ru_maxrss delta is reported instead (a lower bound: it only counts growth
  above the process' earlier peak). RSS figures include allocator slack and freed memory
  not yet returned to the OS.

    python benchmarks/bench_memory.py --out benchmarks/results/memory.json
    python benchmarks/bench_memory.py --xplane path/to/host.xplane.pb
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

DEFAULT_WORKDIR = os.path.join(tempfile.gettempdir(), "tb_layerprof_bench")

CHILD = r"""
import gc, json, os, pickle, resource, sys, time
sys.path.insert(0, {repo!r})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tb_layerprof
from tb_layerprof import attribution, xplane
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # imported up front: not analysis memory
mode = {mode!r}
path = {path!r}
if {layermap!r}:
    with open({layermap!r}, "rb") as f:
        fx = pickle.load(f)
    layer_map, tables, amode = fx["layer_map"], fx["graph_tables"], fx["mode"]
else:
    from tb_layerprof.layermap import LayerMap
    layer_map, tables, amode = LayerMap(), {{}}, "graph"

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None

def run():
    events = xplane.read_profile(path)
    mid = status("VmHWM")
    window = attribution.attribute(events, layer_map, tables, mode=amode)
    return events, window, mid


def pipeline(target):
    # What the callback's background analysis does: read, attribute, diagnose, add the
    # Keras Layers line to (a copy of) the capture.
    from tb_layerprof import diagnosis, tracelayer
    events = xplane.read_profile(target)
    window, spans, _ = attribution.attribute_window(events, layer_map, tables, mode=amode)
    diagnosis.diagnose(window)
    count = events.event_count
    del events
    xplane.add_line(target, tracelayer.LINE_NAME, tracelayer.layer_line_events(spans, window))
    return count

gc.collect()
out = {{}}
if mode == "tracemalloc":
    import tracemalloc
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    events = xplane.read_profile(path)
    read_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.reset_peak()
    window = attribution.attribute(events, layer_map, tables, mode=amode)
    attr_peak = tracemalloc.get_traced_memory()[1] - base
    held = tracemalloc.get_traced_memory()[0] - base
    out.update(peak_bytes=max(read_peak, attr_peak), read_peak_bytes=read_peak,
               attribute_peak_bytes=attr_peak, events_held_bytes=held,
               seconds=time.perf_counter() - t0)
elif mode == "pipeline":
    import shutil, tempfile
    tmpdir = tempfile.mkdtemp(prefix="layerprof_bench_mem_")
    target = os.path.join(tmpdir, os.path.basename(path))
    shutil.copyfile(path, target)
    gc.collect()
    rss0 = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    t0 = time.perf_counter()
    count = pipeline(target)
    out.update(peak_rss_delta_bytes=status("VmHWM") - rss0, seconds=time.perf_counter() - t0)
    shutil.rmtree(tmpdir, ignore_errors=True)
    print("RESULT " + json.dumps(out))
    sys.exit(0)
else:
    rss0 = status("VmRSS")
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    reset = False
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = status("VmHWM") is not None and status("VmHWM") <= rss0 + (1 << 20)
    except OSError:
        pass
    t0 = time.perf_counter()
    events, window, hwm_read = run()
    secs = time.perf_counter() - t0
    hwm = status("VmHWM")
    maxrss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.update(baseline_rss_bytes=rss0, hwm_reset=reset,
               peak_rss_delta_bytes=(hwm - rss0) if reset else None,
               read_peak_rss_delta_bytes=(hwm_read - rss0) if reset else None,
               ru_maxrss_delta_bytes=maxrss1 - maxrss0,
               rss_after_bytes=status("VmRSS"), seconds=secs)
out["event_count"] = events.event_count
out["ops"] = len(events.ops)
out["memory_events"] = len(events.memory)
print("RESULT " + json.dumps(out))
"""


def measure(mode: str, path: str, layermap: str) -> dict:
    code = CHILD.format(repo=_common.REPO, mode=mode, path=path, layermap=layermap or "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{mode} measurement failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--xplane", help="measure this .xplane.pb instead of the captured one")
    p.add_argument("--layermap", help="layer map pickle (default: the one captured with the profile)")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR,
                   help=f"capture cache shared with bench_analysis.py (default {DEFAULT_WORKDIR})")
    p.add_argument("--repeats", type=int, default=2, help="subprocesses per measurement")
    p.add_argument("--out", default=None, help="write JSON results here")
    args = p.parse_args(argv)

    if args.xplane:
        path, layermap = args.xplane, args.layermap
    else:
        fixture = _common.load_fixture(args.workdir)
        if fixture is None:
            print(f"no cached profile in {args.workdir}: capturing one (as bench_analysis.py does)...",
                  flush=True)
            _common.quiet_tensorflow()
            import tb_layerprof  # noqa: F401

            os.makedirs(args.workdir, exist_ok=True)
            fixture = _common.make_big_profile(args.workdir)
        path = fixture["xplane"]
        layermap = args.layermap or os.path.join(args.workdir, "layermap.pkl")
    size = os.path.getsize(path)

    rss = [measure("rss", path, layermap) for _ in range(args.repeats)]
    trm = [measure("tracemalloc", path, layermap) for _ in range(args.repeats)]
    try:
        pipe = [measure("pipeline", path, layermap) for _ in range(args.repeats)]
    except RuntimeError as e:  # the callback's pipeline API moved on: skip that row
        print(f"(callback pipeline not measured: {str(e).splitlines()[-1]})")
        pipe = []
    mb = 1e6

    def best(runs, key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        return min(vals) if vals else None

    peak_rss = best(rss, "peak_rss_delta_bytes")
    read_rss = best(rss, "read_peak_rss_delta_bytes")
    maxrss = best(rss, "ru_maxrss_delta_bytes")
    peak_py = best(trm, "peak_bytes")
    rows = [
        ["file size", size / mb, 1.0],
        ["peak RSS above baseline, read + attribute", peak_rss / mb if peak_rss else "n/a",
         peak_rss / size if peak_rss else "n/a"],
        ["  of which by the end of read_profile", read_rss / mb if read_rss else "n/a",
         read_rss / size if read_rss else "n/a"],
        ["ru_maxrss delta (lower bound)", maxrss / mb, maxrss / size],
        ["peak RSS, callback pipeline (+ diagnose, add_line)",
         best(pipe, "peak_rss_delta_bytes") / mb if pipe else "n/a",
         best(pipe, "peak_rss_delta_bytes") / size if pipe else "n/a"],
        ["tracemalloc peak (Python objects only)", peak_py / mb, peak_py / size],
        ["  tracemalloc peak in read_profile", best(trm, "read_peak_bytes") / mb,
         best(trm, "read_peak_bytes") / size],
        ["  tracemalloc peak in attribute (events held)", best(trm, "attribute_peak_bytes") / mb,
         best(trm, "attribute_peak_bytes") / size],
        ["ProfileEvents held after analysis (Python)", best(trm, "events_held_bytes") / mb,
         best(trm, "events_held_bytes") / size],
    ]
    _common.print_table(
        f"Analysis memory for {path} ({rss[0]['event_count']:,} XEvents), best of {args.repeats} "
        f"fresh processes",
        ["figure", "MB", "x file size"],
        rows,
    )
    headline = peak_rss if peak_rss else maxrss
    ratio = headline / size
    print(f"\npeak memory / file size: {ratio:.2f} ({'meets' if ratio <= 3 else 'misses'} the 3x target)")
    _common.write_json(args.out, {
        "benchmark": "memory",
        "machine": _common.machine_info(),
        "config": vars(args),
        "xplane": path,
        "xplane_bytes": size,
        "rss_runs": rss,
        "tracemalloc_runs": trm,
        "pipeline_runs": pipe,
        "peak_rss_delta_bytes": peak_rss,
        "ru_maxrss_delta_bytes": maxrss,
        "tracemalloc_peak_bytes": peak_py,
        "ratio": ratio,
        "target": 3.0,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
