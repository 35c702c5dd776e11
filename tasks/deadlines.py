"""Measure deadlines: the date that applies after the office's extensions, and how it stands.

A measure's deadline comes from the notice (``deadline``, ``deadline_phrase``) and is of one of
two kinds. A **task** deadline is when the work must be done: past it without 已完成 from the
lead units the measure is red (逾期未完成) and a 督办 case opens; within the window before it
(``deadline_window_days``, 30 by default) and not 已完成 it is yellow (临期). A **window** end
is the last day a policy applies (政策执行至2023年4月30日): readers are told, no light turns.

The office may extend a task deadline (延期), with a reason; the latest extension is the date
that counts, the notice's date stays on record. Days are natural days: 4月30日 is the deadline
even when it falls on a holiday, and the work done on it is in time (the 督办 waits for the
next working day, as every notice does).

Pure functions over plain data; ``models/deadline_store.py`` reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

DeadlineKind = Literal["task", "window"]
DeadlineState = Literal["overdue", "due_soon", "upcoming", "done", "window_open", "window_ended"]
DONE = "已完成"
STATE_LABELS: dict[DeadlineState, str] = {
    "overdue": "逾期未完成",
    "due_soon": "临期",
    "upcoming": "未到期",
    "done": "已完成",
    "window_open": "政策执行期内",
    "window_ended": "政策执行期已结束",
}
WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass(frozen=True)
class Extension:
    """One 延期 the office granted: the measure's deadline becomes ``new_deadline``."""

    previous_deadline: date
    new_deadline: date
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class MeasureDeadline:
    number: str
    title: str
    kind: DeadlineKind
    original: date  # the notice's date
    phrase: str  # the notice's words: 2023年6月前、政策执行至2023年4月30日
    extensions: tuple[Extension, ...] = ()  # in the order granted

    @property
    def due(self) -> date:
        """The date that counts: the latest extension's, else the notice's."""
        return self.extensions[-1].new_deadline if self.extensions else self.original

    @property
    def extended(self) -> bool:
        return bool(self.extensions)


@dataclass(frozen=True)
class DeadlineStanding:
    """A deadline on a given day, with the status the lead units reported."""

    deadline: MeasureDeadline
    state: DeadlineState
    days: int  # natural days: left until the deadline, or past it (overdue, window_ended)
    status: str | None  # least advanced status of the lead units, None when none reported

    @property
    def light(self) -> Literal["red", "yellow"] | None:
        """The light the deadline itself gives the measure; a window end gives none."""
        return {"overdue": "red", "due_soon": "yellow"}.get(self.state)  # type: ignore[return-value]

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def days_text(self) -> str:
        """剩5天 / 今日到期 / 逾期3天 / 已结束2天, as the bulletin's column reads."""
        if self.state in ("overdue", "window_ended"):
            return f"逾期{self.days}天" if self.state == "overdue" else f"已结束{self.days}天"
        if self.state == "done":
            return "—"
        return "今日到期" if self.days == 0 else f"剩{self.days}天"


def stand(
    deadline: MeasureDeadline, *, today: date, lead_status: str | None, window_days: int
) -> DeadlineStanding:
    """How ``deadline`` stands on ``today``, given the least advanced lead-unit status."""
    left = (deadline.due - today).days
    if deadline.kind == "window":
        state: DeadlineState = "window_open" if left >= 0 else "window_ended"
    elif lead_status == DONE:
        state = "done"
    elif left < 0:
        state = "overdue"
    elif left <= window_days:
        state = "due_soon"
    else:
        state = "upcoming"
    return DeadlineStanding(deadline, state, abs(left), lead_status)


def worth_listing(standing: DeadlineStanding, window_days: int) -> bool:
    """What the 临期和逾期事项 table shows: task deadlines overdue or near, and policy windows that
    end within the window ahead (the office tells the units the support stops)."""
    if standing.state in ("overdue", "due_soon"):
        return True
    return standing.state == "window_open" and standing.days <= window_days


def standings(
    deadlines: Iterable[MeasureDeadline],
    lead_status: dict[str, str | None],
    *,
    today: date,
    window_days: int,
) -> list[DeadlineStanding]:
    """Every deadline's standing, in measure order as given."""
    return [
        stand(d, today=today, lead_status=lead_status.get(d.number), window_days=window_days)
        for d in deadlines
    ]


def date_with_weekday(day: date) -> str:
    """2023年6月30日（星期五）."""
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def least_advanced(statuses: Sequence[str | None], order: Sequence[str]) -> str | None:
    """The least advanced of the reported statuses (``order`` lists least advanced first);
    None when no unit reported one."""
    known = [s for s in statuses if s in order]
    return min(known, key=order.index) if known else None
