"""Benchmarks for the foundation, each printed beside a baseline measured in the same run.

Run with ``make bench``; not part of ``make test``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar

from config.loading import load_policy_file
from config.settings import Settings
from models.db import init_db, session_scope
from models.policy_store import load_policy
from tasks.calendar import WorkingCalendar
from tasks.cycles import cycles_for_policy
from tests.helpers import POLICY_FILES


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Best wall time of ``repeat`` runs, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def report(name: str, ours: float, baseline_name: str, baseline: float) -> None:
    print(
        f"\n{name:<44} {ours:9.2f} ms   | {baseline_name:<40} {baseline:9.2f} ms"
        f"   ratio {baseline / ours:6.1f}x"
    )


def test_bench_working_days_of_a_decade() -> None:
    """Is-working-day for every day 2016–2025: our per-year cache vs the package per call."""
    days = [date(2016, 1, 1) + timedelta(n) for n in range(3653)]

    def ours() -> None:
        calendar = WorkingCalendar()
        for day in days:
            calendar.is_working_day(day)

    def package() -> None:
        for day in days:
            chinese_calendar.is_workday(day)

    warm = WorkingCalendar()
    for day in days:
        warm.is_working_day(day)
    baseline = best_of(5, package)
    report(
        "WorkingCalendar, 3653 days (cold cache)",
        best_of(5, ours),
        "chinese_calendar.is_workday per day",
        baseline,
    )
    report(
        "WorkingCalendar, 3653 days (warm cache)",
        best_of(5, lambda: [warm.is_working_day(d) for d in days]),
        "chinese_calendar.is_workday per day",
        baseline,
    )


def test_bench_policy_load(tmp_path: Path) -> None:
    """Loading both seed policies into SQLite: first load vs an idempotent reload."""
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'bench.db'}")
    init_db(settings)
    bundles = [load_policy_file(file, settings) for file in POLICY_FILES.values()]
    calendar = WorkingCalendar()

    def load_all() -> None:
        for bundle in bundles:
            cycles = cycles_for_policy(bundle.policy, calendar)
            with session_scope(settings) as session:
                load_policy(session, bundle, cycles, now=datetime.now(UTC))

    first = best_of(1, load_all)
    reload = best_of(5, load_all)
    parse = best_of(5, lambda: [load_policy_file(f, settings) for f in POLICY_FILES.values()])
    report("reload both policies (no change)", reload, "first load of both policies", first)
    report("parse + validate both YAML files", parse, "first load of both policies", first)
