"""Notice contexts for the templates, and the MIME messages built from outbox rows."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from config.errors import PermanentDeliveryError
from models import tables as t
from models.outbox import ClaimedRow
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.mail.smtp import message_id_for

XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_SUBTYPES = {".html": "html", ".md": "markdown", ".pdf": "pdf", ".ics": "calendar"}


def working_days_left(calendar: WorkingCalendar, day: date, due: date) -> int:
    """Working days a unit still has after ``day`` (the mail's day, not counted) through the due
    day (counted when it is a working day): what 距截止还有N个工作日 says.

    Wednesday 1 February 2023 for a deadline on Sunday 5 February: 2 (Thursday and Friday).
    The day the mail goes out is not counted, since it is half gone when the unit reads it.
    """
    count = 0
    current = day + timedelta(days=1)
    while current <= due:
        if calendar.is_working_day(current):
            count += 1
        current += timedelta(days=1)
    return count


def policy_context(policy: t.Policy) -> dict[str, Any]:
    """What every template says about the notice: county, document number, title, issuer."""
    return {
        "code": policy.code,
        "county": policy.county,
        "doc_number": policy.doc_number,
        "title": policy.title,
        "issuer": policy.issuer,
    }


def office_context(policy: t.Policy) -> dict[str, Any]:
    """The task force office as every mail's signature and contact lines name it."""
    office = policy.task_force_spec.office
    return {
        "name": office.name,
        "unit": office.unit,
        "room": office.room,
        "contacts": [contact.model_dump() for contact in office.contacts],
        "phone": office.phone,
        "mailbox": office.mailbox,
    }


def notice_context(
    *,
    kind: str,
    policy: t.Policy,
    obligation: t.Obligation,
    cycle: t.Cycle,
    unit: t.Unit,
    measures: list[dict[str, Any]],
    as_of: datetime,
    days_left: int,
    attachment_name: str,
) -> dict[str, Any]:
    """The template context of one notice to one unit (shape documented in templates/README)."""
    office = office_context(policy)  # validates the stored task force once per notice, not twice
    return {
        "kind": kind,
        "unit": {
            "code": unit.code,
            "name": unit.name,
            "full_name": unit.full_name,
            "kind": unit.kind,
        },
        "policy": policy_context(policy),
        "obligation": {
            "code": obligation.code,
            "name": obligation.name,
            "frequency": obligation.frequency,
            "content": obligation.content,
            "submit_to": obligation.submit_to,
            "paper_copy": obligation.paper_copy,
            "source_text": obligation.source_text,
        },
        "cycle": {
            "period": cycle.period,
            "period_label": cycle.period_label,
            "due_date": cycle.due_date,
            "due_at": cycle.due_at.astimezone(SHANGHAI),
            "opens": cycle.opens,
            "working_days_left": days_left,
        },
        "measures": measures,
        "office": office,
        "reply": {"mailbox": office["mailbox"], "attachment_name": attachment_name},
        "as_of": as_of.astimezone(SHANGHAI),
    }


def _compose(
    *,
    key: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str,
    attachments: Sequence[dict[str, Any]],
    created_at: datetime,
    sender: str | None,
    reply_to: str,
) -> Message:
    """The message of ``build_email``; without From, Reply-To and Message-ID when ``sender`` is
    None (what ``prebuild`` stores: those follow the settings of the day it is sent)."""
    body: Message = MIMEText(body_text, "plain", "utf-8")
    if body_html:
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        alternative.attach(MIMEText(body_html, "html", "utf-8"))
        body = alternative
    message: Message = body
    if attachments:
        message = MIMEMultipart("mixed")
        message.attach(body)
        for attachment in attachments:
            path = Path(attachment["path"])
            subtype = (
                XLSX[1] if path.suffix == ".xlsx" else _SUBTYPES.get(path.suffix, "octet-stream")
            )
            part: Message
            try:
                if path.suffix in (".html", ".md", ".ics"):
                    text = path.read_text(encoding="utf-8")
                    part = MIMEText(text, _SUBTYPES[path.suffix], "utf-8")
                    if path.suffix == ".ics":  # RFC 6047: the file's METHOD, on the part
                        part.set_param("method", "PUBLISH")
                else:
                    part = MIMEApplication(path.read_bytes(), subtype)
            except FileNotFoundError:
                raise PermanentDeliveryError(f"附件文件不存在：{path}") from None
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise PermanentDeliveryError(f"附件文件无法读取：{path}（{reason}）") from exc
            part.add_header(
                "Content-Disposition", "attachment", filename=("utf-8", "", attachment["filename"])
            )
            message.attach(part)
    if sender is not None:
        message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if sender is not None and reply_to:
        # "reply to this mail" must reach the office's mailbox, not the sender
        message["Reply-To"] = reply_to
    # A Header object, not its encoded text: compat32 would refold the text into a leading blank.
    message["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]
    # The row's moment (a replay's is the replayed one), written in Beijing time as the office
    # reads it rather than in UTC.
    message["Date"] = format_datetime(created_at.astimezone(SHANGHAI))
    if sender is not None:
        message["Message-ID"] = message_id_for(key, sender.rsplit("@", 1)[-1])
    message["X-Taskforce-Key"] = key
    return message


def build_email(row: ClaimedRow, *, sender: str, reply_to: str = "") -> Message:
    """The MIME message of an outbox row; Message-ID and Date derive from the row, not the clock.

    Built with the compat32 classes and pre-encoded headers: the modern ``EmailMessage`` parses
    and refolds every header, which profiled at ~90 % of the sending phase for Chinese subjects.
    Attachment names are Chinese and go out per RFC 2231. An attachment file that is missing or
    unreadable raises ``PermanentDeliveryError`` naming the file: that mail cannot go out.
    The row must have its bodies read (``models.outbox.with_bodies``).
    """
    if row.body_text is None or row.body_html is None:
        raise ValueError(f"{row.idempotency_key}: the row's bodies were not read")
    return _compose(
        key=row.idempotency_key, to=row.to, cc=row.cc, subject=row.subject,
        body_text=row.body_text, body_html=row.body_html, attachments=row.attachments,
        created_at=row.created_at, sender=sender, reply_to=reply_to,
    )  # fmt: skip


def flatten(message: Message) -> bytes:
    """The bytes aiosmtplib's ``send_message`` puts on the wire for a compat32 message (every
    part is base64, so the server's 8BITMIME makes no difference)."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=compat32).flatten(message)
    return buffer.getvalue()


@dataclass(frozen=True)
class Prebuilt:
    """A row's message serialised when it is queued, less the headers that follow settings."""

    mime: bytes
    # (size, mtime_ns) of each attachment file as it was read: a file changed or gone since
    # makes delivery build the mail again from the row (and hold it if the file is missing).
    sources: list[list[int]]


def file_stamps(attachments: Sequence[dict[str, Any]]) -> list[list[int]] | None:
    """(size, mtime_ns) of each attachment file, or None when one cannot be read."""
    stamps = []
    for attachment in attachments:
        try:
            stat = os.stat(attachment["path"])
        except OSError:
            return None
        stamps.append([stat.st_size, stat.st_mtime_ns])
    return stamps


def prebuild(
    *,
    key: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str,
    attachments: Sequence[dict[str, Any]],
    created_at: datetime,
) -> Prebuilt | None:
    """The message ``build_email`` would give, serialised without From, Reply-To and Message-ID
    (``wire_bytes`` adds them when it is sent); None when an attachment is missing or unreadable
    now: delivery then builds it from the row, and holds it until the file is there."""
    before = file_stamps(attachments)
    if before is None:
        return None
    try:
        message = _compose(
            key=key, to=to, cc=cc, subject=subject, body_text=body_text, body_html=body_html,
            attachments=attachments, created_at=created_at, sender=None, reply_to="",
        )  # fmt: skip
    except PermanentDeliveryError:
        return None
    after = file_stamps(attachments)
    if after != before:  # written while we read it: let delivery read the finished file
        return None
    return Prebuilt(flatten(message), before)


def _header_line(name: str, value: str) -> bytes:
    """One header as the compat32 generator writes it (folded, encoded when it must be)."""
    if len(name) + len(value) <= 76 and value.isascii() and " " not in value:
        return f"{name}: {value}\n".encode("ascii")
    return compat32.fold_binary(name, value)


@lru_cache(maxsize=64)
def _settings_lines(sender: str, reply_to: str) -> tuple[bytes, bytes, str]:
    reply = _header_line("Reply-To", reply_to) if reply_to else b""
    return _header_line("From", sender), reply, sender.rsplit("@", 1)[-1]


def wire_bytes(mime: bytes, *, key: str, sender: str, reply_to: str = "") -> bytes:
    """The stored message with From, Reply-To and Message-ID of today's settings put where
    ``build_email`` writes them: the same bytes it gives, multipart boundaries aside."""
    sender_line, reply_line, domain = _settings_lines(sender, reply_to)
    end = mime.index(b"\n\n")
    at_to = mime.index(b"\nTo: ", 0, end) + 1
    at_subject = mime.index(b"\nSubject: ", at_to, end) + 1
    at_key = mime.index(b"\nX-Taskforce-Key: ", at_subject, end) + 1
    return b"".join(
        (
            mime[:at_to], sender_line, mime[at_to:at_subject], reply_line,
            mime[at_subject:at_key], _header_line("Message-ID", message_id_for(key, domain)),
            mime[at_key:],
        )
    )  # fmt: skip
