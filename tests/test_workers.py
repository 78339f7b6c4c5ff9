"""Per-worker breakdown and straggler view: `workers.compare_hosts` and `tb-layerprof workers`.

Synthetic windows (conftest.py's seed scenario): several workers profile the same steps, one
of them made slow in a known layer, so every answer is known in advance.
"""

from __future__ import annotations

import copy
import io
import json

import pytest

from tb_layerprof import cli, workers
from tb_layerprof.report import LayerStats, RunReport, WindowReport


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def on_host(window: WindowReport, host: str, slow_layer: str = "", extra_us: float = 0.0,
            collective_us: float = 0.0) -> WindowReport:
    """`window` as worker `host` saw it: `slow_layer`'s own gradient `extra_us` longer
    (its parents' totals too), and `collective_us` of all-reduce time."""
    w = copy.deepcopy(window)
    w.host = host
    by_path = {x.path: x for x in w.layers}
    if slow_layer:
        layer = by_path[slow_layer]
        layer.self_backward_us += extra_us
        while layer is not None:
            layer.backward_us += extra_us
            layer = by_path.get(layer.parent) if layer.parent else None
        w.op_time_us += extra_us
    w.other["collective_us"] = collective_us
    w.op_time_us += collective_us
    return w


@pytest.fixture
def two_workers(make_window):
    """worker-1 spends 900 µs more in block/inner_dense; worker-0 waits for it."""
    base = make_window(step=20)
    return [
        on_host(base, "worker-0", collective_us=1500.0),
        on_host(base, "worker-1", "block/inner_dense", 900.0, collective_us=300.0),
    ]


def test_compare_hosts_names_the_straggler_and_its_layer(two_workers):
    doc = workers.compare_hosts(two_workers)
    assert doc["step"] == 20 and doc["steps"] == 5
    assert [h["host"] for h in doc["hosts"]] == ["worker-0", "worker-1"]
    assert doc["slowest_host"] == "worker-1" and doc["fastest_host"] == "worker-0"
    w0, w1 = doc["hosts"]
    # The fast worker waits in the all-reduce: more op time, less compute.
    assert w0["op_time_us"] > w1["op_time_us"]
    assert w1["compute_us"] - w0["compute_us"] == pytest.approx(900.0)
    assert w1["excess_us"] == pytest.approx(900.0) and w0["excess_us"] == 0.0
    assert w0["other"]["collective_us"] == 1500.0
    straggler = doc["straggler"]
    # The nested layer, not its parent (whose total grew as much): own time decides.
    assert straggler["host"] == "worker-1" and straggler["layer"] == "block/inner_dense"
    assert straggler["extra_us"] == pytest.approx(900.0)
    assert straggler["share"] == pytest.approx(1.0)
    assert straggler["causes"][0] == {"name": "block/inner_dense", "kind": "layer",
                                      "extra_us": pytest.approx(900.0)}


def test_layers_sorted_by_spread_with_per_host_figures(two_workers):
    doc = workers.compare_hosts(two_workers)
    first = doc["layers"][0]
    # Parent and child both grew by 900 µs in total: ties by path.
    assert [x["path"] for x in doc["layers"][:2]] == ["block", "block/inner_dense"]
    inner = doc["layers"][1]
    assert inner["by_host"]["worker-0"] == {"forward_us": 200.0, "backward_us": 350.0,
                                            "total_us": 550.0, "self_us": 550.0}
    assert inner["by_host"]["worker-1"]["backward_us"] == pytest.approx(1250.0)
    assert inner["spread_us"] == pytest.approx(900.0)
    assert inner["ratio"] == pytest.approx(1450.0 / 550.0)
    assert inner["slowest_host"] == "worker-1" and inner["fastest_host"] == "worker-0"
    assert first["missing_on"] == [] and first["parent"] is None and first["custom"] is True
    spreads = [x["spread_us"] for x in doc["layers"]]
    assert spreads == sorted(spreads, reverse=True)
    assert doc["layers"][-1]["spread_us"] == 0.0
    assert doc["layers"][-1]["ratio"] == pytest.approx(1.0)
    json.dumps(doc, allow_nan=False)  # plain JSON


def test_one_host_no_straggler(make_window):
    doc = workers.compare_hosts([make_window(step=3)])
    assert doc["slowest_host"] == doc["fastest_host"] == "worker-0"
    assert doc["straggler"] is None
    assert all(x["ratio"] is None and x["spread_us"] == 0.0 for x in doc["layers"])


def test_identical_hosts_no_straggler(make_window):
    w = make_window(step=3)
    doc = workers.compare_hosts([on_host(w, "a"), on_host(w, "b")])
    assert doc["straggler"] is None
    assert doc["slowest_host"] == doc["fastest_host"] == "a"  # ties: by name


