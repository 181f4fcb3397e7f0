# flowweir: `make demo` shows the pipeline running, `make test` runs every test.
# Both install what they need first (Debian packages, then a virtualenv in .venv).
SHELL := /bin/bash
PY := .venv/bin/python
# FAST=1 skips the slow suites (molecule); CI runs everything.
FAST ?=
PYTEST_ARGS ?=

.PHONY: deps demo test lint unit bench clean

deps:
	@scripts/install-system.sh
	@scripts/install-python.sh
	@scripts/install-ansible.sh

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

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
