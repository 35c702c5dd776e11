"""Outbox delivery holes closed: outcomes written while a batch is sent, a heartbeat on the claims
of a run still sending, a mail that cannot be built failing alone, partial refusals kept.

Real aiosmtpd server on loopback and a real SQLite file (PostgreSQL too when configured); the
server holds a chosen mail before answering its DATA, so the test looks at the database while
the batch is still under way.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Connection
from sqlmodel import Session as DbSession
from sqlmodel import col, select, update

from config.errors import RecordingFailed
from config.settings import Settings
from models import tables as t
from models.db import get_engine, session_scope
from models.outbox import (
    NewNotification,
    Outcome,
    claim_pending,
    drop_settled_messages,
    enqueue,
    record_outcomes,
    release_expired_claims,
)
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI
from tasks.mail.outbox import deliver_outbox, holder_id
from tasks.mail.smtp import DeliveryOutcome, OutgoingMail, send_batch
from tasks.reminders.report import reminder_markdown
from tasks.reminders.steps import PrepareSummary, prepare_reminders
from tasks.render import md_cell
from tests.helpers import load_seeds
from tests.smtp_server import RecordingHandler, SmtpServer

POLICY = "lingchuan-2023"
NOW = datetime(2023, 1, 12, 1, 0, tzinfo=UTC)


class HoldingHandler(RecordingHandler):
    """Records like the others, but keeps the mail to ``address`` waiting before its DATA answer
    until the test calls ``release.set()``; ``held`` is set once that mail has arrived."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address
        self.held = threading.Event()
        self.release = threading.Event()
        self.arrived: dict[str, float] = {}  # first recipient -> time.monotonic() of its DATA

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.arrived.setdefault(envelope.rcpt_tos[0], time.monotonic())
        if self.address in envelope.rcpt_tos:
            self.held.set()
            # In a thread: the server's loop keeps serving while this mail waits.
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def holding_server() -> Iterator[Callable[[str], SmtpServer]]:
    """``holding_server(address)``: a recording server that holds the mail to ``address``."""
    servers: list[SmtpServer] = []

    def make(address: str) -> SmtpServer:
        server = SmtpServer()
        server.handler = HoldingHandler(address)
        server.start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            assert isinstance(server.handler, HoldingHandler)
            server.handler.release.set()  # a failed test must not leave a thread waiting
            server.stop()


def _with_smtp(settings: Settings, server: SmtpServer, **overrides: object) -> Settings:
    values: dict[str, object] = {"backoff_seconds": 0.01, "max_attempts": 3, "timeout": 30.0}
    values.update(overrides)
    return settings.model_copy(update={"smtp": server.smtp_settings(**values)})


def _queue(settings: Settings, count: int, *, to: Callable[[int], list[str]] | None = None) -> None:
    """``count`` plain notices of 陵川 2023 in the outbox, to unit0…, in id order."""
    with session_scope(settings) as session:
        policy_id = get_policy(session, POLICY).id
        enqueue(
            session,
            [
                NewNotification(
                    idempotency_key=f"{POLICY}|test|{n}",
                    kind="reminder",
                    policy_id=policy_id,
                    cycle_id=None,
                    unit_id=None,
                    to=to(n) if to else [f"unit{n}@lingchuan.example.org"],
                    subject=f"关于报送任务清单台账的提醒（第{n}号）",
                    body_text=f"请于2023年1月20日前报送任务清单台账。编号 {n}。",
                    body_html="",
                )
                for n in range(count)
            ],
            now=NOW,
        )


def _rows(settings: Settings) -> dict[str, t.Notification]:
    """Every outbox row by first recipient, read in a session of its own."""
    with DbSession(get_engine(settings)) as session:
        rows = session.exec(select(t.Notification).order_by(col(t.Notification.id))).all()
        return {row.to[0]: row for row in rows}


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Give the delivery's event loop turns until ``condition`` holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


async def _wait_held(handler: HoldingHandler) -> None:
    assert await asyncio.to_thread(handler.held.wait, 10), "the held mail never arrived"


# --- send_batch's callback -----------------------------------------------------------------


def _mail(n: int) -> OutgoingMail:
    message = EmailMessage()
    message["From"] = "zhuanban-office@example.org"
    message["To"] = f"unit{n}@lingchuan.example.org"
    message["Subject"] = f"提醒（第{n}号）"
    message.set_content("请按时报送。")
    return OutgoingMail(key=f"k{n}", message=message, recipients=(str(message["To"]),))


