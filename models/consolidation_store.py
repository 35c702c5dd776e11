"""Reading a cycle's facts for consolidation, and recording the outputs' versions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from config.errors import NotFoundError
from models import tables as t
from models.policy_store import get_policy
from tasks.consolidation.consolidate import (
    COUNTING,
    LOADED,
    ConsolidationInput,
    GroupFact,
    LedgerFact,
    MeasureFact,
    PreviousCycle,
    SubmissionFact,
    TargetFact,
    UnitFact,
    as_previous,
    consolidate,
)
from tasks.cycles import is_periodic
from tasks.deadlines import Extension, MeasureDeadline

LEAD_ROLES = ("lead", "responsible")


def extensions_by_policy(
    session: Session, policy_ids: list[int]
) -> dict[int, dict[str, list[Extension]]]:
    """The office's 延期 of the policies' measures in one query: policy id → measure number →
    in the order granted (as ``models.deadline_store`` reads them for one policy)."""
    out: dict[int, dict[str, list[Extension]]] = defaultdict(lambda: defaultdict(list))
    for row in session.exec(
        select(t.DeadlineExtension)
        .where(col(t.DeadlineExtension.policy_id).in_(policy_ids))
        .order_by(col(t.DeadlineExtension.at), col(t.DeadlineExtension.id))
    ):
        out[row.policy_id][row.measure_number].append(
            Extension(row.previous_deadline, row.new_deadline, row.reason, row.by, row.at)
        )
    return out


def deadline_of(
    number: str,
    title: str,
    deadline: date | None,
    phrase: str,
    kind: str,
    extensions: dict[str, list[Extension]],
) -> MeasureDeadline | None:
    """A measure row's deadline with its extensions; None for a measure the notice does not date."""
    if deadline is None:
        return None
    return MeasureDeadline(
        number=number,
        title=title,
        kind="window" if kind == "window" else "task",
        original=deadline,
        phrase=phrase,
        extensions=tuple(extensions.get(number, ())),
    )


def pick_cycle(
    session: Session, policy: t.Policy, period: str | None, obligation: str | None, as_of: datetime
) -> tuple[t.Obligation, t.Cycle]:
    """The cycle to consolidate: the named one, else the periodic (monthly, quarterly, weekly …)
    cycle due most recently."""
    rows = session.exec(
        select(t.Obligation, t.Cycle)
        .join(t.Cycle, col(t.Cycle.obligation_id) == t.Obligation.id)
        .where(t.Obligation.policy_id == policy.id, col(t.Cycle.retired_at).is_(None))
        .where(col(t.Obligation.retired_at).is_(None))
    ).all()
    return choose_cycle(policy.code, list(rows), period, obligation, as_of)


def choose_cycle(
    policy_code: str,
    rows: list[tuple[t.Obligation, t.Cycle]],
    period: str | None,
    obligation: str | None,
    as_of: datetime,
) -> tuple[t.Obligation, t.Cycle]:
    """``pick_cycle``'s choice among a policy's (obligation, cycle) rows already read."""
    if obligation:
        rows = [r for r in rows if r[0].code == obligation]
    elif period is None or any(is_periodic(r[0].frequency) and r[1].period == period for r in rows):
        rows = [r for r in rows if is_periodic(r[0].frequency)]
    if period:
        chosen = [r for r in rows if r[1].period == period]
        if not chosen:
            known = "、".join(sorted({r[1].period for r in rows})) or "无"
            raise NotFoundError(f"政策 {policy_code} 没有 {period} 报告期（可选：{known}）")
        return chosen[0]
    due = sorted((r for r in rows if r[1].due_at <= as_of), key=lambda r: r[1].due_at)
    if not due:
        raise NotFoundError(f"截至 {as_of:%Y-%m-%d %H:%M}，政策 {policy_code} 还没有到期的报告期")
    return due[-1]


def _submission_facts(
    session: Session, cycle_id: int, unit_ids: list[int], measure_numbers: dict[int, str]
) -> dict[int, list[SubmissionFact]]:
    submissions = session.exec(
        select(t.Submission)
        .where(t.Submission.cycle_id == cycle_id, col(t.Submission.unit_id).in_(unit_ids))
        .where(col(t.Submission.status).in_(LOADED))
        .order_by(col(t.Submission.unit_id), col(t.Submission.version))
    ).all()
    progress: dict[int, dict[str, tuple[str | None, float | None, dict[str, Any]]]] = defaultdict(
        dict
    )
    ids = [s.id for s in submissions if s.status in COUNTING]
    for entry in session.exec(
        select(t.ProgressEntry).where(col(t.ProgressEntry.submission_id).in_(ids))
    ):
        number = measure_numbers.get(entry.measure_id)
        if number is not None:
            progress[entry.submission_id][number] = (
                entry.status,
                entry.value_reached,
                entry.fields,
            )
    facts: dict[int, list[SubmissionFact]] = defaultdict(list)
    for s in submissions:
        assert s.id is not None
        facts[s.unit_id].append(
            SubmissionFact(
                s.id,
                s.version,
                s.status,
                s.received_at,
                s.late_working_days,
                s.fields,
                progress.get(s.id, {}),
            )
        )
    return facts


