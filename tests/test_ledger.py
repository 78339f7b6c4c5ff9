"""The window's books: op time per owner with the layers' busy intervals (`ledger`), and
the allocator replay (`memory`), against their definitions."""

from __future__ import annotations

import collections
import random

import pytest

from tb_layerprof import attribution, memory, xplane
from tb_layerprof.layermap import CallRecord, LayerInfo, LayerMap
from tb_layerprof.ledger import coarsen, layer_busy, merge_intervals
from tests.xspace_builder import XSpaceBuilder

US = 1_000_000  # ps per µs

# A step where inter-op parallelism interleaves layers: `head`'s two small ops run at the
# step's start and end (on two threads), `body`'s one large op in between.
GRAPH = [
    ("IteratorGetNext", "IteratorGetNext", []),
    ("m/head_1/MatMul", "MatMul", ["IteratorGetNext"]),
    ("m/block_1/body_1/MatMul", "MatMul", ["m/head_1/MatMul"]),
    ("m/block_1/Relu", "Relu", ["m/block_1/body_1/MatMul"]),
    ("m/head_1/BiasAdd", "BiasAdd", ["m/block_1/Relu"]),
]
OPS = [  # (thread, name, start µs, duration µs) of one step
    ("tf_Compute/1", "m/head_1/MatMul", 10, 10),
    ("tf_Compute/2", "m/block_1/body_1/MatMul", 30, 4000),
    ("tf_Compute/2", "m/block_1/Relu", 4100, 100),
    ("tf_Compute/1", "m/head_1/BiasAdd", 5000, 10),
]


def _layer_map() -> LayerMap:
    lm = LayerMap(model_name="m")
    for info in [LayerInfo("m", "Functional", is_model=True), LayerInfo("head", "Dense"),
                 LayerInfo("block", "Block", custom=True),
                 LayerInfo("block/body", "Dense", parent="block")]:
        lm.layers[info.path] = info
    for path, scope, a, b in [("m", "m", 1, 5), ("head", "m/head_1", 1, 2),
                              ("block", "m/block_1", 2, 4), ("block/body", "m/block_1/body_1", 2, 3),
                              ("head", "m/head_1", 4, 5)]:
        lm.calls.append(CallRecord(path, 1, scope, a, b))
    return lm


@pytest.fixture
def timeline(tmp_path):
    b = XSpaceBuilder(host="w")
    plane = b.plane("/host:CPU")
    py = plane.line("python")
    lines = {name: plane.line(name) for name in ("tf_Compute/1", "tf_Compute/2")}
    types = {name: op_type for name, op_type, _ in GRAPH}
    for i, step in enumerate((4, 5)):
        t0 = i * 6000 * US
        py.event("train", t0, 6000 * US, step_num=step, _r=1)
        for thread, name, start, dur in OPS:
            lines[thread].op(name, types[name], t0 + start * US, dur * US)
    events = xplane.read_profile(b.write(str(tmp_path / "w.xplane.pb")))
    return attribution.attribute(events, _layer_map(), {1: GRAPH}).timeline


def test_timeline_bars_are_where_a_layers_ops_ran_not_first_to_last(timeline):
    spans = {(sp["path"], sp["phase"]): sp for sp in timeline["spans"]}
    head, body = spans[("head", "forward")], spans[("block/body", "forward")]
    # head's first-to-last extent is the longest of the step, yet it ran for 20 µs
    assert head["end_us"] - head["start_us"] == pytest.approx(5000)
    assert head["busy"] == [[10, 20], [5000, 5010]]
    assert head["busy_us"] == pytest.approx(20)
    assert body["busy"] == [[30, 4030]] and body["busy_us"] == pytest.approx(4000)
    longest = max(spans.values(), key=lambda sp: sp.get("busy_us", 0))
    assert longest["path"] in ("block", "block/body")  # the layer with the most work
    # a block ran while its sublayer did: its own ReLU and body's MatMul, merged
    assert spans[("block", "forward")]["busy"] == [[30, 4030], [4100, 4200]]
    # ...of which its own ops (shaded in the tab): the ReLU
    assert spans[("block", "forward")]["self_busy"] == [[4100, 4200]]
    assert spans[("block", "forward")]["self_busy_us"] == pytest.approx(100)
    assert "self_busy" not in head and "self_busy" not in body  # no sublayers: all their own
    assert timeline["step"] == 5


