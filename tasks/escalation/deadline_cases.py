"""督办 on measure deadlines, as a pure plan: which lead units get a case, and which cases close.

A measure's **task** deadline (``tasks/deadlines.py``; after the office's extensions) that has
passed while a lead unit (牵头/负责, obliged to report) has not reported 已完成 opens a 督办
case on that unit, with the same 13710 clocks and approval as a red target. The case is the
deadline's: its key carries the date that counts, so an extension followed by a later passing of
the new date opens a new case, and a replay of the same day finds the old one. Like every
督办单 it opens on a working day only: a deadline on 2022-12-31 (元旦) waits for 2023-01-03.

The case resolves when the unit reports 已完成, or when the office extends the deadline (the
case's date is no longer the one that counts). A **window** end (政策执行至…) never opens one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from tasks.deadlines import DONE, MeasureDeadline, date_with_weekday
from tasks.escalation.actions import OpenCase, ResolveCase
from tasks.escalation.cases import CaseState

CASE_KIND = "deadline"


@dataclass(frozen=True)
class LeadStatus:
    """One lead unit of a measure, and what it last reported for it (None: nothing yet)."""

    unit: str  # unit code
    status: str | None
    frame: tuple[str, str] | None  # (obligation, period) a 督办单 to it is framed in


def deadline_case_key(policy: str, number: str, due: date, unit: str) -> str:
    """policy/measure-12/2023-06-30/wlj/deadline: the shape the stores split (unit 4th, kind
    last), with the measure and its deadline where a cycle case has its obligation and period."""
    return f"{policy}/measure-{number}/{due.isoformat()}/{unit}/{CASE_KIND}"


def parse_deadline_key(key: str) -> tuple[str, date] | None:
    """(measure number, deadline) of a deadline case's key; None for any other case."""
    parts = key.split("/")
    if len(parts) != 5 or parts[4] != CASE_KIND or not parts[1].startswith("measure-"):
        return None
    return parts[1].removeprefix("measure-"), date.fromisoformat(parts[2])


def measure_label(deadline: MeasureDeadline) -> str:
    """第12条措施“着力扩大文旅消费”."""
    return f"第{deadline.number}条措施“{deadline.title}”"


def case_reason(deadline: MeasureDeadline, status: str | None, today: date) -> str:
    """The 督办事由: the measure, the deadline with its weekday, and the status reported."""
    reported = f"报送进展为“{status}”" if status else "未报送该措施进展"
    extended = "（延期后）" if deadline.extended else ""
    return (
        f"{measure_label(deadline)}完成时限{extended}{date_with_weekday(deadline.due)}已过，"
        f"截至{today.month}月{today.day}日{reported}"
    )


def plan_deadline_cases(
    policy: str,
    deadlines: Sequence[MeasureDeadline],
    leads: Mapping[str, Sequence[LeadStatus]],  # measure number → its lead units
    cases: Mapping[str, CaseState],
    *,
    today: date,
    working: bool,
) -> list[OpenCase | ResolveCase]:
    """Cases to open on passed task deadlines, and deadline cases to resolve, measure by measure."""
    actions: list[OpenCase | ResolveCase] = []
    current = {d.number: d for d in deadlines if d.kind == "task"}
    for deadline in current.values():
        for lead in leads.get(deadline.number, ()):
            key = deadline_case_key(policy, deadline.number, deadline.due, lead.unit)
            state = cases.get(key)
            if lead.status == DONE:
                if state is not None and state.status not in ("resolved", "closed"):
                    actions.append(
                        ResolveCase(key, f"已报送{measure_label(deadline)}进展为“{DONE}”")
                    )
                continue
            if state is None and working and today > deadline.due and lead.frame is not None:
                obligation, period = lead.frame
                actions.append(
                    OpenCase(key, lead.unit, obligation, period,
                             case_reason(deadline, lead.status, today))
                )  # fmt: skip
    # A case on a date that no longer counts: the office extended the deadline.
    for key, state in sorted(cases.items()):
        parsed = parse_deadline_key(key)
        if parsed is None or state.status in ("resolved", "closed"):
            continue
        number, due = parsed
        moved = current.get(number)
        if moved is not None and moved.due != due:
            extension = moved.extensions[-1]
            actions.append(
                ResolveCase(
                    key,
                    f"办公室已将{measure_label(moved)}完成时限延至"
                    f"{date_with_weekday(moved.due)}（理由：{extension.reason}）",
                )
            )
    return actions
