"""The database side of intake: claiming raw items, the office's knowledge, versioned submissions.

``claim_item`` is the one guard against taking a message in twice: the raw bytes' sha256 is
unique, the insert does nothing on conflict, and only the run whose insert created the row goes
on to process it — on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import tables as t
from models.issued_forms import issued_digests
from models.notice_data import SUBMITTED_STATUSES
from models.policy_store import get_policy
from tasks.intake.decide import CycleInfo, Draft, IntakeContext, UnitInfo, notice_ref

NOTICE_KINDS = ("opening", "reminder", "last_day", "overdue")
# A cycle with one of these already has the unit's reply: its next reply without our form is
# filed under the next open cycle. An unverified reply takes its cycle too, though it does not
# count as reported (the demo's bureau answers two once-off reports in two plain mails).
REPLIED = (*SUBMITTED_STATUSES, "unverified")
# Reads of the latest version before giving up (each retry: another run took the version).
VERSION_ATTEMPTS = 5


def claim_item(session: Session, values: dict[str, Any]) -> int | None:
    """Insert an InboundItem unless its raw_sha256 exists; the new id, or None for a duplicate."""
    return claim_items(session, [values])[0]


def claim_items(session: Session, rows: list[dict[str, Any]]) -> list[int | None]:
    """``claim_item`` for several rows in one statement: per row its new id, or None for a
    duplicate (of an earlier row or of one already stored)."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    table = t.InboundItem.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        stmt: Any = pg_insert(table).on_conflict_do_nothing(index_elements=["raw_sha256"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["raw_sha256"])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(table)
    result = session.execute(stmt.values(rows).returning(table.c.id, table.c.raw_sha256))
    ids = {sha: int(row_id) for row_id, sha in result}
    claimed: list[int | None] = []
    for row in rows:  # a message twice in the batch: its first copy is the one claimed
        claimed.append(ids.pop(row["raw_sha256"], None))
    return claimed


@dataclass
class PolicyIntake:
    """An IntakeContext plus the ids and rows recording needs."""

    context: IntakeContext
    policy: t.Policy
    obligations: dict[str, t.Obligation]
    cycles: dict[tuple[str, str], t.Cycle]
    units: dict[str, t.Unit]
    measure_ids: dict[str, int]
    submitted: set[tuple[str, str, str]] = field(default_factory=set)


def _live_cycles(
    session: Session, policy: t.Policy
) -> tuple[dict[str, t.Obligation], dict[tuple[str, str], t.Cycle]]:
    """The policy's live obligations by code, and their live cycles by (obligation, period)."""
    obligations = {
        o.code: o
        for o in session.exec(
            select(t.Obligation).where(
                t.Obligation.policy_id == policy.id, col(t.Obligation.retired_at).is_(None)
            )
        )
    }
    by_id = {o.id: o for o in obligations.values()}
    cycles = {
        (by_id[c.obligation_id].code, c.period): c
        for c in session.exec(
            select(t.Cycle).where(
                col(t.Cycle.obligation_id).in_(list(by_id)), col(t.Cycle.retired_at).is_(None)
            )
        )
    }
    return obligations, cycles


def _measures_of_units(session: Session, policy: t.Policy) -> dict[str, set[str]]:
    """Unit code → the numbers of the live measures it is named for."""
    measure_rows = session.exec(
        select(t.Measure.id, t.Measure.number, t.Unit.code)
        .join(t.Responsibility, col(t.Responsibility.measure_id) == t.Measure.id)
        .join(t.Unit, col(t.Unit.id) == t.Responsibility.unit_id)
        .where(t.Measure.policy_id == policy.id, col(t.Measure.retired_at).is_(None))
    ).all()
    measures_of: dict[str, set[str]] = {}
    for _, number, code in measure_rows:
        measures_of.setdefault(code, set()).add(number)
    return measures_of


