# Two commands for a fresh machine: `make demo` and `make test`. Both build .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_HOME ?= $(CURDIR)/var/prefect
# The temporary server's first start on a fresh PREFECT_HOME takes 20-23 s here, Prefect's
# default limit is 20 s.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: install demo test lint bench clean

# A .venv without pip is what `python3 -m venv` leaves when Debian's python3-venv is missing:
# built again (--clear) once the package is there. PYTHON must be 3.11-3.13 (requires-python).
$(STAMP): pyproject.toml
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  $(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null \
	    || { echo "$(PYTHON) is not Python 3.11-3.13 ($$($(PYTHON) --version 2>&1 | head -n 1)):" \
	      "name one, e.g. make $(MAKECMDGOALS) PYTHON=python3.12" >&2; exit 1; }; \
	  echo "$(PYTHON) -m venv --clear $(VENV)"; \
	  $(PYTHON) -m venv --clear $(VENV) || { echo "Could not build $(VENV) with $(PYTHON):" \
	    "on Debian and Ubuntu, run 'sudo apt-get install python3-venv', then make again" >&2; exit 1; }; \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)
	@mkdir -p "$(PREFECT_HOME)"

# The main job on embedded defaults: a SQLite file under ./var, Prefect's temporary server, and a
# mail catcher of the demo's own. `taskforce demo` replays 陵川 2023 from 12 January to 10 April
# day by day in one process: notices and forms out, the bureaus' simulated replies in (on time,
# late, invalid then corrected, in Word, never), receipts and rejections, 催报 and 督办 cases with
# the office approving proposals, consolidation and bulletins for January-March; it ends with a
# summary table and the paths of the bulletins (HTML and PDF), workbooks and mails (under ./var).
# The PDF needs a Chinese font: .ci/fonts.sh installs one (apt, root) or says why it cannot.
# `make demo ARGS=--ui` also starts a Prefect server with its UI (taskforce up) that the runs and
# artifacts are recorded in, leaves it running and prints its URL (taskforce down stops it).
ARGS ?=
demo: install
	@.ci/fonts.sh || echo "No Chinese font could be installed: the bulletins go out without their PDF (the leaders' mail says why)"
	rm -rf var/mail var/maildir var/raw var/forms var/reports var/taskforce.db*
	$(BIN)/taskforce demo $(ARGS)
	@echo "Next (README, Walkthrough): source $(VENV)/bin/activate, then taskforce --help"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The IMAP tests need Dovecot, the browser test Chromium, the round-trip and print tests
# LibreOffice: installed by the repo's scripts (root and apt), else they skip with the reason
# shown (CI sets TASKFORCE_REQUIRE_IMAP/_BROWSER/_LIBREOFFICE=1, and then they fail instead).
test: lint
	@.ci/dovecot.sh || echo "Dovecot could not be installed: the IMAP tests will be skipped"
	@.ci/chromium.sh || echo "Chromium could not be installed: the browser test will be skipped"
	@.ci/libreoffice.sh || echo "LibreOffice could not be installed: the spreadsheet round-trip and print tests will be skipped"
	$(BIN)/pytest -n 2 --dist loadfile

# Benchmarks live apart from the tests and print figures beside a baseline. The province day
# and the PostgreSQL figures need the loopback PostgreSQL of .ci/postgres.sh (started here when
# TASKFORCE_TEST_POSTGRES_URL is not set; without it those benchmarks skip and say why).
bench: install
	TASKFORCE_TEST_POSTGRES_URL="$${TASKFORCE_TEST_POSTGRES_URL:-$$(.ci/postgres.sh || true)}" \
	  $(BIN)/pytest tests/bench -q -s -o addopts=""

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
