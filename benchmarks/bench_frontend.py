"""Frontend and route benchmark on a big logdir (a measurement, not a test: no asserts).

Starts a real `tensorboard` on LOGDIR (see make_big_logdir.py: 2,000 layers x 200 windows),
then measures:
  * each route's response time (cold = first request, warm = median of the next ones) and
    its size on the wire (gzip, as TensorBoard sends it) and uncompressed;
  * in headless Chromium: time from opening the Layer Profile tab to the layers table being
    shown (`iframe_rows`) and interactive (rows rendered, and a click on a column header
    re-sorted them): opening the
    tab's iframe URL directly (`iframe`), and TensorBoard's page on the tab (`tab`, which
    includes TensorBoard's own app starting; `tab_plugin` is the part from the moment
    TensorBoard creates the tab's iframe);
  * with --compare-base RUN: the compare mode (`compare`: iframe opened on
    `#view=compare&base=RUN&run=<run>` until the compared layers are listed) and `/diff`.

    python benchmarks/make_big_logdir.py /tmp/big_logdir
    python benchmarks/bench_frontend.py /tmp/big_logdir [--repeat 5] [--full-report] [--json out.json]
    # many runs (issue 5: 50 runs, 500 windows):
    python benchmarks/bench_frontend.py /tmp/many --run run_49 --compare-base run_00
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from urllib.parse import quote  # noqa: E402

from tests.plugin_helpers import CHROMIUM, CHROMIUM_ARGS, tensorboard  # noqa: E402

BASE = "/data/plugin/layerprof"


def fetch(url: str):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as resp:
        body = resp.read()
        encoding = resp.headers.get("Content-Encoding")
    dt = time.perf_counter() - t0
    raw = gzip.decompress(body) if encoding == "gzip" else body
    return dt, len(body), len(raw), encoding


def bench_route(tb, path: str, repeat: int):
    cold, wire, raw, enc = fetch(tb.url + BASE + path)
    warm = [fetch(tb.url + BASE + path)[0] for _ in range(repeat)]
    return {
        "route": path,
        "cold_ms": cold * 1000,
        "warm_ms": statistics.median(warm) * 1000 if warm else None,
        "wire_bytes": wire,
        "raw_bytes": raw,
        "encoding": enc or "identity",
    }


def bench_browser(tb, repeat: int, run: str, compare_base=None):
    from playwright.sync_api import sync_playwright

    out = {"iframe_rows_ms": [], "iframe_ms": [], "tab_ms": [], "tab_plugin_ms": []}
    kinds = ["iframe", "tab"]
    if compare_base is not None:
        out["compare_ms"] = []
        kinds.append("compare")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(repeat):
                for kind in kinds:
                    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    if kind == "compare":
                        page.goto(tb.url + "/data/plugin_entry.html?name=layerprof#view=compare&base="
                                  + quote(compare_base, safe="") + "&run=" + quote(run, safe=""))
                        page.wait_for_selector("[data-testid=compare-table] [role=row][data-path]", timeout=60000)
                        out["compare_ms"].append((time.perf_counter() - t0) * 1000)
                        ctx.close()
                        continue
                    if kind == "iframe":
                        page.goto(tb.url + "/data/plugin_entry.html?name=layerprof#run=" + quote(run, safe=""))
                        frame = page.main_frame
                    else:
                        page.goto(tb.url + "/#layerprof")
                        frame = page.wait_for_selector("iframe", timeout=60000).content_frame()
                    frame.wait_for_selector("[data-testid=layer-table] [role=row][data-path]", timeout=60000)
                    if kind == "iframe":  # the table is on screen (before it is clicked)
                        out["iframe_rows_ms"].append((time.perf_counter() - t0) * 1000)
                    first = frame.eval_on_selector("[role=row][data-path]", "r => r.dataset.path")
                    # Interactive: a click on "Layer" re-sorts the 2,000 rows.
                    frame.click("[role=columnheader][data-key=path]")
                    frame.wait_for_function(
                        "f => document.querySelector('[role=row][data-path]').dataset.path !== f", arg=first, timeout=60000
                    )
                    out[f"{kind}_ms"].append((time.perf_counter() - t0) * 1000)
                    if kind == "tab":
                        # The iframe's own clock starts when TensorBoard navigates it.
                        out["tab_plugin_ms"].append(frame.evaluate("performance.now()"))
                    ctx.close()
        finally:
            browser.close()
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)} for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logdir")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--full-report", action="store_true", help="also time the full-run /report (hundreds of MB)")
    ap.add_argument("--load-fast-false", action="store_true", help="run TensorBoard with --load_fast=false")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--run", default=None, help="the run the tab opens (default: the first)")
    ap.add_argument("--compare-base", default=None, metavar="RUN",
                    help="also time the compare mode and /diff against this base run")
    args = ap.parse_args(argv)

    extra = ["--load_fast=false"] if args.load_fast_false else []
    results = {"logdir": args.logdir, "tensorboard_args": extra, "routes": []}
    with tensorboard(args.logdir, extra) as tb:
        t0 = time.perf_counter()
        runs = tb.wait_for(f"{BASE}/runs", lambda j: j["runs"] and j["runs"][0]["windows"] >= 1, timeout=900)
        # Wait until TensorBoard has loaded every window (it loads asynchronously).
        n = None
        while True:
            _, runs = tb.get_json(f"{BASE}/runs")
            total = (len(runs["runs"]), sum(r["windows"] for r in runs["runs"]))
            if total == n:
                break
            n = total
            time.sleep(5)
        results["tensorboard_load_s"] = time.perf_counter() - t0
        name = args.run or runs["runs"][0]["run"]
        run = next(r for r in runs["runs"] if r["run"] == name)
        q = quote(name, safe="")
        print(f"{n[0]} runs, {n[1]} windows, loaded in {results['tensorboard_load_s']:.1f}s; "
              f"run {name!r}: {run['windows']} windows")
        # First use after TensorBoard started: the plugin reads every window of the run once
        # (its per-run cache of summaries); timed apart, before anything else asks.
        first = {}
        for path in (f"/window?run={q}", f"/windows?run={q}"):
            dt, wire, raw, _ = fetch(tb.url + BASE + path)
            first[path] = {"ms": dt * 1000, "wire_bytes": wire, "raw_bytes": raw}
            print(f"first use {path}: {dt * 1000:.0f} ms")
        results["first_use"] = first
        _, window = tb.get_json(f"{BASE}/window?run={q}")
        layers = [l["path"] for l in window["window"]["layers"]]
        print(f"layers per window: {len(layers)}")
        results["browser"] = bench_browser(tb, args.repeat, name, args.compare_base)
        trend_q = "&".join(f"layer={quote(l, safe='')}" for l in layers[:5])
        paths = ["/runs", f"/window?run={q}", f"/window?run={q}&step={run['first_step']}", f"/windows?run={q}", f"/trend?run={q}&{trend_q}"]
        if args.compare_base is not None:
            paths.append(f"/diff?base={quote(args.compare_base, safe='')}&run={q}")
        if args.full_report:
            paths.append(f"/report?run={q}")
        for path in paths:
            r = bench_route(tb, path, 0 if path.startswith("/report") else args.repeat)
            results["routes"].append(r)
    print(f"\n{'route':58} {'cold ms':>9} {'warm ms':>9} {'wire KiB':>10} {'raw KiB':>10}")
    for r in results["routes"]:
        warm = f"{r['warm_ms']:.1f}" if r["warm_ms"] is not None else "-"
        print(f"{r['route'][:58]:58} {r['cold_ms']:9.1f} {warm:>9} {r['wire_bytes'] / 1024:10.1f} {r['raw_bytes'] / 1024:10.1f}  {r['encoding']}")
    for k, v in results["browser"].items():
        print(f"browser {k}: open -> table interactive: median {v['median']:.0f} ms (min {v['min']:.0f}, max {v['max']:.0f}, n={v['n']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
