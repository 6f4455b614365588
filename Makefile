# Concerto developer tasks. `make test` is exactly what CI runs (through .ci/run).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
CONFIG ?= config.toml

.PHONY: install test lint format sandbox run clean

# Re-installs only when pyproject.toml is newer than the last install.
install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

test: install
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

sandbox: install
	$(BIN)/concerto sandbox

run: install
	$(BIN)/concerto run --config $(CONFIG)

clean:
	rm -rf $(STAMP) .pytest_cache .mypy_cache .ruff_cache
