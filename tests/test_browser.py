"""Real browser: headless Chromium opens a real TensorBoard, switches to the Layer Profile
tab (the plugin's iframe) and checks what a user sees: table order, sorting, charts, hints,
empty and error states, export, the URL reproducing the view, and that an HTML/script run
name renders as text. Every page must log no errors. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tb_layerprof.report import Hint, LayerStats
from tests.plugin_helpers import (  # noqa: F401
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    XSS_RUN,
    make_synthetic_logdir,
    synthetic_window,
    tensorboard,
    trained_logdir,
    with_work,
    write_run,
)

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)

BASE = "/data/plugin/layerprof"
TREE_ORDER = ["block", "block/slow", "block/fast", "dense", "dense_1"]


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("browser_logs"))
    make_synthetic_logdir(d, windows=12)
    # "legacy": a report from before timelines and profile dirs.
    old = synthetic_window(5)
    old.timeline, old.profile_dir = {}, ""
    write_run(d, "legacy", [old])
    with tensorboard(d) as proc:
        proc.wait_for(
            f"{BASE}/runs",
            lambda j: len(j["runs"]) == 3 and {r["run"]: r["windows"] for r in j["runs"]}.get("train") == 12,
        )
        yield proc


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def settle(page):
    """Until the page and its frames have no request in flight (Playwright's networkidle): an
    <img src=x> made from a run name would have loaded, failed and run its onerror by then."""
    page.wait_for_load_state("networkidle", timeout=15000)


class Page:
    """A browser page that records console errors, page errors and dialogs."""

    def __init__(self, browser, color_scheme="light", width=1400):
        self.context = browser.new_context(
            viewport={"width": width, "height": 1000}, accept_downloads=True, color_scheme=color_scheme
        )
        self.page = self.context.new_page()
        self.errors = []
        self.dialogs = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.bad_responses = []
        self.page.on("response", lambda r: r.status >= 400 and self.bad_responses.append(f"{r.status} {r.url}"))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)

    def _on_console(self, m):
        # A page opened directly on the iframe URL has no favicon link; Chromium's own
        # request for /favicon.ico is not the plugin's doing.
        if m.type == "error" and "favicon" not in (m.location or {}).get("url", ""):
            self.errors.append(f"{m.text} at {(m.location or {}).get('url', '')}")

    def open_tab(self, url):
        """TensorBoard's own page, Layer Profile tab; returns the plugin's iframe."""
        self.page.goto(url + "/#layerprof")
        handle = self.page.wait_for_selector("iframe", timeout=30000)
        frame = handle.content_frame()
        frame.wait_for_selector("#layerprof-root", timeout=30000)
        return frame

    def open_iframe(self, url, hash_=""):
        """The iframe URL itself, as a shared link would open it."""
        self.page.goto(url + "/data/plugin_entry.html?name=layerprof" + hash_)
        self.page.wait_for_selector("#layerprof-root", timeout=30000)
        return self.page.main_frame

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=True)

    def close(self):
        self.context.close()


@pytest.fixture
def page(browser, request):
    p = Page(browser)
    try:
        yield p
        p.screenshot(f"last-{request.node.name}.png")
    finally:
        p.close()
    assert not p.dialogs, f"a dialog opened (script executed?): {p.dialogs}"
    assert not p.errors, f"the page logged errors: {p.errors} (failed responses: {p.bad_responses})"


def rows(frame):
    frame.wait_for_selector("[data-testid=layer-table] [role=row][data-path]", timeout=30000)
    return frame.eval_on_selector_all(
        "[data-testid=layer-table] [role=row][data-path]", "els => els.map(e => e.dataset.path)"
    )


def wait_rows(frame, expected, timeout=10000):
    frame.wait_for_function(
        """expected => JSON.stringify(Array.from(document.querySelectorAll(
            '[data-testid=layer-table] [role=row][data-path]')).map(e => e.dataset.path)) === expected""",
        arg=json.dumps(expected, separators=(",", ":")),
        timeout=timeout,
    )


def chart_drawn(frame, test_id):
    frame.wait_for_function(
        """id => { const el = document.querySelector(`[data-testid=${id}]`);
                   const c = el && el.querySelector('canvas');
                   return !!c && c.width > 50 && c.height > 50 && Number(el.dataset.rendered) >= 1; }""",
        arg=test_id,
        timeout=15000,
    )


def test_tab_shows_layers_hot_chart_and_hints(tb, page):
    frame = page.open_tab(tb.url)
    assert rows(frame) == TREE_ORDER  # tree, siblings by total time, descending
    # The row shows formatted figures: block/slow total = (1500+3100)*2.1 µs = 9.66 ms.
    cells = frame.eval_on_selector(
        "[role=row][data-path='block/slow']",
        "r => Array.from(r.children).map(c => (c.querySelector('.lp-path') || c).textContent)",
    )
    assert cells[0] == "block/slow" and cells[1] == "SlowLoop"
    assert "9.66 ms" in cells
    assert "custom" in cells and "2" in cells  # custom flag and two hints
    # Hints in plain words, with their evidence, hottest problem first.
    diag = frame.inner_text("[data-testid=diagnoses]")
    assert "python-loop" in diag and "Python loop" in diag
    assert frame.inner_text("[data-testid=diagnoses] .lp-diag[data-code=python-loop] [data-key=ops_per_call]") == "Ops per call\t193"
    assert diag.index("python-loop") < diag.index("expensive-gradient")
    chart_drawn(frame, "hot-chart")
    chart_drawn(frame, "breakdown-chart")
    assert "Op time per step" in frame.inner_text("[data-testid=breakdown-total]")
    # Over training loads when scrolled into view.
    frame.locator("[data-testid=trend]").scroll_into_view_if_needed()
    chart_drawn(frame, "trend-chart")
    page.screenshot("layer-profile-tab.png")


def test_sorting_and_flat_list_and_url_state(tb, page):
    frame = page.open_iframe(tb.url, "#run=train")
    assert rows(frame) == TREE_ORDER
    frame.click("[data-testid=layers] input[type=checkbox]")  # flat list
    frame.click("[role=columnheader][data-key=self_us]")
    wait_rows(frame, ["block/slow", "dense", "block", "block/fast", "dense_1"])
    assert frame.get_attribute("[role=columnheader][data-key=self_us]", "aria-sort") == "descending"
    frame.click("[role=columnheader][data-key=self_us]")
    wait_rows(frame, ["dense_1", "block", "block/fast", "dense", "block/slow"])
    frame.click("[role=columnheader][data-key=path]")
    wait_rows(frame, ["block", "block/fast", "block/slow", "dense", "dense_1"])
    # The view lives in the iframe URL: a link to it reproduces it.
    url = frame.evaluate("location.href")
    assert "sort=path" in url and "flat=1" in url and "run=train" in url
    page.page.goto("about:blank")
    page.page.goto(url)
    again = page.page.main_frame
    wait_rows(again, ["block", "block/fast", "block/slow", "dense", "dense_1"])


def test_collapse_filter_and_window_picker(tb, page):
    frame = page.open_iframe(tb.url, "#run=train")
    assert rows(frame) == TREE_ORDER
    frame.click("button[aria-label='Collapse block']")
    wait_rows(frame, ["block", "dense", "dense_1"])
    frame.fill("[data-testid=filter]", "fast")
    wait_rows(frame, ["block", "block/fast"])  # match plus its parent
    frame.fill("[data-testid=filter]", "")
    wait_rows(frame, ["block", "dense", "dense_1"])
    # Older window: step 10 has scale 1.0, so block/slow total is 4.60 ms.
    frame.select_option("[data-testid=window-picker]", "10")
    frame.wait_for_function(
        "() => document.querySelector(\"[role=row][data-path='block']\") &&"
        " document.querySelector('[data-testid=window-facts]')?.textContent.includes('steps 10–11')"
    )
    options = frame.eval_on_selector_all("[data-testid=window-picker] option", "os => os.map(o => o.value)")
    assert len(options) == 12  # every window is offered
    assert "step=10" in frame.evaluate("location.hash")


def test_html_run_name_is_text_not_markup(tb, page):
    frame = page.open_iframe(tb.url, "#run=" + quote(XSS_RUN, safe=""))
    assert rows(frame) == TREE_ORDER
    picker = frame.eval_on_selector(
        "[data-testid=run-picker]", "s => s.options[s.selectedIndex].textContent"
    )
    assert picker == XSS_RUN
    # No element was created from the name: no <img src=x> anywhere.
    assert frame.evaluate("document.querySelectorAll('img').length") == 0
    # Same through TensorBoard's page, choosing the run in the picker.
    tab = page.open_tab(tb.url)
    rows(tab)
    tab.select_option("[data-testid=run-picker]", XSS_RUN)
    tab.wait_for_function("() => location.hash.includes('run=')")
    tab.wait_for_function("() => document.querySelector('[data-testid=window-facts]')?.textContent.includes('steps 3–4')")
    assert tab.evaluate("document.querySelectorAll('img').length") == 0
    settle(page.page)  # an injected onerror would have fired by now
    assert tab.evaluate("document.querySelectorAll('img').length") == 0
    page.screenshot("layer-profile-xss-run.png")


def test_export_csv_and_json(tb, page):
    frame = page.open_iframe(tb.url, "#run=train")
    rows(frame)
    with page.page.expect_download() as dl:
        frame.click("[data-testid=export-json]")
    doc = json.load(open(dl.value.path(), encoding="utf-8"))
    assert doc["runs"][0]["run"] == "train"
    assert [l["path"] for l in doc["runs"][0]["windows"][0]["layers"]] == TREE_ORDER
    # CSV comes from the backend's one CSV writer: a link to /report?format=csv of this window.
    link = frame.query_selector("[data-testid=export-csv]")
    assert link.get_attribute("download").endswith(".csv")
    url = urlsplit(link.get_attribute("href"))
    assert url.path.endswith(f"{BASE}/report")
    assert parse_qs(url.query) == {"run": ["train"], "format": ["csv"], "step": ["230"], "host": ["worker-0"]}
    with page.page.expect_download() as dl:
        frame.click("[data-testid=export-csv]")
    assert dl.value.suggested_filename.endswith(".csv")
    with open(dl.value.path(), encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["path"] for r in table] == TREE_ORDER  # this window only, in table order
    assert {r.get("step") for r in table} <= {"230", None}


def test_tab_shows_the_backend_figures(tb, page):
    """Hot layers and coverage are the backend's (`figures` of /window), never recomputed."""
    _, body = tb.get_json(f"{BASE}/window?run=train")
    figures = body["figures"]
    frame = page.open_iframe(tb.url, "#run=train")
    rows(frame)
    chart_drawn(frame, "hot-chart")
    shown = frame.get_attribute("[data-testid=hot-chart]", "data-layers").split("\n")
    assert shown == [h["path"] for h in figures["hot_layers"]]
    facts = frame.inner_text("[data-testid=window-facts]")
    assert f"coverage {figures['coverage'] * 100:.1f}%" in facts


def click_hot_bar(page, frame, path):
    """Clicks the middle of `path`'s forward bar in the hot-layers chart."""
    chart_drawn(frame, "hot-chart")
    frame.wait_for_function("() => { const e = document.querySelector('[data-testid=hot-chart]'); return e && e.lpChart; }")
    frame.locator("[data-testid=hot-chart]").scroll_into_view_if_needed()
    x, y = frame.evaluate(
        """path => { const el = document.querySelector('[data-testid=hot-chart]'); const c = el.lpChart;
                  const o = c.getOption(); const i = o.yAxis[0].data.indexOf(path);
                  const v = o.series[0].data[i] + o.series[1].data[i];
                  const p = c.convertToPixel({gridIndex: 0}, [v / 2, i]);
                  const r = el.getBoundingClientRect(); return [r.left + p[0], r.top + p[1]]; }""",
        path,
    )
    if frame != page.page.main_frame:
        box = page.page.query_selector("iframe").bounding_box()
        x, y = x + box["x"], y + box["y"]
    page.page.mouse.click(x, y)


def test_hot_bars_and_diagnoses_select_their_layer_detail_beside_table(tb, page):
    """Everything that names a layer selects it; the detail opens beside the table."""
    frame = page.open_tab(tb.url)
    assert rows(frame) == TREE_ORDER
    click_hot_bar(page, frame, "dense")
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'dense'")
    detail = frame.wait_for_selector("[data-testid=layer-detail]")
    assert "dense" in detail.inner_text()
    # Beside the table, not under it: same top band, to its right.
    t = frame.locator("[data-testid=layers]").bounding_box()
    d = frame.locator("[data-testid=layer-detail]").bounding_box()
    assert d["x"] >= t["x"] + t["width"] - 1 and d["y"] < t["y"] + 50, (t, d)
    # A diagnosis card selects its layer: by click, and by keyboard.
    frame.click("[data-testid=diagnoses] .lp-diag[data-path='block/slow']")
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'block/slow'")
    assert "block/slow" in frame.inner_text("[data-testid=layer-detail]")
    frame.click("[role=row][data-path='dense'] .lp-cell:nth-child(2)")
    frame.wait_for_function("() => location.hash.includes('sel=dense')")
    frame.focus("[data-testid=diagnoses] .lp-diag[data-path='block/slow']")
    frame.press("[data-testid=diagnoses] .lp-diag[data-path='block/slow']", "Enter")
    frame.wait_for_function("() => location.hash.includes('sel=block%2Fslow')")
    page.screenshot("layer-profile-selected.png")


def test_older_server_without_figures_shows_none(tb, browser):
    """No `figures` in /window (an older server): no hot layers, no coverage, no guess."""
    p = Page(browser)

    def strip(route):
        resp = route.fetch()
        body = resp.json()
        body.pop("figures", None)
        route.fulfill(response=resp, json=body)

    try:
        p.page.route("**/data/plugin/layerprof/window?**", strip)
        frame = p.open_iframe(tb.url, "#run=train")
        assert rows(frame) == TREE_ORDER
        note = frame.wait_for_selector("[data-testid=figures-missing]")
        assert "no hot layers" in note.inner_text()
        assert frame.query_selector("[data-testid=hot-chart]") is None
        assert "coverage" not in frame.inner_text("[data-testid=window-facts]")
        assert frame.query_selector("[data-testid=breakdown-total]") is None
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def test_run_without_reports_explains_why(tb, page):
    frame = page.open_iframe(tb.url, "#run=warmup")
    msg = frame.wait_for_selector("[data-testid=message-empty]")
    text = msg.inner_text()
    assert "warmup" in text and "no layer reports yet" in text and "warm-up" in text


def test_failed_request_shows_error_and_retry_recovers(tb, page):
    fail = {"on": True}

    def handler(route):
        if fail["on"]:
            route.fulfill(status=500, content_type="application/json", body='{"error": {"code": 500, "message": "disk on fire"}}')
        else:
            route.continue_()

    page.page.route("**/data/plugin/layerprof/window?**", handler)
    frame = page.open_iframe(tb.url, "#run=train")
    msg = frame.wait_for_selector("[data-testid=message-error]", timeout=15000)
    assert "disk on fire" in msg.inner_text()
    assert frame.query_selector("[data-testid=message-loading]") is None  # no endless spinner
    fail["on"] = False
    frame.click("[data-testid=message-error] button")
    assert rows(frame) == TREE_ORDER
    # The browser logs failed (500) responses itself; those are expected here.
    page.errors[:] = [e for e in page.errors if "500" not in e]


def test_no_runs_yet(browser, tmp_path):
    with tensorboard(str(tmp_path)) as proc:
        p = Page(browser)
        try:
            frame = p.open_iframe(proc.url)
            msg = frame.wait_for_selector("[data-testid=message-empty]", timeout=15000)
            assert "No layer profiles yet" in msg.inner_text()
            assert "LayerProfiler" in msg.inner_text()
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs


@pytest.mark.slow
def test_real_training_in_the_browser(browser, trained_logdir):  # noqa: F811
    with tensorboard(trained_logdir) as proc:
        p = Page(browser)
        try:
            proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 1)
            frame = p.open_tab(proc.url)
            order = rows(frame)
            assert order[0] == "slow", order  # the Python-loop layer is the hottest
            assert order.index("slow") < order.index("fast")
            assert "python-loop" in frame.inner_text("[data-testid=diagnoses]")
            chart_drawn(frame, "hot-chart")
            p.screenshot("layer-profile-real-training.png")
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


