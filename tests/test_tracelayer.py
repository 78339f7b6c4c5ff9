"""The "Keras Layers" trace line: span events, and writing them into a capture safely."""

from __future__ import annotations

import os

import pytest

from tb_layerprof import attribution, tracelayer, xplane
from tests import xplane_reference
from tests.test_attribution import GRAPH, build_profile, layer_map


@pytest.fixture
def measured(tmp_path):
    path = build_profile(tmp_path)
    window, spans, _ = attribution.attribute_window(xplane.read_profile(path), layer_map(), {1: GRAPH})
    return path, window, spans


def test_one_event_per_layer_phase_and_step_nested_in_parents(measured):
    _, window, spans = measured
    events = tracelayer.layer_line_events(spans, window)
    names = [e.name for e in events]
    assert names.count("slow (forward)") == 2 and names.count("slow (gradient)") == 2
    assert names.count("block/inner (forward)") == 2
    by = {(e.name, e.stats["step_num"]): e for e in events}
    for step in (10, 11):
        parent, child = by[("block (forward)", step)], by[("block/inner (forward)", step)]
        assert parent.start_ps <= child.start_ps
        assert child.start_ps + child.duration_ps <= parent.start_ps + parent.duration_ps
    slow = by[("slow (gradient)", 10)]
    assert slow.stats["layer"] == "slow" and slow.stats["phase"] == "gradient"
    assert slow.stats["layer_us"] == pytest.approx(49)
    assert window.timeline["step"] == 11
    assert {s["path"] for s in window.timeline["spans"]} >= {"slow", "dense", "block", "block/inner"}


def test_add_line_keeps_every_original_event(measured):
    path, window, spans = measured
    before = xplane.read_profile(path)
    assert xplane.add_line(path, tracelayer.LINE_NAME, tracelayer.layer_line_events(spans, window)) == 1
    after = xplane.read_profile(path)
    assert after.ops == before.ops and after.memory == before.memory and after.steps == before.steps
    space = xplane_reference.load_xspace(path)
    lines = [l for p in space.planes for l in p.lines if l.name == tracelayer.LINE_NAME]
    assert len(lines) == 1 and len(lines[0].events) == len(spans)
    assert not [f for f in os.listdir(os.path.dirname(path)) if "tmp" in f]


def test_add_line_to_a_corrupt_file_fails_cleanly(tmp_path):
    path = tmp_path / "bad.xplane.pb"
    garbage = b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 10
    path.write_bytes(garbage)
    event = tracelayer.TraceEvent("a (forward)", 1000, 10, {})
    with pytest.raises(xplane.ProfileError):
        xplane.add_line(str(path), tracelayer.LINE_NAME, [event])
    assert path.read_bytes() == garbage
    assert os.listdir(tmp_path) == ["bad.xplane.pb"]
