# tb_layerprof developer tasks. `make help` lists them.
#
# PYTHON: the interpreter to install into and run with (default: python3 on PATH).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
NPM ?= npm
DEMO_LOGDIR ?= demo/logs
TB_PORT ?= 6006
PYTEST_ARGS ?=

STAMP := build/.setup-stamp
FRONTEND_STAMP := frontend/node_modules/.package-lock.json
HAS_FRONTEND := $(wildcard frontend/package.json)

.DEFAULT_GOAL := help
.PHONY: help setup jax-env browser tf-keras keras-hub frontend-deps demo demo-run test test-py test-frontend bundle check-bundle clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## Install tb_layerprof (editable) with test extras; tensorflow-cpu if no TensorFlow is installed

# TensorFlow comes in several interchangeable distributions (tensorflow, tensorflow-cpu,
# tf-nightly...); keep whichever is installed, else take the CPU build (see setup.py).
$(STAMP): setup.py pyproject.toml
	@mkdir -p build
	@if $(PYTHON) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is None)"; then \
		echo "TensorFlow found: keeping it"; \
		$(PIP) install -e '.[test]'; \
	else \
		echo "No TensorFlow installed: installing tensorflow-cpu"; \
		$(PIP) install -e '.[test,tensorflow-cpu]'; \
	fi
	@$(MAKE) --no-print-directory tf-keras
	@$(MAKE) --no-print-directory keras-hub
	@$(MAKE) --no-print-directory browser
	@touch $@

# tf_keras (Keras 2) must match TensorFlow's minor version, and it depends on the
# `tensorflow` distribution: installing it normally would pull a second, GPU-capable
# TensorFlow next to tensorflow-cpu. So: the matching release, without dependencies.
tf-keras: ## Install tf_keras matching the installed TensorFlow (for the tf_keras tests)
	@if $(PYTHON) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('tf_keras') is None)"; then \
		echo "tf_keras found: keeping it"; \
	else \
		tfv=$$($(PYTHON) -c "import tensorflow as tf; print('.'.join(tf.__version__.split('.')[:2]))") && \
		echo "installing tf_keras~=$$tfv.0 (no dependencies: TensorFlow $$tfv is installed)" && \
		$(PIP) install --no-deps "tf_keras~=$$tfv.0"; \
	fi

# keras_hub (the real-model corpus builds BERT and GPT-2 backbones from config) depends on
# tensorflow-text, which pulls the `tensorflow` distribution: install it without
# dependencies, then the few it needs at import time.
keras-hub: ## Install keras_hub for the real-model corpus tests (no second TensorFlow)
	@if $(PYTHON) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('keras_hub') is None)"; then \
		echo "keras_hub found: keeping it"; \
	else \
		$(PIP) install --no-deps "keras-hub~=0.32.0" && \
		$(PIP) install regex tokenizers sentencepiece kagglehub; \
	fi

# -- Keras 3 on JAX (issue 11) -----------------------------------------------------------
# JAX gets its own virtualenv: the main environment's TensorFlow pins numpy/protobuf/ml-dtypes
# and must stay untouched, and the JAX tests must prove the JAX path imports no TensorFlow,
# which only an environment without TensorFlow can show. The stamp makes it idempotent.
JAX_VENV := build/jax-venv
JAX_STAMP := $(JAX_VENV)/.jax-env-stamp
JAX_PYTHON := $(JAX_VENV)/bin/python

jax-env: $(JAX_STAMP) ## Build build/jax-venv (keras, CPU jax, no TensorFlow) for the JAX backend tests

$(JAX_STAMP): setup.py pyproject.toml
	@mkdir -p build
	@test -x $(JAX_PYTHON) || $(PYTHON) -m venv $(JAX_VENV)
	$(JAX_PYTHON) -m pip install --quiet "jax" "keras>=3.0" numpy protobuf tensorboard "pytest>=7"
	$(JAX_PYTHON) -m pip install --quiet --no-deps -e .
	@if $(JAX_PYTHON) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is None)"; then \
		echo "error: TensorFlow ended up in $(JAX_VENV)"; exit 1; fi
	@touch $@

