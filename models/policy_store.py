"""Loading a validated policy into the database, and the queries the CLI and flows share.

Loading is an idempotent upsert keyed on natural keys (policy code, unit name, measure number,
obligation code, cycle period): loading the same files twice changes nothing, a changed value is
updated in place, and a measure, target, obligation or cycle that left the YAML is retired
(``retired_at`` set), never deleted, because submissions and notices may point at it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from config.errors import NotFoundError
from config.loading import PolicyBundle
from models import tables as t
from tasks.cycles import CycleSpec

RowT = TypeVar("RowT", bound=SQLModel)


@dataclass
class LoadReport:
    """What a load changed, per table: created, updated, retired row counts."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)

    def count(self, bucket: dict[str, int], table: str) -> None:
        bucket[table] = bucket.get(table, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.retired)


def _apply(row: SQLModel, values: Mapping[str, Any]) -> bool:
    """Set the values that differ; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _sync(
    session: Session,
    model: type[RowT],
    existing: Iterable[RowT],
    key: Callable[[RowT], Any],
    desired: Mapping[Any, dict[str, Any]],
    report: LoadReport,
    *,
    now: datetime,
    stale: str = "retire",
) -> dict[Hashable, RowT]:
    """Make the rows of one table match ``desired``; stale rows are retired, deleted or kept."""
    table = str(model.__tablename__)
    rows = {key(row): row for row in existing}
    for k, values in desired.items():
        row = rows.get(k)
        if row is None:
            row = model(**values)
            session.add(row)
            rows[k] = row
            report.count(report.created, table)
        else:
            revive = {"retired_at": None} if getattr(row, "retired_at", None) is not None else {}
            if _apply(row, {**values, **revive}):
                report.count(report.updated, table)
    for k, row in rows.items():
        if k in desired:
            continue
        if stale == "delete":
            session.delete(row)
            report.count(report.retired, table)
        elif stale == "retire" and getattr(row, "retired_at", None) is None:
            row.retired_at = now
            report.count(report.retired, table)
    session.flush()
    return {k: row for k, row in rows.items() if k in desired}


def policy_fingerprint(bundle: PolicyBundle) -> str:
    """sha256 of the validated policy and directory, to tell which files a load came from."""
    payload = bundle.policy.model_dump_json() + bundle.directory.model_dump_json()
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _sync_units(
    session: Session, bundle: PolicyBundle, report: LoadReport, now: datetime
) -> dict[Hashable, t.Unit]:
    """The county's units directory, by unit name."""
    county = bundle.directory.county
    unit_values = {
        u.name: {
            "county": county,
            "code": u.code,
            "name": u.name,
            "full_name": u.full_name,
            "aliases": list(u.aliases),
            "kind": u.kind.value,
            "mailboxes": list(u.mailboxes),
            "head": u.head.model_dump(),
            "placeholder": u.placeholder,
            "note": u.note,
        }
        for u in bundle.directory.units
    }
    return _sync(
        session,
        t.Unit,
        session.exec(select(t.Unit).where(t.Unit.county == county)),
        lambda r: r.name,
        unit_values,
        report,
        now=now,
    )


def _sync_policy_row(
    session: Session, bundle: PolicyBundle, report: LoadReport, now: datetime
) -> t.Policy:
    """The policy's own row."""
    p = bundle.policy
    policy_values = {
        "code": p.code,
        "county": p.county,
        "units_directory": p.units_directory,
        "title": p.document.title,
        "issuer": p.document.issuer,
        "doc_number": p.document.number,
        "issued": p.document.issued,
        "active_start": p.active.start,
        "active_end": p.active.end,
        "task_force": p.task_force.model_dump(mode="json", exclude={"groups"}),
        "escalation": p.escalation.model_dump(mode="json"),
        "review": list(p.review),
        "content_sha256": policy_fingerprint(bundle),
    }
    return _sync(
        session,
        t.Policy,
        session.exec(select(t.Policy).where(t.Policy.code == p.code)),
        lambda r: r.code,
        {p.code: policy_values},
        report,
        now=now,
        stale="keep",
    )[p.code]


