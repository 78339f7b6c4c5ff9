"""Eager mode's owners: no graph, so an op belongs to the innermost layer span around it.

In eager mode (`run_eagerly=True`, custom loops without `tf.function`) the instrumented
layers leave profiler spans: one per forward call, category spans (optimizer, loss...),
and gradient begin/end markers the tape leaves at a layer's outputs and inputs. This
module indexes them per trace line and answers "whose span holds [start, end]?".
"""

from __future__ import annotations

import bisect
import collections
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

from tb_layerprof.owners import BACKWARD, CATEGORY_KEYS, FORWARD, Owner
from tb_layerprof.xplane import TAPE_SPAN

# Per trace line: (span starts, sorted) and the (start, end, path) spans in that order.
SpanIndex = Dict[int, Tuple[List[int], List[Tuple[int, int, str]]]]


class EagerSpans(NamedTuple):
    """Eager mode's layer spans per line: forward (and category) spans, gradient spans."""

    forward: SpanIndex
    gradient: SpanIndex

    def owner_at(self, line: Optional[int], s: int, e: int) -> Optional[Owner]:
        """See `eager_owner_at`."""
        return eager_owner_at(self.forward, self.gradient, line, s, e)


def eager_owner_at(spans: SpanIndex, grads: SpanIndex, line: Optional[int], s: int,
                   e: int) -> Optional[Owner]:
    """Eager mode: the owner of [s, e] by the innermost layer/category span, then by the
    gradient spans; `line` None searches every line (allocations carry no thread)."""
    for index, phase in ((spans, FORWARD), (grads, BACKWARD)):
        for key in (index if line is None else (line,)):
            path = _innermost_span(index, key, s, e)
            if path is not None:
                return (path, "") if path in CATEGORY_KEYS else (path, phase)
    return None


def _innermost_span(spans_by_line: SpanIndex, line: int, start: int, end: int) -> Optional[str]:
    """Innermost eager layer span on `line` that contains [start, end]."""
    spans = spans_by_line.get(line)
    if not spans:
        return None
    starts = spans[0]
    i = bisect.bisect_right(starts, start) - 1
    best = None
    best_len = None
    # Spans are few per line; walk back over the candidates that start before the op.
    while i >= 0:
        s, e, path = spans[1][i]
        if s <= start and end <= e and (best_len is None or e - s < best_len):
            best, best_len = path, e - s
        i -= 1
    return best


def _index_spans(spans: Iterable[Tuple[int, int, int, str]]) -> SpanIndex:
    index: SpanIndex = {}
    for line, s, e, path in sorted(spans, key=lambda x: x[1]):
        entry = index.setdefault(line, ([], []))
        entry[0].append(s)
        entry[1].append((s, e, path))
    return index


def eager_spans(spans, window_end: Optional[int]) -> EagerSpans:
    """Eager mode: (forward and category spans, gradient spans) per line.

    A layer's gradient runs from the marker left when backprop reaches its outputs to the
    one left at its inputs. Inputs that need no gradient (the model's input data) leave no
    end marker; such a gradient ends at the next marker of a layer outside it, or where
    the optimizer/loss/metrics code starts, or at the end of the window.
    """
    forward = [(l, s, e, p) for l, s, e, p, k in spans
               if k == "forward" or (k == "category" and p != TAPE_SPAN)]
    tapes: Dict[int, List[Tuple[int, int]]] = collections.defaultdict(list)
    boundaries: Dict[int, List[Tuple[int, str]]] = collections.defaultdict(list)
    for l, s, e, p, k in spans:
        if k == "category" and p == TAPE_SPAN:
            tapes[l].append((s, e))
    markers = sorted(((l, s, p, k) for l, s, e, p, k in spans if k in ("grad_begin", "grad_end")),
                     key=lambda m: m[1])
    for l, s, p, k in markers:
        boundaries[l].append((s, p))
    for l, s, e, p, k in spans:
        if k == "category":
            boundaries[l].append((s, ""))
    for b in boundaries.values():
        b.sort()
    closed, open_by_line = _pair_gradient_markers(markers)
    for line, stack in open_by_line.items():
        for path, start in stack:
            end = window_end if window_end is not None else start
            for t0, t1 in tapes.get(line, ()):
                if t0 <= start <= t1:
                    end = t1  # backprop ended with the tape's gradient call
                    break
            for t, other in boundaries[line]:
                if t > start and not (other == path or other.startswith(path + "/")):
                    end = min(end, t)
                    break
            closed.append((line, start, end, path))
    return EagerSpans(_index_spans(forward), _index_spans(closed))


def _pair_gradient_markers(markers):
    """Match each layer's gradient begin marker with its end marker on the same line:
    (closed (line, start, end, path) spans, per line the (path, start) left open)."""
    closed: List[Tuple[int, int, int, str]] = []
    open_by_line: Dict[int, List[Tuple[str, int]]] = collections.defaultdict(list)
    for line, t, path, kind in markers:
        stack = open_by_line[line]
        if kind == "grad_begin":
            stack.append((path, t))
            continue
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == path:
                closed.append((line, stack[i][1], t, path))
                del stack[i]
                break
    return closed, open_by_line
