"""The Keras callback: schedules profile windows, instruments the model, captures each
window (`capture`), hands it to `analysis` and writes the reports.

Outside its windows the callback costs a counter increment per batch. Profiling problems
(an unwritable log_dir, someone else's profiler session, a corrupt capture, a bug in our
analysis) are logged as warnings and never stop or change training.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import List, Optional, Sequence, Union

import tensorflow as tf

from tb_layerprof import analysis, work
from tb_layerprof.capture import Capture, worker_identity
from tb_layerprof.schedule import (  # noqa: F401 (parse_profile_batch: public here too)
    DEFAULT_PROFILE_BATCH, Analyses, WindowSink, first_window, one_line, parse_profile_batch)
from tb_layerprof.instrument import Instrumenter
from tb_layerprof.report import WindowReport
from tb_layerprof.summary import ReportWriter

logger = logging.getLogger("tb_layerprof")

def _callback_base() -> type:
    """The Keras `Callback` class that `tf.keras` resolves to: Keras 3's, or tf_keras'
    when `TF_USE_LEGACY_KERAS=1` is set (TensorFlow's own switch, read at import)."""
    try:
        return tf.keras.callbacks.Callback
    except ImportError as e:
        if os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true"):
            raise ImportError(
                "tb_layerprof: TF_USE_LEGACY_KERAS is set but tf_keras cannot be imported "
                f"({e}); install it (pip install 'tb_layerprof[tf_keras]') or unset "
                "TF_USE_LEGACY_KERAS to use Keras 3"
            ) from e
        raise


class LayerProfiler(_callback_base()):
    """Profiles training and reports time and memory per Keras layer, forward and gradient.

    Captures TensorFlow profiler windows during `model.fit`, attributes every op and every
    allocation to the layer that caused it, diagnoses slow layers and writes one report per
    window to TensorBoard event files (the "Layer Profile" tab, `tb-layerprof report`).

    Args:
        log_dir: TensorBoard log directory. Reports and raw profiles go to `log_dir/<run>`.
        profile_batch: Which batches to profile, as for `keras.callbacks.TensorBoard`:
            an int N (just batch N), a pair `(start, stop)` (inclusive, counted from 1 over
            the whole training) or "start,stop". 0 disables the first window. Defaults to
            (10, 14): after warm-up and tracing.
        every_n_steps: If set, repeat the window every N steps after the first one, so the
            report shows how layers change over training.
        max_windows: Stop scheduling windows after this many (None: no limit).
        run: Run name (sub-directory of `log_dir`), "train" like Keras' TensorBoard.
        background: Analyse windows in a background thread (True) or right after the
            window on the training thread (False). Pending analyses finish at train end.
        verbose: 1 prints one line per analysed window; 0 is silent (warnings still log).
        worker: Name of this process in a multi-worker job, used as the report's host and
            the capture's file name so workers sharing `log_dir` never overwrite each
            other. Defaults to `<task type>-<index>` from `TF_CONFIG` when it is set.

    Examples:

    ```python
    from tb_layerprof import LayerProfiler
    model.fit(x, y, epochs=3, callbacks=[LayerProfiler(log_dir="logs")])
    # then: tb-layerprof report logs    or    tensorboard --logdir logs
    ```

    Custom training loops: drive it through `keras.callbacks.CallbackList([profiler],
    model=model)` (`on_train_begin()`, `on_train_batch_begin/end(step)` around each step,
    `on_train_end()`), calling `on_train_begin()` before your `tf.function` is first
    called: the layer map is recorded while it is traced. With `TF_USE_LEGACY_KERAS=1`
    set before TensorFlow is imported, this is a tf_keras callback (Keras 2 `fit`).
    """

    def __init__(
        self,
        log_dir: str = "logs",
        profile_batch: Union[int, str, Sequence[int], None] = DEFAULT_PROFILE_BATCH,
        every_n_steps: Optional[int] = None,
        max_windows: Optional[int] = None,
        run: str = "train",
        background: bool = True,
        verbose: int = 1,
        worker: Optional[str] = None,
    ):
        super().__init__()
        self._supports_tf_logs = True  # tf_keras: we never read logs, don't sync them
        start, stop, every_n_steps = first_window(profile_batch, every_n_steps)
        self.log_dir = os.fspath(log_dir)
        self.run = run
        self.run_dir = os.path.join(self.log_dir, run)
        self.window_length = stop - start + 1 if start else 0
        self.every_n_steps = every_n_steps
        self.max_windows = max_windows
        self.background = background
        self.verbose = verbose
        self.worker = worker or worker_identity()

        self._next_start = start  # 0: no window scheduled
        self._step = 0  # global train batch counter, 1-based like Keras' TensorBoard
        self._windows_started = 0
        self._capturing = False
        self._window_first = 0
        self._window_stop = 0
        self._step_trace = None
        self._step_open = False  # a profiled step began and has not been closed yet
        self._training_thread: Optional[int] = None  # where the batch begins run
        self._batch_begin = 0
        self._window_batches = 0  # batches the window ran (more than its steps under steps_per_execution)
        self._capture = Capture(self.run_dir, self.worker)
        self._instrumenter: Optional[Instrumenter] = None
        self._mode = "graph"
        self._writer = ReportWriter(self.run_dir)
        self._analyses = Analyses(background)
        self._graph_cache: dict = {}
        self.reports: List[WindowReport] = []  # windows analysed by this callback
        self._sink = WindowSink(self.run_dir, self._writer, self.reports, verbose)

    # -- schedule ----------------------------------------------------------------------

    def _window_due_in(self, first_step: int, steps: Optional[int]) -> bool:
        if not self._next_start:
            return False
        if self.max_windows is not None and self._windows_started >= self.max_windows:
            return False
        if steps is None:
            return True
        return self._next_start <= first_step + steps - 1

    def _fit_steps(self) -> Optional[int]:
        params = self.params or {}
        steps, epochs = params.get("steps"), params.get("epochs")
        if steps is None or epochs is None:
            return None
        return int(steps) * int(epochs)

    # -- Keras hooks ---------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        try:
            if not self._window_due_in(self._step + 1, self._fit_steps()):
                return
            model = self.model
            self._mode = "eager" if getattr(model, "run_eagerly", False) else (
                "xla" if getattr(model, "jit_compile", False) is True else "graph"
            )
            if self._instrumenter is None:
                self._instrumenter = Instrumenter(model)
            self._instrumenter.install()
            self._instrumenter.install_categories(model)
            # Custom training loops use their own optimizer and loss objects.
            self._instrumenter.install_class_categories()
            opt = getattr(model, "optimizer", None)
            if opt is not None:
                name = str(getattr(opt, "name", "") or "")
                self._instrumenter.layer_map.optimizer_scopes = sorted(
                    {name, name.lower(), type(opt).__name__, type(opt).__name__.lower()} - {""}
                )
            # The train function may have been traced before our wrappers existed (an
            # earlier fit): make a fresh one so the next trace records the layer map.
            if self._mode != "eager" and getattr(model, "train_function", None) is not None:
                model.make_train_function(force=True)
        except Exception as e:  # never fatal
            self._disable(f"could not instrument the model: {e}")

    # Keras dispatches batch-end callbacks asynchronously where its backend allows it
    # (thread-safe backends; `callback_list._configure_async_dispatch`) unless a callback
    # overriding `on_train_batch_end` is not `async_safe`. Ours is: a batch end that runs on
    # the training thread closes its step right there (exact, and inside the step markers
    # tf_keras draws itself); one dispatched to a pool thread does nothing, and the next
    # batch begin (or the end of the epoch, validation or training), which always runs in
    # order on the training thread, closes the step instead. So attaching the profiler
    # never synchronises the steps of `fit`.
    async_safe = True

    def on_train_batch_begin(self, batch, logs=None):
        self._training_thread = threading.get_ident()
        self._end_step(next_batch=batch)
        self._step += 1
        if self._step == self._next_start:
            self._start_window()
        if self._capturing:
            self._batch_begin = batch
            try:
                self._step_trace = tf.profiler.experimental.Trace("train", step_num=self._step, _r=1)
                self._step_trace.__enter__()
            except Exception:
                self._step_trace = None
            self._step_open = True

    def on_train_batch_end(self, batch, logs=None):
        if threading.get_ident() == self._training_thread:
            # Keras passes the first and last batch of an execution (steps_per_execution).
            self._end_step(last_batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        self._end_step()

    def on_test_begin(self, logs=None):
        self._end_step()  # fit's validation is not part of the last training step

    def _end_step(self, next_batch=None, last_batch=None) -> None:
        """Close the profiled step still open: its step marker, its batches, and the window
        if it was the window's last step."""
        if not self._capturing or not self._step_open:
            return
        self._step_open = False
        self._window_batches += self._batches_of_step(next_batch, last_batch)
        if self._step_trace is not None:
            try:
                self._step_trace.__exit__(None, None, None)
            except Exception:
                pass
            self._step_trace = None
        if self._step >= self._window_stop:
            self._stop_window()

    def _batches_of_step(self, next_batch, last_batch) -> int:
        """Batches the step ran: more than one under steps_per_execution. Its last batch
        tells (the batch end), else the next step's first batch, else (the epoch's last
        step) the model's steps_per_execution, clipped to the epoch's steps."""
        try:
            begin = int(self._batch_begin)
            if last_batch is not None:
                return max(1, int(last_batch) - begin + 1)
            if next_batch is not None and int(next_batch) > begin:
                return int(next_batch) - begin
            per_execution = int(getattr(self.model, "steps_per_execution", 1) or 1)
            steps = (self.params or {}).get("steps")
            if steps:
                per_execution = min(per_execution, int(steps) - begin)
            return max(1, per_execution)
        except (TypeError, ValueError):
            return 1

    def on_train_end(self, logs=None):
        try:
            self._end_step()
            if self._capturing:
                self._stop_window()  # training ended inside a window: keep what we have
            self.flush()
        finally:
            if self._instrumenter is not None:
                self._instrumenter.restore()
            self._writer.close()

    # -- capture ---------------------------------------------------------------------

    def _start_window(self) -> None:
        first, stop = self._step, self._step + self.window_length - 1
        self._schedule_next()
        if self._instrumenter is None:
            return
        try:
            self._capture.prepare()
            self._instrumenter.refresh_params()
            # Eager layer calls of an earlier window are not this one's. Spans are on in
            # every mode: a `tf.function` step never runs the wrappers (they live only
            # at trace time), while an eager custom training loop needs them.
            self._instrumenter.layer_map.calls = [
                c for c in self._instrumenter.layer_map.calls if c.graph_id != 0
            ]
            self._instrumenter.eager_spans = True
            self._capture.start()
        except Exception as e:
            # Someone else's profiler session, or an unwritable directory: skip this window
            # and leave any other session alone.
            self._instrumenter.eager_spans = False
            logger.warning(
                "layerprof: window steps %d-%d skipped: could not start the profiler (%s)",
                first, stop, one_line(e),
            )
            return
        self._windows_started += 1
        self._capturing = True
        self._window_first, self._window_stop = first, stop
        self._window_batches = 0

    def _schedule_next(self) -> None:
        if self.every_n_steps:
            self._next_start += self.every_n_steps
        else:
            self._next_start = 0

    def _stop_window(self) -> None:
        self._capturing = False
        if self._instrumenter is not None:
            self._instrumenter.eager_spans = False
        first, last = self._window_first, min(self._step, self._window_stop)
        try:
            self._capture.stop()
        except Exception as e:
            logger.warning("layerprof: window steps %d-%d lost: profiler stop failed (%s)",
                           first, last, one_line(e))
            return
        new = self._capture.collect(first, last)
        if not new:
            logger.warning("layerprof: window steps %d-%d: the profiler wrote no .xplane.pb under %s",
                           first, last, self.run_dir)
            return
        layer_map = self._instrumenter.layer_map.snapshot()
        mode = self._mode
        if mode != "eager" and any(c.graph_id == 0 for c in layer_map.calls):
            # Layers ran eagerly during the window: a custom loop without tf.function.
            mode = "eager"
            layer_map.calls = [c for c in layer_map.calls if c.graph_id == 0]
        self._analyses.run(self._sink.analyse, self._analyse, new[-1], first, last, layer_map,
                           dict(self._instrumenter.graphs), first, last, mode, self._window_batches)

    # -- analysis ----------------------------------------------------------------------

    def _graph_tables(self, graphs: dict) -> dict:
        """Traced TF graphs as the plain (name, type, input names) rows analysis reads, so
        analysis never touches TensorFlow objects; each table also carries its ops' static
        shapes (`work.ShapedTable.shapes`, for FLOP and byte counts). Cached: a traced
        graph never changes."""
        tables = {}
        for gid, graph in graphs.items():
            if gid not in self._graph_cache:
                rows = work.ShapedTable()
                for op in graph.get_operations():
                    try:
                        inputs = [t.op.name for t in op.inputs]
                    except Exception:
                        inputs = []
                    rows.append((op.name, op.type, inputs))
                    shapes = work.op_shapes(op)
                    if shapes is not None:
                        rows.shapes[op.name] = shapes
                self._graph_cache[gid] = rows
            tables[gid] = self._graph_cache[gid]
        return tables

    def _analyse(self, path, layer_map, graphs, first, last, mode, batches=0) -> WindowReport:
        window, _ = analysis.analyse_window(path, layer_map, self._graph_tables(graphs), first,
                                            last, mode=mode, batches=batches, trace_line=True)
        return window

    def flush(self) -> None:
        """Wait for pending window analyses and write their reports."""
        self._analyses.flush()

    def _disable(self, why: str) -> None:
        logger.warning("layerprof: profiling disabled for this run: %s (training continues)", why)
        self._next_start = 0
        if self._instrumenter is not None:
            self._instrumenter.restore()
            self._instrumenter = None