async def test_on_settled_sees_each_outcome_once_and_its_errors_do_not_stop_the_batch(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.refuse_recipient("unit1@lingchuan.example.org")
    seen: list[DeliveryOutcome] = []

    def on_settled(outcome: DeliveryOutcome) -> None:
        seen.append(outcome)
        if outcome.key == "k0":
            raise RuntimeError("a bookkeeping bug")

    outcomes = await send_batch(
        [_mail(n) for n in range(4)],
        smtp_server.smtp_settings(concurrency=1),
        on_settled=on_settled,
    )
    assert seen == outcomes  # concurrency 1: settled in order
    assert [o.status for o in outcomes] == ["sent", "failed", "sent", "sent"]
    assert len(smtp_server.messages) == 3


# --- deliver_outbox ------------------------------------------------------------------------


async def test_outcomes_are_recorded_while_the_batch_is_still_sending(
    db_settings: Settings, holding_server: Callable[[str], SmtpServer]
) -> None:
    """The last mail is held by the server: the earlier ones are already `sent` in the database,
    so a process dying now would send only the held one again."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 6)
    server = holding_server("unit5@lingchuan.example.org")
    handler = server.handler
    assert isinstance(handler, HoldingHandler)
    settings = _with_smtp(db_settings, server, concurrency=1)

    delivery = asyncio.create_task(deliver_outbox(settings, POLICY, run_id="run-a", now=NOW))
    await _wait_held(handler)
    earlier = [f"unit{n}@lingchuan.example.org" for n in range(5)]
    await _until(
        lambda: all(_rows(settings)[a].status == "sent" for a in earlier),
        "the five mails the server accepted are recorded as sent",
    )
    assert not delivery.done()
    rows = _rows(settings)
    assert rows["unit5@lingchuan.example.org"].status == "sending"
    assert all(rows[a].attempts == 1 and rows[a].sent_at is not None for a in earlier)
    assert all(rows[a].server_reply.startswith("250 ") for a in earlier)

    handler.release.set()
    summary = await delivery
    assert summary.count("sent") == 6
    assert {row.status for row in _rows(settings).values()} == {"sent"}
    assert len(server.messages) == 6


class WitnessHandler(RecordingHandler):
    """Before answering each DATA, reads how many rows the outbox already records as sent."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.sent_before: list[int] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        def count() -> int:
            with DbSession(get_engine(self.settings)) as db:
                rows = db.exec(select(t.Notification).where(t.Notification.status == "sent"))
                return len(rows.all())

        self.sent_before.append(await asyncio.get_running_loop().run_in_executor(None, count))
        return await super().handle_DATA(server, session, envelope)


async def test_each_outcome_is_stored_before_the_connection_sends_the_next_mail(
    db_settings: Settings,
) -> None:
    """One connection, 12 mails: when the server receives mail n, the n mails before it are
    already `sent` in the database, so a kill at any moment repeats at most the mail in flight."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 12)
    server = SmtpServer()
    server.handler = WitnessHandler(db_settings)
    server.start()
    try:
        settings = _with_smtp(db_settings, server, concurrency=1)
        summary = await deliver_outbox(settings, POLICY, run_id="run-w", now=NOW)
    finally:
        server.stop()
    assert summary.count("sent") == 12
    assert server.handler.sent_before == list(range(12))


async def test_a_run_still_sending_renews_its_lease_and_an_expired_one_is_released(
    db_settings: Settings, holding_server: Callable[[str], SmtpServer]
) -> None:
    """While a mail is held, the delivery renews its claims' lease (every third of it): a
    release after the first lease ran out leaves them alone, while a claim whose lease ran out
    (its delivery died) is released and its mail sent by the next delivery."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 3)
    with session_scope(db_settings) as session:  # a delivery that died holding this row
        session.execute(
            update(t.Notification)
            .where(col(t.Notification.idempotency_key) == f"{POLICY}|test|0")
            .values(status="sending", claimed_by="dead-run", claim_holder="elsewhere:1",
                    lease_until=NOW - timedelta(seconds=1), updated_at=NOW)
        )  # fmt: skip
    server = holding_server("unit2@lingchuan.example.org")
    handler = server.handler
    assert isinstance(handler, HoldingHandler)
    settings = _with_smtp(db_settings, server, concurrency=1, lease_seconds=1.5)
    clock = [NOW]

    delivery = asyncio.create_task(
        deliver_outbox(settings, POLICY, run_id="run-b", now=NOW, clock=lambda: clock[0])
    )
    await _wait_held(handler)
    held = "unit2@lingchuan.example.org"
    first = _rows(settings)[held]
    assert (first.status, first.claim_holder) == ("sending", holder_id())
    assert first.lease_until == NOW + timedelta(seconds=1.5)
    clock[0] = NOW + timedelta(minutes=10)
    await _until(
        lambda: _rows(settings)[held].lease_until == clock[0] + timedelta(seconds=1.5),
        "the held row's lease follows the run's clock",
    )
    with session_scope(settings) as session:  # another run, after the first lease ran out
        released = release_expired_claims(session, now=NOW + timedelta(seconds=2))
    assert released == 0  # the dead run's row went at the start of run-b; ours is renewed
    rows = _rows(settings)
    assert (rows[held].status, rows[held].claimed_by) == ("sending", "run-b")

    handler.release.set()
    summary = await delivery
    # The dead run's row was released when run-b started and sent with the rest.
    assert [o.status for o in summary.outcomes] == ["sent", "sent", "sent"]
    assert {row.status for row in _rows(settings).values()} == {"sent"}
    assert _rows(settings)[held].lease_until is None
    assert len(server.messages) == 3 and set(server.message_ids().values()) == {1}


def test_a_claim_returns_the_rows_it_changed_in_id_order_and_a_second_claim_none_of_them(
    db_settings: Settings,
) -> None:
    """The claim is one UPDATE … RETURNING: what it returns is exactly what it marked, with
    the timestamps the ORM reads (decoded by the claim itself, microseconds or none)."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 5)
    tried = {1: datetime(2023, 1, 11, 8, 0, 0, 123456, tzinfo=UTC), 2: NOW - timedelta(days=1)}
    with session_scope(db_settings) as session:
        for n, moment in tried.items():
            session.execute(
                update(t.Notification)
                .where(col(t.Notification.idempotency_key) == f"{POLICY}|test|{n}")
                .values(first_tried_at=moment, attempts=1)
            )
    with session_scope(db_settings) as session:
        policy_id = get_policy(session, POLICY).id
        assert policy_id is not None
        lease = NOW + timedelta(seconds=15)
        first = claim_pending(
            session, policy_id=policy_id, run_id="a", now=NOW, lease_until=lease, limit=3
        )
        second = claim_pending(session, policy_id=policy_id, run_id="b", now=NOW, lease_until=lease)
        third = claim_pending(session, policy_id=policy_id, run_id="c", now=NOW, lease_until=lease)
    assert [row.to for row in first] == [[f"unit{n}@lingchuan.example.org"] for n in range(3)]
    assert [row.to for row in second] == [[f"unit{n}@lingchuan.example.org"] for n in (3, 4)]
    assert third == []
    assert all(row.mime is not None and row.cc == [] for row in first + second)
    rows = _rows(db_settings)
    by_address = {row.to[0]: row for row in first + second}
    assert {a: (r.created_at, r.first_tried_at) for a, r in by_address.items()} == {
        a: (r.created_at, r.first_tried_at) for a, r in rows.items()
    }
    assert [by_address[f"unit{n}@lingchuan.example.org"].first_tried_at for n in (0, 1, 2)] == [
        None, tried[1], tried[2]
    ]  # fmt: skip
    assert {a: (r.status, r.claimed_by) for a, r in rows.items()} == {
        f"unit{n}@lingchuan.example.org": ("sending", "a" if n < 3 else "b") for n in range(5)
    }


def test_outcomes_written_on_the_driver_are_stored_as_the_orm_stores_them(
    db_settings: Settings,
) -> None:
    """``record_outcomes`` runs its UPDATE on the driver's cursor with values it converts
    itself: each column must hold what SQLAlchemy writes for the same values (timestamps
    above all: the give-up age and the office's views compare them), for a sent, a failed
    and a pending outcome, microseconds and a first attempt from an earlier run included."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 6)
    now = datetime(2023, 1, 12, 9, 30, 0, 123456, tzinfo=SHANGHAI)
    earlier = datetime(2023, 1, 12, 8, 0, 0, tzinfo=SHANGHAI)  # within the give-up limits
    outcomes = [  # (status, attempts before, attempts now, first tried, reply, error)
        ("sent", 0, 1, None, "250 2.0.0 Ok: queued as 7F3A2", ""),
        ("failed", 1, 1, earlier, "550 5.1.1 用户不存在", "收件人地址被拒收"),
        ("pending", 2, 1, earlier, "451 4.7.1 稍后再试", "暂时无法投递"),
    ]
    with session_scope(db_settings) as session:
        ids = [
            row.id or 0
            for row in session.exec(select(t.Notification).order_by(col(t.Notification.id)))
        ]
        record_outcomes(
            session,
            [
                Outcome(ids[i], before, status, tried, reply, error, first)
                for i, (status, before, tried, first, reply, error) in enumerate(outcomes)
            ],
            now=now,
        )
        for i, (status, before, tried, first, reply, error) in enumerate(outcomes):
            twin = session.get(t.Notification, ids[i + 3])
            assert twin is not None
            twin.status, twin.attempts = status, before + tried
            twin.server_reply, twin.last_error = reply, error
            twin.updated_at, twin.lease_until = now, None
            twin.sent_at = now if status == "sent" else None
            twin.first_tried_at = first or now
            session.add(twin)
    columns = (
        "status, attempts, server_reply, last_error, updated_at, sent_at, first_tried_at,"
        " lease_until"
    )
    with get_engine(db_settings).connect() as connection:
        stored = connection.exec_driver_sql(f"SELECT {columns} FROM notification ORDER BY id").all()
    assert [tuple(row) for row in stored[:3]] == [tuple(row) for row in stored[3:]]
    assert [row[0] for row in stored[:3]] == ["sent", "failed", "pending"]
    rows = list(_rows(db_settings).values())
    assert rows[0].sent_at == now and rows[1].first_tried_at == earlier


async def test_a_claim_of_a_dead_process_is_released_at_once(
    db_settings: Settings, smtp_server: SmtpServer
) -> None:
    """kill -9 leaves rows `sending` with a lease still running; their holder is a process of
    this host that no longer exists, so the next delivery sends them without waiting."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 4)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    holder = f"{socket.gethostname()}:{gone.pid}"
    with session_scope(db_settings) as session:
        session.execute(
            update(t.Notification)
            .values(status="sending", claimed_by="killed", claim_holder=holder,
                    lease_until=NOW + timedelta(hours=1), updated_at=NOW)
        )  # fmt: skip
    settings = _with_smtp(db_settings, smtp_server)

    summary = await deliver_outbox(settings, POLICY, run_id="run-e", now=NOW)

    assert summary.count("sent") == 4 and len(smtp_server.messages) == 4
    assert {row.status for row in _rows(settings).values()} == {"sent"}


async def test_a_mail_that_keeps_failing_is_failed_at_the_limits(
    db_settings: Settings, smtp_server: SmtpServer
) -> None:
    """A 4xx every time: pending while under the limits, then failed with the reply, by the
    number of attempts in all runs or by its age, never pending for ever."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 3)
    with session_scope(db_settings) as session:
        for key, attempts, created in (
            (f"{POLICY}|test|0", 0, NOW), (f"{POLICY}|test|1", 6, NOW),
            (f"{POLICY}|test|2", 1, NOW - timedelta(hours=25)),
        ):  # fmt: skip
            session.execute(
                update(t.Notification)
                .where(col(t.Notification.idempotency_key) == key)
                .values(attempts=attempts, first_tried_at=created if attempts else None)
            )
    smtp_server.fail_next_data(count=100)
    settings = _with_smtp(db_settings, smtp_server, max_attempts=2, concurrency=1)

    await deliver_outbox(settings, POLICY, run_id="run-f", now=NOW)

    rows = _rows(settings)
    fresh, tried, old = (rows[f"unit{n}@lingchuan.example.org"] for n in range(3))
    assert (fresh.status, fresh.attempts) == ("pending", 2)
    assert (tried.status, tried.attempts) == ("failed", 8)
    assert tried.last_error.startswith("已尝试8次仍未送达：") and "451" in tried.last_error
    assert old.status == "failed" and old.last_error.startswith("首次投递24小时后仍未送达：")
    assert fresh.first_tried_at is not None and fresh.first_tried_at - NOW < timedelta(seconds=5)
    assert tried.server_reply.startswith("451")


async def test_a_missing_form_holds_its_row_and_the_rest_is_sent(
    db_settings: Settings, smtp_server: SmtpServer
) -> None:
    """A form file gone from disk is not the recipient's fault: its mail waits (pending, no
    attempt counted) with the path named, and the rest of the batch goes."""
    load_seeds(db_settings)
    settings = _with_smtp(db_settings, smtp_server)
    prepared = prepare_reminders(
        settings, "xinjiang-2022", datetime(2022, 11, 1, 9, tzinfo=SHANGHAI), "monthly"
    )
    assert len(prepared.queued) > 30
    with DbSession(get_engine(settings)) as session:
        victim = session.exec(select(t.Notification).order_by(col(t.Notification.id))).all()[3]
    missing = Path(victim.attachments[0]["path"])
    missing.unlink()

    summary = await deliver_outbox(settings, "xinjiang-2022", run_id="run-c", now=NOW)

    assert summary.count("pending") == 1 and summary.count("failed") == 0
    assert summary.count("sent") == len(prepared.queued) - 1
    with DbSession(get_engine(settings)) as session:
        rows = session.exec(select(t.Notification)).all()
    held = [row for row in rows if row.status == "pending"]
    assert [row.idempotency_key for row in held] == [victim.idempotency_key]
    assert held[0].last_error == f"附件文件不存在：{missing}"
    assert held[0].attempts == 0 and held[0].first_tried_at is None  # never handed to the server
    assert {row.status for row in rows if row.id != victim.id} == {"sent"}
    keys = {str(m.message["X-Taskforce-Key"]) for m in smtp_server.messages}
    assert victim.idempotency_key not in keys and len(keys) == len(prepared.queued) - 1
    markdown = reminder_markdown("t", prepared, summary)
    assert md_cell(str(missing)) in markdown  # the path as the rendered artifact shows it


async def test_a_refused_recipient_is_kept_on_the_sent_row(
    db_settings: Settings, smtp_server: SmtpServer
) -> None:
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 2, to=lambda n: [f"unit{n}@lingchuan.example.org", f"gone{n}@example.org"])
    smtp_server.refuse_recipient("gone1@example.org")
    settings = _with_smtp(db_settings, smtp_server)

    summary = await deliver_outbox(settings, POLICY, run_id="run-d", now=NOW)

    rows = _rows(settings)
    partly = rows["unit1@lingchuan.example.org"]
    assert partly.status == "sent" and partly.server_reply.startswith("250 ")
    assert partly.last_error == "部分收件人被拒收：gone1@example.org（550 5.1.1 User unknown）"
    whole = rows["unit0@lingchuan.example.org"]
    assert (whole.status, whole.last_error) == ("sent", "")
    assert (summary.count("sent"), summary.partly_refused()) == (2, 1)
    markdown = reminder_markdown("t", PrepareSummary(as_of=NOW), summary)
    assert "发送成功 2 封（其中 1 封部分收件人被拒收）" in markdown
    row = "| 已发送（部分收件人被拒收） | unit1\\@lingchuan.example.org, gone1\\@example.org |"
    assert row in markdown
    assert "gone1\\@example.org（550 5.1.1 User unknown）" in markdown


# --- outcome writes: a database that fails or is busy ------------------------------------


def _fail_when_sent(settings: Settings, key: str) -> Callable[[], None]:
    """A trigger that refuses to store ``key`` as sent (a database error that is not a busy
    lock); returns what removes it."""
    engine = get_engine(settings)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_sent BEFORE UPDATE OF status ON notification"
                f" WHEN NEW.status = 'sent' AND OLD.idempotency_key = '{key}'"
                " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION refuse_sent() RETURNS trigger AS $$ BEGIN"
                " RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation';"
                " END $$ LANGUAGE plpgsql"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_sent BEFORE UPDATE OF status ON notification FOR EACH ROW"
                f" WHEN (NEW.status = 'sent' AND OLD.idempotency_key = '{key}')"
                " EXECUTE FUNCTION refuse_sent()"
            )

    def remove() -> None:
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_sent")
            else:
                connection.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_sent ON notification")
                connection.exec_driver_sql("DROP FUNCTION IF EXISTS refuse_sent()")

    return remove


