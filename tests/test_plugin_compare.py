"""The plugin's compare routes: `/diff` (two runs, layer by layer) and `/workers` (the
hosts of one step, straggler). `*_impl` without HTTP and the routes through TensorBoard's
WSGI app, over logdirs written by ReportWriter and read by TensorBoard's real data layer.
"""

from __future__ import annotations

import argparse
import json
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from tensorboard import context as tb_context
from tensorboard.backend import application

from tb_layerprof.diff import diff_windows
from tb_layerprof.plugin import ApiError, LayerProfPlugin
from tb_layerprof.report import LayerStats
from tests.plugin_helpers import XSS_RUN, synthetic_window, write_run
from tests.test_plugin import _plugin, _provider

CTX = tb_context.RequestContext()
EXP = ""
BASE = "/data/plugin/layerprof"


def vectorized_window(step: int):
    """The `loop` model after the fix: `block/slow` replaced by `block/vec`, faster dense."""
    w = synthetic_window(step)
    slow = next(x for x in w.layers if x.path == "block/slow")
    w.layers.remove(slow)
    w.layers.insert(1, LayerStats(
        path="block/vec", class_name="Vectorized", custom=True, parent="block",
        forward_us=60.0, backward_us=90.0, self_forward_us=60.0, self_backward_us=90.0,
        forward_alloc_bytes=4096, backward_alloc_bytes=8192, peak_live_bytes=4096,
        calls=1, ops_per_call=2))
    block = w.layers[0]
    block.forward_us, block.backward_us = 260.0, 390.0
    w.other["collective_us"] = 0.0
    w.step_time_us = 3000.0
    w.op_time_us = 2700.0
    return w


def worker_windows(step: int):
    """Two hosts of one step: worker-1 is slower in `block/slow` only."""
    a, b = synthetic_window(step), synthetic_window(step)
    b.host = "worker-1"
    slow = next(x for x in b.layers if x.path == "block/slow")
    slow.forward_us += 2000.0
    slow.self_forward_us += 2000.0
    b.layers[0].forward_us += 2000.0
    b.step_time_us += 2000.0
    b.op_time_us += 2000.0
    return [a, b]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("compare_logs"))
    write_run(d, "loop", [synthetic_window(10), synthetic_window(30, scale=1.5)])
    write_run(d, "vectorized", [vectorized_window(10), vectorized_window(30)])
    write_run(d, XSS_RUN, [synthetic_window(10)])
    # Two workers, each with its own writer (two processes in real life).
    for host_index in (0, 1):
        write_run(d, "workers", [worker_windows(s)[host_index] for s in (10, 20)])
    return d


@pytest.fixture(scope="module")
def plugin(logdir):
    return _plugin(logdir)[0]


# -- /diff -------------------------------------------------------------------------------


def test_diff_impl_is_diff_windows_of_the_latest_windows(plugin):
    doc = plugin.diff_impl(CTX, EXP, "loop", "vectorized")
    expected = diff_windows(synthetic_window(30, scale=1.5), vectorized_window(30), "loop", "vectorized")
    hosts = {"base_hosts": ["worker-0"], "run_hosts": ["worker-0"]}
    assert doc == json.loads(json.dumps({**expected, **hosts}))
    assert (doc["base_window"]["step"], doc["run_window"]["step"]) == (30, 30)
    rows = {r["path"]: r for r in doc["layers"]}
    assert rows["block/slow"]["status"] == "removed" and rows["block/vec"]["status"] == "added"
    assert doc["counts"] == {"both": 4, "added": 1, "removed": 1}
    deltas = [abs(r["delta_us"]) for r in doc["layers"]]
    assert deltas == sorted(deltas, reverse=True)  # largest change first
    assert "collective_us" in doc["other"]


