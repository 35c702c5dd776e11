"""The message serialised when a mail is queued is the one ``build_email`` gives, and delivery
sends it with the settings of the day it goes out.

Byte for byte (multipart boundaries aside, which are random in every build) and parsed (headers,
bodies, attachments); through a real aiosmtpd server and a real SQLite file: a changed sender,
an attachment changed or deleted after queueing, a row queued before messages were stored.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import select

from config.settings import Settings
from flows.delivery import deliver_steps
from models import tables as t
from models.db import session_scope
from models.outbox import ClaimedRow, NewNotification, enqueue
from tasks.mail.batch import build_batch
from tasks.mail.notices import build_email, flatten, prebuild, wire_bytes
from tasks.mail.smtp import message_id_for
from tests.helpers import load_seeds, mail_body
from tests.smtp_server import ReceivedMail, SmtpServer

POLICY = "lingchuan-2023"
OFFICE = "taskforce-office@lingchuan.example.org"  # the seed's office mailbox
QUEUED = datetime(2023, 3, 1, 1, 30, tzinfo=UTC)
SUBJECT = (
    "【报送提醒】陵川县人力资源和社会保障局：请于2023年3月5日前报送《关于进一步做好稳就业工作的"
    "若干措施》落实情况（2023年2月）"
)


def boundaries_numbered(data: bytes) -> bytes:
    """The message with its random multipart boundaries renamed in order of appearance."""
    seen: list[bytes] = []
    for found in re.findall(rb"={15}\d+==", data):
        if found not in seen:
            seen.append(found)
    for number, found in enumerate(seen):
        data = data.replace(found, b"BOUNDARY-%d" % number)
    return data.replace(b"\r\n", b"\n")


def parts(message: Message) -> list[tuple[str, str | None, bytes]]:
    """(content type, attachment file name, decoded payload) of every leaf part."""
    return [
        (part.get_content_type(), part.get_filename(), part.get_payload(decode=True))
        for part in message.walk()
        if not part.is_multipart()
    ]


def row(tmp_path: Path, **changes: Any) -> ClaimedRow:
    """A claimed reminder with its bodies read, a form and an invitation (build_email's input)."""
    form = tmp_path / "2023年2月进展情况报告（县人社局）.xlsx"
    form.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 30)
    invite = tmp_path / "会议.ics"
    invite.write_text("BEGIN:VCALENDAR\nMETHOD:PUBLISH\nSUMMARY:专班例会\nEND:VCALENDAR\n")
    fields: dict[str, Any] = {
        "id": 1, "idempotency_key": f"{POLICY}/reminder/2023-02/rsj/form",
        "to": ["rsj@lingchuan.example.org", "rsj2@lingchuan.example.org"],
        "cc": ["office@lingchuan.example.org"], "subject": SUBJECT,
        "body_text": "县人社局：\n请于3月5日前报送。\n" * 40, "body_html": "<p>请报送。</p>",
        "attachments": [
            {"path": str(form), "filename": form.name},
            {"path": str(invite), "filename": invite.name},
        ],
        "created_at": QUEUED, "attempts": 0, "first_tried_at": None,
    }  # fmt: skip
    return ClaimedRow(**(fields | changes))


def stored(notification: ClaimedRow) -> bytes:
    built = prebuild(
        key=notification.idempotency_key, to=notification.to, cc=notification.cc,
        subject=notification.subject, body_text=notification.body_text,
        body_html=notification.body_html, attachments=notification.attachments,
        created_at=notification.created_at,
    )  # fmt: skip
    assert built is not None
    return built.mime


