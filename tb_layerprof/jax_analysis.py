"""One `jax.profiler` window -> a WindowReport: XLA thunk (CPU) or kernel (GPU) time
attributed to Keras layers, forward vs gradient, through the HLO `op_name` metadata.

Pure: takes the plain records of `xplane.read_xla` and a layer map of plain `LayerInfo`s, so it
runs (and is tested) without Keras, JAX or TensorFlow.

Ownership of one op_name (`split_op_name`):
  - inside `jvp(...)`/`transpose(...)` with a scope chain naming a layer: the deepest layer
    whose path is a prefix of the chain; forward, or backward under `transpose`;
  - the loss scope (`compile_loss`, ...) -> loss; the optimizer's scope -> optimizer;
    metric scopes, and Keras' unscoped bookkeeping after the gradient (loss tracker, metric
    updates: outside every `jvp`) -> metrics;
  - copies of the step's arguments: a trainable variable's (`state[0][i]`) -> its layer,
    optimizer variables' -> optimizer, metric variables' -> metrics, the batch's
    (`data[i]`) -> input; functional-model glue between layers (`jvp()/add`: `h + a` on
    symbolic tensors) and Keras' small helper programs -> framework;
  - anything else, and instructions with no metadata at all -> unattributed.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import re
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from tb_layerprof import diagnosis, jax_sources
from tb_layerprof.attribution import LayerSpan
from tb_layerprof.ledger import busy_fields, merge_intervals
from tb_layerprof.xplane.hlo import HloModule, parse_module
from tb_layerprof.xplane.records import ProfileError, XlaEvents, XlaOp
from tb_layerprof.report import OTHER_KEYS, TIMELINE_MAX_SPANS, Hint, LayerStats, WindowReport

LOSS_SCOPES = ("compile_loss", "loss", "losses")
_STATE = re.compile(r"^state\[(\d+)\]\[(\d+)\]")
METRIC_SCOPES = ("compile_metrics", "metrics")
HOST_CALLBACK_PRIMITIVES = ("pure_callback", "io_callback", "debug_callback", "callback")
_PS_PER_US = 1e6


# -- op_name -> (scopes, phase) ---------------------------------------------------------

# JAX names every HLO instruction after the primitive that produced it and the name stack
# it ran under: `jit(train_step)/jvp(dense)/dot_general` is the forward pass of layer
# `dense`, `jit(train_step)/transpose(jvp(dense))/dot_general` its gradient (reverse-mode
# AD is the transpose of the JVP). Keras opens a `jax.named_scope` per layer call, so the
# scopes between the transform wrappers are layer names, outermost first.

FORWARD, BACKWARD = "forward", "backward"
_WRAPPER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")
# JAX transforms that wrap name-stack entries; `transpose` marks reverse-mode AD.
_TRANSFORMS = {"jvp", "transpose", "vmap", "remat", "checkpoint", "pmap", "xmap", "shard_map",
               "jit", "pjit", "vjp", "linearize", "custom_jvp_call", "custom_vjp_call",
               "custom_vjp_call_jaxpr", "custom_jvp_call_jaxpr", "cond", "while", "scan", "body",
               "checkpoint_name", "named_call", "core_call"}


def split_op_name(op_name: str) -> Tuple[List[str], str, bool]:
    """(named scopes outermost first, primitive, inside a `transpose(...)`).

    `jit(train_step)/transpose(jvp(block))/inner/mul` -> (["block", "inner"], "mul", True).
    The outermost `jit(...)` is the program, not a scope; nested `jit(_where)` (a jnp
    helper) is transparent. A scope counts as differentiated if any wrapper around it is
    `transpose`.
    """
    parts = [p for p in _split_top(op_name) if p]
    if not parts:
        return [], "", False
    primitive = parts[-1]
    scopes: List[str] = []
    gradient = False
    for part in parts[:-1]:
        inner, wrappers = _unwrap(part)
        if "transpose" in wrappers:
            gradient = True
        if wrappers and wrappers[-1] in ("jit", "pjit"):
            continue  # the program (jit(train_step)) or a jnp helper's own jit(_where)
        if inner:
            scopes.extend(s for s in inner.split("/") if s)
    return scopes, primitive, gradient


def _split_top(name: str) -> List[str]:
    """Split on '/' outside parentheses (a wrapper may hold a '/': `jvp(block/inner)`)."""
    parts, depth, cur = [], 0, []
    for ch in name:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "/" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unwrap(part: str) -> Tuple[str, List[str]]:
    """`transpose(jvp(slow))` -> ("slow", ["transpose", "jvp"])."""
    wrappers = []
    m = _WRAPPER.match(part)
    while m and m.group(1) in _TRANSFORMS:
        wrappers.append(m.group(1))
        part = m.group(2)
        m = _WRAPPER.match(part)
    return part, wrappers


def in_autodiff(op_name: str) -> bool:
    """Whether the op ran inside the differentiated function (a jvp/transpose wrapper)."""
    return "jvp(" in op_name or "transpose(" in op_name


@dataclasses.dataclass
class LayerInfo:
    """What the callback knows of one layer from walking the model (no tensors)."""

    path: str
    class_name: str = ""
    custom: bool = False
    param_bytes: int = 0
    parent: Optional[str] = None
    calls: int = 1


@dataclasses.dataclass
class Scopes:
    """Scope names that mean a category rather than a layer."""

    optimizer: Sequence[str] = ("adam", "sgd", "optimizer")
    loss: Sequence[str] = LOSS_SCOPES
    metrics: Sequence[str] = METRIC_SCOPES
    model: Sequence[str] = ()  # the model's own name: a scope around all layers, if any
    # Layer path owning each trainable variable, in `model.trainable_variables` order
    # (Keras' JAX train step receives them as `state[0][i]`).
    weights: Sequence[Optional[str]] = ()


Owner = Tuple[str, str]  # ("layer", path) with phase in the second slot below, or ("cat", key)


class Resolver:
    """op_name -> (owner kind, layer path or category key, phase); cached per op_name."""

    def __init__(self, layers: Sequence[LayerInfo], scopes: Scopes):
        self.paths = {info.path for info in layers}
        names: Dict[str, List[str]] = {}
        for info in layers:
            names.setdefault(info.path.rsplit("/", 1)[-1], []).append(info.path)
        self.unique_names = {n: ps[0] for n, ps in names.items() if len(ps) == 1}
        self.scopes = scopes
        self._cache: Dict[str, Tuple[str, str, str]] = {}

    def __call__(self, op_name: str) -> Tuple[str, str, str]:
        hit = self._cache.get(op_name)
        if hit is None:
            hit = self._cache[op_name] = self._resolve(op_name)
        return hit

    def _resolve(self, op_name: str) -> Tuple[str, str, str]:
        # XLA joins the metadata of merged instructions with ';': the first is the one kept.
        name = op_name.split(";", 1)[0]
        if not name:
            return ("cat", "unattributed_us", "")
        if name.startswith(("state[", "data[")):
            return self._state(name)
        scopes, _, gradient = split_op_name(name)
        phase = BACKWARD if gradient else FORWARD
        if scopes and scopes[0] in self.scopes.model and len(scopes) > 1:
            scopes = scopes[1:]
        lowered = [s.lower() for s in scopes]
        if lowered and lowered[0] in {s.lower() for s in self.scopes.optimizer}:
            return ("cat", "optimizer_us", "")
        path = self._layer(scopes)
        if path is not None:
            return ("layer", path, phase)
        if lowered and lowered[0] in self.scopes.loss:
            return ("cat", "loss_us", "")
        if lowered and lowered[0] in self.scopes.metrics:
            return ("cat", "metrics_us", "")
        if not scopes and in_autodiff(name):
            # Functional-model glue between layers (`h + a` on symbolic tensors becomes an
            # op of the model, in no layer's scope): Keras' graph, not a layer's.
            return ("cat", "framework_us", "")
        if not in_autodiff(name):
            # After the gradient, Keras' train_step updates the loss tracker and metrics
            # without a scope; helper programs have no autodiff at all.
            return ("cat", "metrics_us", "") if not scopes else ("cat", "framework_us", "")
        return ("cat", "unattributed_us", "")

    def _state(self, name: str) -> Tuple[str, str, str]:
        """Copies and layout changes of the step's arguments, named after them by JAX:
        Keras passes `state = (trainable, non_trainable, optimizer, metrics variables)`
        and `data`. A trainable variable's copy is work for the layer that owns it (a
        copy of a big embedding table can cost more than its lookup)."""
        m = _STATE.match(name)
        if name.startswith("data["):
            return ("cat", "input_us", "")
        if m is None:
            return ("cat", "framework_us", "")
        group, index = int(m.group(1)), int(m.group(2))
        if group == 0 and index < len(self.scopes.weights) and self.scopes.weights[index] in self.paths:
            return ("layer", str(self.scopes.weights[index]), FORWARD)
        return ("cat", {2: "optimizer_us", 3: "metrics_us"}.get(group, "framework_us"), "")

    def _layer(self, scopes: List[str]) -> Optional[str]:
        if len(scopes) == 1 and scopes[0].startswith("__weight") and scopes[0].endswith("__"):
            try:
                owner = self.scopes.weights[int(scopes[0][len("__weight"):-2])]
            except (ValueError, IndexError):
                owner = None
            return owner if owner in self.paths else None
        # Deepest first: the scope chain as a path (Keras 3 paths follow the scopes a
        # layer was created under), else that scope as the unique name of a layer created
        # elsewhere and called here (a shared layer passed into a parent).
        for n in range(len(scopes), 0, -1):
            path = "/".join(scopes[:n])
            if path in self.paths:
                return path
            if scopes[n - 1] in self.unique_names:
                return self.unique_names[scopes[n - 1]]
        return None


@dataclasses.dataclass
class _Acc:
    fwd_ps: float = 0.0
    bwd_ps: float = 0.0
    fwd_events: float = 0.0
    bwd_events: float = 0.0
    # The same with each instruction at its median execution: one stalled run of a 1 µs
    # copy (a preempted thread on a busy CPU) must not make a diagnosis.
    fwd_typical_ps: float = 0.0
    bwd_typical_ps: float = 0.0
    ops: Dict[Tuple[str, str], float] = dataclasses.field(default_factory=dict)  # (instr, phase) -> ps


def window_thunks(capture: XlaEvents, first: int, last: int) -> Tuple[List[XlaOp], List[Tuple[int, int, int]]]:
    """The thunks that started inside one of the window's step markers, and the markers.

    Between markers (validation, epoch ends) nothing counts; with asynchronous dispatch a
    step's thunks may run during the next step's marker, which is still the window's, and
    the callback waits for the device before it closes a marker that no step follows.
    """
    steps = sorted((s for s in capture.steps if first <= s[0] <= last), key=lambda s: s[1])
    if not steps:
        return [], []
    starts = [s[1] for s in steps]
    out = []
    for t in capture.thunks:
        i = bisect.bisect_right(starts, t.start_ps) - 1
        if i >= 0 and t.start_ps < steps[i][2]:
            out.append(t)
    return out, steps


@dataclasses.dataclass
class _Tally:
    """Picoseconds per owner over the window (not yet per step)."""

    accs: Dict[str, _Acc]
    other: Dict[str, float]
    unowned: Dict[Tuple[str, str], float] = dataclasses.field(default_factory=dict)
    across_ps: float = 0.0
    device: bool = False
    main: set = dataclasses.field(default_factory=set)

    def add(self, t: XlaOp, kind: str, key: str, phase: str, share: float, typical_ps: float) -> None:
        ps = t.self_ps * share
        if kind == "layer":
            acc = self.accs[key]
            typical = typical_ps * share
            if phase == BACKWARD:
                acc.bwd_ps, acc.bwd_events = acc.bwd_ps + ps, acc.bwd_events + share
                acc.bwd_typical_ps += typical
            else:
                acc.fwd_ps, acc.fwd_events = acc.fwd_ps + ps, acc.fwd_events + share
                acc.fwd_typical_ps += typical
            acc.ops[(t.hlo_op, phase)] = acc.ops.get((t.hlo_op, phase), 0.0) + ps
            return
        self.other[key] += ps
        if key == "unattributed_us":
            self.unowned[(t.hlo_op, t.module)] = self.unowned.get((t.hlo_op, t.module), 0.0) + ps


def _attribute(capture: XlaEvents, thunks: List[XlaOp], layers: Sequence[LayerInfo],
               resolve: Resolver) -> _Tally:
    """Every thunk (or, on a GPU, kernel) of the window to its owners, by its sources."""
    sources = _Programs(capture)
    across = _Lazy(lambda pid: _across(sources.get(pid, ({}, None))[1], resolve))
    kernel_names: Dict[str, Tuple[int, str]] = {}
    tally = _Tally(accs={info.path: _Acc() for info in layers}, other={k: 0.0 for k in OTHER_KEYS},
                   device=any(t.device for t in thunks), main=_main_programs(capture, thunks))
    typical = _median_runs(thunks)
    for t in thunks:
        if tally.device and not t.device:
            continue  # on a GPU the kernels are the op time; host thunks only launch them
        srcs = (sources.get(t.program_id, ({}, None))[0].get(t.hlo_op)
                or _by_kernel_name(t, sources, tally.main, kernel_names) or [("", 1.0)])
        if t.hlo_op in across.get(t.program_id, ()):
            tally.across_ps += t.self_ps
        for op_name, share in srcs:
            kind, key, phase = resolve(op_name)
            if kind == "cat" and key != "optimizer_us" and t.program_id not in tally.main:
                key = "framework_us"  # Keras' helper programs (jit_equal, ...)
            tally.add(t, kind, key, phase, share, typical[(t.program_id, t.hlo_op)])
    return tally


def _median_runs(thunks: List[XlaOp]) -> Dict[Tuple[int, str], float]:
    """(program, instruction) -> the median self time of its runs in the window: an
    instruction does the same work every step, so its median is what it typically costs."""
    runs: Dict[Tuple[int, str], List[int]] = {}
    for t in thunks:
        runs.setdefault((t.program_id, t.hlo_op), []).append(t.self_ps)
    return {key: float(statistics.median(ps)) for key, ps in runs.items()}


def analyse(capture: XlaEvents, layers: Sequence[LayerInfo], first: int, last: int,
            scopes: Optional[Scopes] = None, batches: int = 0) -> WindowReport:
    """The report of steps first..last of `capture` (per-step figures, diagnosed)."""
    scopes = scopes or Scopes()
    resolve = Resolver(layers, scopes)
    thunks, steps = window_thunks(capture, first, last)
    n_steps = max(1, len(steps))
    window = WindowReport(step=first, steps=len(steps), host=capture.host, mode="xla",
                          memory_available=False)
    window.batches_per_step = max(1.0, batches / n_steps) if batches else 1.0
    per_step = n_steps * window.batches_per_step
    us = 1.0 / _PS_PER_US / per_step  # window picoseconds -> microseconds per step
    if steps:
        window.step_time_us = sum(s[2] - s[1] for s in steps) * us
    tally = _attribute(capture, thunks, layers, resolve)
    window.layers = _layer_stats(layers, tally.accs, per_step, _structure(capture, tally.main, resolve))
    window.other = {k: v * us for k, v in tally.other.items()}
    own = sum(x.self_forward_us + x.self_backward_us for x in window.layers)
    window.op_time_us = own + sum(window.other.values())
    window.host_op_time_us = 0.0 if tally.device else window.op_time_us
    window.device_op_time_us = window.op_time_us if tally.device else 0.0
    window.clock = "device" if tally.device else "host"
    window.fused_across_us = tally.across_ps * us
    window.coverage = (1.0 - window.other["unattributed_us"] / window.op_time_us) if window.op_time_us else 1.0
    window.unowned_ops = [
        {"name": name, "type": module, "category": "unattributed", "us": round(ps * us, 3)}
        for (name, module), ps in sorted(tally.unowned.items(), key=lambda kv: -kv[1])[:10]]
    typical = {info.path: (tally.accs[info.path].fwd_typical_ps * us, tally.accs[info.path].bwd_typical_ps * us)
               for info in layers}
    diagnosis.diagnose(window, typical=typical)
    _jax_hints(window)
    window.timeline = timeline(layer_spans(capture, layers, first, last, scopes), {x.path for x in layers})
    return window


def layer_spans(capture: XlaEvents, layers: Sequence[LayerInfo], first: int, last: int,
                scopes: Optional[Scopes] = None) -> List[LayerSpan]:
    """Per step, layer and phase: from the layer's first thunk to its last (each thunk
    counted for its main source), parents stretched over their sublayers. A step is one
    execution of a program (its run id); executions are matched to the window's steps in
    order, since under asynchronous dispatch a step's work may run after its marker."""
    thunks, steps = window_thunks(capture, first, last)
    resolve = Resolver(layers, scopes or Scopes())
    programs = _Programs(capture)
    sources = _Lazy(lambda pid: programs.get(pid, ({}, None))[0])
    runs: Dict[Tuple[int, int], List[XlaOp]] = {}
    for t in thunks:
        runs.setdefault((t.program_id, t.run_id), []).append(t)
    ordered = sorted(runs.values(), key=lambda ts: min(t.start_ps for t in ts))
    step_of = [s[0] for s in steps] if len(ordered) == len(steps) else None
    parent = {info.path: info.parent for info in layers}
    spans: Dict[Tuple[int, str, str, str], List[int]] = {}
    ran: Dict[Tuple[int, str, str, str], List[Tuple[int, int]]] = {}
    own: Dict[Tuple[int, str, str, str], List[Tuple[int, int]]] = {}  # without sublayers
    for i, run in enumerate(ordered):
        start = min(t.start_ps for t in run)
        step = step_of[i] if step_of else next((s[0] for s in steps if s[1] <= start < s[2]), steps[0][0])
        for t in run:
            srcs = sources.get(t.program_id, {}).get(t.hlo_op)
            if not srcs:
                continue
            kind, path, phase = resolve(srcs[0][0])
            hops = 0
            while kind == "layer" and path is not None and hops < 64:
                key = (step, path, phase, "/device" if t.device else "")
                box = spans.setdefault(key, [t.start_ps, t.end_ps])
                box[0], box[1] = min(box[0], t.start_ps), max(box[1], t.end_ps)
                ran.setdefault(key, []).append((t.start_ps, t.end_ps))
                if not hops:
                    own.setdefault(key, []).append((t.start_ps, t.end_ps))
                path, hops = parent.get(path), hops + 1
    return [LayerSpan(path=k[1], phase=k[2], step=k[0], start_ps=a, end_ps=b,
                      device=_device_plane(capture) if k[3] else "", busy=merge_intervals(ran[k]),
                      self_busy=merge_intervals(own.get(k, [])))
            for k, (a, b) in sorted(spans.items(), key=lambda kv: kv[1][0])]


