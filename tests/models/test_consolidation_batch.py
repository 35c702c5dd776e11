"""The batch loader gives, for each policy, exactly what the per-policy loader gives."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, col, select

from config.errors import NotFoundError
from config.settings import Settings
from models import tables as t
from models.consolidation_batch import load_consolidation_inputs
from models.consolidation_store import load_consolidation_input
from models.db import engine_for, session_scope
from models.deadline_store import extend_deadline
from tasks.consolidation.consolidate import ConsolidationInput
from tests.consolidation_fixture import load_month
from tests.helpers import load_seeds

MONTHS = {"lingchuan-2023": "lingchuan-2023-02", "xinjiang-2022": "xinjiang-2022-11"}


def _lingchuan_february_by_both_loaders(settings: Settings, as_of: datetime) -> ConsolidationInput:
    """陵川's February as the per-policy loader reads it, checked equal to the batch loader's."""
    with Session(engine_for(settings.effective_database_url)) as session:
        one = load_consolidation_input(
            session, "lingchuan-2023", period="2023-02", as_of=as_of, with_previous=False
        )
        (batch,) = load_consolidation_inputs(
            session, ["lingchuan-2023"], period="2023-02", as_of=as_of
        )
    assert batch == one
    return one


def _add_ledger(settings: Settings) -> None:
    """Two 陵川 units send the once-off ledger (one, then a second version), so the ledger
    path is read too."""
    with session_scope(settings) as session:
        policy = session.exec(select(t.Policy).where(t.Policy.code == "lingchuan-2023")).one()
        obligations = session.exec(
            select(t.Obligation).where(t.Obligation.policy_id == policy.id)
        ).all()
        ledger = next(
            o for o in obligations
            if o.frequency == "once"
            and sum(1 for c in o.content if c.get("kind") == "per_measure") >= 2
        )  # fmt: skip
        cycle = session.exec(
            select(t.Cycle).where(t.Cycle.obligation_id == ledger.id).order_by(col(t.Cycle.id))
        ).first()
        recipients = session.exec(
            select(t.ObligationRecipient.unit_id)
            .where(t.ObligationRecipient.obligation_id == ledger.id)
            .order_by(col(t.ObligationRecipient.unit_id))
        ).all()
        measures = [
            m.id
            for m in session.exec(
                select(t.Measure)
                .where(t.Measure.policy_id == policy.id)
                .order_by(col(t.Measure.id))
            )
            if m.id is not None
        ]
        assert cycle is not None and cycle.id is not None and len(recipients) >= 2
        keys = [c["key"] for c in ledger.content if c.get("kind") == "per_measure"]
        moment = datetime(2023, 1, 19, 9, tzinfo=UTC)
        for n, (unit_id, versions) in enumerate(((recipients[0], 1), (recipients[1], 2))):
            for version in range(1, versions + 1):
                submission = t.Submission(
                    cycle_id=cycle.id, unit_id=unit_id, version=version, status="accepted",
                    channel="email", received_at=moment.replace(hour=9 + version),
                    fields={}, created_at=moment,
                )  # fmt: skip
                session.add(submission)
                session.flush()
                assert submission.id is not None
                for k, measure_id in enumerate(measures[: 3 + n]):
                    session.add(
                        t.ProgressEntry(
                            submission_id=submission.id, measure_id=measure_id,
                            status="推进中", value_reached=float(k) if k else None,
                            fields={key: f"{key}-{k}" for key in keys[: 1 + (k + version) % 3]},
                        )
                    )  # fmt: skip


def test_batch_equals_per_policy(settings: Settings) -> None:
    load_seeds(settings)
    specs = {code: load_month(settings, name) for code, name in MONTHS.items()}
    _add_ledger(settings)
    with Session(engine_for(settings.effective_database_url)) as session:
        for code, spec in specs.items():
            period = str(spec["period"])
            one = load_consolidation_input(
                session, code, period=period, as_of=spec["as_of"], with_previous=False
            )
            assert one.units and any(u.submissions for u in one.units)
            (batch,) = load_consolidation_inputs(
                session, [code], period=period, as_of=spec["as_of"]
            )
            assert batch == one
        ledger = load_consolidation_input(
            session, "lingchuan-2023", period="2023-02", as_of=specs["lingchuan-2023"]["as_of"]
        ).ledger
        assert ledger is not None and sum(1 for v in ledger.units.values() if v) == 2
        # A code named twice, one policy per pass: the same inputs, in the order asked.
        as_of = specs["lingchuan-2023"]["as_of"]
        codes = ["lingchuan-2023", "lingchuan-2023"]
        expected = [
            load_consolidation_input(session, c, period="2023-02", as_of=as_of, with_previous=False)
            for c in codes
        ]
        assert (
            load_consolidation_inputs(session, codes, period="2023-02", as_of=as_of, chunk=1)
            == expected
        )
        # Two policies in one pass: xinjiang has no 2023-02 cycle; an unknown code is named.
        with pytest.raises(NotFoundError):
            load_consolidation_inputs(
                session, list(MONTHS), period="2023-02", as_of=datetime.now(UTC)
            )
        with pytest.raises(NotFoundError):
            load_consolidation_inputs(
                session, ["nowhere"], period="2023-02", as_of=datetime.now(UTC)
            )


def test_batch_reads_deadlines_and_extensions_as_the_per_policy_loader(settings: Settings) -> None:
    """Both loaders give a measure its deadline after the office's 延期 and the policy's window."""
    load_seeds(settings)
    spec = load_month(settings, "lingchuan-2023-02")
    with session_scope(settings) as session:
        extend_deadline(
            session, "lingchuan-2023", "12", date(2023, 9, 30), reason="补贴资金下达延迟",
            by="县工作专班办公室", at=datetime(2023, 3, 1, 2, tzinfo=UTC),
        )  # fmt: skip
    one = _lingchuan_february_by_both_loaders(settings, spec["as_of"])
    dated = {m.number: m.deadline for m in one.measures if m.deadline is not None}
    assert sorted(dated) == ["12", "26(1)", "26(2)", "26(9)", "31", "32"]
    twelve = dated["12"]
    assert (twelve.original, twelve.due) == (date(2023, 6, 30), date(2023, 9, 30))
    assert dated["26(1)"].kind == "window" and one.deadline_window_days == 30


def test_an_entry_for_another_policys_measure_is_left_out_by_both_loaders(
    settings: Settings,
) -> None:
    """A report's entry that names a measure of another policy (a row written by hand, an
    import gone wrong) must not stand in for the measure of the same number in this one."""
    load_seeds(settings)
    spec = load_month(settings, "lingchuan-2023-02")
    with session_scope(settings) as session:
        lingchuan, xinjiang = (
            session.exec(select(t.Policy).where(t.Policy.code == code)).one()
            for code in ("lingchuan-2023", "xinjiang-2022")
        )
        foreign = session.exec(
            select(t.Measure).where(t.Measure.policy_id == xinjiang.id, t.Measure.number == "1")
        ).one()
        own = session.exec(
            select(t.Measure).where(t.Measure.policy_id == lingchuan.id, t.Measure.number == "1")
        ).one()
        report = session.exec(
            select(t.Submission)
            .join(t.ProgressEntry, col(t.ProgressEntry.submission_id) == t.Submission.id)
            .where(t.ProgressEntry.measure_id == own.id, t.Submission.status == "accepted")
            .order_by(col(t.Submission.id))
        ).first()
        assert report is not None
        session.add(
            t.ProgressEntry(
                submission_id=report.id, measure_id=foreign.id, status="已完成",
                value_reached=999.0, fields={"targets": [], "note": "新绛的措施"},
            )
        )  # fmt: skip
        report_id = report.id
    one = _lingchuan_february_by_both_loaders(settings, spec["as_of"])
    (fact,) = (s for u in one.units for s in u.submissions if s.submission_id == report_id)
    assert fact.progress["1"][0] != "已完成" or fact.progress["1"][1] != 999.0
    assert all(e[2].get("note") != "新绛的措施" for e in fact.progress.values())