# -- step timeline, trace viewer links, host picker -------------------------------------


def timeline_drawn(frame, spans=None):
    chart_drawn(frame, "timeline-chart")
    wait_finished(frame)
    n = int(frame.get_attribute("[data-testid=timeline-chart]", "data-spans"))
    if spans is not None:
        assert n == spans
    return n


def wait_finished(frame, test_id="timeline-chart"):
    """Until ECharts has drawn the chart's latest option completely (large series are drawn
    progressively, over several frames; a span is clickable once drawn)."""
    frame.wait_for_function(
        """id => { const el = document.querySelector(`[data-testid=${id}]`);
                   return el && el.dataset.rendered && el.dataset.finished === el.dataset.rendered; }""",
        arg=test_id,
        timeout=15000,
    )


def click_span(page, frame, spans, path, phase="forward", last=False):
    """Clicks the middle of `path`'s span (`spans`: the window's timeline spans, as served),
    located through the page's ECharts instance."""
    frame.wait_for_function(
        "() => { const e = document.querySelector('[data-testid=timeline-chart]'); return e && e.lpChart; }"
    )
    matches = [i for i, sp in enumerate(spans) if sp["path"] == path and sp["phase"] == phase]
    index = matches[-1] if last else matches[0]
    wait_finished(frame)
    frame.locator("[data-testid=timeline-chart]").scroll_into_view_if_needed()
    x, y = frame.evaluate(
        """i => { const el = document.querySelector('[data-testid=timeline-chart]'); const c = el.lpChart;
                  const item = c.getOption().series[0].data.find(d => d[3] === i);
                  const p = c.convertToPixel({gridIndex: 0}, [(item[0] + item[1]) / 2, item[2]]);
                  const r = el.getBoundingClientRect(); return [r.left + p[0], r.top + p[1]]; }""",
        index,
    )
    if frame != page.page.main_frame:  # coordinates inside TensorBoard's iframe
        box = page.page.query_selector("iframe").bounding_box()
        x, y = x + box["x"], y + box["y"]
    page.page.mouse.click(x, y)


def selected_rows(frame):
    return frame.eval_on_selector_all("[role=row].lp-selected", "els => els.map(e => e.dataset.path)")


def served_spans(proc, run):
    status, body = proc.get_json(f"{BASE}/window?run={quote(run, safe='')}")
    assert status == 200
    return body["window"]["timeline"]["spans"]


def test_step_timeline_draws_spans_and_click_selects_layer(tb, page):
    frame = page.open_iframe(tb.url, "#run=train")
    assert rows(frame) == TREE_ORDER
    assert timeline_drawn(frame) == 10  # every span of the synthetic step
    assert frame.get_attribute("[data-testid=timeline-chart]", "data-rows") == "4"  # fwd/grad x 2 depths
    assert "step 21" not in frame.inner_text("[data-testid=timeline]")  # latest window: step 230-231
    assert "step 231" in frame.inner_text("[data-testid=timeline]")
    assert "first op to its last op" in frame.inner_text("[data-testid=timeline-meaning]")
    # Collapse the block, then click block/slow's gradient span: the row is revealed and selected.
    frame.click("button[aria-label='Collapse block']")
    wait_rows(frame, ["block", "dense", "dense_1"])
    click_span(page, frame, served_spans(tb, "train"), "block/slow", "backward")
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'block/slow'")
    assert selected_rows(frame) == ["block/slow"]
    assert rows(frame) == TREE_ORDER
    assert "sel=block%2Fslow" in frame.evaluate("location.hash")
    sel = frame.inner_text("[data-testid=timeline-selection]")
    assert "block/slow" in sel and "Gradient" in sel and "Forward" in sel
    # Selecting in the table works too, and the URL reproduces the selection.
    frame.click("[role=row][data-path='dense'] .lp-cell:nth-child(2)")
    frame.wait_for_function("() => location.hash.includes('sel=dense')")
    assert selected_rows(frame) == ["dense"]
    page.page.goto("about:blank")
    page.page.goto(tb.url + "/data/plugin_entry.html?name=layerprof#run=train&sel=dense")
    again = page.page.main_frame
    again.wait_for_selector("[role=row].lp-selected[data-path='dense']")
    page.screenshot("layer-profile-timeline.png")


def test_timeline_in_tensorboard_tab_click_selects(tb, page):
    frame = page.open_tab(tb.url)
    assert rows(frame) == TREE_ORDER
    timeline_drawn(frame, spans=10)
    click_span(page, frame, served_spans(tb, "train"), "dense")
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'dense'")


def test_trace_links_point_at_the_profile_plugin(tb, page):
    frame = page.open_tab(tb.url)
    rows(frame)
    expected_run = "train/2026_01_01_00_00_50_steps230-231"  # step 230: session name % 60
    links = [frame.query_selector("[data-testid=trace-link-window]"), frame.query_selector("[data-testid=trace-link-timeline]")]
    links += frame.query_selector_all("[data-testid=trace-link]")
    assert len(links) == 2 + len(TREE_ORDER)
    for a in links:
        href = a.get_attribute("href")
        assert a.get_attribute("target") == "_top"
        url = urlsplit(href)
        assert f"{url.scheme}://{url.netloc}{url.path}" == tb.url + "/"
        assert url.fragment == "profile"
        assert parse_qs(url.query) == {"run": [expected_run], "tag": ["trace_viewer@"], "host": ["worker-0"]}


def test_older_report_without_timeline_says_so(tb, page):
    frame = page.open_iframe(tb.url, "#run=legacy")
    assert rows(frame) == TREE_ORDER
    note = frame.wait_for_selector("[data-testid=timeline-missing]")
    assert "No timeline in this report" in note.inner_text()
    assert frame.query_selector("[data-testid=trace-link-window]") is None  # no profile_dir: no link
    assert frame.query_selector("[data-testid=trace-link]") is None


