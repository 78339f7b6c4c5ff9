"""`LayerProfiler` for Keras 3 on the JAX backend: `jax.profiler` windows, the layer map
from walking the model, attribution through HLO metadata (`jax_analysis`). Imports no
TensorFlow, so it runs where TensorFlow cannot be installed (`pip install tb_layerprof[jax]`).

Asynchronous fit: Keras 3 dispatches batch-end hooks on a thread pool unless a callback
overrides `on_train_batch_end` without `async_safe = True`. This callback does all its
work in `on_train_batch_begin` (on the training thread, in step order) and does not
override `on_train_batch_end` at all, so fit stays asynchronous; `async_safe` is declared
too. A step marker runs from one batch-begin to the next; only where no step follows (the
window's end, validation, the epoch's end) does the callback wait for the device, so that
the window holds exactly its steps' work.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from typing import Any, List, Optional, Sequence, Union

import jax
import keras
import numpy as np

from tb_layerprof import jax_analysis, tracelayer, xplane
from tb_layerprof.layermap import STEP_EVENT_NAME
from tb_layerprof.jax_analysis import LayerInfo, Scopes
from tb_layerprof.report import WindowReport
from tb_layerprof.schedule import DEFAULT_PROFILE_BATCH, Analyses, WindowSink, first_window, one_line
from tb_layerprof.summary import ReportWriter

logger = logging.getLogger("tb_layerprof")

STEP_NAME = STEP_EVENT_NAME


def layer_map(model: Any) -> List[LayerInfo]:
    """Every layer below `model` (each once, shared ones too): path, class, custom or stock,
    own parameter bytes, parent path."""
    out: List[LayerInfo] = []
    seen = set()

    def total_bytes(layer) -> int:
        n = 0
        for w in getattr(layer, "weights", ()):
            try:
                n += int(np.prod(w.shape)) * np.dtype(str(w.dtype)).itemsize
            except (TypeError, ValueError):
                pass
        return n

    def walk(layer, parent: Optional[str]) -> None:
        for child in _children(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            path = str(getattr(child, "path", "") or child.name)
            kids = _children(child)
            own = total_bytes(child) - sum(total_bytes(k) for k in kids)
            module = type(child).__module__ or ""
            out.append(LayerInfo(
                path=path, class_name=type(child).__name__,
                custom=not module.startswith(("keras.", "keras_hub.", "keras_nlp.", "keras_cv.")),
                param_bytes=max(0, own), parent=parent,
                calls=max(1, len(getattr(child, "_inbound_nodes", ()) or ())),
            ))
            walk(child, path)

    walk(model, None)
    return out


def _children(layer) -> List[Any]:
    try:
        return list(layer._flatten_layers(include_self=False, recursive=False))
    except Exception:
        return list(getattr(layer, "layers", ()) or ())


def scopes_of(model: Any) -> Scopes:
    """Category scope names of this model: its optimizer's name and class, its metrics."""
    opt = getattr(model, "optimizer", None)
    names = {"optimizer"}
    if opt is not None:
        for n in (getattr(opt, "name", ""), type(opt).__name__):
            if n:
                names.update({str(n), str(n).lower()})
        inner = getattr(opt, "inner_optimizer", None)  # LossScaleOptimizer
        if inner is not None:
            names.update({str(inner.name), type(inner).__name__.lower()})
    metrics = set(jax_analysis.METRIC_SCOPES)
    for m in getattr(model, "metrics", ()) or ():
        metrics.add(str(getattr(m, "name", "")))
    return Scopes(optimizer=sorted(names), metrics=sorted(metrics - {""}),
                  model=(str(getattr(model, "name", "")),), weights=weight_owners(model))


def weight_owners(model: Any) -> List[Optional[str]]:
    """The deepest layer owning each of `model.trainable_variables`, in order."""
    owner = {}

    def walk(layer) -> None:  # parents first, so children (deeper) override
        for child in _children(layer):
            path = str(getattr(child, "path", "") or child.name)
            for v in getattr(child, "trainable_weights", ()):
                owner[id(v)] = path
            walk(child)

    try:
        walk(model)
        return [owner.get(id(v)) for v in model.trainable_variables]
    except Exception:
        return []


