"""When a callback profiles and analyses, as both backends' `LayerProfiler`s need it: Keras
`TensorBoard`'s `profile_batch` and `every_n_steps`, and the analyses' background thread.
Plain Python: no Keras, TensorFlow or JAX.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence, Tuple, Union

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
