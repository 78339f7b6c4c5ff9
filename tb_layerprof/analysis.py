"""Analysis: one captured window -> its `WindowReport` and the layers' trace spans.

The pipeline after the capture: read the `.xplane.pb` (`xplane`), give every op and
allocation an owner and book it (`attribution`), explain slow layers (`diagnosis`).
It needs neither Keras nor TensorFlow: its inputs are a file path, the layer map the
instrumented model recorded, and the traced graphs as plain tables (op name, type, input
names), so a window can be analysed again, or tested, away from the training process.
"""

from __future__ import annotations

import logging
from typing import List, Tuple

from tb_layerprof import attribution, diagnosis, peaks, tracelayer, xla_work, xplane
from tb_layerprof.attribution import GraphTables, LayerSpan
from tb_layerprof.layermap import LayerMap
from tb_layerprof.report import WindowReport

logger = logging.getLogger("tb_layerprof")

StepMarker = Tuple[int, int, int]  # (step_num, start_ps, end_ps)


def analyse_window(
    xplane_path: str,
    layer_map: LayerMap,
    graphs: GraphTables,
    first: int,
    last: int,
    mode: str = "graph",
    batches: int = 0,
    trace_line: bool = False,
) -> Tuple[WindowReport, List[LayerSpan]]:
    """The report (hints included) and layer spans of the window of steps first..last.

    Args:
        xplane_path: the window's capture.
        layer_map: what the instrumented layers recorded (a snapshot).
        graphs: graph id -> (op name, op type, input names) rows of each traced graph.
        first, last: the window's steps as scheduled (used when the capture has no step
            markers, and in log messages).
        mode: "graph", "eager" or "xla", as the model was compiled.
        batches: batches the window ran (steps_per_execution makes it more than its steps).
        trace_line: also write the spans into the capture as XProf's "Keras Layers" line.
            Writing uses TensorFlow's XPlane schema; leave it False to stay off TensorFlow.

    Raises `xplane.ProfileError` when the capture cannot be read.
    """
    events = xplane.read_profile(xplane_path)
    events.steps = innermost_steps(events.steps)
    if mode == "xla":  # work counts from the HLO protos (booked by attribution)
        events.xla_programs = xla_work.program_work(xplane_path)
    window, spans, typical = attribution.attribute_window(events, layer_map, graphs, mode=mode,
                                                 batches=batches)
    del events  # the largest object of the analysis: gone before the capture is rewritten
    roofs = peaks.window_peaks(xplane_path, window.clock == "device")
    if roofs is not None:
        window.peak_flops_per_s, window.peak_bytes_per_s, window.peak_source = roofs[:3]
        window.peak_cache_bytes_per_s = roofs.cache_bytes_per_s
    diagnosis.diagnose(window, typical=typical)
    if trace_line:
        add_trace_line(xplane_path, spans, window, first, last)
    if mode != "eager" and not any(c.graph_id for c in layer_map.calls):
        window.warnings.append(
            "no layer was traced while LayerProfiler was installed, so no op could be "
            "matched to a layer: in a custom training loop, call on_train_begin() "
            "before your tf.function is first called (traced)"
        )
        logger.warning("layerprof: window steps %d-%d: %s", first, last, window.warnings[-1])
    if not window.steps:
        window.step, window.steps = first, last - first + 1
        window.warnings.append("no step markers found in the profile; figures are for the whole capture")
    return window, spans


def add_trace_line(xplane_path: str, spans: List[LayerSpan], window: WindowReport,
                   first: int, last: int) -> bool:
    """Write the layer spans into the capture as the "Keras Layers" line of each plane.

    Never raises: the report is still worth writing without the line, so a failure
    becomes a warning of the window. True when the line was written.
    """
    try:
        for plane, events_of_plane in tracelayer.lines_by_plane(spans, window).items():
            xplane.add_line(xplane_path, tracelayer.LINE_NAME, events_of_plane, plane_names=[plane])
    except Exception as e:
        window.warnings.append(f"could not add the '{tracelayer.LINE_NAME}' line to the trace: {e}")
        logger.warning("layerprof: window steps %d-%d: %s", first, last, window.warnings[-1])
        return False
    return True


def innermost_steps(steps: List[StepMarker]) -> List[StepMarker]:
    """Step markers without those that enclose another one.

    tf_keras' `fit` marks every step itself (`Trace("train", step_num=<step in epoch>)`)
    around the callbacks' batch hooks, so its markers enclose ours; ours carry the global
    step number the windows are named by. (step_num, start_ps, end_ps) tuples.
    """
    if len(steps) < 2:
        return steps
    ordered = sorted(steps, key=lambda s: (s[1], -s[2]))
    kept = []
    for i, step in enumerate(ordered):
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        if following is not None and following[1] >= step[1] and following[2] <= step[2]:
            continue
        kept.append(step)
    return kept
