"""The bulletin figures aggregated in the database are the pure-Python consolidation's, on both
seeds' months and on the versions a month can hold (superseded, rejected, reviewed, unverified,
arrived after as_of), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from config.settings import Settings
from models import tables as t
from models.consolidation_batch import load_consolidation_inputs
from models.consolidation_figures import month_figures
from models.db import engine_for, session_scope
from tasks.consolidation.consolidate import consolidate
from tests.consolidation.figures import comparable, figures_of
from tests.consolidation_fixture import load_month
from tests.helpers import load_seeds

MONTHS = {"lingchuan-2023": "lingchuan-2023-02", "xinjiang-2022": "xinjiang-2022-11"}


def _same(settings: Settings, codes: list[str], period: str, as_of: datetime) -> None:
    with Session(engine_for(settings.effective_database_url)) as session:
        found = month_figures(session.connection(), codes, period=period, as_of=as_of)
        inputs = load_consolidation_inputs(session, codes, period=period, as_of=as_of)
    assert sorted(found) == sorted(codes)
    for data in inputs:
        c = consolidate(data)
        assert comparable(found[data.policy_code], c) == figures_of(c), data.policy_code


def test_both_seeds_months(db_settings: Settings) -> None:
    load_seeds(db_settings)
    specs = {code: load_month(db_settings, name) for code, name in MONTHS.items()}
    for code, spec in specs.items():
        period = str(spec["period"])
        for as_of in (spec["as_of"], spec["as_of"] - timedelta(days=4)):
            _same(db_settings, [code], period, as_of)
    with Session(engine_for(db_settings.effective_database_url)) as session:
        found = month_figures(session.connection(), ["lingchuan-2023"], period="2023-02",
                              as_of=specs["lingchuan-2023"]["as_of"])["lingchuan-2023"]  # fmt: skip
    # The month is not a trivial one: every state, a measure led by units not obliged to report
    # (the companies) reported by its 配合 units, and targets with several reported values.
    assert all(found.counts[s] for s in ("on_time", "late", "missing", "rejected", "needs_review"))
    assert any(len(r) > 1 for r in found.reports.values())
    assert found.reached


def _versions(session: Any, policy_code: str, period: str) -> dict[str, list[t.Submission]]:
    """Each unit's submissions of the cycle, by unit code."""
    rows = session.exec(
        select(t.Submission, t.Unit.code)
        .join(t.Unit, col(t.Unit.id) == t.Submission.unit_id)
        .join(t.Cycle, col(t.Cycle.id) == t.Submission.cycle_id)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .join(t.Policy, col(t.Policy.id) == t.Obligation.policy_id)
        .where(t.Policy.code == policy_code, t.Cycle.period == period)
        .order_by(col(t.Submission.version))
    ).all()
    out: dict[str, list[t.Submission]] = {}
    for submission, code in rows:
        out.setdefault(code, []).append(submission)
    return out


def _resend(
    session: Any, first: t.Submission, status: str, at: datetime, **fields: Any
) -> t.Submission:
    """A new version of ``first``'s unit's report: its entries copied with another status."""
    version = session.exec(
        select(t.Submission.version)
        .where(t.Submission.cycle_id == first.cycle_id, t.Submission.unit_id == first.unit_id)
        .order_by(col(t.Submission.version).desc())
    ).first()
    new = t.Submission(
        cycle_id=first.cycle_id, unit_id=first.unit_id, version=version + 1, status=status,
        channel="email", received_at=at, late_working_days=3 if status == "accepted" else 0,
        fields={**first.fields, **fields}, created_at=at,
    )  # fmt: skip
    session.add(new)
    session.flush()
    if status in ("accepted", "unstructured"):
        for entry in session.exec(
            select(t.ProgressEntry).where(t.ProgressEntry.submission_id == first.id)
        ):
            old = entry.fields.get("targets", [])
            targets = [{**g, "value": (g.get("value") or 0) + 1000} for g in old]
            session.add(
                t.ProgressEntry(
                    submission_id=new.id, measure_id=entry.measure_id, status="已完成",
                    value_reached=entry.value_reached, fields={**entry.fields, "targets": targets},
                )
            )  # fmt: skip
    return new


def test_versions_that_supersede_overrule_or_wait(db_settings: Settings) -> None:
    """Superseded, rejected, reviewed, unverified and too late versions count as consolidate
    says: the latest valid version's content, the first counting one's timeliness."""
    load_seeds(db_settings)
    spec = load_month(db_settings, "lingchuan-2023-02")
    as_of: datetime = spec["as_of"]
    with session_scope(db_settings) as session:
        sent = _versions(session, "lingchuan-2023", "2023-02")
        accepted = [
            c for c, v in sent.items()
            if v and v[-1].status == "accepted" and v[0].received_at <= as_of
        ]  # fmt: skip
        assert len(accepted) >= 5
        superseded, too_late, overruled, unverified, broken = accepted[:5]
        # A corrected report, later and with other values: its content counts, its first
        # version's timeliness stays.
        _resend(session, sent[superseded][0], "accepted", as_of - timedelta(hours=2),
                problems="新的问题。")  # fmt: skip
        # One that arrives after as_of: not yet.
        _resend(session, sent[too_late][0], "accepted", as_of + timedelta(hours=2))
        # The office's review rejects the only report: the unit is 退回未改.
        _resend(session, sent[overruled][0], "rejected", as_of - timedelta(hours=1),
                review={"of": sent[overruled][0].id})  # fmt: skip
        # A reply from an unauthenticated sender, and the office's rejection of it: neither
        # counts; the unit is flagged while the reply is its latest.
        held = _resend(session, sent[unverified][0], "unverified", as_of - timedelta(hours=3))
        _resend(session, sent[broken][0], "unverified", as_of - timedelta(hours=3))
        _resend(session, sent[broken][0], "rejected", as_of - timedelta(hours=2),
                review={"of": held.id + 1})  # fmt: skip
    _same(db_settings, ["lingchuan-2023"], "2023-02", as_of)
    with Session(engine_for(db_settings.effective_database_url)) as session:
        found = month_figures(session.connection(), ["lingchuan-2023"], period="2023-02",
                              as_of=as_of)["lingchuan-2023"]  # fmt: skip
    units = {u.code: u for u in found.units}
    assert units[superseded].version == 2 and units[superseded].problems == "新的问题。"
    assert units[superseded].state == "on_time"
    assert units[too_late].version == 1
    assert units[overruled].state == "rejected"
    assert units[unverified].unverified and units[unverified].state == "on_time"
    assert units[broken].state == "on_time" and not units[broken].unverified
