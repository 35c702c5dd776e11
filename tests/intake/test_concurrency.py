"""Two intake runs over the same mailbox at once never take one message in twice."""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import func, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.intake.steps import IntakeSummary, take_in
from tasks.mail.sources import MaildirSource
from tests.helpers import load_seeds
from tests.intake_helpers import at, reply

POLICY = "lingchuan-2023"


@pytest.fixture
def loaded(db_settings: Settings) -> Settings:
    return load_seeds(db_settings, POLICY)


def _fill_maildir(settings: Settings, maildir: Path, office: str) -> int:
    """One plain-text reply from every unit: each becomes one submission (unverified: no
    server vouches for these senders)."""
    with session_scope(settings) as session:
        units = load_policy_intake(session, POLICY).units.values()
    for number, unit in enumerate(sorted(units, key=lambda u: u.code)):
        message = reply(None, sender=unit.mailboxes[0], office=office, body=f"{unit.name}二月进展")
        deliver_to_maildir(
            maildir, message.as_bytes(), unit.mailboxes[0], office,
            received_at=at(date(2023, 3, 1), 9, number % 60),
        )  # fmt: skip
    return len(units)


def test_two_runs_at_once_take_each_message_once(loaded: Settings, tmp_path: Path) -> None:
    office = "taskforce-office@lingchuan.example.org"
    maildir = tmp_path / "maildir"
    count = _fill_maildir(loaded, maildir, office)
    # Both runs see every message: the second reads a copy of the same Maildir, as two runs
    # that listed new/ before either marked anything would.
    twin = tmp_path / "twin"
    shutil.copytree(maildir, twin)
    start = threading.Barrier(2)
    results: list[IntakeSummary] = []
    failures: list[BaseException] = []

    def run(directory: Path) -> None:
        try:
            start.wait()
            results.append(
                take_in(loaded, POLICY, MaildirSource(directory), now=at(date(2023, 3, 1), 10))
            )
        except BaseException as exc:  # reported below, with the other run's result
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in (maildir, twin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    with session_scope(loaded) as session:
        items = session.exec(select(func.count()).select_from(t.InboundItem)).one()
        submissions = session.exec(select(t.Submission)).all()
        receipts = session.exec(
            select(func.count()).select_from(t.Notification).where(t.Notification.kind == "receipt")
        ).one()
    assert items == count
    assert len(submissions) == count
    assert len({(s.cycle_id, s.unit_id) for s in submissions}) == count
    assert {s.version for s in submissions} == {1}
    assert receipts == count
    # Between them the two runs processed each message once and skipped it once.
    assert sum(len(r.lines) for r in results) == count
    assert sum(r.duplicates for r in results) == count
    assert {x["outcome"] for r in results for x in r.lines} == {"unverified"}  # no AR, no DKIM
