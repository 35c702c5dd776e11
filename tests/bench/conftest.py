"""Prints the benchmark table once every benchmark has run (and keeps it as JSON)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bench.report import ROWS, save, table


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("benchmarks: now beside floor")
    terminalreporter.write_line(table(ROWS))
    target = os.environ.get("TASKFORCE_BENCH_RESULTS", "var/bench/results.json")
    save(ROWS, Path(target))
    terminalreporter.write_line(f"(saved to {target})")