def test_slowness_outside_layers_is_a_cause_not_the_layer(make_window):
    w = make_window(step=3)
    slow = on_host(w, "worker-1", "slow_double", 50.0)
    slow.other["input_us"] += 2000.0
    slow.op_time_us += 2000.0
    doc = workers.compare_hosts([on_host(w, "worker-0"), slow])
    st = doc["straggler"]
    assert st["layer"] == "slow_double" and st["extra_us"] == pytest.approx(50.0)
    assert st["causes"][0] == {"name": "input_us", "kind": "other", "extra_us": pytest.approx(2000.0)}
    assert st["share"] == pytest.approx(50.0 / 2050.0)


def test_missing_layer_and_zero_time(make_window):
    w = make_window(step=3)
    a, b = on_host(w, "worker-0"), on_host(w, "worker-1")
    b.layers.append(LayerStats(path="only_here", class_name="Extra", custom=True,
                               forward_us=300.0, self_forward_us=300.0))
    b.op_time_us += 300.0
    for x in a.layers:
        if x.path == "fast_double":
            x.forward_us = x.backward_us = x.self_forward_us = x.self_backward_us = 0.0
    doc = workers.compare_hosts([a, b])
    rows = {x["path"]: x for x in doc["layers"]}
    only = rows["only_here"]
    assert only["missing_on"] == ["worker-0"] and list(only["by_host"]) == ["worker-1"]
    assert only["spread_us"] == 0.0 and only["ratio"] is None  # one host: nothing to spread
    assert rows["fast_double"]["ratio"] is None  # min 0
    assert rows["fast_double"]["spread_us"] == pytest.approx(20.5)
    # Missing on the fastest host counts 0 there: it is the straggler layer.
    assert doc["straggler"]["layer"] == "only_here"


def test_natural_host_order_and_duplicates(make_window):
    w = make_window(step=7)
    names = ["worker-10", "worker-2", "chief-0", "worker-1"]
    windows = [on_host(w, n, "dense_1", 10.0 * i) for i, n in enumerate(names)]
    dup = on_host(w, "worker-2", "dense_1", 5000.0)  # the later window of worker-2 wins
    doc = workers.compare_hosts(windows + [dup])
    assert [h["host"] for h in doc["hosts"]] == ["chief-0", "worker-1", "worker-2", "worker-10"]
    assert doc["slowest_host"] == "worker-2"
    assert doc["fastest_host"] == "worker-10"  # 0 extra µs: index 0 in `names`


def test_bad_input():
    with pytest.raises(ValueError):
        workers.compare_hosts([])
    with pytest.raises(ValueError, match="steps 1, 2"):
        workers.compare_hosts([WindowReport(step=1, steps=1, host="a"),
                               WindowReport(step=2, steps=1, host="b")])


def test_damaged_figures_read_as_zero():
    w = WindowReport(step=1, steps=1, host="a", op_time_us=float("nan"),
                     layers=[LayerStats(path="x", forward_us=None, backward_us="?")])
    w.other = {"collective_us": None, "weird_us": float("inf")}
    v = WindowReport(step=1, steps=1, host="b", layers=[LayerStats(path="x", forward_us=5.0)])
    doc = workers.compare_hosts([w, v])
    json.dumps(doc, allow_nan=False)
    assert doc["layers"][0]["by_host"]["a"]["total_us"] == 0.0


def test_steps_with_several_hosts(make_window):
    run = RunReport(run="train", windows=[
        on_host(make_window(step=3), "worker-0"), on_host(make_window(step=3), "worker-1"),
        on_host(make_window(step=13), "worker-0"),
        on_host(make_window(step=23), "worker-1"), on_host(make_window(step=23), "worker-0"),
        on_host(make_window(step=33), "worker-0"), on_host(make_window(step=33), "worker-0"),
    ])
    assert workers.steps_with_several_hosts(run) == [3, 23]
    assert [d["step"] for d in workers.compare_run(run)] == [3, 23]
    assert [d["step"] for d in workers.compare_run(run, steps=[23, 13])] == [23]
    assert workers.steps_with_several_hosts(RunReport(run="x")) == []


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def worker_logdir(make_window, make_logdir):
    def pair(step, extra):
        w = make_window(step=step)
        return [on_host(w, "worker-0", collective_us=1000.0),
                on_host(w, "worker-1", "slow_double", extra, collective_us=100.0)]
    return make_logdir({"train": pair(3, 400.0) + pair(13, 2500.0),
                        "single": [make_window(step=3)]})


def test_cli_workers_table(worker_logdir):
    code, out, err = run_cli("workers", worker_logdir)
    assert code == 0, err
    assert "Run train | steps 13-17 (5 profiled) | 2 workers | slowest worker-1, fastest worker-0" in out
    assert "Straggler: worker-1 computes 2.50 ms/step more than worker-0; layer slow_double" \
           " accounts for +2.50 ms (100% of it)." in out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    assert lines[head].split() == ["layer", "worker-0", "worker-1", "spread", "ratio",
                                   "slowest", "missing", "on"]
    assert lines[head + 2].split()[:1] == ["slow_double"]
    assert "2.50 ms" in lines[head + 2] and "worker-1" in lines[head + 2]
    assert "single" not in out  # one host only: nothing to compare
    assert "steps 3-7" not in out  # latest step by default