def _sync(model: Any) -> None:
    """Wait until the device has finished the steps dispatched so far: their outputs are
    the training state Keras keeps in `model._jax_state` between steps. (On CPU the host
    runs several steps ahead of XLA, so without this a window would hold earlier steps'
    work and miss its own.)"""
    try:
        state = getattr(model, "_jax_state", None)
        arrays = _arrays(state) if state else [v.value for v in model.variables]
        jax.block_until_ready(arrays)
    except Exception:  # a donated or deleted buffer: nothing left to wait for
        pass


def _arrays(obj: Any, depth: int = 0) -> List[Any]:
    """The arrays in Keras' state containers. Keras wraps them in its tracking types
    (TrackedDict, TrackedList) that are no JAX pytrees: `block_until_ready` would take the
    container for a leaf and return at once."""
    if hasattr(obj, "block_until_ready") or depth > 6:
        return [obj]
    if hasattr(obj, "values") and callable(obj.values):
        return [a for v in obj.values() for a in _arrays(v, depth + 1)]
    if isinstance(obj, (list, tuple)) or type(obj).__name__.startswith("Tracked"):
        return [a for v in obj for a in _arrays(v, depth + 1)]
    return []


def start_trace(log_dir: str) -> None:
    """`jax.profiler.start_trace` without the Python tracer: it records every Python call
    of the training thread (thousands per step, several times the step's own cost on a
    small model) and the analysis reads none of it. XLA's thunks/kernels, the step
    markers and the HLO protos are all still recorded."""
    options = None
    try:
        options = jax.profiler.ProfileOptions()
        options.python_tracer_level = 0
    except Exception:  # an older jax without ProfileOptions: its defaults
        options = None
    if options is None:
        jax.profiler.start_trace(log_dir)
    else:
        jax.profiler.start_trace(log_dir, profiler_options=options)


