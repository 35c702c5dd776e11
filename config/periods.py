"""Period keys of periodic obligations: 2023-W05, 2023-02, 2023-Q1, 2023-H1, 2023.

The notation of ``covers_from`` / ``covers_to`` and of a cycle's stored period (see
``config.schema.PERIOD_NOTATION``); weeks are ISO weeks (Monday to Sunday, numbered within
the ISO year, so 2027-01-01 lies in 2026-W53). Pure date arithmetic, below ``tasks.cycles``
so that the policy checks in ``config.loading`` can use it too.
"""

from __future__ import annotations

from datetime import date, timedelta


def month_after(year: int, month: int) -> tuple[int, int]:
    """The (year, month) after a month."""
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_end(year: int, month: int) -> date:
    """The last day of a month."""
    next_year, next_month = month_after(year, month)
    return date(next_year, next_month, 1) - timedelta(days=1)


def period_key(frequency: str, day: date) -> str:
    """The key of the period of a frequency that contains a day: 2023-02, 2023-Q1, 2023-W05 …"""
    if frequency == "weekly":
        iso = day.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    if frequency == "monthly":
        return f"{day:%Y-%m}"
    if frequency == "quarterly":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    if frequency == "half_yearly":
        return f"{day.year:04d}-H{1 if day.month <= 6 else 2}"
    if frequency == "yearly":
        return f"{day.year:04d}"
    raise ValueError(f"frequency {frequency!r} has no periods")


def period_bounds(frequency: str, key: str) -> tuple[date, date]:
    """First and last day of a period given by its key (ISO weeks run Monday to Sunday)."""
    if frequency == "weekly":
        iso_year, week = key.split("-W")
        monday = date.fromisocalendar(int(iso_year), int(week), 1)
        return monday, monday + timedelta(days=6)
    if frequency == "yearly":
        return date(int(key), 1, 1), date(int(key), 12, 31)
    year = int(key[:4])
    if frequency == "monthly":
        month = int(key[5:])
        return date(year, month, 1), month_end(year, month)
    span = {"quarterly": 3, "half_yearly": 6}[frequency]
    first = (int(key[6:]) - 1) * span + 1
    return date(year, first, 1), month_end(year, first + span - 1)
