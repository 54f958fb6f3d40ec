# Two commands on a fresh machine: `make run` (the pipeline, locally) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with the package and the pinned dev tools (quick when nothing changed)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

run: install  ## run the whole pipeline locally (fetch every 5 minutes) until Ctrl-C
	$(BIN)/nebula run

test: install  ## run every test (unit and integration)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: install  ## ruff, formatting and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove the virtualenv, caches and build output (not the lake)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .serverless *.egg-info

# Deployment tooling (docs/deploy.md): the pinned Serverless Framework (osls) and its plugins.
# `make test` packages the stack offline and lints it (tests/integration/test_template.py), so it
# needs them; npm ci reruns whenever package.json or the lock file is newer than the install.
NODE_STAMP := node_modules/.nebula-installed
.PHONY: node

node: $(NODE_STAMP)  ## install the pinned Serverless Framework and plugins (npm ci)

$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

test: node
