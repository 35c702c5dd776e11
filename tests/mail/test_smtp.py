"""Delivery over aiosmtplib against a real aiosmtpd server; failures injected on the server side."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import replace
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib
import pytest

from config.errors import PermanentDeliveryError, TransientDeliveryError
from config.settings import SmtpSettings
from tasks.mail.smtp import OutgoingMail, classify_error, message_id_for, send_batch

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.smtp_server import SmtpServer

SENDER = "zhuanban-office@example.org"


def make_mail(n: int, *recipients: str) -> OutgoingMail:
    """A small Chinese notice like the ones the reminder flow builds."""
    to = recipients or (f"unit{n}@lingchuan.example.org",)
    key = f"lingchuan-2023|tasklist|2023-01|unit{n}|reminder|d-3"
    message = EmailMessage()
    message["From"] = f"县工作专班办公室 <{SENDER}>"
    message["To"] = ", ".join(to)
    message["Subject"] = f"关于报送任务清单台账的提醒（第{n}号）"
    message["Message-ID"] = message_id_for(key, "example.org")
    message.set_content(f"请于2023年1月20日（星期五）前报送任务清单台账。编号 {n}。")
    return OutgoingMail(key=key, message=message, recipients=tuple(to))


# --- pure functions -----------------------------------------------------------------------


def test_message_id_depends_only_on_the_key() -> None:
    first = message_id_for("lingchuan-2023|tasklist|2023-01|fgj|opening|", "example.org")
    again = message_id_for("lingchuan-2023|tasklist|2023-01|fgj|opening|", "example.org")
    other = message_id_for("lingchuan-2023|tasklist|2023-01|fgj|reminder|d-3", "example.org")
    assert first == again != other
    assert first.startswith("<") and first.endswith("@example.org>")
    assert len(first.split("@")[0]) == 33  # "<" + 32 hex digits
    with pytest.raises(ValueError):
        message_id_for("k", "")


@pytest.mark.parametrize(
    ("error", "kind", "connection"),
    [
        (
            aiosmtplib.SMTPConnectError("Error connecting: [Errno 111]"),
            TransientDeliveryError,
            True,
        ),
        (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), TransientDeliveryError, True),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), TransientDeliveryError, False),
        (aiosmtplib.SMTPReadTimeoutError("Timed out waiting"), TransientDeliveryError, False),
        (ConnectionResetError("reset by peer"), TransientDeliveryError, False),
        (aiosmtplib.SMTPDataError(451, "4.3.0 Try again later"), TransientDeliveryError, False),
        (aiosmtplib.SMTPDataError(554, "5.7.1 Rejected"), PermanentDeliveryError, False),
        (aiosmtplib.SMTPSenderRefused(421, "closing", SENDER), TransientDeliveryError, False),
        (aiosmtplib.SMTPSenderRefused(553, "not yours", SENDER), PermanentDeliveryError, False),
        (aiosmtplib.SMTPResponseException(-1, "garbled"), TransientDeliveryError, False),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 invalid"), PermanentDeliveryError, True),
        (aiosmtplib.SMTPAuthenticationError(454, "4.7.0 try later"), TransientDeliveryError, True),
        (aiosmtplib.SMTPHeloError(554, "go away"), PermanentDeliveryError, True),
        (aiosmtplib.SMTPConnectResponseError(421, "busy"), TransientDeliveryError, True),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported"), PermanentDeliveryError, False),
        (ssl.SSLCertVerificationError("certificate verify failed"), PermanentDeliveryError, True),
        (ValueError("Address 'a b@x' contains characters"), PermanentDeliveryError, False),
    ],
)
def test_classify_error(error: Exception, kind: type, connection: bool) -> None:
    result = classify_error(error)
    assert type(result) is kind
    assert result.connection is connection


@pytest.mark.parametrize(
    ("codes", "kind", "code"),
    [
        ([550, 550], PermanentDeliveryError, 550),
        ([450, 550], TransientDeliveryError, 450),
        ([452], TransientDeliveryError, 452),
    ],
)
def test_classify_every_recipient_refused(codes: list[int], kind: type, code: int) -> None:
    refusals = [
        aiosmtplib.SMTPRecipientRefused(c, "nope", f"r{i}@example.org") for i, c in enumerate(codes)
    ]
    result = classify_error(aiosmtplib.SMTPRecipientsRefused(refusals))
    assert type(result) is kind
    assert result.code == code
    assert "<r0@example.org>" in result.reply


# --- against a real server ----------------------------------------------------------------


async def test_empty_batch_sends_nothing(smtp_server: SmtpServer) -> None:
    assert await send_batch([], smtp_server.smtp_settings()) == []
    assert smtp_server.connections == 0


async def test_batch_of_50_arrives_once_over_4_connections(smtp_server: SmtpServer) -> None:
    mails = [make_mail(n) for n in range(50)]
    outcomes = await send_batch(mails, smtp_server.smtp_settings(concurrency=4))

    assert [o.key for o in outcomes] == [m.key for m in mails]
    assert {o.status for o in outcomes} == {"sent"}
    assert all(o.attempts == 1 and o.reply.startswith("250 OK queued as test-") for o in outcomes)
    assert all(o.error == "" and o.refused == {} for o in outcomes)
    ids = smtp_server.message_ids()
    assert sorted(ids) == sorted(str(m.message["Message-ID"]) for m in mails)
    assert set(ids.values()) == {1}
    # Connections are reused: one per worker, not one per message.
    assert smtp_server.connections == 4
    received = {str(r.message["Message-ID"]): r for r in smtp_server.messages}
    first = received[str(mails[0].message["Message-ID"])]
    assert first.mail_from == SENDER
    assert first.rcpt_tos == ("unit0@lingchuan.example.org",)
    assert first.message["Subject"] == "关于报送任务清单台账的提醒（第0号）"
    assert "2023年1月20日（星期五）" in first.message.get_content()


async def test_451_is_retried_and_delivered_once(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next_data(2)
    mails = [make_mail(1)]
    started = time.perf_counter()
    [outcome] = await send_batch(mails, smtp_server.smtp_settings(backoff_seconds=0.1))
    elapsed = time.perf_counter() - started

    assert outcome.status == "sent"
    assert outcome.attempts == 3
    assert 0.3 <= elapsed < 2.0  # waited 0.1 s, then 0.2 s: the backoff doubles
    assert smtp_server.data_commands == 3
    assert smtp_server.message_ids() == {str(mails[0].message["Message-ID"]): 1}


async def test_451_retries_keep_input_order_and_spare_other_mails(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.fail_next_data(3)  # whichever mails come first
    mails = [make_mail(n) for n in range(10)]
    outcomes = await send_batch(mails, smtp_server.smtp_settings(concurrency=2))

    assert [o.key for o in outcomes] == [m.key for m in mails]
    assert [o.status for o in outcomes] == ["sent"] * 10
    assert sum(o.attempts for o in outcomes) == 13
    assert set(smtp_server.message_ids().values()) == {1}
    assert len(smtp_server.messages) == 10


async def test_451_every_time_leaves_the_mail_pending(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next_data(10, reply="451 4.7.1 Greylisted, come back later")
    [outcome] = await send_batch([make_mail(1)], smtp_server.smtp_settings(max_attempts=3))

    assert outcome.status == "pending"
    assert outcome.attempts == 3
    assert outcome.reply == "451 4.7.1 Greylisted, come back later"
    assert smtp_server.messages == []


async def test_550_for_one_of_two_recipients_is_sent_with_refusal(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.refuse_recipient("gone@lingchuan.example.org")
    mail = make_mail(1, "fgj@lingchuan.example.org", "gone@lingchuan.example.org")
    [outcome] = await send_batch([mail], smtp_server.smtp_settings())

    assert outcome.status == "sent"
    assert outcome.attempts == 1
    assert outcome.refused == {"gone@lingchuan.example.org": "550 5.1.1 User unknown"}
    [received] = smtp_server.messages
    assert received.rcpt_tos == ("fgj@lingchuan.example.org",)


async def test_550_for_the_only_recipient_fails_at_once(smtp_server: SmtpServer) -> None:
    smtp_server.refuse_recipient("gone@lingchuan.example.org")
    bad = make_mail(1, "gone@lingchuan.example.org")
    good = make_mail(2)
    outcomes = await send_batch([bad, good], smtp_server.smtp_settings())

    assert [o.status for o in outcomes] == ["failed", "sent"]
    failed = outcomes[0]
    assert failed.attempts == 1
    assert failed.reply == "<gone@lingchuan.example.org> 550 5.1.1 User unknown"
    assert "550 5.1.1 User unknown" in failed.error
    assert smtp_server.data_commands == 1  # only the good mail got as far as DATA
    assert smtp_server.message_ids() == {str(good.message["Message-ID"]): 1}


async def test_554_to_data_fails_without_retry(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next_data(1, reply="554 5.7.1 Message rejected as spam")
    [outcome] = await send_batch([make_mail(1)], smtp_server.smtp_settings())

    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert outcome.reply == "554 5.7.1 Message rejected as spam"
    assert smtp_server.messages == []


async def test_temporary_refusal_of_every_recipient_is_retried(smtp_server: SmtpServer) -> None:
    smtp_server.refuse_recipient("full@lingchuan.example.org", "452 4.2.2 Mailbox full")
    [outcome] = await send_batch(
        [make_mail(1, "full@lingchuan.example.org")], smtp_server.smtp_settings(max_attempts=2)
    )

    assert (outcome.status, outcome.attempts) == ("pending", 2)
    assert outcome.reply == "<full@lingchuan.example.org> 452 4.2.2 Mailbox full"


async def test_unsendable_address_fails_alone(smtp_server: SmtpServer) -> None:
    # A mailbox typed with a space in a units file: aiosmtplib refuses to put it on a RCPT line.
    bad = replace(make_mail(1), recipients=("fgj lingchuan@example.org",))
    good = make_mail(2)
    outcomes = await send_batch([bad, good], smtp_server.smtp_settings(concurrency=1))

    assert [o.status for o in outcomes] == ["failed", "sent"]
    assert outcomes[0].error.startswith("ValueError")
    assert len(smtp_server.messages) == 1


async def test_disconnect_in_the_middle_of_data_is_retried_and_delivered_once(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.drop_next_data(1)
    mails = [make_mail(n) for n in range(3)]
    outcomes = await send_batch(mails, smtp_server.smtp_settings(concurrency=1))

    assert [o.status for o in outcomes] == ["sent"] * 3
    assert [o.attempts for o in outcomes] == [2, 1, 1]
    assert smtp_server.data_commands == 4
    assert smtp_server.connections == 2  # the cut connection was replaced once
    assert set(smtp_server.message_ids().values()) == {1}
    assert len(smtp_server.messages) == 3


async def test_server_down_leaves_all_pending_and_a_later_run_sends_them(
    smtp_server: SmtpServer,
) -> None:
    mails = [make_mail(n) for n in range(20)]
    settings = smtp_server.smtp_settings(concurrency=4, max_attempts=3, backoff_seconds=0.01)
    smtp_server.stop()

    started = time.perf_counter()
    outcomes = await send_batch(mails, settings)
    elapsed = time.perf_counter() - started

    assert [o.status for o in outcomes] == ["pending"] * 20
    assert [o.key for o in outcomes] == [m.key for m in mails]
    # Workers retried their connection with backoff; the rest were not hammered at a dead port.
    assert max(o.attempts for o in outcomes) == 3
    assert sum(o.attempts for o in outcomes) <= 4 * 3
    assert all("SMTPConnectError" in o.error for o in outcomes)
    assert 0.03 <= elapsed < 2.0  # 0.01 + 0.02 s of backoff, not 20 × 3 attempts

    smtp_server.start()
    again = await send_batch(mails, settings)
    assert [o.status for o in again] == ["sent"] * 20
    assert set(smtp_server.message_ids().values()) == {1}
    assert len(smtp_server.messages) == 20


async def test_server_that_never_greets_times_out_as_pending() -> None:
    # A socket that listens but never answers: TCP connects, the 220 greeting never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        settings = SmtpSettings(
            host="127.0.0.1", port=port, timeout=0.2, max_attempts=2, backoff_seconds=0.01
        )
        started = time.perf_counter()
        outcomes = await send_batch([make_mail(1), make_mail(2)], settings)
        elapsed = time.perf_counter() - started

    assert [o.status for o in outcomes] == ["pending", "pending"]
    assert "SMTPConnectTimeoutError" in outcomes[0].error
    assert elapsed < 3.0


async def test_login_with_the_configured_password(
    make_smtp_server: Callable[..., SmtpServer],
) -> None:
    server = make_smtp_server(login=("office", "s3cret-口令"))
    good = server.smtp_settings(username="office", password="s3cret-口令")
    outcomes = await send_batch([make_mail(n) for n in range(3)], good)
    assert [o.status for o in outcomes] == ["sent"] * 3

    wrong = server.smtp_settings(username="office", password="guess")
    outcomes = await send_batch([make_mail(n) for n in range(5)], wrong)

    # A refused login says nothing about the mails: nothing failed, everything waits, and
    # the batch stopped at the first refusal instead of trying every mail.
    assert [o.status for o in outcomes] == ["pending"] * 5
    assert sum(o.attempts for o in outcomes) <= 4
    assert any(o.reply.startswith("535") for o in outcomes)
    assert len(server.messages) == 3


async def test_concurrency_is_bounded(smtp_server: SmtpServer) -> None:
    mails = [make_mail(n) for n in range(30)]
    outcomes = await send_batch(mails, smtp_server.smtp_settings(concurrency=64))
    assert [o.status for o in outcomes] == ["sent"] * 30
    assert smtp_server.connections <= 30

    await asyncio.sleep(0)  # the server side has seen every QUIT by now
    before = smtp_server.connections
    await send_batch(mails[:3], smtp_server.smtp_settings(concurrency=2))
    assert smtp_server.connections - before == 2
