"""Real browser: headless Chromium opens a real TensorBoard, switches to the Layer Profile
tab (the plugin's iframe) and checks what a user sees: table order, sorting, charts, hints,
empty and error states, export, the URL reproducing the view, and that an HTML/script run
name renders as text. Every page must log no errors. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import quote

import pytest

from tests.plugin_helpers import (  # noqa: F401
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    XSS_RUN,
    make_synthetic_logdir,
    tensorboard,
    trained_logdir,
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
    with tensorboard(d) as proc:
        proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 2 and j["runs"][1]["windows"] == 12)
        yield proc


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser page that records console errors, page errors and dialogs."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
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
        "[role=row][data-path='block/slow']", "r => Array.from(r.children).map(c => c.textContent)"
    )
    assert cells[0] == "block/slow" and cells[1] == "SlowLoop"
    assert "9.66 ms" in cells
    assert "custom" in cells and "2" in cells  # custom flag and two hints
    # Hints in plain words, with their evidence, hottest problem first.
    diag = frame.inner_text("[data-testid=diagnoses]")
    assert "python-loop" in diag and "Python loop" in diag and "ops per call: 193" in diag
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
    page.page.wait_for_timeout(300)  # give an injected onerror the chance to fire
    page.screenshot("layer-profile-xss-run.png")


def test_export_csv_and_json(tb, page):
    frame = page.open_iframe(tb.url, "#run=train")
    rows(frame)
    with page.page.expect_download() as dl:
        frame.click("[data-testid=export-csv]")
    csv_text = open(dl.value.path(), encoding="utf-8", newline="").read()
    lines = csv_text.strip().split("\r\n")
    assert dl.value.suggested_filename.endswith(".csv")
    assert lines[0].startswith("path,class_name,custom,parent,forward_us")
    assert [l.split(",")[0] for l in lines[1:]] == TREE_ORDER
    with page.page.expect_download() as dl:
        frame.click("[data-testid=export-json]")
    doc = json.load(open(dl.value.path(), encoding="utf-8"))
    assert doc["runs"][0]["run"] == "train"
    assert [l["path"] for l in doc["runs"][0]["windows"][0]["layers"]] == TREE_ORDER


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
    p = Page(browser)
    try:
        with tensorboard(str(tmp_path)) as proc:
            frame = p.open_iframe(proc.url)
            msg = frame.wait_for_selector("[data-testid=message-empty]", timeout=15000)
            assert "No layer profiles yet" in msg.inner_text()
            assert "LayerProfiler" in msg.inner_text()
    finally:
        p.close()
    assert not p.errors and not p.dialogs


@pytest.mark.slow
def test_real_training_in_the_browser(browser, trained_logdir):  # noqa: F811
    p = Page(browser)
    try:
        with tensorboard(trained_logdir) as proc:
            proc.wait_for(f"{BASE}/runs", lambda j: len(j["runs"]) == 1)
            frame = p.open_tab(proc.url)
            order = rows(frame)
            assert order[0] == "slow", order  # the Python-loop layer is the hottest
            assert order.index("slow") < order.index("fast")
            assert "python-loop" in frame.inner_text("[data-testid=diagnoses]")
            chart_drawn(frame, "hot-chart")
            p.screenshot("layer-profile-real-training.png")
    finally:
        p.close()
    assert not p.errors and not p.dialogs, p.errors
