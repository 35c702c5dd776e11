"""Measure deadlines in the database: read with their extensions, and extend one (延期).

An extension is a row of its own (``DeadlineExtension``), never an edit of the measure: the
notice's date stays, the policy file can be reloaded without losing the office's decision, and
the bulletin can say 原定…，经办公室同意延至… with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlmodel import Session, col, select

from config.errors import NotFoundError
from models import tables as t
from models.policy_store import get_policy
from tasks.deadlines import Extension, MeasureDeadline, date_with_weekday


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
