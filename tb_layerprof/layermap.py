"""The layer map: which layers a model has and what each call created at trace time.

Pure data (no TensorFlow) so attribution can be tested on hand-built maps.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional


@dataclasses.dataclass
class LayerInfo:
    """Static facts about one layer, keyed by its path below the model."""

    path: str
    class_name: str = ""
    custom: bool = False
    parent: Optional[str] = None
    param_bytes: int = 0
    is_model: bool = False  # the model itself: owns ops it creates outside sublayers


@dataclasses.dataclass
class CallRecord:
    """One traced call of a layer: the name scope it ran under and the ops it created.

    `op_start:op_end` indexes the graph's operations in creation order (graph mode);
    both are 0 for eager calls, which are attributed by profiler spans instead.
    """

    path: str
    graph_id: int
    scope: str
    op_start: int
    op_end: int
    output_elements: int = 0
    output_bytes: int = 0
    input_bytes: int = 0


@dataclasses.dataclass
class LayerMap:
    model_name: str = "model"
    layers: Dict[str, LayerInfo] = dataclasses.field(default_factory=dict)
    calls: List[CallRecord] = dataclasses.field(default_factory=list)
    graph_count: int = 0
    optimizer_scopes: List[str] = dataclasses.field(default_factory=list)

    def snapshot(self) -> "LayerMap":
        """A copy safe to hand to a background analysis while training goes on."""
        return LayerMap(
            model_name=self.model_name,
            layers={k: dataclasses.replace(v) for k, v in self.layers.items()},
            calls=list(self.calls),
            graph_count=self.graph_count,
            optimizer_scopes=list(self.optimizer_scopes),
        )

    def depth(self, path: str) -> int:
        d = 0
        info = self.layers.get(path)
        while info is not None and info.parent is not None:
            d += 1
            info = self.layers.get(info.parent)
        return d
