"""Compare two profile windows layer by layer: what got faster, slower, added or removed.

Pure Python over `report.WindowReport` (no TensorFlow), so the CLI (`tb-layerprof diff`)
and the TensorBoard plugin can both use it. `diff_windows` returns the JSON document
printed by `tb-layerprof diff --format json`:

    {"schema": 1, "base": "loop", "run": "vectorized",
     "base_window": {"step": 74, "steps": 5, "host": "vm", "mode": "graph"},
     "run_window": {...},
     "step_time": {"base_us": 14420.0, "run_us": 2510.0, "delta_us": -11910.0, "ratio": 0.174},
     "op_time": {...same keys...},
     "other": {"optimizer_us": {...same keys...}, ..., "unattributed_us": {...}},
     "layers": [{"path": "doubler", "status": "both",
                 "base_us": 11910.0, "run_us": 32.0, "delta_us": -11878.0, "ratio": 0.0027,
                 "base_forward_us": ..., "run_forward_us": ..., "delta_forward_us": ...,
                 "base_backward_us": ..., "run_backward_us": ..., "delta_backward_us": ...,
                 "base_alloc_bytes": ..., "run_alloc_bytes": ..., "delta_alloc_bytes": ...,
                 "base_peak_live_bytes": ..., "run_peak_live_bytes": ...,
                 "delta_peak_live_bytes": ...,
                 "class_name": "FastDouble", "base_class_name": "SlowDouble", ...,
                 "base_flops": 266240.0, "run_flops": 8192.0, "delta_flops": -258048.0,
                 "base_bytes_moved": ..., "run_bytes_moved": ..., "delta_bytes_moved": ...}],
     "counts": {"both": 8, "added": 0, "removed": 0}}

Conventions:
- Times are microseconds per step, as in the reports; `*_us` of a layer is forward +
  gradient (`forward_us + backward_us`, sublayers included), the figures shown in the
  report's "total" column.
- Layers are matched by path. A layer only in the run is "added" (its base figures are
  0), only in the base "removed" (its run figures are 0).
- `delta = run - base`; `ratio = run / base`, `None` (JSON null) when the base is 0.
- Memory is bytes per step: `alloc` = forward + gradient allocations. When either window
  has no memory events, the memory fields are `None`.
- Work (`*_flops`, `*_bytes_moved`) is per step, forward + gradient, sublayers included;
  `None` on a side whose layer has no count (then `delta_*` is `None` too).
- Layers are sorted by |delta_us|, largest first; ties by path.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from tb_layerprof import figures
from tb_layerprof.figures import finite, window_op_time
from tb_layerprof.report import OTHER_KEYS, SCHEMA, LayerStats, WindowReport

STATUS_BOTH = "both"
STATUS_ADDED = "added"
STATUS_REMOVED = "removed"


def ratio(base: float, run: float) -> Optional[float]:
    """run / base, or None when there is no base to compare with."""
    return run / base if base > 0 else None


def compare(base: float, run: float, unit: str = "us") -> Dict[str, Any]:
    """{"base_<unit>", "run_<unit>", "delta_<unit>", "ratio"} for one figure."""
    base, run = finite(base), finite(run)
    return {
        f"base_{unit}": base,
        f"run_{unit}": run,
        f"delta_{unit}": run - base,
        "ratio": ratio(base, run),
    }


def _window_info(window: WindowReport) -> Dict[str, Any]:
    return {
        "step": window.step,
        "steps": window.steps,
        "host": window.host,
        "mode": window.mode,
        "memory_available": bool(window.memory_available),
    }


def _alloc(layer: Optional[LayerStats]) -> float:
    if layer is None:
        return 0.0
    return finite(layer.forward_alloc_bytes) + finite(layer.backward_alloc_bytes)


def diff_layer(
    path: str,
    base: Optional[LayerStats],
    run: Optional[LayerStats],
    memory: bool = True,
) -> Dict[str, Any]:
    """One layer's row; `base` or `run` is None for an added or removed layer."""
    status = STATUS_BOTH if base is not None and run is not None else (
        STATUS_ADDED if base is None else STATUS_REMOVED
    )
    newest = run if run is not None else base
    assert newest is not None, "a layer must exist on at least one side"

    def fwd(x):
        return finite(x.forward_us) if x is not None else 0.0

    def bwd(x):
        return finite(x.backward_us) if x is not None else 0.0

    def self_total(x):
        return figures.layer_self_total(x) if x is not None else 0.0

    row: Dict[str, Any] = {"path": path, "status": status}
    row.update(compare(fwd(base) + bwd(base), fwd(run) + bwd(run)))
    for name, get in (("forward", fwd), ("backward", bwd)):
        b, r = get(base), get(run)
        row[f"base_{name}_us"] = b
        row[f"run_{name}_us"] = r
        row[f"delta_{name}_us"] = r - b
    b, r = self_total(base), self_total(run)
    row["base_self_us"], row["run_self_us"], row["delta_self_us"] = b, r, r - b
    for name, get in (
        ("alloc_bytes", _alloc),
        ("peak_live_bytes", lambda x: finite(x.peak_live_bytes) if x is not None else 0.0),
        ("param_bytes", lambda x: finite(x.param_bytes) if x is not None else 0.0),
    ):
        if memory or name == "param_bytes":
            b, r = int(get(base)), int(get(run))
            row[f"base_{name}"], row[f"run_{name}"], row[f"delta_{name}"] = b, r, r - b
        else:
            row[f"base_{name}"] = row[f"run_{name}"] = row[f"delta_{name}"] = None
    row["class_name"] = newest.class_name
    row["base_class_name"] = base.class_name if base is not None else None
    row["custom"] = bool(newest.custom)
    row["parent"] = newest.parent
    row["base_ops_per_call"] = int(finite(base.ops_per_call)) if base is not None else None
    row["run_ops_per_call"] = int(finite(run.ops_per_call)) if run is not None else None
    row["base_hints"] = [h.code for h in base.hints] if base is not None else []
    row["run_hints"] = [h.code for h in run.hints] if run is not None else []
    row.update(work_fields(base, run))
    return row