SHAPES = {
    "plain": {"cc": [], "body_html": "", "attachments": []},
    "html, cc": {"attachments": []},
    "form and invitation": {},
}
SENDERS = [
    ("zhuanban-office@example.org", OFFICE),
    ("陵川县专班 <zhuanban@lingchuan.example.org>", ""),  # a display name, no Reply-To
    ("a" * 80 + "@lingchuan.example.org", "b" * 70 + "@lingchuan.example.org"),  # folded
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("sender", "reply_to"), SENDERS)
def test_stored_bytes_are_build_email_bytes(
    tmp_path: Path, shape: str, sender: str, reply_to: str
) -> None:
    notification = row(tmp_path, **SHAPES[shape])
    expected = flatten(build_email(notification, sender=sender, reply_to=reply_to))
    sent = wire_bytes(
        stored(notification), key=notification.idempotency_key, sender=sender, reply_to=reply_to
    )
    assert boundaries_numbered(sent) == boundaries_numbered(expected)

    ours = email.message_from_bytes(sent, policy=email.policy.default)
    theirs = email.message_from_bytes(expected, policy=email.policy.default)
    names = ["From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "X-Taskforce-Key"]
    assert [str(ours[n]) for n in names] == [str(theirs[n]) for n in names]
    assert str(ours["Subject"]) == SUBJECT
    assert parts(ours) == parts(theirs)
    domain = sender.rsplit("@", 1)[-1].rstrip(">")
    assert ours["Message-ID"] == message_id_for(notification.idempotency_key, domain)


def test_build_batch_sends_stored_bytes_and_rebuilds_a_changed_or_missing_attachment(
    tmp_path: Path,
) -> None:
    sender = "zhuanban-office@example.org"
    fresh = row(tmp_path)
    built = prebuild(
        key=fresh.idempotency_key, to=fresh.to, cc=fresh.cc, subject=fresh.subject,
        body_text=fresh.body_text, body_html=fresh.body_html, attachments=fresh.attachments,
        created_at=fresh.created_at,
    )  # fmt: skip
    assert built is not None
    queued = ClaimedRow(
        id=1, idempotency_key=fresh.idempotency_key, to=fresh.to, cc=fresh.cc,
        subject=fresh.subject, body_text=fresh.body_text, body_html=fresh.body_html,
        attachments=fresh.attachments, created_at=fresh.created_at, attempts=0,
        first_tried_at=None, mime=built.mime, mime_sources=built.sources,
    )  # fmt: skip
    (mail,) = build_batch([queued], sender=sender, reply_to=OFFICE).mails
    assert isinstance(mail.message, bytes)  # streamed as stored

    form = Path(fresh.attachments[0]["path"])
    form.write_bytes(b"PK\x03\x04 the form rebuilt after queueing")
    (mail,) = build_batch([queued], sender=sender, reply_to=OFFICE).mails
    assert isinstance(mail.message, Message)  # built again from the row: the new form goes
    assert parts(mail.message)[2][2] == b"PK\x03\x04 the form rebuilt after queueing"

    form.unlink()
    batch = build_batch([queued], sender=sender, reply_to=OFFICE)
    assert batch.mails == []
    [held] = batch.held
    assert (held.status, held.stop, held.attempts) == ("pending", "attachment", 0)
    assert str(form) in held.error


def test_a_missing_attachment_when_queued_stores_nothing(tmp_path: Path) -> None:
    missing = [{"path": str(tmp_path / "无.xlsx"), "filename": "报表.xlsx"}]
    built = prebuild(
        key="k", to=["rsj@lingchuan.example.org"], cc=[], subject=SUBJECT, body_text="请报送。",
        body_html="", attachments=missing, created_at=QUEUED,
    )  # fmt: skip
    assert built is None  # delivery builds it from the row, and holds it until the file is there


def queue(settings: Settings, tmp_path: Path) -> ClaimedRow:
    """One reminder with its form to 县人社局, queued (its message stored); the claimed row."""
    example = row(tmp_path)
    with session_scope(settings) as session:
        policy = session.exec(select(t.Policy).where(t.Policy.code == POLICY)).one()
        enqueue(
            session,
            [
                NewNotification(
                    idempotency_key=example.idempotency_key, kind="reminder",
                    policy_id=policy.id, cycle_id=None, unit_id=None, to=example.to,
                    cc=example.cc, subject=SUBJECT, body_text=example.body_text,
                    body_html=example.body_html, attachments=example.attachments,
                )
            ],
            now=QUEUED,
        )  # fmt: skip
        notification = session.exec(select(t.Notification)).one()
    assert notification.id is not None
    return replace(example, id=notification.id)


def stored_message(settings: Settings, row: ClaimedRow) -> bytes:
    """The message stored for ``row`` when it was queued."""
    with session_scope(settings) as session:
        message = session.get(t.OutboxMessage, row.id)
        assert message is not None, "queued without its message"
        return message.mime


async def test_a_queued_mail_goes_as_build_email_would_build_it_with_todays_sender(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    load_seeds(settings, POLICY)
    queued = queue(settings, tmp_path)
    assert b"From:" not in stored_message(settings, queued)
    # The sender setting changed between queueing and sending: the new one goes out.
    smtp = smtp_server.smtp_settings(sender="new-sender@lingchuan.example.org")
    settings = settings.model_copy(update={"smtp": smtp})

    summary = await deliver_steps(POLICY, settings)

    assert [o.status for o in summary.outcomes] == ["sent"]
    [received] = smtp_server.messages
    expected = flatten(build_email(queued, sender=smtp.sender, reply_to=OFFICE))
    assert boundaries_numbered(received.raw) == boundaries_numbered(expected)
    assert received.message["From"] == "new-sender@lingchuan.example.org"
    assert received.message["Message-ID"] == message_id_for(
        queued.idempotency_key, "lingchuan.example.org"
    )
    assert received.mail_from == smtp.sender
    assert set(received.rcpt_tos) == {*queued.to, *queued.cc}
    with session_scope(settings) as session:
        after = session.exec(select(t.Notification)).one()
    assert after.status == "sent"
    # The sent mail's message goes with the next delivery, which has nothing else to do.
    assert stored_message(settings, queued)
    again = await deliver_steps(POLICY, settings)
    assert again.outcomes == [] and len(smtp_server.messages) == 1
    with session_scope(settings) as session:
        assert session.exec(select(t.OutboxMessage)).all() == []


async def sent_as_built(
    settings: Settings, smtp_server: SmtpServer, queued: ClaimedRow
) -> ReceivedMail:
    """Deliver the one queued mail; it must arrive as ``build_email`` makes it from the row."""
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    summary = await deliver_steps(POLICY, settings)
    assert [o.status for o in summary.outcomes] == ["sent"]
    [received] = smtp_server.messages
    expected = flatten(build_email(queued, sender=settings.smtp.sender, reply_to=OFFICE))
    assert boundaries_numbered(received.raw) == boundaries_numbered(expected)
    return received


async def test_a_row_queued_before_messages_were_stored_still_goes(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    load_seeds(settings, POLICY)
    queued = queue(settings, tmp_path)
    with session_scope(settings) as session:  # as a row of the previous release
        session.execute(delete(t.OutboxMessage))
    await sent_as_built(settings, smtp_server, queued)


async def test_a_form_rebuilt_after_queueing_goes_with_the_body_the_claim_did_not_read(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The claim reads no body for a row with a stored message. When that message cannot serve
    (its form was rebuilt after queueing), the delivery reads the row's body and builds the
    mail from the row: the body and the new form go, exactly as build_email makes them."""
    load_seeds(settings, POLICY)
    queued = queue(settings, tmp_path)
    form = Path(queued.attachments[0]["path"])
    form.write_bytes(b"PK\x03\x04 the form rebuilt after queueing")
    received = await sent_as_built(settings, smtp_server, queued)
    got = parts(received.message)
    assert got[0][2] == mail_body(settings, queued).text.encode()
    assert (got[2][1], got[2][2]) == (form.name, b"PK\x03\x04 the form rebuilt after queueing")
