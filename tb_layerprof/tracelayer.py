"""The "Keras Layers" line for XProf's trace viewer: layer spans as plain trace events.

Pure: takes the layer spans that attribution measured and the window's figures, returns
the events of one line (`xplane.add_line` writes them into the capture). Spans of nested
layers lie inside their parent's, so the trace viewer draws them as a nested stack right
above the op events they cover.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence, Union

from tb_layerprof.attribution import BACKWARD, LayerSpan
from tb_layerprof.layermap import LAYERS_LINE
from tb_layerprof.xplane import HOST_PLANE
from tb_layerprof.report import WindowReport

LINE_NAME = LAYERS_LINE
PHASE_LABEL = {"forward": "forward", BACKWARD: "gradient"}

StatValue = Union[int, float, str]


@dataclasses.dataclass
class TraceEvent:
    name: str
    start_ps: int
    duration_ps: int
    stats: Dict[str, StatValue]


def layer_line_events(spans: Sequence[LayerSpan], window: WindowReport) -> List[TraceEvent]:
    """One event per layer, step and phase, named `path (forward)` / `path (gradient)`."""
    by_path = {layer.path: layer for layer in window.layers}
    events = []
    for span in sorted(spans, key=lambda s: (s.start_ps, -s.end_ps)):
        layer = by_path.get(span.path)
        if layer is None or span.end_ps < span.start_ps:
            continue
        forward = span.phase != BACKWARD
        stats: Dict[str, StatValue] = {
            "layer": span.path,
            "class_name": layer.class_name,
            "phase": PHASE_LABEL.get(span.phase, span.phase),
            "step_num": span.step,
            # Window averages, per step (µs), so the span's tooltip tells the whole story.
            "layer_us": round(layer.forward_us if forward else layer.backward_us, 3),
            "self_us": round(layer.self_forward_us if forward else layer.self_backward_us, 3),
            "alloc_bytes": int(layer.forward_alloc_bytes if forward else layer.backward_alloc_bytes),
            "custom": int(layer.custom),
        }
        if layer.hints:
            stats["hints"] = ",".join(h.code for h in layer.hints)
        events.append(
            TraceEvent(
                name=f"{span.path} ({PHASE_LABEL.get(span.phase, span.phase)})",
                start_ps=span.start_ps,
                duration_ps=span.end_ps - span.start_ps,
                stats=stats,
            )
        )
    return events


def lines_by_plane(spans: Sequence[LayerSpan], window: WindowReport) -> Dict[str, List[TraceEvent]]:
    """The line's events for each plane: the host plane, and each device plane with kernels."""
    planes: Dict[str, List[LayerSpan]] = {}
    for span in spans:
        planes.setdefault(span.device or HOST_PLANE, []).append(span)
    return {plane: layer_line_events(group, window) for plane, group in planes.items()}
