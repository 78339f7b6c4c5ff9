"""Write window reports to TensorBoard event files and read them back, without TensorFlow.

Storage design: every window is its own tag (`layerprof/window/<step>`), holding a single
scalar string tensor with the report JSON. TensorBoard's reservoir sampling keeps a fixed
number of samples *per tag*, so one sample per tag means no window is ever downsampled
away, whatever `--samples_per_plugin` says.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import time
from typing import Dict, Iterator, List, Optional, Tuple

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.compat.proto import tensor_shape_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_layerprof.report import RunReport, WindowReport, window_from_bytes, window_to_bytes

PLUGIN_NAME = "layerprof"
PAYLOAD_VERSION = 1
TAG_PREFIX = "layerprof/window/"
EVENT_FILE_SUFFIX = ".layerprof"


class ReportReadError(Exception):
    """An event file or report that cannot be read; the message says which and why."""


_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def tag_for_step(step: int, host: str = "") -> str:
    """Tag of the window starting at `step` (zero-padded so tags sort by step).

    With a host, the tag ends in `/<host>`: several workers of one run each profile the
    same steps, and TensorBoard keeps one sample per tag and step, so each host needs
    its own tag for none to be dropped.
    """
    base = f"{TAG_PREFIX}{step:010d}"
    return f"{base}/{_HOST_UNSAFE.sub('_', host)}" if host else base


def step_of_tag(tag: str) -> Optional[int]:
    """The step a window tag names (None for other tags)."""
    if not tag.startswith(TAG_PREFIX):
        return None
    digits = tag[len(TAG_PREFIX):].split("/", 1)[0]
    return int(digits) if digits.isdigit() else None


def create_metadata() -> summary_pb2.SummaryMetadata:
    content = json.dumps({"version": PAYLOAD_VERSION}).encode("utf-8")
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
        summary_description="tb_layerprof per-layer report of one profile window (JSON).",
    )


def parse_plugin_content(content: bytes) -> int:
    """Payload version of the plugin metadata; raises ReportReadError if unreadable."""
    try:
        version = int(json.loads(content.decode("utf-8") or "{}").get("version", 0))
    except (ValueError, AttributeError, UnicodeDecodeError) as e:
        raise ReportReadError(f"unreadable layerprof metadata: {e}") from None
    if version > PAYLOAD_VERSION:
        raise ReportReadError(
            f"report payload version {version} is newer than this tb_layerprof "
            f"understands ({PAYLOAD_VERSION}); upgrade tb_layerprof"
        )
    return version


def window_to_tensor(window: WindowReport) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[window_to_bytes(window)],
    )


def window_from_tensor(tensor: tensor_pb2.TensorProto) -> WindowReport:
    if tensor.dtype != types_pb2.DT_STRING or len(tensor.string_val) != 1:
        raise ReportReadError("layerprof summary is not a scalar string tensor")
    try:
        return window_from_bytes(tensor.string_val[0])
    except ValueError as e:
        raise ReportReadError(str(e)) from None


class ReportWriter:
    """Appends window reports to one event file in `run_dir` (created on first write)."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self._file = None
        self._writer: Optional[RecordWriter] = None

    def _open(self) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        name = "events.out.tfevents.%010d.%s.%d%s" % (
            int(time.time()),
            socket.gethostname(),
            os.getpid(),
            EVENT_FILE_SUFFIX,
        )
        self._file = open(os.path.join(self.run_dir, name), "ab")
        self._writer = RecordWriter(self._file)
        header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
        self._writer.write(header.SerializeToString())

    def write(self, window: WindowReport) -> None:
        if self._writer is None:
            self._open()
        value = summary_pb2.Summary.Value(
            tag=tag_for_step(window.step, window.host),
            metadata=create_metadata(),
            tensor=window_to_tensor(window),
        )
        event = event_pb2.Event(
            wall_time=window.wall_time or time.time(),
            step=window.step,
            summary=summary_pb2.Summary(value=[value]),
        )
        self._writer.write(event.SerializeToString())
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


def _read_records(path: str) -> Iterator[bytes]:
    """TFRecord framing: u64 length, u32 crc(length), data, u32 crc(data).

    A truncated tail (a writer still running) ends the file quietly; garbage raises.
    """
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if len(header) < 12:
                return
            (length,) = struct.unpack("<Q", header[:8])
            if length > 1 << 31:
                raise ReportReadError(f"{path}: corrupt record header (length {length})")
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                return
            yield data


def read_event_file(path: str) -> Tuple[List[WindowReport], List[str]]:
    """(the readable layerprof windows in one event file; one message per stored window that
    is not a readable report). Raises ReportReadError if the file itself is unreadable."""
    windows, bad = [], []
    try:
        for record in _read_records(path):
            event = event_pb2.Event()
            try:
                event.ParseFromString(record)
            except Exception as e:  # protobuf raises DecodeError; be broad on garbage
                raise ReportReadError(f"{path}: corrupt event record: {e}") from None
            for value in event.summary.value:
                plugin = value.metadata.plugin_data
                if plugin.plugin_name != PLUGIN_NAME and not value.tag.startswith(TAG_PREFIX):
                    continue
                try:
                    if plugin.plugin_name == PLUGIN_NAME:
                        parse_plugin_content(plugin.content)
                    window = window_from_tensor(value.tensor)
                except ReportReadError as e:  # this window only: say which file and tag
                    bad.append(f"{path}: {value.tag}: {e}")
                    continue
                window.wall_time = window.wall_time or event.wall_time
                windows.append(window)
    except OSError as e:
        raise ReportReadError(f"{path}: {e.strerror or e}") from None
    return windows, bad


def find_event_files(logdir: str) -> Dict[str, List[str]]:
    """Event files below `logdir`, grouped by run (directory relative to logdir, '.' for itself)."""
    runs: Dict[str, List[str]] = {}
    for dirpath, dirnames, filenames in os.walk(logdir):
        dirnames[:] = sorted(d for d in dirnames if d != "plugins")
        files = sorted(f for f in filenames if "tfevents" in f)
        if files:
            run = os.path.relpath(dirpath, logdir).replace(os.sep, "/")
            runs[run] = [os.path.join(dirpath, f) for f in files]
    return runs


def load_reports(
    logdir: str, run: Optional[str] = None
) -> Tuple[List[RunReport], List[str]]:
    """Read every layerprof report below `logdir` (no TensorFlow needed).

    Returns (runs with at least one window, sorted by name; error messages for files and
    windows that could not be read). A corrupt file or window never hides the good ones
    beside it. Windows of a
    run are sorted by step; a window written twice (e.g. a restarted writer) keeps the last.
    """
    if not os.path.isdir(logdir):
        raise ReportReadError(f"log directory not found: {logdir}")
    errors: List[str] = []
    runs: List[RunReport] = []
    for run_name, files in sorted(find_event_files(logdir).items()):
        if run is not None and run_name != run:
            continue
        by_step: Dict[Tuple[int, str], WindowReport] = {}
        for path in files:
            try:
                windows, bad = read_event_file(path)
                for window in windows:
                    by_step[(window.step, window.host)] = window
                errors.extend(bad)
            except ReportReadError as e:
                errors.append(str(e))
        if by_step:
            windows = [by_step[k] for k in sorted(by_step)]
            runs.append(RunReport(run=run_name, windows=windows))
    return runs, errors