def _live_measures(session: Session, policy: t.Policy) -> Sequence[t.Measure]:
    """The policy's live measures, in notice order."""
    return session.exec(
        select(t.Measure)
        .where(t.Measure.policy_id == policy.id, col(t.Measure.retired_at).is_(None))
        .order_by(col(t.Measure.sort_major), col(t.Measure.sort_minor))
    ).all()


def _roles(session: Session, measure_ids: list[int]) -> dict[int, list[t.Responsibility]]:
    """The measures' responsibilities, in notice order."""
    roles: dict[int, list[t.Responsibility]] = defaultdict(list)
    for r in session.exec(
        select(t.Responsibility)
        .where(col(t.Responsibility.measure_id).in_(measure_ids))
        .order_by(col(t.Responsibility.position))
    ):
        roles[r.measure_id].append(r)
    return roles


def _targets(session: Session, measure_ids: list[int]) -> dict[int, list[t.Target]]:
    """The measures' live targets, by position."""
    targets: dict[int, list[t.Target]] = defaultdict(list)
    for target in session.exec(
        select(t.Target)
        .where(col(t.Target.measure_id).in_(measure_ids), col(t.Target.retired_at).is_(None))
        .order_by(col(t.Target.measure_id), col(t.Target.position))
    ):
        targets[target.measure_id].append(target)
    return targets


def _measure_facts(
    policy: t.Policy,
    measures: Sequence[t.Measure],
    roles: dict[int, list[t.Responsibility]],
    targets: dict[int, list[t.Target]],
    all_units: dict[int | None, t.Unit],
    extensions: dict[str, list[Extension]],
) -> tuple[MeasureFact, ...]:
    """The measures with their units (by code), targets and deadlines (with extensions)."""

    def code(unit_id: int) -> str:
        return all_units[unit_id].code if unit_id in all_units else str(unit_id)

    return tuple(
        MeasureFact(
            number=m.number,
            title=m.title,
            section_key=m.section_key,
            lead_units=tuple(code(r.unit_id) for r in roles[m.id or 0] if r.role in LEAD_ROLES),
            support_units=tuple(
                code(r.unit_id) for r in roles[m.id or 0] if r.role not in LEAD_ROLES
            ),
            targets=tuple(
                TargetFact(
                    g.position,
                    g.metric,
                    g.value,
                    g.unit_of_measure,
                    g.direction,
                    g.starts or policy.active_start,
                    g.due,
                )
                for g in targets[m.id or 0]
            ),
            deadline=deadline_of(
                m.number, m.title, m.deadline, m.deadline_phrase, m.deadline_kind, extensions
            ),
        )
        for m in measures
    )


def _group_facts(session: Session, policy: t.Policy) -> tuple[GroupFact, ...]:
    """The policy's task-force groups."""
    return tuple(
        GroupFact(g.code, g.name, tuple(g.sections), tuple(g.lead_units), tuple(g.measures))
        for g in session.exec(
            select(t.TaskForceGroup)
            .where(t.TaskForceGroup.policy_id == policy.id)
            .order_by(col(t.TaskForceGroup.id))
        )
    )


def load_consolidation_input(
    session: Session,
    policy_code: str,
    *,
    period: str | None,
    obligation: str | None = None,
    as_of: datetime,
    yellow_points: float = 10.0,
    red_points: float = 30.0,
    plausible_factor: float = 1.5,
    with_previous: bool = True,
) -> ConsolidationInput:
    """What ``consolidate`` needs of one policy's cycle (see ``pick_cycle``). With
    ``with_previous``, the cycle before it of the same obligation is consolidated too (as of the
    same moment), for the month-on-month changes and the cumulative-value check."""
    policy = get_policy(session, policy_code)
    chosen_obligation, cycle = pick_cycle(session, policy, period, obligation, as_of)
    previous = None
    if with_previous:
        previous = _previous_cycle(
            session, policy, chosen_obligation, cycle, as_of,
            yellow_points=yellow_points, red_points=red_points, plausible_factor=plausible_factor,
        )  # fmt: skip
    assert cycle.id is not None and chosen_obligation.id is not None
    unit_rows = session.exec(
        select(t.Unit)
        .join(t.ObligationRecipient, col(t.ObligationRecipient.unit_id) == t.Unit.id)
        .where(t.ObligationRecipient.obligation_id == chosen_obligation.id)
        .order_by(col(t.Unit.id))
    ).all()
    all_units = {
        u.id: u for u in session.exec(select(t.Unit).where(t.Unit.county == policy.county))
    }
    measures = _live_measures(session, policy)
    numbers = {m.id: m.number for m in measures if m.id is not None}
    roles = _roles(session, list(numbers))
    targets = _targets(session, list(numbers))
    facts = _submission_facts(session, cycle.id, [u.id for u in unit_rows if u.id], numbers)
    assert policy.id is not None
    extensions = extensions_by_policy(session, [policy.id]).get(policy.id, {})
    return ConsolidationInput(
        policy_code=policy.code,
        county=policy.county,
        policy_title=policy.title,
        doc_number=policy.doc_number,
        office_name=policy.task_force_spec.office.name,
        obligation_code=chosen_obligation.code,
        obligation_name=chosen_obligation.name,
        period=cycle.period,
        period_label=cycle.period_label,
        frequency=chosen_obligation.frequency,
        covers_end=cycle.covers_end,
        due_at=cycle.due_at,
        as_of=as_of,
        units=tuple(
            UnitFact(u.code, u.name, u.kind, tuple(facts.get(u.id or 0, []))) for u in unit_rows
        ),
        measures=_measure_facts(policy, measures, roles, targets, all_units, extensions),
        groups=_group_facts(session, policy),
        unit_names={u.code: u.name for u in all_units.values()},
        ledger=_ledger(session, policy, unit_rows, numbers, as_of),
        yellow_points=yellow_points,
        red_points=red_points,
        plausible_factor=plausible_factor,
        previous=previous,
        deadline_window_days=window_days(policy),
    )


