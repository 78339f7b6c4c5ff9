"""The ledger of one window: profile events + layer map -> per-layer figures and spans.

Every op event and allocation of the window's steps gets one owner (`tb_layerprof.owners`
says whose); this module books their time and bytes per owner, on the host and the device
clock, and aggregates the books into per-layer figures (self and total), the layers'
spans per step, the window's coverage and warnings.

`attribute_window` runs the stages in order:

1. `_select_steps`: the window's steps and the records that fall inside them;
2. the owners: `OwnerIndex` (graph mode) and `EagerSpans` (eager mode);
3. `_host_ledger`, `_device_ledger`: op time per owner on each clock (`Clocks`);
4. `_book_memory`: allocations per owner (`tb_layerprof.memory`);
5. `_layer_rows` then `_add_totals`: one `LayerStats` per layer, self then total figures;
6. `_layer_spans`, `_window_report`, `_add_window_warnings`: the report and its spans.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from tb_layerprof.eager import EagerSpans, eager_spans
from tb_layerprof.gcpause import no_cyclic_gc
from tb_layerprof.ledger import Clocks, Ledger, busy_fields, device_ledger, host_ledger, layer_busy
from tb_layerprof.layermap import CallRecord, LayerInfo, LayerMap
from tb_layerprof.memory import MemoryFigures, executed_batch, memory_figures
from tb_layerprof.owners import (  # noqa: F401  owner names re-exported for callers
    BACKWARD, CATEGORY_KEYS, FORWARD, FRAMEWORK, INPUT, UNATTRIBUTED, GraphTables,
    Owner, OwnerIndex, choose_active_graph, graph_roots,
)
from tb_layerprof.report import OTHER_KEYS, LayerStats, WindowReport
from tb_layerprof.work_ledger import book_work
from tb_layerprof.xplane import ProfileEvents
from tb_layerprof.xplane.tables import MemoryTable, OpTable

TOP_OPS = 5
TIMELINE_MAX_SPANS = 5000
COVERAGE_MAX_UNATTRIBUTED = 0.02  # of op time, before the report warns
COVERAGE_MAX_FRAMEWORK = 0.03
UNOWNED_LISTED = 10



@dataclasses.dataclass
class LayerSpan:
    """From a layer's first to its last op of one phase in one step (picoseconds)."""

    path: str
    phase: str  # FORWARD or BACKWARD
    step: int
    start_ps: int
    end_ps: int
    device: str = ""  # "" for host ops, else the device plane ("/device:GPU:0")
    busy: List[Tuple[int, int]] = dataclasses.field(default_factory=list)  # where its ops ran, merged
    self_busy: List[Tuple[int, int]] = dataclasses.field(default_factory=list)  # its own, no sublayers


class Attributed(NamedTuple):
    """What attribution gives: the window's figures (no hints yet) and every layer's span
    per step and phase (for the trace viewer's "Keras Layers" line)."""

    window: WindowReport
    spans: List[LayerSpan]
    # layer -> own (forward, gradient) µs per step with each op at its median run, for
    # the diagnosis' timing ratios; None where runs are not grouped by op (eager, kernels)
    typical: Optional[Dict[str, Tuple[float, float]]] = None


def attribute(events: ProfileEvents, layer_map: LayerMap, graphs: GraphTables,
              mode: str = "graph", batches: int = 0) -> WindowReport:
    """Per-layer figures (no hints yet) of the window captured in `events`."""
    return attribute_window(events, layer_map, graphs, mode=mode, batches=batches).window


def attribute_window(events: ProfileEvents, layer_map: LayerMap, graphs: GraphTables,
                     mode: str = "graph", batches: int = 0) -> Attributed:
    """Per-layer figures of the window captured in `events`, and the layers' spans.

    `batches` is how many batches the window ran: with steps_per_execution > 1 one
    profiled step (one execution) runs several, and every figure becomes per batch.
    """
    with no_cyclic_gc():
        return _attribute_window(events, layer_map, graphs, mode, batches)


