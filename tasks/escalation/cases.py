"""A 督办 case's state, computed from its events only, so lists, bulletin and CLI always agree.

Events, in order of time (``kind`` and its ``payload``):

- ``opened`` {reason, number}: the 督办单 is issued; the 13710 clocks start that day;
- ``feedback`` {note}: the unit reported progress (the 3-day clock is met);
- ``resolved`` {note}: what the case was about is done (a missing report arrived): the clocks
  stop, the case waits for the office to close it (销号);
- ``extended`` {days, reason}: 延期, every open clock moves by ``days``;
- ``proposed`` {step: supervision | interview, reason}: the flow proposes 报县政府督查 or 约谈;
  nothing happens until a person decides;
- ``approved`` / ``rejected`` {step, by, note}: the office's decision on the proposal;
- ``closed`` {by, note}: 销号清零.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.escalation.rules import Clock, DayKind, clocks_13710

CaseStatus = Literal["open", "resolved", "awaiting_approval", "escalated", "closed"]
STATUS_LABELS = {
    "open": "督办中",
    "resolved": "已办结待销号",
    "awaiting_approval": "待办公室审批",
    "escalated": "已升级",
    "closed": "已销号",
}
STEP_LABELS = {"supervision": "报县政府督查", "interview": "约谈"}


@dataclass(frozen=True)
class Event:
    kind: str
    at: datetime
    actor: str = ""
    payload: Mapping[str, Any] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return (self.payload or {}).get(key, default)


@dataclass(frozen=True)
class CaseState:
    status: CaseStatus
    opened: date  # local day the case was opened
    extension_days: int
    clocks: tuple[Clock, ...]
    feedback: bool
    pending_step: str  # the proposal waiting for a decision, "" when none
    approved_steps: tuple[str, ...]  # supervision / interview, as approved
    rejected_steps: tuple[str, ...]
    history: tuple[Event, ...]

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    def overdue_clocks(self, today: date) -> tuple[Clock, ...]:
        """The clocks past their deadline while the case is still open."""
        if self.status in ("resolved", "closed"):
            return ()
        return tuple(
            c
            for c in self.clocks
            if c.deadline is not None
            and c.deadline < today
            and not (c.code == "feedback" and self.feedback)
            and c.code != "deploy"
        )


def case_state(
    events: Sequence[Event], calendar: WorkingCalendar, clock_days: DayKind = "working"
) -> CaseState:
    """Fold a case's events (any order: they are sorted by time, stably) into its state."""
    ordered = sorted(events, key=lambda e: e.at)
    if not ordered or ordered[0].kind != "opened":
        raise ValueError("a case's first event must be 'opened'")
    opened = ordered[0].at.astimezone(SHANGHAI).date()
    status: CaseStatus = "open"
    extension = 0
    feedback = False
    pending = ""
    approved: list[str] = []
    rejected: list[str] = []
    for event in ordered[1:]:
        if status == "closed":
            break  # nothing changes a closed case
        if event.kind == "feedback":
            feedback = True
        elif event.kind == "resolved":
            feedback = True
            status = "resolved"
        elif event.kind == "extended":
            extension += int(event.get("days", 0))
        elif event.kind == "proposed" and not pending and status != "resolved":
            pending = str(event.get("step", ""))
            status = "awaiting_approval"
        elif event.kind in ("approved", "rejected") and pending:
            (approved if event.kind == "approved" else rejected).append(pending)
            pending = ""
            status = "escalated" if approved else "open"
        elif event.kind == "closed":
            status = "closed"
    return CaseState(
        status=status,
        opened=opened,
        extension_days=extension,
        clocks=clocks_13710(opened, calendar, clock_days, extension),
        feedback=feedback,
        pending_step=pending,
        approved_steps=tuple(approved),
        rejected_steps=tuple(rejected),
        history=tuple(ordered),
    )
