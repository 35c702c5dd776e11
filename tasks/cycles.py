"""Reporting cycles: one per obligation per period, with opening, due and reminder days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from config.schema import Obligation, Policy
from tasks.calendar import SHANGHAI, WorkingCalendar


@dataclass(frozen=True)
class CycleSpec:
    """A cycle as computed from the policy and the calendar, before it is stored."""

    obligation: str
    period: str  # "2023-02" for a month; the year for a one-off report (a stored key)
    period_label: str  # 2023年2月 for a month; a one-off report's due day, 2023年1月20日
    covers_start: date
    covers_end: date
    opens: date  # the day the opening notice goes out (a working day)
    due_date: date  # local day the report is due by
    due_at: datetime  # the due moment, aware, Asia/Shanghai
    reminders: tuple[date, ...]  # working days on which reminders go out, ascending
    official: bool  # False when a date relies on the weekend-only calendar fallback


def report_title(period_label: str, obligation_name: str) -> str:
    """A report as a reader names it: 2023年3月 + 月度进展情况报告 → 2023年3月进展情况报告.

    A label that already names a month makes the name's leading 月度 say 月 twice; a one-off
    report's label (its due day, 2023年1月20日) is kept with the name as it is.
    """
    if period_label.endswith("月") and obligation_name.startswith("月度"):
        return f"{period_label}{obligation_name.removeprefix('月度')}"
    return f"{period_label}{obligation_name}"


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _months(first: str, last: str) -> list[tuple[int, int]]:
    year, month = (int(x) for x in first.split("-"))
    end = tuple(int(x) for x in last.split("-"))
    out = []
    while (year, month) <= end:
        out.append((year, month))
        year, month = _month_after(year, month)
    return out


def _month_end(year: int, month: int) -> date:
    next_year, next_month = _month_after(year, month)
    return date(next_year, next_month, 1) - timedelta(days=1)


def adjust_due_day(nominal: date, rule: str, calendar: WorkingCalendar) -> date:
    """Apply an obligation's rule for a due day that falls on a non-working day."""
    if rule == "next_working_day":
        return calendar.next_working_day(nominal)
    if rule == "previous_working_day":
        return calendar.previous_working_day(nominal)
    return nominal


def build_cycle(
    obligation: Obligation,
    *,
    period: str,
    period_label: str,
    covers: tuple[date, date],
    nominal_due: date,
    not_before: date,
    calendar: WorkingCalendar,
) -> CycleSpec:
    """One cycle: due day per the rule, opening and reminders on working days before it."""
    due_day = adjust_due_day(nominal_due, obligation.on_non_working_day, calendar)
    hour, minute = (int(x) for x in obligation.due.time.split(":"))
    due_at = datetime.combine(due_day, time(hour, minute), tzinfo=SHANGHAI)
    first_day = calendar.next_working_day(not_before)
    opens = max(
        calendar.working_days_before(due_day, obligation.reminders.opens_working_days_before),
        first_day,
    )
    opens = min(opens, calendar.previous_working_day(due_day))
    reminders = sorted(
        {
            day
            for n in obligation.reminders.working_days_before
            if (day := calendar.working_days_before(due_day, n)) > opens
        }
    )
    touched = [nominal_due, due_day, opens, *reminders]
    return CycleSpec(
        obligation=obligation.code,
        period=period,
        period_label=period_label,
        covers_start=covers[0],
        covers_end=covers[1],
        opens=opens,
        due_date=due_day,
        due_at=due_at,
        reminders=tuple(reminders),
        official=all(calendar.is_official(d) for d in touched),
    )


def cycles_for_obligation(
    obligation: Obligation, policy: Policy, calendar: WorkingCalendar
) -> list[CycleSpec]:
    """Every cycle of one obligation over the policy's active period, in due order."""
    issued = policy.document.issued
    if obligation.frequency == "once":
        due = obligation.due.fixed_date
        assert due is not None  # guaranteed by the schema
        return [
            build_cycle(
                obligation,
                period=str(due.year),
                period_label=f"{due.year}年{due.month}月{due.day}日",
                covers=(policy.active.start, due),
                nominal_due=due,
                not_before=issued,
                calendar=calendar,
            )
        ]
    assert obligation.covers_from and obligation.covers_to and obligation.due.day_of_month
    cycles = []
    for year, month in _months(obligation.covers_from, obligation.covers_to):
        due_year, due_month = _month_after(year, month)
        cycles.append(
            build_cycle(
                obligation,
                period=f"{year:04d}-{month:02d}",
                period_label=f"{year}年{month}月",
                covers=(date(year, month, 1), _month_end(year, month)),
                nominal_due=date(due_year, due_month, obligation.due.day_of_month),
                not_before=issued,
                calendar=calendar,
            )
        )
    return cycles


def cycles_for_policy(policy: Policy, calendar: WorkingCalendar) -> list[CycleSpec]:
    """All cycles of a policy, ordered by due moment then obligation."""
    cycles = [c for o in policy.obligations for c in cycles_for_obligation(o, policy, calendar)]
    return sorted(cycles, key=lambda c: (c.due_at, c.obligation))