def _sync_sections_and_groups(
    session: Session, bundle: PolicyBundle, pid: int, report: LoadReport, now: datetime
) -> None:
    """The section tree and the task-force groups; stale ones are deleted."""
    p = bundle.policy
    _sync(
        session,
        t.Section,
        session.exec(select(t.Section).where(t.Section.policy_id == pid)),
        lambda r: r.key,
        {
            s.id: {
                "policy_id": pid,
                "key": s.id,
                "title": s.title,
                "parent_key": s.parent,
                "group_code": s.group,
                "position": i,
                "note": s.note,
            }
            for i, s in enumerate(p.sections)
        },
        report,
        now=now,
        stale="delete",
    )
    _sync(
        session,
        t.TaskForceGroup,
        session.exec(select(t.TaskForceGroup).where(t.TaskForceGroup.policy_id == pid)),
        lambda r: r.code,
        {
            g.code: {
                "policy_id": pid,
                "code": g.code,
                "name": g.name,
                "lead_units": [bundle.resolver.expand(u)[0] for u in g.lead_units],
                "sections": list(g.sections),
                "measures": list(g.measures),
                "note": g.note,
            }
            for g in p.task_force.groups
        },
        report,
        now=now,
        stale="delete",
    )


def _sync_measure_rows(
    session: Session, bundle: PolicyBundle, pid: int, report: LoadReport, now: datetime
) -> dict[Hashable, t.Measure]:
    """The measures, by number."""
    p = bundle.policy
    return _sync(
        session,
        t.Measure,
        session.exec(select(t.Measure).where(t.Measure.policy_id == pid)),
        lambda r: r.number,
        {
            m.number: {
                "policy_id": pid,
                "number": m.number,
                "parent_number": m.parent_number,
                "sort_major": m.sort_key[0],
                "sort_minor": m.sort_key[1],
                "section_key": m.section,
                "title": m.title,
                "text": m.text,
                "deadline": m.deadline,
                "deadline_phrase": m.deadline_phrase,
                "deadline_kind": m.deadline_kind,
                "note": m.note,
            }
            for m in p.measures
        },
        report,
        now=now,
    )


def _measure_children(
    bundle: PolicyBundle,
    measures: Mapping[Hashable, t.Measure],
    units: Mapping[Hashable, t.Unit],
) -> tuple[dict[Hashable, dict[str, Any]], dict[Hashable, dict[str, Any]]]:
    """The desired responsibilities (by measure and unit) and targets (by measure and
    position) of every measure."""
    responsibilities: dict[Hashable, dict[str, Any]] = {}
    targets: dict[Hashable, dict[str, Any]] = {}
    for m in bundle.policy.measures:
        mid = measures[m.number].id
        for position, (name, role, via) in enumerate(bundle.effective_units(m)):
            uid = units[name].id
            responsibilities[(mid, uid)] = {
                "measure_id": mid,
                "unit_id": uid,
                "role": role,
                "via": via,
                "position": position,
            }
        for position, target in enumerate(m.targets):
            targets[(mid, position)] = {
                "measure_id": mid,
                "position": position,
                "metric": target.metric,
                "value": target.value,
                "unit_of_measure": target.unit,
                "direction": target.direction,
                "due": target.due,
                "due_phrase": target.due_phrase,
                "starts": target.starts,
                "resolution": target.resolution,
                "outside_period_reason": target.outside_period_reason,
            }
    return responsibilities, targets


def _sync_measures(
    session: Session,
    bundle: PolicyBundle,
    pid: int,
    units: Mapping[Hashable, t.Unit],
    report: LoadReport,
    now: datetime,
) -> None:
    """The measures, their responsibilities (deleted when stale) and targets."""
    measures = _sync_measure_rows(session, bundle, pid, report, now)
    measure_ids = [row.id for row in measures.values()]
    responsibilities, targets = _measure_children(bundle, measures, units)
    _sync(
        session,
        t.Responsibility,
        session.exec(
            select(t.Responsibility).where(col(t.Responsibility.measure_id).in_(measure_ids))
        ),
        lambda r: (r.measure_id, r.unit_id),
        responsibilities,
        report,
        now=now,
        stale="delete",
    )
    _sync(
        session,
        t.Target,
        session.exec(select(t.Target).where(col(t.Target.measure_id).in_(measure_ids))),
        lambda r: (r.measure_id, r.position),
        targets,
        report,
        now=now,
    )


def _sync_obligation_rows(
    session: Session, bundle: PolicyBundle, pid: int, report: LoadReport, now: datetime
) -> dict[Hashable, t.Obligation]:
    """The obligations, by code."""
    return _sync(
        session,
        t.Obligation,
        session.exec(select(t.Obligation).where(t.Obligation.policy_id == pid)),
        lambda r: r.code,
        {
            o.code: {
                "policy_id": pid,
                "code": o.code,
                "name": o.name,
                "frequency": o.frequency,
                "due_rule": o.due.model_dump(mode="json"),
                "covers_from": o.covers_from,
                "covers_to": o.covers_to,
                "on_non_working_day": o.on_non_working_day,
                "reminders": o.reminders.model_dump(mode="json"),
                "content": [c.model_dump(mode="json") for c in o.content],
                "submit_to": o.submit_to,
                "paper_copy": o.paper_copy,
                "source_text": o.source_text,
            }
            for o in bundle.policy.obligations
        },
        report,
        now=now,
    )