# The browser tests drive Debian's Chromium (no browser download: Playwright uses it).
browser: ## Install Debian's chromium for the browser tests, if missing (needs root + apt-get)
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	else echo "note: no chromium found: browser tests need it (apt-get install chromium)"; fi

# node_modules for the frontend's own tests and bundle build (not needed to use the plugin:
# the bundle in tb_layerprof/static is committed).
# (npm ci writes node_modules/.package-lock.json: that file is the stamp.)
frontend-deps: $(if $(HAS_FRONTEND),$(FRONTEND_STAMP)) ## npm ci in frontend/ (for its tests and bundle build)

$(FRONTEND_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && $(NPM) ci --no-audit --no-fund
	@touch $@

demo: setup demo-run ## Set up, train the seed demo with LayerProfiler, then serve TensorBoard (port 6006)
	$(PYTHON) -m tensorboard.main --logdir $(DEMO_LOGDIR) --port $(TB_PORT)

demo-run: setup ## Set up and train the seed demo only (no TensorBoard)
	$(PYTHON) demo/seed_demo.py --logdir $(DEMO_LOGDIR)

test: setup jax-env frontend-deps test-py ## Set up, then run every test (pytest; it runs the frontend's unit tests too)

test-py: setup ## Run the Python test suite (PYTEST_ARGS="-k cli" to narrow it)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-frontend: frontend-deps ## Run only the frontend's unit tests (pytest runs them too)
	@if [ -f frontend/package.json ] && node -e "process.exit(require('./frontend/package.json').scripts?.test ? 0 : 1)"; then \
		cd frontend && $(NPM) test; \
	else echo "no frontend tests"; fi

bundle: frontend-deps ## Rebuild the committed frontend bundle in tb_layerprof/static
	@if [ -f frontend/package.json ]; then cd frontend && $(NPM) run build; else echo "no frontend/"; fi

# The frontend's own check script if it has one, else: rebuild and compare with git.
check-bundle: frontend-deps ## Fail if tb_layerprof/static differs from a fresh build of frontend/
	@if [ ! -f frontend/package.json ]; then echo "no frontend/: nothing to check"; exit 0; fi; \
	script=$$(node -e "const s = require('./frontend/package.json').scripts || {}; \
		console.log(['check-bundle', 'check'].find(n => s[n]) || '')"); \
	if [ -n "$$script" ]; then \
		cd frontend && $(NPM) run "$$script"; \
	else \
		(cd frontend && $(NPM) run build) && \
		if [ -n "$$(git status --porcelain -- tb_layerprof/static)" ]; then \
			git status --short -- tb_layerprof/static; git diff --stat -- tb_layerprof/static; \
			echo "tb_layerprof/static differs from a fresh build: run 'make bundle' and commit it"; \
			exit 1; \
		else echo "bundle matches a fresh build"; fi; \
	fi

clean: ## Remove build stamps, caches and the demo's logs
	rm -rf build .pytest_cache $(DEMO_LOGDIR)
	find . -name __pycache__ -type d -prune -not -path './frontend/node_modules/*' -exec rm -rf {} +

# -- benchmarks (see docs/benchmarks.md) ------------------------------------------------
BENCH_OUT ?= benchmarks/results

.PHONY: bench
bench: setup ## Run the Python benchmarks (overhead, window, analysis, memory); JSON into benchmarks/results
	@mkdir -p $(BENCH_OUT)
	$(PYTHON) benchmarks/bench_overhead.py --out $(BENCH_OUT)/overhead.json
	$(PYTHON) benchmarks/bench_window.py --out $(BENCH_OUT)/window.json
	$(PYTHON) benchmarks/bench_analysis.py --out $(BENCH_OUT)/analysis.json
	$(PYTHON) benchmarks/bench_memory.py --out $(BENCH_OUT)/memory.json
