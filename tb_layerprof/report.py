"""Plain report data: per-layer figures of one profile window, and their JSON form.

Everything here is pure Python (no TensorFlow), so the CLI and the TensorBoard plugin can
load reports cheaply. The JSON shape is a public contract (DESIGN.md section 4): fields
keep their names and meaning; new fields may be added.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, Dict, List, Optional

SCHEMA = 1

OTHER_KEYS = (
    "optimizer_us",
    "loss_us",
    "metrics_us",
    "input_us",
    "collective_us",  # cross-replica communication (all-reduce...) under tf.distribute
    "framework_us",
    "unattributed_us",
)


def _plain(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, scalars): cheap, unlike dataclasses.asdict."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> frozenset:
    return frozenset(f.name for f in dataclasses.fields(cls))


def _fields_json(obj: Any, nested: str = "") -> Dict[str, Any]:
    """Fields in declaration order; the `nested` list of dataclasses via their to_json."""
    return {
        f.name: [x.to_json() for x in getattr(obj, f.name)] if f.name == nested
        else _plain(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
    }


@dataclasses.dataclass
class Hint:
    """One diagnosis: a stable machine `code`, a plain `message`, and the figures behind it."""

    code: str
    message: str
    evidence: Dict[str, Any] = dataclasses.field(default_factory=dict)
    severity: str = "warning"  # "warning" (likely slow) or "info" (worth a look)

    def to_json(self) -> Dict[str, Any]:
        return _fields_json(self)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Hint":
        return cls(
            code=str(d.get("code", "")),
            message=str(d.get("message", "")),
            evidence=dict(d.get("evidence") or {}),
            severity=str(d.get("severity", "warning")),
        )


@dataclasses.dataclass
class LayerStats:
    """Figures of one layer in one window. Times are microseconds per step."""

    path: str
    class_name: str = ""
    custom: bool = False
    parent: Optional[str] = None
    forward_us: float = 0.0
    backward_us: float = 0.0
    self_forward_us: float = 0.0
    self_backward_us: float = 0.0
    forward_alloc_bytes: int = 0
    backward_alloc_bytes: int = 0
    peak_live_bytes: int = 0
    param_bytes: int = 0
    calls: int = 0
    ops_per_call: int = 0
    hints: List[Hint] = dataclasses.field(default_factory=list)
    # Additions beyond the DESIGN contract.
    trace_count: int = 0
    output_elements: int = 0  # elements of the layer's outputs per call (static shape)
    output_bytes: int = 0  # bytes of the layer's outputs per step, all calls
    input_bytes: int = 0  # bytes of the layer's inputs per step, all calls
    self_ops_per_call: int = 0  # ops created by this layer itself, sublayers excluded
    op_types: Dict[str, int] = dataclasses.field(default_factory=dict)  # self ops by type, per call
    forward_op_events: float = 0.0  # op executions per step, forward (self)
    backward_op_events: float = 0.0
    self_forward_alloc_bytes: int = 0
    self_backward_alloc_bytes: int = 0
    # Of those, bytes of allocations that outlived the op that made them (not a kernel's
    # scratch buffer), per step: what memory-churn measures.
    self_kept_alloc_bytes: int = 0
    top_ops: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    # Host op time vs device (GPU kernel) time, including sublayers. forward_us/backward_us
    # are the device figures when the window ran kernels (window.clock == "device").
    forward_host_us: float = 0.0
    backward_host_us: float = 0.0
    forward_device_us: float = 0.0
    backward_device_us: float = 0.0
    # Under tf.distribute: [{"replica": N, "self_forward_us", "self_backward_us"}] per
    # replica (from the `replica_N/` prefix of op names), when more than one ran.
    replicas: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def total_us(self) -> float:
        return self.forward_us + self.backward_us

    def to_json(self) -> Dict[str, Any]:
        return _fields_json(self, nested="hints")

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "LayerStats":
        known = _field_names(cls)
        kwargs = {k: v for k, v in d.items() if k in known and k != "hints"}
        stats = cls(**kwargs)
        stats.hints = [Hint.from_json(h) for h in d.get("hints") or []]
        return stats


@dataclasses.dataclass
class WindowReport:
    """One profile window: which steps, how long a step took, and where the op time went."""

    step: int
    steps: int
    host: str = ""
    step_time_us: float = 0.0
    layers: List[LayerStats] = dataclasses.field(default_factory=list)
    other: Dict[str, float] = dataclasses.field(
        default_factory=lambda: {k: 0.0 for k in OTHER_KEYS}
    )
    # Additions beyond the DESIGN contract.
    op_time_us: float = 0.0  # all op time per step (= sum of self_* + sum of other)
    host_op_time_us: float = 0.0
    device_op_time_us: float = 0.0
    clock: str = "host"  # "device" when the window ran GPU kernels: times are kernel time
    memory_allocators: List[str] = dataclasses.field(default_factory=list)
    xla_split_us: float = 0.0  # time of XLA fusions spanning several layers, split by share
    mode: str = "graph"  # "graph", "eager" or "xla"
    memory_available: bool = True
    profile_dir: str = ""  # where TF wrote the .xplane.pb, relative to the run directory
    warnings: List[str] = dataclasses.field(default_factory=list)
    wall_time: float = 0.0
    # The last profiled step's layer spans relative to its start:
    # {"step": N, "step_time_us": T, "spans": [{"path", "phase", "start_us", "end_us"}]}
    timeline: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # Share of op time owned by a layer or a named category (1 - unattributed / op time),
    # and the largest ops owned by no layer: [{"name", "type", "category", "us"}].
    coverage: float = 1.0
    unowned_ops: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    # Time of fused kernels whose fused ops came from two layers (charged to the layer of
    # the matmul/convolution), per step.
    fused_across_us: float = 0.0
    # Batches per profiled step (steps_per_execution); figures are per batch.
    batches_per_step: float = 1.0

    def to_json(self) -> Dict[str, Any]:
        return _fields_json(self, nested="layers")

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "WindowReport":
        known = _field_names(cls)
        kwargs = {k: v for k, v in d.items() if k in known and k != "layers"}
        window = cls(**kwargs)
        window.layers = [LayerStats.from_json(x) for x in d.get("layers") or []]
        other = {k: 0.0 for k in OTHER_KEYS}
        other.update(d.get("other") or {})
        window.other = other
        return window


@dataclasses.dataclass
class RunReport:
    """All windows of one run (one TensorBoard run directory), oldest first."""

    run: str
    windows: List[WindowReport] = dataclasses.field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return {"run": self.run, "windows": [w.to_json() for w in self.windows]}


def reports_to_json(runs: List[RunReport]) -> Dict[str, Any]:
    """The top-level JSON document of DESIGN.md section 4."""
    return {"schema": SCHEMA, "runs": [r.to_json() for r in runs]}


def window_to_bytes(window: WindowReport) -> bytes:
    """Compact JSON bytes stored in a summary tensor."""
    return json.dumps(window.to_json(), separators=(",", ":"), allow_nan=False).encode("utf-8")


def window_from_bytes(data: bytes) -> WindowReport:
    """Inverse of `window_to_bytes`; raises ValueError on anything that is not a report."""
    try:
        d = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not a layerprof report: {e}") from None
    if not isinstance(d, dict) or "step" not in d or not isinstance(d.get("layers", []), list):
        raise ValueError("not a layerprof report: missing 'step' or 'layers'")
    try:
        return WindowReport.from_json(d)
    except TypeError as e:
        raise ValueError(f"malformed layerprof report: {e}") from None
