# One command per job. Each installs what it needs: .venv from PyPI, node_modules from npm.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
# Node 22 and the CDK CLI come from node_modules, not the machine (its Node 20 is past end of life).
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: help deps synth test lint bench bootstrap deploy diff destroy integ integ-snapshot bytecode clean

help:
	@echo "make synth  - synthesize app.py into cdk.out/ through the CDK CLI"
	@echo "make test   - lint, then the whole test suite"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks against the alternatives (not part of test)"
	@echo "make bootstrap / deploy / diff / destroy - the example app (app.py) with the pinned CDK CLI"
	@echo "make integ DOMAIN=example.com - deploy the integration test, assert, destroy (needs an AWS account)"
	@echo "make integ-snapshot - write the integration test's snapshot anew (review the diff)"
	@echo "make bytecode - compile the function's modules for its runtime, Python 3.14 (after changing them)"

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

# The example app, with the pinned CLI and the credentials of the environment (profile, SSO, env vars).
# CDK_ARGS passes more, for example CDK_ARGS="--profile prod" or CDK_ARGS="--require-approval never".
bootstrap: deps
	cdk bootstrap $(CDK_ARGS)

deploy: deps
	cdk deploy --all $(CDK_ARGS)

diff: deps
	cdk diff --all $(CDK_ARGS)

destroy: deps
	cdk destroy --all $(CDK_ARGS)

# The integration test in CDK's form: deploy, assert through SES v2, and destroy whether it held or not.
INTEG := --app "$(PY) tests/integ/integ.tracking_options.py" --output cdk.out.integ -c verified_domain=$(DOMAIN)
integ: deps
	@test -n "$(DOMAIN)" || { echo "usage: make integ DOMAIN=<a domain verified in SES in the target region>"; exit 2; }
	cdk deploy $(INTEG) --all --require-approval never $(CDK_ARGS); deployed=$$?; \
	cdk destroy $(INTEG) --all --force $(CDK_ARGS); destroyed=$$?; \
	exit $$(( deployed ? deployed : destroyed ))

# The snapshot names the function's asset by its hash, which covers its bytecode: compiled first.
integ-snapshot: bytecode
	$(PY) -m tests.integ_snapshot

bytecode: deps
	$(PY) -m tests.bytecode

clean:
	rm -rf cdk.out cdk.out.integ build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