def _notices(
    session: Session,
    policy: t.Policy,
    cycle_by_id: dict[int | None, tuple[str, str]],
    unit_by_id: dict[int | None, t.Unit],
) -> dict[str, tuple[str, str, str]]:
    """The Message-ID local part of each notice sent → (obligation, period, unit code)."""
    notices: dict[str, tuple[str, str, str]] = {}
    for key, cycle_id, unit_id in session.exec(
        select(t.Notification.idempotency_key, t.Notification.cycle_id, t.Notification.unit_id)
        .where(t.Notification.policy_id == policy.id)
        .where(col(t.Notification.kind).in_(NOTICE_KINDS))
    ):
        if cycle_id in cycle_by_id and unit_id in unit_by_id:
            obligation, period = cycle_by_id[cycle_id]
            notices[notice_ref(key)] = (obligation, period, unit_by_id[unit_id].code)
    return notices


def _submitted(
    session: Session,
    cycle_by_id: dict[int | None, tuple[str, str]],
    unit_by_id: dict[int | None, t.Unit],
) -> set[tuple[str, str, str]]:
    """(obligation, period, unit code) of every report already received."""
    submitted: set[tuple[str, str, str]] = set()
    for cycle_id, unit_id in session.exec(
        select(t.Submission.cycle_id, t.Submission.unit_id)
        .where(col(t.Submission.cycle_id).in_(list(cycle_by_id)))
        .where(col(t.Submission.status).in_(REPLIED))
    ):
        if unit_id in unit_by_id:
            submitted.add((*cycle_by_id[cycle_id], unit_by_id[unit_id].code))
    return submitted


def _context(
    policy: t.Policy,
    units: dict[str, t.Unit],
    measures_of: dict[str, set[str]],
    cycles: dict[tuple[str, str], t.Cycle],
    unit_cycles: dict[str, list[tuple[str, str]]],
    notices: dict[str, tuple[str, str, str]],
    submitted: set[tuple[str, str, str]],
    issued: frozenset[str],
) -> IntakeContext:
    """What ``decide`` knows of the policy, from its rows."""
    return IntakeContext(
        policy_code=policy.code,
        units={
            code: UnitInfo(
                code=code,
                name=unit.name,
                mailboxes=frozenset(m.lower() for m in unit.mailboxes),
                measures=frozenset(measures_of.get(code, ())),
            )
            for code, unit in units.items()
        },
        unit_by_mailbox={m.lower(): u.code for u in units.values() for m in u.mailboxes},
        cycles={
            key: CycleInfo(key[0], key[1], c.opens, c.due_date, c.due_at)
            for key, c in cycles.items()
        },
        unit_cycles={code: tuple(keys) for code, keys in unit_cycles.items()},
        notices=notices,
        submitted=submitted,
        issued=issued,
    )


def load_policy_intake(session: Session, policy_code: str) -> PolicyIntake:
    """What intake needs of a loaded policy: the office's knowledge and the rows to record on."""
    policy = get_policy(session, policy_code)
    obligations, cycles = _live_cycles(session, policy)
    by_id = {o.id: o for o in obligations.values()}
    recipient_rows = session.exec(
        select(t.ObligationRecipient.obligation_id, t.Unit)
        .join(t.Unit, col(t.Unit.id) == t.ObligationRecipient.unit_id)
        .where(col(t.ObligationRecipient.obligation_id).in_(list(by_id)))
    ).all()
    units = {unit.code: unit for _, unit in recipient_rows}
    measures_of = _measures_of_units(session, policy)
    measure_ids = {
        number: mid
        for mid, number in session.exec(
            select(t.Measure.id, t.Measure.number).where(t.Measure.policy_id == policy.id)
        )
        if mid is not None
    }
    unit_cycles: dict[str, list[tuple[str, str]]] = {}
    for obligation_id, unit in recipient_rows:
        code = by_id[obligation_id].code
        unit_cycles.setdefault(unit.code, []).extend(k for k in cycles if k[0] == code)
    unit_by_id = {u.id: u for u in units.values()}
    cycle_by_id = {c.id: key for key, c in cycles.items()}
    notices = _notices(session, policy, cycle_by_id, unit_by_id)
    submitted = _submitted(session, cycle_by_id, unit_by_id)
    assert policy.id is not None
    issued = issued_digests(session, policy.id)
    context = _context(policy, units, measures_of, cycles, unit_cycles, notices, submitted, issued)
    return PolicyIntake(context, policy, obligations, cycles, units, measure_ids, submitted)


