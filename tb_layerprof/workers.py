"""Compare the workers of a multi-worker job, step by step: which layer makes which one slow.

Pure Python over `report.WindowReport` (no TensorFlow), used by `tb-layerprof workers`
and by the TensorBoard plugin. In a multi-worker job (e.g. `MultiWorkerMirroredStrategy`)
every worker profiles the same steps and files its own window, with `host` = its worker
identity ("worker-0"...). `compare_hosts` takes the windows of one step, one per host, and
returns this document (the API is stable; fields may be added):

    {"step": 3, "steps": 3,
     "hosts": [{"host": "worker-0", "step_time_us": 7100.0, "op_time_us": 7100.0,
                "compute_us": 1130.0, "collective_us": 5970.0,
                "excess_us": 0.0, "other": {"optimizer_us": ..., ...}},
               {"host": "worker-1", ...}],
     "slowest_host": "worker-1", "fastest_host": "worker-0",
     "layers": [{"path": "busy", "class_name": "Busy", "custom": true, "parent": null,
                 "by_host": {"worker-0": {"forward_us": 0.0, "backward_us": 0.0,
                                          "total_us": 0.0, "self_us": 0.0},
                             "worker-1": {...}},
                 "missing_on": [],
                 "slowest_host": "worker-1", "fastest_host": "worker-0",
                 "spread_us": 469.0, "ratio": null}, ...],
     "straggler": {"host": "worker-1", "fastest_host": "worker-0", "layer": "busy",
                   "extra_us": 469.0, "excess_us": 590.0, "share": 0.79,
                   "causes": [{"name": "busy", "kind": "layer", "extra_us": 469.0},
                              {"name": "slow", "kind": "layer", "extra_us": 115.0},
                              {"name": "optimizer_us", "kind": "other", "extra_us": 9.0}]}}

Conventions:
- Times are microseconds per step, as in the reports.
- `compute_us` is a host's op time outside collective ops (`op_time_us - collective_us`).
  Under synchronous training every worker waits for the slowest one at the all-reduce, so
  step times even out and the fast workers' waiting shows up as their collective time;
  what differs is the compute. So `slowest_host`/`fastest_host` are the hosts with the
  most/least `compute_us` (ties: by host name), and a host's `excess_us` is its compute
  minus the fastest host's.
- `hosts` are in natural order of their names ("worker-2" before "worker-10").
- Per layer, `by_host` holds forward, gradient and total time (sublayers included, as in
  the report's columns) and `self_us` (own ops only) of every host that reported the layer;
  hosts without it are listed in `missing_on` and left out of `spread_us` (max - min of
  `total_us`), `ratio` (max / min; null when the minimum is 0 or only one host has it) and
  the layer's `slowest_host`/`fastest_host`. Layers are sorted by `spread_us`, largest
  first; ties by path.
- `straggler` says which layer makes the slowest host slow: of the slowest host's excess
  over the fastest, the layer whose own time (`self_us`, so a parent does not take credit
  for its sublayer) grew most (`extra_us`; a layer missing on one side counts 0 there).
  `causes` lists the largest positive contributions, layers and non-layer categories of
  `other` (collectives excluded: they are the waiting). `straggler` is null with fewer
  than two hosts, or when no layer is slower on the slowest host.
- Two windows with the same host: the later one in the list wins.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

from tb_layerprof.figures import finite, layer_self_total, layer_total, window_op_time
from tb_layerprof.report import OTHER_KEYS, LayerStats, RunReport, WindowReport

COLLECTIVE_KEY = "collective_us"
MAX_CAUSES = 5


_DIGITS = re.compile(r"(\d+)")


def host_sort_key(host: str):
    """Natural order: "worker-2" before "worker-10"; then the plain text breaks ties."""
    parts = _DIGITS.split(str(host))
    return ([(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts], str(host))


def _layer_times(layer: LayerStats) -> Dict[str, float]:
    return {
        "forward_us": finite(layer.forward_us),
        "backward_us": finite(layer.backward_us),
        "total_us": layer_total(layer),
        "self_us": layer_self_total(layer),
    }


def _host_row(window: WindowReport) -> Dict[str, Any]:
    other = {str(k): finite(v) for k, v in (window.other or {}).items()}
    for key in OTHER_KEYS:
        other.setdefault(key, 0.0)
    op_time = finite(window_op_time(window))
    collective = other.get(COLLECTIVE_KEY, 0.0)
    return {
        "host": str(window.host),
        "step_time_us": finite(window.step_time_us),
        "op_time_us": op_time,
        "compute_us": max(op_time - collective, 0.0),
        "collective_us": collective,
        "excess_us": 0.0,
        "other": other,
    }


def _extreme(values: Dict[str, float], largest: bool) -> Optional[str]:
    """The host with the largest (or smallest) value; ties by natural host order."""
    if not values:
        return None
    hosts = sorted(values, key=host_sort_key)
    best = hosts[0]
    for host in hosts[1:]:
        if (values[host] > values[best]) if largest else (values[host] < values[best]):
            best = host
    return best


def straggler_host(windows: Sequence[WindowReport]) -> Optional[str]:
    """The straggler among the windows of one step: the host with the most compute (op time
    outside collectives; ties by natural host order), `compare_hosts`' `slowest_host`. The
    default host of every view that picks one window of a step (`/diff`, `tb-layerprof
    diff`, the tab's layer view). None without windows."""
    by_host: Dict[str, WindowReport] = {}
    for window in windows:
        by_host[str(window.host)] = window  # the later one wins
    return _extreme({h: _host_row(w)["compute_us"] for h, w in by_host.items()}, largest=True)


def compare_hosts(windows: Sequence[WindowReport]) -> Dict[str, Any]:
    """The per-host comparison of the windows of one step (see the module docstring).

    Raises ValueError if `windows` is empty or its windows start at different steps.
    """
    if not windows:
        raise ValueError("compare_hosts needs at least one window")
    steps = {w.step for w in windows}
    if len(steps) != 1:
        raise ValueError(
            "compare_hosts compares the windows of one step; got steps "
            + ", ".join(str(s) for s in sorted(steps))
        )
    by_host: Dict[str, WindowReport] = {}
    for window in windows:
        by_host[str(window.host)] = window  # the later one wins
    hosts = sorted(by_host, key=host_sort_key)
    rows = [_host_row(by_host[h]) for h in hosts]
    compute = {r["host"]: r["compute_us"] for r in rows}
    slowest = straggler_host(list(by_host.values()))
    fastest = _extreme(compute, largest=False)
    for row in rows:
        row["excess_us"] = row["compute_us"] - compute[fastest]

    times = _layer_times_by_host(by_host, hosts)
    layers = _layer_rows(by_host, hosts, times)
    return {
        "step": next(iter(steps)),
        "steps": max(int(finite(w.steps)) for w in by_host.values()),
        "hosts": rows,
        "slowest_host": slowest,
        "fastest_host": fastest,
        "layers": layers,
        "straggler": _straggler(rows, times, slowest, fastest),
    }


def _layer_times_by_host(by_host: Dict[str, WindowReport], hosts: List[str]
                         ) -> Dict[str, Dict[str, Dict[str, float]]]:
    """path -> host -> the layer's times there, for every host that reported the layer
    (layers in first-seen order)."""
    times: Dict[str, Dict[str, Dict[str, float]]] = {}
    for host in hosts:
        for layer in by_host[host].layers:
            times.setdefault(str(layer.path), {})[host] = _layer_times(layer)
    return times


def _layer_rows(by_host: Dict[str, WindowReport], hosts: List[str],
                times: Dict[str, Dict[str, Dict[str, float]]]) -> List[Dict[str, Any]]:
    """One row per layer: its times on each host, the slowest and fastest host and the
    spread between them; the widest spreads first."""
    info_of: Dict[str, LayerStats] = {}
    for host in hosts:
        for layer in by_host[host].layers:
            info_of.setdefault(str(layer.path), layer)
    layers = []
    for path, per_host in times.items():
        totals = {h: t["total_us"] for h, t in per_host.items()}
        hi, lo = _extreme(totals, largest=True), _extreme(totals, largest=False)
        info = info_of[path]
        layers.append({
            "path": path,
            "class_name": info.class_name,
            "custom": bool(info.custom),
            "parent": info.parent,
            "by_host": {h: per_host[h] for h in sorted(per_host, key=host_sort_key)},
            "missing_on": [h for h in hosts if h not in per_host],
            "slowest_host": hi,
            "fastest_host": lo,
            "spread_us": totals[hi] - totals[lo],
            "ratio": totals[hi] / totals[lo] if len(totals) > 1 and totals[lo] > 0 else None,
        })
    layers.sort(key=lambda x: (-x["spread_us"], x["path"]))
    return layers


def _straggler(
    rows: List[Dict[str, Any]],
    times: Dict[str, Dict[str, Dict[str, float]]],
    slowest: Optional[str],
    fastest: Optional[str],
) -> Optional[Dict[str, Any]]:
    if len(rows) < 2 or slowest is None or fastest is None or slowest == fastest:
        return None
    causes = []
    for path, per_host in times.items():
        slow = per_host.get(slowest, {}).get("self_us", 0.0)
        fast = per_host.get(fastest, {}).get("self_us", 0.0)
        causes.append({"name": path, "kind": "layer", "extra_us": slow - fast})
    row_of = {r["host"]: r for r in rows}
    slow_other, fast_other = row_of[slowest]["other"], row_of[fastest]["other"]
    for key in sorted(set(slow_other) | set(fast_other)):
        if key == COLLECTIVE_KEY:
            continue
        extra = slow_other.get(key, 0.0) - fast_other.get(key, 0.0)
        causes.append({"name": key, "kind": "other", "extra_us": extra})
    causes = [c for c in causes if c["extra_us"] > 0]
    causes.sort(key=lambda c: (-c["extra_us"], c["kind"], c["name"]))
    top_layer = next((c for c in causes if c["kind"] == "layer"), None)
    if top_layer is None:
        return None
    excess = row_of[slowest]["excess_us"]
    return {
        "host": slowest,
        "fastest_host": fastest,
        "layer": top_layer["name"],
        "extra_us": top_layer["extra_us"],
        "excess_us": excess,
        "share": top_layer["extra_us"] / excess if excess > 0 else None,
        "causes": causes[:MAX_CAUSES],
    }


def steps_with_several_hosts(run: RunReport) -> List[int]:
    """Steps at which windows of two or more distinct hosts exist, ascending."""
    hosts: Dict[int, set] = {}
    for window in run.windows:
        hosts.setdefault(window.step, set()).add(str(window.host))
    return sorted(step for step, names in hosts.items() if len(names) > 1)


def compare_run(run: RunReport, steps: Optional[Iterable[int]] = None) -> List[Dict[str, Any]]:
    """`compare_hosts` of each step of `run` with several hosts (or of the given `steps`
    among them), in step order."""
    several = steps_with_several_hosts(run)
    if steps is not None:
        wanted = set(steps)
        several = [s for s in several if s in wanted]
    return [compare_hosts([w for w in run.windows if w.step == s]) for s in several]
