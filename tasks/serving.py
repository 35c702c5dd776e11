"""What ``taskforce serve`` runs and when, as plain functions the Prefect wrappers call.

Cron runs every tick at a fixed clock time in Asia/Shanghai; whether the day is a working day
(调休 Saturdays included) and whether a monthly deadline has just passed is decided here, from
the calendar and the cycles in the database, because cron cannot express either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from config.settings import ServeSettings
from models.policy_store import policy_cycles
from tasks.calendar import SHANGHAI, WorkingCalendar, format_day

# Explicit on every schedule: without a timezone Prefect runs a cron in UTC (09:00 UTC is
# 17:00 in the county).
TIMEZONE = "Asia/Shanghai"
DAILY_CRON = "0 9 * * *"  # reminders and escalation, at the start of the office day
# Half an hour after the daily tick, so the day's 催报 and cases are in the bulletin.
CONSOLIDATION_CRON = "30 9 * * *"
ANNUAL_CRON = "0 10 * * *"  # after the month's consolidation has been mailed
INTAKE_INTERVAL = timedelta(minutes=10)
INTAKE_ANCHOR = datetime(2023, 1, 1, tzinfo=SHANGHAI)  # runs fall on :00, :10, … local time

# The tick flows of flows/serve.py, by kind; a deployment per kind per policy.
KINDS = ("reminders", "escalation", "intake", "consolidation", "annual")


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule: a cron or an interval, always with its timezone."""

    cron: str | None = None
    interval: timedelta | None = None
    anchor: datetime | None = None  # an interval's runs fall on anchor + n × interval
    timezone: str = TIMEZONE

    def label(self) -> str:
        """每天 09:30（Asia/Shanghai）: how the CLI shows it."""
        if self.interval is not None:
            return f"每 {int(self.interval.total_seconds() // 60)} 分钟"
        assert self.cron is not None
        minute, hour, *_ = self.cron.split()
        return f"每天 {int(hour):02d}:{int(minute):02d}（{self.timezone}）"


@dataclass(frozen=True)
class DeploymentSpec:
    """A served deployment: which tick, for which policy, on which schedule."""

    kind: str  # one of KINDS
    name: str  # the policy code: the UI lists it as <tick flow>/<policy code>
    parameters: dict[str, Any]
    schedule: ScheduleSpec
    description: str


SCHEDULES = {
    "reminders": ScheduleSpec(cron=DAILY_CRON),
    "escalation": ScheduleSpec(cron=DAILY_CRON),
    "intake": ScheduleSpec(interval=INTAKE_INTERVAL, anchor=INTAKE_ANCHOR),
    "consolidation": ScheduleSpec(cron=CONSOLIDATION_CRON),
    "annual": ScheduleSpec(cron=ANNUAL_CRON),
}
DESCRIPTIONS = {
    "reminders": (
        "工作日 09:00 发送报送开始通知和提醒（一次性报送与周、月、季度等定期报告）；"
        "非工作日不运行。"
    ),
    "escalation": "工作日 09:00 运行督办：催报、立督办单、提请升级，待办公室在界面审批。",
    "intake": "每 10 分钟收取一次办公室邮箱中的报送，登记并发送回执或退回通知。",
    "consolidation": "每期定期报告（周、月、季度等）截止后的第一个工作日 09:30 汇总并发送通报。",
    "annual": "月度汇总当日 10:00 更新该年度的年度汇总（截至当月）。",
}


def deployment_specs(policy_codes: Sequence[str]) -> list[DeploymentSpec]:
    """A deployment per tick kind per policy, the policy code in its parameters."""
    return [
        DeploymentSpec(
            kind=kind,
            name=code,
            parameters={"policy_code": code},
            schedule=SCHEDULES[kind],
            description=DESCRIPTIONS[kind],
        )
        for code in policy_codes
        for kind in KINDS
    ]


def lateness_limit(kind: str, settings: ServeSettings) -> timedelta:
    """How late a run of this kind may start; intake never later than its own interval,
    since the next pass is due by then and reads the same mailbox."""
    limit = timedelta(minutes=settings.max_lateness_minutes)
    return min(limit, INTAKE_INTERVAL) if kind == "intake" else limit


def stale_reason(scheduled: datetime, now: datetime, limit: timedelta) -> str | None:
    """Why a run scheduled at ``scheduled`` is skipped at ``now``, or None when it may run.

    After downtime Prefect replays every missed run, oldest first (PrefectHQ/prefect#15886):
    yesterday's reminders or a hundred intake passes would run back to back.
    """
    late = now - scheduled
    if late <= limit:
        return None
    local = scheduled.astimezone(SHANGHAI)
    return (
        f"计划于 {local:%Y-%m-%d %H:%M}（北京时间）的运行已推迟 {_minutes(late)}，"
        f"超过上限 {_minutes(limit)}，跳过（停机后补跑的过期运行）"
    )


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} 小时 {minutes % 60} 分钟" if minutes >= 60 else f"{minutes} 分钟"


def non_working_reason(day: date, calendar: WorkingCalendar) -> str | None:
    """Why nothing runs on ``day``, or None on a working day (调休 Saturdays included)."""
    if calendar.is_working_day(day):
        return None
    # A weekend day may also be inside a holiday: the calendar does not name holidays.
    kind = "休息日" if day.weekday() >= 5 else "法定节假日"
    return f"{format_day(day)}是{kind}，不是工作日：今日不运行"


def working_day_note(day: date, calendar: WorkingCalendar) -> str | None:
    """A line for the log when a weekend day is worked (调休), so a Saturday run is expected."""
    if day.weekday() >= 5 and calendar.is_working_day(day):
        return f"{format_day(day)}为调休工作日，照常运行"
    return None


@dataclass(frozen=True)
class DueCycle:
    """A periodic cycle whose deadline has passed: what consolidation needs to name it."""

    obligation: str
    period: str
    due_date: date
    frequency: str = "monthly"


def consolidation_day(due_date: date, calendar: WorkingCalendar) -> date:
    """The first working day after a cycle's due day: the day its reports are consolidated."""
    return calendar.next_working_day(due_date + timedelta(days=1))


def cycles_to_consolidate(
    cycles: Iterable[DueCycle], today: date, calendar: WorkingCalendar
) -> list[DueCycle]:
    """The cycles whose consolidation day is ``today``."""
    return [c for c in cycles if consolidation_day(c.due_date, calendar) == today]


def rollup_years(cycles: Iterable[DueCycle]) -> list[str]:
    """The years whose roll-up gains a month when these cycles are consolidated.

    The roll-up is refreshed year-to-date each month (the office sees the standing), and the
    run after December's report, in January, is the year's final one. The roll-up counts months
    only: a quarterly or weekly consolidation leaves it as it is.
    """
    return sorted({c.period[:4] for c in cycles if c.frequency == "monthly"})


def periodic_cycles(session: Session, policy_code: str) -> list[DueCycle]:
    """A loaded policy's live periodic cycles (weekly … yearly), each consolidated when due."""
    return [
        DueCycle(obligation=o.code, period=c.period, due_date=c.due_date, frequency=o.frequency)
        for o, c in policy_cycles(session, policy_code)
        if o.frequency != "once"
    ]


@dataclass
class TickOutcome:
    """What a tick did: skipped (and why), or which runs it started."""

    policy_code: str
    as_of: datetime
    skipped: str | None = None
    ran: list[str] = field(default_factory=list)
