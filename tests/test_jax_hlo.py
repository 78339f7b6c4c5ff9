"""The JAX path's pure parts, in the main suite: op_name parsing, the xplane package's
wire-level HLO reader and XLA records (checked against TensorFlow's generated protos,
which this environment has), and attribution on a hand-built capture."""

from __future__ import annotations

import pytest

from tb_layerprof import jax_analysis, jax_sources, xplane
from tb_layerprof.jax_analysis import LayerInfo, Scopes
from tb_layerprof.xplane import XlaEvents as JaxCapture
from tb_layerprof.xplane import XlaOp as Thunk


@pytest.mark.parametrize("op_name, scopes, primitive, gradient", [
    ("jit(train_step)/jvp(slow)/mul", ["slow"], "mul", False),
    ("jit(train_step)/transpose(jvp(slow))/add_any", ["slow"], "add_any", True),
    ("jit(train_step)/jvp(block)/inner/dot_general", ["block", "inner"], "dot_general", False),
    ("jit(train_step)/transpose(jvp(mha))/query/abc,cde->abde/dot_general",
     ["mha", "query", "abc,cde->abde"], "dot_general", True),
    ("jit(train_step)/adam/add", ["adam"], "add", False),
    ("jit(train_step)/jit(_where)/select_n", [], "select_n", False),
    ("jit(train_step)/transpose(jvp(block/inner))/mul", ["block", "inner"], "mul", True),
    ("", [], "", False),
])
def test_split_op_name(op_name, scopes, primitive, gradient):
    assert jax_analysis.split_op_name(op_name) == (scopes, primitive, gradient)


def _hlo_bytes():
    """An HloProto built with TensorFlow's generated module (the reference schema)."""
    hlo_pb2 = pytest.importorskip("tensorflow.compiler.xla.service.hlo_pb2")
    proto = hlo_pb2.HloProto()
    m = proto.hlo_module
    m.name, m.entry_computation_id = "jit_train_step", 2
    fused = m.computations.add(name="fused_computation", id=1)
    for i, (name, opcode, op) in enumerate([("p", "parameter", ""), ("s", "slice", "jit(train_step)/jvp(slow)/slice"),
                                            ("mul", "multiply", "jit(train_step)/jvp(slow)/mul"),
                                            ("add", "add", "jit(train_step)/jvp(dense)/add")]):
        ins = fused.instructions.add(name=name, opcode=opcode, id=10 + i)
        ins.metadata.op_name = op
        ins.metadata.op_type = opcode.capitalize() if op else ""
    entry = m.computations.add(name="main.2", id=2)
    w = entry.instructions.add(name="w", opcode="parameter", id=20)
    w.metadata.op_name = "state[0][0]"
    f = entry.instructions.add(name="slice_multiply_fusion", opcode="fusion", id=21)
    f.metadata.op_name = "jit(train_step)/jvp(slow)/mul"
    f.called_computation_ids.append(1)
    d = entry.instructions.add(name="dot.4", opcode="dot", id=22)
    d.operand_ids.extend([21, 20])
    g = entry.instructions.add(name="grad", opcode="multiply", id=23)
    g.metadata.op_name = "jit(train_step)/transpose(jvp(slow))/mul"
    g.operand_ids.append(22)
    return proto.SerializeToString()


def test_wire_reader_matches_tensorflows_hlo_schema():
    mod = xplane.parse_module(_hlo_bytes())
    assert mod.name == "jit_train_step" and [i.name for i in mod.entry()] == ["w", "slice_multiply_fusion", "dot.4", "grad"]
    entry = {i.name: i for i in mod.entry()}
    assert entry["slice_multiply_fusion"].called_ids == [1]
    assert entry["dot.4"].operand_ids == [21, 20]
    assert [(i.op_type, i.op_name) for i in mod.computations[1]][2] == ("Multiply", "jit(train_step)/jvp(slow)/mul")
    src = jax_sources.instruction_sources(mod)
    # A fusion goes to its root's op_name; the metadata-less dot to the weight it reads
    # (trainable variable 0), forward.
    assert src["slice_multiply_fusion"] == [("jit(train_step)/jvp(slow)/mul", 1.0)]
    assert src["dot.4"] == [("jit(train_step)/jvp(__weight0__)/dot", 1.0)]
    assert jax_sources.fused_op_names(mod)["slice_multiply_fusion"] == [
        "jit(train_step)/jvp(dense)/add", "jit(train_step)/jvp(slow)/mul", "jit(train_step)/jvp(slow)/slice"]


