# The two newcomer commands (see README.md): `make run` and `make test`.
PY := .venv/bin/python
ifdef VIRTUAL_ENV
PY := $(VIRTUAL_ENV)/bin/python
endif

.PHONY: setup setup-dev run test lint check bench

setup:
	@scripts/setup.sh

setup-dev:
	@scripts/setup.sh dev

run: setup
	$(PY) -m tui.cli --batch $(ARGS)

test: setup-dev
	$(PY) -m pytest -q $(ARGS)

lint: setup-dev
	$(PY) -m ruff check core tui tests bench

# The quality gate CI runs after the tests: lint, formatting, types (core), and core's UI-free import contract.
check: setup-dev
	$(PY) -m ruff check core tui tests bench
	$(PY) -m ruff format --check core tui tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider tests/test_core_boundary.py

bench: setup
	$(PY) bench/mmlu_speed.py $(ARGS)
