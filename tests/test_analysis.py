"""analysis.analyse_window: one capture -> report + spans, without Keras or TensorFlow."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

from tb_layerprof import analysis, attribution, diagnosis, peaks, xplane
from tb_layerprof.layermap import LayerMap
from tests.test_attribution import GRAPH, build_profile, layer_map
from tests.xspace_builder import XSpaceBuilder

# Runs in a fresh interpreter: the capture, layer map and graph tables come from files, so
# nothing here may pull TensorFlow (or Keras) in: not importing the pipeline
# (`after_import`), not reading the capture (`after_read`), not the whole analysis.
_ANALYSE = """
import json, pickle, sys
def loaded():
    return sorted(m for m in ("tensorflow", "keras", "tf_keras") if m in sys.modules)
from tb_layerprof import analysis, xplane
after_import = loaded()
xplane.read_profile(sys.argv[1])
after_read = loaded()
layer_map, graphs = pickle.load(open(sys.argv[2], "rb"))
window, spans = analysis.analyse_window(sys.argv[1], layer_map, graphs, 10, 11)
print(json.dumps({
    "after_import": after_import, "after_read": after_read, "imported": loaded(),
    "window": window.to_json(),
    "spans": [[s.path, s.phase, s.step, s.start_ps, s.end_ps, s.device] for s in spans],
}))
"""


def test_analyse_window_runs_without_tensorflow(tmp_path, monkeypatch):
    monkeypatch.setenv(peaks.CACHE_ENV, str(tmp_path))  # one CPU calibration for both sides
    capture = build_profile(tmp_path)
    inputs = tmp_path / "inputs.pkl"
    inputs.write_bytes(pickle.dumps((layer_map(), {1: GRAPH})))
    out = subprocess.run([sys.executable, "-c", _ANALYSE, capture, str(inputs)],
                         capture_output=True, text=True, check=True, timeout=300)
    got = json.loads(out.stdout)
    assert got["after_import"] == []
    # The same report as the pipeline's stages run by hand, hints included.
    events = xplane.read_profile(capture)
    window, spans, typical = attribution.attribute_window(events, layer_map(), {1: GRAPH})
    roofs = peaks.window_peaks(capture, on_device=False)
    window.peak_flops_per_s, window.peak_bytes_per_s, window.peak_source = roofs[:3]
    window.peak_cache_bytes_per_s = roofs.cache_bytes_per_s
    diagnosis.diagnose(window, typical=typical)
    assert got["window"] == json.loads(json.dumps(window.to_json()))
    assert got["spans"] == [[s.path, s.phase, s.step, s.start_ps, s.end_ps, s.device] for s in spans]
    assert got["window"]["step"] == 10 and got["window"]["steps"] == 2
    assert {lyr["path"] for lyr in got["window"]["layers"]} >= {"dense", "slow", "shared"}
    assert got["after_read"] == [] and got["imported"] == []


def test_capture_without_step_markers_is_one_window_of_the_scheduled_steps(tmp_path):
    b = XSpaceBuilder(host="worker-0")
    b.plane("/host:CPU").line("tf_Compute/1").op("functional_1/dense_1/MatMul", "MatMul", 0, 5_000_000)
    capture = b.write(str(tmp_path / "worker-0.xplane.pb"))
    window, _ = analysis.analyse_window(capture, layer_map(), {1: GRAPH}, 4, 6)
    assert (window.step, window.steps) == (4, 3)
    assert any("no step markers" in w for w in window.warnings)


def test_no_traced_layer_is_explained(tmp_path):
    window, spans = analysis.analyse_window(build_profile(tmp_path), LayerMap(), {}, 10, 11)
    assert any("no layer was traced" in w for w in window.warnings)
    assert window.layers == [] and spans == []


def test_trace_line_failure_is_a_warning_not_an_error(tmp_path):
    window, spans = analysis.analyse_window(build_profile(tmp_path), layer_map(), {1: GRAPH}, 10, 11)
    assert spans
    assert not analysis.add_trace_line(str(tmp_path / "gone.xplane.pb"), spans, window, 10, 11)
    assert "could not add the 'Keras Layers' line" in window.warnings[-1]


def test_innermost_steps_keep_ours_inside_tf_keras_markers():
    steps = [(1, 0, 1000), (11, 10, 900), (2, 1000, 2000), (12, 1010, 1990)]
    assert analysis.innermost_steps(steps) == [(11, 10, 900), (12, 1010, 1990)]
