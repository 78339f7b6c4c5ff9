"""Plain report data: per-layer figures of one profile window, and their JSON form.

Everything here is pure Python (no TensorFlow), so the CLI and the TensorBoard plugin can
load reports cheaply. The JSON shape is a public contract (DESIGN.md section 4): fields
keep their names and meaning; new fields may be added.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

from tb_layerprof.gcpause import no_cyclic_gc

SCHEMA = 1
TIMELINE_MAX_SPANS = 5000  # spans a window's timeline keeps at most (the analysis writes no more)

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


_SCALARS = ("float", "int", "str", "bool", "Optional[str]", "Optional[float]")


@functools.lru_cache(maxsize=None)
def _json_fields(cls: type) -> Tuple[Tuple[str, bool], ...]:
    """(name, holds a container) of each field, in declaration order."""
    return tuple((f.name, f.type not in _SCALARS) for f in dataclasses.fields(cls))


def _fields_json(obj: Any, nested: str = "") -> Dict[str, Any]:
    """Fields in declaration order; the `nested` list of dataclasses via their to_json.
    (A hot path for big windows: containers are copied, scalars taken as they are.)"""
    values = obj.__dict__
    return {
        name: ([x.to_json() for x in values[name]] if name == nested else _plain(values[name]))
        if container else values[name]
        for name, container in _json_fields(type(obj))
    }


class MalformedReport(ValueError):
    """A stored window that is not a readable report: says which field is wrong and why."""


def _number(value: Any, where: str, name: str = "") -> Any:
    if type(value) is float or type(value) is int:  # the common case, checked first
        if value == value and value not in _INFINITIES:
            return value
        raise MalformedReport(f"{_label(where, name)} is not a finite number ({value!r})")
    raise MalformedReport(f"{_label(where, name)} is not a number ({_brief(value)})")


_INFINITIES = (float("inf"), float("-inf"))


def _label(where: str, name: str) -> str:
    return f"{where} field {name!r}" if name else where


def _integer(value: Any, where: str, name: str = "") -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise MalformedReport(f"{_label(where, name)} is not an integer ({_brief(value)})")


def _text(value: Any, where: str, name: str = "") -> str:
    if type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise MalformedReport(f"{_label(where, name)} is not text ({_brief(value)})")


def _optional_text(value: Any, where: str, name: str = "") -> Optional[str]:
    return None if value is None else _text(value, where, name)


def _optional_number(value: Any, where: str, name: str = "") -> Optional[float]:
    return None if value is None else _number(value, where, name)


def _flag(value: Any, where: str, name: str = "") -> bool:
    if type(value) is bool:
        return value
    if value in (0, 1):
        return bool(value)
    raise MalformedReport(f"{_label(where, name)} is not true/false ({_brief(value)})")


def _objects(value: Any, where: str, name: str = "") -> List[Dict[str, Any]]:
    if value is None:
        return []
    if type(value) is not list or not all(type(x) is dict for x in value):
        raise MalformedReport(f"{_label(where, name)} is not a list of objects ({_brief(value)})")
    return _plain(value)


def _texts(value: Any, where: str, name: str = "") -> List[str]:
    if value is None:
        return []
    if type(value) is not list:
        raise MalformedReport(f"{_label(where, name)} is not a list ({_brief(value)})")
    return [_text(x, where, name) for x in value]


def _object(value: Any, where: str, name: str = "") -> Dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise MalformedReport(f"{_label(where, name)} is not an object ({_brief(value)})")
    return _plain(value)


def _counts(value: Any, where: str, name: str = "") -> Dict[str, Any]:
    counts = _object(value, where, name)
    for key, v in counts.items():
        _number(v, f"{_label(where, name)}[{key!r}]")
    return counts


def _brief(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


# How each annotated field type is read back from JSON (`from __future__ import
# annotations` keeps annotations as these strings).
_READERS: Dict[str, Callable[..., Any]] = {
    "float": _number,
    "int": _number,  # per-step averages of counts may be fractional
    "str": _text,
    "bool": _flag,
    "Optional[str]": _optional_text,
    "Optional[float]": _optional_number,
    "List[str]": _texts,
    "List[Dict[str, Any]]": _objects,
    "Dict[str, Any]": _object,
    "Dict[str, int]": _counts,
    "Dict[str, float]": _counts,
}


@functools.lru_cache(maxsize=None)
def _field_readers(cls: type, skip: Tuple[str, ...]) -> Tuple[Tuple[str, Callable[..., Any]], ...]:
    """(field name, reader) of the fields that `from_json` reads generically."""
    return tuple((f.name, _READERS[f.type]) for f in dataclasses.fields(cls)
                 if f.type in _READERS and f.name not in skip)


@functools.lru_cache(maxsize=None)
def _defaults(cls: type) -> Tuple[Dict[str, Any], Tuple[Tuple[str, Callable[[], Any]], ...]]:
    """(plain default values, (name, factory) of the fields with default factories)."""
    plain, factories = {}, []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            plain[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            factories.append((f.name, f.default_factory))  # type: ignore[misc]
    return plain, tuple(factories)


def _build(cls: type, d: Dict[str, Any], where: str, skip: Tuple[str, ...] = (), **given: Any) -> Any:
    """An instance of the dataclass `cls` from the stored dict `d`: every known field
    present in `d` (but `skip`) checked and converted by its type, the others defaulted,
    then `given`. Fills the instance directly, without `__init__` (a hot path: big windows
    have thousands of layers)."""
    plain, factories = _defaults(cls)
    values = dict(plain)
    for name, factory in factories:
        values[name] = factory()
    for name, read in _field_readers(cls, skip):
        if name in d:
            value = d[name]
            if read is _number and (type(value) is float or type(value) is int) \
                    and value == value and value not in _INFINITIES:
                values[name] = value  # the common case, without a call
            else:
                values[name] = read(value, where, name)
    values.update(given)
    obj = cls.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _timeline(raw: Any) -> Dict[str, Any]:
    """A window's step timeline, or `{}` (older reports, or not a timeline at all). Spans
    without a path or with unusable times are dropped; at most TIMELINE_MAX_SPANS."""
    if type(raw) is not dict or type(raw.get("spans")) is not list:
        return {}
    spans = []
    for sp in raw["spans"]:
        if len(spans) >= TIMELINE_MAX_SPANS:
            break
        if type(sp) is not dict or type(sp.get("path")) is not str:
            continue
        start, end = sp.get("start_us"), sp.get("end_us")
        if type(start) not in (int, float) or type(end) not in (int, float):
            continue
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            continue
        # The busy lists are most of a timeline and are checked and rebuilt below: not
        # copied here first (a 2,000-layer window: 0.2 s of its 0.25 s read).
        span = {k: _plain(v) for k, v in sp.items() if k not in _BUSY_KEYS}
        span["phase"] = str(sp.get("phase", ""))
        for prefix in ("", "self_"):
            key = prefix + "busy"
            busy = _busy(sp.get(key), start, end)
            if busy and (not prefix or "busy" in span):
                span[key] = busy
                total = sp.get(key + "_us")
                span[key + "_us"] = total if _finite(total) else round(sum(e - s for s, e in busy), 3)
        spans.append(span)
    step, step_time = raw.get("step"), raw.get("step_time_us")
    return {
        "step": step if type(step) is int else 0,
        "step_time_us": step_time if type(step_time) in (int, float) and math.isfinite(step_time) else 0.0,
        "spans": spans,
    }


_BUSY_KEYS = frozenset(("busy", "busy_us", "self_busy", "self_busy_us"))


def _finite(x: Any) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


def _busy(raw: Any, start: float, end: float) -> List[List[float]]:
    """A span's busy intervals: sorted [s, e] pairs inside [start, end]; none if any is
    unusable (the tab then draws the span from its first to its last op)."""
    if type(raw) is not list:
        return []
    out: List[List[float]] = []
    for pair in raw:
        if type(pair) is not list or len(pair) != 2 or not (_finite(pair[0]) and _finite(pair[1])):
            return []
        s, e = pair
        if e < s or s < start - 1e-3 or e > end + 1e-3 or (out and s < out[-1][1]):
            return []
        out.append([s, e])
    return out


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
    def from_json(cls, d: Any, where: str = "hint") -> "Hint":
        if type(d) is not dict:
            raise MalformedReport(f"{where} is not an object ({_brief(d)})")
        return _build(cls, {"code": "", "message": "", **d}, where)


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
    # Work per step (tb_layerprof.work): FLOPs and bytes moved of the layer's executed ops,
    # totals including sublayers like forward_us; null where no op of it has a count.
    forward_flops: Optional[float] = None
    backward_flops: Optional[float] = None
    forward_bytes: Optional[float] = None
    backward_bytes: Optional[float] = None
    # Achieved FLOP/s of each phase (its FLOPs over its time, sublayers included).
    forward_flops_per_s: Optional[float] = None
    backward_flops_per_s: Optional[float] = None
    self_forward_flops: Optional[float] = None
    self_backward_flops: Optional[float] = None
    self_forward_bytes: Optional[float] = None
    self_backward_bytes: Optional[float] = None
    # "exact" (every op with time has a formula count), "estimated" (some ops counted in
    # bytes only, or without a count), null (no count at all).
    work_counts: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return _fields_json(self, nested="hints")

    @classmethod
    def from_json(cls, d: Any) -> "LayerStats":
        """A layer as stored; raises MalformedReport naming the field that is wrong."""
        if type(d) is not dict or type(d.get("path")) is not str:
            raise MalformedReport(f"a layer without a 'path' ({_brief(d)})")
        hints = d.get("hints")
        if not hints:
            return _build(cls, d, f"layer {d['path']!r}")
        where = f"layer {d['path']!r}"
        if type(hints) is not list:
            raise MalformedReport(f"{where} field 'hints' is not a list ({_brief(hints)})")
        return _build(cls, d, where, hints=[Hint.from_json(h, f"{where} hint") for h in hints])


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
    # The roofs the layers' achieved rates are compared with (FLOP/s, bytes/s) and where
    # they come from ("calibrated-cpu", "gpu-device-caps"); null when unknown.
    peak_flops_per_s: Optional[float] = None
    peak_bytes_per_s: Optional[float] = None
    peak_source: Optional[str] = None
    # CPU: bytes/s of a copy that stays in cache, the roof above DRAM's that small tensors
    # reach (rates are shares of peak_bytes_per_s all the same); null on GPUs, or unknown.
    peak_cache_bytes_per_s: Optional[float] = None
    # Share of op time in ops with a FLOP or byte count (work_coverage), and in ops with a
    # FLOP formula (flops_coverage).
    work_coverage: float = 0.0
    flops_coverage: float = 0.0

    def to_json(self) -> Dict[str, Any]:
        return _fields_json(self, nested="layers")

    @classmethod
    def from_json(cls, d: Any, timeline: bool = True) -> "WindowReport":
        """A window as stored, every field checked: the one reader of stored reports (the
        CLI, the plugin, diff and workers read through it). Absent fields take their
        defaults; a field of the wrong kind raises MalformedReport saying which.
        `timeline=False` leaves the step timeline out (`{}`): it is drawing data that never
        makes a window unreadable, and half of a big window's checking."""
        if type(d) is not dict or "step" not in d or "steps" not in d:
            raise MalformedReport("not a layerprof report: missing 'step' or 'steps'")
        layers = d.get("layers")
        if layers is not None and type(layers) is not list:
            raise MalformedReport(f"window field 'layers' is not a list ({_brief(layers)})")
        other = {k: 0.0 for k in OTHER_KEYS}
        other.update(_counts(d.get("other"), "window", "other"))
        # The timeline is drawing data: a bad one is dropped, not fatal (`_timeline`).
        return _build(
            cls, d, "window", skip=("step", "steps", "other", "timeline"),
            step=_integer(d["step"], "window", "step"),
            steps=_integer(d["steps"], "window", "steps"),
            layers=[LayerStats.from_json(x) for x in layers or ()],
            other=other,
            timeline=_timeline(d.get("timeline")) if timeline else {},
        )


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


def window_from_bytes(data: bytes, timeline: bool = True) -> WindowReport:
    """Inverse of `window_to_bytes`; raises ValueError (MalformedReport) on anything that
    is not a readable report, with the reason. `timeline=False`: without the step
    timeline (see `WindowReport.from_json`).

    The cyclic GC is paused meanwhile: a big window is hundreds of thousands of objects
    without cycles, and in a TensorBoard process holding a logdir's events every
    collection walks all of those too (measured: 20 windows of 2,000 layers kept as the
    plugin keeps them, 0.245 s each with collections, 0.115 s paused)."""
    with no_cyclic_gc():
        try:
            d = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MalformedReport(f"not a layerprof report: {e}") from None
        except RecursionError:
            raise MalformedReport("not a layerprof report: nested too deeply") from None
        return WindowReport.from_json(d, timeline)