def _attribute_window(events: ProfileEvents, layer_map: LayerMap, graphs: GraphTables,
                      mode: str, batches: int) -> Attributed:
    steps = _select_steps(events, batches)
    active = choose_active_graph(graphs, steps.ops.name_set(), graph_roots(layer_map))
    index = OwnerIndex(layer_map, graphs, active)
    eager = eager_spans(events.spans, steps.ends[-1] if steps.ends else None)
    clocks = Clocks(
        host_ledger(steps.ops, steps.op_step, index, eager, mode == "eager", events.input_lines),
        device_ledger(events, index, steps.starts, steps.ends))
    memory = _book_memory(steps, index, eager)
    rows = _RowInputs(steps, clocks, memory, index, mode == "eager", layer_map, active)
    layers, own = _layer_rows(layer_map, rows)
    _add_totals(layers, own)
    spans = _layer_spans(clocks, steps, layers)
    # The model row only when it owns ops of its own (subclassed models' call bodies).
    for p in [p for p, i in layer_map.layers.items() if i.is_model]:
        s = layers[p]
        if s.self_forward_us == 0 and s.self_backward_us == 0 and s.forward_alloc_bytes == 0:
            del layers[p]
    window = _window_report(events, steps, clocks, memory, layers, spans, mode)
    _add_window_warnings(window, events, steps, clocks, index, layers, mode)
    book_work(window, layers, clocks.main.per_op, steps, graphs, active, rows.batch,
              steps.n_steps, mode, events)
    return Attributed(window, [sp for sp in spans if sp.path in layers], _typical(clocks.main, steps, layers))


def _typical(ledger: Ledger, steps: _Steps, layers: Dict[str, LayerStats]
             ) -> Optional[Dict[str, Tuple[float, float]]]:
    if ledger.typical_time is None:
        return None
    t = ledger.typical_time
    return {p: (steps.us(t.get((p, FORWARD), 0)), steps.us(t.get((p, BACKWARD), 0))) for p in layers}


# -- 1. the window's steps -------------------------------------------------------------------


@dataclasses.dataclass
class _Steps:
    """The window's steps (step_num, start_ps, end_ps), sorted by start, and the op and
    memory records that fall inside them (all records when the capture has no steps)."""

    steps: List[Tuple[int, int, int]]
    starts: List[int]
    ends: List[int]
    per_step_batches: float  # batches each profiled step ran (steps_per_execution)
    n_steps: float  # batches in the window: the divisor of every per-step figure
    ops: OpTable
    op_step: np.ndarray  # per op record: index of its step
    memory: MemoryTable

    def us(self, ps: float) -> float:
        """Picoseconds in total -> µs per step (per batch)."""
        return ps / 1e6 / self.n_steps


def _select_steps(events: ProfileEvents, batches: int) -> _Steps:
    steps = sorted(events.steps, key=lambda s: s[1])
    per_step_batches = batches / len(steps) if steps and batches > len(steps) else 1.0
    starts = [s[1] for s in steps]
    ends = [s[2] for s in steps]
    ops, memory = OpTable.from_records(events.ops), MemoryTable.from_records(events.memory)
    if steps:
        # Records are sorted by time: one slice per step instead of a search per event.
        at, op_step = _in_steps(ops.start, ops.base_ps, starts, ends)
        ops = ops.take(at)
        memory = memory.take(_in_steps(memory.time, memory.base_ps, starts, ends)[0])
    else:
        op_step = np.zeros(len(ops), np.int64)
    return _Steps(steps, starts, ends, per_step_batches, max(1, len(steps)) * per_step_batches,
                  ops, op_step, memory)


def _in_steps(times: np.ndarray, base_ps: int, starts: List[int], ends: List[int]):
    """Indices of the (sorted) `times` that fall inside a step, and the step of each."""
    lo = np.searchsorted(times, [s - base_ps for s in starts], side="left")
    hi = np.searchsorted(times, [e - base_ps for e in ends], side="right")
    hi = np.maximum(hi, lo)
    at = np.concatenate([np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist())] or [np.zeros(0, np.int64)])
    step = np.repeat(np.arange(len(starts)), hi - lo)
    return at.astype(np.int64), step


# -- 3. op time per owner: tb_layerprof.ledger -----------------------------------------------