def window_days(policy: t.Policy) -> int:
    """The policy's 临期 window (config.schema.Escalation.deadline_window_days)."""
    return int(policy.escalation.get("deadline_window_days", 30))


def _previous_cycle(
    session: Session,
    policy: t.Policy,
    obligation: t.Obligation,
    cycle: t.Cycle,
    as_of: datetime,
    *,
    yellow_points: float,
    red_points: float,
    plausible_factor: float,
) -> PreviousCycle | None:
    """The same obligation's cycle due just before this one, consolidated (without its own
    previous month, so a chain of months costs two loads each, not all of them)."""
    earlier = session.exec(
        select(t.Cycle)
        .where(t.Cycle.obligation_id == obligation.id, col(t.Cycle.retired_at).is_(None))
        .where(col(t.Cycle.due_at) < cycle.due_at)
        .order_by(col(t.Cycle.due_at).desc())
    ).first()
    if earlier is None:
        return None
    data = load_consolidation_input(
        session, policy.code, period=earlier.period, obligation=obligation.code, as_of=as_of,
        yellow_points=yellow_points, red_points=red_points, plausible_factor=plausible_factor,
        with_previous=False,
    )  # fmt: skip
    return as_previous(consolidate(data))


def _ledger(
    session: Session,
    policy: t.Policy,
    units: Sequence[t.Unit],
    numbers: dict[int, str],
    as_of: datetime,
) -> LedgerFact | None:
    """The once-off 任务清单台账 (two or more per-measure columns), when the policy has one."""
    for obligation in session.exec(select(t.Obligation).where(t.Obligation.policy_id == policy.id)):
        per_measure = [c["key"] for c in obligation.content if c.get("kind") == "per_measure"]
        if obligation.frequency != "once" or len(per_measure) < 2:
            continue
        cycle = session.exec(select(t.Cycle).where(t.Cycle.obligation_id == obligation.id)).first()
        if cycle is None or cycle.id is None:
            continue
        facts = _submission_facts(session, cycle.id, [u.id for u in units if u.id], numbers)
        latest: dict[str, SubmissionFact | None] = {}
        for unit in units:
            counting = [
                s for s in facts.get(unit.id or 0, [])
                if s.status in COUNTING and s.received_at <= as_of
            ]  # fmt: skip
            latest[unit.code] = counting[-1] if counting else None
        return LedgerFact(obligation.name, tuple(per_measure), latest)
    return None


def record_report(
    session: Session,
    *,
    policy: t.Policy,
    kind: str,
    obligation: str,
    period: str,
    as_of: datetime,
    content_sha256: str,
    directory_for: Any,
    summary: dict[str, Any],
    now: datetime,
) -> tuple[t.Report, bool]:
    """The report row for this content: the existing one when the content is unchanged, else a
    new version. ``directory_for(version)`` names where the files of a new version go."""
    versions = session.exec(
        select(t.Report)
        .where(t.Report.policy_id == policy.id, t.Report.kind == kind, t.Report.period == period)
        .where(t.Report.obligation == obligation)
        .order_by(col(t.Report.version))
    ).all()
    for existing in versions:
        if existing.content_sha256 == content_sha256:
            return existing, False
    version = versions[-1].version + 1 if versions else 1
    assert policy.id is not None
    report = t.Report(
        policy_id=policy.id, kind=kind, obligation=obligation, period=period, version=version,
        as_of=as_of, content_sha256=content_sha256, directory=str(directory_for(version)),
        files=[], summary=summary, created_at=now,
    )  # fmt: skip
    session.add(report)
    session.flush()
    return report, True
