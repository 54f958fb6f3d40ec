# Two commands on a fresh machine: `make run` (the pipeline, locally) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NPM_STAMP := node_modules/.installed
DASHBOARD_VENDOR := api/static/vendor/uPlot.iife.min.js
DOCS_VENDOR := api/static/docs/vendor/swagger-ui-bundle.js
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.DEFAULT_GOAL := help
.PHONY: help install node run serve test lint format clean bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) $(CHECKOV_STAMP) $(DASHBOARD_VENDOR) $(DOCS_VENDOR)  ## create .venv with the package and the pinned dev tools (quick when nothing changed)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# checkov in a virtualenv of its own: its pinned dependencies are older than the project's.
$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# The dashboard's chart library and /docs' Swagger UI, copied from node_modules at the versions
# package.json pins.
$(DASHBOARD_VENDOR) $(DOCS_VENDOR) &: $(NPM_STAMP) scripts/build_dashboard.py
	$(PYTHON) scripts/build_dashboard.py

# The browser tests drive Debian's Chromium; never a downloaded browser build.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends chromium

run: install  ## run the whole pipeline locally (fetch every 5 minutes) until Ctrl-C
	$(BIN)/nebula run

serve: install  ## serve the HTTP API on the local lake (http://127.0.0.1:8000/docs)
	$(BIN)/nebula serve

# --dist loadfile: each expensive fixture (a Spark session, a served lake) lives in one file, so
# it starts once; pytest-xdist 3.8's loadgroup spreads marked groups over workers (xdist #1386).
test: install $(CHROMIUM)  ## run every test (unit and integration)
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: install  ## ruff, formatting and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install  ## curation benchmark: a year of 5-minute batches (about a minute)
	$(BIN)/python benchmarks/curation_bench.py

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove the virtualenv, caches and build output (not the lake)
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules api/static/vendor api/static/docs/vendor test-artifacts .pytest_cache .mypy_cache .ruff_cache .serverless *.egg-info

# node_modules: the dashboard's chart library and the deployment tooling (docs/deploy.md), which
# `make test` uses to package the stack offline and lint it.
node: $(NPM_STAMP)  ## install the pinned Node packages (npm ci)
