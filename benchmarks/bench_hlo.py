"""What reading a capture's HLO protos costs: XLA work counts (`xla_work.program_work`) and
the HLO reader (`xplane.hlo.parse_module`) on a real XLA capture.

The capture: a Keras MobileNetV2 (32×32 inputs, weights=None) trained with
`jit_compile=True` under LayerProfiler on this CPU, made once into the work directory
(about 4 MB, one program of ~17k HLO instructions), or any `.xplane.pb` given with
`--capture`. Timed, best and median of `--rounds`, each in this process after a warm-up:

- `program_work`: the whole path of the XLA work counts, file to counts per TF op;
- `parse_module`: the wire-level reader on each program's serialized HloProto;
- `read_profile`: the analysis' read of the capture, which indexes the programs' TF ops;
- for reference, where TensorFlow is installed, protobuf's own (upb, C) parse of the same
  bytes, which the counts used before they read through `xplane.hlo`.

Only what the checked-out code has is timed, so the same command measures an older commit
(`git archive <commit> | tar -x -C DIR; PYTHONPATH=DIR python benchmarks/bench_hlo.py`).

    python benchmarks/bench_hlo.py --out benchmarks/results/hlo.json
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

_common.quiet_tensorflow()
import tb_layerprof  # noqa: E402,F401

DEFAULT_WORKDIR = os.path.join(tempfile.gettempdir(), "tb_layerprof_bench_hlo")


def make_capture(workdir: str) -> str:
    """The MobileNetV2 XLA capture (trained once; reused while the file exists)."""
    path = os.path.join(workdir, "mobilenet_xla.xplane.pb")
    if os.path.exists(path):
        return path
    import keras
    import numpy as np

    from tb_layerprof import LayerProfiler

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    batch = 8
    x = np.random.default_rng(0).standard_normal((batch * 6, 32, 32, 3)).astype("float32")
    logs = os.path.join(workdir, "logs")
    cb = LayerProfiler(log_dir=logs, profile_batch=(3, 4), verbose=0, background=False)
    model.fit(x, np.zeros((batch * 6,), "int32"), batch_size=batch, epochs=1, verbose=0, callbacks=[cb])
    found = glob.glob(os.path.join(logs, "**", "*.xplane.pb"), recursive=True)
    os.makedirs(workdir, exist_ok=True)
    shutil.copy(found[0], path)
    return path


def blobs(path: str) -> List[bytes]:
    """The serialized HloProtos of the capture (the wire walk every version has)."""
    from tb_layerprof.xplane import hlo, wire

    with open(path, "rb") as f:
        mapped = wire.Mapped(f)
        try:
            out = []
            for span in wire.space_layout(mapped.buf, mapped.size)[0]:
                name, header, _ = wire.plane_layout(mapped.buf, span)
                if name == wire.METADATA_PLANE:
                    out += [p.blob for p in hlo.programs(mapped.buf, header)]
            return out
        finally:
            mapped.close()


def timed(fn: Callable[[], object], rounds: int) -> Dict[str, Dict[str, float]]:
    """Wall and CPU seconds of `fn` (CPU time too: on a shared machine the wall clock
    also counts the other processes' turns)."""
    fn()  # warm-up: imports, page cache
    walls, cpus = [], []
    for _ in range(rounds):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall": _common.spread(walls), "cpu": _common.spread(cpus)}


def measure(path: str, rounds: int) -> Dict[str, object]:
    from tb_layerprof import xla_work, xplane
    from tb_layerprof.xplane import hlo

    found = blobs(path)
    modules = [hlo.parse_module(b) for b in found]
    result: Dict[str, object] = {
        "capture": path,
        "capture_bytes": os.path.getsize(path),
        "hlo_bytes": sum(len(b) for b in found),
        "instructions": sum(len(c) for m in modules for c in m.computations.values()),
        "tf_ops_counted": sum(len(book) for book in xla_work.program_work(path).values()),
        "program_work_s": timed(lambda: xla_work.program_work(path), rounds),
        "parse_module_s": timed(lambda: [hlo.parse_module(b) for b in found], rounds),
        "read_profile_s": timed(lambda: xplane.read_profile(path), rounds),
        "reads_shapes": hasattr(hlo, "Shape"),  # the reader decodes shapes and attributes
    }
    try:
        from tensorflow.compiler.xla.service import hlo_pb2
    except ImportError:
        return result
    result["upb_parse_s"] = timed(lambda: [hlo_pb2.HloProto.FromString(b) for b in found], rounds)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capture", default=None, help="an XLA .xplane.pb (default: made once)")
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    path = args.capture or make_capture(args.workdir)
    r = measure(path, args.rounds)
    rows = [("capture (MB)", r["capture_bytes"] / 1e6), ("HloProto (MB)", r["hlo_bytes"] / 1e6),
            ("HLO instructions", r["instructions"]), ("TF ops counted", r["tf_ops_counted"]),
            ("reader decodes shapes", r["reads_shapes"])]
    for key, label in (("program_work_s", "program_work"), ("parse_module_s", "parse_module"),
                       ("read_profile_s", "read_profile"), ("upb_parse_s", "protobuf upb parse")):
        if key in r:
            rows += [(f"{label} (s, {clock} median / best)",
                      f"{r[key][clock]['median']:.4f} / {r[key][clock]['min']:.4f}")
                     for clock in ("cpu", "wall")]
    _common.print_table("HLO reading", ["figure", "value"], rows)
    _common.write_json(args.out, {"machine": _common.machine_info(), "hlo": r})


if __name__ == "__main__":
    main()
