"""Lag rules and Shanxi's 13710 clocks, as pure functions (the escalation issue builds on them).

13710 is Shanxi's supervision rule (山西省“13710”督办落实制度), often misread as "10 days to
close". It is five commitments, each with its own clock from the day a matter is assigned:

- **1**: the matter is deployed (部署) the same day;
- **3**: feedback (反馈) on progress within 3 days;
- **7**: an ordinary problem is solved (办结) within 7 days;
- **1**: a major or complex problem is solved, or a timetable and plan are given, within 1 month;
- **0**: every item is tracked to the end and closed (销号清零): no deadline, a state.

Days are natural or working days per the policy's rules; the month is a calendar month either
way, moved to the next working day when working days are counted and it ends on a rest day.
An extension (延期) moves every open clock by the days granted.
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from tasks.calendar import WorkingCalendar

DayKind = Literal["natural", "working"]
LagKind = Literal["missing", "late", "rejected", "self_reported", "behind_target"]


@dataclass(frozen=True)
class LagRules:
    """Per policy; the defaults are the practice of county supervision offices."""

    grace_hours: int = 0  # after the due moment, before a report counts as missing
    case_after_working_days: int = 3  # still missing this long after the deadline: 督办单
    yellow_points: float = 10.0  # points behind 序时进度
    red_points: float = 30.0
    repeat_cycles: int = 2  # late or missing this many cycles in a row: a repeat offender
    commend_cycles: int = 3  # on time with no yellow or red light this many cycles: 通报表扬
    clock_days: DayKind = "working"
    deadline_window_days: int = 30  # a measure's task deadline this near: 临期 (yellow)


@dataclass(frozen=True)
class Clock:
    """One of the five commitments, in parts, so a 督办单 can put its deadline where it reads
    right: 当日（3月16日）内部署, 一般问题7个工作日内（3月27日前）办结."""

    code: Literal["deploy", "feedback", "solve", "major", "close"]
    digit: str  # its digit of 13710
    matter: str  # what it applies to: 一般问题, 重大复杂问题, or ""
    term: str  # 当日, 3个工作日内, 1个月内; "" for 销号清零
    action: str  # 部署, 反馈进展, 办结 …
    deadline: date | None  # None: 销号清零 has no deadline

    @property
    def label(self) -> str:
        """The commitment without its date, as lists beside a deadline show it: 1：当日部署."""
        return f"{self.digit}：{self.matter}{self.term}{self.action}"

    @property
    def same_day(self) -> bool:
        """Due on the day it starts: its deadline is that day itself, not a day before which."""
        return self.code == "deploy"


def add_days(start: date, days: int, kind: DayKind, calendar: WorkingCalendar) -> date:
    """``days`` natural days after ``start``, or the ``days``-th working day after it."""
    if kind == "natural" or days == 0:
        return start + timedelta(days=days)
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            counted += 1
    return day


def add_month(start: date) -> date:
    """The same day next month, or that month's last day (31 January → 28 February)."""
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return date(year, month, min(start.day, month_calendar.monthrange(year, month)[1]))


def month_clock(start: date, kind: DayKind, calendar: WorkingCalendar) -> date:
    """A month after ``start``; counting working days, a deadline on a rest day or holiday moves
    to the next working day (节假日顺延), as the day-counted clocks never land on one."""
    day = add_month(start)
    while kind == "working" and not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def clocks_13710(
    opened: date, calendar: WorkingCalendar, kind: DayKind = "working", extension_days: int = 0
) -> tuple[Clock, ...]:
    """The five clocks of a case opened on ``opened``, moved by any extension granted."""
    unit = "个工作日" if kind == "working" else "日"
    base = add_days(opened, extension_days, kind, calendar) if extension_days else opened
    return (
        Clock("deploy", "1", "", "当日", "部署", base),
        Clock("feedback", "3", "", f"3{unit}内", "反馈进展", add_days(base, 3, kind, calendar)),
        Clock("solve", "7", "一般问题", f"7{unit}内", "办结", add_days(base, 7, kind, calendar)),
        Clock("major", "1", "重大复杂问题", "1个月内", "办结或明确时间表",
              month_clock(base, kind, calendar)),
        Clock("close", "0", "", "", "跟踪到底、销号清零", None),
    )  # fmt: skip


@dataclass(frozen=True)
class CycleRecord:
    """One unit's standing in one cycle, as the consolidation found it."""

    period: str
    state: Literal["on_time", "late", "missing", "rejected"]
    lights: tuple[str, ...] = ()  # its measures' lights: green / yellow / red / none
    self_reported: tuple[str, ...] = ()  # statuses it reported: 滞后 / 未启动 …


@dataclass(frozen=True)
class Lag:
    kind: LagKind
    period: str
    detail: str  # Chinese, for the notice and the case


def lags_of(record: CycleRecord) -> list[Lag]:
    """What a unit lags on in one cycle."""
    found: list[Lag] = []
    if record.state == "missing":
        found.append(Lag("missing", record.period, "逾期未报送"))
    elif record.state == "late":
        found.append(Lag("late", record.period, "逾期报送"))
    elif record.state == "rejected":
        found.append(Lag("rejected", record.period, "报送未通过校验且未重新报送"))
    behind = [s for s in record.self_reported if s in ("滞后", "未启动")]
    if behind:
        counts = "、".join(f"{s}{behind.count(s)}项" for s in dict.fromkeys(behind))
        found.append(Lag("self_reported", record.period, f"自报措施进展{counts}"))
    if "red" in record.lights:
        found.append(
            Lag(
                "behind_target",
                record.period,
                f"量化目标落后序时进度（红灯{record.lights.count('red')}项）",
            )
        )
    return found


def is_repeat_offender(history: Sequence[CycleRecord], rules: LagRules) -> bool:
    """Late or missing (or rejected) in each of the last ``repeat_cycles`` cycles."""
    recent = history[-rules.repeat_cycles :]
    return len(recent) == rules.repeat_cycles and all(r.state != "on_time" for r in recent)


def deserves_commendation(history: Sequence[CycleRecord], rules: LagRules) -> bool:
    """On time with no yellow or red light in each of the last ``commend_cycles`` cycles; a
    figure the bulletin marks 待核实 ("check") is no record to praise either."""
    recent = history[-rules.commend_cycles :]
    return len(recent) == rules.commend_cycles and all(
        r.state == "on_time" and not ({"yellow", "red", "check"} & set(r.lights)) for r in recent
    )
