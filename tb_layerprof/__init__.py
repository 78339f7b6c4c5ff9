"""tb_layerprof: which Keras layer makes training slow, from real TensorFlow profiles.

Public API: `LayerProfiler` (Keras callback), `load_reports` (read reports back, no
TensorFlow needed). Importing this package does not import TensorFlow.
"""

import os as _os

# TensorFlow's default CPU allocator emits no MemoryAllocation profiler events; its BFC
# allocator does. It is chosen once, when TensorFlow creates its first CPU device, so we
# ask for it at import time. Results are unchanged (only the allocator strategy differs).
# Opt out with TB_LAYERPROF_CPU_BFC=0 (memory columns then read "unavailable").
if _os.environ.get("TB_LAYERPROF_CPU_BFC", "1") != "0":
    _os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from tb_layerprof.report import Hint, LayerStats, RunReport, WindowReport  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "LayerProfiler",
    "load_reports",
    "PLUGIN_NAME",
    "Hint",
    "LayerStats",
    "RunReport",
    "WindowReport",
]


def __getattr__(name):
    # The event-file reader loads TensorBoard's generated protos: only when asked for, so
    # reading and analysing captures loads no generated proto at all.
    if name in ("load_reports", "PLUGIN_NAME"):
        from tb_layerprof import summary

        return getattr(summary, name)
    # LayerProfiler needs its backend's framework; load it only when asked for, so the
    # TensorBoard plugin and the CLI's reading path stay framework-free. Which one follows
    # Keras' backend (tb_layerprof.backends): TensorFlow, JAX, else a no-op that warns.
    if name == "LayerProfiler":
        from tb_layerprof.backends import keras_backend, unsupported_profiler

        backend = keras_backend()
        if backend == "jax":  # imports JAX and Keras, never TensorFlow
            from tb_layerprof.jax_callback import LayerProfiler
        elif backend in ("tensorflow", ""):
            from tb_layerprof.callback import LayerProfiler
        else:
            LayerProfiler = unsupported_profiler(backend)
        return LayerProfiler
    raise AttributeError(f"module 'tb_layerprof' has no attribute {name!r}")
