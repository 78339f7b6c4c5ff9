"""A `diff.diff_windows` document as terminal text: two windows, step and op time, each
layer's change sorted by |delta|, then the time outside layers."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from tb_layerprof import diff as layer_diff
from tb_layerprof import figures
from tb_layerprof.render.columns import (
    DEFAULT_TABLE_TOP,
    MAX_NAME_WIDTH,
    aligned,
    clip,
    ratio_text,
    signed_size,
    signed_time,
    step_span,
)
from tb_layerprof.units import Units, as_float, safe_text

DIFF_COLUMNS = (
    ("layer", "<"),
    ("base", ">"),
    ("run", ">"),
    ("delta", ">"),
    ("ratio", ">"),
    ("forward", "<"),
    ("gradient", "<"),
    ("alloc delta", ">"),
    ("peak delta", ">"),
    ("MFLOP delta", ">"),
    ("*", "<"),
    ("change", "<"),
)
OTHER_COLUMNS = (("category", "<"), ("base", ">"), ("run", ">"), ("delta", ">"), ("ratio", ">"))

Doc = Dict[str, Any]


def window_label(info: Dict[str, object]) -> str:
    """'steps 10-14 (5 profiled) | host worker-0', plus the mode when not graph."""
    step, steps = int(as_float(info.get("step"))), max(int(as_float(info.get("steps"), 1)), 1)
    text = f"steps {step_span(step, steps)} ({steps} profiled)"
    text += f" | host {safe_text(info.get('host')) or '?'}"
    mode = info.get("mode")
    if mode and mode != "graph":
        text += f" | {safe_text(mode)} mode"
    return text


def layer_change(row: Dict[str, object], arrow: str) -> str:
    """What changed besides the numbers: added/removed, class swapped, hints gone or new."""
    parts = []
    status = row.get("status")
    both = status == layer_diff.STATUS_BOTH
    if not both:
        parts.append(str(status))
    base_cls, cls = row.get("base_class_name"), row.get("class_name")
    if both and base_cls != cls:
        parts.append(f"{safe_text(base_cls)} {arrow} {safe_text(cls)}")
    elif not both and cls:
        parts.append(safe_text(cls))
    if both:
        base_hints = list(row.get("base_hints") or [])
        run_hints = list(row.get("run_hints") or [])
        gone = [h for h in base_hints if h not in run_hints]
        new = [h for h in run_hints if h not in base_hints]
        if gone:
            parts.append("fixed: " + safe_text(",".join(gone)))
        if new:
            parts.append("new: " + safe_text(",".join(new)))
    return "; ".join(parts)


def _header(doc: Doc, units: Units) -> List[str]:
    arrow = units.arrow
    head = f"Diff: run {safe_text(doc['run'])} against base {safe_text(doc['base'])}"
    lines = [head, "=" * min(max(len(head), 60), 100)]
    name_w = max(len(safe_text(doc["base"])), len(safe_text(doc["run"])))
    for label, key in (("base", "base"), ("run ", "run")):
        name = safe_text(doc[key]).ljust(name_w)
        lines.append(f"  {label} {name}  {window_label(doc[key + '_window'])}")
    lines.extend(f"note: {safe_text(note)}" for note in doc.get("notes") or [])
    lines.append("")
    for label, key in (("step time", "step_time"), ("op time", "op_time")):
        c = doc[key]
        text = (
            f"{label:<10} {units.time(c['base_us'])} {arrow} {units.time(c['run_us'])}"
            f"  ({signed_time(c['delta_us'], units)}, ratio {ratio_text(c['ratio'])}"
        )
        if c["base_us"] > 0 and c["run_us"] > 0 and c["base_us"] != c["run_us"]:
            text += ", " + figures.speedup_text(figures.speedup(c["base_us"], c["run_us"]))
        lines.append(text + ")")
    counts = doc.get("counts") or {}
    lines.append(
        f"layers     {counts.get('both', 0)} in both, {counts.get('added', 0)} added,"
        f" {counts.get('removed', 0)} removed"
    )
    return lines


def _flop_delta(delta: Any) -> str:
    """FLOPs per step, run - base, in millions ("-" where either side has no count)."""
    if not isinstance(delta, (int, float)) or isinstance(delta, bool):
        return "-"
    return f"{as_float(delta) / 1e6:+.3g}"


def _layer_cells(row: Doc, units: Units) -> List[str]:
    arrow = units.arrow
    added = row["status"] == layer_diff.STATUS_ADDED
    removed = row["status"] == layer_diff.STATUS_REMOVED
    return [
        clip(safe_text(row["path"]), MAX_NAME_WIDTH),
        "-" if added else units.time(row["base_us"]),
        "-" if removed else units.time(row["run_us"]),
        signed_time(row["delta_us"], units),
        ratio_text(row["ratio"]),
        f"{units.time(row['base_forward_us'])} {arrow} {units.time(row['run_forward_us'])}",
        f"{units.time(row['base_backward_us'])} {arrow} {units.time(row['run_backward_us'])}",
        signed_size(row["delta_alloc_bytes"]),
        signed_size(row["delta_peak_live_bytes"]),
        _flop_delta(row.get("delta_flops")),
        "*" if row.get("custom") else "",
        layer_change(row, arrow),
    ]


def _layer_table(doc: Doc, units: Units, top: Optional[int]) -> List[str]:
    rows_doc = list(doc["layers"])
    if not rows_doc:
        return ["(no layers in either window)"]
    shown = rows_doc[:top] if top else rows_doc
    lines = aligned([_layer_cells(row, units) for row in shown], DIFF_COLUMNS)
    if len(shown) < len(rows_doc):
        lines.append(f"... {len(rows_doc) - len(shown)} more layer(s) (--top 0 shows all)")
    lines.append(
        "sorted by |delta|; times per step, forward/gradient include sublayers;"
        " delta = run - base, ratio = run / base; * = custom layer"
    )
    return lines


def _other_table(doc: Doc, units: Units) -> List[str]:
    rows = []
    for key, c in (doc.get("other") or {}).items():
        name = key[:-3] if key.endswith("_us") else key
        rows.append([
            safe_text(name),
            units.time(c["base_us"]),
            units.time(c["run_us"]),
            signed_time(c["delta_us"], units),
            ratio_text(c["ratio"]),
        ])
    return ["Outside layers (per step):"] + ["  " + line for line in aligned(rows, OTHER_COLUMNS)]


def render_diff_table(doc: Doc, units: Units, top: Optional[int] = DEFAULT_TABLE_TOP) -> str:
    """The `diff_windows` document as terminal text."""
    lines = _header(doc, units)
    lines.append("")
    lines += _layer_table(doc, units, top)
    lines.append("")
    lines += _other_table(doc, units)
    return "\n".join(lines) + "\n"