def _device_plane(capture: XlaEvents) -> str:
    return capture.device_planes[0] if capture.device_planes else ""


def timeline(spans: List[LayerSpan], layer_paths: set) -> Dict[str, object]:
    """The last step's host (or device) spans relative to its first, for the tab."""
    if not spans:
        return {}
    step = max(sp.step for sp in spans)
    picked = [sp for sp in spans if sp.step == step and sp.path in layer_paths][:TIMELINE_MAX_SPANS]
    t0 = min(sp.start_ps for sp in picked)
    t1 = max(sp.end_ps for sp in picked)
    return {"step": step, "step_time_us": round((t1 - t0) / 1e6, 3),
            "spans": [{"path": sp.path, "phase": sp.phase, "start_us": round((sp.start_ps - t0) / 1e6, 3),
                       "end_us": round((sp.end_ps - t0) / 1e6, 3), **busy_fields(sp.busy, t0, sp.self_busy)}
                      for sp in picked]}


@functools.lru_cache(maxsize=32)
def _program_sources(blob: bytes) -> Tuple[Dict[str, jax_sources.Sources], Optional[HloModule]]:
    """(instruction -> sources, module) of one program, parsed once: the analysis, the
    layer spans and the structure all read the same few programs."""
    try:
        mod = parse_module(blob)
    except ProfileError:
        return {}, None
    return jax_sources.instruction_sources(mod), mod


