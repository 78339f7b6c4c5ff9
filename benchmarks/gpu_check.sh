#!/usr/bin/env bash
# The GPU check in one command (docs/jax.md).
#
#   bash benchmarks/gpu_check.sh --prepare   # HERE (network): cp312 wheels into build/gpu-wheels
#   bash benchmarks/gpu_check.sh [ARGS...]   # ON THE GPU MACHINE (no network): install them
#                                            # into build/gpu-site, run benchmarks/gpu_check.py
#
# The GPU machine has JAX with CUDA, tensorboard, numpy, h5py, ml-dtypes, rich, absl-py and
# protobuf, but no keras, namex or optree: those travel as wheels (carry build/gpu-wheels).
# Nothing is installed into the machine's own environment (pip --target + PYTHONPATH).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=build/gpu-wheels
SITE=build/gpu-site
PY="${PYTHON:-python3}"

if [ "${1:-}" = "--prepare" ]; then
    mkdir -p "$WHEELS"
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_28_x86_64 -d "$WHEELS" keras namex optree packaging
    ls -la "$WHEELS"
    exit 0
fi

if ! ls "$WHEELS"/keras-*.whl >/dev/null 2>&1; then
    echo "no wheels in $WHEELS: run 'bash benchmarks/gpu_check.sh --prepare' where PyPI is reachable" >&2
    exit 2
fi
if ! "$PY" -c "import keras" 2>/dev/null; then
    "$PY" -m pip install --quiet --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
fi
export PYTHONPATH="$PWD:$PWD/$SITE${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=jax
# JAX preallocates 75% of GPU memory by default: the memory figures would only show that.
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
exec "$PY" benchmarks/gpu_check.py "$@"