def test_merge_and_coarsen_intervals():
    assert merge_intervals([(5, 6), (0, 2), (1, 3), (3, 4)]) == [(0, 4), (5, 6)]
    runs = [(i * 10, i * 10 + 1 + (i % 3)) for i in range(100)]
    few = coarsen(runs, 8)
    assert len(few) <= 8 and few[0][0] == 0 and few[-1][1] == runs[-1][1]
    assert all(a[1] < b[0] for a, b in zip(few, few[1:]))
    assert coarsen(runs[:5], 8) == runs[:5]


def test_sublayer_intervals_fold_into_every_ancestor():
    busy = {("a/b/c", "forward"): [(0, 1)], ("a", "forward"): [(5, 6)], ("x", "backward"): [(2, 3)]}
    folded = layer_busy(busy, {"a": None, "a/b": "a", "a/b/c": "a/b", "x": None})
    assert folded[("a", "forward")] == [(0, 1), (5, 6)]
    assert folded[("a/b", "forward")] == [(0, 1)]
    assert folded[("x", "backward")] == [(2, 3)]


# -- the allocator replay against its definition: a map of live addresses ----------------


def _reference(trace, owner_of, op_runs):
    """The replay as defined: allocations enter a map by address, a free removes its
    address; bytes outlive their op when freed after it ended (or never)."""
    alloc, kept, peak_live = collections.Counter(), collections.Counter(), collections.Counter()
    live, in_use, peak, peak_at = {}, 0, 0, -1

    def op_end(name, t):
        ends = [e for s, e in op_runs.get(name, []) if s <= t]
        return ends[-1] if ends and ends[-1] >= t else None

    for i, (t, sign, nbytes, addr, tf_op, _) in enumerate(trace):
        if sign > 0:
            alloc[owner_of(tf_op)] += nbytes
            live[addr] = (owner_of(tf_op), nbytes, t, tf_op)
            in_use += nbytes
            if in_use > peak:
                peak, peak_at = in_use, i
        elif addr in live:
            owner, nb, t0, op = live.pop(addr)
            in_use -= nb
            end = op_end(op, t0) if op else None
            if end is None or t > end:
                kept[owner] += nb
    for owner, nb, _, _ in live.values():
        kept[owner] += nb
    at_peak = {}
    for t, sign, nbytes, addr, tf_op, _ in trace[: peak_at + 1]:
        if sign > 0:
            at_peak[addr] = (owner_of(tf_op), nbytes)
        else:
            at_peak.pop(addr, None)
    for owner, nb in at_peak.values():
        peak_live[owner[0]] += nb
    return alloc, kept, peak_live


