"""The database side of escalation: what the plan needs, and cases with their events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from config.errors import NotFoundError
from models import tables as t
from models.consolidation_store import load_consolidation_input
from models.deadline_store import deadline_leads, last_statuses, measure_deadlines
from models.notice_data import SUBMITTED_STATUSES
from models.policy_store import get_policy, policy_cycles
from tasks.calendar import WorkingCalendar
from tasks.deadlines import MeasureDeadline
from tasks.escalation.cases import CaseState, Event, case_state
from tasks.escalation.deadline_cases import LeadStatus
from tasks.escalation.plan import DueCycle, proposal_key
from tasks.escalation.rules import CycleRecord, LagRules
from tasks.escalation.standing import RedUnits, monthly_standing


def lag_rules(policy: t.Policy) -> LagRules:
    """The policy's lag rules (its ``escalation`` settings less the case number prefix)."""
    rules = dict(policy.escalation)
    rules.pop("case_prefix", None)
    return LagRules(**rules)


@dataclass
class EscalationInputs:
    """What one day's escalation plan reads, and the rows its steps write against."""

    policy: t.Policy
    rules: LagRules
    due_cycles: list[DueCycle]
    cycle_rows: dict[tuple[str, str], tuple[t.Obligation, t.Cycle]]
    obligated: dict[str, list[str]]  # obligation → unit codes, directory order
    units: dict[str, t.Unit]
    reported: set[tuple[str, str, str]]  # (obligation, period, unit) with a counting report
    red_units: RedUnits
    history: dict[str, list[CycleRecord]]  # unit → its monthly records, oldest first
    cases: dict[str, CaseState]
    case_rows: dict[str, t.SupervisionCase]
    last_event: dict[str, datetime]  # per case, its latest event at any time
    proposals: set[str]  # proposal_key of every step ever proposed, at any time
    deadlines: list[MeasureDeadline] = field(default_factory=list)  # with extensions by as_of
    deadline_leads: dict[str, list[LeadStatus]] = field(default_factory=dict)  # number → leads


def load_cases(
    session: Session,
    policy: t.Policy,
    calendar: WorkingCalendar,
    clock_days: Any,
    until: datetime | None = None,
) -> tuple[dict[str, CaseState], dict[str, t.SupervisionCase]]:
    """Cases and their states; with ``until``, as they stood then (later events ignored)."""
    rows = {
        c.case_key: c
        for c in session.exec(
            select(t.SupervisionCase).where(t.SupervisionCase.policy_id == policy.id)
        )
    }
    events: dict[int, list[Event]] = defaultdict(list)
    ids = [c.id for c in rows.values()]
    for e in session.exec(
        select(t.CaseEvent).where(col(t.CaseEvent.case_id).in_(ids)).order_by(col(t.CaseEvent.id))
    ):
        if until is None or e.at <= until:
            events[e.case_id].append(Event(e.kind, e.at, e.actor, e.payload))
    states = {
        key: case_state(events[row.id or 0], calendar, clock_days)
        for key, row in rows.items()
        if events.get(row.id or 0)
    }
    return states, rows


def load_case_state(
    session: Session, row: t.SupervisionCase, calendar: WorkingCalendar, clock_days: Any
) -> CaseState:
    """One case's state from its own events (``load_cases`` reads the whole policy's)."""
    events = [
        Event(e.kind, e.at, e.actor, e.payload)
        for e in session.exec(
            select(t.CaseEvent).where(t.CaseEvent.case_id == row.id).order_by(col(t.CaseEvent.id))
        )
    ]
    return case_state(events, calendar, clock_days)


