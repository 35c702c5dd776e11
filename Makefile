# Two commands for a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_HOME ?= $(CURDIR)/var/prefect

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)

# The main job on embedded defaults: a SQLite file under ./var.
demo: install
	$(BIN)/taskforce db init
	$(BIN)/taskforce policy load config/policies/lingchuan-2023.yaml config/policies/xinjiang-2022.yaml
	$(BIN)/taskforce calendar --policy lingchuan-2023 --year 2023
	$(BIN)/taskforce calendar --policy xinjiang-2022 --year 2022

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# Benchmarks live apart from the tests and print figures beside a baseline.
bench: install
	$(BIN)/pytest tests/bench -q -s -o addopts=""

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
