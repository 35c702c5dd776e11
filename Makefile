# Two commands for a fresh machine: `make demo` and `make test`. Both build .venv first.
SHELL := /bin/bash
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
	@mkdir -p "$(PREFECT_HOME)"

# The main job on embedded defaults: a SQLite file under ./var, Prefect's temporary server, and
# the local mail catcher (mail lands in ./var/mail/; replies to the office are filed into
# ./var/maildir/). Replays 陵川's January-20 checklist days, then the bureaus reply (simulated),
# intake records their reports, sends receipts and rejections, and lists the submissions; then
# the January-March monthly reports go the same way; escalation sends overdue notices, opens
# 督办 cases and proposes heavier steps (two approved by the office); last, consolidation writes
# bulletins (with the open cases and lists) and summary workbooks under ./var/reports/.
DEMO_DAYS := --as-of 2023-01-12T09:00 --as-of 2023-01-17T09:00 --as-of 2023-01-20T09:00
# The opening days of the January, February and March monthly reports (the forms go out).
DEMO_MONTHS := --as-of 2023-01-28T09:00 --as-of 2023-02-23T09:00 --as-of 2023-03-27T09:00
# Escalation days: the first working day after each deadline (催报), the third (督办单 with the
# 13710 clocks), and days when clocks have run out (proposals for county supervision or 约谈).
# 28 January 2023 is a Saturday worked in lieu of the Spring Festival holiday.
DEMO_ESCALATE_1 := --as-of 2023-01-28T09:00 --as-of 2023-01-30T09:00 --as-of 2023-02-01T09:00 \
	--as-of 2023-02-06T09:00 --as-of 2023-02-08T09:00 --as-of 2023-02-10T09:00 --as-of 2023-02-20T09:00
DEMO_ESCALATE_2 := --as-of 2023-03-06T09:00 --as-of 2023-03-08T09:00 --as-of 2023-03-10T09:00 \
	--as-of 2023-03-20T09:00 --as-of 2023-04-06T09:00 --as-of 2023-04-10T09:00
# `make demo ARGS=--ui` also starts a Prefect server with its UI (taskforce up) that the demo's
# runs and artifacts are recorded in, and leaves it running for browsing.
ARGS ?=
demo: install
	rm -rf var/mail var/maildir var/raw var/forms var/taskforce.db*
	$(BIN)/taskforce db init
	$(BIN)/taskforce policy load config/policies/lingchuan-2023.yaml config/policies/xinjiang-2022.yaml
	$(BIN)/taskforce calendar --policy lingchuan-2023 --year 2023
	$(BIN)/taskforce calendar --policy xinjiang-2022 --year 2022
	@mkdir -p var; \
	$(BIN)/taskforce mailcatcher --demo-clock > var/mailcatcher.log 2>&1 & catcher=$$!; \
	trap 'kill $$catcher 2>/dev/null' EXIT; \
	for i in $$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/8025) 2>/dev/null && break; sleep 0.1; done; \
	$(if $(findstring --ui,$(ARGS)),$(BIN)/taskforce up &&) \
	$(BIN)/taskforce remind --policy lingchuan-2023 $(DEMO_DAYS) && \
	echo "收信服务器收到 $$(ls var/mail/*.eml | wc -l) 封邮件（var/mail/）；最后几封：" && \
	tail -n 3 var/mailcatcher.log && \
	$(BIN)/taskforce simulate-replies --policy lingchuan-2023 --period 2023 && \
	$(BIN)/taskforce intake --policy lingchuan-2023 && \
	$(BIN)/taskforce submissions --policy lingchuan-2023 --period 2023 && \
	$(BIN)/taskforce review --policy lingchuan-2023 && \
	$(BIN)/taskforce remind --policy lingchuan-2023 $(DEMO_MONTHS) && \
	for period in 2023-01 2023-02 2023-03; do \
	  $(BIN)/taskforce simulate-replies --policy lingchuan-2023 --period $$period || exit 1; \
	done && \
	$(BIN)/taskforce intake --policy lingchuan-2023 > var/intake-monthly.log && \
	tail -n 1 var/intake-monthly.log && \
	$(BIN)/taskforce escalate --policy lingchuan-2023 $(DEMO_ESCALATE_1) && \
	echo "办公室审批前两项升级建议（演示）：" && \
	ids=$$($(BIN)/taskforce cases --policy lingchuan-2023 --awaiting --json | $(BIN)/python -c \
	  'import json, sys; print(" ".join(str(c["id"]) for c in json.load(sys.stdin)[:2]))') && \
	{ [ -z "$$ids" ] || $(BIN)/taskforce cases approve $$ids --by 王杰 --at 2023-02-21T15:00; } && \
	$(BIN)/taskforce escalate --policy lingchuan-2023 $(DEMO_ESCALATE_2) && \
	$(BIN)/taskforce cases --policy lingchuan-2023 --open --as-of 2023-04-10T09:00 && \
	$(BIN)/taskforce consolidate --policy lingchuan-2023 --period 2023-01 --as-of 2023-02-10T09:00 && \
	$(BIN)/taskforce consolidate --policy lingchuan-2023 --period 2023-02 --as-of 2023-03-10T09:00 && \
	$(BIN)/taskforce consolidate --policy lingchuan-2023 --period 2023-03 --as-of 2023-04-10T09:00 && \
	$(BIN)/taskforce consolidate --policy lingchuan-2023 --year 2023 --as-of 2023-04-10T09:00 && \
	echo "通报与汇总表：var/reports/lingchuan-2023/" \
	$(if $(findstring --ui,$(ARGS)),&& echo "Prefect 界面：http://127.0.0.1:4200 （流程运行与产出物；taskforce down 停止）")

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The IMAP tests need Dovecot and the browser test Chromium: installed by the repo's scripts
# (root and apt), else they skip with the reason shown (CI sets TASKFORCE_REQUIRE_IMAP=1 and
# TASKFORCE_REQUIRE_BROWSER=1, and then they fail instead).
test: lint
	@.ci/dovecot.sh || echo "Dovecot could not be installed: the IMAP tests will be skipped"
	@.ci/chromium.sh || echo "Chromium could not be installed: the browser test will be skipped"
	$(BIN)/pytest

# Benchmarks live apart from the tests and print figures beside a baseline.
bench: install
	$(BIN)/pytest tests/bench -q -s -o addopts=""

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
