"""Capture: the profiler session of a window and the `.xplane.pb` files it leaves.

TensorFlow writes `<dir>/plugins/profile/<session>/<host>.xplane.pb`, naming the session
by the second it started. This module starts and stops that session and then gives each
window's file a place of its own: a session directory per window (two short windows in
one second would share one), and in a multi-worker job a file named after the worker.
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
from typing import List, Optional, Set

# Session directories we renamed (`unique_session`, `move_to_run`) end like this.
SESSION_SUFFIX = re.compile(r"_steps\d+-\d+$")


def worker_identity() -> Optional[str]:
    """`<task type>-<index>` of this process in a multi-worker job (TF_CONFIG), else None."""
    try:
        task = json.loads(os.environ.get("TF_CONFIG", "") or "{}").get("task") or {}
        kind, index = str(task.get("type", "")), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    if not kind:
        return None
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{kind}-{index}")


class Capture:
    """The profiler sessions of one run directory, one window at a time.

    `start()` then `stop()` around a window; `collect(first, last)` then returns the
    window's new capture files, already moved to their final place.
    """

    def __init__(self, run_dir: str, worker: Optional[str] = None):
        self.run_dir = run_dir
        self.worker = worker
        self._known: Set[str] = set()
        self._began = 0.0

    @property
    def directory(self) -> str:
        """Where the profiler writes: the run directory, or a private one per worker.

        Workers of a multi-worker job share `log_dir` and usually a hostname, and TF names
        captures `<session>/<hostname>.xplane.pb`: they would overwrite each other. Each
        worker captures into its own directory; the file is then moved into the run's
        session directory under the worker's name, which XProf shows as its host.
        """
        if self.worker:
            return os.path.join(self.run_dir, ".layerprof-capture", self.worker)
        return self.run_dir

    def profiles_now(self) -> Set[str]:
        return set(glob.glob(os.path.join(self.directory, "plugins", "profile", "*", "*.xplane.pb")))

    def prepare(self) -> None:
        """Before a window: the run directory exists, and the captures already there are
        known (so that `collect` finds only the new one)."""
        os.makedirs(self.run_dir, exist_ok=True)
        self._known = self.profiles_now()

    def start(self) -> None:
        """Start TensorFlow's profiler (raises if another session is running).

        Default options (host tracer level 2) include the allocator's memory events.
        """
        import tensorflow as tf  # here, not at import: the file helpers need no TF

        tf.profiler.experimental.start(self.directory)
        self._began = time.time()

    def stop(self) -> None:
        """Stop the profiler once pending eager ops have run (a step function can return
        before its ops did; stopping then would cut them out of the window): TensorFlow
        writes the capture now (raises if it cannot)."""
        import tensorflow as tf

        try:
            from tensorflow.python.eager import context

            context.async_wait()
        except Exception:
            pass
        tf.profiler.experimental.stop()

    def collect(self, first: int, last: int) -> List[str]:
        """The window's captures (oldest first), moved to their session directories.

        New files, or a file TF rewrote in a session directory of the same second (not
        one of ours: those were renamed, and our analysis may be rewriting them now).
        """
        new = [p for p in self.profiles_now()
               if p not in self._known
               or (os.path.getmtime(p) >= self._began and not SESSION_SUFFIX.search(os.path.dirname(p)))]
        new.sort(key=os.path.getmtime)
        if self.worker:
            return [move_to_run(p, self.run_dir, self.worker, first, last) for p in new]
        return [unique_session(p, first, last) for p in new]


def move_to_run(path: str, run_dir: str, worker: str, first: int, last: int) -> str:
    """Move a worker's capture to `<run>/plugins/profile/steps<a>-<b>/<worker>.xplane.pb`.

    The session is named by the window alone so that every worker's capture of the same
    steps lands in one session (XProf then shows them as hosts of one profile). If that
    worker's file is already there (a log_dir reused by another training), the session
    gets TensorFlow's timestamp too.
    """
    target_dir = os.path.join(run_dir, "plugins", "profile", f"steps{first}-{last}")
    target = os.path.join(target_dir, f"{worker}.xplane.pb")
    if os.path.exists(target):
        session = os.path.basename(os.path.dirname(path)) + f"_steps{first}-{last}"
        target_dir = os.path.join(run_dir, "plugins", "profile", session)
        target = os.path.join(target_dir, f"{worker}.xplane.pb")
    os.makedirs(target_dir, exist_ok=True)
    try:
        os.replace(path, target)
    except OSError:
        return path
    try:  # leave no empty private directories behind
        os.removedirs(os.path.dirname(path))
    except OSError:
        pass
    return target


def unique_session(path: str, first: int, last: int) -> str:
    """Give a fresh capture its own session directory.

    TensorFlow names sessions by the second they start; two short windows in one second
    would share (and overwrite) one file, so each window's directory gets its steps
    appended. XProf lists any directory below plugins/profile as a session.
    """
    session = os.path.dirname(path)
    suffix = f"_steps{first}-{last}"
    if session.endswith(suffix):
        return path
    target = session + suffix
    try:
        os.rename(session, target)
    except OSError:
        return path
    return os.path.join(target, os.path.basename(path))
