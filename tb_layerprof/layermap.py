"""The layer map: which layers a model has and what each call created at trace time.

Pure data (no TensorFlow) so attribution can be tested on hand-built maps.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple


# Names of the profiler events the instrumenter and the callback write and the reader
# (tb_layerprof.xplane) reads back.
STEP_EVENT_NAME = "train"  # the callback marks steps with Trace("train", step_num=..., _r=1)
EAGER_SPAN_PREFIX = "layerprof:"  # + layer path: one eager call of a layer
EAGER_GRAD_BEGIN = "layerprof_grad_begin:"  # + layer path: its gradient starts (eager)
EAGER_GRAD_END = "layerprof_grad_end:"
EAGER_CATEGORY_PREFIX = "layerprof_cat:"  # eager spans of loss/metrics/optimizer code
TAPE_SPAN = "tape"  # EAGER_CATEGORY_PREFIX + TAPE_SPAN: a tf.GradientTape.gradient call
LAYERS_LINE = "Keras Layers"  # the line of layer spans added to the capture

# Path of the call records of a custom `train_step`: its ops that no layer, loss, metric or
# optimizer owns (noise sampled for a GAN, a concat of real and fake batches) are the
# model's own work.
STEP_PATH = "__train_step__"


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
    # The function graph this call belongs to: `graph_id` itself, or, for a call traced in
    # a control-flow body (an RNN cell in its while loop, a tf.cond branch), the function
    # whose loop or branch it is. One root graph = one trace of the step.
    root_graph_id: int = 0
    # Input shapes and Python arguments of the call (training/mask left out): two traces
    # with the same signature are not a retrace.
    signature: str = ""
    # Sizes above count an unknown (None) dimension as 1; the executed size of the ops
    # named here (the outputs' producers) gives the real one.
    output_ops: Tuple[str, ...] = ()
    batch_unknown: bool = False

    @property
    def root(self) -> int:
        return self.root_graph_id or self.graph_id


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
