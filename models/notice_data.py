"""One read of everything a reminder run needs for a policy: cycles, recipients, measures."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from models import tables as t
from models.consolidation_store import LEAD_ROLES
from models.deadline_store import last_statuses, measure_deadlines
from models.policy_store import get_policy, policy_cycles
from tasks.deadlines import MeasureDeadline

ROLE_LABELS = {"lead": "牵头", "support": "配合", "responsible": "负责"}
# A unit that sent one of these has reported for the cycle (unstructured replies count for
# timeliness; the office reviews them later).
SUBMITTED_STATUSES = ("accepted", "unstructured")


@dataclass
class NoticeData:
    policy: t.Policy
    cycles: list[tuple[t.Obligation, t.Cycle]]
    recipients: dict[str, list[t.Unit]]  # obligation code → units, directory order
    measures_by_unit: dict[int, list[dict[str, Any]]]
    submitted: set[tuple[int, int]]  # (cycle id, unit id) with a submission that counts


def load_notice_data(session: Session, policy_code: str, frequency: str | None) -> NoticeData:
    """Read a policy's live cycles (of one frequency, if given) and who must report."""
    policy = get_policy(session, policy_code)
    cycles = [
        (o, c)
        for o, c in policy_cycles(session, policy_code)
        if frequency is None or o.frequency == frequency
    ]
    obligation_ids = {o.id for o, _ in cycles}
    recipients: dict[str, list[t.Unit]] = defaultdict(list)
    codes = {o.id: o.code for o, _ in cycles}
    for rec, unit in session.exec(
        select(t.ObligationRecipient, t.Unit)
        .join(t.Unit, col(t.Unit.id) == t.ObligationRecipient.unit_id)
        .where(col(t.ObligationRecipient.obligation_id).in_(obligation_ids))
        .order_by(col(t.Unit.id))
    ):
        recipients[codes[rec.obligation_id]].append(unit)

    targets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    measure_rows = session.exec(
        select(t.Responsibility, t.Measure)
        .join(t.Measure, col(t.Measure.id) == t.Responsibility.measure_id)
        .where(t.Measure.policy_id == policy.id, col(t.Measure.retired_at).is_(None))
        .order_by(col(t.Measure.sort_major), col(t.Measure.sort_minor))
    ).all()
    measure_ids = {m.id for _, m in measure_rows}
    for target in session.exec(
        select(t.Target)
        .where(col(t.Target.measure_id).in_(measure_ids), col(t.Target.retired_at).is_(None))
        .order_by(col(t.Target.measure_id), col(t.Target.position))
    ):
        targets[target.measure_id].append(
            {
                "metric": target.metric,
                "value": target.value,
                "unit": target.unit_of_measure,
                "due": target.due,
                "due_phrase": target.due_phrase,
            }
        )
    measures_by_unit: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for resp, measure in measure_rows:
        assert measure.id is not None
        measures_by_unit[resp.unit_id].append(
            {
                "number": measure.number,
                "title": measure.title,
                "role": resp.role,
                "role_label": ROLE_LABELS[resp.role],
                "targets": targets[measure.id],
            }
        )

    cycle_ids = [c.id for _, c in cycles]
    submitted = {
        (cycle_id, unit_id)
        for cycle_id, unit_id in session.exec(
            select(t.Submission.cycle_id, t.Submission.unit_id).where(
                col(t.Submission.cycle_id).in_(cycle_ids),
                col(t.Submission.status).in_(SUBMITTED_STATUSES),
            )
        )
    }
    return NoticeData(policy, cycles, dict(recipients), dict(measures_by_unit), submitted)


def led_deadlines(
    session: Session, policy: t.Policy, as_of: datetime
) -> tuple[dict[int, list[tuple[MeasureDeadline, str]]], dict[tuple[str, str], str | None]]:
    """Per unit id, the dated measures it leads (牵头/负责) with its role label, extensions
    granted by ``as_of``; and what each unit last reported per measure (unit code, number)."""
    deadlines = {
        d.number: replace(d, extensions=tuple(e for e in d.extensions if e.at <= as_of))
        for d in measure_deadlines(session, policy)
    }
    led: dict[int, list[tuple[MeasureDeadline, str]]] = defaultdict(list)
    if not deadlines:
        return {}, {}
    for unit_id, number, role in session.exec(
        select(t.Responsibility.unit_id, t.Measure.number, t.Responsibility.role)
        .join(t.Measure, col(t.Measure.id) == t.Responsibility.measure_id)
        .where(t.Measure.policy_id == policy.id, col(t.Measure.retired_at).is_(None))
        .where(col(t.Measure.number).in_(list(deadlines)))
        .where(col(t.Responsibility.role).in_(LEAD_ROLES))
        .order_by(col(t.Measure.sort_major), col(t.Measure.sort_minor))
    ):
        if all(d.number != number for d, _ in led[unit_id]):
            led[unit_id].append((deadlines[number], ROLE_LABELS[role]))
    return dict(led), last_statuses(session, policy, as_of)