def test_host_picker_switches_host(browser, tmp_path):
    # Two hosts wrote step 10 of one run, each through its own writer (two worker
    # processes). Every (step, host) is its own tag, so TensorBoard's default data path
    # (the fast data server) keeps both.
    a, b = synthetic_window(10), synthetic_window(10, scale=3.0)
    b.host = "worker-1"
    write_run(str(tmp_path), "multihost", [a])
    write_run(str(tmp_path), "multihost", [b])
    write_run(str(tmp_path), "single", [synthetic_window(30)])
    p = Page(browser)
    with tensorboard(str(tmp_path)) as proc:
        try:
            proc.wait_for(f"{BASE}/window?run=multihost", lambda j: len(j["hosts"]) == 2)
            frame = p.open_iframe(proc.url, "#run=multihost")
            rows(frame)
            picker = frame.wait_for_selector("[data-testid=host-picker]")
            opts = frame.eval_on_selector_all("[data-testid=host-picker] option", "os => os.map(o => o.value)")
            assert opts == ["worker-0", "worker-1"]
            assert picker.evaluate("s => s.value") == "worker-1"  # the last write by default
            assert "host worker-1" in frame.inner_text("[data-testid=window-facts]")
            frame.select_option("[data-testid=host-picker]", "worker-0")
            frame.wait_for_function(
                "() => document.querySelector('[data-testid=window-facts]')?.textContent.includes('host worker-0')"
            )
            assert "host=worker-0" in frame.evaluate("location.hash")
            href = frame.get_attribute("[data-testid=trace-link-window]", "href")
            assert parse_qs(urlsplit(href).query)["host"] == ["worker-0"]
            # A run with one host per step has no picker.
            frame.select_option("[data-testid=run-picker]", "single")
            frame.wait_for_function(
                "() => document.querySelector('[data-testid=window-facts]')?.textContent.includes('steps 30')"
            )
            assert frame.query_selector("[data-testid=host-picker]") is None
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


def test_thousands_of_spans_stay_responsive(browser, tmp_path):
    w = synthetic_window(7)
    spans = []
    for i in range(2500):  # 5000 spans (the report's cap): every layer twice, phase by phase
        path = TREE_ORDER[i % len(TREE_ORDER)]
        spans.append({"path": path, "phase": "forward", "start_us": i * 2.0, "end_us": i * 2.0 + 1.5})
        spans.append({"path": path, "phase": "backward", "start_us": 6000 + i * 2.0, "end_us": 6000 + i * 2.0 + 1.5})
    # One wide span alone at the end, to click (the others are 0.1 px apart at full zoom).
    spans.append({"path": "block/fast", "phase": "backward", "start_us": 11000.0, "end_us": 11900.0})
    spans = spans[-5000:]
    w.timeline = {"step": 8, "step_time_us": 12000.0, "spans": spans}
    write_run(str(tmp_path), "big", [w])
    p = Page(browser)
    with tensorboard(str(tmp_path)) as proc:
        try:
            proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 1)
            frame = p.open_iframe(proc.url, "#run=big")
            rows(frame)
            assert timeline_drawn(frame) == 5000
            # Selecting a layer redraws all spans; it must stay quick.
            # Selecting a layer redraws every span (its spans turn red); it must stay quick.
            ms = frame.evaluate(
                """async () => { const el = document.querySelector('[data-testid=timeline-chart]');
                     const before = Number(el.dataset.rendered); const t0 = performance.now();
                     document.querySelector("[role=row][data-path='dense'] .lp-cell:nth-child(2)").click();
                     while (Number(el.dataset.rendered) === before || el.dataset.finished !== el.dataset.rendered)
                       await new Promise(r => setTimeout(r, 5));
                     return performance.now() - t0; }"""
            )
            assert selected_rows(frame) == ["dense"]
            assert ms < 2000, ms
            click_span(p, frame, spans, "block/fast", "backward", last=True)
            frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'block/fast'")
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


@pytest.mark.slow
def test_real_training_timeline_and_trace_viewer(browser, trained_logdir, tmp_path):  # noqa: F811
    logdir = str(tmp_path / "logs")
    shutil.copytree(trained_logdir, logdir)
    sessions = glob.glob(os.path.join(logdir, "train", "plugins", "profile", "*"))
    assert len(sessions) == 1, sessions
    session = os.path.basename(sessions[0])
    # A decoy capture that sorts first: XProf would select it if the link's run were ignored.
    shutil.copytree(sessions[0], os.path.join(logdir, "train", "plugins", "profile", "9999_99_99_decoy"))
    host = os.path.basename(glob.glob(os.path.join(sessions[0], "*.xplane.pb"))[0])[: -len(".xplane.pb")]
    p = Page(browser)
    with tensorboard(logdir) as proc:
        try:
            proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 1)
            _, win = proc.get_json(f"{BASE}/window?run=train")
            timeline = win["window"]["timeline"]
            model_layers = {"dense_in", "slow", "fast", "sigsin", "sigsin_cg", "head"}
            assert {s["path"] for s in timeline["spans"]} >= model_layers
            assert {s["phase"] for s in timeline["spans"]} == {"forward", "backward"}

            frame = p.open_tab(proc.url)
            assert "slow" in rows(frame)
            assert timeline_drawn(frame) == len(timeline["spans"])
            click_span(p, frame, timeline["spans"], "slow", "backward")
            frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'slow'")

            href = frame.get_attribute("[data-testid=trace-link-window]", "href")
            q = parse_qs(urlsplit(href).query)
            assert q == {"run": [f"train/{session}"], "tag": ["trace_viewer@"], "host": [host]}
            # The profile plugin's own data route answers for that run, tool and host.
            status, body = proc.get(f"/data/plugin/profile/data?run=train/{quote(session)}&tag=trace_viewer%40&host={host}")
            assert status == 200 and len(body) > 100
            p.screenshot("layer-profile-real-timeline.png")

            # Follow the link as a user would: TensorBoard's Profile tab opens the trace viewer
            # of that session and host (in the top window, not inside our iframe).
            frame.click("[data-testid=trace-link-window]")
            p.page.wait_for_url("**#profile", timeout=30000)
            assert urlsplit(p.page.url).query == urlsplit(href).query
            tv = None
            for _ in range(120):
                tv = next((f for f in p.page.frames if "trace_viewer_index.html" in f.url), None)
                if tv:
                    break
                p.page.wait_for_timeout(500)
            assert tv is not None, [f.url for f in p.page.frames]
            data_url = parse_qs(urlsplit(tv.url).query)["trace_data_url"][0]
            dq = parse_qs(urlsplit(data_url).query)
            assert dq["run"] == [f"train/{session}"] and dq["tag"] == ["trace_viewer@"] and dq["host"] == [host]
            xprof = tv.parent_frame  # XProf's own page, in TensorBoard's Profile tab
            assert "/data/plugin/profile/" in xprof.url
            xprof.wait_for_function(
                "s => document.body.innerText.includes(s) && document.body.innerText.includes('Trace Viewer')",
                arg=f"train/{session}",
                timeout=30000,
            )
            tv.wait_for_selector("tf-trace-viewer", state="attached", timeout=30000)
            p.page.wait_for_timeout(1500)
            p.screenshot("profile-trace-viewer-from-link.png")
            # XProf's own page logs errors offline (its chart loader from gstatic is blocked by
            # TensorBoard's CSP; a hosts-parsing TypeError in its bundle): not ours.
            p.errors[:] = [e for e in p.errors if "/data/plugin/profile/" not in e and "gstatic" not in e
                           and "XProf Error" not in e and "ERR_NAME_NOT_RESOLVED" not in e]
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


# -- compare mode, workers, GPU/XLA and tf.distribute fields ---------------------------------


def vectorized_window(step):
    """The `loop` model after the fix: block/slow replaced by block/vec (added), faster."""
    w = synthetic_window(step)
    w.layers = [x for x in w.layers if x.path != "block/slow"]
    w.layers.insert(1, LayerStats(
        path="block/vec", class_name="Vectorized", custom=True, parent="block",
        forward_us=60.0, backward_us=90.0, self_forward_us=60.0, self_backward_us=90.0,
        forward_alloc_bytes=4096, backward_alloc_bytes=8192, peak_live_bytes=4096,
        calls=1, ops_per_call=2))
    w.layers[0].forward_us, w.layers[0].backward_us = 260.0, 390.0
    w.step_time_us, w.op_time_us = 3000.0, 2700.0
    return w


def gpu_window(step):
    """A GPU/XLA window under MirroredStrategy: device clock, replicas, warnings, collective
    time and a category this frontend does not know yet."""
    w = synthetic_window(step)
    w.clock, w.mode = "device", "xla"
    w.device_op_time_us, w.host_op_time_us = 6100.0, 1300.0
    w.xla_split_us = 420.0
    w.memory_allocators = ["GPU_0_bfc"]
    w.warnings = ["XLA fusions spanning several layers were split by share (420 µs per step)",
                  "<b>not bold</b> memory unavailable"]
    w.other["collective_us"] = 310.0
    w.other["future_thing_us"] = 55.0
    for layer in w.layers:
        layer.forward_device_us, layer.backward_device_us = 0.8 * layer.forward_us, 0.8 * layer.backward_us
        layer.forward_host_us, layer.backward_host_us = 0.2 * layer.forward_us, 0.2 * layer.backward_us
    slow = next(x for x in w.layers if x.path == "block/slow")
    slow.replicas = [{"replica": 0, "self_forward_us": 700.0, "self_backward_us": 1500.0},
                     {"replica": 1, "self_forward_us": 800.0, "self_backward_us": 1600.0}]
    return w


@pytest.fixture(scope="module")
def tb2(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("browser_compare"))
    write_run(d, "loop", [synthetic_window(10), synthetic_window(30, scale=1.5)])
    write_run(d, "vectorized", [vectorized_window(10), vectorized_window(30)])
    write_run(d, XSS_RUN, [synthetic_window(10)])
    write_run(d, "gpu", [gpu_window(10)])
    # Two workers (two writers, as two processes would), worker-1 slower in block/slow.
    for host, extra in (("worker-0", 0.0), ("worker-1", 2000.0)):
        w = synthetic_window(20)
        w.host = host
        slow = next(x for x in w.layers if x.path == "block/slow")
        slow.forward_us += extra
        slow.self_forward_us += extra
        w.layers[0].forward_us += extra
        w.step_time_us += extra
        w.op_time_us += extra
        write_run(d, "workers", [w])
    with tensorboard(d) as proc:  # the default data path (fast data server)
        proc.wait_for(f"{BASE}/runs", lambda j: {r["run"]: r["windows"] for r in j["runs"]} == {
            "loop": 2, "vectorized": 2, XSS_RUN: 1, "gpu": 1, "workers": 2})
        yield proc


def compare_rows(frame):
    frame.wait_for_selector("[data-testid=compare-table] [role=row][data-path]", timeout=30000)
    return frame.eval_on_selector_all(
        "[data-testid=compare-table] [role=row][data-path]",
        "els => els.map(e => [e.dataset.path, e.dataset.status])",
    )


