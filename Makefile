# SPDX-License-Identifier: Apache-2.0
# Developer entry points. `make test` is the README's test command and what CI runs.
# Everything installs from this repository's files: pyproject.toml (+ constraints.txt for exact
# versions), the collector manifest, and the Go/PyPI registries.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)

.PHONY: help setup bundle lint test-unit test build demo up down clean

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

lint: setup  ## ruff, mypy, and the generated file must be current
	$(BIN)/python -m otel_filter.bundle --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

build: setup  ## build (or reuse from the cache) our collector and Jaeger
	$(BIN)/python -m collector build
	$(BIN)/python -m collector build-jaeger

up: setup  ## start collector + Jaeger + bridge server locally (builds them once), in the background
	$(BIN)/owui-otel up

demo: up  ## the main job: local stack up, recorded chats replayed, trace links printed
	$(BIN)/owui-otel demo

down: setup  ## stop what `make up` / `make demo` started
	$(BIN)/owui-otel down

test-unit: setup  ## fast tests only (no processes)
	$(BIN)/pytest -m unit

test: lint build  ## everything: lint, build, unit and integration tests
	$(BIN)/pytest

clean:  ## remove the venv and caches in the repo (the collector cache lives outside it)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