async def test_an_outcome_the_database_refuses_stops_the_batch_instead_of_hanging_it(
    db_settings: Settings, smtp_server: SmtpServer
) -> None:
    """The database refuses to store mail 3 as sent (not a busy lock: a trigger raising an
    error). The connection waiting for that outcome gets the error: the delivery ends with it
    at once, mail 4 and after are not sent, and mail 3 is still claimed, so the next delivery
    sends it again (the one mail in flight, as after a crash). Before, the delivery waited for
    the outcome forever."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 8)
    remove = _fail_when_sent(db_settings, f"{POLICY}|test|3")
    try:
        settings = _with_smtp(db_settings, smtp_server, concurrency=1)
        with pytest.raises(RecordingFailed, match="refused by the test"):
            await asyncio.wait_for(deliver_outbox(settings, POLICY, run_id="run-f", now=NOW), 30)
    finally:
        remove()
    received = [mail.rcpt_tos[0] for mail in smtp_server.messages]
    assert received == [f"unit{n}@lingchuan.example.org" for n in range(4)]
    rows = _rows(db_settings)
    assert [rows[f"unit{n}@lingchuan.example.org"].status for n in range(8)] == (
        ["sent"] * 3 + ["sending"] * 5
    )
    # The claims go back once their lease has run out; then everything not sent goes, mail 3
    # a second time (same Message-ID), nothing else twice.
    later = NOW + timedelta(seconds=settings.smtp.lease_seconds + 1)
    summary = await deliver_outbox(settings, POLICY, run_id="run-g", now=later)
    assert summary.count("sent") == 5
    assert {row.status for row in _rows(db_settings).values()} == {"sent"}
    counts = smtp_server.message_ids()
    assert len(counts) == 8 and sorted(counts.values()) == [1] * 7 + [2]


async def test_a_busy_database_holds_the_connections_without_stalling_the_event_loop(
    db_settings: Settings, holding_server: Callable[[str], SmtpServer]
) -> None:
    """Another writer locks the outbox for a second while mail 2 is being sent. Its outcome
    waits for the lock: mail 3 reaches the server only after the lock is gone (a crash in
    between repeats mail 2 at most), every mail goes once, and the event loop, where the
    outcomes are written, never stops for more than a fraction of the lock's second (a write
    waiting the database's 30 s for the lock would have stopped it all that time)."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 6)
    server = holding_server("unit2@lingchuan.example.org")
    handler = server.handler
    assert isinstance(handler, HoldingHandler)
    settings = _with_smtp(db_settings, server, concurrency=1)
    engine = get_engine(db_settings)
    locked, unlocked_at = threading.Event(), [0.0]

    def hold_the_lock() -> None:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("LOCK TABLE notification IN EXCLUSIVE MODE")
            locked.set()
            time.sleep(1.0)
            unlocked_at[0] = time.monotonic()
            connection.commit()

    gaps: list[float] = []

    async def watch_the_loop() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    watcher = asyncio.create_task(watch_the_loop())
    delivery = asyncio.create_task(deliver_outbox(settings, POLICY, run_id="run-l", now=NOW))
    await _wait_held(handler)
    locker = threading.Thread(target=hold_the_lock)
    locker.start()
    assert await asyncio.to_thread(locked.wait, 10)
    arrivals_before = len(server.messages)
    handler.release.set()
    summary = await asyncio.wait_for(delivery, 30)
    watcher.cancel()
    await asyncio.to_thread(locker.join)
    assert arrivals_before == 2
    assert summary.count("sent") == 6
    assert {row.status for row in _rows(settings).values()} == {"sent"}
    assert len(server.messages) == 6 and set(server.message_ids().values()) == {1}
    mail_3 = handler.arrived["unit3@lingchuan.example.org"]
    assert mail_3 >= unlocked_at[0], "mail 3 went before the outcome of mail 2 was stored"
    assert max(gaps) < 0.5, f"the event loop stopped for {max(gaps):.2f} s"