def test_xla_field_numbers_match_tensorflows():
    """The XStat / XEventMetadata / XLine / XEvent numbers the reader and writer use."""
    xplane_pb2 = pytest.importorskip("tensorflow.tsl.profiler.protobuf.xplane_pb2")
    from tb_layerprof.xplane import wire, write

    def num(msg, field):
        return getattr(xplane_pb2, msg).DESCRIPTOR.fields_by_name[field].number

    assert (wire.STAT_ID, wire.STAT_DOUBLE, wire.STAT_UINT64, wire.STAT_INT64, wire.STAT_STR,
            wire.STAT_BYTES, wire.STAT_REF) == tuple(num("XStat", f) for f in (
                "metadata_id", "double_value", "uint64_value", "int64_value", "str_value",
                "bytes_value", "ref_value"))
    assert wire.PLANE_STATS == num("XPlane", "stats")
    assert (wire.EVENT_METADATA_ID, wire.EVENT_METADATA_NAME, wire.EVENT_METADATA_STATS) == (
        num("XEventMetadata", "id"), num("XEventMetadata", "name"), num("XEventMetadata", "stats"))
    assert num("XEventMetadata", "display_name") == 4
    assert (write._LINE_DURATION, write._LINE_DISPLAY_ID, write._LINE_DISPLAY_NAME) == (
        num("XLine", "duration_ps"), num("XLine", "display_id"), num("XLine", "display_name"))
    assert (write._EVENT_METADATA_ID, write._EVENT_OFFSET, write._EVENT_DURATION, write._EVENT_STATS) == (
        num("XEvent", "metadata_id"), num("XEvent", "offset_ps"), num("XEvent", "duration_ps"),
        num("XEvent", "stats"))


def test_layers_line_on_a_real_capture(tmp_path):
    """The wire-level writer on a JAX capture: a new line one above the plane's line ids,
    the capture otherwise unchanged (TensorFlow's parser agrees), and read_xla unchanged."""
    import collections
    import os
    import shutil

    xplane_pb2 = pytest.importorskip("tensorflow.tsl.profiler.protobuf.xplane_pb2")
    src = os.path.join(os.path.dirname(__file__), "data", "jax_cpu_seed.xplane.pb")
    path = str(tmp_path / "c.xplane.pb")
    shutil.copy(src, path)
    before = xplane.read_xla(path)
    t0 = before.steps[0][1]
    Ev = collections.namedtuple("Ev", "name start_ps duration_ps stats")
    events = [Ev("slow (forward)", t0, 5000, {"layer": "slow", "step": 4}),
              Ev("slow (gradient)", t0 + 6000, 2000, {"layer": "slow", "share": 0.5})]
    assert xplane.add_line(path, "Keras Layers", events, [xplane.HOST_PLANE], line_id=None) == 1
    old = xplane_pb2.XSpace.FromString(open(src, "rb").read())
    new = xplane_pb2.XSpace.FromString(open(path, "rb").read())
    host_old = next(p for p in old.planes if p.name == xplane.HOST_PLANE)
    host = next(p for p in new.planes if p.name == xplane.HOST_PLANE)
    line = host.lines[-1]
    assert line.name == "Keras Layers" and line.id == max(ln.id for ln in host_old.lines) + 1
    assert [host.event_metadata[e.metadata_id].name for e in line.events] == ["slow (forward)", "slow (gradient)"]
    assert list(host.lines)[:-1] == list(host_old.lines)
    after = xplane.read_xla(path)
    assert after.thunks == before.thunks and after.steps == before.steps and after.programs == before.programs


def test_attribution_on_a_hand_built_capture():
    blob = _hlo_bytes()
    ps = 1_000_000  # 1 us
    thunks = [Thunk("l", s * 10 * ps + ps, s * 10 * ps + ps + d * ps, d * ps, 7, name, "jit_train_step", s)
              for s in range(2) for name, d in (("slice_multiply_fusion", 4), ("dot.4", 2), ("grad", 3))]
    thunks.append(Thunk("l", 50 * ps, 51 * ps, ps, 7, "grad", "jit_train_step", 9))  # outside the steps
    cap = JaxCapture(host="h", steps=[(1, 0, 10 * ps), (2, 10 * ps, 20 * ps)], thunks=thunks,
                     programs={7: ("jit_train_step", blob)})
    layers = [LayerInfo("dense", "Dense"), LayerInfo("slow", "Slow", custom=True)]
    w = jax_analysis.analyse(cap, layers, 1, 2, scopes=Scopes(weights=["dense"]))
    by = {x.path: x for x in w.layers}
    assert w.steps == 2 and w.op_time_us == pytest.approx(9.0)
    assert by["slow"].self_forward_us == pytest.approx(4.0) and by["slow"].self_backward_us == pytest.approx(3.0)
    assert by["dense"].self_forward_us == pytest.approx(2.0)
    assert w.coverage == 1.0 and w.fused_across_us == pytest.approx(4.0)
    own = sum(x.self_forward_us + x.self_backward_us for x in w.layers)
    assert own + sum(w.other.values()) == pytest.approx(w.op_time_us)


