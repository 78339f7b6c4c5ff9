"""The roofs a layer's achieved rates are compared with: peak FLOP/s and bytes/s.

GPU: from the device capability stats TensorFlow's profiler writes on each device plane
(SM clock, SM count, compute capability, memory bandwidth), read from the plane headers by
the xplane package's wire reader (no TensorFlow, no generated protos). CPU: a short
calibration, a numpy float32 matmul, a large copy (DRAM) and a small one repeated (the
cache a layer's small tensors stay in: its roof is why a CPU layer can move bytes faster
than DRAM allows), well under a second, cached per
machine in `~/.cache/tb_layerprof/peaks.json` (or `$TB_LAYERPROF_CACHE_DIR`); set
`TB_LAYERPROF_NO_CALIBRATION=1` to skip it (the window's peaks are then null).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from typing import Dict, NamedTuple, Optional

from tb_layerprof.xplane import wire
from tb_layerprof.xplane.read import read_mapped

logger = logging.getLogger("tb_layerprof")

SKIP_ENV = "TB_LAYERPROF_NO_CALIBRATION"
CACHE_ENV = "TB_LAYERPROF_CACHE_DIR"
MATMUL_N = 1024  # 2·1024³ = 2.1 GFLOP: ~10-50 ms on one modern core
COPY_BYTES = 64 << 20  # larger than any last-level cache: measures DRAM bandwidth
CACHE_COPY_BYTES = 128 << 10  # source and copy (256 KiB) fit the L2 of current x86 and Arm cores
CACHE_COPY_ROUNDS = 64  # copies per timing: one is ~10 µs, too short to time alone
REPEATS = 3  # best of: a background process slows one run, not all

# fp32 FMA lanes per SM per clock by compute capability major.minor (CUDA's programming
# guide, "arithmetic instructions" table); 2 FLOPs per FMA.
_FP32_LANES = {(6, 0): 64, (7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128,
               (8, 9): 128, (9, 0): 128, (10, 0): 128, (12, 0): 128}


_NUMERIC = (wire.STAT_DOUBLE, wire.STAT_UINT64, wire.STAT_INT64)  # XStat value fields of a number


class Peaks(NamedTuple):
    flops_per_s: float
    bytes_per_s: float  # DRAM (CPU) or device memory (GPU): the roof rates are shares of
    source: str  # "calibrated-cpu" or "gpu-device-caps"
    cache_bytes_per_s: Optional[float] = None  # CPU: a copy that stays in cache


def calibrate_cpu() -> Peaks:
    """Measure this machine: the best of a few float32 matmuls and memory copies."""
    import numpy as np

    a = np.ones((MATMUL_N, MATMUL_N), np.float32)
    b = np.ones((MATMUL_N, MATMUL_N), np.float32)
    src = np.ones(COPY_BYTES // 4, np.float32)
    dst = np.empty_like(src)
    small, small_dst = src[:CACHE_COPY_BYTES // 4], dst[:CACHE_COPY_BYTES // 4]
    np.matmul(a, b)  # warm-up: thread pool start, page faults
    np.copyto(dst, src)
    best_mm = best_copy = best_cached = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        np.matmul(a, b)
        t1 = time.perf_counter()
        np.copyto(dst, src)
        t2 = time.perf_counter()
        for _ in range(CACHE_COPY_ROUNDS):
            np.copyto(small_dst, small)
        t3 = time.perf_counter()
        best_mm, best_copy = min(best_mm, t1 - t0), min(best_copy, t2 - t1)
        best_cached = min(best_cached, t3 - t2)
    # A copy reads and writes every byte.
    return Peaks(2.0 * MATMUL_N ** 3 / best_mm, 2.0 * COPY_BYTES / best_copy, "calibrated-cpu",
                 2.0 * CACHE_COPY_BYTES * CACHE_COPY_ROUNDS / best_cached)


def _cache_path() -> str:
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "tb_layerprof")
    return os.path.join(root, "peaks.json")


def _machine_key() -> str:
    """What makes two machines' peaks differ: host, CPU and how many cores we may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    return f"{platform.node()}|{platform.machine()}|{platform.processor()}|{cores}"