def test_compare_mode_two_runs(tb2, page):
    frame = page.open_iframe(tb2.url, "#view=compare&base=loop&run=vectorized")
    got = compare_rows(frame)
    # Latest windows (base at scale 1.5), largest |delta| first: block -7.00 ms, then the
    # removed block/slow -6.90 ms; block/vec is added.
    _, served = tb2.get_json(f"{BASE}/diff?base=loop&run=vectorized")
    got = [list(x) for x in got]
    assert [p for p, _ in got] == [l["path"] for l in served["layers"]]
    assert got[:2] == [["block", "both"], ["block/slow", "removed"]]
    assert ["block/vec", "added"] in got
    facts = frame.inner_text("[data-testid=compare-facts]")
    assert "loop" in facts and "vectorized" in facts and "step 30" in facts
    step_row = frame.inner_text("[data-testid=cmp-step-time]")
    assert "12.2 ms" in step_row.replace("12.21", "12.2") and "3.00 ms" in step_row
    assert "faster" in frame.inner_text("[data-testid=speedup]")
    assert "1 added" in frame.inner_text("[data-testid=compare-counts]")
    removed = frame.eval_on_selector(
        "[data-testid=compare-table] [role=row][data-path='block/slow']",
        "r => Array.from(r.children).map(c => c.textContent)",
    )
    assert "removed" in removed and "-6.90 ms" in removed  # (1500+3100) x 1.5
    chart_drawn(frame, "compare-chart")
    # Filters.
    frame.select_option("[data-testid=compare-status]", "added")
    frame.wait_for_function("() => document.querySelectorAll('[data-testid=compare-table] [role=row][data-path]').length === 1")
    frame.select_option("[data-testid=compare-status]", "all")
    frame.fill("[data-testid=compare-filter]", "dense")
    frame.wait_for_function("() => document.querySelectorAll('[data-testid=compare-table] [role=row][data-path]').length === 2")
    # Pick the base window: selection kept in the URL, and a reload reproduces it.
    frame.select_option("[data-testid=base-window-picker]", "10")
    frame.wait_for_function("() => document.querySelector('[data-testid=compare-facts]')?.textContent.includes('step 10')")
    url = frame.evaluate("location.href")
    assert "view=compare" in url and "base=loop" in url and "bstep=10" in url and "run=vectorized" in url
    page.screenshot("layer-profile-compare.png")
    page.page.goto("about:blank")
    page.page.goto(url)
    again = page.page.main_frame
    again.wait_for_function("() => document.querySelector('[data-testid=compare-facts]')?.textContent.includes('loop step 10')"
                            " || document.querySelector('[data-testid=compare-facts]')?.innerText.includes('loop step 10')")
    assert [p for p, _ in compare_rows(again)][0] == "block/slow"
    # Back to the layers view of the run.
    again.click("[data-testid=view-layers]")
    wait_rows(again, ["dense", "block", "block/fast", "block/vec", "dense_1"])
    assert "view=compare" not in again.evaluate("location.hash")


def test_compare_mode_through_tensorboard_with_html_run_name(tb2, page):
    frame = page.open_tab(tb2.url)
    frame.wait_for_selector("[data-testid=view-compare]")
    frame.click("[data-testid=view-compare]")
    frame.select_option("[data-testid=base-run-picker]", XSS_RUN)
    frame.select_option("[data-testid=run-picker]", "vectorized")
    compare_rows(frame)
    frame.wait_for_function(
        "x => document.querySelector('[data-testid=compare-facts]')?.textContent.includes(x)", arg=XSS_RUN)
    assert frame.evaluate("document.querySelectorAll('img').length") == 0
    settle(page.page)  # an injected onerror would have fired by now


def test_workers_straggler_on_the_default_data_path(tb2, page):
    frame = page.open_iframe(tb2.url, "#run=workers")
    rows(frame)
    opts = frame.eval_on_selector_all("[data-testid=host-picker] option", "os => os.map(o => o.value)")
    assert opts == ["worker-0", "worker-1"]
    card = frame.wait_for_selector("[data-testid=workers] [data-testid=straggler] b")
    text = frame.inner_text("[data-testid=straggler]")
    assert "worker-1 is the straggler" in text and "block/slow" in text and "+2.00 ms" in text
    bars = frame.eval_on_selector_all("[data-testid=worker-steps] [data-host]", "els => els.map(e => e.dataset.host)")
    assert bars == ["worker-0", "worker-1"]
    assert "lp-slowest" in frame.get_attribute("[data-testid=worker-steps] [data-host=worker-1]", "class")
    layers = frame.eval_on_selector_all("[data-testid=straggler-layers] tr[data-path]", "els => els.map(e => e.dataset.path)")
    assert layers[:2] == ["block", "block/slow"] or layers[:2] == ["block/slow", "block"]
    # The straggler layer opens its row and detail.
    frame.click("[data-testid=straggler-layer]")
    frame.wait_for_selector("[data-testid=layer-detail]")
    assert "block/slow" in frame.inner_text("[data-testid=layer-detail]")
    assert selected_rows(frame) == ["block/slow"]
    assert card is not None
    page.screenshot("layer-profile-workers.png")


def test_gpu_window_device_columns_replicas_warnings(tb2, page):
    frame = page.open_iframe(tb2.url, "#run=gpu")
    rows(frame)
    keys = frame.eval_on_selector_all("[data-testid=layer-table] [role=columnheader]", "els => els.map(e => e.dataset.key)")
    assert {"forward_device_us", "backward_device_us", "forward_host_us", "backward_host_us"} <= set(keys)
    facts = frame.inner_text("[data-testid=window-facts]")
    assert "clock device" in facts and "XLA fusions split" in facts and "GPU_0_bfc" in facts
    warnings = frame.eval_on_selector_all("[data-testid=window-warning]", "els => els.map(e => e.textContent)")
    assert warnings[1] == "<b>not bold</b> memory unavailable"  # text, not markup
    assert frame.evaluate("document.querySelectorAll('[data-testid=window-facts] b').length") == 0
    # Breakdown: the collective category and a category this tab does not know.
    chart_drawn(frame, "breakdown-chart")
    labels = frame.evaluate(
        "() => document.querySelector('[data-testid=breakdown-chart]').lpChart.getOption().yAxis[0].data")
    assert "Collective (cross-replica)" in labels and "Future thing" in labels
    # Per-replica split of the selected layer.
    frame.click("[data-testid=layer-table] [role=row][data-path='block/slow']")
    frame.wait_for_selector("[data-testid=replica-table]")
    reps = frame.eval_on_selector_all("[data-testid=replica-table] tr[data-replica]", "els => els.map(e => e.innerText)")
    assert len(reps) == 2 and "2.20 ms" in reps[0] and "2.40 ms" in reps[1]
    assert "Device (kernels)" in frame.inner_text("[data-testid=layer-detail]")
    # A CPU window has no device columns.
    frame.select_option("[data-testid=run-picker]", "loop")
    frame.wait_for_function("() => document.querySelector('[data-testid=window-facts]')?.textContent.includes('steps 30')")
    keys = frame.eval_on_selector_all("[data-testid=layer-table] [role=columnheader]", "els => els.map(e => e.dataset.key)")
    assert "forward_device_us" not in keys
    page.screenshot("layer-profile-gpu.png")


# -- the seed's hints as the backend writes them, op-level data, a run at scale ------------------


def seed_like_window(step):
    """The synthetic window with the seed loop layer's real-looking data: top ops, op types and
    hints whose messages carry backticks and raw figures, evidence with arrays and mappings."""
    w = synthetic_window(step)
    slow = next(x for x in w.layers if x.path == "block/slow")
    slow.op_types = {"StridedSlice": 256, "Mul": 64, "AddN": 1, "Identity": 3}
    slow.top_ops = [
        {"name": "gradient_tape/block/slow/AddN", "type": "AddN", "phase": "backward", "us": 2100.0},
        {"name": "block/slow/strided_slice_17", "type": "StridedSlice", "phase": "forward", "us": 300.0},
        {"name": "gradient_tape/block/slow/mul_3/Mul", "type": "Mul", "phase": "backward", "us": 250.0},
        {"name": "block/slow/mul_3", "type": "Mul", "phase": "forward", "us": 120.0},
    ]
    slow.hints = [
        Hint(code="python-loop",
             message="`call` builds 385 ops per call, mostly repeats (StridedSlice ×256, Mul ×64): a Python "
                     "loop is unrolled into the graph at trace time.",
             evidence={"ops_per_call": 385, "repeated_op_types": {"StridedSlice": 256, "Mul": 64},
                       "output_elements": 64, "forward_op_events_per_step": 385.0}),
        Hint(code="memory-churn",
             message="allocates 67077 KiB per step where its outputs need 512 KiB (131×): work on whole tensors.",
             evidence={"alloc_bytes_per_step": 68686848, "output_bytes": 262144, "ratio": 131.0}),
        Hint(code="expensive-gradient",
             message="the gradient costs 7.4× the forward pass (14648 µs vs 1968 µs per step, 50% of op time).",
             evidence={"backward_forward_ratio": 7.44, "forward_us": 1968.0, "backward_us": 14648.0,
                       "share_of_op_time": 0.5,
                       "top_backward_ops": ["gradient_tape/block/slow/AddN (AddN)", "gradient_tape/" + "x" * 300 + " (Mul)"]},
             severity="info"),
    ]
    return w


SCALE_LOOPS = 590


def scale_window(step):
    """A model of 590 identical custom loop layers (each 20 µs, one python-loop hint) and a dense head."""
    w = synthetic_window(step)
    hint = Hint(code="python-loop", message="`call` builds 40 ops per call: a Python loop.", evidence={"ops_per_call": 40})
    loops = [
        LayerStats(path=f"loops/loop_{i:03d}", class_name="SlowLoop", custom=True, parent=None,
                   forward_us=8.0 + i % 3, backward_us=12.0, self_forward_us=8.0 + i % 3, self_backward_us=12.0,
                   forward_alloc_bytes=0, backward_alloc_bytes=0, peak_live_bytes=0, param_bytes=0,
                   calls=1, ops_per_call=40, hints=[hint])
        for i in range(SCALE_LOOPS)
    ]
    w.layers = [x for x in w.layers if x.path in ("dense", "dense_1")] + loops
    w.step_time_us = 20000.0
    return w


LONG_NAME = "block/" + "n" * 5000


def long_name_layer():
    return LayerStats(
        path=LONG_NAME, class_name="Dense", custom=False, parent="block",
        forward_us=5.0, backward_us=5.0, self_forward_us=5.0, self_backward_us=5.0,
        forward_alloc_bytes=0, backward_alloc_bytes=0, peak_live_bytes=0, param_bytes=0, calls=1, ops_per_call=4,
        hints=[Hint(code="retracing", message="traced 9 times.", evidence={"trace_count": 9}, severity="info")],
    )


@pytest.fixture(scope="module")
def tb3(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("browser_logs3"))
    write_run(d, "seed", [seed_like_window(10), seed_like_window(30)])
    long = seed_like_window(10)
    long.layers.append(long_name_layer())
    write_run(d, "long", [long])
    fixed = seed_like_window(30)
    fixed_slow = next(x for x in fixed.layers if x.path == "block/slow")
    fixed_slow.class_name, fixed_slow.self_backward_us, fixed_slow.backward_us, fixed_slow.hints = "FastLoop", 300.0, 300.0, []
    write_run(d, "fixed", [fixed])
    write_run(d, "scale", [scale_window(10)])
    with tensorboard(d) as proc:
        proc.wait_for(
            f"{BASE}/runs",
            lambda j: {r["run"]: r["windows"] for r in j["runs"]}.get("seed") == 2
            and {r["run"]: r["windows"] for r in j["runs"]}.get("scale") == 1
            and {r["run"]: r["windows"] for r in j["runs"]}.get("long") == 1
            and {r["run"]: r["windows"] for r in j["runs"]}.get("fixed") == 1,
        )
        yield proc


