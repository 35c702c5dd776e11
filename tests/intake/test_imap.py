"""Intake from a real IMAP mailbox (Dovecot): the office's mailbox as the seeds' offices have it.

The reply travels as mail does: the bureau sends it over SMTP, the receiving server (the catcher
here) takes it, and delivery files it into the IMAP mailbox (an APPEND with the arrival time as
INTERNALDATE, as an LDA does); intake then reads it over IMAP.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from sqlmodel import func, select

from config.settings import IntakeSettings, Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.demo.bureaus import fill_form
from tasks.forms.keys import form_keys
from tasks.intake.steps import IntakeSummary, open_source, take_in
from tasks.mail.imap import ImapSource
from tasks.mail.outbox import deliver_outbox
from tasks.reminders.steps import prepare_reminders
from tests.helpers import load_seeds
from tests.imap_server import DovecotServer
from tests.intake_helpers import (
    XLSX,
    at,
    caught,
    form_of,
    office_catcher,
    office_mailbox,
    reply,
    send,
)

POLICY = "lingchuan-2023"
RSJ = "rsj@lingchuan.example.org"


async def test_reply_taken_in_over_imap(imap_mailbox: DovecotServer, settings: Settings) -> None:
    load_seeds(settings, POLICY)
    key = form_keys(settings).current
    office = office_mailbox(settings, POLICY)
    settings = settings.model_copy(
        update={
            "imap": imap_mailbox.imap_settings(processed_folder="已处理"),
            "intake": IntakeSettings(source="imap"),
        }
    )
    with office_catcher(settings) as (catcher, settings):
        prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
        await deliver_outbox(settings, POLICY, run_id="t", now=datetime.now(UTC))
        notice = caught(catcher.directory, RSJ)[-1]
        name, blank = form_of(notice)
        await send(settings, reply(notice, sender=RSJ, office=office,
                                   attachments=[(name, fill_form(blank, key), XLSX)]))  # fmt: skip
        [delivered] = sorted((settings.maildir_root / office / "new").iterdir())
    arrived = datetime(2023, 3, 3, 16, 20, tzinfo=UTC)
    uid = imap_mailbox.append(delivered.read_bytes(), arrived)
    source = open_source(settings, POLICY)
    assert isinstance(source, ImapSource)
    try:
        summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 4)))
    finally:
        source.close()
    assert [(x["outcome"], x["unit"], x["late_working_days"]) for x in summary.lines] == [
        ("accepted", "县人社局", 0)
    ]
    with session_scope(settings) as session:
        submission = session.exec(select(t.Submission)).one()
        item = session.exec(select(t.InboundItem)).one()
    assert submission.received_at == arrived  # INTERNALDATE, not the Date header
    assert (
        item.source.startswith("imap://")
        and item.source_key == f"{imap_mailbox.uidvalidity()}:{uid}"
    )
    # Moved to the processed folder, never deleted.
    assert imap_mailbox.count("INBOX") == 0 and imap_mailbox.count("已处理") == 1


def test_two_runs_on_one_imap_mailbox(imap_mailbox: DovecotServer, settings: Settings) -> None:
    """Both runs list the same messages before either marks them: each is taken in once."""
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    settings = settings.model_copy(update={"imap": imap_mailbox.imap_settings()})
    with session_scope(settings) as session:  # the units that report
        units = sorted(load_policy_intake(session, POLICY).units.values(), key=lambda u: u.code)
    for minute, unit in enumerate(units):
        message = reply(None, sender=unit.mailboxes[0], office=office, body=f"{unit.name}进展")
        imap_mailbox.append(message.as_bytes(), datetime(2023, 3, 1, 2, minute, tzinfo=UTC))
    sources = [ImapSource(settings.imap), ImapSource(settings.imap)]
    start = threading.Barrier(2)
    results: list[IntakeSummary] = []
    failures: list[BaseException] = []

    def run(source: ImapSource) -> None:
        try:
            messages = list(source.fetch_new())  # both list everything first

            class Listed:
                name = source.name

                def fetch_new(self, limit: int | None = None, *, max_bytes: int | None = None):  # type: ignore[no-untyped-def]
                    return iter(messages)

                mark_processed = staticmethod(source.mark_processed)
                close = staticmethod(source.close)

            start.wait()
            results.append(take_in(settings, POLICY, Listed(), now=at(date(2023, 3, 1), 12)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for source in sources:
        source.close()
    assert not failures
    with session_scope(settings) as session:
        submissions = session.exec(select(func.count()).select_from(t.Submission)).one()
    assert submissions == len(units)
    assert sum(len(r.lines) for r in results) == len(units)
    assert sum(r.duplicates for r in results) == len(units)
    flags = imap_mailbox.flags()
    assert len(flags) == len(units)
    assert all({"\\Seen", "$TaskforceIntake"} <= f for f in flags.values())
