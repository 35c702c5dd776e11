"""Errors that are ours, not the recipient's: they stop the batch and leave every mail pending,
marked with the cause, against a real aiosmtpd server that refuses what a bad setting sends."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib
import pytest

from config.errors import PermanentDeliveryError, TransientDeliveryError
from tasks.mail.smtp import (
    LOCAL_CAUSES,
    OutgoingMail,
    classify_error,
    message_id_for,
    send_batch,
    sender_problem,
    stop_cause,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.smtp_server import SmtpServer

SENDER = "zhuanban-office@example.org"


def make_mail(n: int) -> OutgoingMail:
    key = f"lingchuan-2023|monthly-progress|2023-02|unit{n}|reminder|d-3"
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = f"unit{n}@lingchuan.example.org"
    message["Subject"] = f"【报送提醒】第{n}号"
    message["Message-ID"] = message_id_for(key, "example.org")
    message.set_content("请于2023年3月5日前报送。")
    return OutgoingMail(key=key, message=message, recipients=(f"unit{n}@lingchuan.example.org",))


@pytest.mark.parametrize(
    ("sender", "problem"),
    [
        ("", "为空"),
        ("   ", "为空"),
        ("office", "“office”不是有效的邮件地址"),
        ("office@", "“office@”不是有效的邮件地址"),
        ("@example.org", "“@example.org”不是有效的邮件地址"),
        ("zhuan ban@example.org", "“zhuan ban@example.org”不是有效的邮件地址"),
        (SENDER, ""),
        (f"县工作专班办公室 <{SENDER}>", ""),
        ("office@mail", ""),  # an intranet host name without a dot is an address too
    ],
)
def test_sender_problem(sender: str, problem: str) -> None:
    assert sender_problem(sender) == problem


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (aiosmtplib.SMTPSenderRefused(553, "5.7.1 Sender address rejected", SENDER), "sender"),
        (aiosmtplib.SMTPSenderRefused(550, "5.7.1 not allowed to send", SENDER), "sender"),
        (aiosmtplib.SMTPSenderRefused(530, "5.7.0 Authentication required", SENDER), "auth"),
        # The message is too big for the server: the mail's own, it fails alone.
        (aiosmtplib.SMTPSenderRefused(552, "5.3.4 Message size exceeds", SENDER), ""),
        (aiosmtplib.SMTPSenderRefused(421, "4.7.0 try later", SENDER), ""),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 invalid credentials"), "auth"),
        (ssl.SSLCertVerificationError("certificate verify failed"), "tls"),
        (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), "tls"),
        (aiosmtplib.SMTPHeloError(554, "5.7.1 go away"), "refused"),
        # The recipient's or the message's: not a reason to stop.
        (aiosmtplib.SMTPDataError(554, "5.7.1 Rejected"), ""),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 unknown", "a@example.org")]
            ),
            "",
        ),
        (aiosmtplib.SMTPConnectError("Error connecting"), ""),  # transient: retried first
    ],
)
def test_stop_cause(error: Exception, cause: str) -> None:
    connecting = isinstance(error, ssl.SSLError | aiosmtplib.SMTPHeloError)
    assert stop_cause(error, classify_error(error, connecting=connecting)) == cause
    assert (cause in LOCAL_CAUSES) is bool(cause)


def test_classification_of_a_refused_sender_is_unchanged() -> None:
    """A 5xx to MAIL FROM is still permanent for the error tree; stop_cause adds whose it is."""
    refused = classify_error(aiosmtplib.SMTPSenderRefused(553, "no", SENDER))
    assert isinstance(refused, PermanentDeliveryError) and refused.code == 553
    later = classify_error(aiosmtplib.SMTPSenderRefused(421, "later", SENDER))
    assert isinstance(later, TransientDeliveryError)


async def test_a_refused_sender_stops_the_batch_and_the_right_one_sends_all(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.refuse_sender("typo@example.org")
    mails = [make_mail(n) for n in range(12)]
    wrong = smtp_server.smtp_settings(sender="typo@example.org", concurrency=3)

    outcomes = await send_batch(mails, wrong)

    # Before: every mail failed for good with 553. Now none is the recipients' failure.
    assert [o.status for o in outcomes] == ["pending"] * 12
    assert {o.stop for o in outcomes} == {"sender"} and all(o.local for o in outcomes)
    assert all(o.reply.startswith("553 5.7.1") for o in outcomes)
    # The batch stopped: at most one MAIL FROM per connection, not one per mail.
    assert sum(o.attempts for o in outcomes) <= 3
    assert smtp_server.messages == []

    again = await send_batch(mails, smtp_server.smtp_settings(sender=SENDER, concurrency=3))
    assert [o.status for o in again] == ["sent"] * 12
    assert {o.stop for o in again} == {""}
    assert set(smtp_server.message_ids().values()) == {1} and len(smtp_server.messages) == 12


async def test_an_empty_sender_sends_nothing_and_does_not_connect(
    smtp_server: SmtpServer,
) -> None:
    settled = []
    outcomes = await send_batch(
        [make_mail(n) for n in range(3)],
        smtp_server.smtp_settings(sender=""),
        on_settled=settled.append,
    )
    assert [(o.status, o.stop, o.attempts) for o in outcomes] == [("pending", "sender", 0)] * 3
    assert settled == outcomes  # recorded like any other outcome
    assert smtp_server.connections == 0


async def test_a_refused_login_stops_with_auth(
    make_smtp_server: Callable[..., SmtpServer],
) -> None:
    server = make_smtp_server(login=("office", "s3cret"))
    outcomes = await send_batch(
        [make_mail(n) for n in range(5)],
        server.smtp_settings(username="office", password="guess"),
    )
    assert [(o.status, o.stop) for o in outcomes] == [("pending", "auth")] * 5
    assert all(o.reply.startswith("535") for o in outcomes)


async def test_starttls_the_server_does_not_offer_stops_with_tls(smtp_server: SmtpServer) -> None:
    outcomes = await send_batch(
        [make_mail(n) for n in range(4)], smtp_server.smtp_settings(starttls=True)
    )
    assert [(o.status, o.stop) for o in outcomes] == [("pending", "tls")] * 4
    assert "STARTTLS" in outcomes[0].error


async def test_a_server_that_is_down_is_not_a_local_cause(smtp_server: SmtpServer) -> None:
    settings = smtp_server.smtp_settings(max_attempts=2)
    smtp_server.stop()
    outcomes = await send_batch([make_mail(n) for n in range(6)], settings)
    assert {(o.status, o.stop) for o in outcomes} == {("pending", "unreachable")}
    assert not any(o.local for o in outcomes)
