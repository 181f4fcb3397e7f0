# flowweir: `make demo` shows the pipeline running, `make test` runs every test.
# Both install what they need first (Debian packages, then a virtualenv in .venv).
SHELL := /bin/bash
PY := .venv/bin/python
# FAST=1 skips the slow suites (molecule); CI runs everything.
FAST ?=
PYTEST_ARGS ?=

.PHONY: deps demo test lint unit bench clean console-ui

deps:
	@scripts/install-system.sh
	@scripts/install-python.sh
	@scripts/install-ansible.sh
	@$(MAKE) --no-print-directory console-ui

# The console's web UI: Vite builds collector/console/frontend into collector/console/static,
# which the wheel ships (package-data), so hosts never need Node. Rebuilt when a source changed.
UI := collector/console/frontend
UI_SOURCES := $(shell find $(UI)/src -type f 2>/dev/null) $(UI)/index.html $(UI)/vite.config.js

console-ui: collector/console/static/index.html

$(UI)/node_modules/.package-lock.json: $(UI)/package.json $(UI)/package-lock.json
	@# Debian's nodejs 18 comes without npm (package npm); NodeSource's nodejs ships it and conflicts with it.
	@command -v npm >/dev/null || { echo "installing npm (Debian)"; $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends npm >/dev/null; }
	@echo "console UI: npm ci (log: $(UI)/npm.log)"
	@cd $(UI) && npm ci --no-audit --no-fund >npm.log 2>&1 || { tail -n 20 npm.log; exit 1; }

collector/console/static/index.html: $(UI)/node_modules/.package-lock.json $(UI_SOURCES)
	@cd $(UI) && npx vite build --logLevel warn

demo: deps
	@$(PY) scripts/demo.py

test: deps lint
	@$(PY) -m pytest --durations=10 $(if $(FAST),-m "not slow") $(PYTEST_ARGS)

lint:
	@$(PY) -m ruff check collector enrich tests bench scripts
	@$(PY) -m ruff format --check collector enrich tests bench scripts
	@$(PY) -m mypy

bench: deps
	@$(PY) -m bench.inlet
	@$(PY) -m bench.decode
	@$(PY) -m bench.outlet
	@$(PY) -m bench.enrich
	@$(PY) -m bench.console

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache collector/console/static $(UI)/node_modules build collector/inlet/_batch.*.so