# -- 4. bytes per owner ----------------------------------------------------------------------


def _book_memory(steps: _Steps, index: OwnerIndex, eager: EagerSpans) -> MemoryFigures:
    def mem_owner(t: int, tf_op: str) -> Owner:
        if tf_op:
            return index.owner(tf_op)
        # Eager allocations carry no op name: the innermost span around them owns them.
        return eager.owner_at(None, t, t) or (UNATTRIBUTED, "")

    return memory_figures(steps.memory, mem_owner, steps.ops)


# -- 5. per-layer figures --------------------------------------------------------------------


class _OwnFigures(NamedTuple):
    """A layer's self figures that LayerStats keeps only as totals (µs per step)."""

    peak_live_bytes: int
    host_forward_us: float
    host_backward_us: float
    device_forward_us: float
    device_backward_us: float


class _OpTime(NamedTuple):
    """One op's time in a layer (sorted as a tuple: largest time first, for top ops)."""

    ps: float
    name: str
    type: str
    phase: str


class _RowInputs:
    """What the per-layer rows read, worked out once per window."""

    def __init__(self, steps: _Steps, clocks: Clocks, memory: MemoryFigures,
                 index: OwnerIndex, eager_calls: bool, layer_map: LayerMap,
                 active: Optional[int]):
        self.steps, self.clocks, self.memory, self.index = steps, clocks, memory, index
        self.eager_calls = eager_calls
        # Calls, op counts and output sizes from the active step's call records (its loop
        # bodies included).
        self.calls_by_path: Dict[str, List[CallRecord]] = collections.defaultdict(list)
        for c in layer_map.calls:
            if c.root == active or (active is None and c.graph_id == 0):
                self.calls_by_path[c.path].append(c)
        self.traces = trace_counts(layer_map)
        self.batch = executed_batch(layer_map.calls, active, steps.memory, index)
        self.ops_by_path: Dict[str, List[_OpTime]] = collections.defaultdict(list)
        for (owner, name, op_type), t in clocks.main.per_op.items():
            self.ops_by_path[owner[0]].append(_OpTime(t, name, op_type, owner[1]))
        self.replicas_of: Dict[str, List[int]] = collections.defaultdict(list)
        for (owner, replica) in sorted(clocks.host.replica_time, key=lambda k: k[1]):
            if replica not in self.replicas_of[owner[0]]:
                self.replicas_of[owner[0]].append(replica)


def _layer_rows(layer_map: LayerMap,
                rows: _RowInputs) -> Tuple[Dict[str, LayerStats], Dict[str, _OwnFigures]]:
    layers: Dict[str, LayerStats] = {}
    own: Dict[str, _OwnFigures] = {}
    us, host, device = rows.steps.us, rows.clocks.host, rows.clocks.device
    for path, info in layer_map.layers.items():
        f, b = (path, FORWARD), (path, BACKWARD)
        layers[path] = _layer_row(path, info, rows)
        own[path] = _OwnFigures(
            rows.memory.peak_live.get(path, 0),
            us(host.self_time.get(f, 0)), us(host.self_time.get(b, 0)),
            us(device.self_time.get(f, 0)), us(device.self_time.get(b, 0)),
        )
    return layers, own