def _commit_settings(connection: Connection) -> tuple[str, str]:
    """(how commits are flushed, how long a lock is waited for) on this connection."""
    if connection.dialect.name == "sqlite":
        return (
            str(connection.exec_driver_sql("PRAGMA synchronous").scalar()),
            str(connection.exec_driver_sql("PRAGMA busy_timeout").scalar()),
        )
    return (
        str(connection.exec_driver_sql("SHOW synchronous_commit").scalar()),
        str(connection.exec_driver_sql("SHOW lock_timeout").scalar()),
    )


async def test_the_delivery_gives_its_connection_back_flushing_commits_again(
    db_settings: Settings, smtp_server: SmtpServer
) -> None:
    """The outcome writes' connection skips the disk flush and waits briefly for locks; back in
    the pool it must not: every pooled connection after a delivery commits and waits as one
    that never delivered (a submission written on it must reach the disk)."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 5)
    engine = get_engine(db_settings)
    with engine.connect() as connection:
        usual = _commit_settings(connection)
    summary = await deliver_outbox(
        _with_smtp(db_settings, smtp_server, concurrency=2), POLICY, run_id="run-p", now=NOW
    )
    assert summary.count("sent") == 5
    idle = engine.pool.checkedin()  # type: ignore[attr-defined]
    assert idle >= 1
    connections = [engine.connect() for _ in range(idle)]  # each connection the pool holds
    try:
        assert {_commit_settings(c) for c in connections} == {usual}
    finally:
        for connection in connections:
            connection.close()


def test_settled_rows_lose_their_stored_messages_and_a_row_locked_elsewhere_waits(
    db_settings: Settings,
) -> None:
    """``drop_settled_messages`` deletes the stored messages of sent, failed and cancelled rows,
    none of a pending one. On PostgreSQL a message another transaction holds (a delivery of
    another policy deleting it at the same moment) is left to it: no wait, no deadlock."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 5)
    engine = get_engine(db_settings)
    with session_scope(db_settings) as session:
        ids = [row.id for row in session.exec(select(t.Notification).order_by(t.Notification.id))]
        for row_id, status in zip(ids, ("sent", "sent", "failed", "cancelled"), strict=False):
            session.execute(
                update(t.Notification).where(t.Notification.id == row_id).values(status=status)
            )
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as holder:
        if postgres:  # another transaction holds the first sent row's message
            holder.exec_driver_sql(
                f"SELECT 1 FROM outboxmessage WHERE notification_id = {ids[0]} FOR UPDATE"
            )
        started = time.monotonic()
        with session_scope(db_settings) as session:
            if postgres:  # waiting for the held row would fail the test, not hang it
                session.connection().exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            dropped = drop_settled_messages(session)
        waited = time.monotonic() - started
        holder.rollback()
    with session_scope(db_settings) as session:
        left = sorted(m.notification_id for m in session.exec(select(t.OutboxMessage)))
    if postgres:
        assert (dropped, left) == (3, [ids[0], ids[4]])
        assert waited < 5, f"waited {waited:.1f} s for a row another transaction held"
    else:
        assert (dropped, left) == (4, [ids[4]])