def _sync_obligations(
    session: Session,
    bundle: PolicyBundle,
    pid: int,
    units: Mapping[Hashable, t.Unit],
    cycles: list[CycleSpec],
    report: LoadReport,
    now: datetime,
) -> None:
    """The obligations, their recipients (deleted when stale) and cycles."""
    obligations = _sync_obligation_rows(session, bundle, pid, report, now)
    obligation_ids = [row.id for row in obligations.values()]
    _sync(
        session,
        t.ObligationRecipient,
        session.exec(
            select(t.ObligationRecipient).where(
                col(t.ObligationRecipient.obligation_id).in_(obligation_ids)
            )
        ),
        lambda r: (r.obligation_id, r.unit_id),
        {
            (obligations[o.code].id, units[name].id): {
                "obligation_id": obligations[o.code].id,
                "unit_id": units[name].id,
            }
            for o in bundle.policy.obligations
            for name in bundle.recipients(o.code)
        },
        report,
        now=now,
        stale="delete",
    )
    _sync(
        session,
        t.Cycle,
        session.exec(select(t.Cycle).where(col(t.Cycle.obligation_id).in_(obligation_ids))),
        lambda r: (r.obligation_id, r.period),
        {
            (obligations[c.obligation].id, c.period): {
                "obligation_id": obligations[c.obligation].id,
                "period": c.period,
                "period_label": c.period_label,
                "covers_start": c.covers_start,
                "covers_end": c.covers_end,
                "opens": c.opens,
                "due_date": c.due_date,
                "due_at": c.due_at,
                "reminders": [d.isoformat() for d in c.reminders],
                "official": c.official,
            }
            for c in cycles
        },
        report,
        now=now,
    )


def load_policy(
    session: Session, bundle: PolicyBundle, cycles: list[CycleSpec], *, now: datetime
) -> LoadReport:
    """Upsert a policy, its units directory, measures, obligations and cycles."""
    report = LoadReport()
    units = _sync_units(session, bundle, report, now)
    policy_row = _sync_policy_row(session, bundle, report, now)
    # Only the directory and the policy row have been compared so far.
    if report.changed and policy_row.loaded_at != now:
        policy_row.loaded_at = now
    pid = policy_row.id
    assert pid is not None
    _sync_sections_and_groups(session, bundle, pid, report, now)
    _sync_measures(session, bundle, pid, units, report, now)
    _sync_obligations(session, bundle, pid, units, cycles, report, now)
    return report


def get_policy(session: Session, code: str) -> t.Policy:
    """A loaded policy by code, or a NotFoundError that says how to load it."""
    row = session.exec(select(t.Policy).where(t.Policy.code == code)).first()
    if row is None:
        known = session.exec(select(t.Policy.code).order_by(t.Policy.code)).all()
        hint = f"已载入：{'、'.join(known)}" if known else "数据库中尚无政策"
        raise NotFoundError(
            f"政策 {code!r} 尚未载入（{hint}）；请先运行 taskforce policy load 载入其配置文件"
        )
    return row


def _units_by_measure(
    session: Session, measure_ids: list[int | None]
) -> dict[int | None, list[dict[str, Any]]]:
    """Each measure's units as ``policy show`` lists them, in notice order."""
    units_by_measure: dict[int | None, list[dict[str, Any]]] = {mid: [] for mid in measure_ids}
    for resp, unit in session.exec(
        select(t.Responsibility, t.Unit)
        .join(t.Unit, col(t.Unit.id) == t.Responsibility.unit_id)
        .where(col(t.Responsibility.measure_id).in_(measure_ids))
        .order_by(col(t.Responsibility.measure_id), col(t.Responsibility.position))
    ):
        units_by_measure[resp.measure_id].append(
            {"name": unit.name, "role": resp.role, "via": resp.via}
        )
    return units_by_measure


def _targets_by_measure(
    session: Session, measure_ids: list[int | None]
) -> dict[int | None, list[dict[str, Any]]]:
    """Each measure's live targets as ``policy show`` lists them, by position."""
    targets_by_measure: dict[int | None, list[dict[str, Any]]] = {mid: [] for mid in measure_ids}
    for target in session.exec(
        select(t.Target)
        .where(col(t.Target.measure_id).in_(measure_ids), col(t.Target.retired_at).is_(None))
        .order_by(col(t.Target.measure_id), col(t.Target.position))
    ):
        targets_by_measure[target.measure_id].append(
            {
                "metric": target.metric,
                "value": target.value,
                "unit": target.unit_of_measure,
                "direction": target.direction,
                "due": target.due.isoformat(),
                "due_phrase": target.due_phrase,
                "starts": target.starts.isoformat() if target.starts else None,
                "resolution": target.resolution,
            }
        )
    return targets_by_measure


