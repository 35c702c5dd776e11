"""Which notices go out on a given day: pure planning over cycles, recipients and submissions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from tasks.calendar import SHANGHAI
from tasks.deadlines import DONE, MeasureDeadline


@dataclass(frozen=True)
class CycleView:
    """A stored cycle with what planning needs to know about its calendar."""

    cycle_id: int
    obligation: str
    frequency: str
    period: str
    opens: date
    due_date: date
    due_at: datetime
    reminders: tuple[date, ...]
    last_working_day: date  # the last working day on or before the due day


@dataclass(frozen=True)
class Recipient:
    unit_id: int
    code: str
    name: str


@dataclass(frozen=True)
class PlannedNotice:
    cycle_id: int
    obligation: str
    period: str
    unit: Recipient
    kind: str  # opening / reminder / last_day
    stage: str  # "open" or the ISO date of the reminder day
    key: str  # the outbox idempotency key


@dataclass(frozen=True)
class Skipped:
    cycle_id: int
    obligation: str
    period: str
    unit: Recipient
    reason: str  # shown to the office, in Chinese


def idempotency_key(
    policy: str, obligation: str, period: str, unit_code: str, kind: str, stage: str
) -> str:
    """(policy, obligation, period, unit, kind, stage): one notice, ever."""
    return f"{policy}/{obligation}/{period}/{unit_code}/{kind}/{stage}"


def notice_kind(cycle: CycleView, day: date) -> tuple[str, str] | None:
    """(kind, stage) of the notice a cycle calls for on ``day``, or None."""
    if day == cycle.opens:
        return "opening", "open"
    if day in cycle.reminders:
        kind = "last_day" if day == cycle.last_working_day else "reminder"
        return kind, day.isoformat()
    return None


def plan_notices(
    *,
    policy: str,
    cycles: Sequence[CycleView],
    recipients: Mapping[str, Sequence[Recipient]],
    submitted: set[tuple[int, int]],
    as_of: datetime,
) -> tuple[list[PlannedNotice], list[Skipped]]:
    """Today's notices for every open cycle, and the units skipped with the reason.

    ``recipients`` maps obligation code to the units it binds; ``submitted`` holds the
    (cycle id, unit id) pairs that already have a valid submission.
    """
    day = as_of.astimezone(SHANGHAI).date()
    planned: list[PlannedNotice] = []
    skipped: list[Skipped] = []
    for cycle in cycles:
        if as_of > cycle.due_at:
            continue  # past due: overdue notices belong to escalation
        found = notice_kind(cycle, day)
        if found is None:
            continue
        kind, stage = found
        for unit in recipients.get(cycle.obligation, ()):
            if (cycle.cycle_id, unit.unit_id) in submitted:
                skipped.append(
                    Skipped(
                        cycle.cycle_id, cycle.obligation, cycle.period, unit, "已报送，不再提醒"
                    )
                )
                continue
            key = idempotency_key(policy, cycle.obligation, cycle.period, unit.code, kind, stage)
            planned.append(
                PlannedNotice(
                    cycle.cycle_id, cycle.obligation, cycle.period, unit, kind, stage, key
                )
            )
    return planned, skipped


@dataclass(frozen=True)
class DeadlineNote:
    """A measure the unit leads whose task deadline is near or past and that it has not
    reported 已完成: the request for its report says so (您单位牵头的第12条措施完成时限为…)."""

    number: str
    title: str
    role_label: str  # 牵头 / 负责
    due: date
    extended: bool
    days: int  # natural days left (0: today), or past when overdue
    overdue: bool


def deadline_notes(
    led: Sequence[tuple[MeasureDeadline, str]],  # the unit's lead measures, with role labels
    statuses: Mapping[str, str | None],  # measure number → what the unit last reported
    *,
    today: date,
    window_days: int,
) -> list[DeadlineNote]:
    """The unit's task deadlines due within ``window_days`` or past, not reported 已完成.

    Lead units only: a 配合 unit answers to the lead, and the 督办 on a passed deadline falls
    on the lead units (``tasks/escalation/deadline_cases.py``). A window end (政策执行至…) asks
    nothing of the unit and is left out.
    """
    notes = []
    for deadline, role_label in led:
        left = (deadline.due - today).days
        if deadline.kind != "task" or statuses.get(deadline.number) == DONE:
            continue
        if left <= window_days:
            notes.append(
                DeadlineNote(deadline.number, deadline.title, role_label, deadline.due,
                             deadline.extended, abs(left), left < 0)
            )  # fmt: skip
    return notes