def _layer_row(path: str, info: LayerInfo, rows: _RowInputs) -> LayerStats:
    """One layer's self figures, per step."""
    f, b = (path, FORWARD), (path, BACKWARD)
    steps, main, host, memory = rows.steps, rows.clocks.main, rows.clocks.host, rows.memory
    us, n_steps = steps.us, steps.n_steps
    calls = rows.calls_by_path.get(path, [])
    n_calls = len(calls)
    if rows.eager_calls:
        n_calls = int(round(n_calls / n_steps)) if calls else 0
        created = 0
    else:
        created = sum(c.op_end - c.op_start for c in calls)
    stats = LayerStats(
        path=path, class_name=info.class_name, custom=info.custom, parent=info.parent,
        self_forward_us=us(main.self_time.get(f, 0)),
        self_backward_us=us(main.self_time.get(b, 0)),
        self_forward_alloc_bytes=int(memory.alloc_bytes.get(f, 0) / n_steps),
        self_backward_alloc_bytes=int(memory.alloc_bytes.get(b, 0) / n_steps),
        self_kept_alloc_bytes=int((memory.kept_bytes.get(f, 0) + memory.kept_bytes.get(b, 0)) / n_steps),
        param_bytes=info.param_bytes,
        calls=n_calls,
        ops_per_call=int(round(created / n_calls)) if n_calls and created else 0,
        trace_count=rows.traces.get(path, 0),
        output_elements=int(sum(c.output_elements for c in calls) / len(calls)) if calls else 0,
        forward_op_events=host.op_events.get(f, 0) / n_steps,
        backward_op_events=host.op_events.get(b, 0) / n_steps,
    )
    _add_sizes(stats, calls, n_calls, rows.batch)
    _add_op_types(stats, rows, n_calls)
    replicas = rows.replicas_of.get(path, ())
    if len(replicas) > 1 and not rows.clocks.on_device:
        stats.replicas = [
            {"replica": r, "self_forward_us": round(us(host.replica_time.get((f, r), 0)), 3),
             "self_backward_us": round(us(host.replica_time.get((b, r), 0)), 3)}
            for r in replicas
        ]
    ops_here = sorted(rows.ops_by_path.get(path, ()), reverse=True)[:TOP_OPS]
    stats.top_ops = [{"name": op.name, "type": op.type, "phase": op.phase, "us": round(us(op.ps), 3)}
                     for op in ops_here]
    return stats


def _add_sizes(stats: LayerStats, calls: Sequence[CallRecord], n_calls: int, batch: int) -> None:
    """Output and input bytes per step. Static sizes count an unknown (batch) dimension as
    1: scale those by the batch size the executed allocations show."""
    if not calls:
        stats.output_bytes = stats.input_bytes = 0
        return
    scale = [batch if c.batch_unknown and batch else 1 for c in calls]
    stats.output_bytes = int(sum(c.output_bytes * k for c, k in zip(calls, scale)) / len(calls) * n_calls)
    stats.input_bytes = int(sum(c.input_bytes * k for c, k in zip(calls, scale)) / len(calls) * n_calls)


def _add_op_types(stats: LayerStats, rows: _RowInputs, n_calls: int) -> None:
    """Op types per call: those each call created (graph), or executed (eager: no graph)."""
    types = rows.index.self_ops.get(stats.path, collections.Counter())
    if rows.eager_calls:
        types = collections.Counter(
            {t: c / rows.steps.n_steps
             for t, c in rows.clocks.host.executed_types.get(stats.path, {}).items()}
        )
        stats.ops_per_call = int(round(sum(types.values()) / n_calls)) if n_calls else 0
    if n_calls:
        stats.self_ops_per_call = int(round(sum(types.values()) / n_calls))
        # Every type (rules read complete data; views show the first few).
        stats.op_types = {t: int(round(c / n_calls)) for t, c in types.most_common()}


def _add_totals(layers: Dict[str, LayerStats], own: Dict[str, _OwnFigures]) -> None:
    """Totals include sublayers: add each layer's self figures to itself and its ancestors."""
    for s in layers.values():
        o = own[s.path]
        for lyr in _self_and_ancestors(s, layers):
            lyr.forward_us += s.self_forward_us
            lyr.backward_us += s.self_backward_us
            lyr.forward_alloc_bytes += s.self_forward_alloc_bytes
            lyr.backward_alloc_bytes += s.self_backward_alloc_bytes
            lyr.peak_live_bytes += o.peak_live_bytes
            lyr.forward_host_us += o.host_forward_us
            lyr.backward_host_us += o.host_backward_us
            lyr.forward_device_us += o.device_forward_us
            lyr.backward_device_us += o.device_backward_us


def _self_and_ancestors(layer: LayerStats, layers: Dict[str, LayerStats]):
    yield layer
    parent = layer.parent
    while parent is not None and parent in layers:
        yield layers[parent]
        parent = layers[parent].parent