def cpu_peaks() -> Optional[Peaks]:
    """This machine's CPU peaks, calibrated once and cached; None when skipped."""
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return None
    path, key = _cache_path(), _machine_key()
    cache: Dict[str, list] = {}
    try:
        with open(path) as f:
            cache = json.load(f)
        hit = cache.get(key)
        if hit and len(hit) >= 3:  # two values: written before the cache roof, calibrate again
            return Peaks(float(hit[0]), float(hit[1]), "calibrated-cpu", float(hit[2]))
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        cache = {}
    peaks = calibrate_cpu()
    cache = cache if isinstance(cache, dict) else {}
    cache[key] = [peaks.flops_per_s, peaks.bytes_per_s, peaks.cache_bytes_per_s]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(cache, f)
        os.replace(tmp, path)  # atomic: two processes calibrating never leave half a file
    except OSError as e:
        logger.info("layerprof: could not cache the CPU calibration at %s: %s", path, e)
    return peaks


def gpu_peaks(caps: Dict[str, float]) -> Optional[Peaks]:
    """Peaks of one GPU from its capability stats (names as TF's profiler writes them:
    clock_rate in kHz, core_count in SMs, memory_bandwidth in bytes/s)."""
    clock_khz, sms = caps.get("clock_rate", 0), caps.get("core_count", 0)
    if not clock_khz or not sms:
        return None
    cc = (int(caps.get("compute_cap_major", 0)), int(caps.get("compute_cap_minor", 0)))
    lanes = _FP32_LANES.get(cc) or _FP32_LANES.get((cc[0], 0)) or 64
    flops = 2.0 * lanes * sms * clock_khz * 1e3
    return Peaks(flops, float(caps.get("memory_bandwidth", 0)) or 0.0, "gpu-device-caps")


def device_caps(xplane_path: str) -> Dict[str, Dict[str, float]]:
    """Device plane name -> its capability stats ({} without GPU planes, or on any error:
    the peaks are context, never a reason to lose the window)."""
    try:
        return read_mapped(xplane_path, _device_caps)
    except Exception as e:  # noqa: BLE001
        logger.info("layerprof: no device capabilities read from %s: %s", xplane_path, e)
        return {}


def _device_caps(mapped: wire.Mapped, _host: str, _path: str) -> Dict[str, Dict[str, float]]:
    """The GPU planes' own stats (`XPlane.stats`) by name; only plane headers are walked."""
    out: Dict[str, Dict[str, float]] = {}
    for span in wire.space_layout(mapped.buf, mapped.size)[0]:
        name, header, _ = wire.plane_layout(mapped.buf, span)
        if name and name.startswith(wire.GPU_PLANE_PREFIX):
            out[name] = _plane_stats(mapped.buf, header)
    return out


def _plane_stats(buf, header) -> Dict[str, float]:
    names = wire.metadata_names(buf, header, wire.PLANE_STAT_METADATA)
    stats: Dict[str, float] = {}
    for sid, kind, value in wire.plane_stats(buf, header):
        # A text or reference stat (device_vendor, ...) reads as 0, as protobuf's unset
        # numeric fields did: the caps are numbers.
        stats[names.get(sid, "")] = float(value) if kind in _NUMERIC else 0.0
    return stats


def window_peaks(xplane_path: str, on_device: bool) -> Optional[Peaks]:
    """The peaks a window is compared with: its GPU's when it ran kernels, else this CPU's.
    Never raises (None instead): a failed calibration must not cost the window."""
    try:
        return _window_peaks(xplane_path, on_device)
    except Exception as e:  # noqa: BLE001
        logger.warning("layerprof: no peaks for this window: %s: %s", type(e).__name__, e)
        return None


def _window_peaks(xplane_path: str, on_device: bool) -> Optional[Peaks]:
    if on_device:
        for caps in device_caps(xplane_path).values():
            found = gpu_peaks(caps)
            if found is not None:
                return found
        return None
    return cpu_peaks()