def test_diagnosis_text_formatted_evidence_table_no_overflow(tb3, browser):
    p = Page(browser, width=1024)
    try:
        frame = p.open_iframe(tb3.url, "#run=seed")
        rows(frame)
        diag = frame.wait_for_selector("[data-testid=diagnoses]")
        text = diag.inner_text()
        assert "`" not in text and "{" not in text and "[" not in text
        assert "65.5 MiB" in text and "67077" not in text
        assert "14.6 ms vs 1.97 ms" in text
        card = "[data-testid=diagnoses] .lp-diag"
        assert frame.inner_text(f"{card}[data-code=python-loop] .lp-diag-message code") == "call"
        ev = lambda code, key: frame.inner_text(f"{card}[data-code={code}] [data-key={key}] td")  # noqa: E731
        assert ev("python-loop", "repeated_op_types") == "StridedSlice ×256, Mul ×64"
        assert ev("memory-churn", "alloc_bytes_per_step") == "65.5 MiB"
        assert ev("expensive-gradient", "share_of_op_time") == "50.0%"
        assert ev("expensive-gradient", "backward_us") == "14.6 ms"
        # Nothing sticks out of its card, and the page does not scroll sideways.
        over = frame.evaluate("""() => Array.from(document.querySelectorAll('.lp-diag')).filter(d =>
            d.scrollWidth > d.clientWidth + 1 || d.getBoundingClientRect().right > d.closest('.lp-card').getBoundingClientRect().right + 1).length""")
        assert over == 0
        assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        p.screenshot("layer-profile-diagnoses-1024.png")
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def test_op_drilldown_lists_the_loop_layers_ops_by_phase(tb3, page):
    frame = page.open_iframe(tb3.url, "#run=seed&sel=block%2Fslow")
    rows(frame)
    table = frame.wait_for_selector("[data-testid=layer-detail] [data-testid=op-table]")
    grad = "[data-testid=op-table] tbody[data-phase=backward]"
    first = frame.eval_on_selector(f"{grad} tr[data-op]", "r => Array.from(r.cells).map(c => c.innerText)")
    # AddN, the loop's gradient hot spot: 2.10 ms of its 3.10 ms own gradient time.
    assert first == ["gradient_tape/block/slow/AddN AddN", "×1", "2.10 ms", "67.7%"]
    assert frame.get_attribute(f"{grad} tr[data-op]", "data-op") == "gradient_tape/block/slow/AddN"
    assert "Gradient" in frame.inner_text(f"{grad} .lp-op-phase")
    fwd = frame.eval_on_selector_all(
        "[data-testid=op-table] tbody[data-phase=forward] tr[data-op]", "rs => rs.map(r => r.dataset.type)"
    )
    assert fwd == ["StridedSlice", "Mul"]
    assert "×256" in table.inner_text()
    types = frame.eval_on_selector_all("[data-testid=op-type-table] tr[data-type]", "rs => rs.map(r => r.dataset.type)")
    assert types[:2] == ["StridedSlice", "Mul"]
    assert frame.get_attribute("[data-testid=trace-link-ops]", "href").startswith(tb3.url)
    page.screenshot("layer-profile-ops.png")
    # Another layer without op data says so.
    frame.click("[role=row][data-path='dense'] .lp-cell:nth-child(2)")
    frame.wait_for_selector("[data-testid=layer-detail] [data-testid=ops-missing]")


def test_grouping_at_scale_diagnoses_and_table(tb3, page):
    frame = page.open_iframe(tb3.url, "#run=scale")
    rows(frame)
    # 590 identical diagnoses are one card with the count and the share of the step.
    groups = frame.query_selector_all("[data-testid=diagnoses] [data-testid=diagnosis-group]")
    assert len(groups) == 1
    total = sum(8.0 + i % 3 + 12.0 for i in range(SCALE_LOOPS))
    title = frame.inner_text("[data-testid=diagnosis-group-title]")
    assert title == f"SlowLoop × {SCALE_LOOPS} = {total / 20000 * 100:.0f}% of step", title
    assert len(frame.query_selector_all("[data-testid=diagnoses] .lp-diag")) == 1
    frame.click("[data-testid=diagnosis-group] .lp-group-toggle")
    listed = frame.query_selector_all("[data-testid=diagnosis-group-layers] button[data-path]")
    assert len(listed) == 50
    frame.click("[data-testid=diagnosis-group-layers] button[data-path='loops/loop_005']")
    frame.wait_for_function("() => location.hash.includes('sel=loops%2Floop_005')")
    frame.wait_for_selector("[data-testid=layer-detail]")
    # The table grouped by class: one header per class, opened by click or keyboard.
    frame.select_option("[data-testid=group-by]", "class")
    frame.wait_for_selector("[role=row][data-group=SlowLoop]")
    header = frame.inner_text("[role=row][data-group=SlowLoop] [data-testid=group-title]")
    assert header.startswith(f"SlowLoop × {SCALE_LOOPS} = ")
    # The selected layer's group is open (its row is shown), the Dense group closed.
    assert frame.get_attribute("[role=row][data-group=SlowLoop]", "aria-expanded") == "true"
    frame.wait_for_selector("[role=row].lp-selected[data-path='loops/loop_005']")
    frame.click("[role=row][data-group=SlowLoop]")  # closes it: 590 rows fewer
    frame.wait_for_selector("[role=row][data-group=SlowLoop][aria-expanded=false]")
    assert frame.get_attribute("[role=row][data-group=Dense]", "aria-expanded") == "false"
    frame.click("[role=row][data-group=Dense]")
    frame.wait_for_selector("[role=row][data-in-group=Dense][data-path=dense]")
    assert "open=Dense" in frame.evaluate("location.hash")
    frame.select_option("[data-testid=group-by]", "diagnosis")
    frame.wait_for_selector("[role=row][data-group='python-loop'][aria-expanded=true]")
    frame.click("[role=row][data-group='python-loop']")
    frame.wait_for_selector("[role=row][data-group='no diagnosis']")
    page.screenshot("layer-profile-grouped.png")


def no_sideways_scroll(frame):
    return frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def table_fits(frame):
    return frame.evaluate("""() => { const t = document.querySelector('[data-testid=layer-table]');
        return t.scrollWidth <= t.clientWidth + 1; }""")


def test_fits_1280_columns_chooser_long_names(tb3, browser):
    p = Page(browser, width=1280)
    try:
        frame = p.open_tab(tb3.url)
        frame.select_option("[data-testid=run-picker]", "long")
        frame.wait_for_selector(f"[role=row][data-path='{LONG_NAME}']")
        keys = frame.eval_on_selector_all("[data-testid=layer-table] [role=columnheader]", "els => els.map(e => e.dataset.key)")
        assert keys[-1] == "hints" and "custom" in keys
        assert table_fits(frame) and no_sideways_scroll(frame)
        # The long name: truncated in its cell, whole on hover; the page is not stretched.
        cell = f"[role=row][data-path='{LONG_NAME}'] .lp-name"
        assert frame.get_attribute(cell, "title") == LONG_NAME
        assert frame.eval_on_selector(cell, "c => c.getBoundingClientRect().width") < 800
        # Selected: the detail beside the table, and still every column in view.
        frame.click(cell)
        frame.wait_for_selector("[data-testid=layer-detail]")
        assert frame.get_attribute("[data-testid=detail-path]", "title") == LONG_NAME
        assert len(frame.inner_text("[data-testid=detail-path]")) <= 120
        assert table_fits(frame) and no_sideways_scroll(frame)
        diag = frame.inner_text("[data-testid=diagnoses]")
        assert LONG_NAME not in diag
        p.screenshot("layer-profile-1280-light.png")
        # Columns: the user adds Params and removes Class; the URL keeps the choice.
        frame.click("[data-testid=column-chooser] summary")
        frame.check("[data-testid=column-chooser] input[data-key=param_bytes]")
        frame.uncheck("[data-testid=column-chooser] input[data-key=class_name]")
        frame.wait_for_selector("[role=columnheader][data-key=param_bytes]")
        assert frame.query_selector("[role=columnheader][data-key=class_name]") is None
        assert "cols=" in frame.evaluate("location.hash")
        assert no_sideways_scroll(frame)
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def test_dark_mode_1280(tb3, browser):
    p = Page(browser, width=1280, color_scheme="dark")
    try:
        frame = p.open_tab(tb3.url)
        frame.select_option("[data-testid=run-picker]", "seed")
        rows(frame)
        frame.click("[role=row][data-path='block/slow'] .lp-cell:nth-child(2)")
        frame.wait_for_selector("[data-testid=op-table]")
        bg = frame.evaluate("getComputedStyle(document.querySelector('.lp-card')).backgroundColor")
        assert bg == "rgb(58, 58, 58)", bg
        assert no_sideways_scroll(frame)
        chart_drawn(frame, "hot-chart")
        p.screenshot("layer-profile-1280-dark.png")
        # The whole tab, light and dark, as its iframe draws it (the TensorBoard page shows a viewport).
        for scheme in ("dark", "light"):
            q = Page(browser, width=1280, color_scheme=scheme)
            try:
                f = q.open_iframe(tb3.url, "#run=seed&sel=block%2Fslow")
                f.wait_for_selector("[data-testid=op-table]")
                chart_drawn(f, "hot-chart")
                chart_drawn(f, "timeline-chart")
                q.screenshot(f"layer-profile-1280-{scheme}-full.png")
            finally:
                q.close()
            assert not q.errors, q.errors
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def tab_look(frame):
    """What the tab looks like now: its card background and text colours, the theme of its
    hot-layers chart (ECharts' own model) and the colour that chart gives gradient bars."""
    return frame.evaluate(
        """() => { const el = document.querySelector('[data-testid=hot-chart]'); const c = el.lpChart;
                   return {card: getComputedStyle(document.querySelector('.lp-card')).backgroundColor,
                           text: getComputedStyle(document.body).color,
                           page: getComputedStyle(document.body).backgroundColor,
                           chart_theme: el.dataset.theme, chart_dark: !!c.getModel().getTheme().get('darkMode'),
                           gradient: c.getOption().series[1].itemStyle.color}; }"""
    )


LIGHT_LOOK = {"card": "rgb(255, 255, 255)", "text": "rgb(33, 33, 33)", "page": "rgb(245, 245, 245)",
              "chart_theme": "default", "chart_dark": False, "gradient": "#425066"}
DARK_LOOK = {"card": "rgb(58, 58, 58)", "text": "rgb(224, 224, 224)", "page": "rgb(48, 48, 48)",
             "chart_theme": "dark", "chart_dark": True, "gradient": "#8a9ab5"}


def wait_look(frame, look):
    frame.wait_for_function(
        """want => { const el = document.querySelector('[data-testid=hot-chart]');
                     return el && el.lpChart && el.dataset.theme === want.chart_theme &&
                            getComputedStyle(document.querySelector('.lp-card')).backgroundColor === want.card; }""",
        arg=look,
        timeout=10000,
    )
    assert tab_look(frame) == look


def set_tensorboard_theme(page, which):
    """TensorBoard's own setting: its header's theme menu, "Light" or "Dark"."""
    page.click("button[aria-label='Menu for changing light or dark theme']")
    page.click(f"button[title='Force {which} TensorBoard theme.']")