def test_resolver_categories():
    r = jax_analysis.Resolver([LayerInfo("dense"), LayerInfo("mha"), LayerInfo("mha/query")],
                              Scopes(optimizer=["adam"], model=("seed",)))
    assert r("jit(train_step)/adam/sub") == ("cat", "optimizer_us", "")
    assert r("jit(train_step)/jvp(compile_loss)/mse/square") == ("cat", "loss_us", "")
    assert r("jit(train_step)/add") == ("cat", "metrics_us", "")
    assert r("state[0][2]") == ("cat", "framework_us", "")  # no owner known
    assert jax_analysis.Resolver([LayerInfo("dense")], Scopes(weights=["dense"]))("state[0][0]") == (
        "layer", "dense", "forward")
    assert r("state[2][5]") == ("cat", "optimizer_us", "")
    assert r("data[0]") == ("cat", "input_us", "")
    assert r("jit(train_step)/jvp()/add") == ("cat", "framework_us", "")
    assert r("jit(train_step)/transpose(jvp(mha))/query/abc,cde->abde/dot_general") == ("layer", "mha/query", "backward")
    assert r("jit(train_step)/jvp(seed)/dense/add") == ("layer", "dense", "forward")
    # XLA joins merged instructions' metadata with ';': the first op_name is the kept one.
    assert r("jit(train_step)/transpose(jvp(dense))/dot_general;jit(train_step)/jvp(mha)/x") == (
        "layer", "dense", "backward")
    assert r("jit(train_step)/jvp(unknown_scope)/mul") == ("cat", "unattributed_us", "")


def test_a_real_jax_cpu_capture():
    """A trimmed real capture (Keras 3.15 + jax 0.10 on CPU, the seed model, steps 4-7,
    written by benchmarks/gpu_check.py): the JAX reader and attribution on real bytes,
    without JAX in this environment."""
    import os

    from tb_layerprof import figures

    path = os.path.join(os.path.dirname(__file__), "data", "jax_cpu_seed.xplane.pb")
    capture = xplane.read_xla(path)
    assert [s[0] for s in capture.steps] == [4, 5, 6, 7]
    assert any("train_step" in name for name, _ in capture.programs.values())
    layers = [LayerInfo("dense_in", "Dense"), LayerInfo("slow", "SlowDouble", custom=True),
              LayerInfo("fast", "FastDouble", custom=True), LayerInfo("head", "Dense")]
    scopes = Scopes(optimizer=["adam"], weights=["dense_in", "dense_in", "head", "head"])
    w = jax_analysis.analyse(capture, layers, 4, 7, scopes=scopes)
    assert w.steps == 4 and w.coverage >= 0.98
    by = {x.path: x for x in w.layers}
    assert [x.path for x in figures.hot_layers(w, limit=10) if x.custom][0] == "slow"
    assert "python-loop" in {h.code for h in by["slow"].hints}
    assert not by["fast"].hints
    for name in ("dense_in", "head"):
        assert by[name].self_forward_us > 0 and by[name].self_backward_us > 0, name
    own = sum(x.self_forward_us + x.self_backward_us for x in w.layers)
    assert own + sum(w.other.values()) == pytest.approx(w.op_time_us)


def test_both_callbacks_read_profile_batch_with_one_rule():
    """The TensorFlow callback's `parse_profile_batch` is `schedule`'s (the JAX callback's),
    not a copy (test_e2e checks its meaning against Keras' TensorBoard)."""
    pytest.importorskip("tensorflow")
    from tb_layerprof import callback, schedule

    assert callback.parse_profile_batch is schedule.parse_profile_batch
    assert callback.DEFAULT_PROFILE_BATCH == schedule.DEFAULT_PROFILE_BATCH


def test_first_window():
    from tb_layerprof.schedule import first_window

    assert first_window((2, 3), 6) == (2, 3, 6)
    assert first_window(0, 4) == (4, 4, 4)
    assert first_window((10, 14), None) == (10, 14, None)
    with pytest.raises(ValueError):
        first_window((2, 3), 0)


@pytest.mark.parametrize("background", [False, True])
def test_analyses_run_in_order_and_flush_logs_failures(background, caplog):
    from tb_layerprof.schedule import Analyses

    done = []

    def fail():
        raise RuntimeError("boom\nmore")

    analyses = Analyses(background)
    analyses.run(done.append, 1)
    analyses.run(done.append, 2)
    if background:
        analyses.run(fail)
    analyses.flush()
    assert done == [1, 2]
    assert not background or "analysis failed: boom" in caplog.text
