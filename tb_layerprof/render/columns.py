"""What the text tables share: column alignment, clipping long names, signed figures."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from tb_layerprof.figures import layer_total
from tb_layerprof.report import LayerStats
from tb_layerprof.units import Units

DEFAULT_TABLE_TOP = 30  # rows a table shows unless asked (`--top`)
MAX_NAME_WIDTH = 48  # widest layer-name cell before it is clipped in the middle

Columns = Sequence[Tuple[str, str]]  # (title, "<" left or ">" right aligned)


def clip(text: str, width: int) -> str:
    """`text` cut to `width` with "…", keeping its indentation and its end (the leaf name)."""
    if len(text) <= width:
        return text
    indent = len(text) - len(text.lstrip(" "))
    return text[:indent] + "…" + text[len(text) - (width - indent - 1) :]


def aligned(rows: List[List[str]], columns: Columns) -> List[str]:
    """Header, rule and rows as lines, each column as wide as its widest cell."""
    header = [title for title, _ in columns]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def fmt(cells: List[str]) -> str:
        out = []
        for cell, width, (_, align) in zip(cells, widths, columns):
            out.append(cell.ljust(width) if align == "<" else cell.rjust(width))
        return "  ".join(out).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def step_span(step: int, steps: int) -> str:
    """'10' for one step, '10-14' for five."""
    return f"{step}" if steps == 1 else f"{step}-{step + steps - 1}"


def signed_time(us: float, units: Units) -> str:
    """A time difference, '+' when positive."""
    text = units.time(us)
    return "+" + text if us > 0 else text


def signed_size(n: Optional[float]) -> str:
    """A byte-count difference, '+' when positive; 'n/a' when unknown."""
    if n is None:
        return "n/a"
    text = Units.size(n)
    return "+" + text if n > 0 else text


def ratio_text(value: Optional[float]) -> str:
    """A ratio as '0.005x', '1.25x' or '12.3x'; '-' when there is none."""
    if value is None:
        return "-"
    if value < 0.01:
        return f"{value:.3f}x"
    if value < 10:
        return f"{value:.2f}x"
    return f"{value:.1f}x"


def largest_in_tree(
    tree: Sequence[Tuple[LayerStats, int]], layers: Sequence[LayerStats], top: Optional[int]
) -> List[Tuple[LayerStats, int]]:
    """The rows of `tree` (layer, depth) whose layer is among the `top` largest by total
    time (ties by path), in tree order; all of them when `top` is 0/None or not exceeded."""
    if not top or len(tree) <= top:
        return list(tree)
    keep = {id(x) for x in sorted(layers, key=lambda x: (-layer_total(x), str(x.path)))[:top]}
    return [(x, d) for x, d in tree if id(x) in keep]
