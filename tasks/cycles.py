"""Reporting cycles: one per obligation per period, with opening, due and reminder days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from config.periods import month_after, month_end, period_bounds, period_key
from config.schema import Obligation, Policy
from tasks.calendar import SHANGHAI, WorkingCalendar


@dataclass(frozen=True)
class CycleSpec:
    """A cycle as computed from the policy and the calendar, before it is stored."""

    obligation: str
    # The stored key: 2023-02, 2023-Q1, 2023-H1, 2023 (yearly), 2023-W05 (ISO week); the year
    # for a one-off report.
    period: str
    # 2023年2月, 2023年第一季度, 2023年上半年, 2023年, 2023年第5周（1月30日—2月5日）; a one-off
    # report's due day, 2023年1月20日.
    period_label: str
    covers_start: date
    covers_end: date
    opens: date  # the day the opening notice goes out (a working day)
    due_date: date  # local day the report is due by
    due_at: datetime  # the due moment, aware, Asia/Shanghai
    reminders: tuple[date, ...]  # working days on which reminders go out, ascending
    official: bool  # False when a date relies on the weekend-only calendar fallback


# A report name's leading word that the period label already says (季度 after 第一季度).
_NAME_PREFIXES: dict[str, tuple[str, ...]] = {
    "月": ("月度",),
    "季度": ("季度",),
    "半年": ("半年度", "半年"),
    "周": ("每周", "周度"),
}


def report_title(period_label: str, obligation_name: str) -> str:
    """A report as a reader names it: 2023年3月 + 月度进展情况报告 → 2023年3月进展情况报告.

    A label that already names its period makes the name's leading 月度 / 季度 / 半年度 say it
    twice (2023年第一季度 + 季度工作进展情况报告 → 2023年第一季度工作进展情况报告); a year's label
    joins a leading 年度 as 2023年度工作总结. A one-off report's label (its due day,
    2023年1月20日) is kept with the name as it is.
    """
    # A week's label ends with its days in brackets: 2023年第5周（1月30日—2月5日）.
    bare = re.sub(r"（[^（）]*）$", "", period_label)
    for ending, prefixes in _NAME_PREFIXES.items():
        if bare.endswith(ending):
            for prefix in prefixes:
                if obligation_name.startswith(prefix):
                    return f"{period_label}{obligation_name.removeprefix(prefix)}"
    if re.fullmatch(r"\d{4}年", period_label) and obligation_name.startswith("年度"):
        return f"{period_label}{obligation_name.removeprefix('年')}"  # 2023年 + 年度… → 2023年度…
    return f"{period_label}{obligation_name}"


def _day_in_month(year: int, month: int, day: int) -> date:
    """Day N of a month; a day past the month's end (31 for 每季度末) is its last day."""
    return min(date(year, month, 1) + timedelta(days=day - 1), month_end(year, month))


_CHINESE_ORDINALS = "一二三四"


def period_label(frequency: str, key: str) -> str:
    """How a reader names a period: 2023年2月, 2023年第一季度, 2023年上半年, 2023年,
    2023年第5周（1月30日—2月5日）."""
    start, end = period_bounds(frequency, key)
    if frequency == "weekly":
        year, week = key.split("-W")
        return f"{year}年第{int(week)}周（{start.month}月{start.day}日—{end.month}月{end.day}日）"
    if frequency == "monthly":
        return f"{start.year}年{start.month}月"
    if frequency == "quarterly":
        return f"{start.year}年第{_CHINESE_ORDINALS[int(key[6:]) - 1]}季度"
    if frequency == "half_yearly":
        return f"{start.year}年{'上' if key.endswith('1') else '下'}半年"
    return f"{start.year}年"


def periods_between(frequency: str, first: str, last: str) -> list[str]:
    """Keys of every period from first to last inclusive."""
    out = []
    day, end = period_bounds(frequency, first)[0], period_bounds(frequency, last)[0]
    while day <= end:
        out.append(period_key(frequency, day))
        day = period_bounds(frequency, out[-1])[1] + timedelta(days=1)
    return out


def nominal_due(obligation: Obligation, start: date, end: date) -> date:
    """The due day a periodic obligation's rule gives for the period start..end, before any
    working-day adjustment."""
    rule = obligation.due
    after = rule.lands == "after_period"
    if obligation.frequency == "weekly":
        assert rule.weekday is not None  # guaranteed by the schema
        return start + timedelta(days=rule.weekday - 1 + (7 if after else 0))
    if obligation.frequency == "yearly":
        assert rule.month is not None and rule.day_of_month is not None
        return _day_in_month(start.year + (1 if after else 0), rule.month, rule.day_of_month)
    if rule.days_after_end is not None:
        return end + timedelta(days=rule.days_after_end)
    assert rule.day_of_month is not None
    if obligation.frequency == "monthly" or after:
        year, month = month_after(end.year, end.month)
        return _day_in_month(year, month, rule.day_of_month)
    return _day_in_month(end.year, end.month, rule.day_of_month)


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
    assert obligation.covers_from and obligation.covers_to  # guaranteed by the schema
    cycles = []
    for key in periods_between(obligation.frequency, obligation.covers_from, obligation.covers_to):
        start, end = period_bounds(obligation.frequency, key)
        cycles.append(
            build_cycle(
                obligation,
                period=key,
                period_label=period_label(obligation.frequency, key),
                covers=(start, end),
                nominal_due=nominal_due(obligation, start, end),
                # A period's notice goes out within it, never in the period before (a week
                # due on its Friday would otherwise open in the previous week).
                not_before=max(issued, start),
                calendar=calendar,
            )
        )
    return cycles


def cycles_for_policy(policy: Policy, calendar: WorkingCalendar) -> list[CycleSpec]:
    """All cycles of a policy, ordered by due moment then obligation."""
    cycles = [c for o in policy.obligations for c in cycles_for_obligation(o, policy, calendar)]
    return sorted(cycles, key=lambda c: (c.due_at, c.obligation))


@dataclass(frozen=True)
class PeriodWords:
    """How a bulletin speaks of a frequency's periods: 本月/上月/各月/连续两个月 for months."""

    this: str
    last: str
    each: str
    two: str


_PERIOD_WORDS: dict[str, PeriodWords] = {
    "weekly": PeriodWords("本周", "上周", "各周", "两周"),
    "monthly": PeriodWords("本月", "上月", "各月", "两个月"),
    "quarterly": PeriodWords("本季度", "上季度", "各季度", "两个季度"),
    # 上半年 would name the first half, not the half before: 上期 is the office's own word.
    "half_yearly": PeriodWords("本期", "上期", "各期", "两期"),
    "yearly": PeriodWords("本年", "上年", "各年", "两年"),
}


def period_words(frequency: str) -> PeriodWords:
    """The words for this and the last period of a frequency (a one-off says 本期/上期)."""
    return _PERIOD_WORDS.get(frequency, _PERIOD_WORDS["half_yearly"])


def is_periodic(frequency: str) -> bool:
    """Whether an obligation recurs (weekly … yearly) rather than being due once."""
    return frequency != "once"
