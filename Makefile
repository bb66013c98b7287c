# Two entry points, both self-installing on a fresh machine (Python 3.11+ and make are all they need):
#   make run   — the embedded stack (broker, registry, worker) on the sample data, showing the statements
#   make test  — lint, type checks and the whole test suite (what CI runs)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: install run test lint bench
install: $(STAMP)

run: $(STAMP)
	$(BIN)/stream-app dev

lint: $(STAMP)
	$(BIN)/ruff check stream_app tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.transform --write
