# The two newcomer commands (see README.md): `make run` and `make test`.
PY := .venv/bin/python
ifdef VIRTUAL_ENV
PY := $(VIRTUAL_ENV)/bin/python
endif

.PHONY: setup setup-dev run test lint bench

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

bench: setup
	$(PY) bench/mmlu_speed.py $(ARGS)