class _Lazy(dict):
    """A dict that computes a missing key's value on first access (`.get` included)."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, key):
        value = self[key] = self._make(key)
        return value

    def get(self, key, default=None):
        return self[key]


class _Programs(_Lazy):
    """program id -> (sources, module), parsed only for the programs asked about."""

    def __init__(self, capture: XlaEvents):
        super().__init__(lambda pid: _program_sources(capture.programs[pid][1])
                         if pid in capture.programs else ({}, None))


def _by_kernel_name(t: XlaOp, sources, main: set, cache: Dict[str, Tuple[int, str]]) -> Optional[jax_sources.Sources]:
    """A GPU kernel that carries no hlo_op: XLA names its kernels after the instruction
    (`loop_add_fusion.2` -> kernel `loop_add_fusion_2`), so match on that, within the
    train programs."""
    if not t.device:
        return None
    if not cache:
        for pid in main:
            for name in sources.get(pid, ({}, None))[0]:
                cache.setdefault(name.replace(".", "_").replace("-", "_"), (pid, name))
        cache.setdefault("\0", (0, ""))  # marks the cache as built
    hit = cache.get(t.hlo_op.replace(".", "_").replace("-", "_"))
    return sources[hit[0]][0].get(hit[1]) if hit and hit[1] else None


def _across(mod: Optional[HloModule], resolve: Resolver) -> set:
    """Fusions whose fused instructions came from more than one layer."""
    if mod is None:
        return set()
    out = set()
    for name, op_names in jax_sources.fused_op_names(mod).items():
        owners = {resolve(n)[1] for n in op_names if resolve(n)[0] == "layer"}
        if len(owners) > 1:
            out.add(name)
    return out


def _main_programs(capture: XlaEvents, thunks: List[XlaOp]) -> set:
    """Programs that differentiate something (the train steps): their unscoped ops after
    the gradient are Keras' metric updates; other programs' are framework."""
    ran = {t.program_id for t in thunks}
    out = set()
    for pid in ran:
        name, blob = capture.programs.get(pid, ("", b""))
        if b"jvp(" in blob or "train" in name:
            out.add(pid)
    if not out:  # kernels without program ids (see xplane.xla): every differentiating program
        out = {pid for pid, (_, blob) in capture.programs.items() if b"jvp(" in blob}
    return out


@dataclasses.dataclass
class _Structure:
    """Per layer, from the HLO of the train programs: forward instructions by primitive,
    how many train programs contain the layer (compilations), host callbacks."""

    op_types: Dict[str, Dict[str, int]]
    programs: Dict[str, int]


def _structure(capture: XlaEvents, main: set, resolve: Resolver) -> _Structure:
    op_types: Dict[str, Dict[str, int]] = {}
    programs: Dict[str, int] = {}
    # Every compiled train program counts (those of earlier windows too): each is a trace.
    train = [pid for pid, (name, blob) in capture.programs.items() if pid in main or b"jvp(" in blob]
    for pid in train:
        mod = _program_sources(capture.programs[pid][1])[1]
        if mod is None:
            continue
        seen = set()
        for op_name, n in jax_sources.instruction_count(mod).items():
            kind, path, phase = resolve(op_name)
            if kind != "layer":
                continue
            seen.add(path)
            if pid in main and phase == FORWARD:
                prim = split_op_name(op_name.split(";", 1)[0])[1]
                types = op_types.setdefault(path, {})
                types[prim] = types.get(prim, 0) + n
        for path in seen:
            programs[path] = programs.get(path, 0) + 1
    # Several window programs (e.g. a partial last batch) each hold the layer's ops once.
    n_main = max(1, len(main))
    for types in op_types.values():
        for prim in types:
            types[prim] = -(-types[prim] // n_main)
    return _Structure(op_types=op_types, programs=programs)


def _layer_stats(layers: Sequence[LayerInfo], accs: Dict[str, _Acc], per_step: float,
                 structure: _Structure) -> List[LayerStats]:
    out: Dict[str, LayerStats] = {}
    for info in layers:
        acc = accs[info.path]
        types = structure.op_types.get(info.path, {})
        stats = LayerStats(
            path=info.path, class_name=info.class_name, custom=info.custom, parent=info.parent,
            param_bytes=info.param_bytes, calls=info.calls,
            self_forward_us=acc.fwd_ps / _PS_PER_US / per_step,
            self_backward_us=acc.bwd_ps / _PS_PER_US / per_step,
            forward_op_events=acc.fwd_events / per_step, backward_op_events=acc.bwd_events / per_step,
            self_ops_per_call=sum(types.values()) // max(1, info.calls), op_types=dict(types),
            trace_count=structure.programs.get(info.path, 0),
        )
        stats.top_ops = [{"name": name, "type": "hlo", "phase": phase, "us": round(ps / _PS_PER_US / per_step, 3)}
                         for (name, phase), ps in sorted(acc.ops.items(), key=lambda kv: -kv[1])[:5]]
        out[info.path] = stats
    _totals(out)
    return list(out.values())


def _totals(stats: Dict[str, LayerStats]) -> None:
    """forward_us/backward_us/ops_per_call including sublayers (each layer adds itself to
    all its ancestors; parents missing from the map end the walk)."""
    for s in stats.values():
        s.forward_us, s.backward_us, s.ops_per_call = s.self_forward_us, s.self_backward_us, s.self_ops_per_call
    for s in stats.values():
        parent, hops = s.parent, 0
        while parent in stats and hops < 64:
            p = stats[parent]
            p.forward_us += s.self_forward_us
            p.backward_us += s.self_backward_us
            p.ops_per_call += s.self_ops_per_call
            parent, hops = p.parent, hops + 1
    for s in stats.values():
        s.forward_device_us, s.backward_device_us = s.forward_us, s.backward_us


def _jax_hints(window: WindowReport) -> None:
    """JAX wording for the shared rules, and the JAX-only host-callback rule."""
    for layer in window.layers:
        for h in layer.hints:
            if h.code == "python-loop":
                n = h.evidence.get("ops_per_call", layer.self_ops_per_call)
                listing = ", ".join(f"{t} ×{c}" for t, c in sorted(
                    h.evidence.get("repeated_op_types", {}).items(), key=lambda kv: -kv[1]))
                h.message = (
                    f"`call` becomes {n} HLO instructions per call, mostly repeats ({listing}): "
                    "a Python loop is unrolled into the jitted program at trace time. Replace "
                    "it with one vectorized op on the whole tensor (keras.ops on the full "
                    "array, jax.vmap, or keras.ops.vectorized_map / jax.lax.scan).")
            elif h.code == "retracing":
                h.message = (f"compiled into {layer.trace_count} train programs: each new input "
                             "shape or Python argument makes jax.jit trace and compile again; "
                             "pad/bucket shapes or pass arrays instead of Python values.")
        found = {p: n for p, n in layer.op_types.items() if p in HOST_CALLBACK_PRIMITIVES}
        if found:
            layer.hints.append(Hint(
                code="host-round-trip",
                message=("calls back into Python from the jitted program (jax.pure_callback / "
                         "io_callback / debug.callback): every step stops XLA, holds the GIL and "
                         "copies arrays through the host. Express it with keras.ops / jax.numpy."),
                evidence={"primitives": found}))