def test_dark_mode_follows_tensorboards_setting_live(tb, browser):
    p = Page(browser, width=1280, color_scheme="light")
    try:
        frame = p.open_tab(tb.url)
        rows(frame)
        chart_drawn(frame, "hot-chart")
        timeline_drawn(frame)
        wait_look(frame, LIGHT_LOOK)
        frame.evaluate("window.__notReloaded = true")
        # TensorBoard's settings -> Dark: its page's <body> gets `dark-mode`, the tab follows.
        set_tensorboard_theme(p.page, "dark")
        p.page.wait_for_selector("body.dark-mode")
        wait_look(frame, DARK_LOOK)
        assert frame.evaluate("document.documentElement.classList.contains('lp-dark')")
        # Every chart re-themed, the timeline's colours too (not frozen at load); no reload.
        for chart in ("hot-chart", "breakdown-chart", "timeline-chart"):
            frame.wait_for_function(f"() => document.querySelector('[data-testid={chart}]').dataset.theme === 'dark'")
        wait_finished(frame)
        assert frame.evaluate(
            "() => document.querySelector('[data-testid=timeline-chart]').lpChart.getModel().getTheme().get('darkMode')"
        )
        assert frame.evaluate("window.__notReloaded") is True
        p.screenshot("layer-profile-tensorboard-dark.png")
        # ...and back to Light.
        set_tensorboard_theme(p.page, "light")
        p.page.wait_for_selector("body:not(.dark-mode)")
        wait_look(frame, LIGHT_LOOK)
        frame.wait_for_function("() => document.querySelector('[data-testid=timeline-chart]').dataset.theme === 'default'")
        assert frame.evaluate("window.__notReloaded") is True
        rows(frame)  # the table still answers
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def test_dark_mode_tensorboard_light_beats_a_dark_system_and_alone_follows_the_system(tb, browser):
    p = Page(browser, width=1280, color_scheme="dark")
    try:
        # Inside TensorBoard, its setting decides: forced Light on a dark system is light.
        frame = p.open_tab(tb.url)
        rows(frame)
        chart_drawn(frame, "hot-chart")
        p.page.wait_for_selector("body.dark-mode")  # TensorBoard's default follows the system
        wait_look(frame, DARK_LOOK)
        set_tensorboard_theme(p.page, "light")
        wait_look(frame, LIGHT_LOOK)
        # The iframe URL opened alone: no TensorBoard page, the system's preference, live.
        frame = p.open_iframe(tb.url, "#run=train")
        rows(frame)
        chart_drawn(frame, "hot-chart")
        wait_look(frame, DARK_LOOK)
        p.page.emulate_media(color_scheme="light")
        wait_look(frame, LIGHT_LOOK)
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def test_compare_table_fits_1280(tb2, browser):
    p = Page(browser, width=1280)
    try:
        frame = p.open_iframe(tb2.url, "#view=compare&base=loop&run=vectorized")
        compare_rows(frame)
        fits = frame.evaluate("""() => { const t = document.querySelector('[data-testid=compare-table]');
            return [t.scrollWidth, t.clientWidth]; }""")
        assert fits[0] <= fits[1] + 1, fits
        assert no_sideways_scroll(frame)
        # No cell cut short: every figure is shown whole.
        cut = frame.evaluate("""() => Array.from(document.querySelectorAll('[data-testid=compare-table] [role=row][data-path] [role=cell]'))
            .slice(1).filter(c => c.scrollWidth > c.clientWidth || Array.from(c.children).some(k => k.getBoundingClientRect().right > c.getBoundingClientRect().right))
            .map(c => c.textContent)""")
        assert cut == [], cut
        p.screenshot("layer-profile-compare-1280.png")
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def focused_path(frame):
    return frame.evaluate("document.activeElement && (document.activeElement.dataset.path || document.activeElement.dataset.group)")


def test_keyboard_rows_and_groups(tb, page):
    frame = page.open_iframe(tb.url, "#run=train")
    assert rows(frame) == TREE_ORDER
    # One row in the tab order; Tab from the filter's row of controls reaches it.
    assert frame.eval_on_selector_all("[data-testid=layer-table] [role=row][tabindex='0']", "els => els.length") == 1
    frame.focus("[role=row][data-path=block]")
    page.page.keyboard.press("ArrowDown")
    assert focused_path(frame) == "block/slow"
    page.page.keyboard.press("Enter")
    frame.wait_for_function("() => location.hash.includes('sel=block%2Fslow')")
    assert selected_rows(frame) == ["block/slow"]
    page.page.keyboard.press("End")
    assert focused_path(frame) == "dense_1"
    page.page.keyboard.press("Home")
    assert focused_path(frame) == "block"
    page.page.keyboard.press("ArrowLeft")  # collapses block
    wait_rows(frame, ["block", "dense", "dense_1"])
    assert focused_path(frame) == "block"
    page.page.keyboard.press("ArrowRight")
    wait_rows(frame, TREE_ORDER)
    page.page.keyboard.press(" ")
    frame.wait_for_function("() => location.hash.includes('sel=block&') || location.hash.endsWith('sel=block')")
    # Groups: Enter opens and closes one; the arrows move through headers and members.
    frame.select_option("[data-testid=group-by]", "class")
    frame.wait_for_selector("[role=row][data-group=Dense]")
    frame.focus("[role=row][data-group=Dense]")
    page.page.keyboard.press("Enter")
    frame.wait_for_selector("[role=row][data-group=Dense][aria-expanded=true]")
    page.page.keyboard.press("ArrowDown")
    assert focused_path(frame) in ("dense", "dense_1")
    page.page.keyboard.press("Enter")
    frame.wait_for_function("() => /sel=dense/.test(location.hash)")
    # The timeline: focusable, the arrows select the next/previous span's layer (time order).
    frame.select_option("[data-testid=group-by]", "none")
    frame.focus("[data-testid=timeline-chart]")
    page.page.keyboard.press("ArrowLeft")  # from dense's first span (1950 µs) to block/fast's (1700 µs)
    frame.wait_for_function("() => location.hash.includes('sel=block%2Ffast')")
    page.page.keyboard.press("ArrowRight")
    frame.wait_for_function("() => /sel=dense(&|$)/.test(location.hash)")
    assert selected_rows(frame) == ["dense"]
    page.screenshot("layer-profile-keyboard.png")


def test_percentage_bases_explained_where_shown(tb, page):
    _, body = tb.get_json(f"{BASE}/window?run=train")
    step, op = body["figures"]["step_basis_us"], body["figures"]["op_time_us"]
    frame = page.open_iframe(tb.url, "#run=train")
    rows(frame)
    fmt = lambda us: f"{us / 1000:.1f} ms" if us >= 10000 else f"{us / 1000:.2f} ms"  # noqa: E731
    table = frame.inner_text("[data-testid=table-basis]")
    assert "% step divides by the step time" in table and fmt(step) in table and fmt(op) in table
    assert "op time" in frame.inner_text("[data-testid=breakdown-basis]")
    assert "share of the op time" in frame.inner_text("[data-testid=hot-basis]")


def test_compare_shows_class_change_status_and_own_colours(tb3, page):
    frame = page.open_iframe(tb3.url, "#view=compare&base=seed&run=fixed")
    frame.wait_for_selector("[data-testid=compare-table] [role=row][data-path]")
    row = "[data-testid=compare-table] [role=row][data-path='block/slow']"
    assert frame.inner_text(f"{row} [data-testid=class-change]") == "SlowLoop → FastLoop"
    status = frame.eval_on_selector_all(
        "[data-testid=compare-table] [role=row][data-path]",
        "rs => rs.map(r => [r.dataset.path, r.children[1].textContent])",
    )
    assert dict(status)["block/slow"] == "changed"
    assert all(st for _, st in status) and dict(status)["dense"] == "both"
    # Base and run are not drawn in the forward (orange) and gradient (slate) colours.
    chart_drawn(frame, "compare-chart")
    colors = frame.evaluate("""() => document.querySelector('[data-testid=compare-chart]').lpChart
        .getOption().series.map(s => s.itemStyle.color.toLowerCase())""")
    assert "#f57c00" not in colors and "#425066" not in colors and len(set(colors)) == 2
    assert "takes as long as the base's" in frame.inner_text("[data-testid=speedup]")
    page.screenshot("layer-profile-compare-class-change.png")


