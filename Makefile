# SPDX-License-Identifier: Apache-2.0
# Developer entry points. `make test` is the README's test command and what CI runs.
# Everything installs from this repository's files: pyproject.toml (+ constraints.txt for exact
# versions), the collector manifest, and the Go/PyPI registries.
# UP_ARGS: extra options for `owui-otel up`, e.g. make demo UP_ARGS="--otlp-http-port 5318" (see owui-otel up --help).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)

.PHONY: help setup bundle lint test-unit test-oldest test build demo up down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required (found %s); set PYTHON=python3.11" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)  ## create .venv with the package and its test tools

bundle: setup  ## regenerate pipelines/otel_filter_pipeline.py from the package
	$(BIN)/python -m otel_filter.bundle

lint: setup  ## ruff, mypy, the import contracts (pyproject.toml [tool.importlinter]); the generated file must be current
	$(BIN)/python -m otel_filter.bundle --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

build: setup  ## build (or reuse from the cache) our collector, Jaeger and Prometheus
	$(BIN)/python -m collector build
	$(BIN)/python -m collector build-jaeger
	$(BIN)/python -m collector build-prometheus

up: setup  ## start collector + Jaeger + bridge server locally (builds them once), in the background
	$(BIN)/owui-otel up $(UP_ARGS)

demo: up  ## the main job: local stack up, recorded chats replayed, trace links printed
	$(BIN)/owui-otel demo

down: setup  ## stop what `make up` / `make demo` started
	$(BIN)/owui-otel down

test-unit: setup  ## fast tests only (no processes)
	$(BIN)/pytest -m unit

OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed-$(shell cat constraints-oldest.txt | sha256sum | cut -c1-12)
# The filter's unit tests: tests/filter imports only the filter's own dependencies (+ the test tools below).
FILTER_UNIT_TESTS := tests/filter -m unit

$(OLDEST_STAMP):
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install --quiet --upgrade pip
	$(OLDEST)/bin/pip install --quiet -r constraints-oldest.txt pytest pytest-timeout hypothesis pyyaml
	@rm -f $(OLDEST)/.installed-* && touch $@

test-oldest: $(OLDEST_STAMP)  ## the filter's unit tests on the oldest supported opentelemetry-sdk and pydantic
	PYTHONPATH=. $(OLDEST)/bin/python -m pytest -p no:cacheprovider -q $(FILTER_UNIT_TESTS)

test: lint build test-oldest  ## everything: lint, build, unit/integration/e2e tests, oldest-dependency tests
	$(BIN)/pytest

clean:  ## remove the venv and caches in the repo (the collector cache lives outside it)
	rm -rf $(VENV) $(OLDEST) .pytest_cache .mypy_cache .ruff_cache .hypothesis