def _section_path(sections: Mapping[str, t.Section], key: str) -> list[str]:
    """The headings from the top section down to ``key``'s, each as "key title"."""
    path: list[str] = []
    current: str | None = key
    while current is not None:
        path.insert(0, f"{current} {sections[current].title}")
        current = sections[current].parent_key
    return path


def _measure_entries(session: Session, policy: t.Policy) -> list[dict[str, Any]]:
    """The live measures of ``policy show --json``, in notice order."""
    sections = {
        s.key: s for s in session.exec(select(t.Section).where(t.Section.policy_id == policy.id))
    }
    measures = session.exec(
        select(t.Measure)
        .where(t.Measure.policy_id == policy.id, col(t.Measure.retired_at).is_(None))
        .order_by(col(t.Measure.sort_major), col(t.Measure.sort_minor))
    ).all()
    measure_ids = [m.id for m in measures]
    units_by_measure = _units_by_measure(session, measure_ids)
    targets_by_measure = _targets_by_measure(session, measure_ids)
    return [
        {
            "number": m.number,
            "section": " / ".join(_section_path(sections, m.section_key)),
            "title": m.title,
            "units": units_by_measure[m.id],
            "targets": targets_by_measure[m.id],
            "deadline": m.deadline.isoformat() if m.deadline else None,
        }
        for m in measures
    ]


def _obligation_entries(session: Session, policy: t.Policy) -> list[dict[str, Any]]:
    """The live obligations of ``policy show --json`` with their recipients' names."""
    obligations = session.exec(
        select(t.Obligation)
        .where(t.Obligation.policy_id == policy.id, col(t.Obligation.retired_at).is_(None))
        .order_by(col(t.Obligation.id))
    ).all()
    recipients: dict[int | None, list[str]] = {o.id: [] for o in obligations}
    for rec, unit in session.exec(
        select(t.ObligationRecipient, t.Unit)
        .join(t.Unit, col(t.Unit.id) == t.ObligationRecipient.unit_id)
        .where(col(t.ObligationRecipient.obligation_id).in_(list(recipients)))
        .order_by(col(t.ObligationRecipient.id))
    ):
        recipients[rec.obligation_id].append(unit.name)
    return [
        {
            "code": o.code,
            "name": o.name,
            "frequency": o.frequency,
            "due_rule": o.due_rule,
            "covers_from": o.covers_from,
            "covers_to": o.covers_to,
            "on_non_working_day": o.on_non_working_day,
            "content": [c["label"] for c in o.content],
            "submit_to": o.submit_to,
            "paper_copy": o.paper_copy,
            "recipients": recipients[o.id],
        }
        for o in obligations
    ]


def policy_document(session: Session, code: str) -> dict[str, Any]:
    """The documented ``policy show --json`` shape of a loaded policy (retired rows left out)."""
    policy = get_policy(session, code)
    measures = _measure_entries(session, policy)
    obligations = _obligation_entries(session, policy)
    groups = session.exec(
        select(t.TaskForceGroup)
        .where(t.TaskForceGroup.policy_id == policy.id)
        .order_by(col(t.TaskForceGroup.id))
    ).all()
    return {
        "code": policy.code,
        "title": policy.title,
        "county": policy.county,
        "document_number": policy.doc_number,
        "issuer": policy.issuer,
        "issued": policy.issued.isoformat(),
        "active": {"start": policy.active_start.isoformat(), "end": policy.active_end.isoformat()},
        "measures": measures,
        "obligations": obligations,
        "groups": [
            {"code": g.code, "name": g.name, "lead_units": g.lead_units, "sections": g.sections}
            for g in groups
        ],
    }


def policy_cycles(
    session: Session, code: str, year: int | None = None
) -> list[tuple[t.Obligation, t.Cycle]]:
    """A loaded policy's live cycles, by due moment; ``year`` filters on the period's year."""
    policy = get_policy(session, code)
    query = (
        select(t.Obligation, t.Cycle)
        .join(t.Cycle, col(t.Cycle.obligation_id) == t.Obligation.id)
        .where(
            t.Obligation.policy_id == policy.id,
            col(t.Obligation.retired_at).is_(None),
            col(t.Cycle.retired_at).is_(None),
        )
        .order_by(col(t.Cycle.due_at), col(t.Obligation.code))
    )
    rows = [(o, c) for o, c in session.exec(query)]
    if year is not None:
        rows = [(o, c) for o, c in rows if c.covers_start.year == year]
    return rows
