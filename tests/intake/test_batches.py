"""Intake commits a batch of messages at once: the same records as one by one, a bug in one
message costs the others nothing, and a run killed mid-batch loses and doubles nothing."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select, update

import tasks.intake.steps as steps
from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.intake.steps import take_in
from tasks.mail.sources import MaildirSource
from tests.helpers import ROOT, load_seeds, mail_body
from tests.intake.flood import stranger_mail
from tests.intake_helpers import at, office_mailbox, reply

POLICY = "lingchuan-2023"
WHEN = at(date(2023, 3, 1), 12)


def _fill(settings: Settings, maildir: Path, rounds: int, *, bad: int | None = None) -> int:
    """``rounds`` plain replies from every unit (the later ones throttled), a stranger's mail
    after each round; message number ``bad`` says BOOM. Returns how many were filed."""
    office = office_mailbox(settings, POLICY)
    with session_scope(settings) as session:
        units = sorted(load_policy_intake(session, POLICY).units.values(), key=lambda u: u.code)
    number = 0
    for round_ in range(rounds):
        for unit in units:
            body = "BOOM" if number == bad else f"{unit.name}二月进展（{round_}）"
            message = reply(None, sender=unit.mailboxes[0], office=office, body=body)
            deliver_to_maildir(maildir, message.as_bytes(), unit.mailboxes[0], office,
                               received_at=at(date(2023, 3, 1), 9, number % 60))  # fmt: skip
            number += 1
        stranger = stranger_mail(round_, office)
        deliver_to_maildir(maildir, stranger.as_bytes(), "x@spam.invalid", office,
                           received_at=at(date(2023, 3, 1), 10, round_))  # fmt: skip
        number += 1
    return number


def _recorded(settings: Settings) -> dict[str, Any]:
    """What intake wrote, as comparable values (ids included: the order must be the same; the
    raw store's directory, which the quarantine digest names, left out)."""
    var = str(settings.var_dir)
    with session_scope(settings) as session:
        items = session.exec(select(t.InboundItem).order_by(col(t.InboundItem.id))).all()
        submissions = session.exec(select(t.Submission).order_by(col(t.Submission.id))).all()
        notices = session.exec(select(t.Notification).order_by(col(t.Notification.id))).all()
        return {
            "items": [
                (i.id, i.raw_sha256, i.status, i.reasons, i.sender, i.attempts) for i in items
            ],
            "submissions": [
                (s.id, s.inbound_id, s.unit_id, s.version, s.status, s.fields, s.errors)
                for s in submissions
            ],
            "notices": [
                (
                    n.id,
                    n.idempotency_key,
                    n.kind,
                    n.status,
                    n.subject,
                    mail_body(settings, n).text.replace(var, "VAR"),
                    n.last_error,
                )
                for n in notices
            ],
        }


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug that only the message saying BOOM hits (parse_message raises on it)."""
    parse = steps.parse_message

    def parse_or_fail(data: bytes, **kwargs: Any) -> Any:
        parsed = parse(data, **kwargs)
        if "BOOM" in parsed.text:
            raise RuntimeError("a bug in parsing")
        return parsed

    monkeypatch.setattr(steps, "parse_message", parse_or_fail)


def _run(
    tmp_path: Path, settings: Settings, batch: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, dict[str, Any]]:
    """Intake of a copy of the same Maildir into a database of its own, ``batch`` at a time."""
    root = tmp_path / f"batch-{batch}"
    mine = settings.model_copy(
        update={"var_dir": root, "database_url": f"sqlite:///{root / 'taskforce.db'}"}
    )
    load_seeds(mine, POLICY)
    shutil.copytree(tmp_path / "maildir", root / "maildir")
    monkeypatch.setattr(steps, "INTAKE_BATCH", batch)
    summary = take_in(mine, POLICY, MaildirSource(root / "maildir"), now=WHEN)
    return summary, _recorded(mine)


@pytest.mark.usefixtures("boom")
def test_a_batch_records_what_one_by_one_records(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_seeds(settings, POLICY)
    count = _fill(settings, tmp_path / "maildir", 3, bad=40)
    batched, recorded = _run(tmp_path, settings, 50, monkeypatch)
    alone, reference = _run(tmp_path, settings, 1, monkeypatch)
    assert count > 2 * 50  # several batches, the bad message inside the first
    assert batched.lines == alone.lines
    assert recorded == reference
    statuses = [status for _, _, status, *_ in recorded["items"]]
    assert statuses.count("error") == 1
    assert len(recorded["items"]) == count
    assert len(recorded["submissions"]) == count - 1 - 3  # the bad one, the strangers
    cancelled = [n for n in recorded["notices"] if n[3] == "cancelled"]
    assert cancelled and all("一小时内已向该单位发出" in n[6] for n in cancelled)


def test_a_run_killed_mid_batch_loses_and_doubles_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    load_seeds(settings, POLICY)
    maildir = tmp_path / "maildir"
    count = _fill(settings, maildir, 6)
    database = settings.database_url.removeprefix("sqlite:///")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from config.settings import CalendarSettings, Settings\n"
        "from tasks.intake.steps import take_in\n"
        "from tasks.mail.sources import MaildirSource\n"
        "from tests.intake_helpers import at\n"
        "from datetime import date\n"
        "settings = Settings(var_dir=Path(sys.argv[1]), database_url=sys.argv[2],\n"
        "                    calendar=CalendarSettings(holidays_dir=Path(sys.argv[3])))\n"
        "take_in(settings, 'lingchuan-2023', MaildirSource(Path(sys.argv[4])),\n"
        "        now=at(date(2023, 3, 1), 12))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(settings.var_dir), settings.database_url,
         str(settings.calendar.holidays_dir), str(maildir)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # kill it once a batch is in and more are going
            time.sleep(0.02)
            with sqlite3.connect(database, timeout=30) as db:
                claimed = db.execute("SELECT count(*) FROM inbounditem").fetchone()[0]
                done = db.execute("SELECT count(*) FROM submission").fetchone()[0]
            if done and claimed > done:
                break
        assert process.poll() is None, "the run ended before it could be killed mid-batch"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with session_scope(settings) as session:
        left = session.exec(select(t.InboundItem.status)).all()
    assert 0 < len(left) < count and "stored" in left  # killed between claim and record

    # The next run takes what the killed one had not and leaves what it left mid-way alone (a
    # live run could still be recording it); the first run 15 minutes on (on the real clock,
    # whatever the runs' as-of: the items are made that old) records it, with no one running
    # replay.
    take_in(settings, POLICY, MaildirSource(maildir), now=WHEN + timedelta(minutes=20))
    with session_scope(settings) as session:
        assert "stored" in session.exec(select(t.InboundItem.status)).all()
        session.exec(  # type: ignore[call-overload]
            update(t.InboundItem).values(created_at=datetime.now(UTC) - timedelta(minutes=20))
        )
    take_in(settings, POLICY, MaildirSource(maildir), now=WHEN + timedelta(minutes=5))

    assert not list((maildir / "new").iterdir())
    with session_scope(settings) as session:
        items = session.exec(select(t.InboundItem)).all()
        submissions = session.exec(select(t.Submission)).all()
        receipts = session.exec(select(t.Notification).where(t.Notification.kind == "receipt"))
        receipt_keys = [n.idempotency_key for n in receipts.all()]
    assert len(items) == count == len({i.raw_sha256 for i in items})
    assert all((settings.raw_dir / i.raw_path).is_file() for i in items)
    assert {i.status for i in items} <= {"processed", "quarantined"}
    assert sorted(s.inbound_id for s in submissions) == sorted(
        i.id for i in items if i.status == "processed"
    )
    assert len(receipt_keys) == len(submissions) == len(set(receipt_keys))


def test_a_message_twice_in_one_batch_is_taken_in_once(settings: Settings, tmp_path: Path) -> None:
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    maildir = tmp_path / "maildir"
    content = reply(None, sender="rsj@lingchuan.example.org", office=office).as_bytes()
    deliver_to_maildir(maildir, content, "rsj@lingchuan.example.org", office,
                       received_at=at(date(2023, 3, 1), 9))  # fmt: skip
    [filed] = (maildir / "new").iterdir()
    shutil.copy(filed, filed.with_name(f"{filed.name}.copy"))  # the same file filed twice
    summary = take_in(settings, POLICY, MaildirSource(maildir), now=WHEN)
    assert summary.duplicates == 1
    assert [line["outcome"] for line in summary.lines] == ["unverified"]
    assert not list((maildir / "new").iterdir())
    with session_scope(settings) as session:
        assert len(session.exec(select(t.InboundItem)).all()) == 1
