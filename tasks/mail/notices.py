"""Notice contexts for the templates, and the MIME messages built from outbox rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from config.errors import PermanentDeliveryError
from models import tables as t
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


def build_email(row: t.Notification, *, sender: str, reply_to: str = "") -> Message:
    """The MIME message of an outbox row; Message-ID and Date derive from the row, not the clock.

    Built with the compat32 classes and pre-encoded headers: the modern ``EmailMessage`` parses
    and refolds every header, which profiled at ~90 % of the sending phase for Chinese subjects.
    Attachment names are Chinese and go out per RFC 2231. An attachment file that is missing or
    unreadable raises ``PermanentDeliveryError`` naming the file: that mail cannot go out.
    """
    body: Message = MIMEText(row.body_text, "plain", "utf-8")
    if row.body_html:
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        alternative.attach(MIMEText(row.body_html, "html", "utf-8"))
        body = alternative
    message: Message = body
    if row.attachments:
        message = MIMEMultipart("mixed")
        message.attach(body)
        for attachment in row.attachments:
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
    message["From"] = sender
    message["To"] = ", ".join(row.to)
    if row.cc:
        message["Cc"] = ", ".join(row.cc)
    if reply_to:  # "reply to this mail" must reach the office's mailbox, not the sender
        message["Reply-To"] = reply_to
    # A Header object, not its encoded text: compat32 would refold the text into a leading blank.
    message["Subject"] = Header(row.subject, "utf-8")  # type: ignore[assignment]
    # The row's moment (a replay's is the replayed one), written in Beijing time as the office
    # reads it rather than in UTC.
    message["Date"] = format_datetime(row.created_at.astimezone(SHANGHAI))
    message["Message-ID"] = message_id_for(row.idempotency_key, sender.rsplit("@", 1)[-1])
    message["X-Taskforce-Key"] = row.idempotency_key
    return message
