"""The plugin's backend: `*_impl` methods without HTTP, and the routes through TensorBoard's
real WSGI app (werkzeug test client), hostile inputs included.

Data comes through TensorBoard's real data layer (EventMultiplexer + MultiplexerDataProvider,
the `--load_fast=false` path) over logdirs written by ReportWriter; nothing is mocked.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os

import pytest
from werkzeug.test import Client

from tensorboard import context as tb_context
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.plugins import base_plugin
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_layerprof import load_reports
from tb_layerprof.plugin import ApiError, LayerProfPlugin, STATIC_DIR
from tb_layerprof import figures
from tb_layerprof.report import window_from_bytes, window_to_bytes
from tb_layerprof.summary import create_metadata, tag_for_step
from tests.plugin_helpers import XSS_RUN, make_synthetic_logdir, synthetic_window, with_work, write_run

WINDOWS = 14  # more than TensorBoard's default 10 tensor samples per tag


def _provider(logdir):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return multiplexer, tb_data_provider.MultiplexerDataProvider(multiplexer, logdir)


def _plugin(logdir):
    multiplexer, provider = _provider(logdir)
    plugin = LayerProfPlugin(base_plugin.TBContext(logdir=logdir, data_provider=provider))
    return plugin, multiplexer


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("plugin_logs"))
    make_synthetic_logdir(d, windows=WINDOWS)
    return d


@pytest.fixture(scope="module")
def plugin(logdir):
    return _plugin(logdir)[0]


CTX = tb_context.RequestContext()
EXP = ""


# -- *_impl ------------------------------------------------------------------------------


def test_runs_impl_lists_runs_with_and_without_reports(plugin):
    out = plugin.runs_impl(CTX, EXP)
    assert out["schema"] == 1
    by_run = {r["run"]: r for r in out["runs"]}
    assert set(by_run) == {"train", XSS_RUN}
    train = by_run["train"]
    assert train["windows"] == WINDOWS
    assert train["steps"] == [10 + 20 * i for i in range(WINDOWS)]
    assert (train["first_step"], train["last_step"]) == (10, 10 + 20 * (WINDOWS - 1))
    assert out["runs_without_reports"] == ["warmup"]


def test_report_impl_is_the_contract_json_and_equals_the_files(plugin, logdir):
    out = plugin.report_impl(CTX, EXP, "train")
    runs, errors = load_reports(logdir, run="train")
    assert not errors
    # Exactly what the reader of the event files (and the CLI's --format json) gives.
    assert out == json.loads(json.dumps(figures.reports_json(runs)))
    windows = out["runs"][0]["windows"]
    assert len(windows) == WINDOWS
    assert [w["step"] for w in windows] == sorted(w["step"] for w in windows)
    layer = windows[0]["layers"][1]
    for key in (
        "path", "class_name", "custom", "parent", "forward_us", "backward_us",
        "self_forward_us", "self_backward_us", "forward_alloc_bytes", "backward_alloc_bytes",
        "peak_live_bytes", "param_bytes", "calls", "ops_per_call", "hints",
    ):
        assert key in layer
    assert layer["path"] == "block/slow" and layer["parent"] == "block"
    assert layer["hints"][0]["code"] == "python-loop"


def test_windows_impl_summarises_every_window(plugin):
    out = plugin.windows_impl(CTX, EXP, "train")
    windows = out["windows"]
    assert [w["step"] for w in windows] == [10 + 20 * i for i in range(WINDOWS)]
    first = windows[0]
    assert first["layer_count"] == 5 and first["custom_count"] == 3 and first["hint_count"] == 2
    assert first["top"][0]["path"] == "block/slow"  # ranked by self time
    assert first["top"][0]["self_backward_us"] == 3100.0
    assert first["other"]["optimizer_us"] == 600.0
    # Sum of self times plus other is the window's op time (the report's invariant).
    assert first["layers_self_us"] + sum(first["other"].values()) == pytest.approx(first["op_time_us"])
    assert windows[-1]["step_time_us"] > windows[0]["step_time_us"]


def test_window_impl_one_window_default_latest(plugin, logdir):
    latest = plugin.window_impl(CTX, EXP, "train", None)["window"]
    assert latest["step"] == 10 + 20 * (WINDOWS - 1)
    w = plugin.window_impl(CTX, EXP, "train", "30")["window"]
    runs, _ = load_reports(logdir, run="train")
    expected = next(x for x in runs[0].windows if x.step == 30).to_json()
    assert w == json.loads(json.dumps(expected))
    assert plugin.window_impl(CTX, EXP, "train", "30", host="worker-0")["window"]["step"] == 30


def test_window_keeps_timeline_profile_dir_and_lists_hosts(plugin):
    out = plugin.window_impl(CTX, EXP, "train", "30")
    w = out["window"]
    assert out["hosts"] == ["worker-0"]
    assert w["profile_dir"] == "plugins/profile/2026_01_01_00_00_30_steps30-31"
    assert w["timeline"]["step"] == 31
    spans = w["timeline"]["spans"]
    assert [(s["path"], s["phase"]) for s in spans][:3] == [
        ("block", "forward"), ("block/slow", "forward"), ("block/fast", "forward")]
    assert all(s["end_us"] >= s["start_us"] for s in spans)


def test_window_hosts_and_host_picking(tmp_path):
    d = str(tmp_path)
    a, b = synthetic_window(10), synthetic_window(10, scale=2.0)
    b.host = "worker-1"
    write_run(d, "train", [a, b])
    plugin, _ = _plugin(d)
    out = plugin.window_impl(CTX, EXP, "train", "10")
    assert out["hosts"] == ["worker-0", "worker-1"]
    assert out["window"]["host"] == "worker-1"  # the last by default
    picked = plugin.window_impl(CTX, EXP, "train", "10", host="worker-0")
    assert picked["window"]["host"] == "worker-0" and picked["hosts"] == ["worker-0", "worker-1"]
    assert picked["window"]["timeline"]["spans"][0]["end_us"] == 1900.0


@pytest.mark.parametrize(
    "timeline, expected",
    [
        ({}, {}),
        (None, {}),
        ("junk", {}),
        ({"step": 3, "spans": "no"}, {}),
        (
            {"step": 3, "step_time_us": 10.0, "spans": [
                {"path": "a", "phase": "forward", "start_us": 1.0, "end_us": 2.0},
                {"path": "a", "phase": "forward", "start_us": 3.0, "end_us": 2.0},
                {"path": 5, "phase": "forward", "start_us": 1.0, "end_us": 2.0},
                {"path": "b", "phase": "backward", "start_us": "1", "end_us": 2.0},
                {"path": "b", "phase": "backward", "start_us": True, "end_us": 2.0},
                "junk",
            ]},
            {"step": 3, "step_time_us": 10.0, "spans": [
                {"path": "a", "phase": "forward", "start_us": 1.0, "end_us": 2.0}]},
        ),
    ],
)
def test_malformed_timelines_are_cleaned_not_fatal(tmp_path, timeline, expected):
    d = str(tmp_path)
    raw = synthetic_window(5).to_json()
    raw["timeline"] = timeline
    _write_raw(os.path.join(d, "train"), tag_for_step(5), json.dumps(raw).encode())
    plugin, _ = _plugin(d)
    assert plugin.window_impl(CTX, EXP, "train", "5")["window"]["timeline"] == expected
    assert plugin.report_impl(CTX, EXP, "train")["runs"][0]["windows"][0]["timeline"] == expected


def test_the_run_cache_reads_windows_without_their_timelines(tmp_path):
    """/windows and /trend read each window without its step timeline (drawing data that
    never makes a window unreadable): the same window otherwise, field by field."""
    window = synthetic_window(5)
    raw = window_to_bytes(window)
    full, lean = window_from_bytes(raw), window_from_bytes(raw, timeline=False)
    assert full.timeline["spans"] and lean.timeline == {}
    assert dataclasses.replace(lean, timeline=full.timeline) == full
    d = str(tmp_path)
    write_run(d, "train", [window])
    plugin, _ = _plugin(d)
    assert [w["step"] for w in plugin.windows_impl(CTX, EXP, "train")["windows"]] == [5]
    # /window still serves the timeline after the cache read the window without it.
    assert plugin.window_impl(CTX, EXP, "train", "5")["window"]["timeline"] == full.to_json()["timeline"]


def test_reading_a_window_pauses_the_cyclic_gc_and_restores_it(monkeypatch):
    import gc
    from tb_layerprof import report

    seen = []
    real = report.WindowReport.from_json.__func__
    monkeypatch.setattr(report.WindowReport, "from_json",
                        classmethod(lambda cls, d, timeline=True: seen.append(gc.isenabled()) or real(cls, d, timeline)))
    assert gc.isenabled()
    assert window_from_bytes(window_to_bytes(synthetic_window(5))).step == 5
    with pytest.raises(ValueError, match="not a layerprof report"):
        window_from_bytes(b'{"step": 1}')
    assert seen == [False, False] and gc.isenabled()


def test_older_report_without_timeline_or_profile_dir(tmp_path):
    d = str(tmp_path)
    raw = synthetic_window(5).to_json()
    del raw["timeline"], raw["profile_dir"]
    _write_raw(os.path.join(d, "train"), tag_for_step(5), json.dumps(raw).encode())
    plugin, _ = _plugin(d)
    w = plugin.window_impl(CTX, EXP, "train", "5")["window"]
    assert w["timeline"] == {} and w["profile_dir"] == ""


def test_window_serves_the_layers_work_figures_of_the_figures_module(tmp_path):
    window = with_work(synthetic_window(10))
    write_run(str(tmp_path), "train", [window])
    write_run(str(tmp_path), "old", [synthetic_window(10)])
    plugin = _plugin(str(tmp_path))[0]
    work = plugin.window_impl(CTX, EXP, "train", None)["layer_work"]
    by_path = {x.path: x for x in window.layers}
    # Every layer with counts, none without (dense_1).
    assert sorted(work) == ["block", "block/fast", "block/slow", "dense"]
    for path, entry in work.items():
        layer = by_path[path]
        total = figures.layer_rates(layer, window, own=False)
        assert entry["total"] == {**total, "peak_fraction": figures.peak_fraction(total)}
        assert entry["counts"] == layer.work_counts
        # Each phase alone: its own FLOPs over its own time and bytes.
        assert entry["forward"]["flops_per_s"] == pytest.approx(layer.forward_flops_per_s)
        assert entry["backward"]["flops_per_s"] == pytest.approx(layer.backward_flops_per_s)
        assert entry["forward"]["intensity"] == pytest.approx(layer.forward_flops / layer.forward_bytes)
        fwd_bytes_per_s = layer.forward_bytes / layer.forward_us * 1e6
        assert entry["forward"]["peak_fraction"] == pytest.approx(
            max(layer.forward_flops_per_s / window.peak_flops_per_s, fwd_bytes_per_s / window.peak_bytes_per_s))
    # The loop layer far below the Dense layer's rate, both as the CLI table shows them.
    assert work["block/slow"]["total"]["flops_per_s"] < 0.01 * work["dense"]["total"]["flops_per_s"]
    assert plugin.window_impl(CTX, EXP, "old", None)["layer_work"] == {}


def test_trend_impl_follows_layers_across_windows(plugin):
    out = plugin.trend_impl(CTX, EXP, "train", ["block/slow", "dense", "no/such/layer", "dense"])
    assert out["steps"] == [10 + 20 * i for i in range(WINDOWS)]
    assert [l["path"] for l in out["layers"]] == ["block/slow", "dense", "no/such/layer"]
    slow = out["layers"][0]
    assert slow["found"] is True
    assert slow["forward_us"][0] == pytest.approx(1500.0)
    assert slow["forward_us"][-1] == pytest.approx(1500.0 * (1.0 + 0.1 * (WINDOWS - 1)))
    assert slow["backward_alloc_bytes"] == [524288.0] * WINDOWS
    missing = out["layers"][2]
    assert missing["found"] is False and missing["forward_us"] == [None] * WINDOWS


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda p: p.report_impl(CTX, EXP, None), 400),
        (lambda p: p.report_impl(CTX, EXP, "nope"), 404),
        (lambda p: p.report_impl(CTX, EXP, "warmup"), 404),
        (lambda p: p.report_impl(CTX, EXP, "../../etc"), 404),
        (lambda p: p.windows_impl(CTX, EXP, "nope"), 404),
        (lambda p: p.window_impl(CTX, EXP, "train", "abc"), 400),
        (lambda p: p.window_impl(CTX, EXP, "train", "-1"), 400),
        (lambda p: p.window_impl(CTX, EXP, "train", "11"), 404),
        (lambda p: p.window_impl(CTX, EXP, "train", "30", host="other"), 404),
        (lambda p: p.trend_impl(CTX, EXP, "train", []), 400),
        (lambda p: p.trend_impl(CTX, EXP, "train", [f"l{i}" for i in range(51)]), 400),
        (lambda p: p.static_impl("../plugin.py"), 404),
        (lambda p: p.static_impl("..%2Fplugin.py"), 404),
        (lambda p: p.static_impl("/etc/passwd"), 404),
        (lambda p: p.static_impl("..\\plugin.py"), 404),
        (lambda p: p.static_impl(""), 404),
        (lambda p: p.static_impl("index.js\x00.png"), 404),
        (lambda p: p.static_impl("nonexistent.js"), 404),
    ],
)
def test_impl_refusals(plugin, call, code):
    with pytest.raises(ApiError) as e:
        call(plugin)
    assert e.value.code == code
    assert e.value.message


def test_static_impl_serves_the_bundle_only(plugin):
    content, content_type = plugin.static_impl("index.js")
    with open(os.path.join(STATIC_DIR, "index.js"), "rb") as f:
        assert content == f.read()
    assert content_type == "application/javascript"
    assert b"export" in content  # an ES module with render()


def test_more_windows_appear_after_reload_and_cache_follows(tmp_path):
    d = str(tmp_path)
    write_run(d, "train", [synthetic_window(5), synthetic_window(10)])
    plugin, multiplexer = _plugin(d)
    assert [w["step"] for w in plugin.windows_impl(CTX, EXP, "train")["windows"]] == [5, 10]
    # Training goes on: a new window, and step 10 rewritten (a restarted writer).
    rewritten = synthetic_window(10, scale=3.0)
    rewritten.wall_time += 3600.0
    write_run(d, "train", [rewritten, synthetic_window(15)])
    multiplexer.Reload()
    windows = plugin.windows_impl(CTX, EXP, "train")["windows"]
    assert [w["step"] for w in windows] == [5, 10, 15]
    assert windows[1]["top"][0]["self_forward_us"] == pytest.approx(4500.0)
    trend = plugin.trend_impl(CTX, EXP, "train", ["block/slow"])
    assert trend["layers"][0]["forward_us"] == pytest.approx([1500.0, 4500.0, 1500.0])
    report = plugin.report_impl(CTX, EXP, "train")["runs"][0]["windows"]
    assert [(w["step"], w["layers"][1]["forward_us"]) for w in report] == [(5, 1500.0), (10, 4500.0), (15, 1500.0)]


def _write_raw(run_dir, tag, payload: bytes, plugin_content=b'{"version": 1}'):
    os.makedirs(run_dir, exist_ok=True)
    metadata = create_metadata()
    metadata.plugin_data.content = plugin_content
    with open(os.path.join(run_dir, "events.out.tfevents.2.localhost.2.raw"), "ab") as f:
        w = RecordWriter(f)
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[payload])
        value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)
        ev = event_pb2.Event(wall_time=2.0, step=7, summary=summary_pb2.Summary(value=[value]))
        w.write(ev.SerializeToString())


def test_corrupt_and_future_payloads_are_skipped_not_fatal(tmp_path):
    d = str(tmp_path)
    write_run(d, "train", [synthetic_window(5)])
    _write_raw(os.path.join(d, "train"), tag_for_step(7), b"{not json")
    _write_raw(os.path.join(d, "train"), tag_for_step(9), b"{}", plugin_content=b'{"version": 99}')
    plugin, _ = _plugin(d)
    assert [w["step"] for w in plugin.windows_impl(CTX, EXP, "train")["windows"]] == [5]
    assert [w["step"] for w in plugin.report_impl(CTX, EXP, "train")["runs"][0]["windows"]] == [5]
    with pytest.raises(ApiError) as e:
        plugin.window_impl(CTX, EXP, "train", "7")
    assert e.value.code == 404


def test_no_runs_at_all(tmp_path):
    plugin, _ = _plugin(str(tmp_path))
    assert plugin.runs_impl(CTX, EXP) == {"schema": 1, "runs": [], "runs_without_reports": []}


def test_plugin_import_path_has_no_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys; import tb_layerprof.plugin; "
        "sys.exit(1 if any(m == 'tensorflow' or m.startswith('tensorflow.') for m in sys.modules) else 0)"
    )
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- routes through TensorBoard's WSGI app -------------------------------------------------


@pytest.fixture(scope="module")
def client(logdir):
    multiplexer, provider = _provider(logdir)
    flags = argparse.Namespace(
        logdir=logdir, path_prefix="", samples_per_plugin={}, window_title="", generic_data="true"
    )
    app = application.TensorBoardWSGIApp(flags, [LayerProfPlugin], provider, None, multiplexer)
    return Client(app)


BASE = "/data/plugin/layerprof"


def _json(resp):
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    return json.loads(resp.get_data(as_text=True))


def test_plugins_listing_declares_the_iframe_tab(client):
    listing = _json(client.get("/data/plugins_listing"))["layerprof"]
    assert listing["enabled"] is True
    assert listing["tab_name"] == "Layer Profile"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": f"{BASE}/static/index.js"}
    entry = client.get("/data/plugin_entry.html?name=layerprof")
    assert entry.status_code == 200 and b"./static/index.js" in entry.get_data()


def test_routes_answer_json(client):
    assert _json(client.get(f"{BASE}/runs"))["runs"][1]["run"] == "train"
    assert len(_json(client.get(f"{BASE}/report?run=train"))["runs"][0]["windows"]) == WINDOWS
    assert len(_json(client.get(f"{BASE}/windows?run=train"))["windows"]) == WINDOWS
    assert _json(client.get(f"{BASE}/window?run=train&step=50"))["window"]["step"] == 50
    trend = _json(client.get(f"{BASE}/trend?run=train&layer=block/slow&layer=dense"))
    assert [l["path"] for l in trend["layers"]] == ["block/slow", "dense"]
    # The HTML/script run name is just data: returned verbatim inside JSON.
    from urllib.parse import quote

    xss = _json(client.get(f"{BASE}/window?run={quote(XSS_RUN)}"))
    assert xss["run"] == XSS_RUN and xss["window"]["step"] == 3


def test_report_is_gzipped_when_accepted(client):
    resp = client.get(f"{BASE}/report?run=train", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.headers.get("Content-Encoding") == "gzip"
    body = gzip.decompress(resp.get_data())
    assert len(resp.get_data()) < len(body) / 4
    assert json.loads(body)["schema"] == 1


def test_static_route_serves_bundle_with_js_type(client):
    resp = client.get(f"{BASE}/static/index.js")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/javascript")
    assert "render" in resp.get_data(as_text=True)


HOSTILE = [
    ("/report", 400),  # missing run
    ("/report?run=", 404),
    ("/report?run=nope", 404),
    ("/report?run=..%2F..%2F..%2Fetc%2Fpasswd", 404),
    ("/report?run=%2Fetc%2Fpasswd", 404),
    ("/report?run=train%00", 400),
    ("/report?run=train&run=train", 400),
    ("/report?run=" + "a" * 5000, 400),
    ("/windows?run=warmup", 404),
    ("/window?run=train&step=abc", 400),
    ("/window?run=train&step=1e3", 400),
    ("/window?run=train&step=-5", 400),
    ("/window?run=train&step=99999999999999999999", 400),
    ("/window?run=train&step=31", 404),
    ("/window?step=10", 400),
    ("/trend?run=train", 400),
    ("/trend?run=nope&layer=x", 404),
    ("/trend?run=train&" + "&".join(f"layer=l{i}" for i in range(60)), 400),
    ("/static/..%2Fplugin.py", 404),
    ("/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", 404),
    ("/static/%2e%2e/plugin.py", 404),
    ("/static/.hidden.js", 404),
    ("/static/THIRD_PARTY_LICENSES.txt", 404),  # not a served type
    ("/static/index.js%00.css", 404),
]


@pytest.mark.parametrize("path, code", HOSTILE)
def test_hostile_requests_get_json_4xx(client, path, code):
    resp = client.get(BASE + path)
    assert resp.status_code == code, resp.get_data(as_text=True)[:300]
    body = _json(resp)
    assert body["error"]["code"] == code and body["error"]["message"]
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "root:" not in text and "import " not in text


def test_raw_dotdot_in_static_path_never_leaves_the_folder(client):
    # Unencoded traversal; TensorBoard/werkzeug may normalise it, but the answer must never
    # be a file from outside tb_layerprof/static.
    for path in ("/static/", "/static/../plugin.py", "/static/../../setup.py", "/static/./../report.py"):
        resp = client.get(BASE + path)
        assert resp.status_code in (400, 404), path
        assert b"LayerProfPlugin" not in resp.get_data() and b"def " not in resp.get_data()


def test_post_is_refused(client):
    resp = client.post(f"{BASE}/runs")
    assert resp.status_code == 405
    assert _json(resp)["error"]["code"] == 405


def test_a_malformed_window_beside_good_ones_leaves_every_route_answering(tmp_path):
    d = str(tmp_path)
    write_run(d, "train", [synthetic_window(5), synthetic_window(6)])
    raw = synthetic_window(7).to_json()
    raw["step"], raw["layers"][0]["self_forward_us"] = 7, "abc"
    _write_raw(os.path.join(d, "train"), tag_for_step(7), json.dumps(raw).encode())
    plugin, _ = _plugin(d)
    listed = plugin.windows_impl(CTX, EXP, "train")
    assert [w["step"] for w in listed["windows"]] == [5, 6]
    assert [(b["step"], "'self_forward_us' is not a number" in b["error"])
            for b in listed["unreadable"]] == [(7, True)]
    # The run opens on its latest readable window, with the figures the backend computed.
    latest = plugin.window_impl(CTX, EXP, "train", None)
    assert latest["window"]["step"] == 6
    assert latest["figures"]["hot_layers"] and 0 <= latest["figures"]["coverage"] <= 1
    with pytest.raises(ApiError) as e:
        plugin.window_impl(CTX, EXP, "train", "7")
    assert e.value.code == 404 and "self_forward_us" in e.value.message
    path = synthetic_window(5).layers[0].path
    trend = plugin.trend_impl(CTX, EXP, "train", [path])
    assert trend["steps"] == [5, 6] and trend["layers"][0]["found"]
    assert plugin.diff_impl(CTX, EXP, "train", "train", "5", None)["run_window"]["step"] == 6
    assert plugin.workers_impl(CTX, EXP, "train", None)["step"] == 6
    assert [w["step"] for w in plugin.report_impl(CTX, EXP, "train")["runs"][0]["windows"]] == [5, 6]


def test_hot_layers_and_coverage_are_the_figures_module_s(plugin):
    from tb_layerprof import figures
    from tb_layerprof.report import WindowReport

    out = plugin.window_impl(CTX, EXP, "train", None)
    window = WindowReport.from_json(out["window"])
    assert out["figures"] == json.loads(json.dumps(figures.window_figures(window)))
    summary = plugin.windows_impl(CTX, EXP, "train")["windows"][-1]
    assert [t["path"] for t in summary["top"]] == [h["path"] for h in out["figures"]["hot_layers"]]
    assert summary["figures"] == out["figures"]


def test_report_as_csv_is_the_cli_s_csv(client, logdir):
    import io as _io

    from tb_layerprof import cli

    resp = client.get(f"{BASE}/report?run=train&format=csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Disposition"] == 'attachment; filename="layerprof-train.csv"'
    out, err = _io.StringIO(), _io.StringIO()
    assert cli.main(["report", logdir, "--run", "train", "--format", "csv", "--window", "all"],
                    out=out, err=err) == 0, err.getvalue()
    assert resp.get_data(as_text=True) == out.getvalue()
    # One step (and host): only that window's rows.
    one = client.get(f"{BASE}/report?run=train&format=csv&step=50").get_data(as_text=True)
    rows = one.strip().split("\r\n")
    assert len(rows) > 1 and {r.split(",")[1] for r in rows[1:]} == {"50"}
    assert client.get(f"{BASE}/report?run=train&format=csv&step=50&host=nobody").status_code == 404
    assert client.get(f"{BASE}/report?run=train&format=xml").status_code == 400
    assert client.get(f"{BASE}/report?run=nope&format=csv").status_code == 404


def test_csv_download_name_of_a_hostile_run_is_plain(client):
    from urllib.parse import quote

    resp = client.get(f"{BASE}/report?run={quote(XSS_RUN)}&format=csv")
    assert resp.status_code == 200
    name = resp.headers["Content-Disposition"]
    assert name.startswith('attachment; filename="layerprof-') and name.count('"') == 2
    assert "<" not in name and "/" not in name
