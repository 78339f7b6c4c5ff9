"""Reading the runs below a log directory, selecting their windows, and saying in plain
words why a log directory shows nothing (no reports, only raw profiles, unknown run...).

No TensorFlow: reports come through `tb_layerprof.summary`. Used by the CLI; any reader of
a log directory from outside TensorBoard can use it too.
"""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Sequence, Tuple

from tb_layerprof.report import RunReport, WindowReport
from tb_layerprof.summary import ReportReadError, load_reports
from tb_layerprof.units import safe_text


class LogdirError(Exception):
    """A log directory that cannot give what was asked; the message says why and what to do."""


def select_windows(run: RunReport, which: str) -> List[WindowReport]:
    """`latest`: the windows of the highest step (one per host); `all`; or a step number."""
    if not run.windows:
        return []
    if which == "all":
        return list(run.windows)
    if which == "latest":
        last = max(w.step for w in run.windows)
        return [w for w in run.windows if w.step == last]
    step = int(which)
    return [w for w in run.windows if w.step == step]


def filter_windows(runs: Sequence[RunReport], which: str) -> List[RunReport]:
    """Runs keeping only the selected windows; runs left with none are dropped."""
    out = []
    for run in runs:
        windows = select_windows(run, which)
        if windows:
            out.append(RunReport(run=run.run, windows=windows))
    return out


def count_profiles(logdir: str) -> int:
    """How many raw captures (`.xplane.pb`) lie below `logdir`."""
    count = 0
    for _dirpath, _dirnames, filenames in os.walk(logdir):
        count += sum(1 for f in filenames if f.endswith(".xplane.pb"))
    return count


def has_event_files(logdir: str) -> bool:
    """Whether any TensorBoard event file lies below `logdir`."""
    for _dirpath, _dirnames, filenames in os.walk(logdir):
        if any("tfevents" in f for f in filenames):
            return True
    return False


def why_no_reports(logdir: str) -> str:
    """The likeliest reason a log directory without unreadable files holds no report."""
    profiles = count_profiles(logdir)
    if profiles:
        return (
            f"found {profiles} raw profile(s) (.xplane.pb) but no report: the analysis "
            "may have failed, see the training log for tb_layerprof messages"
        )
    if has_event_files(logdir):
        return (
            "there are TensorBoard event files, but none holds a tb_layerprof report: "
            "was LayerProfiler among the callbacks, and did training get past its "
            "profile window (profile_batch, default steps 10-14)?"
        )
    return (
        "LayerProfiler writes a report when its profile window ends (profile_batch, "
        "default steps 10-14): train past it, and point LOGDIR at its log_dir"
    )


def _load(logdir: str, only: Optional[str]) -> Tuple[List[RunReport], List[str]]:
    try:
        return load_reports(logdir, only)
    except ReportReadError as e:
        raise LogdirError(str(e)) from None
    except OSError as e:
        raise LogdirError(f"cannot read {logdir}: {e.strerror or e}") from None


def _load_some(
    logdir: str, run: Optional[str], skipped: Callable[[str], None]
) -> List[RunReport]:
    """Every run with reports (or only `run`'s files when it has some), never none silently."""
    # One run asked for: read only its event files (a log directory may hold hundreds of
    # runs); all of them only to list the known runs when it has no reports.
    runs, errors = _load(logdir, run) if run is not None else ([], [])
    if not runs:
        runs, errors = _load(logdir, None)
    for message in errors:
        skipped(message)
    if runs:
        return runs
    if errors:
        raise LogdirError(
            f"no report could be read below {logdir}: {len(errors)} unreadable "
            f"event file(s), see the warnings above"
        )
    raise LogdirError(f"no tb_layerprof reports found below {logdir}; {why_no_reports(logdir)}")


def load_runs(
    logdir: str, run: Optional[str], which: str, skipped: Callable[[str], None]
) -> List[RunReport]:
    """Runs below `logdir` (only `run` if given) with the windows `which` selects.

    Raises LogdirError with a message that says why there is nothing to show. Unreadable
    files are passed to `skipped` (one message each) and do not hide the good runs beside
    them.
    """
    if not os.path.exists(logdir):
        raise LogdirError(f"log directory not found: {logdir}")
    if not os.path.isdir(logdir):
        raise LogdirError(f"not a directory: {logdir}")
    runs = _load_some(logdir, run, skipped)
    if run is not None:
        known = [r.run for r in runs]
        runs = [r for r in runs if r.run == run]
        if not runs:
            raise LogdirError(
                f"unknown run {safe_text(run)!s}; runs with reports: "
                + ", ".join(safe_text(k) for k in known)
            )
    selected = filter_windows(runs, which)
    if not selected:
        steps = sorted({w.step for r in runs for w in r.windows})
        raise LogdirError(
            f"no window starts at step {which}; windows start at steps: "
            + ", ".join(str(s) for s in steps)
        )
    return selected
