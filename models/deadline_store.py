"""Measure deadlines in the database: read with their extensions, and extend one (延期).

An extension is a row of its own (``DeadlineExtension``), never an edit of the measure: the
notice's date stays, the policy file can be reloaded without losing the office's decision, and
the bulletin can say 原定…，经办公室同意延至… with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from config.errors import NotFoundError
from models import tables as t
from models.consolidation_store import LEAD_ROLES
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI
from tasks.consolidation.consolidate import (
    COUNTING,
    LOADED,
    STATUS_ORDER,
    SubmissionFact,
    UnitFact,
    counting_reports,
)
from tasks.deadlines import (
    DeadlineStanding,
    Extension,
    MeasureDeadline,
    date_with_weekday,
    least_advanced,
    standings,
)


class DeadlineError(NotFoundError):
    """An extension the office asked for that cannot be recorded (the CLI exits 2)."""


def _extensions(session: Session, policy_id: int) -> dict[str, list[Extension]]:
    rows = session.exec(
        select(t.DeadlineExtension)
        .where(t.DeadlineExtension.policy_id == policy_id)
        .order_by(col(t.DeadlineExtension.at), col(t.DeadlineExtension.id))
    ).all()
    out: dict[str, list[Extension]] = defaultdict(list)
    for row in rows:
        out[row.measure_number].append(
            Extension(row.previous_deadline, row.new_deadline, row.reason, row.by, row.at)
        )
    return out


def measure_deadlines(session: Session, policy: t.Policy) -> list[MeasureDeadline]:
    """The live measures that carry a deadline, in measure order, with their extensions."""
    assert policy.id is not None
    measures = session.exec(
        select(t.Measure)
        .where(
            t.Measure.policy_id == policy.id,
            col(t.Measure.retired_at).is_(None),
            col(t.Measure.deadline).is_not(None),
        )
        .order_by(col(t.Measure.sort_major), col(t.Measure.sort_minor))
    ).all()
    extensions = _extensions(session, policy.id)
    return [
        MeasureDeadline(
            number=m.number,
            title=m.title,
            kind="window" if m.deadline_kind == "window" else "task",
            original=m.deadline,
            phrase=m.deadline_phrase,
            extensions=tuple(extensions.get(m.number, ())),
        )
        for m in measures
        if m.deadline is not None
    ]


def extend_deadline(
    session: Session,
    policy_code: str,
    number: str,
    new_deadline: date,
    *,
    reason: str,
    by: str,
    at: datetime,
) -> tuple[MeasureDeadline, bool]:
    """Record a 延期 of measure ``number`` to ``new_deadline``; returns the measure's deadline
    after it and whether anything was added (the same extension again adds nothing)."""
    policy = get_policy(session, policy_code)
    deadlines = {d.number: d for d in measure_deadlines(session, policy)}
    current = deadlines.get(number)
    if current is None:
        known = "、".join(deadlines) or "无"
        raise DeadlineError(
            f"{policy_code} 第{number}条措施没有完成时限，无法延期（有完成时限的措施：{known}）"
        )
    if current.kind == "window":
        raise DeadlineError(
            f"第{number}条的“{current.phrase}”是政策执行期，不是工作完成时限，不能延期；"
            "如政策延续，请修改政策配置文件后重新载入"
        )
    if any(e.new_deadline == new_deadline for e in current.extensions):
        return current, False  # a rerun of the same command: recorded once
    if not reason.strip():
        raise DeadlineError("延期须用 --reason 说明理由")
    if new_deadline <= current.due:
        raise DeadlineError(
            f"新的完成时限 {date_with_weekday(new_deadline)} 须晚于现行时限 "
            f"{date_with_weekday(current.due)}"
        )
    assert policy.id is not None
    session.add(
        t.DeadlineExtension(
            policy_id=policy.id,
            measure_number=number,
            previous_deadline=current.due,
            new_deadline=new_deadline,
            reason=reason.strip(),
            by=by,
            at=at,
        )
    )
    session.flush()
    return {d.number: d for d in measure_deadlines(session, policy)}[number], True


def last_statuses(
    session: Session, policy: t.Policy, as_of: datetime
) -> dict[tuple[str, str], str | None]:
    """(unit code, measure number) → the status the unit last reported for the measure, in a
    report that counts by ``as_of`` (any cycle: the latest report wins, whatever its period).

    "Counts" is the consolidation's rule (``tasks.consolidation.consolidate.counting_reports``): a
    reviewed and rejected reply or an unverified sender's mail says nothing of a measure.
    """
    assert policy.id is not None
    rows = session.exec(
        select(t.Submission, t.Cycle.due_at, t.Unit.code)
        .join(t.Cycle, col(t.Cycle.id) == t.Submission.cycle_id)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .join(t.Unit, col(t.Unit.id) == t.Submission.unit_id)
        .where(t.Obligation.policy_id == policy.id, col(t.Submission.status).in_(LOADED))
        .where(t.Submission.received_at <= as_of)
        .order_by(col(t.Submission.cycle_id), col(t.Submission.unit_id), col(t.Submission.version))
    ).all()
    numbers = {
        measure_id: number
        for measure_id, number in session.exec(
            select(t.Measure.id, t.Measure.number).where(t.Measure.policy_id == policy.id)
        )
    }
    progress: dict[int, dict[str, tuple[str | None, float | None, dict[str, Any]]]] = defaultdict(
        dict
    )
    ids = [s.id for s, _, _ in rows if s.status in COUNTING]
    for entry in session.exec(
        select(t.ProgressEntry).where(col(t.ProgressEntry.submission_id).in_(ids))
    ):
        if entry.measure_id in numbers:
            progress[entry.submission_id][numbers[entry.measure_id]] = (entry.status, None, {})
    by_cycle: dict[tuple[int, str], list[SubmissionFact]] = defaultdict(list)
    due: dict[tuple[int, str], datetime] = {}
    for s, due_at, code in rows:
        assert s.id is not None
        by_cycle[(s.cycle_id, code)].append(
            SubmissionFact(s.id, s.version, s.status, s.received_at, s.late_working_days,
                           s.fields, progress.get(s.id, {}))
        )  # fmt: skip
        due[(s.cycle_id, code)] = due_at
    latest: list[tuple[datetime, datetime, str, SubmissionFact]] = []
    for (cycle_id, code), facts in by_cycle.items():
        _, report = counting_reports(UnitFact(code, code, "", tuple(facts)), as_of)
        if report is not None:
            latest.append((report.received_at, due[(cycle_id, code)], code, report))
    statuses: dict[tuple[str, str], str | None] = {}
    for _, _, code, report in sorted(latest, key=lambda r: (r[0], r[1])):
        for number, (status, _, _) in report.progress.items():
            statuses[(code, number)] = status  # a later report overwrites an earlier one
    return statuses


def deadline_leads(session: Session, policy: t.Policy, numbers: list[str]) -> dict[str, list[str]]:
    """Measure number → its lead units (牵头/负责) that must report, by code, in notice order.

    A collective (各乡镇人民政府) is stored as its members, so each township is a lead unit; a lead
    unit no obligation asks to report counts for nothing, as in the consolidation; a unit named
    twice (by name and through a collective) is listed once.
    """
    obliged = set(
        session.exec(
            select(t.Unit.code)
            .join(t.ObligationRecipient, col(t.ObligationRecipient.unit_id) == t.Unit.id)
            .join(t.Obligation, col(t.Obligation.id) == t.ObligationRecipient.obligation_id)
            .where(t.Obligation.policy_id == policy.id)
        )
    )
    leads: dict[str, list[str]] = defaultdict(list)
    for number, code in session.exec(
        select(t.Measure.number, t.Unit.code)
        .join(t.Responsibility, col(t.Responsibility.measure_id) == t.Measure.id)
        .join(t.Unit, col(t.Unit.id) == t.Responsibility.unit_id)
        .where(t.Measure.policy_id == policy.id, col(t.Measure.retired_at).is_(None))
        .where(col(t.Measure.number).in_(numbers), col(t.Responsibility.role).in_(LEAD_ROLES))
        .order_by(col(t.Responsibility.position))
    ):
        if code in obliged and code not in leads[number]:
            leads[number].append(code)
    return dict(leads)


def deadline_standings(
    session: Session, policy: t.Policy, as_of: datetime, window_days: int
) -> list[DeadlineStanding]:
    """Every deadline's standing at ``as_of`` (extensions granted by then), the status being the
    least advanced of what its lead units last reported (``tasks.deadlines.stand``)."""
    day = as_of.astimezone(SHANGHAI).date()
    deadlines = [
        replace(d, extensions=tuple(e for e in d.extensions if e.at <= as_of))
        for d in measure_deadlines(session, policy)
    ]
    leads = deadline_leads(session, policy, [d.number for d in deadlines])
    statuses = last_statuses(session, policy, as_of)
    lead_status = {
        d.number: least_advanced(
            [statuses.get((code, d.number)) for code in leads.get(d.number, ())], STATUS_ORDER
        )
        for d in deadlines
    }
    return standings(deadlines, lead_status, today=day, window_days=window_days)
