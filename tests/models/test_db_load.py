"""Loading policies into a real database: idempotent upserts, retirement, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import Session, SQLModel, select

from config.loading import PolicyBundle, load_policy_file
from config.settings import Settings
from models import tables as t
from models.db import get_engine, init_db, session_scope
from models.policy_store import load_policy, policy_cycles, policy_document
from tasks.calendar import WorkingCalendar
from tasks.cycles import cycles_for_policy
from tests.helpers import POLICY_FILES

NOW = datetime(2023, 1, 12, 1, 0, tzinfo=UTC)


def load(settings: Settings, bundle: PolicyBundle, now: datetime = NOW) -> Any:
    cycles = cycles_for_policy(bundle.policy, WorkingCalendar())
    with session_scope(settings) as session:
        return load_policy(session, bundle, cycles, now=now)


def dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for before/after comparison."""
    with get_engine(settings).connect() as conn:
        return {
            name: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
            for name in SQLModel.metadata.tables
        }


@pytest.fixture
def bundles(db_settings: Settings) -> dict[str, PolicyBundle]:
    init_db(db_settings)
    return {code: load_policy_file(file, db_settings) for code, file in POLICY_FILES.items()}


def test_loading_twice_changes_nothing(db_settings: Settings, bundles: dict[str, PolicyBundle]):
    for bundle in bundles.values():
        assert load(db_settings, bundle).changed
    before = dump(db_settings)
    for bundle in bundles.values():
        report = load(db_settings, bundle, now=NOW + timedelta(days=1))
        assert not report.changed, (report.created, report.updated, report.retired)
    assert dump(db_settings) == before
    assert len(before["measure"]) == 47 + 64


def test_stored_task_force_reads_back_typed(
    db_settings: Settings, bundles: dict[str, PolicyBundle]
) -> None:
    """``Policy.task_force_spec``: the policy file's task force without its groups (rows of
    their own), read back from the JSON column."""
    for code, bundle in bundles.items():
        load(db_settings, bundle)
        with session_scope(db_settings) as session:
            policy = session.exec(select(t.Policy).where(t.Policy.code == code)).one()
            stored = policy.task_force_spec
        assert bundle.policy.task_force.groups and stored.groups == []
        assert stored == bundle.policy.task_force.model_copy(update={"groups": []})


def test_removed_measure_is_retired_not_deleted(
    db_settings: Settings, bundles: dict[str, PolicyBundle]
) -> None:
    bundle = bundles["lingchuan-2023"]
    load(db_settings, bundle)
    policy = bundle.policy
    shorter = policy.model_copy(
        update={"measures": [m for m in policy.measures if m.number != "37"]}
    )
    later = NOW + timedelta(days=3)
    report = load(db_settings, PolicyBundle(shorter, *_rest(bundle)), now=later)
    assert report.retired.get("measure") == 1
    with Session(get_engine(db_settings)) as session:
        row = session.exec(select(t.Measure).where(t.Measure.number == "37")).one()
        assert row.retired_at == later
        numbers = [m["number"] for m in policy_document(session, "lingchuan-2023")["measures"]]
        assert "37" not in numbers and len(numbers) == 46
    # Loading the full file again brings it back.
    load(db_settings, bundle, now=later + timedelta(days=1))
    with Session(get_engine(db_settings)) as session:
        row = session.exec(select(t.Measure).where(t.Measure.number == "37")).one()
        assert row.retired_at is None


def _rest(bundle: PolicyBundle) -> tuple[Any, ...]:
    return (bundle.directory, bundle.resolver, bundle.policy_file, bundle.units_file)


def test_changed_value_is_updated_in_place(
    db_settings: Settings, bundles: dict[str, PolicyBundle]
) -> None:
    bundle = bundles["xinjiang-2022"]
    load(db_settings, bundle)
    measures = [
        m.model_copy(update={"title": "改过的标题"}) if m.number == "5" else m
        for m in bundle.policy.measures
    ]
    changed = bundle.policy.model_copy(update={"measures": measures})
    report = load(db_settings, PolicyBundle(changed, *_rest(bundle)))
    assert report.updated == {"measure": 1, "policy": 1}
    assert not report.created and not report.retired


def test_cycles_are_materialised_with_aware_utc_timestamps(
    db_settings: Settings, bundles: dict[str, PolicyBundle]
) -> None:
    load(db_settings, bundles["lingchuan-2023"])
    with Session(get_engine(db_settings)) as session:
        rows = policy_cycles(session, "lingchuan-2023")
        assert len(rows) == 2 + 12
        setup = next(c for o, c in rows if o.code == "taskforce-setup")
        assert setup.due_at == datetime(2023, 1, 20, 15, 59, tzinfo=UTC)
        assert setup.due_at.tzinfo is not None and setup.due_at.utcoffset() == timedelta(0)
        assert setup.due_date == date(2023, 1, 20)
        october = next(c for o, c in rows if c.period == "2023-09")
        assert october.reminders == ["2023-09-26", "2023-09-28"]
        assert len(policy_cycles(session, "lingchuan-2023", 2023)) == 14
        assert policy_cycles(session, "lingchuan-2023", 2022) == []


def policy_row(code: str, loaded_at: datetime) -> t.Policy:
    """A minimal policy row, to exercise the timestamp column type."""
    jan1 = date(2023, 1, 1)
    return t.Policy(
        code=code,
        county="x",
        units_directory="x",
        title="x",
        issuer="x",
        doc_number="x",
        issued=jan1,
        active_start=jan1,
        active_end=date(2023, 12, 31),
        content_sha256="x",
        loaded_at=loaded_at,
    )


def test_naive_timestamps_are_refused(db_settings: Settings) -> None:
    init_db(db_settings)
    with pytest.raises(StatementError, match="timezone-aware"), session_scope(db_settings) as s:
        s.add(policy_row("naive", datetime(2023, 1, 1)))
        s.flush()


def test_other_offsets_are_stored_as_the_same_instant(db_settings: Settings) -> None:
    init_db(db_settings)
    beijing = timezone(timedelta(hours=8))
    with session_scope(db_settings) as s:
        s.add(policy_row("tz", datetime(2023, 1, 20, 23, 59, tzinfo=beijing)))
    with Session(get_engine(db_settings)) as s:
        row = s.exec(select(t.Policy).where(t.Policy.code == "tz")).one()
        assert row.loaded_at == datetime(2023, 1, 20, 15, 59, tzinfo=UTC)
        assert row.loaded_at.tzinfo is not None


def test_policy_document_shape(db_settings: Settings, bundles: dict[str, PolicyBundle]) -> None:
    load(db_settings, bundles["lingchuan-2023"])
    with Session(get_engine(db_settings)) as session:
        doc = policy_document(session, "lingchuan-2023")
    assert set(doc) >= {"code", "title", "measures", "obligations", "groups"}
    m26_3 = next(m for m in doc["measures"] if m["number"] == "26(3)")
    assert set(m26_3) >= {"number", "section", "title", "units", "targets"}
    assert {"name": "县人社局", "role": "responsible", "via": None} in m26_3["units"]
    m1 = doc["measures"][0]
    assert m1["targets"][0]["value"] == 160 and m1["targets"][0]["unit"] == "万吨"
    assert len(doc["groups"]) == 6
