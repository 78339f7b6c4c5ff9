"""A `workers.compare_hosts` document as terminal text: each worker's times, the
straggler layer, then every layer's time per worker sorted by spread."""

from __future__ import annotations

import textwrap
from typing import Any, Dict, List, Optional

from tb_layerprof.render.columns import (
    DEFAULT_TABLE_TOP,
    MAX_NAME_WIDTH,
    aligned,
    clip,
    ratio_text,
    signed_time,
    step_span,
)
from tb_layerprof.units import Units, as_float, safe_text

MAX_HOST_COLUMNS = 6  # more workers than this: min/max columns instead of one per worker
HOST_COLUMNS = (("worker", "<"), ("step time", ">"), ("op time", ">"), ("compute", ">"),
                ("collective", ">"), ("excess", ">"), ("rank", "<"))

Doc = Dict[str, Any]


def host_name(host: object) -> str:
    """A worker's name, terminal-safe; '?' when it has none."""
    return safe_text(host) or "?"


def _hosts_section(run_name: str, doc: Doc, units: Units) -> List[str]:
    hosts = doc["hosts"]
    step, steps = int(as_float(doc["step"])), max(int(as_float(doc["steps"], 1)), 1)
    head = (
        f"Run {safe_text(run_name)} | steps {step_span(step, steps)} ({steps} profiled)"
        f" | {len(hosts)} workers | slowest {host_name(doc['slowest_host'])},"
        f" fastest {host_name(doc['fastest_host'])}"
    )
    rows = []
    for h in hosts:
        mark = "slowest" if h["host"] == doc["slowest_host"] else (
            "fastest" if h["host"] == doc["fastest_host"] else "")
        rows.append([
            clip(host_name(h["host"]), MAX_NAME_WIDTH),
            units.time(h["step_time_us"]),
            units.time(h["op_time_us"]),
            units.time(h["compute_us"]),
            units.time(h["collective_us"]),
            signed_time(h["excess_us"], units),
            mark,
        ])
    lines = [head, "=" * min(len(head), 100), ""] + aligned(rows, HOST_COLUMNS)
    lines.extend(textwrap.wrap(
        "compute = op time outside collectives; excess = compute - the fastest worker's. In"
        " synchronous training the fast workers wait for the slowest at the all-reduce: their"
        " wait is collective time, and step times even out.", width=100,
    ))
    return lines


def _straggler_section(doc: Doc, units: Units) -> List[str]:
    straggler = doc.get("straggler")
    if not straggler:
        if len(doc["hosts"]) > 1:
            return ["No straggler layer: no layer takes longer on the slowest worker."]
        return []
    share = straggler.get("share")
    of_it = f" ({share:.0%} of it)" if share is not None else ""
    lines = [
        f"Straggler: {host_name(straggler['host'])} computes"
        f" {units.time(straggler['excess_us'])}/step more than"
        f" {host_name(straggler['fastest_host'])}; layer"
        f" {safe_text(straggler['layer'])} accounts for"
        f" {signed_time(straggler['extra_us'], units)}{of_it}."
    ]
    causes = []
    for c in straggler.get("causes") or []:
        name = str(c["name"])
        if c["kind"] == "other":
            name = (name[:-3] if name.endswith("_us") else name) + " (outside layers)"
        causes.append(f"{safe_text(name)} {signed_time(c['extra_us'], units)}")
    if causes:
        lines.extend(textwrap.wrap(
            "largest differences (own time): " + ", ".join(causes),
            width=100, initial_indent="  ", subsequent_indent="    ",
        ))
    return lines


def _layer_cells(layer: Doc, names: List[str], per_host: bool, units: Units) -> List[str]:
    by_host = layer["by_host"]
    cells = [clip(safe_text(layer["path"]), MAX_NAME_WIDTH)]
    if per_host:
        cells += [units.time(by_host[n]["total_us"]) if n in by_host else "-" for n in names]
    else:
        totals = [t["total_us"] for t in by_host.values()]
        cells += [units.time(min(totals)), units.time(max(totals))]
    missing = layer.get("missing_on") or []
    cells += [
        units.time(layer["spread_us"]),
        ratio_text(layer["ratio"]),
        host_name(layer["slowest_host"]) if len(by_host) > 1 else "",
        clip(", ".join(host_name(m) for m in missing), 40),
    ]
    return cells


def _layer_table(doc: Doc, units: Units, top: Optional[int]) -> List[str]:
    layer_rows = list(doc["layers"])
    if not layer_rows:
        return ["(no layers in these windows)"]
    shown = layer_rows[:top] if top else layer_rows
    names = [h["host"] for h in doc["hosts"]]
    per_host = len(names) <= MAX_HOST_COLUMNS
    columns = [("layer", "<")]
    if per_host:
        columns += [(clip(host_name(n), 24), ">") for n in names]
    else:
        columns += [("min", ">"), ("max", ">")]
    columns += [("spread", ">"), ("ratio", ">"), ("slowest", "<"), ("missing on", "<")]
    rows = [_layer_cells(layer, names, per_host, units) for layer in shown]
    lines = ["Layers by spread between workers (forward + gradient per step, sublayers included):"]
    lines += aligned(rows, columns)
    if len(shown) < len(layer_rows):
        lines.append(f"... {len(layer_rows) - len(shown)} more layer(s) (--top 0 shows all)")
    lines.append("spread = slowest - fastest worker; ratio = slowest / fastest")
    return lines


def render_workers_table(
    run_name: str, doc: Doc, units: Units, top: Optional[int] = DEFAULT_TABLE_TOP
) -> str:
    """One `workers.compare_hosts` document as terminal text."""
    lines = _hosts_section(run_name, doc, units)
    lines.append("")
    lines += _straggler_section(doc, units)
    lines.append("")
    lines += _layer_table(doc, units, top)
    return "\n".join(lines) + "\n"