def write_raw_window(run_dir, step, payload: bytes):
    """A stored window written as-is (malformed on purpose), beside the good ones."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    from tb_layerprof.summary import create_metadata, tag_for_step

    metadata = create_metadata()
    metadata.plugin_data.content = b'{"version": 1}'
    with open(os.path.join(run_dir, "events.out.tfevents.2.localhost.2.raw"), "ab") as f:
        w = RecordWriter(f)
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[payload])
        value = summary_pb2.Summary.Value(tag=tag_for_step(step), metadata=metadata, tensor=tensor)
        ev = event_pb2.Event(wall_time=2.0e9, step=step, summary=summary_pb2.Summary(value=[value]))
        w.write(ev.SerializeToString())


def test_unreadable_latest_window_opens_the_latest_readable_and_names_the_bad_one(browser, tmp_path):
    d = str(tmp_path)
    run_dir = write_run(d, "train", [synthetic_window(5), synthetic_window(6)])
    raw = synthetic_window(7).to_json()
    raw["step"], raw["layers"][0]["self_forward_us"] = 7, "abc"
    write_raw_window(run_dir, 7, json.dumps(raw).encode())
    with tensorboard(d) as proc:
        p = Page(browser, width=1280)
        try:
            proc.wait_for(f"{BASE}/windows?run=train", lambda j: len(j.get("unreadable", [])) == 1)
            frame = p.open_iframe(proc.url, "#run=train")
            assert rows(frame) == TREE_ORDER
            assert "steps 6–7" in frame.inner_text("[data-testid=window-facts]")
            note = frame.wait_for_selector("[data-testid=unreadable]").inner_text()
            assert "step 7" in note and "self_forward_us" in note
            assert "NaN" not in frame.inner_text("body") and "abc–" not in frame.inner_text("body")
            labels = frame.eval_on_selector_all("[data-testid=window-picker] option", "os => os.map(o => o.textContent)")
            assert "step 7 (unreadable)" in labels and "step 6 (latest)" in labels
            assert frame.eval_on_selector("[data-testid=window-picker]", "s => s.value") == "6"
            assert frame.inner_text("[data-testid=window-count]") == "3 windows (1 unreadable)"
            p.screenshot("layer-profile-unreadable.png")
            # Picking the bad one says why, and offers the way back rather than a useless Retry.
            frame.select_option("[data-testid=window-picker]", "7")
            msg = frame.wait_for_selector("[data-testid=message-error]")
            assert "step 7 cannot be read" in msg.inner_text() and "self_forward_us" in msg.inner_text()
            assert frame.query_selector("[data-testid=message-error] button:has-text('Retry')") is None
            frame.click("[data-testid=message-action]")
            assert rows(frame) == TREE_ORDER
            p.errors[:] = [e for e in p.errors if "404" not in e]
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


def test_empty_state_snippet_with_import_and_no_empty_pickers(browser, tmp_path):
    with tensorboard(str(tmp_path)) as proc:
        p = Page(browser, width=1280)
        try:
            frame = p.open_iframe(proc.url)
            frame.wait_for_selector("[data-testid=message-empty]", timeout=15000)
            snippet = frame.inner_text("[data-testid=snippet]")
            assert snippet.startswith("from tb_layerprof import LayerProfiler")
            assert "LayerProfiler(log_dir=" in snippet
            assert frame.query_selector("[data-testid=run-picker]") is None
            assert frame.query_selector("[data-testid=window-picker]") is None
            p.screenshot("layer-profile-empty.png")
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


def test_tensorboard_reload_shows_a_new_window_and_keeps_the_selection(browser, tmp_path):
    d = str(tmp_path)
    write_run(d, "train", [synthetic_window(10)])
    with tensorboard(d) as proc:
        p = Page(browser, width=1280)
        try:
            proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 1)
            frame = p.open_tab(proc.url)
            assert rows(frame) == TREE_ORDER
            frame.click("[role=row][data-path='dense'] .lp-cell:nth-child(2)")
            frame.wait_for_selector("[data-testid=layer-detail]")
            assert "steps 10–11" in frame.inner_text("[data-testid=window-facts]")
            # A window written after the page loaded, by a second writer (as a later session).
            write_run(d, "train", [synthetic_window(40, scale=2.0)])
            proc.wait_for(f"{BASE}/runs", lambda j: j["runs"][0]["last_step"] == 40)
            assert "steps 10–11" in frame.inner_text("[data-testid=window-facts]")
            p.page.click("button.reload-button")
            frame.wait_for_function(
                "() => document.querySelector('[data-testid=window-facts]')?.textContent.includes('steps 40–41')", timeout=15000
            )
            assert "sel=dense" in frame.evaluate("location.hash")
            assert selected_rows(frame) == ["dense"]
            assert "dense" in frame.inner_text("[data-testid=layer-detail]")
            labels = frame.eval_on_selector_all("[data-testid=window-picker] option", "os => os.map(o => o.textContent)")
            assert labels[0] == "step 40 (latest)"
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


def test_workers_layer_view_defaults_to_straggler_and_trend_has_a_line_per_host(browser, tmp_path):
    d = str(tmp_path)
    for host, scale in (("worker-0", 3.0), ("worker-1", 1.0)):  # worker-0, first by name, is slow
        windows = [synthetic_window(s, scale=scale) for s in (10, 30)]
        for w in windows:
            w.host = host
        write_run(d, "multi", windows)
    with tensorboard(d) as proc:
        p = Page(browser, width=1280)
        try:
            proc.wait_for(f"{BASE}/window?run=multi", lambda j: len(j["hosts"]) == 2)
            _, workers = proc.get_json(f"{BASE}/workers?run=multi")
            assert workers["straggler"]["host"] == "worker-0"
            frame = p.open_iframe(proc.url, "#run=multi")
            rows(frame)
            frame.wait_for_function(
                "() => document.querySelector('[data-testid=window-facts]')?.textContent.includes('host worker-0')"
            )
            assert frame.eval_on_selector("[data-testid=host-picker]", "s => s.value") == "worker-0"
            assert "host=" not in frame.evaluate("location.hash")
            frame.locator("[data-testid=trend]").scroll_into_view_if_needed()
            chart_drawn(frame, "trend-chart")
            opt = frame.evaluate("""() => { const o = document.querySelector('[data-testid=trend-chart]').lpChart.getOption();
                return {x: o.xAxis[0].data, names: o.series.map(s => s.name)}; }""")
            assert opt["x"] == ["10", "30"]
            assert "block/slow · worker-0" in opt["names"] and "block/slow · worker-1" in opt["names"]
            p.screenshot("layer-profile-workers-trend.png")
        finally:
            p.close()  # before TensorBoard stops: no request left hanging
    assert not p.errors and not p.dialogs, p.errors


# -- work: the rate columns and the roofline (issue 12); busy timeline bars (issue 10.1) --


@pytest.fixture(scope="module")
def tb_work(tmp_path_factory):
    """`work`: the synthetic model with FLOP/byte counts and calibrated peaks; `plain`: the
    same without counts (a report from before work was counted); `busy`: a timeline whose
    spans carry busy intervals, `head` drawn from first to last op over most of the step;
    `wide`: the synthetic model 12 times slower (a bar as long as its axis, then its label)."""
    d = str(tmp_path_factory.mktemp("work_logs"))
    write_run(d, "work", [with_work(synthetic_window(10))])
    write_run(d, "plain", [synthetic_window(10)])
    write_run(d, "busy", [busy_window()])
    # The gradient's bar ends on a round axis maximum (50 ms), its label past it: "50.0 ms  56.5%".
    write_run(d, "wide", [synthetic_window(10, scale=50 / 4.18)])
    with tensorboard(d) as proc:
        proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 4)
        yield proc


def busy_window():
    """Graph mode's parallel ops: `dense_1` (a tiny layer) spans most of the forward pass
    from its first to its last op but is busy 60 µs; `block/slow` has the most forward work.
    `block` ran its own ops 100-150 µs (`self_busy`), its sublayers the rest of its bars."""
    w = synthetic_window(10)
    busy = {
        ("block", "forward"): [[100.0, 1650.0], [1700.0, 1800.0]],
        ("block/slow", "forward"): [[150.0, 1650.0]],
        ("block/fast", "forward"): [[1700.0, 1800.0]],
        ("dense", "forward"): [[1950.0, 2350.0]],
        ("dense_1", "forward"): [[120.0, 150.0], [2400.0, 2430.0]],
    }
    for sp in w.timeline["spans"]:
        key = (sp["path"], sp["phase"])
        if key == ("dense_1", "forward"):
            sp["start_us"] = 120.0  # first op early, last op late: the longest extent
        if key in busy:
            sp["busy"] = busy[key]
            sp["busy_us"] = sum(e - s for s, e in busy[key])
        if key == ("block", "forward"):
            sp["self_busy"], sp["self_busy_us"] = [[100.0, 150.0]], 50.0
    return w


def click_chart_item(page, frame, test_id, series, x, y):
    """Clicks the data point (x, y) of `series` in the chart `test_id`, located through the
    page's ECharts instance (coordinates inside TensorBoard's iframe when there is one)."""
    frame.wait_for_function(
        "id => { const e = document.querySelector(`[data-testid=${id}]`); return e && e.lpChart; }", arg=test_id
    )
    wait_finished(frame, test_id)
    frame.locator(f"[data-testid={test_id}]").scroll_into_view_if_needed()
    px, py = frame.evaluate(
        """([id, s, x, y]) => { const el = document.querySelector(`[data-testid=${id}]`);
                  const p = el.lpChart.convertToPixel({seriesIndex: s}, [x, y]);
                  const r = el.getBoundingClientRect(); return [r.left + p[0], r.top + p[1]]; }""",
        [test_id, series, x, y],
    )
    if frame != page.page.main_frame:
        box = page.page.query_selector("iframe").bounding_box()
        px, py = px + box["x"], py + box["y"]
    page.page.mouse.click(px, py)


def test_work_columns_show_the_backend_rates(tb_work, page):
    frame = page.open_iframe(tb_work.url, "#run=work")
    rows(frame)
    _, body = tb_work.get_json(f"{BASE}/window?run=work")
    work = body["layer_work"]
    rate = "[role=row][data-path='{}'] [data-col=flops_per_s]"
    roof = "[role=row][data-path='{}'] [data-col=peak_fraction]"
    # The backend's total rate (figures.layer_rates), formatted: the loop layer in MFLOP/s,
    # dense in GFLOP/s; dense_1 has no count.
    slow = work["block/slow"]["total"]["flops_per_s"]
    assert frame.inner_text(rate.format("block/slow")) == f"{slow / 1e6:.3g} M"  # the header: FLOP/s
    dense = work["dense"]["total"]
    assert frame.inner_text(rate.format("dense")) == f"{dense['flops_per_s'] / 1e9:.3g} G"
    # % peak (the nearer roof) is a click away in Columns.
    assert frame.query_selector("[role=columnheader][data-key=peak_fraction]") is None
    frame.click("[data-testid=column-chooser] summary")
    frame.check("[data-testid=column-chooser] input[data-key=peak_fraction]")
    frame.wait_for_selector("[role=columnheader][data-key=peak_fraction]")
    frame.click("[data-testid=column-chooser] summary")  # closes the menu
    assert frame.inner_text(roof.format("dense")) == f"{100 * dense['peak_fraction']:.0f}%"
    assert frame.inner_text(rate.format("dense_1")) == "—"
    assert frame.inner_text(roof.format("dense_1")) == "—"
    # The tooltip says how the counts were obtained.
    assert "exact counts" in frame.get_attribute(rate.format("block/slow"), "title")
    assert "estimated" in frame.get_attribute(rate.format("block/fast"), "title")
    assert "No FLOP or byte count" in frame.get_attribute(rate.format("dense_1"), "title")
    # Sorting by rate, fastest first (siblings in the tree); a layer without a count last.
    frame.click("[role=columnheader][data-key=flops_per_s]")
    wait_rows(frame, ["dense", "block", "block/fast", "block/slow", "dense_1"])
    # A column the user can hide, like the others.
    frame.click("[data-testid=column-chooser] summary")
    frame.uncheck("[data-testid=column-chooser] input[data-key=flops_per_s]")
    frame.wait_for_function("() => !document.querySelector('[role=columnheader][data-key=flops_per_s]')")
    assert frame.query_selector("[role=columnheader][data-key=peak_fraction]") is not None


def test_roofline_points_select_their_layer(tb_work, page):
    frame = page.open_tab(tb_work.url)
    frame.select_option("[data-testid=run-picker]", "work")
    rows(frame)
    chart_drawn(frame, "roofline-chart")
    # One point per layer and phase with counts: block, block/slow, block/fast, dense x 2.
    assert frame.get_attribute("[data-testid=roofline-chart]", "data-points") == "8"
    meaning = frame.inner_text("[data-testid=roofline-meaning]")
    assert "peak 180 GFLOP/s and 14.0 GB/s" in meaning and "calibrated-cpu" in meaning
    # The in-cache roof, dotted, under the same flat roof: where a cache-resident layer's
    # rate above the memory roof comes from (block/slow's gradient moves 3x DRAM's bytes/s).
    assert "stays in cache (84.0 GB/s)" in meaning
    roofs = frame.evaluate("""() => document.querySelector('[data-testid=roofline-chart]').lpChart.getOption().series
        .filter(s => s.type === 'line').map(s => ({name: s.name, type: s.lineStyle.type, data: s.data}))""")
    assert [(r["name"], r["type"]) for r in roofs] == [("Roof", "dashed"), ("Cache roof", "dotted")]
    (x0, y0), corner = roofs[1]["data"][0], roofs[1]["data"][1]
    assert y0 == pytest.approx(8.4e10 * x0) and corner == pytest.approx([1.8e11 / 8.4e10, 1.8e11])
    _, body = tb_work.get_json(f"{BASE}/window?run=work")
    fwd = body["layer_work"]["block/slow"]["forward"]
    click_chart_item(page, frame, "roofline-chart", 0, fwd["intensity"], fwd["flops_per_s"])
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'block/slow'")
    assert selected_rows(frame) == ["block/slow"]
    total = body["layer_work"]["block/slow"]["total"]
    assert total["bytes_fraction"] > 1  # above the memory roof, and the detail says how
    detail = frame.inner_text("[data-testid=layer-detail]")
    assert f"{100 * total['bytes_fraction']:.0f}%" in detail and "above the memory roof, its bytes stayed in cache" in detail
    # The gradient point of dense selects dense.
    grad = body["layer_work"]["dense"]["backward"]
    click_chart_item(page, frame, "roofline-chart", 1, grad["intensity"], grad["flops_per_s"])
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'dense'")


def test_no_counts_no_roofline_and_no_rate_columns(tb_work, page):
    frame = page.open_iframe(tb_work.url, "#run=plain")
    rows(frame)
    note = frame.wait_for_selector("[data-testid=roofline-missing]")
    assert "No FLOP or byte counts in this window" in note.inner_text()
    assert frame.query_selector("[data-testid=roofline-chart]") is None
    assert frame.query_selector("[role=columnheader][data-key=flops_per_s]") is None


def longest_forward_bar(frame, spans):
    """The layer whose forward bar is drawn longest (its busy segments, series 0, summed)."""
    wait_finished(frame)
    segments = frame.evaluate(
        "() => document.querySelector('[data-testid=timeline-chart]').lpChart.getOption().series[0].data"
    )
    drawn = {}
    for start, end, _row, i in segments:
        sp = spans[int(i)]
        if sp["phase"] == "forward":
            drawn[sp["path"]] = drawn.get(sp["path"], 0.0) + end - start
    return max(drawn, key=drawn.get), drawn


def test_timeline_bars_are_busy_time_not_first_to_last_op(tb_work, page):
    frame = page.open_iframe(tb_work.url, "#run=busy")
    rows(frame)
    timeline_drawn(frame, spans=10)
    spans = served_spans(tb_work, "busy")
    longest, drawn = longest_forward_bar(frame, spans)
    # block (which includes block/slow) and block/slow have the most forward work; dense_1,
    # whose first and last ops are far apart, is drawn as its 60 µs of busy time.
    assert longest == "block", drawn
    assert drawn["dense_1"] == pytest.approx(60.0) and drawn["block/slow"] == pytest.approx(1500.0)
    extent = {sp["path"]: sp["end_us"] - sp["start_us"] for sp in spans if sp["phase"] == "forward"}
    assert max(extent, key=extent.get) == "dense_1"  # the old drawing's longest bar
    assert frame.get_attribute("[data-testid=timeline-chart]", "data-measured") == "5"
    meaning = frame.inner_text("[data-testid=timeline-meaning]")
    assert "busy time" in meaning and "first op to its last" in meaning
    assert "5 spans have no busy intervals" in meaning  # the gradient spans of this report
    # A click in a gap of dense_1 (on its faint first-to-last line) still selects it.
    sp = next(s for s in spans if s["path"] == "dense_1" and s["phase"] == "forward")
    item = frame.evaluate(
        """() => document.querySelector('[data-testid=timeline-chart]').lpChart.getOption().series[1].data
                 .find(d => d[0] === 120)"""
    )
    click_chart_item(page, frame, "timeline-chart", 1, (sp["start_us"] + sp["end_us"]) / 2 + 300, item[2])
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'dense_1'")
    assert "busy 60 µs" in frame.inner_text("[data-testid=timeline-selection]")


def bar_pixel(frame, t, row):
    """The colour [r, g, b] the timeline chart shows at time `t` (µs) in the middle of `row`:
    its canvas pixel (transparent background) over the card's background colour."""
    return frame.evaluate(
        """([t, row]) => { const el = document.querySelector('[data-testid=timeline-chart]');
                  const p = el.lpChart.convertToPixel({gridIndex: 0}, [t, row]);
                  const c = el.querySelector('canvas'); const k = c.width / c.getBoundingClientRect().width;
                  const [r, g, b, a] = c.getContext('2d').getImageData(Math.round(p[0] * k), Math.round(p[1] * k), 1, 1).data;
                  const bg = getComputedStyle(el.closest('.lp-card')).backgroundColor.match(/\\d+/g).map(Number);
                  return [r, g, b].map((v, i) => Math.round(v * a / 255 + bg[i] * (1 - a / 255))); }""",
        [t, row],
    )


