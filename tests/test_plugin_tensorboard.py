"""End to end in a real `tensorboard` process: plugin discovery through the entry point,
`/data/plugins_listing`, every route, over both data paths (the default fast data server
and `--load_fast=false`), with more than 10 windows per run, and hostile requests on the
wire. Plus a logdir written by real Keras training under LayerProfiler.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
from urllib.parse import quote

import pytest

from tb_layerprof import load_reports
from tb_layerprof import figures
from tb_layerprof.summary import ReportWriter
from tests.conftest import build_window
from tests.plugin_helpers import XSS_RUN, make_synthetic_logdir, tensorboard, trained_logdir  # noqa: F401

WINDOWS = 25
BASE = "/data/plugin/layerprof"


@pytest.fixture(scope="module")
def synthetic_logdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tb_e2e"))
    make_synthetic_logdir(d, windows=WINDOWS)
    # Two workers of one run (two processes, two event files), profiling the same steps.
    for host, scale in (("worker-0", 1.0), ("worker-1", 3.0)):
        writer = ReportWriter(os.path.join(d, "workers"))
        for step in (10, 20):
            window = build_window(step, scale=scale)
            window.host = host
            writer.write(window)
        writer.close()
    return d


@pytest.fixture(scope="module", params=["default", "load_fast_false"])
def tb(request, synthetic_logdir):
    args = ["--load_fast=false"] if request.param == "load_fast_false" else []
    with tensorboard(synthetic_logdir, args) as proc:
        # TensorBoard loads event files asynchronously: wait until every window is in.
        proc.wait_for(
            f"{BASE}/runs",
            lambda j: {r["run"]: r["windows"] for r in j["runs"]} == {"train": WINDOWS, XSS_RUN: 1,
                                                                      "workers": 4},
        )
        proc.mode = request.param
        yield proc


def test_data_path_is_the_one_intended(tb):
    # Default flags use TensorBoard's fast data server (a separate Rust process).
    uses_fast = "fast data loading" in tb.log()
    assert uses_fast == (tb.mode == "default"), tb.log()


def test_plugin_listed_as_iframe_tab(tb):
    status, listing = tb.get_json("/data/plugins_listing")
    assert status == 200
    entry = listing["layerprof"]
    assert entry["enabled"] is True and entry["tab_name"] == "Layer Profile"
    assert entry["loading_mechanism"]["type"] == "IFRAME"
    status, body = tb.get(entry["loading_mechanism"]["module_path"])
    assert status == 200 and b"render" in body


def test_runs_lists_every_window(tb):
    status, runs = tb.get_json(f"{BASE}/runs")
    assert status == 200
    train = next(r for r in runs["runs"] if r["run"] == "train")
    assert train["steps"] == [10 + 20 * i for i in range(WINDOWS)]
    assert "warmup" in runs["runs_without_reports"]


def test_report_equals_the_files_with_all_windows(tb, synthetic_logdir):
    status, report = tb.get_json(f"{BASE}/report?run=train")
    assert status == 200
    runs, errors = load_reports(synthetic_logdir, run="train")
    assert not errors
    assert report == json.loads(json.dumps(figures.reports_json(runs)))
    assert len(report["runs"][0]["windows"]) == WINDOWS


def test_windows_window_trend(tb):
    status, windows = tb.get_json(f"{BASE}/windows?run=train")
    assert status == 200 and len(windows["windows"]) == WINDOWS
    status, one = tb.get_json(f"{BASE}/window?run=train&step=70")
    assert status == 200 and one["window"]["step"] == 70
    assert one["window"]["layers"][1]["hints"][0]["code"] == "python-loop"
    status, trend = tb.get_json(f"{BASE}/trend?run=train&layer=block%2Fslow")
    assert status == 200 and len(trend["layers"][0]["forward_us"]) == WINDOWS
    status, xss = tb.get_json(f"{BASE}/window?run={quote(XSS_RUN, safe='')}")
    assert status == 200 and xss["run"] == XSS_RUN


def test_every_worker_of_a_step_is_kept_on_both_data_paths(tb):
    status, one = tb.get_json(f"{BASE}/window?run=workers&step=20")
    assert status == 200 and one["hosts"] == ["worker-0", "worker-1"]
    status, w1 = tb.get_json(f"{BASE}/window?run=workers&step=20&host=worker-1")
    assert status == 200 and w1["window"]["host"] == "worker-1"
    status, w0 = tb.get_json(f"{BASE}/window?run=workers&step=20&host=worker-0")
    assert status == 200 and w0["window"]["host"] == "worker-0"
    slow = [{l["path"]: l for l in w["window"]["layers"]}["slow_double"] for w in (w0, w1)]
    assert slow[1]["forward_us"] == pytest.approx(3 * slow[0]["forward_us"])
    status, report = tb.get_json(f"{BASE}/report?run=workers")
    assert [(w["step"], w["host"]) for w in report["runs"][0]["windows"]] == [
        (10, "worker-0"), (10, "worker-1"), (20, "worker-0"), (20, "worker-1")]


def test_responses_are_gzipped(tb):
    status, body = tb.get(f"{BASE}/report?run=train", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert body[:2] == b"\x1f\x8b"  # gzip magic: TensorBoard compressed it
    assert json.loads(gzip.decompress(body))["schema"] == 1


@pytest.mark.parametrize(
    "path, code",
    [
        ("/report", 400),
        ("/report?run=nope", 404),
        ("/report?run=..%2F..%2F..%2Fetc%2Fpasswd", 404),
        ("/window?run=train&step=abc", 400),
        ("/window?run=train&step=11", 404),
        ("/trend?run=train", 400),
        ("/static/..%2F..%2Fsetup.py", 404),
    ],
)
def test_hostile_requests_on_the_wire(tb, path, code):
    status, body = tb.get(BASE + path)
    assert status == code
    assert json.loads(body)["error"]["code"] == code


def test_raw_traversal_on_the_wire(tb):
    # http.client sends the path as is (no client-side normalisation of "..").
    for path in ("/static/../plugin.py", "/static/../../../../etc/passwd", "/static/%2e%2e/plugin.py"):
        conn = http.client.HTTPConnection("127.0.0.1", tb.port, timeout=30)
        conn.request("GET", BASE + path)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status in (400, 404), (path, resp.status)
        assert b"LayerProfPlugin" not in body and b"root:" not in body


@pytest.mark.slow
def test_real_training_logdir_in_tensorboard(trained_logdir):  # noqa: F811
    runs, _ = load_reports(trained_logdir)
    expected = json.loads(json.dumps(figures.reports_json(runs)))
    for args in ([], ["--load_fast=false"]):
        with tensorboard(trained_logdir, args) as proc:
            got = proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 1)
            run = got["runs"][0]["run"]
            assert run == "train"
            status, report = proc.get_json(f"{BASE}/report?run=train")
            assert status == 200 and report == expected
            status, one = proc.get_json(f"{BASE}/window?run=train")
            layers = {l["path"]: l for l in one["window"]["layers"]}
            slow, fast = layers["slow"], layers["fast"]
            assert slow["custom"] and fast["custom"]
            # The Python-loop layer costs far more than its vectorized twin, and is diagnosed.
            assert slow["forward_us"] + slow["backward_us"] > 5 * (fast["forward_us"] + fast["backward_us"])
            assert "python-loop" in {h["code"] for h in slow["hints"]}
            status, windows = proc.get_json(f"{BASE}/windows?run=train")
            assert windows["windows"][0]["top"][0]["path"] == "slow"


def test_diff_and_workers_routes_on_both_data_paths(tb):
    status, doc = tb.get_json(f"{BASE}/diff?base=train&run=train&base_step=10")
    assert status == 200 and doc["base_window"]["step"] == 10
    assert doc["run_window"]["step"] == 10 + 20 * (WINDOWS - 1)
    assert doc["step_time"]["ratio"] > 1  # the synthetic run grows slower
    status, doc = tb.get_json(f"{BASE}/diff?base=workers&run=workers&base_host=worker-0&host=worker-1")
    assert status == 200 and doc["base_hosts"] == doc["run_hosts"] == ["worker-0", "worker-1"]
    assert doc["layers"][0]["path"] == "slow_double" and doc["layers"][0]["ratio"] == pytest.approx(3.0)
    status, workers = tb.get_json(f"{BASE}/workers?run=workers&step=20")
    assert status == 200 and [h["host"] for h in workers["hosts"]] == ["worker-0", "worker-1"]
    assert workers["slowest_host"] == "worker-1"
    assert workers["straggler"]["host"] == "worker-1" and workers["straggler"]["layer"] == "slow_double"
    status, err = tb.get_json(f"{BASE}/diff?base=train")
    assert status == 400 and err["error"]["code"] == 400