def load_escalation_inputs(
    session: Session, policy_code: str, as_of: datetime, calendar: WorkingCalendar
) -> EscalationInputs:
    """The policy's cycles, units, reports, records and cases, as they stood at ``as_of``."""
    policy = get_policy(session, policy_code)
    rules = lag_rules(policy)
    due = [(o, c) for o, c in policy_cycles(session, policy_code) if c.due_at <= as_of]
    obligated: dict[str, list[str]] = defaultdict(list)
    units: dict[str, t.Unit] = {}
    for obligation_code, unit in session.exec(
        select(t.Obligation.code, t.Unit)
        .join(t.ObligationRecipient, col(t.ObligationRecipient.obligation_id) == t.Obligation.id)
        .join(t.Unit, col(t.Unit.id) == t.ObligationRecipient.unit_id)
        .where(t.Obligation.policy_id == policy.id)
        .order_by(col(t.Unit.id))
    ):
        obligated[obligation_code].append(unit.code)
        units[unit.code] = unit
    by_id = {u.id: u.code for u in units.values()}
    cycle_by_id = {c.id: (o.code, c.period) for o, c in due}
    reported = {
        (*cycle_by_id[cycle_id], by_id[unit_id])
        for cycle_id, unit_id in session.exec(
            select(t.Submission.cycle_id, t.Submission.unit_id)
            .where(col(t.Submission.cycle_id).in_(list(cycle_by_id)))
            .where(col(t.Submission.status).in_(SUBMITTED_STATUSES))
            .where(t.Submission.received_at <= as_of)
        )
        if unit_id in by_id
    }
    # Every periodic cycle (weeks, months, quarters …) in due order: a unit's record is one
    # history across the policy's recurring reports, as the 督办 ladder counts 期 not months.
    periodic = [
        (obligation.code, cycle.period, load_consolidation_input(
            session, policy_code, period=cycle.period, obligation=obligation.code, as_of=as_of,
            yellow_points=rules.yellow_points, red_points=rules.red_points,
        ))
        for obligation, cycle in sorted(due, key=lambda row: row[1].due_at)
        if obligation.frequency != "once"
    ]  # fmt: skip
    red_units, history = monthly_standing(periodic, {u.name: u.code for u in units.values()})
    # States as they stood at as_of; rows all, so a replay of an earlier day never reopens one.
    cases, case_rows = load_cases(session, policy, calendar, rules.clock_days, as_of)
    key_of = {row.id: key for key, row in case_rows.items()}
    last_event = {
        key_of[case_id]: at
        for case_id, at in session.exec(
            select(t.CaseEvent.case_id, func.max(t.CaseEvent.at))
            .where(col(t.CaseEvent.case_id).in_(list(key_of)))
            .group_by(col(t.CaseEvent.case_id))
        )
    }
    proposals = {
        proposal_key(key_of[case_id], str((payload or {}).get("step", "")))
        for case_id, payload in session.exec(
            select(t.CaseEvent.case_id, t.CaseEvent.payload)
            .where(col(t.CaseEvent.case_id).in_(list(key_of)))
            .where(t.CaseEvent.kind == "proposed")
        )
    }
    deadlines, deadline_leads = _deadline_inputs(session, policy, as_of, due, obligated)
    return EscalationInputs(
        policy=policy,
        rules=rules,
        due_cycles=[
            DueCycle(o.code, o.name, c.period, c.period_label, c.due_date, c.due_at)
            for o, c in sorted(due, key=lambda r: r[1].due_at)
        ],
        cycle_rows={(o.code, c.period): (o, c) for o, c in due},
        obligated=dict(obligated),
        units=units,
        reported=reported,
        red_units=red_units,
        history=history,
        cases=cases,
        case_rows=case_rows,
        last_event=last_event,
        proposals=proposals,
        deadlines=deadlines,
        deadline_leads=deadline_leads,
    )


def _deadline_inputs(
    session: Session,
    policy: t.Policy,
    as_of: datetime,
    due: list[tuple[t.Obligation, t.Cycle]],
    obligated: dict[str, list[str]],
) -> tuple[list[MeasureDeadline], dict[str, list[LeadStatus]]]:
    """The task deadlines as they stood at ``as_of`` (extensions granted by then), and each
    one's lead units obliged to report, with what they last reported and the cycle a 督办单
    to them is framed in (their latest monthly report due, else any)."""
    deadlines = [
        replace(d, extensions=tuple(e for e in d.extensions if e.at <= as_of))
        for d in measure_deadlines(session, policy)
        if d.kind == "task"
    ]
    if not deadlines:
        return [], {}
    frames: dict[str, tuple[str, str]] = {}
    # Monthly cycles last, so that a unit's frame is its latest monthly report where it has one.
    for obligation, cycle in sorted(due, key=lambda r: (r[0].frequency == "monthly", r[1].due_at)):
        for code in obligated.get(obligation.code, ()):
            frames[code] = (obligation.code, cycle.period)
    statuses = last_statuses(session, policy, as_of)
    leads = deadline_leads(session, policy, [d.number for d in deadlines])
    return deadlines, {
        number: [LeadStatus(code, statuses.get((code, number)), frames.get(code)) for code in codes]
        for number, codes in leads.items()
    }


def add_event(
    session: Session, case: t.SupervisionCase, kind: str, at: datetime, actor: str, **payload: Any
) -> None:
    assert case.id is not None
    session.add(t.CaseEvent(case_id=case.id, kind=kind, at=at, actor=actor, payload=payload))


def next_case_number(session: Session, policy: t.Policy, prefix: str, year: int) -> str:
    """陵专督〔2023〕3号: numbered per policy and year, in the order cases open."""
    count = sum(
        1
        for opened in session.exec(
            select(t.SupervisionCase.opened_at).where(t.SupervisionCase.policy_id == policy.id)
        )
        if opened.year == year
    )
    return f"{prefix}〔{year}〕{count + 1}号"


def find_case(session: Session, case_id: int) -> tuple[t.SupervisionCase, t.Policy]:
    row = session.exec(
        select(t.SupervisionCase, t.Policy)
        .join(t.Policy, col(t.Policy.id) == t.SupervisionCase.policy_id)
        .where(t.SupervisionCase.id == case_id)
    ).first()
    if row is None:
        raise NotFoundError(f"没有编号为 {case_id} 的督办事项")
    return row[0], row[1]