def trace_counts(layer_map: LayerMap) -> Dict[str, int]:
    """Per layer, how many different traces of the step it took part in.

    A trace is counted once per distinct set of call signatures (input shapes, Python
    arguments): the variable-creating first trace of a tf.function, the profiler's own
    retrace, a second `fit`, the evaluation function and loop bodies (counted with the step
    they belong to) repeat a signature and are not retraces; a new input shape or Python
    value is.
    """
    per_root: Dict[Tuple[str, int], List[str]] = collections.defaultdict(list)
    for c in layer_map.calls:
        if c.graph_id:
            per_root[(c.path, c.root)].append(c.signature)
    distinct: Dict[str, set] = collections.defaultdict(set)
    for (path, _), sigs in per_root.items():
        distinct[path].add(tuple(sorted(set(sigs))))
    return {path: len(v) for path, v in distinct.items()}


# -- 6. spans, the report and its warnings ---------------------------------------------------


def _layer_spans(clocks: Clocks, steps: _Steps, layers: Dict[str, LayerStats]) -> List[LayerSpan]:
    """Every layer's span per step, phase and device, ancestors widened over sublayers."""
    extent = {**clocks.host.extent, **clocks.device.extent}
    _nest_extents(extent, layers)
    spans = [
        LayerSpan(path, phase, steps.steps[k][0] if steps.steps else 0, s0, e0, dev)
        for (path, phase, k, dev), (s0, e0) in extent.items()
        if path in layers
    ]
    spans.sort(key=lambda sp: (sp.start_ps, -sp.end_ps))
    return spans


def _nest_extents(extent: Dict[Tuple[str, str, int, str], List[int]],
                  layers: Dict[str, LayerStats]) -> None:
    """Widen every ancestor's span to cover its sublayers' (they nest in the trace viewer)."""
    for (path, phase, k, device), (s0, e0) in list(extent.items()):
        parent = layers[path].parent if path in layers else None
        while parent is not None and parent in layers:
            span = extent.setdefault((parent, phase, k, device), [s0, e0])
            span[0], span[1] = min(span[0], s0), max(span[1], e0)
            parent = layers[parent].parent


def _window_report(events: ProfileEvents, steps: _Steps, clocks: Clocks, memory: MemoryFigures,
                   layers: Dict[str, LayerStats], spans: List[LayerSpan], mode: str) -> WindowReport:
    us, main, marks = steps.us, clocks.main, steps.steps
    other = {k: 0.0 for k in OTHER_KEYS}
    for owner, t in main.self_time.items():
        if owner[0] in CATEGORY_KEYS:
            other[owner[0]] += us(t)
        elif owner[0] not in layers:
            # a layer we dropped (an empty model row) or do not know: no owner
            other[UNATTRIBUTED] += us(t)
    step_time = (sum(e - s for _, s, e in marks) / len(marks) / 1e6 / steps.per_step_batches) if marks else 0.0
    return WindowReport(
        step=marks[0][0] if marks else 0,
        steps=len(marks),
        host=events.host,
        step_time_us=step_time,
        layers=sorted(layers.values(), key=lambda s: -(s.forward_us + s.backward_us)),
        other=other,
        op_time_us=us(main.total_ps),
        host_op_time_us=us(clocks.host.total_ps),
        device_op_time_us=us(clocks.device.total_ps),
        clock="device" if clocks.on_device else "host",
        memory_allocators=memory.allocators,
        mode=mode,
        memory_available=bool(events.memory),
        timeline=_timeline(spans, marks, layers, clocks.host.busy),
    )