class LayerProfiler(keras.callbacks.Callback):
    """Profiles Keras-on-JAX training per layer, forward and gradient (see the TensorFlow
    `LayerProfiler` for the arguments; the same reports, tab and CLI).

    Args:
        log_dir: TensorBoard log directory; reports and captures go to `log_dir/<run>`.
        profile_batch: batches to profile, as for `keras.callbacks.TensorBoard`.
        every_n_steps: repeat the window every N steps after the first.
        max_windows: stop scheduling windows after this many.
        run: run name (sub-directory of `log_dir`).
        background: analyse windows on a background thread (finished at train end).
        verbose: 1 prints one line per analysed window.
        worker: host name written into the reports (default: the capture's host).

    Examples:

    ```python
    import os; os.environ["KERAS_BACKEND"] = "jax"
    from tb_layerprof import LayerProfiler
    model.fit(x, y, epochs=3, callbacks=[LayerProfiler(log_dir="logs")])
    ```
    """

    # Keras 3 keeps batch-end dispatch asynchronous with us attached (we do not even
    # override on_train_batch_end; this says so to any CallbackList that asks).
    async_safe = True

    def __init__(self, log_dir: str = "logs",
                 profile_batch: Union[int, str, Sequence[int], None] = DEFAULT_PROFILE_BATCH,
                 every_n_steps: Optional[int] = None, max_windows: Optional[int] = None,
                 run: str = "train", background: bool = True, verbose: int = 1,
                 worker: Optional[str] = None):
        super().__init__()
        start, stop, every_n_steps = first_window(profile_batch, every_n_steps)
        self.log_dir = os.fspath(log_dir)
        self.run = run
        self.run_dir = os.path.join(self.log_dir, run)
        self.window_length = stop - start + 1 if start else 0
        self.every_n_steps = every_n_steps
        self.max_windows = max_windows
        self.background = background
        self.verbose = verbose
        self.worker = worker
        self._next_start = start
        self._step = 0
        self._windows_started = 0
        self._capturing = False
        self._window_first = self._window_stop = 0
        self._started_at = 0.0
        self._step_span = None
        self._writer = ReportWriter(self.run_dir)
        self._analyses = Analyses(background)
        self._layers: Optional[List[LayerInfo]] = None
        self.reports: List[WindowReport] = []
        self._sink = WindowSink(self.run_dir, self._writer, self.reports, verbose, backend="JAX")

    # -- Keras hooks (all on the training thread) ---------------------------------------

    def on_train_begin(self, logs=None):
        model = self.model
        if getattr(model, "run_eagerly", False) or getattr(model, "jit_compile", True) is False:
            logger.warning("layerprof: the model runs op by op (run_eagerly / jit_compile=False): "
                           "on JAX only a jitted train step names its layers; figures may be "
                           "mostly unattributed")

    def on_train_batch_begin(self, batch, logs=None):
        self._step += 1
        if self._capturing:
            if self._step > self._window_stop:
                _sync(self.model)  # the window's last step must finish inside its marker
                self._end_step_span()
                self._stop_window()
            else:
                self._end_step_span()  # the next step follows at once: no wait
        if self._step == self._next_start and self._due():
            self._start_window()
        if self._capturing:
            try:
                self._step_span = jax.profiler.StepTraceAnnotation(STEP_NAME, step_num=self._step)
                self._step_span.__enter__()
            except Exception:
                self._step_span = None

    def on_test_begin(self, logs=None):
        # Validation inside fit is no train step: close the marker (after the device).
        if self._capturing and self._step_span is not None:
            _sync(self.model)
            self._end_step_span()

    def on_epoch_end(self, epoch, logs=None):
        if self._capturing and self._step_span is not None:
            _sync(self.model)
            self._end_step_span()

    def on_train_end(self, logs=None):
        try:
            if self._capturing:
                _sync(self.model)
                self._end_step_span()
                self._stop_window()
            self.flush()
        finally:
            self._writer.close()

    # -- windows --------------------------------------------------------------------------

    def _due(self) -> bool:
        return self.max_windows is None or self._windows_started < self.max_windows

    def _end_step_span(self) -> None:
        if self._step_span is not None:
            try:
                self._step_span.__exit__(None, None, None)
            except Exception:
                pass
            self._step_span = None

    def _start_window(self) -> None:
        first, stop = self._step, self._step + self.window_length - 1
        self._next_start = self._next_start + self.every_n_steps if self.every_n_steps else 0
        try:
            if self._layers is None:
                self._layers = layer_map(self.model)
            _sync(self.model)  # earlier steps' work stays out of the window
            os.makedirs(self.run_dir, exist_ok=True)
            self._started_at = time.time()
            start_trace(self.run_dir)
        except Exception as e:  # someone else's trace, an unwritable directory: skip
            logger.warning("layerprof: window steps %d-%d skipped: could not start the profiler (%s)",
                           first, stop, one_line(e))
            return
        self._windows_started += 1
        self._capturing = True
        self._window_first, self._window_stop = first, stop

    def _stop_window(self) -> None:
        self._capturing = False
        first, last = self._window_first, min(self._step, self._window_stop)
        try:
            jax.profiler.stop_trace()
        except Exception as e:
            logger.warning("layerprof: window steps %d-%d lost: profiler stop failed (%s)",
                           first, last, one_line(e))
            return
        path = self._newest_capture()
        if path is None:
            logger.warning("layerprof: window steps %d-%d: jax.profiler wrote no .xplane.pb under %s",
                           first, last, self.run_dir)
            return
        spe = int(getattr(self.model, "steps_per_execution", 1) or 1)
        self._analyses.run(self._sink.analyse, self._analyse, path, first, last,
                           list(self._layers or ()), scopes_of(self.model), first, last, spe)

    def _newest_capture(self) -> Optional[str]:
        found = glob.glob(os.path.join(self.run_dir, "plugins", "profile", "*", "*.xplane.pb"))
        found = [p for p in found if os.path.getmtime(p) >= self._started_at - 1]
        return max(found, key=os.path.getmtime) if found else None

    # -- analysis (training thread or background thread; never fatal) -----------------------

    def _analyse(self, path, layers, scopes, first, last, spe) -> WindowReport:
        capture = xplane.read_xla(path)
        window = jax_analysis.analyse(capture, layers, first, last, scopes=scopes,
                                      batches=(last - first + 1) * spe)
        add_trace_line(path, capture, layers, scopes, window, first, last)
        if self.worker:
            window.host = self.worker
        return window

    def flush(self) -> None:
        """Wait for pending window analyses and write their reports."""
        self._analyses.flush()


def add_trace_line(path: str, capture, layers, scopes, window: WindowReport, first: int, last: int) -> None:
    """XProf's "Keras Layers" line (the TensorFlow path's events): layer spans above
    the thunks/kernels they cover. A failure is a warning in the report, never fatal."""
    try:
        spans = jax_analysis.layer_spans(capture, layers, first, last, scopes)
        for plane, events in tracelayer.lines_by_plane(spans, window).items():
            xplane.add_line(path, tracelayer.LINE_NAME, events, plane_names=[plane], line_id=None)
    except Exception as e:
        window.warnings.append(f"could not add the '{tracelayer.LINE_NAME}' line to the trace: {e}")
