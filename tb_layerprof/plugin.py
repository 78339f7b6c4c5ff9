"""The "Layer Profile" TensorBoard plugin: serves layerprof reports to the frontend.

Every route under `/data/plugin/layerprof/` is a thin `*_route` (HTTP: parameters in,
JSON out, errors as JSON 4xx) over an `*_impl` method (plain Python, tested without HTTP).
Reports are read only through `context.data_provider`, so the plugin works with
TensorBoard's fast data server and with `--load_fast=false` alike, and it never opens a
file of the logdir itself. Nothing here imports TensorFlow. See docs/http_api.md.
"""

from __future__ import annotations

import collections
import gzip
import json
import logging
import os
import re
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from werkzeug import wrappers

from tensorboard import errors as tb_errors
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from tensorboard import plugin_util

from tb_layerprof import csv_export, figures
from tb_layerprof import diff as layer_diff
from tb_layerprof import workers as layer_workers
from tb_layerprof.plugin_store import TREND_FIELDS, Entry, tag_windows
from tb_layerprof.report import SCHEMA, RunReport, WindowReport
from tb_layerprof.summary import (
    PLUGIN_NAME,
    TAG_PREFIX,
    ReportReadError,
    parse_plugin_content,
    step_of_tag,
)

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_STATIC_TYPES = {
    ".js": "application/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}
# Windows are one tag each, so a tag holds one sample (more only if several hosts wrote
# the same step). The downsample is large so that nothing is ever dropped.
READ_DOWNSAMPLE = 1_000_000
MAX_PARAM_LEN = 4096
MAX_TREND_LAYERS = 50
_STEP_RE = re.compile(r"^[0-9]{1,15}$")
_JSON = "application/json"
_CSV = "text/csv; charset=utf-8"
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# /window answers kept, serialized and gzipped (a 2,000-layer window is megabytes of JSON
# and most of a second to read, check and write): the tab's reloads, a page opened again.
WINDOW_RESPONSES = 4


class Prepared:
    """A JSON answer serialized (and gzipped) once, sent as it is to every request."""

    __slots__ = ("gzipped", "raw_bytes")

    def __init__(self, text: str):
        raw = text.encode("utf-8")
        self.raw_bytes = len(raw)
        self.gzipped = gzip.compress(raw, compresslevel=3, mtime=0)
class ApiError(Exception):
    """A request the plugin refuses: HTTP `code` (4xx) and a plain `message`."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class LayerProfPlugin(base_plugin.TBPlugin):
    """Layer Profile: per-layer forward/gradient time and memory of Keras models."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._provider = context.data_provider
        self._lock = threading.Lock()
        # (experiment, run) -> {tag: (version, [(host, Entry)], [unreadable])}
        self._cache: Dict[Tuple[str, str], Dict[str, Tuple[Any, List[Tuple[str, Entry]], List[Dict[str, Any]]]]] = {}
        # One filling of a run's cache at a time (/windows, /trend and /window of a page that
        # opens ask together): the others wait for it rather than read every window again.
        self._fill_locks: Dict[Tuple[str, str], threading.Lock] = {}
        # /window answers by (experiment, run, step, host, versions of that step's tags).
        self._responses: "collections.OrderedDict[Tuple[Any, ...], Prepared]" = collections.OrderedDict()

    # -- TensorBoard plugin API -------------------------------------------------------

    def get_plugin_apps(self) -> Dict[str, Callable]:
        return {
            "/runs": self.runs_route,
            "/report": self.report_route,
            "/windows": self.windows_route,
            "/window": self.window_route,
            "/trend": self.trend_route,
            "/diff": self.diff_route,
            "/workers": self.workers_route,
            "/static/*": self.static_route,
        }

    def is_active(self) -> bool:
        # Activity is decided by TensorBoard from data_plugin_names() and the data provider.
        return False

    def data_plugin_names(self):
        return (PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(
            es_module_path="/static/index.js",
            tab_name="Layer Profile",
            disable_reload=False,
        )

    # -- data access --------------------------------------------------------------------

    def _series(self, ctx, experiment: str, run: Optional[str] = None):
        if self._provider is None:
            raise ApiError(503, "TensorBoard has no data provider")
        run_tag_filter = provider.RunTagFilter(runs=[run]) if run is not None else None
        mapping = self._provider.list_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=PLUGIN_NAME,
            run_tag_filter=run_tag_filter,
        )
        result = {}
        for run_name, tags in (mapping or {}).items():
            good = {}
            for tag, series in tags.items():
                if not tag.startswith(TAG_PREFIX):
                    continue
                try:
                    parse_plugin_content(series.plugin_content or b"")
                except ReportReadError as e:
                    logger.warning("layerprof: run %r tag %r skipped: %s", run_name, tag, e)
                    continue
                good[tag] = series
            if good:
                result[run_name] = good
        return result

    def _read(self, ctx, experiment: str, run: str, tags: List[str]) -> Dict[str, list]:
        if not tags:
            return {}
        data = self._provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=PLUGIN_NAME,
            downsample=READ_DOWNSAMPLE,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=tags),
        )
        return (data or {}).get(run, {})

    def _run_series(self, ctx, experiment: str, run: Optional[str]):
        if run is None:
            raise ApiError(400, "missing query parameter 'run'")
        series = self._series(ctx, experiment, run).get(run)
        if not series:
            raise ApiError(404, f"no layerprof reports for run {run!r}")
        return series

    def _entries(self, ctx, experiment: str, run: str, series=None) -> List[Tuple[str, str, Entry]]:
        """(tag, host, entry) of every readable window of `run`, sorted by (step, host);
        cached, with the unreadable ones (see `_unreadable`). `series`: the run's, if listed."""
        series = series if series is not None else self._run_series(ctx, experiment, run)
        key = (experiment, run)
        with self._lock:
            fill = self._fill_locks.setdefault(key, threading.Lock())
        with fill:
            return self._fill_entries(ctx, experiment, run, series, key)

    def _fill_entries(self, ctx, experiment: str, run: str, series, key) -> List[Tuple[str, str, Entry]]:
        with self._lock:
            cached = dict(self._cache.get(key, {}))
        versions = {tag: (s.max_step, s.max_wall_time) for tag, s in series.items()}
        stale = [t for t, v in versions.items() if t not in cached or cached[t][0] != v]
        for start in range(0, len(stale), 50):
            chunk = stale[start : start + 50]
            data = self._read(ctx, experiment, run, chunk)
            for tag in chunk:
                by_host: Dict[str, Entry] = {}
                found, bad = tag_windows(run, tag, data.get(tag, []), timeline=False)
                for window in found:
                    by_host[window.host] = Entry(window)
                cached[tag] = (versions[tag], sorted(by_host.items()), bad)
        cached = {t: v for t, v in cached.items() if t in versions}
        with self._lock:
            self._cache[key] = cached
        out = [(tag, host, e) for tag, (_, items, _) in cached.items() for host, e in items]
        out.sort(key=lambda x: (x[2].summary["step"], x[1]))
        return out

    def _unreadable(self, experiment: str, run: str) -> List[Dict[str, Any]]:
        """Stored windows of `run` that are not readable reports, as `_entries` last saw."""
        with self._lock:
            cached = self._cache.get((experiment, run), {})
            bad = [b for _, _, errors in cached.values() for b in errors]
        return sorted(bad, key=lambda b: (b["step"], b["tag"]))

    def _full_windows(self, ctx, experiment: str, run: str, tags: List[str]
                      ) -> Tuple[List[WindowReport], List[Dict[str, Any]]]:
        """(every readable window of `tags`, sorted by (step, host); the unreadable ones)."""
        windows, unreadable = [], []
        for start in range(0, len(tags), 20):
            data = self._read(ctx, experiment, run, tags[start : start + 20])
            for tag in tags[start : start + 20]:
                found, bad = tag_windows(run, tag, data.get(tag, []))
                windows.extend({w.host: w for w in found}.values())
                unreadable.extend(bad)
        windows.sort(key=lambda w: (w.step, w.host))
        return windows, unreadable

    # -- implementations (no HTTP) -------------------------------------------------------

    def runs_impl(self, ctx, experiment: str) -> Dict[str, Any]:
        """Runs with reports (name, window count, step range) and runs without any."""
        series = self._series(ctx, experiment)
        runs = []
        for run in sorted(series):
            tags = series[run]
            runs.append(
                {
                    "run": run,
                    "windows": len(tags),
                    "steps": sorted({int(s.max_step) for s in tags.values()}),
                    "first_step": min(s.max_step for s in tags.values()),
                    "last_step": max(s.max_step for s in tags.values()),
                    "last_wall_time": max(s.max_wall_time for s in tags.values()),
                }
            )
        others = []
        try:
            all_runs = self._provider.list_runs(ctx, experiment_id=experiment) or []
            others = sorted({r.run_name for r in all_runs} - set(series))
        except tb_errors.PublicError:
            pass
        return {"schema": SCHEMA, "runs": runs, "runs_without_reports": others}

    def report_impl(self, ctx, experiment: str, run: Optional[str]) -> Dict[str, Any]:
        """The DESIGN.md section 4 JSON of one run, every window, oldest first."""
        series = self._run_series(ctx, experiment, run)
        windows, _ = self._full_windows(ctx, experiment, run, sorted(series))
        return figures.reports_json([RunReport(run=str(run), windows=windows)])

    def report_csv_impl(self, ctx, experiment: str, run: Optional[str], step: Optional[str] = None,
                        host: Optional[str] = None) -> str:
        """The run's windows as CSV (`csv_export`, the CLI's `--format csv`): every window,
        or the windows of one `step` (one `host`'s if given)."""
        if step is None:
            series = self._run_series(ctx, experiment, run)
            windows, _ = self._full_windows(ctx, experiment, run, sorted(series))
        else:
            _, windows = self._step_windows(ctx, experiment, run, step)
        if host is not None:
            windows = [w for w in windows if w.host == host]
            if not windows:
                raise ApiError(404, f"run {run!r} has no window of host {host!r}")
        return csv_export.window_rows_csv(windows, run=str(run))

    def windows_impl(self, ctx, experiment: str, run: Optional[str]) -> Dict[str, Any]:
        """A summary of every window of a run (no per-layer lists, except its top layers)."""
        entries = self._entries(ctx, experiment, run)
        return {"schema": SCHEMA, "run": run, "windows": [e.summary for _, _, e in entries],
                "unreadable": self._unreadable(experiment, run)}

    def _step_windows(
        self, ctx, experiment: str, run: Optional[str], step: Optional[str], name: str = "step",
    ) -> Tuple[int, List[WindowReport]]:
        """(step, every host's window at that step, sorted by host). `step` defaults to the
        latest window of the run; `name` is the query parameter named in errors."""
        wanted, tags, _ = self._step_tags(ctx, experiment, run, step, name)
        windows, unreadable = self._full_windows(ctx, experiment, run, tags)
        if not windows:
            why = f": {unreadable[-1]['error']}" if unreadable else ""
            raise ApiError(404, f"run {run!r} has no readable window at step {wanted}{why}")
        return wanted, windows

    def _newest_readable_step(self, ctx, experiment: str, run: str, series) -> Optional[int]:
        """The step of the run's latest readable window without reading every window: when
        the run's summaries are not all cached (its first request since TensorBoard started,
        which would read and check each window: minutes for 200 big ones), its tags newest
        first until one holds a readable window. None: the cache knows (it is current), or a
        tag has no step in its name (older reports), or no window is readable."""
        key = (experiment, run)
        with self._lock:
            cached = self._cache.get(key, {})
            current = all(t in cached and cached[t][0] == (s.max_step, s.max_wall_time) for t, s in series.items())
        steps = {t: step_of_tag(t) for t in series}
        if current or any(v is None for v in steps.values()):
            return None
        for tag in sorted(series, key=lambda t: steps[t], reverse=True):
            found, _ = tag_windows(run, tag, self._read(ctx, experiment, run, [tag]).get(tag, []))
            if found:
                return found[-1].step
        return None

    def _step_tags(self, ctx, experiment: str, run: Optional[str], step: Optional[str], name: str = "step"):
        """(step, the tags of its windows, their versions): what `_step_windows` reads."""
        series = self._run_series(ctx, experiment, run)
        if step is None or step == "":
            # The latest window that can be read (a damaged latest one is listed by /windows).
            wanted = self._newest_readable_step(ctx, experiment, run, series)
            if wanted is None:
                readable = self._entries(ctx, experiment, run, series)
                if not readable:
                    bad = self._unreadable(experiment, run)
                    why = f": {bad[-1]['error']}" if bad else ""
                    raise ApiError(404, f"run {run!r} has no readable window{why}")
                wanted = readable[-1][2].summary["step"]
        else:
            if not _STEP_RE.match(step):
                raise ApiError(400, f"query parameter {name!r} must be a non-negative integer")
            wanted = int(step)
        # One tag per host of that step (`layerprof/window/<step>[/<host>]`).
        tags = sorted(t for t in series if step_of_tag(t) == wanted)
        if not tags:
            tags = [t for t in series if series[t].max_step == wanted][:1]
        if not tags:
            raise ApiError(404, f"run {run!r} has no window at step {wanted}")
        return wanted, tags, tuple((t, series[t].max_step, series[t].max_wall_time) for t in tags)

    def window_impl(
        self, ctx, experiment: str, run: Optional[str], step: Optional[str], host: Optional[str] = None
    ) -> Dict[str, Any]:
        """One window of a run in full (all layers). `step` defaults to the latest window;
        `host` to the last host (by name) that wrote that step."""
        _, windows = self._step_windows(ctx, experiment, run, step)
        hosts = [w.host for w in windows]
        if host is not None:
            windows = [w for w in windows if w.host == host]
        if not windows:
            raise ApiError(404, f"run {run!r} has no readable window for that step/host")
        window = windows[-1]
        return {"schema": SCHEMA, "run": run, "window": window.to_json(), "hosts": hosts,
                "figures": figures.window_figures(window), "layer_work": figures.layer_work(window)}

    def window_prepared(
        self, ctx, experiment: str, run: Optional[str], step: Optional[str], host: Optional[str] = None
    ) -> Prepared:
        """`window_impl` serialized, from the last WINDOW_RESPONSES answers when the step's
        stored windows are unchanged (their tags' versions are part of the key)."""
        wanted, _, versions = self._step_tags(ctx, experiment, run, step)
        key = (experiment, run, wanted, host, versions)
        with self._lock:
            hit = self._responses.get(key)
            if hit is not None:
                self._responses.move_to_end(key)
                return hit
        body = self.window_impl(ctx, experiment, run, str(wanted), host)
        prepared = Prepared(json.dumps(body, separators=(",", ":"), allow_nan=False))
        with self._lock:
            self._responses[key] = prepared
            while len(self._responses) > WINDOW_RESPONSES:
                self._responses.popitem(last=False)
        return prepared

    def diff_impl(
        self,
        ctx,
        experiment: str,
        base: Optional[str],
        run: Optional[str],
        base_step: Optional[str] = None,
        step: Optional[str] = None,
        base_host: Optional[str] = None,
        host: Optional[str] = None,
    ) -> Dict[str, Any]:
        """`diff.diff_windows` of a window of `base` and a window of `run` (the same document
        as `tb-layerprof diff --format json`), plus the hosts and steps each side offers.
        Steps default to each run's latest window; hosts to the straggler of that step
        (`workers.straggler_host`, as the CLI does)."""
        if base is None:
            raise ApiError(400, "missing query parameter 'base'")
        if run is None:
            raise ApiError(400, "missing query parameter 'run'")
        sides = []
        for name, which, wanted_host, step_param, host_param in (
            (base, base_step, base_host, "base_step", "base_host"),
            (run, step, host, "step", "host"),
        ):
            at, windows = self._step_windows(ctx, experiment, name, which, step_param)
            hosts = [w.host for w in windows]
            if wanted_host is not None:
                windows = [w for w in windows if w.host == wanted_host]
                if not windows:
                    raise ApiError(404, f"run {name!r} has no window of host {wanted_host!r} "
                                        f"at step {at} (query parameter {host_param!r})")
            else:
                straggler = layer_workers.straggler_host(windows)
                windows = [w for w in windows if w.host == straggler]
            sides.append((windows[-1], hosts))
        (base_w, base_hosts), (run_w, run_hosts) = sides
        doc = layer_diff.diff_windows(base_w, run_w, base, run)
        doc["base_hosts"] = base_hosts
        doc["run_hosts"] = run_hosts
        return doc

    def workers_impl(self, ctx, experiment: str, run: Optional[str], step: Optional[str]) -> Dict[str, Any]:
        """Per-worker breakdown of one step (`workers.compare_hosts` over every host's window
        at that step): step times per host, the slowest layers per host, the straggler."""
        at, windows = self._step_windows(ctx, experiment, run, step)
        doc = layer_workers.compare_hosts(windows)
        return {"schema": SCHEMA, "run": run, **doc, "step": at}

    def trend_impl(self, ctx, experiment: str, run: Optional[str], layers: List[str]) -> Dict[str, Any]:
        """Per-window series of the given layers (null where a layer is absent)."""
        if not layers:
            raise ApiError(400, "missing query parameter 'layer' (repeat it for several layers)")
        if len(layers) > MAX_TREND_LAYERS:
            raise ApiError(400, f"at most {MAX_TREND_LAYERS} 'layer' parameters per request")
        entries = self._entries(ctx, experiment, run)
        out_layers = []
        for path in dict.fromkeys(layers):
            series: Dict[str, List[Optional[float]]] = {f: [] for f in TREND_FIELDS}
            found = False
            for _, _, entry in entries:
                offset = entry.index.get(path)
                if offset is None:
                    for f in TREND_FIELDS:
                        series[f].append(None)
                    continue
                found = True
                for i, f in enumerate(TREND_FIELDS):
                    series[f].append(entry.values[offset + i])
            out_layers.append({"path": path, "found": found, **series})
        return {
            "schema": SCHEMA,
            "run": run,
            "steps": [e.summary["step"] for _, _, e in entries],
            "hosts": [h for _, h, _ in entries],
            "step_time_us": [e.summary["step_time_us"] for _, _, e in entries],
            "layers": out_layers,
        }

    def static_impl(self, path: str) -> Tuple[bytes, str]:
        """(content, content type) of a file directly in the package's static folder."""
        name = path or ""
        if (
            not name
            or "/" in name
            or "\\" in name
            or "\x00" in name
            or name.startswith(".")
            or len(name) > 255
        ):
            raise ApiError(404, "no such static file")
        ext = os.path.splitext(name)[1].lower()
        if ext not in _STATIC_TYPES:
            raise ApiError(404, "no such static file")
        root = os.path.realpath(STATIC_DIR)
        full = os.path.realpath(os.path.join(root, name))
        if os.path.dirname(full) != root or not os.path.isfile(full):
            raise ApiError(404, "no such static file")
        with open(full, "rb") as f:
            return f.read(), _STATIC_TYPES[ext]

    # -- routes (HTTP only) ----------------------------------------------------------------

    def _serve(self, request, fn: Callable[[Any, str], Any], csv_name: Optional[str] = None):
        """`fn(ctx, experiment)` as JSON, or (`csv_name`) its text as a CSV download."""
        if request.method not in ("GET", "HEAD"):
            return _error(request, 405, "only GET is supported")
        try:
            ctx = plugin_util.context(request.environ)
            experiment = plugin_util.experiment_id(request.environ)
            body = fn(ctx, experiment)
        except ApiError as e:
            return _error(request, e.code, e.message)
        except tb_errors.PublicError as e:
            return _error(request, e.http_code, str(e))
        except Exception:  # never a traceback to the browser; the log has it
            logger.exception("layerprof: error serving %s", request.path)
            return _error(request, 500, "internal error in the layerprof plugin (see TensorBoard's log)")
        if csv_name is not None:
            disposition = f'attachment; filename="{csv_name}.csv"'
            return http_util.Respond(request, body, _CSV, headers=[("Content-Disposition", disposition)])
        if isinstance(body, Prepared):  # gunzipped by Respond for a client without gzip
            return http_util.Respond(request, body.gzipped, _JSON, content_encoding="gzip")
        content = json.dumps(body, separators=(",", ":"), allow_nan=False)
        return http_util.Respond(request, content, _JSON)

    @wrappers.Request.application
    def runs_route(self, request):
        return self._serve(request, lambda ctx, exp: self.runs_impl(ctx, exp))

    @wrappers.Request.application
    def report_route(self, request):
        try:
            fmt = _arg(request, "format") or "json"
        except ApiError as e:
            return _error(request, e.code, e.message)
        if fmt == "json":
            return self._serve(request, lambda ctx, exp: self.report_impl(ctx, exp, _arg(request, "run")))
        if fmt != "csv":
            return _error(request, 400, "query parameter 'format' must be 'json' or 'csv'")
        name = _FILE_UNSAFE.sub("_", "layerprof-" + (request.args.get("run") or "run"))[:120]
        return self._serve(request, lambda ctx, exp: self.report_csv_impl(
            ctx, exp, _arg(request, "run"), _arg(request, "step"), _arg(request, "host")), csv_name=name)

    @wrappers.Request.application
    def windows_route(self, request):
        return self._serve(request, lambda ctx, exp: self.windows_impl(ctx, exp, _arg(request, "run")))

    @wrappers.Request.application
    def window_route(self, request):
        return self._serve(
            request,
            lambda ctx, exp: self.window_prepared(
                ctx, exp, _arg(request, "run"), _arg(request, "step"), _arg(request, "host")
            ),
        )

    @wrappers.Request.application
    def trend_route(self, request):
        return self._serve(
            request,
            lambda ctx, exp: self.trend_impl(ctx, exp, _arg(request, "run"), _args(request, "layer")),
        )

    @wrappers.Request.application
    def diff_route(self, request):
        return self._serve(
            request,
            lambda ctx, exp: self.diff_impl(
                ctx, exp, _arg(request, "base"), _arg(request, "run"), _arg(request, "base_step"),
                _arg(request, "step"), _arg(request, "base_host"), _arg(request, "host"),
            ),
        )

    @wrappers.Request.application
    def workers_route(self, request):
        return self._serve(
            request,
            lambda ctx, exp: self.workers_impl(ctx, exp, _arg(request, "run"), _arg(request, "step")),
        )

    @wrappers.Request.application
    def static_route(self, request):
        if request.method not in ("GET", "HEAD"):
            return _error(request, 405, "only GET is supported")
        prefix = "/static/"
        path = request.path
        idx = path.find(prefix)
        name = path[idx + len(prefix) :] if idx >= 0 else ""
        try:
            content, content_type = self.static_impl(name)
        except ApiError as e:
            return _error(request, e.code, e.message)
        return http_util.Respond(request, content, content_type)


def _arg(request, name: str) -> Optional[str]:
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"query parameter {name!r} given more than once")
    value = values[0]
    _check_value(name, value)
    return value


def _args(request, name: str) -> List[str]:
    values = request.args.getlist(name)
    for value in values:
        _check_value(name, value)
    return values


def _check_value(name: str, value: str) -> None:
    if len(value) > MAX_PARAM_LEN:
        raise ApiError(400, f"query parameter {name!r} is too long")
    if "\x00" in value:
        raise ApiError(400, f"query parameter {name!r} contains a NUL character")


def _error(request, code: int, message: str):
    body = json.dumps({"error": {"code": code, "message": message}})
    return http_util.Respond(request, body, _JSON, code=code)
