"""Helpers for intake tests: the office's notices caught, replies written and mailed back."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib

from config.settings import MailCatcherSettings, Settings
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.calendar import SHANGHAI
from tasks.demo.mailcatcher import MailCatcher, office_maildirs

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@contextmanager
def office_catcher(
    settings: Settings, *, demo_clock: bool = False
) -> Iterator[tuple[MailCatcher, Settings]]:
    """The mail catcher on a free port, filing office mail into Maildirs; settings that use it.
    With ``demo_clock`` a reply arrives at its Date header (a test replaying 2023)."""
    catcher = MailCatcher(
        MailCatcherSettings(port=0, directory=settings.var_dir / "mail"),
        None,
        maildirs=office_maildirs(settings.policies_dir, settings.maildir_root),
        demo_clock=demo_clock,
    )
    with catcher:
        smtp = settings.smtp.model_copy(
            update={"host": catcher.host, "port": catcher.port, "backoff_seconds": 0.01}
        )
        yield catcher, settings.model_copy(update={"smtp": smtp})


def caught(directory: Path, to: str) -> list[EmailMessage]:
    """Messages the catcher stored that were addressed to ``to``, oldest first."""
    found = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if to in str(message.get("X-Envelope-To", "")):
            found.append(message)
    return found


def form_of(message: EmailMessage) -> tuple[str, bytes]:
    for part in message.iter_attachments():
        if part.get_content_type() == XLSX:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return str(part.get_filename()), payload
    raise AssertionError("no form attached")


def reply(
    to_notice: EmailMessage | None,
    *,
    sender: str,
    office: str,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    body: str = "请查收。",
    subject: str | None = None,
    sent_at: datetime | None = None,
) -> EmailMessage:
    """A bureau's reply: Re: the notice, In-Reply-To it, with the given attachments (dated
    ``sent_at``, which only a demo-clock catcher takes as the arrival)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = office
    message["Subject"] = subject or f"Re: {to_notice['Subject'] if to_notice else '报送'}"
    sent_at = sent_at or datetime(2023, 1, 1, tzinfo=SHANGHAI)
    message["Date"] = format_datetime(sent_at)  # not trusted
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    if to_notice is not None:
        message["In-Reply-To"] = str(to_notice["Message-ID"])
        message["References"] = str(to_notice["Message-ID"])
    message.set_content(body)
    for filename, data, content_type in attachments:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


async def send(settings: Settings, message: EmailMessage) -> None:
    await aiosmtplib.send(message, hostname=settings.smtp.host, port=settings.smtp.port)


def office_mailbox(settings: Settings, policy: str) -> str:
    with session_scope(settings) as session:
        intake = load_policy_intake(session, policy)
    return intake.policy.task_force_spec.office.mailbox