def test_diff_impl_picks_steps_and_hosts(plugin):
    doc = plugin.diff_impl(CTX, EXP, "loop", "loop", base_step="10", step="30")
    assert (doc["base_window"]["step"], doc["run_window"]["step"]) == (10, 30)
    assert doc["step_time"]["ratio"] == pytest.approx(1.5)
    doc = plugin.diff_impl(CTX, EXP, "workers", "workers", base_step="20", step="20",
                           base_host="worker-0", host="worker-1")
    assert doc["base_hosts"] == doc["run_hosts"] == ["worker-0", "worker-1"]
    assert (doc["base_window"]["host"], doc["run_window"]["host"]) == ("worker-0", "worker-1")
    assert doc["layers"][0]["path"] in ("block", "block/slow")
    assert doc["layers"][0]["delta_us"] == pytest.approx(2000.0)
    # Default host: the straggler (workers.straggler_host: worker-1, slower in block/slow),
    # not the first by name, as `tb-layerprof diff` and the tab's layer view pick it.
    doc = plugin.diff_impl(CTX, EXP, "workers", "workers", base_step="20")
    assert (doc["base_window"]["host"], doc["run_window"]["host"]) == ("worker-1", "worker-1")
    assert plugin.diff_impl(CTX, EXP, "workers", "loop")["base_window"]["host"] == "worker-1"
    assert plugin.workers_impl(CTX, EXP, "workers", "20")["slowest_host"] == "worker-1"


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"base": None, "run": "loop"}, 400),
        ({"base": "loop", "run": None}, 400),
        ({"base": "nope", "run": "loop"}, 404),
        ({"base": "loop", "run": "../../etc"}, 404),
        ({"base": "loop", "run": "vectorized", "step": "abc"}, 400),
        ({"base": "loop", "run": "vectorized", "base_step": "-1"}, 400),
        ({"base": "loop", "run": "vectorized", "base_step": "11"}, 404),
        ({"base": "loop", "run": "vectorized", "host": "worker-9"}, 404),
    ],
)
def test_diff_impl_refusals(plugin, kwargs, code):
    with pytest.raises(ApiError) as e:
        plugin.diff_impl(CTX, EXP, **kwargs)
    assert e.value.code == code and e.value.message


# -- /workers ------------------------------------------------------------------------------


def test_workers_impl_names_the_straggler(plugin):
    pytest.importorskip("tb_layerprof.workers")
    doc = plugin.workers_impl(CTX, EXP, "workers", "20")
    assert doc["schema"] == 1 and doc["run"] == "workers" and doc["step"] == 20
    assert [h["host"] for h in doc["hosts"]] == ["worker-0", "worker-1"]
    assert doc["slowest_host"] == "worker-1" and doc["fastest_host"] == "worker-0"
    assert doc["straggler"]["host"] == "worker-1"
    assert doc["straggler"]["layer"] == "block/slow"
    assert doc["straggler"]["extra_us"] == pytest.approx(2000.0)
    slow = next(x for x in doc["layers"] if x["path"] == "block/slow")
    assert slow["slowest_host"] == "worker-1"
    assert set(slow["by_host"]) == {"worker-0", "worker-1"}
    # Default: the latest step.
    assert plugin.workers_impl(CTX, EXP, "workers", None)["step"] == 20
    # One host: still an answer (nothing to compare).
    one = plugin.workers_impl(CTX, EXP, "loop", "10")
    assert [h["host"] for h in one["hosts"]] == ["worker-0"]


@pytest.mark.parametrize(
    "args, code",
    [((None, None), 400), (("nope", None), 404), (("workers", "x"), 400), (("workers", "15"), 404)],
)
def test_workers_impl_refusals(plugin, args, code):
    with pytest.raises(ApiError) as e:
        plugin.workers_impl(CTX, EXP, *args)
    assert e.value.code == code


# -- routes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(logdir):
    multiplexer, provider = _provider(logdir)
    flags = argparse.Namespace(
        logdir=logdir, path_prefix="", samples_per_plugin={}, window_title="", generic_data="true"
    )
    app = application.TensorBoardWSGIApp(flags, [LayerProfPlugin], provider, None, multiplexer)
    return Client(app)


def _json(resp):
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    return json.loads(resp.get_data(as_text=True))


def test_diff_route(client):
    resp = client.get(f"{BASE}/diff?base=loop&run=vectorized&base_step=10&step=30")
    assert resp.status_code == 200
    doc = _json(resp)
    assert doc["base"] == "loop" and doc["run"] == "vectorized"
    assert (doc["base_window"]["step"], doc["run_window"]["step"]) == (10, 30)
    xss = _json(client.get(f"{BASE}/diff?base={quote(XSS_RUN)}&run=loop"))
    assert xss["base"] == XSS_RUN


def test_workers_route(client):
    pytest.importorskip("tb_layerprof.workers")
    doc = _json(client.get(f"{BASE}/workers?run=workers&step=10"))
    assert doc["straggler"]["host"] == "worker-1"


@pytest.mark.parametrize(
    "path, code",
    [
        ("/diff?run=loop", 400),
        ("/diff?base=loop", 400),
        ("/diff?base=loop&base=loop&run=loop", 400),
        ("/diff?base=loop&run=vectorized&step=1e3", 400),
        ("/diff?base=loop%00&run=loop", 400),
        ("/diff?base=..%2F..%2Fetc%2Fpasswd&run=loop", 404),
        ("/diff?base=loop&run=loop&base_host=nobody", 404),
        ("/workers", 400),
        ("/workers?run=workers&step=-2", 400),
        ("/workers?run=nope", 404),
    ],
)
def test_compare_routes_refuse_with_json_4xx(client, path, code):
    resp = client.get(BASE + path)
    assert resp.status_code == code, resp.get_data(as_text=True)[:300]
    body = _json(resp)
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "Traceback" not in resp.get_data(as_text=True)
