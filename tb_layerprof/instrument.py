"""Wraps every layer's `call` to record, at trace time, which graph ops each layer created.

The wrappers are instance attributes (`layer.call`), removed again by `restore()`. In graph
mode (inside `tf.function`) they only do work while TensorFlow traces; the traced graph
does not contain them, so profiled steps pay nothing. In eager mode they open one profiler
trace span per call (only while a window is capturing) so ops can be attributed by time.
"""

from __future__ import annotations

import functools
import sys
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

import tensorflow as tf

from tb_layerprof.layermap import STEP_PATH, CallRecord, LayerInfo, LayerMap

# Names of the profiler events opened in eager mode; tb_layerprof.xplane reads them back.
from tb_layerprof.layermap import (  # noqa: E402
    TAPE_SPAN,
    EAGER_CATEGORY_PREFIX,
    EAGER_GRAD_BEGIN,
    EAGER_GRAD_END,
    EAGER_SPAN_PREFIX,
)

_BUILTIN_ROOTS = {"keras", "tf_keras", "tensorflow", "tensorflow_core"}
MARKER_CATEGORY = "framework_us"  # where the eager gradient markers' own ops go


def is_custom_layer(layer: Any) -> bool:
    """True for layer classes defined outside Keras and TensorFlow themselves."""
    module = type(layer).__module__ or ""
    return module.split(".")[0] not in _BUILTIN_ROOTS


def _children(layer: Any) -> List[Any]:
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return []
    try:
        return [c for c in flatten(include_self=False, recursive=False)]
    except TypeError:
        return []