def test_the_claim_finds_the_pending_rows_by_their_index_not_by_reading_the_outbox(
    db_settings: Settings,
) -> None:
    """The outbox keeps every mail ever sent; a delivery's claim must not read through it.
    SQLite's plan for the claim's choice of rows uses the partial index of pending rows, and
    the claim picks exactly the policy's pending rows, in order, around settled ones."""
    load_seeds(db_settings, POLICY)
    _queue(db_settings, 6)
    with session_scope(db_settings) as session:
        policy_id = get_policy(session, POLICY).id
        assert policy_id is not None
        ids = [row.id for row in session.exec(select(t.Notification).order_by(t.Notification.id))]
        for row_id in ids[::2]:  # settled before: never claimed again
            session.execute(
                update(t.Notification).where(t.Notification.id == row_id).values(status="sent")
            )
    engine = get_engine(db_settings)
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM notification WHERE status = 'pending'"
                f" AND policy_id = {policy_id} ORDER BY id LIMIT 100000"
            ).all()
        assert any("ix_notification_pending" in str(step) for step in plan), plan
    with session_scope(db_settings) as session:
        lease = NOW + timedelta(seconds=15)
        claimed = claim_pending(
            session, policy_id=policy_id, run_id="a", now=NOW, lease_until=lease
        )
    assert [row.id for row in claimed] == ids[1::2]
