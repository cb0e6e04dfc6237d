# One command per job. Each installs what it needs: .venv from PyPI, node_modules from npm.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
# Node 22 and the CDK CLI come from node_modules, not the machine (its Node 20 is past end of life).
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: help deps synth test lint bench clean

help:
	@echo "make synth  - synthesize app.py into cdk.out/ through the CDK CLI"
	@echo "make test   - lint, then the whole test suite"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks against the alternatives (not part of test)"

$(VENV)/.installed: pyproject.toml requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	node --version | grep -q '^v22\.'
	touch $@

deps: $(VENV)/.installed node_modules/.installed

synth: deps
	cdk synth --quiet
	@echo "Synthesized into cdk.out/: $$(ls cdk.out/*.template.json)"

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest

bench: deps
	$(PY) -m bench

clean:
	rm -rf cdk.out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