def walk_layers(model: Any) -> List[Tuple[Any, str, Optional[str]]]:
    """(layer, path, parent_path) for every layer below `model`, depth first: the paths
    reports use. A layer reachable twice (shared) keeps its first path."""
    seen = {id(model)}
    out: List[Tuple[Any, str, Optional[str]]] = []

    def visit(layer, parent_path):
        for child in _children(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            if type(child).__name__ == "InputLayer":
                continue
            path = f"{parent_path}/{child.name}" if parent_path else child.name
            out.append((child, path, parent_path))
            visit(child, path)

    visit(model, None)
    return out


def _param_bytes(layer: Any) -> int:
    total = 0
    for w in getattr(layer, "weights", []) or []:
        try:
            n = 1
            for d in w.shape:
                n *= int(d)
            total += n * tf.as_dtype(w.dtype).size
        except (TypeError, ValueError):
            continue
    return total


def _tensor_sizes(outputs: Any) -> Tuple[int, int, bool]:
    """(elements, bytes, any dimension unknown) of the statically known part of `outputs`;
    unknown dimensions count 1 (the analysis scales them by the executed sizes)."""
    elements = 0
    nbytes = 0
    unknown = False
    for t in tf.nest.flatten(outputs):
        shape = getattr(t, "shape", None)
        dtype = getattr(t, "dtype", None)
        if shape is None or dtype is None:
            continue
        try:
            n = 1
            for d in shape:
                if d is None:
                    unknown = True
                n *= int(d) if d is not None else 1
            elements += n
            nbytes += n * tf.as_dtype(dtype).size
        except (TypeError, ValueError):
            continue
    return elements, nbytes, unknown


_SIGNATURE_SKIP = {"training", "mask"}


def _call_signature(args: Any, kwargs: Dict[str, Any]) -> str:
    """Input shapes/dtypes and Python scalar arguments: what makes tf.function retrace."""
    def one(x: Any) -> str:
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        if shape is not None and dtype is not None:
            try:
                return f"{getattr(dtype, 'name', dtype)}{list(shape.as_list()) if hasattr(shape, 'as_list') else list(shape)}"
            except (TypeError, ValueError):
                return "tensor"
        if isinstance(x, (bool, int, float, str)) or x is None:
            return repr(x)[:40]
        return type(x).__name__

    try:
        parts = [one(x) for x in tf.nest.flatten(args)]
        for k in sorted(kwargs):
            if k not in _SIGNATURE_SKIP:
                parts.append(f"{k}=" + ",".join(one(x) for x in tf.nest.flatten(kwargs[k])))
        return ";".join(parts)[:2000]
    except Exception:
        return ""


def _producers(outputs: Any) -> Tuple[str, ...]:
    names = []
    for t in tf.nest.flatten(outputs):
        op = getattr(t, "op", None)
        name = getattr(op, "name", None)
        if isinstance(name, str):
            names.append(name)
    return tuple(names[:16])


def _overrides_train_step(model: Any) -> bool:
    """True when the model's class defines its own train_step (not Keras' trainer's)."""
    for cls in type(model).__mro__:
        if "train_step" in cls.__dict__:
            return (cls.__module__ or "").split(".")[0] not in _BUILTIN_ROOTS
    return False


def _is_control_flow_graph(graph: Any) -> bool:
    """A while-loop body/condition or cond branch graph (control_flow_v2_func_graphs)."""
    return any(c.__name__ in ("ControlFlowFuncGraph", "WhileBodyFuncGraph", "WhileCondFuncGraph",
                              "CondBranchFuncGraph") for c in type(graph).__mro__)


def _marker(event_name: str) -> Callable:
    @tf.custom_gradient
    def identity_with_marker(x):
        def grad(dy):
            with tf.profiler.experimental.Trace(event_name):
                pass
            return dy

        return tf.identity(x), grad

    return identity_with_marker


def _mark(structure: Any, event_name: str) -> Any:
    """Pass floating tensors of `structure` through a gradient marker (values unchanged)."""
    marker = None

    def mark(t):
        nonlocal marker
        if tf.is_tensor(t) and not isinstance(t, tf.Variable) and t.dtype.is_floating:
            if marker is None:
                marker = _marker(event_name)
            return marker(t)
        return t

    try:
        # The markers' identity ops are the profiler's cost, not the layer's (nor its
        # parent's): a span of their own puts them in the framework category.
        with tf.profiler.experimental.Trace(EAGER_CATEGORY_PREFIX + MARKER_CATEGORY):
            return tf.nest.map_structure(mark, structure)
    except Exception:  # exotic structures: skip the marker rather than break the layer
        return structure


def _category_methods() -> List[Tuple[type, str, str]]:
    """(class, method, category) of the optimizer and loss base classes of the Keras
    packages already imported (Keras 3, tf_keras), each method at the class defining it."""
    found: List[Tuple[type, str, str]] = []
    seen = set()
    for root in ("keras", "tf_keras"):
        module = sys.modules.get(root)
        if module is None:
            continue
        optimizers = getattr(module, "optimizers", None)
        losses = getattr(module, "losses", None)
        candidates = [
            (getattr(optimizers, "Optimizer", None), ("apply_gradients", "apply"), "optimizer_us"),
            (getattr(getattr(optimizers, "legacy", None), "Optimizer", None),
             ("apply_gradients",), "optimizer_us"),
            (getattr(losses, "Loss", None), ("__call__",), "loss_us"),
        ]
        for cls, methods, key in candidates:
            if not isinstance(cls, type):
                continue
            for method in methods:
                owner = next((c for c in cls.__mro__ if method in c.__dict__), None)
                if owner is None or owner is object or (owner, method) in seen:
                    continue
                seen.add((owner, method))
                found.append((owner, method, key))
    return found


def _eager_category_call(call: Callable, info: LayerInfo, args, kwargs):
    """Eager: a span around loss/metrics/optimizer code; the loss also marks where its
    gradient begins (backprop starts at the loss, before any layer's gradient)."""
    with tf.profiler.experimental.Trace(EAGER_CATEGORY_PREFIX + info.path):
        outputs = call(*args, **kwargs)
    if info.path == "loss_us":
        outputs = _mark(outputs, EAGER_GRAD_BEGIN + info.path)
    return outputs


class Instrumenter:
    """Installs and removes the per-layer wrappers of one model; owns its LayerMap."""

    def __init__(self, model: Any):
        self.model = model
        self.layer_map = LayerMap(model_name=getattr(model, "name", "model"))
        self._wrapped: List[Tuple[Any, Optional[Callable], str]] = []
        self._lock = threading.Lock()
        self._tape_gradient: Optional[Callable] = None
        self._eager_spans = False
        self._graphs: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
        self.graphs: Dict[int, Any] = {}  # graph id -> FuncGraph (kept alive for analysis)
        self._class_wrapped: List[Tuple[Any, Callable, str, Callable]] = []

    @property
    def eager_spans(self) -> bool:
        """True while an eager window captures: layer calls open profiler spans."""
        return self._eager_spans

    @eager_spans.setter
    def eager_spans(self, on: bool) -> None:
        # A span around each tf.GradientTape.gradient call marks where backprop ends, so
        # the gradient of a layer whose input needs no gradient (no end marker) ends there.
        self._eager_spans = bool(on)
        if on and self._tape_gradient is None:
            original = tf.GradientTape.gradient

            def gradient(tape, *args, **kwargs):
                with tf.profiler.experimental.Trace(EAGER_CATEGORY_PREFIX + TAPE_SPAN):
                    return original(tape, *args, **kwargs)

            gradient._layerprof_original = original
            tf.GradientTape.gradient = gradient
            self._tape_gradient = original
        elif not on and self._tape_gradient is not None:
            if getattr(tf.GradientTape.gradient, "_layerprof_original", None) is self._tape_gradient:
                tf.GradientTape.gradient = self._tape_gradient
            self._tape_gradient = None

    # -- layer tree ------------------------------------------------------------------


    # -- install / restore -------------------------------------------------------------

    def install(self) -> None:
        """Wrap every layer (and the model itself, for ops it creates outside sublayers)."""
        if self._wrapped:
            return
        model_name = getattr(self.model, "name", "model")
        entries = [(self.model, model_name, None)] + walk_layers(self.model)
        for layer, path, parent in entries:
            is_model = layer is self.model
            info = LayerInfo(
                path=path,
                class_name=type(layer).__name__,
                custom=is_custom_layer(layer) and not is_model,
                parent=parent,
                param_bytes=_param_bytes(layer),
                is_model=is_model,
            )
            self.layer_map.layers[path] = info
            original = layer.__dict__.get("call")
            bound = layer.call
            wrapper = self._make_wrapper(bound, info)
            object.__setattr__(layer, "call", wrapper)
            self._wrapped.append((layer, original, "call"))

    def install_categories(self, model: Any) -> None:
        """Wrap the loss, the metrics and the optimizer so their ops get named categories.

        Keras updates its loss tracker and compiled metrics inside the train step without a
        name scope; recording their op ranges (graph mode) or spans (eager mode) keeps them
        out of the layers and out of the unattributed bucket.
        """
        targets = [(m, ("update_state", "result", "reset_state"), "metrics_us")
                   for m in list(getattr(model, "metrics", []) or [])]
        targets.append((model, ("compute_loss",), "loss_us"))
        # tf_keras builds its compiled metrics lazily, in the first train step: they are
        # not in `model.metrics` yet, but they are updated inside `compute_metrics`.
        targets.append((model, ("compute_metrics",), "metrics_us"))
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            targets.append((optimizer, ("apply_gradients",), "optimizer_us"))
        if _overrides_train_step(model):
            # A custom train_step: ops it creates outside layers are the model's work.
            targets.append((model, ("train_step",), STEP_PATH))
        for obj, methods, key in targets:
            for method in methods:
                bound = getattr(obj, method, None)
                if bound is None or not callable(bound):
                    continue
                original = obj.__dict__.get(method)
                wrapper = self._make_wrapper(bound, LayerInfo(path=key), category=True)
                try:
                    object.__setattr__(obj, method, wrapper)
                except Exception:
                    continue
                self._wrapped.append((obj, original, method))

    def install_class_categories(self) -> None:
        """Wrap the optimizer and loss base classes of Keras 3 and tf_keras (those loaded).

        A custom training loop calls its own optimizer and loss objects, which the model
        does not know (`model.optimizer` may be None): wrapping their classes while
        training runs gives their ops the optimizer/loss categories wherever they are
        traced. Removed again by `restore()`; a wrapper left behind by an interleaved
        restore of another profiler only passes calls through.
        """
        if self._class_wrapped:
            return
        for cls, method, key in _category_methods():
            original = cls.__dict__.get(method)
            if original is None or getattr(original, "_layerprof", False):
                continue
            wrapper = self._make_method_wrapper(original, LayerInfo(path=key))
            try:
                setattr(cls, method, wrapper)
            except Exception:
                continue
            self._class_wrapped.append((cls, original, method, wrapper))

    def restore(self) -> None:
        """Remove every wrapper, leaving the layers exactly as they were."""
        self.eager_spans = False
        for obj, original, method in self._wrapped:
            try:
                if original is None:
                    obj.__dict__.pop(method, None)
                else:
                    object.__setattr__(obj, method, original)
            except Exception:  # a layer that forbids attribute changes: leave it
                pass
        self._wrapped = []
        for cls, original, method, wrapper in reversed(self._class_wrapped):
            wrapper._layerprof_active = False
            try:
                if cls.__dict__.get(method) is wrapper:
                    setattr(cls, method, original)
            except Exception:
                pass
        self._class_wrapped = []

    def refresh_params(self) -> None:
        """Parameter sizes are known only after build; read them again."""
        model_name = getattr(self.model, "name", "model")
        for layer, path, _ in [(self.model, model_name, None)] + walk_layers(self.model):
            if path in self.layer_map.layers:
                self.layer_map.layers[path].param_bytes = _param_bytes(layer)

    # -- the wrapper -----------------------------------------------------------------

    def _make_wrapper(self, call: Callable, info: LayerInfo, category: bool = False) -> Callable:
        instrumenter = self

        def layerprof_call(*args, **kwargs):
            if tf.inside_function():
                return instrumenter._traced_call(call, info, args, kwargs)
            if instrumenter.eager_spans and info.path != STEP_PATH:
                if category:
                    return _eager_category_call(call, info, args, kwargs)
                return instrumenter._eager_call(call, info, args, kwargs)
            return call(*args, **kwargs)

        layerprof_call.__wrapped__ = call  # keeps inspect.signature() truthful
        return layerprof_call

    def _make_method_wrapper(self, func: Callable, info: LayerInfo) -> Callable:
        """Class-level version of `_make_wrapper(category=True)`: binds `self` per call."""
        instrumenter = self

        def layerprof_method(obj, *args, **kwargs):
            if not layerprof_method._layerprof_active:
                return func(obj, *args, **kwargs)
            bound = functools.partial(func, obj)
            if tf.inside_function():
                return instrumenter._traced_call(bound, info, args, kwargs)
            if instrumenter.eager_spans:
                return _eager_category_call(bound, info, args, kwargs)
            return bound(*args, **kwargs)

        functools.update_wrapper(layerprof_method, func)
        layerprof_method._layerprof = True
        layerprof_method._layerprof_active = True
        return layerprof_method

    def _graph_id(self, graph: Any) -> int:
        with self._lock:
            gid = self._graphs.get(graph)
            if gid is None:
                gid = len(self.graphs) + 1
                self._graphs[graph] = gid
                self.graphs[gid] = graph
                self.layer_map.graph_count += 1
            return gid

    def _root_graph_id(self, graph: Any) -> int:
        """The function graph `graph` is part of: up through control-flow bodies (while
        loops, cond branches) and through functions called inside a graph we already saw
        (a tf.function a layer calls), never past the step function itself."""
        root = graph
        g = graph
        while getattr(g, "building_function", False):
            outer = getattr(g, "outer_graph", None)
            if outer is None or not getattr(outer, "building_function", False):
                break
            if _is_control_flow_graph(g) or outer in self._graphs:
                root = outer
            g = outer
        return self._graph_id(root)

    def _traced_call(self, call, info, args, kwargs):
        graph = tf.compat.v1.get_default_graph()
        try:
            start = graph.num_operations()
            scope = graph.get_name_scope()
            gid = self._graph_id(graph)  # before the call: graphs nested in it find it
            root = self._root_graph_id(graph)
        except Exception:  # not a TF graph we understand: still run the layer
            return call(*args, **kwargs)
        outputs = call(*args, **kwargs)
        try:
            end = graph.num_operations()
            elements, nbytes, unknown = _tensor_sizes(outputs)
            _, in_bytes, _ = _tensor_sizes(args)
            record = CallRecord(
                path=info.path,
                graph_id=gid,
                scope=scope,
                op_start=start,
                op_end=end,
                output_elements=elements,
                output_bytes=nbytes,
                input_bytes=in_bytes,
                root_graph_id=root,
                signature=_call_signature(args, kwargs),
                output_ops=_producers(outputs),
                batch_unknown=unknown,
            )
            with self._lock:
                self.layer_map.calls.append(record)
        except Exception:
            pass
        return outputs

    def _eager_call(self, call, info, args, kwargs):
        # Gradient markers: identities whose gradient functions leave a profiler event when
        # backprop reaches the layer's outputs (its gradient begins) and its inputs (ends).
        args = _mark(args, EAGER_GRAD_END + info.path)
        with tf.profiler.experimental.Trace(EAGER_SPAN_PREFIX + info.path):
            outputs = call(*args, **kwargs)
        outputs = _mark(outputs, EAGER_GRAD_BEGIN + info.path)
        try:
            elements, nbytes, _ = _tensor_sizes(outputs)
            _, in_bytes, _ = _tensor_sizes(args)
            with self._lock:
                self.layer_map.calls.append(
                    CallRecord(
                        input_bytes=in_bytes,
                        path=info.path,
                        graph_id=0,
                        scope="",
                        op_start=0,
                        op_end=0,
                        output_elements=elements,
                        output_bytes=nbytes,
                    )
                )
        except Exception:
            pass
        return outputs