@pytest.mark.parametrize("seed", range(12))
def test_allocator_replay_matches_its_definition(seed):
    rng = random.Random(seed)
    names = ["", "a/MatMul", "a/Relu", "b/Mul", "b/AddN", "gradient_tape/b/Mul"]
    owners = {n: ((n.split("/")[-2] if "/" in n else "?"), "forward" if n else "") for n in names}
    base = 1_800_000_000_000_000_000_000  # ps since the epoch: past int64, as in real captures
    ops, t = [], base
    for _ in range(60):
        name = rng.choice(names[1:])
        dur = rng.randint(0, 50)
        ops.append((1, t, t + dur, dur, name, "X"))
        t += rng.randint(0, 40)
    ops.sort(key=lambda o: o[1])
    runs = collections.defaultdict(list)
    for _, s, e, _, name, _ in ops:
        runs[name].append((s, e))
    trace, t, addrs = [], base, [rng.randint(1, 6) * 256 for _ in range(4)]
    for _ in range(rng.randint(0, 300)):
        t += rng.choice([0, 1, 7, 30])
        sign = 1 if rng.random() < 0.55 else -1  # frees of unknown addresses, double allocations
        trace.append((t, sign, rng.choice([0, 16, 4096, 65536]), rng.choice(addrs),
                      rng.choice(names), "bfc"))
    want = _reference(trace, owners.__getitem__, runs)
    got = memory.memory_figures(trace, lambda _t, n: owners[n], ops)
    assert (dict(got.alloc_bytes), dict(got.kept_bytes), dict(got.peak_live)) == tuple(
        {k: v for k, v in c.items() if v} for c in want)
    assert got.allocators == (["bfc"] if trace else [])


def test_stored_busy_intervals_are_checked_and_bad_ones_dropped():
    from tb_layerprof.report import WindowReport
    good = {"path": "a", "phase": "forward", "start_us": 0, "end_us": 10, "busy": [[0, 2], [5, 10]],
            "busy_us": 7}
    bad = [{**good, "path": "b", "busy": [[0, 2], [1, 3]]},  # overlapping
           {**good, "path": "c", "busy": [[0, 20]]},  # outside the span
           {**good, "path": "d", "busy": [["x", 1]]},
           {**good, "path": "e", "busy": "nope"}]
    bad.append({**good, "path": "f", "self_busy": [[0, 2]], "busy": None})  # own without busy
    good = {**good, "self_busy": [[5, 6]], "self_busy_us": 1}
    window = WindowReport.from_json({"step": 1, "steps": 1, "timeline": {"step": 1, "spans": [good] + bad}})
    spans = {sp["path"]: sp for sp in window.timeline["spans"]}
    assert spans["a"]["busy"] == [[0, 2], [5, 10]] and spans["a"]["busy_us"] == 7
    assert spans["a"]["self_busy"] == [[5, 6]] and spans["a"]["self_busy_us"] == 1
    for path in "bcdef":  # kept, drawn first to last
        assert not {"busy", "busy_us", "self_busy", "self_busy_us"} & set(spans[path]), spans[path]


def test_typical_time_takes_each_op_at_its_median_run(tmp_path):
    """Graph mode: an op does the same work every step, so the typical figures take each
    op at its median run: one stalled run of the head's 10 µs MatMul (preempted for 4 ms)
    moves its mean, not its typical step. Even run counts take the middle pair's mean."""
    b = XSpaceBuilder(host="w")
    plane = b.plane("/host:CPU")
    py = plane.line("python")
    lines = {name: plane.line(name) for name in ("tf_Compute/1", "tf_Compute/2")}
    types = {name: op_type for name, op_type, _ in GRAPH}
    head_matmul = [10, 12, 4010, 14]  # µs, one run per step; median 13
    for i, step in enumerate((4, 5, 6, 7)):
        t0 = i * 10_000 * US
        py.event("train", t0, 10_000 * US, step_num=step, _r=1)
        for thread, name, start, dur in OPS:
            if name == "m/head_1/MatMul":
                dur = head_matmul[i]
            lines[thread].op(name, types[name], t0 + start * US, dur * US)
    events = xplane.read_profile(b.write(str(tmp_path / "w.xplane.pb")))
    result = attribution.attribute_window(events, _layer_map(), {1: GRAPH})
    head = next(x for x in result.window.layers if x.path == "head")
    assert head.self_forward_us == pytest.approx(sum(head_matmul) / 4 + 10)  # + its BiasAdd
    assert result.typical["head"] == pytest.approx((13 + 10, 0.0))
    assert result.typical["block/body"] == pytest.approx((4000, 0.0))