def test_cli_workers_all_and_step(worker_logdir):
    code, out, _ = run_cli("workers", worker_logdir, "--window", "all")
    assert code == 0 and "steps 3-7" in out and "steps 13-17" in out
    assert out.index("steps 3-7") < out.index("steps 13-17")
    code, out, _ = run_cli("workers", worker_logdir, "--window", "3", "--top", "2")
    assert code == 0 and "steps 3-7" in out and "steps 13-17" not in out
    assert "more layer(s) (--top 0 shows all)" in out


def test_cli_workers_json(worker_logdir):
    code, out, err = run_cli("workers", worker_logdir, "--format", "json", "--window", "all")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == 1 and [r["run"] for r in doc["runs"]] == ["train"]
    steps = doc["runs"][0]["steps"]
    assert [s["step"] for s in steps] == [3, 13]
    assert steps[1]["straggler"]["layer"] == "slow_double"
    assert steps[1]["straggler"]["host"] == "worker-1"
    assert steps[1]["layers"][0]["path"] == "slow_double"
    assert set(steps[1]["layers"][0]["by_host"]["worker-0"]) == {
        "forward_us", "backward_us", "total_us", "self_us"}


def test_cli_workers_without_several_hosts(make_window, make_logdir):
    logdir = make_logdir({"train": [make_window(step=3), make_window(step=13)]})
    code, out, err = run_cli("workers", logdir)
    assert code == 1 and out == ""
    assert "no run has windows of several workers at any step; hosts found: worker-0" in err
    code, _, err = run_cli("workers", logdir, "--window", "99")
    assert code == 1 and "at step 99" in err


def test_cli_report_points_to_workers(worker_logdir):
    code, out, _ = run_cli("report", worker_logdir, "--run", "train")
    assert code == 0
    assert "note: several workers profiled step 13 of run train; `tb-layerprof workers" in out
    code, out, _ = run_cli("report", worker_logdir, "--run", "single")
    assert code == 0 and "tb-layerprof workers" not in out


HOSTILE = ["\x1b[2J\x1b[31mworker-0", "w\nrker\r-1", "名前-2", "", "a" * 300, "../../etc/passwd"]


def test_hostile_host_names(make_window, make_logdir):
    w = make_window(step=5)
    windows = [on_host(w, h, "dense_1", 100.0 * i, collective_us=10.0) for i, h in enumerate(HOSTILE)]
    windows[2].layers[0].path = "\x1b]0;title\x07evil"
    logdir = make_logdir({"run\x1b[1m": windows})
    code, out, err = run_cli("workers", logdir)
    assert code == 0, err
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and "名前-2" in out
    head = next(line for line in out.splitlines() if line.startswith("layer "))
    assert "\\x1b[2J" in head and "?" in head.split()  # a column per host ("" shows "?")
    for line in out.splitlines():
        assert len(line) < 400, line
    # More hosts than columns: min/max instead of one column per host.
    more = make_logdir({"r": windows + [on_host(w, "worker-7", "dense_1", 1.0)]})
    code, out, err = run_cli("workers", more)
    assert code == 0, err
    head = next(line for line in out.splitlines() if line.startswith("layer "))
    assert head.split()[:3] == ["layer", "min", "max"]
    code, out, err = run_cli("workers", logdir, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    hosts = [h["host"] for h in doc["runs"][0]["steps"][0]["hosts"]]
    assert sorted(hosts) == sorted(HOSTILE)
    assert doc["runs"][0]["steps"][0]["slowest_host"] == "../../etc/passwd"


def test_help_lists_workers():
    code, out, _ = run_cli("--help")
    assert code == 0 and "workers" in out
    code, out, _ = run_cli("workers", "--help")
    assert code == 0 and "straggler" in out and "--window" in out


def test_straggler_host_is_compare_hosts_slowest_host(two_workers, make_window):
    # worker-0 waits longest in the all-reduce (more op time, the same step time): the
    # straggler is the host that computes longest, worker-1, whatever the order given.
    assert workers.straggler_host(two_workers) == "worker-1"
    assert workers.straggler_host(list(reversed(two_workers))) == "worker-1"
    assert workers.straggler_host(two_workers) == workers.compare_hosts(two_workers)["slowest_host"]
    # Ties: natural host order ("worker-2" before "worker-10"); none without windows.
    base = make_window(step=20)
    tied = [on_host(base, "worker-10"), on_host(base, "worker-2")]
    assert workers.straggler_host(tied) == "worker-2"
    assert workers.straggler_host([]) is None
