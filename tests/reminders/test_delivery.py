"""Reminder runs end to end without Prefect: outbox, forms, real SMTP server, idempotency."""

from __future__ import annotations

import email.policy
import io
import re
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
from sqlmodel import Session, func, select

from config.settings import Settings
from models import tables as t
from models.db import get_engine, session_scope
from tasks.calendar import WorkingCalendar
from tasks.forms.keys import form_keys
from tasks.forms.read import read_form_metadata
from tasks.mail.outbox import deliver_outbox
from tasks.reminders.steps import prepare_reminders
from tests.helpers import at, load_seeds
from tests.smtp_server import SmtpServer

CAL = WorkingCalendar()


@pytest.fixture
def loaded(db_settings: Settings, smtp_server: SmtpServer) -> Settings:
    """Both seeds loaded, on SQLite and (when configured) on PostgreSQL."""
    load_seeds(db_settings)
    return db_settings.model_copy(
        update={"smtp": smtp_server.smtp_settings(backoff_seconds=0.01, max_attempts=3)}
    )


async def run(settings: Settings, policy: str, day: date, frequency: str):
    prepared = prepare_reminders(settings, policy, at(day), frequency)
    delivered = await deliver_outbox(settings, policy, run_id=f"test-{day}", now=datetime.now(UTC))
    return prepared, delivered


def outbox_count(settings: Settings, status: str | None = None) -> int:
    with Session(get_engine(settings)) as session:
        query = select(func.count()).select_from(t.Notification)
        if status:
            query = query.where(t.Notification.status == status)
        return int(session.exec(query).one())


async def test_january_20_checklist_mail_by_mail(
    loaded: Settings,
    smtp_server: SmtpServer,
) -> None:
    sent_per_day = {}
    day = date(2023, 1, 12)
    while day <= date(2023, 1, 20):
        before = len(smtp_server.messages)
        await run(loaded, "lingchuan-2023", day, "once")
        sent_per_day[day] = len(smtp_server.messages) - before
        day += timedelta(days=1)
    with session_scope(loaded) as session:
        units = len(
            session.exec(
                select(t.ObligationRecipient)
                .join(t.Obligation)
                .where(t.Obligation.code == "taskforce-setup")
            ).all()
        )
    assert {d: n for d, n in sent_per_day.items() if n} == {
        date(2023, 1, 12): 2 * units,
        date(2023, 1, 17): 2 * units,
        date(2023, 1, 20): 2 * units,
    }
    # One unit's mails: subject, recipients, both bodies, a signed form that opens.
    rsj = [m for m in smtp_server.messages if "rsj@lingchuan.example.org" in m.rcpt_tos]
    assert len(rsj) == 6
    message = email.message_from_bytes(rsj[0].raw, policy=email.policy.default)
    assert "县人社局" in message.get_body(("plain",)).get_content()
    assert message["Reply-To"] == "taskforce-office@lingchuan.example.org"
    assert message["Subject"].startswith("【") and "县人社局" in message["Subject"]
    assert "<html" in message.get_body(("html",)).get_content().lower()
    attachment = next(message.iter_attachments())
    name = attachment.get_filename()
    assert name.endswith(".xlsx") and "县人社局" in name
    assert re.search(rb"filename\*(0\*)?=utf-8''%E", rsj[0].raw)  # RFC 2231 on the wire
    data = attachment.get_content()
    meta = read_form_metadata(data, form_keys(loaded).current)
    assert (meta.unit_code, meta.policy, meta.period) == ("rsj", "lingchuan-2023", "2023")
    openpyxl.load_workbook(io.BytesIO(data))
    # Every message has its own stable Message-ID.
    assert set(smtp_server.message_ids().values()) == {1}


async def test_rerun_sends_nothing_new(loaded: Settings, smtp_server: SmtpServer) -> None:
    prepared, delivered = await run(loaded, "xinjiang-2022", date(2022, 11, 1), "monthly")
    assert len(prepared.queued) == delivered.count("sent") > 30
    first = len(smtp_server.messages)
    prepared, delivered = await run(loaded, "xinjiang-2022", date(2022, 11, 1), "monthly")
    assert prepared.queued == [] and len(prepared.already) == first
    assert delivered.outcomes == [] and len(smtp_server.messages) == first


async def test_server_down_rows_stay_pending_then_go(
    loaded: Settings,
    smtp_server: SmtpServer,
) -> None:
    smtp_server.stop()
    prepared, delivered = await run(loaded, "xinjiang-2022", date(2022, 11, 7), "monthly")
    assert delivered.count("pending") == len(prepared.queued) > 0
    assert outbox_count(loaded, "pending") == len(prepared.queued)
    smtp_server.start()
    _, delivered = await run(loaded, "xinjiang-2022", date(2022, 11, 7), "monthly")
    assert delivered.count("sent") == len(prepared.queued)
    assert len(smtp_server.messages) == len(prepared.queued)
    assert outbox_count(loaded, "sent") == len(prepared.queued)


async def test_permanent_refusal_is_recorded(loaded: Settings, smtp_server: SmtpServer) -> None:
    smtp_server.refuse_recipient("jtysj@xinjiang.example.org")
    await run(loaded, "xinjiang-2022", date(2022, 11, 10), "monthly")
    with Session(get_engine(loaded)) as session:
        failed = session.exec(select(t.Notification).where(t.Notification.status == "failed")).all()
    assert [row.to for row in failed] == [["jtysj@xinjiang.example.org"]]
    assert "550" in (failed[0].last_error + failed[0].server_reply)
    # A rerun does not retry a permanent failure.
    before = smtp_server.data_commands
    await run(loaded, "xinjiang-2022", date(2022, 11, 10), "monthly")
    assert smtp_server.data_commands == before


def test_two_workers_running_the_same_tick_send_each_mail_once(
    loaded: Settings, smtp_server: SmtpServer
) -> None:
    """Two workers (threads here, each with its own connections) run the whole 12 January tick
    at the same moment: the outbox keys and the claim hold on SQLite and on PostgreSQL."""
    import asyncio
    import threading

    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def worker(name: str) -> None:
        barrier.wait()
        try:
            prepared = prepare_reminders(loaded, "lingchuan-2023", at(date(2023, 1, 12)), None)
            delivered = asyncio.run(
                deliver_outbox(loaded, "lingchuan-2023", run_id=name, now=datetime.now(UTC))
            )
            results[name] = (prepared, delivered)
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            results[name] = error

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    failures = [r for r in results.values() if isinstance(r, Exception)]
    assert failures == [] and len(results) == 2
    queued = sum(len(p.queued) for p, _ in results.values())  # type: ignore[misc]
    sent = sum(d.count("sent") for _, d in results.values())  # type: ignore[misc]
    total = outbox_count(loaded)
    assert queued == total == sent == outbox_count(loaded, "sent") == 82
    keys = [m.message["X-Taskforce-Key"] for m in smtp_server.messages]
    assert len(keys) == len(set(keys)) == 82  # no mail went out twice
