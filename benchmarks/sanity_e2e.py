"""End-to-end sanity check to run before committing a performance change to the analysis.

Trains a tiny model whose custom layer doubles its input in a Python loop (hundreds of
ops per call) between Dense layers, with LayerProfiler(profile_batch=(3, 5)), and checks
that the loop layer comes out as the top layer of the window. Exits 1 if not.

    python benchmarks/sanity_e2e.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

_common.quiet_tensorflow()
import tb_layerprof  # noqa: E402,F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--columns", type=int, default=64)
    p.add_argument("--keep", action="store_true", help="keep the log directory")
    args = p.parse_args(argv)

    import numpy as np

    from tb_layerprof import LayerProfiler

    model = _common.loop_layer_model(columns=args.columns, width=args.columns, blocks=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32 * 8, args.columns)).astype("float32")
    y = rng.standard_normal((32 * 8, 1)).astype("float32")
    logdir = tempfile.mkdtemp(prefix="layerprof_sanity_")
    try:
        cb = LayerProfiler(logdir, profile_batch=(3, 5), verbose=1)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
        if not cb.reports:
            print("FAIL: no report was produced")
            return 1
        window = cb.reports[0]
        top = max(window.layers, key=lambda s: s.self_forward_us + s.self_backward_us)
        print(f"top layer: {top.path} ({top.class_name}), "
              f"{top.self_forward_us + top.self_backward_us:.1f} us/step of "
              f"{window.op_time_us:.1f} us op time; steps {window.step}..{window.step + window.steps - 1}")
        ok = top.class_name == "LoopDouble" and window.steps == 3
        print("OK" if ok else "FAIL: expected LoopDouble on top over a 3-step window")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"logs kept in {logdir}")
        else:
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