def record_draft(
    session: Session,
    intake: PolicyIntake,
    draft: Draft,
    *,
    inbound_id: int | None,
    channel: str,
    received_at: datetime,
    late_working_days: int,
    raw_sha256: str | None,
    now: datetime,
) -> t.Submission:
    """Add the next version of (cycle, unit): superseding the latest, never changing it.

    Two runs can take in two reports of one unit at once: on PostgreSQL both read the same
    latest version and write the same next one, and the unit's unique key refuses the second
    once the first commits. That one reads again and takes the version after (in a savepoint,
    so the run's other records stand); SQLite, one writer at a time, never gets there."""
    cycle = intake.cycles[(draft.obligation, draft.period)]
    unit = intake.units[draft.unit_code]
    assert cycle.id is not None and unit.id is not None
    for attempt in range(1, VERSION_ATTEMPTS + 1):
        latest = session.exec(
            select(t.Submission)
            .where(t.Submission.cycle_id == cycle.id, t.Submission.unit_id == unit.id)
            .order_by(col(t.Submission.version).desc())
            .limit(1)
        ).first()
        submission = t.Submission(
            cycle_id=cycle.id,
            unit_id=unit.id,
            version=1 if latest is None else latest.version + 1,
            supersedes_id=None if latest is None else latest.id,
            inbound_id=inbound_id,
            status=draft.status,
            channel=channel,
            received_at=received_at,
            late_working_days=late_working_days,
            attachment=draft.attachment,
            raw_sha256=raw_sha256,
            fields=draft.fields,
            errors=[{"sheet": e.sheet, "cell": e.cell, "problem": e.problem} for e in draft.errors],
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(submission)
                session.flush()
            break
        except IntegrityError:
            if attempt == VERSION_ATTEMPTS:
                raise
    assert submission.id is not None
    entries = [
        {
            "submission_id": submission.id,
            "measure_id": measure_id,
            "status": report.status,
            "value_reached": report.value_reached,
            "fields": report.fields,
        }
        for report in draft.measures
        # None: validation already reported a measure the policy does not have
        if (measure_id := intake.measure_ids.get(report.number)) is not None
    ]
    if entries:  # one statement, no ORM objects: intake writes thousands at a deadline
        session.execute(insert(t.ProgressEntry), entries)
    if draft.status in REPLIED:
        intake.submitted.add((draft.obligation, draft.period, draft.unit_code))
    return submission


def latest_submissions(
    session: Session, policy_code: str, period: str | None = None
) -> list[tuple[t.Submission, t.Unit, t.Cycle, t.Obligation]]:
    """The latest version of each (cycle, unit) of a policy, optionally for one period."""
    policy = get_policy(session, policy_code)
    newest = (
        select(
            t.Submission.cycle_id, t.Submission.unit_id, func.max(t.Submission.version).label("v")
        )
        .group_by(col(t.Submission.cycle_id), col(t.Submission.unit_id))
        .subquery()
    )
    query = (
        select(t.Submission, t.Unit, t.Cycle, t.Obligation)
        .join(
            newest,
            (newest.c.cycle_id == t.Submission.cycle_id)
            & (newest.c.unit_id == t.Submission.unit_id)
            & (newest.c.v == t.Submission.version),
        )
        .join(t.Unit, col(t.Unit.id) == t.Submission.unit_id)
        .join(t.Cycle, col(t.Cycle.id) == t.Submission.cycle_id)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .where(t.Obligation.policy_id == policy.id)
    )
    if period:
        query = query.where(t.Cycle.period == period)
    rows = session.exec(query).all()
    return sorted(rows, key=lambda r: (r[2].due_date, r[3].code, r[1].code))
