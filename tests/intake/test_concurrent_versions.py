"""Two runs that take in two reports of the same unit at once both record them, as versions one
after the other: neither report ends ``error`` for a version number the other took first.

On PostgreSQL two runs read the unit's latest version at once (neither sees the other's
uncommitted row), so both write the same next version; the second writer waits for the first
to commit, and its unique key then refuses it. On SQLite the second run cannot write before the
first commits, so it reads the first's version; the test holds on both.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

import tasks.intake.steps as steps
from config.settings import Settings
from models import tables as t
from models.db import engine_for, session_scope
from models.intake_store import load_policy_intake
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.intake.steps import IntakeSummary, take_in
from tasks.mail.sources import MaildirSource
from tests.helpers import load_seeds
from tests.intake_helpers import at, office_mailbox, reply

POLICY = "lingchuan-2023"
WAITING = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE NOT l.granted AND a.datname = current_database()"
)


def _waiting_writers(settings: Settings) -> int:
    """How many transactions wait for a lock (PostgreSQL), seen from a connection of its own."""
    with engine_for(settings.effective_database_url).connect() as connection:
        return int(
            connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).one()[0]
        )


def _hold_open_until_the_other_waits(settings: Settings, seconds: float = 20.0) -> None:
    """Keep this run's transaction open until the other run's write waits for it (PostgreSQL),
    or a moment (SQLite, where the other run cannot get that far before this one commits)."""
    if not settings.effective_database_url.startswith("postgresql"):
        time.sleep(0.5)
        return
    deadline = time.monotonic() + seconds
    while _waiting_writers(settings) == 0:
        assert time.monotonic() < deadline, "the second run never reached its write"
        time.sleep(0.02)
    time.sleep(0.1)  # its INSERT waits on our row: commit now, and its unique key refuses it


def test_two_runs_taking_in_one_units_reports_at_once_record_both(
    db_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_seeds(db_settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with session_scope(settings) as session:
        unit = sorted(load_policy_intake(session, POLICY).units.values(), key=lambda u: u.code)[0]
    sources = {}
    for minute, name in enumerate(("first", "second")):
        directory = tmp_path / name
        message = reply(
            None, sender=unit.mailboxes[0], office=office, body=f"{unit.name}二月进展{name}"
        )
        deliver_to_maildir(directory, message.as_bytes(), unit.mailboxes[0], office,
                           received_at=at(date(2023, 3, 1), 9, minute))  # fmt: skip
        sources[name] = MaildirSource(directory)

    recorded = threading.Event()
    real_record = steps.record_draft

    def record_then_hold(*args: Any, **kwargs: Any) -> t.Submission:
        submission = real_record(*args, **kwargs)
        if threading.current_thread().name == "first" and not recorded.is_set():
            recorded.set()
            _hold_open_until_the_other_waits(settings)
        return submission

    monkeypatch.setattr(steps, "record_draft", record_then_hold)
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        if name == "second":
            assert recorded.wait(60), "the first run never recorded its report"
        try:
            results[name] = take_in(settings, POLICY, sources[name], now=datetime.now(UTC))
        except BaseException as exc:  # reported below with the other run's result
            results[name] = exc

    threads = [threading.Thread(target=run, args=(name,), name=name) for name in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(isinstance(r, IntakeSummary) for r in results.values()), results

    with session_scope(settings) as session:
        items = session.exec(select(t.InboundItem).order_by(col(t.InboundItem.id))).all()
        submissions = session.exec(select(t.Submission).order_by(col(t.Submission.version))).all()
    assert [i.status for i in items] == ["processed", "processed"], [i.reasons for i in items]
    assert [s.version for s in submissions] == [1, 2]
    assert sorted(s.inbound_id for s in submissions) == sorted(i.id for i in items)
    assert submissions[1].supersedes_id == submissions[0].id
