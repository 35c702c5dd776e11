"""What ``taskforce serve`` runs and when, as plain functions the Prefect wrappers call.

Five deployments, one per tick, whatever the number of policies: a tick covers every policy
active on its day (or those named in its ``policy_codes`` parameter), so loading a policy needs
no deployment change.

Cron runs every tick at a fixed clock time in Asia/Shanghai; whether the day is a working day
(调休 Saturdays included) and whether a monthly deadline has just passed is decided here, from
the calendar and the cycles in the database, because cron cannot express either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from config.settings import ServeSettings
from models import tables as t
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

# The tick flows of flows/serve.py, by kind; one deployment per kind.
KINDS = ("reminders", "escalation", "intake", "consolidation", "annual")
# The deployments' name: the UI lists tick-reminders/taskforce, …
DEPLOYMENT_NAME = "taskforce"
# How long a policy stays active after the later of its end and its last report's due day: the
# consolidation day (the first working day after the due day, 8 days after it across the Spring
# Festival), the annual roll-up made that day, the 督办单 opened 3 working days after it, and the
# 13710 clocks of that case (the longest is one month) all fall inside it.
ACTIVE_TAIL = timedelta(days=45)


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
    """A served deployment: which tick, on which schedule."""

    kind: str  # one of KINDS
    name: str  # the UI lists it as <tick flow>/<name>
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


def deployment_specs() -> list[DeploymentSpec]:
    """A deployment per tick kind; no policy in its parameters (each run finds the active ones)."""
    return [
        DeploymentSpec(
            kind=kind,
            name=DEPLOYMENT_NAME,
            parameters={},
            schedule=SCHEDULES[kind],
            description=DESCRIPTIONS[kind],
        )
        for kind in KINDS
    ]


def is_active(start: date, end: date, last_due: date | None, day: date) -> bool:
    """Whether a tick on ``day`` works on a policy active from ``start`` to ``end`` whose last
    report is due on ``last_due``: from its start to ACTIVE_TAIL after the later of the two."""
    last = max(end, last_due) if last_due is not None else end
    return start <= day <= last + ACTIVE_TAIL


def active_policy_codes(session: Session, day: date) -> list[str]:
    """The codes of the loaded policies a tick on ``day`` works on, in code order."""
    last_due: dict[int, date] = {
        policy_id: due
        for policy_id, due in session.exec(
            select(t.Obligation.policy_id, func.max(t.Cycle.due_date))
            .join(t.Cycle, col(t.Cycle.obligation_id) == t.Obligation.id)
            .where(col(t.Obligation.retired_at).is_(None), col(t.Cycle.retired_at).is_(None))
            .group_by(col(t.Obligation.policy_id))
        )
    }
    policies = session.exec(select(t.Policy).order_by(col(t.Policy.code))).all()
    return [
        p.code
        for p in policies
        if p.id is not None and is_active(p.active_start, p.active_end, last_due.get(p.id), day)
    ]


def shards(codes: Sequence[str], count: int) -> list[list[str]]:
    """``codes`` dealt round-robin into at most ``count`` non-empty shards of near-equal size."""
    count = max(1, min(count, len(codes)))
    return [list(codes[i::count]) for i in range(count)] if codes else []


def shard_total(policies: int, concurrency: int, workers: int | None) -> int:
    """How many shards a deployment's tick deals its policies into: one per online worker (a
    shard more than the machines only adds a process start), at most the concurrency setting;
    the setting where there is no work pool (``taskforce serve``)."""
    limit = concurrency if workers is None else min(workers, concurrency)
    return max(1, min(limit, policies))


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
    """What a tick did for one policy: skipped (and why), which runs it started, or its error."""

    policy_code: str
    as_of: datetime
    skipped: str | None = None
    ran: list[str] = field(default_factory=list)
    error: str | None = None


def ran_text(item: str) -> str:
    """What a tick's ``ran`` entry means, as the office reads it in the tick's artifact."""
    kind, *rest = item.split()
    if kind == "monthly-consolidation" and len(rest) == 2:
        year, month = rest[1].split("-")
        return f"已汇总{year}年{int(month)}月报告并发送通报"
    if kind == "annual-rollup" and rest:
        return f"已更新{rest[0]}年度汇总"
    return {
        "reminders": "已处理当日报送通知和提醒",  # also when none was due
        "escalation": "已运行督办",
        "intake": "已收取报送",
    }.get(kind, item)


@dataclass
class TickReport:
    """What a tick did: skipped as a whole (and why), or each policy's outcome."""

    kind: str
    as_of: datetime
    skipped: str | None = None
    policies: list[TickOutcome] = field(default_factory=list)

    def outcome(self, policy_code: str) -> TickOutcome:
        """The outcome of one policy (KeyError when the tick did not cover it)."""
        for outcome in self.policies:
            if outcome.policy_code == policy_code:
                return outcome
        raise KeyError(policy_code)

    @property
    def failed(self) -> list[TickOutcome]:
        return [o for o in self.policies if o.error is not None]
