"""The real-model corpus (tests/corpus.py) as a table: per case and family, coverage,
framework share, hints on stock layers (target 0), planted defects found, and every
invariant a case breaks. Each case runs in its own process (clean Keras state).

    python benchmarks/corpus_report.py [--only lstm,gan] [--out results/corpus.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

from tests import corpus  # noqa: E402


def run_one(name: str, logdir: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if name in corpus.SUBPROCESS_CASES:
        env["TF_USE_LEGACY_KERAS"] = "1"
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "tests.corpus", name, logdir], cwd=_common.REPO,
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return {"name": name, "family": corpus.CASES[name], "error": proc.stderr[-3000:],
                "seconds": time.time() - t0}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["seconds"] = time.time() - t0
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated case names")
    p.add_argument("--out", default="")
    p.add_argument("--verbose", action="store_true", help="print each case's other/op time")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(corpus.CASES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lp_corpus_") as tmp:
        for name in names:
            r = run_one(name, os.path.join(tmp, name))
            if "error" in r:
                print(f"{name:26s} ERROR\n{r['error']}", flush=True)
                rows.append(r)
                continue
            fig = corpus.figures(r)
            bad = corpus.violations(r)
            r.update(figures=fig, violations=bad)
            rows.append(r)
            print(f"{name:26s} {r['family']:20s} cov {fig['coverage']:6.1%}  fw {fig['framework']:5.1%}  "
                  f"stock hints {len(fig['stock_hints'])}  planted {len(fig['planted_found'])}/"
                  f"{len(fig['planted'])}  {r['seconds']:.0f}s", flush=True)
            for h in fig["stock_hints"]:
                print(f"{'':28s}hint: {h}")
            for v in bad:
                print(f"{'':28s}! {v}")
            if args.verbose:
                w = r["window"]
                print(f"{'':28s}op {w['op_time_us']:.0f} µs  other "
                      + ", ".join(f"{k[:-3]} {v:.0f}" for k, v in w["other"].items() if v))
    if args.out:  # the figures per case, not the full windows
        slim = [{k: v for k, v in r.items() if k not in ("window", "facts")} for r in rows]
        _common.write_json(args.out, {"machine": _common.machine_info(), "cases": slim})
    failed = [r["name"] for r in rows if r.get("error") or r.get("violations")]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} cases hold every invariant"
          + (f"; failing: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