def _work(layer: Optional[LayerStats], phase_fields) -> Optional[float]:
    """Forward + gradient of a work figure; None when the layer has no count (an added
    or removed layer counts 0 on its missing side, like its times)."""
    if layer is None:
        return 0.0
    values = [getattr(layer, f, None) for f in phase_fields]
    if all(v is None for v in values):
        return None
    return sum(finite(v) for v in values)


def work_fields(base: Optional[LayerStats], run: Optional[LayerStats]) -> Dict[str, Any]:
    """base/run/delta of FLOPs and bytes per step (forward + gradient); delta None when
    either side has no count."""
    out: Dict[str, Any] = {}
    for unit, fields in (("flops", ("forward_flops", "backward_flops")),
                         ("bytes_moved", ("forward_bytes", "backward_bytes"))):
        b, r = _work(base, fields), _work(run, fields)
        out[f"base_{unit}"], out[f"run_{unit}"] = b, r
        out[f"delta_{unit}"] = r - b if b is not None and r is not None else None
    return out


def sort_key(row: Dict[str, Any]):
    return (-abs(finite(row["delta_us"])), str(row["path"]))


def diff_windows(
    base: WindowReport,
    run: WindowReport,
    base_name: str = "base",
    run_name: str = "run",
) -> Dict[str, Any]:
    """The comparison document of two windows (see the module docstring)."""
    base_layers = {x.path: x for x in base.layers}
    run_layers = {x.path: x for x in run.layers}
    memory = bool(base.memory_available) and bool(run.memory_available)
    paths = list(base_layers) + [p for p in run_layers if p not in base_layers]
    rows = [diff_layer(p, base_layers.get(p), run_layers.get(p), memory) for p in paths]
    rows.sort(key=sort_key)
    base_other = base.other or {}
    run_other = run.other or {}
    keys = list(OTHER_KEYS) + sorted((set(base_other) | set(run_other)) - set(OTHER_KEYS))
    counts = {STATUS_BOTH: 0, STATUS_ADDED: 0, STATUS_REMOVED: 0}
    for row in rows:
        counts[row["status"]] += 1
    return {
        "schema": SCHEMA,
        "base": base_name,
        "run": run_name,
        "base_window": _window_info(base),
        "run_window": _window_info(run),
        "step_time": compare(finite(base.step_time_us), finite(run.step_time_us)),
        "op_time": compare(window_op_time(base), window_op_time(run)),
        "other": {k: compare(finite(base_other.get(k)), finite(run_other.get(k))) for k in keys},
        "memory_available": memory,
        "layers": rows,
        "counts": counts,
    }


def speedup(step_time: Dict[str, Any]) -> Optional[float]:
    """base / run of a `compare` result: 2.0 means the run is twice as fast."""
    return figures.speedup(step_time.get("base_us"), step_time.get("run_us"))