def _timeline(spans: List[LayerSpan], steps, layers: Dict[str, LayerStats],
              busy: Dict[Tuple[str, str], List[Tuple[int, int]]]) -> Dict[str, object]:
    """The last profiled step's layer spans, relative to the step start, for the tab: each
    from the layer's first to its last op, with `busy`, the intervals where its ops (its
    sublayers' included) really ran, and their total `busy_us`."""
    if not spans:
        return {}
    step = steps[-1][0] if steps else spans[-1].step
    t0 = steps[-1][1] if steps else min(sp.start_ps for sp in spans if sp.step == step)
    picked = [sp for sp in spans if sp.step == step and sp.path in layers and not sp.device]
    picked = picked[:TIMELINE_MAX_SPANS]
    ran = layer_busy(busy, {path: stats.parent for path, stats in layers.items()})

    def rel(t: int) -> float:
        return round((t - t0) / 1e6, 3)

    out = [{"path": sp.path, "phase": sp.phase, "start_us": rel(sp.start_ps), "end_us": rel(sp.end_ps),
            **busy_fields(ran.get((sp.path, sp.phase), []), t0, busy.get((sp.path, sp.phase), []))}
           for sp in picked]
    return {
        "step": step,
        "step_time_us": round((steps[-1][2] - steps[-1][1]) / 1e6, 3) if steps else 0.0,
        "spans": out,
    }


def _add_window_warnings(window: WindowReport, events: ProfileEvents, steps: _Steps,
                         clocks: Clocks, index: OwnerIndex, layers: Dict[str, LayerStats],
                         mode: str) -> None:
    us = steps.us
    split_ps = 0
    for op_names, ps in events.xla_splits:
        owners = {index.owner(n)[0] for n in op_names}
        if len(owners & set(layers)) > 1:
            split_ps += ps
    window.xla_split_us = us(split_ps)
    window.batches_per_step = steps.per_step_batches
    if steps.per_step_batches > 1:
        window.warnings.append(
            f"steps_per_execution: each profiled step ran {steps.per_step_batches:g} batches; every "
            "time and byte figure here is per batch (step time included)"
        )
    _coverage(window, clocks.main.per_op, us, index)
    if split_ps:
        window.warnings.append(
            f"XLA fused ops of several layers into single kernels ({us(split_ps):.1f} µs per "
            "step); their time is split between those layers by each layer's share of the "
            "fused instructions"
        )
    if mode == "xla" and not events.hlo_ops:
        window.warnings.append(
            "the train step is XLA-compiled but the profile holds no HLO protos, so XLA ops "
            "could not be traced back to layers; they are reported as unattributed"
        )
    if not events.memory:
        window.warnings.append(
            "no memory events in this profile: import tb_layerprof before TensorFlow creates "
            "its first tensor (it sets TF_CPU_ALLOCATOR_USE_BFC=true), or set that variable"
        )


def _coverage(window: WindowReport, per_op, us, index: OwnerIndex) -> None:
    """Coverage figures of a window: the share of op time that has an owner (a layer or a
    named category), the largest ops without a layer, warnings past the thresholds, and
    how much fused-kernel time crossed a layer boundary."""
    op = window.op_time_us
    unattributed = window.other.get(UNATTRIBUTED, 0.0)
    window.coverage = round(1.0 - unattributed / op, 4) if op > 0 else 1.0
    unowned = sorted(((t, name, op_type, owner[0]) for (owner, name, op_type), t in per_op.items()
                      if owner[0] in (UNATTRIBUTED, FRAMEWORK)), reverse=True)[:UNOWNED_LISTED]
    window.unowned_ops = [{"name": name, "type": op_type, "category": cat, "us": round(us(t), 3)}
                          for t, name, op_type, cat in unowned]
    for key, limit, what in ((UNATTRIBUTED, COVERAGE_MAX_UNATTRIBUTED, "has no owner"),
                             (FRAMEWORK, COVERAGE_MAX_FRAMEWORK, "is framework work (Keras' loop, "
                                                                 "TensorFlow plumbing)")):
        share = window.other.get(key, 0.0) / op if op > 0 else 0.0
        if share > limit:
            names = ", ".join(f"{o['name']} ({o['type']})" for o in window.unowned_ops
                              if o["category"] == key)[:300]
            window.warnings.append(f"{share:.1%} of op time {what}; largest: {names}")
    fused = sum(t for (owner, name, _), t in per_op.items() if name in index.fused_across)
    window.fused_across_us = us(fused)
    if fused:
        window.warnings.append(
            f"Grappler fused a matmul/convolution with the next layer's ops into one kernel "
            f"({us(fused):.1f} µs per step); its time is charged to the layer of the "
            "matmul/convolution"
        )
