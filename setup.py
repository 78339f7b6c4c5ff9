"""Packaging for tb_layerprof.

TensorFlow requirement: following the TF ecosystem convention (tensorflow-addons,
tensorflow-io, keras-tuner...), the `tensorflow` distribution is NOT a hard install
requirement, because it has several interchangeable distributions (`tensorflow`,
`tensorflow-cpu`, `tf-nightly`, `tensorflow-macos`...) and pip cannot know one satisfies
the other. Pick one with an extra: `pip install tb_layerprof[tensorflow]`,
`pip install tb_layerprof[tensorflow-cpu]`, or install any TF yourself first.
Keras 3 on JAX needs no TensorFlow: `pip install tb_layerprof[jax]`.
"""

import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "README.md"), encoding="utf-8") as f:
    long_description = f.read()

TF_MIN = "2.16"

setup(
    name="tb_layerprof",
    version="0.1.0",
    description="Per-layer forward/gradient time and memory of Keras models, in TensorBoard.",
    long_description=long_description,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tb_layerprof", "tb_layerprof.*"]),
    package_data={"tb_layerprof": ["static/*", "static/**/*"]},
    include_package_data=True,
    python_requires=">=3.9",
    install_requires=[
        "keras>=3.0",
        "tensorboard>=2.16",
        "tensorboard-plugin-profile>=2.15",
        "protobuf>=3.20",
    ],
    extras_require={
        "tensorflow": [f"tensorflow>={TF_MIN}"],
        "tensorflow-cpu": [f"tensorflow-cpu>={TF_MIN}"],
        "tf-nightly": ["tf-nightly"],
        # Keras 2 (`TF_USE_LEGACY_KERAS=1`). It depends on the `tensorflow` distribution,
        # so with tensorflow-cpu installed prefer `make tf-keras` (no second TensorFlow).
        "tf_keras": [f"tf_keras>={TF_MIN}"],
        # Keras 3 on JAX (KERAS_BACKEND=jax): no TensorFlow needed. `jax` is the CPU
        # wheel; for CUDA install `jax[cuda13]` (or the CUDA build your machine has).
        "jax": ["jax>=0.4.30", "keras>=3.0"],
        "test": ["pytest>=7", "playwright>=1.40"],
    },
    entry_points={
        "console_scripts": ["tb-layerprof=tb_layerprof.cli:main"],
        "tensorboard_plugins": ["layerprof=tb_layerprof.plugin:LayerProfPlugin"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
