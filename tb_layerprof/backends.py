"""Which Keras backend `LayerProfiler` should serve, found without importing TensorFlow,
and the no-op callback for backends we cannot profile (PyTorch)."""

from __future__ import annotations

import json
import logging
import os
import sys

logger = logging.getLogger("tb_layerprof")


def keras_backend() -> str:
    """"tensorflow", "jax", "torch" or "numpy": what Keras uses or will use.

    Keras fixes its backend at import: if it is imported, ask it; else read what it will
    read, `KERAS_BACKEND` then `$KERAS_HOME/keras.json` (default ~/.keras), so that
    choosing never imports Keras (which, on the TensorFlow backend, imports TensorFlow).
    """
    if "keras" in sys.modules:
        try:
            return str(sys.modules["keras"].backend.backend())
        except Exception:
            pass
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def unsupported_profiler(backend: str) -> type:
    """A Keras callback class that warns once that `backend` is not supported and does
    nothing else, so training goes on."""
    import keras

    class LayerProfiler(keras.callbacks.Callback):
        """tb_layerprof cannot profile this Keras backend: a no-op callback."""

        async_safe = True

        def __init__(self, *args, **kwargs):
            super().__init__()
            logger.warning(
                "layerprof: the Keras %r backend is not supported (TensorFlow and JAX are): "
                "LayerProfiler does nothing, training goes on", backend)

    return LayerProfiler
