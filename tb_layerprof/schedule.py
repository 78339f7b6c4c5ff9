"""When a callback profiles and analyses, as both backends' `LayerProfiler`s need it: Keras
`TensorBoard`'s `profile_batch` and `every_n_steps`, the analyses' background thread, and
what happens to an analysed window (recorded, logged) or a failed one (a warning).
Plain Python: no Keras, TensorFlow or JAX.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from tb_layerprof import figures
from tb_layerprof.report import WindowReport
from tb_layerprof.xplane.records import ProfileError

logger = logging.getLogger("tb_layerprof")

DEFAULT_PROFILE_BATCH = (10, 14)

ProfileBatch = Union[int, str, Sequence[int], None]


def parse_profile_batch(profile_batch: ProfileBatch) -> Tuple[int, int]:
    """Keras `TensorBoard` meaning: N -> (N, N); (a, b) or "a,b" -> (a, b); 0/None -> off (0, 0)."""
    if profile_batch is None:
        return (0, 0)
    try:
        if isinstance(profile_batch, str):
            values = [int(p) for p in profile_batch.split(",") if p.strip()]
        elif isinstance(profile_batch, int):
            values = [profile_batch]
        else:
            values = [int(v) for v in profile_batch]
    except (TypeError, ValueError):
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] < 0 or values[1] < values[0] or (values[0] == 0 and values[1] != 0):
        raise ValueError("profile_batch must be a non-negative integer or a pair (start, stop) of "
                         f"positive integers with start <= stop, got {profile_batch!r}")
    return values[0], values[1]


def first_window(profile_batch: ProfileBatch, every_n_steps: Optional[int]) -> Tuple[int, int, Optional[int]]:
    """(first step, last step, repeat every N steps or None) of the window schedule: with
    `every_n_steps` and no profile_batch, the first window is step N alone."""
    start, stop = parse_profile_batch(profile_batch)
    if every_n_steps is not None and int(every_n_steps) <= 0:
        raise ValueError(f"every_n_steps must be a positive integer, got {every_n_steps!r}")
    if every_n_steps is not None and start == 0:
        start, stop = int(every_n_steps), int(every_n_steps)
    return start, stop, int(every_n_steps) if every_n_steps else None


def one_line(e: BaseException) -> str:
    """An exception as one short log line (its first line, else its type)."""
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


class Analyses:
    """Where window analyses run: one background thread (in order, finished by `flush`)
    or, with `background=False`, at once on the caller's thread. A failure that escapes
    an analysis is logged, never raised into training."""

    def __init__(self, background: bool):
        self.background = background
        self._executor = None
        self._pending: list = []

    def run(self, analyse, *args) -> None:
        if not self.background:
            analyse(*args)
            return
        if self._executor is None:
            import concurrent.futures

            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="layerprof-analysis")
        self._pending.append(self._executor.submit(analyse, *args))

    def flush(self) -> None:
        """Wait for pending analyses."""
        for future in self._pending:
            try:
                future.result()
            except Exception as e:
                logger.warning("layerprof: analysis failed: %s", one_line(e))
        self._pending = []


class WindowSink:
    """Where a callback's analysed windows go: the run's event file, the callback's
    `reports` list and (verbose) one log line each."""

    def __init__(self, run_dir: str, writer: Any, reports: List[WindowReport], verbose: int,
                 backend: str = ""):
        self.run_dir, self.writer, self.reports = run_dir, writer, reports
        self.verbose, self.backend = verbose, backend

    def analyse(self, analyse: Callable[..., WindowReport], path: str, first: int, last: int,
                *args) -> Optional[WindowReport]:
        """`analyse(path, *args)` of the window of steps first..last captured at `path`,
        then recorded; any failure is a warning that keeps the raw profile, never raised."""
        try:
            window = analyse(path, *args)
        except ProfileError as e:
            logger.warning("layerprof: window steps %d-%d not analysed: %s (raw profile kept)",
                           first, last, e)
            return None
        except Exception as e:  # a bug of ours must not cost the user their training
            logger.warning("layerprof: window steps %d-%d not analysed: %s: %s (raw profile kept at %s)",
                           first, last, type(e).__name__, one_line(e), path)
            return None
        window.profile_dir = os.path.relpath(os.path.dirname(path), self.run_dir).replace(os.sep, "/")
        window.wall_time = time.time()
        self.writer.write(window)
        self.reports.append(window)
        if self.verbose:
            print(figures.summary_line(window, first, last, backend=self.backend), flush=True)
        return window