def test_timeline_shades_a_layers_own_time_inside_its_bars(tb_work, page):
    frame = page.open_iframe(tb_work.url, "#run=busy")
    rows(frame)
    timeline_drawn(frame, spans=10)
    spans = served_spans(tb_work, "busy")
    block = next(i for i, s in enumerate(spans) if s["path"] == "block" and s["phase"] == "forward")
    slow = next(i for i, s in enumerate(spans) if s["path"] == "block/slow" and s["phase"] == "forward")
    assert spans[block]["self_busy"] == [[100.0, 150.0]]  # served as stored
    data = frame.evaluate("() => document.querySelector('[data-testid=timeline-chart]').lpChart.getOption().series[0].data")
    row = {int(d[3]): d[2] for d in data}
    orange = [245, 124, 0]
    # block's own ops (100-150 µs) solid orange; 1400 µs, when only block/slow ran, lighter.
    own, sub = bar_pixel(frame, 125, row[block]), bar_pixel(frame, 1400, row[block])
    assert all(abs(a - b) <= 12 for a, b in zip(own, orange)), own
    assert sub[1] > own[1] + 30 and sub[2] > own[2] + 30, (own, sub)  # lighter
    # block/slow has no sublayers: its bar is its own time, solid throughout.
    solid = bar_pixel(frame, 1400, row[slow])
    assert all(abs(a - b) <= 12 for a, b in zip(solid, orange)), solid
    legend = frame.inner_text("[data-testid=timeline-own-legend]")
    assert "solid: own ops" in legend and "faint: only its sublayers" in legend
    meaning = frame.inner_text("[data-testid=timeline-meaning]")
    assert "Solid: the layer's own ops ran; faint: only its sublayers' ops ran" in meaning
    # The tooltip says busy, own and extent (the chart's formatter, as ECharts calls it).
    tip = frame.evaluate(
        """i => document.querySelector('[data-testid=timeline-chart]').lpChart.getOption()
                  .tooltip[0].formatter({seriesType: 'custom', value: [0, 0, 0, i]})""",
        block,
    )
    assert "busy 1.65 ms" in tip and "of 1.80 ms from first to last op" in tip, tip
    assert "own ops 50 µs (solid)" in tip and "sublayers alone 1.60 ms (faint)" in tip, tip
    tip = frame.evaluate(
        """i => document.querySelector('[data-testid=timeline-chart]').lpChart.getOption()
                  .tooltip[0].formatter({seriesType: 'custom', value: [0, 0, 0, i]})""",
        slow,
    )
    assert "own ops 1.50 ms: all of it (no sublayers)" in tip, tip
    # Selected, block's spans say its own time too.
    click_span(page, frame, spans, "block")
    frame.wait_for_function("() => document.querySelector('[role=row].lp-selected')?.dataset.path === 'block'")
    assert "busy 1.65 ms, own 50 µs of 1.80 ms" in frame.inner_text("[data-testid=timeline-selection]")


@pytest.mark.slow
def test_real_training_longest_forward_bar_is_the_layer_with_most_forward_work(browser, trained_logdir):  # noqa: F811
    """The seed model in graph mode: inter-op parallelism stretches small layers' first-to-
    last-op extents across the step; the bars are where each layer's ops ran."""
    p = Page(browser, width=1280)
    with tensorboard(trained_logdir) as proc:
        try:
            proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 1)
            _, win = proc.get_json(f"{BASE}/window?run=train")
            spans = win["window"]["timeline"]["spans"]
            forward = [s for s in spans if s["phase"] == "forward"]
            assert forward and all("busy" in s for s in forward), forward
            most = max(win["window"]["layers"], key=lambda x: x["forward_us"])["path"]
            assert most == "slow"  # the Python loop
            frame = p.open_tab(proc.url)
            timeline_drawn(frame, spans=len(spans))
            longest, drawn = longest_forward_bar(frame, spans)
            # The drawn bars are the last step's busy time: the longest is the layer whose
            # ops ran longest in it (under load another layer's step can outlast the loop's
            # average, so the check is against the step drawn, not the window's averages).
            busiest = max(forward, key=lambda s: s["busy_us"])["path"]
            assert longest == busiest, drawn
            assert frame.get_attribute("[data-testid=timeline-chart]", "data-measured") == str(len(spans))
            assert "busy time" in frame.inner_text("[data-testid=timeline-meaning]")
        finally:
            p.close()
    assert not p.errors and not p.dialogs, p.errors


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_work_view_fits_1280_with_the_detail_open(tb_work, browser, scheme):
    p = Page(browser, width=1280, color_scheme=scheme)
    try:
        frame = p.open_iframe(tb_work.url, "#run=work&sel=block%2Fslow")
        frame.wait_for_selector("[data-testid=layer-detail]")
        keys = frame.eval_on_selector_all("[data-testid=layer-table] [role=columnheader]", "els => els.map(e => e.dataset.key)")
        assert "flops_per_s" in keys and keys[-1] == "hints", keys
        assert table_fits(frame) and no_sideways_scroll(frame)
        # The detail says the layer's work too.
        detail = frame.inner_text("[data-testid=layer-detail]")
        assert "FLOP/s" in detail and "exact counts" in detail
        chart_drawn(frame, "roofline-chart")
        chart_drawn(frame, "timeline-chart")
        wait_finished(frame, "roofline-chart")
        p.screenshot(f"layer-profile-work-1280-{scheme}.png")
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors


def test_window_answers_are_kept_until_the_stored_window_changes(tmp_path):
    """/window's kept answers (plugin.WINDOW_RESPONSES): the same bytes, gzipped or not, until
    the window of that step is written again; then the new one (no browser needed)."""
    import gzip

    d = str(tmp_path)
    write_run(d, "train", [synthetic_window(10), synthetic_window(20)])
    with tensorboard(d) as proc:
        proc.wait_for(f"{BASE}/runs", lambda j: j["runs"] and j["runs"][0]["windows"] == 2)
        first = proc.get_json(f"{BASE}/window?run=train")[1]
        assert first["window"]["step"] == 20
        status, zipped = proc.get(f"{BASE}/window?run=train", headers={"Accept-Encoding": "gzip"})
        assert status == 200 and json.loads(gzip.decompress(zipped)) == first
        assert proc.get_json(f"{BASE}/window?run=train&step=20")[1] == first
        old = first["window"]["step_time_us"]
        # A later write of the same step and host replaces it: served at once, not the kept one.
        again = synthetic_window(20, scale=3.0)
        again.wall_time += 100  # written later (the versions TensorBoard keeps: step, wall time)
        write_run(d, "train", [again])
        again = proc.wait_for(f"{BASE}/window?run=train", lambda j: j["window"]["step_time_us"] != old)
        assert again["window"]["step_time_us"] == pytest.approx(3 * old, rel=1e-3)
        assert proc.get_json(f"{BASE}/window?run=train&step=10")[1]["window"]["step"] == 10


def chart_labels(frame, test_id, pattern):
    """[text, left, right] of each label of the chart `test_id` whose text matches the JS
    regex `pattern`, in the chart's pixels (zrender's own boxes), and the chart's width."""
    return frame.evaluate(
        """([id, pattern]) => { const c = document.querySelector(`[data-testid=${id}]`).lpChart; const re = new RegExp(pattern); const out = [];
             c.getZr().storage.getDisplayList().forEach(d => { const t = d.style && d.style.text;
               if (t && re.test(t)) { const r = d.getBoundingRect().clone(); if (d.transform) r.applyTransform(d.transform); out.push([t, r.x, r.x + r.width]); } });
             return [c.getWidth(), out]; }""",
        [test_id, pattern],
    )


@pytest.mark.parametrize("width", [1280, 1024])
def test_breakdown_value_labels_are_whole_inside_the_card(tb_work, browser, width):
    p = Page(browser, width=width)
    try:
        frame = p.open_tab(tb_work.url)
        frame.select_option("[data-testid=run-picker]", "wide")
        frame.wait_for_function("() => document.querySelector('[data-testid=breakdown-total]')?.textContent.includes('88.5 ms')")
        chart_drawn(frame, "breakdown-chart")
        wait_finished(frame, "breakdown-chart")
        chart_width, labels = chart_labels(frame, "breakdown-chart", "%$")
        assert len(labels) == 8 and any(t.startswith("50.0 ms") for t, _, _ in labels), labels
        cut = [(t, round(right)) for t, _, right in labels if right > chart_width]
        assert not cut, (chart_width, cut)
        p.screenshot(f"layer-profile-breakdown-{width}.png")
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors
