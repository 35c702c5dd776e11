"""Simulated bureaus for the demo and the tests: fill a form as a bureau would, mail it back.

Filling opens the workbook with openpyxl in normal mode, writes the cells and saves it again,
which keeps the very hidden ``_meta`` sheet and so the signature (``fill_form`` checks that it
still verifies).
"""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
import openpyxl
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.demo.mailcatcher import DEMO_CLOCK_HEADER  # honoured only by a catcher started with it
from tasks.forms.read import input_cells, read_form_metadata

DAY = date(2023, 1, 18)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def fill_form(
    data: bytes,
    key: bytes,
    *,
    status: str = "推进中",
    value: float = 100.0,
    text: str = "……",
    day: date = DAY,
    overrides: Mapping[str, Any] | None = None,
    skip: Collection[str] = (),
) -> bytes:
    """The form with every input cell filled: ``status`` in status lists (the first choice in other
    lists, "是"), ``value`` in number cells, ``day`` in date cells and ``text`` in text cells that
    are empty (a pre-filled 预期目标 stays as issued, as a bureau leaves it). ``overrides`` set any
    cell by address, input or not (None clears it); ``skip`` leaves input cells empty.
    """
    wb = openpyxl.load_workbook(io.BytesIO(data))
    # The workbook just opened serves the signature check too: opening is most of the cost.
    meta = read_form_metadata(data, key, workbook=wb)
    layout = meta.layout
    ws = wb[layout.sheet]
    assert isinstance(ws, Worksheet)
    types = {c.cell: (c.type, c.choices) for c in layout.cells}
    if layout.table is not None:
        for row in layout.table.rows:
            for column in layout.table.columns:
                types[f"{column.column}{row.row}"] = (column.type, column.choices)
    for cell, _, _ in input_cells(layout):
        cell_type, choices = types[cell]
        if cell in skip:
            ws[cell] = None
        elif cell_type == "choice":
            ws[cell] = status if status in choices or not choices else choices[0]
        elif cell_type == "number":
            ws[cell] = value
        elif cell_type == "date":
            ws[cell] = day
        elif ws[cell].value is None:
            ws[cell] = text
    for cell, given in (overrides or {}).items():
        ws[cell] = given
    out = io.BytesIO()
    wb.save(out)
    filled = out.getvalue()
    assert read_form_metadata(filled, key) == meta, "filling must keep the signed metadata"
    return filled


# ---------------------------------------------------------------------------------------------
# The demo's bureaus: who replies how, and the replies mailed to the office

Behaviour = Literal["on_time", "late", "invalid_then_corrected", "word", "never"]


def behaviours(unit_codes: Sequence[str]) -> dict[str, Behaviour]:
    """A fixed cast for a cycle: one unit never replies, one answers in Word, one sends an
    invalid form and corrects it, two are late, the rest are on time (by directory order)."""
    cast: list[Behaviour] = ["never", "word", "invalid_then_corrected", "late", "late"]
    return {
        code: cast[index] if index < len(cast) else "on_time"
        for index, code in enumerate(unit_codes)
    }


@dataclass(frozen=True)
class BureauReply:
    unit_code: str
    sender: str
    behaviour: Behaviour
    arrives: datetime  # the simulated arrival at the office's server
    attachment: tuple[str, bytes, str] | None  # (file name, bytes, content type)
    body: str


def _first_required_cell(data: bytes, key: bytes) -> str:
    """A required fill-in cell, left empty by the bureau that sends an invalid form."""
    layout = read_form_metadata(data, key).layout
    for cell in layout.cells:
        if cell.required:
            return cell.cell
    if layout.table is not None:
        for column in layout.table.columns:
            if column.input and column.required and layout.table.rows:
                return f"{column.column}{layout.table.rows[0].row}"
    raise ValueError("the form has no required cell")


def word_report(unit_name: str, period_label: str) -> bytes:
    import docx  # python-docx

    document = docx.Document()
    document.add_paragraph(f"{unit_name}{period_label}工作落实情况")
    document.add_paragraph("各项措施均按计划推进，具体情况见正文。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def bureau_replies(
    *,
    unit_code: str,
    unit_name: str,
    sender: str,
    behaviour: Behaviour,
    form_name: str,
    form: bytes,
    key: bytes,
    opens: datetime,
    due_at: datetime,
    late_at: datetime,
    index: int,
) -> list[BureauReply]:
    """What one bureau sends for one cycle, in order."""
    on_time = opens + timedelta(days=1, minutes=7 * index)
    on_time = min(on_time, due_at - timedelta(hours=1))
    if behaviour == "never":
        return []
    if behaviour == "word":
        word = (f"{unit_name}报送材料.docx", word_report(unit_name, ""), DOCX_TYPE)
        return [BureauReply(unit_code, sender, behaviour, on_time, word, "报送材料见附件。")]
    filled = (form_name, fill_form(form, key, text="已按要求落实。"), XLSX_TYPE)
    if behaviour == "late":
        return [BureauReply(unit_code, sender, behaviour, late_at, filled, "报送材料见附件。")]
    if behaviour == "invalid_then_corrected":
        cell = _first_required_cell(form, key)
        invalid = (form_name, fill_form(form, key, skip=(cell,)), XLSX_TYPE)
        return [
            BureauReply(unit_code, sender, behaviour, on_time, invalid, "报送材料见附件。"),
            BureauReply(
                unit_code, sender, behaviour, on_time + timedelta(hours=3), filled, "已修改。"
            ),
        ]
    return [BureauReply(unit_code, sender, behaviour, on_time, filled, "报送材料见附件。")]


def reply_message(reply: BureauReply, office: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = reply.sender
    message["To"] = office
    message["Subject"] = f"报送材料（{reply.unit_code}）"
    message["Date"] = format_datetime(reply.arrives)
    message["Message-ID"] = make_msgid(domain=reply.sender.rsplit("@", 1)[-1])
    message[DEMO_CLOCK_HEADER] = format_datetime(reply.arrives)
    message.set_content(reply.body)
    if reply.attachment is not None:
        name, data, content_type = reply.attachment
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def _late_arrival(due_at: datetime, calendar: WorkingCalendar) -> datetime:
    """10:00 on the second working day after the due day."""
    day = due_at.astimezone(SHANGHAI).date()
    for _ in range(2):
        day = calendar.next_working_day(day + timedelta(days=1))
    return datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)


def plan_bureau_replies(settings: Settings, policy_code: str, period: str) -> list[BureauReply]:
    """Every bureau's replies to the forms it was sent for a period, in order of arrival."""
    calendar = WorkingCalendar.from_settings(settings)
    key = settings.form_key.get_secret_value().encode("utf-8")
    replies: list[BureauReply] = []
    with session_scope(settings) as session:
        intake = load_policy_intake(session, policy_code)
        sent = session.exec(
            select(t.Notification)
            .where(t.Notification.policy_id == intake.policy.id)
            .order_by(col(t.Notification.id))
        ).all()
    forms: dict[tuple[int | None, int | None], dict[str, Any]] = {}
    for row in sent:
        if row.attachments and row.status == "sent":
            forms[(row.cycle_id, row.unit_id)] = row.attachments[0]
    for (_, cycle_period), cycle in sorted(intake.cycles.items()):
        if cycle_period != period:
            continue
        units = sorted(
            (u for u in intake.units.values() if (cycle.id, u.id) in forms),
            key=lambda u: u.id or 0,
        )
        codes = [u.code for u in units]
        shift = (3 * sum(map(ord, period))) % len(codes) if codes else 0  # a new cast each period
        cast = behaviours(codes[shift:] + codes[:shift])
        for index, unit in enumerate(units):
            form = forms[(cycle.id, unit.id)]
            opens = datetime.combine(cycle.opens, datetime.min.time(), SHANGHAI).replace(hour=9)
            replies += bureau_replies(
                unit_code=unit.code,
                unit_name=unit.name,
                sender=unit.mailboxes[0],
                behaviour=cast[unit.code],
                form_name=str(form["filename"]),
                form=Path(form["path"]).read_bytes(),
                key=key,
                opens=opens,
                due_at=cycle.due_at,
                late_at=_late_arrival(cycle.due_at, calendar),
                index=index,
            )
    return sorted(replies, key=lambda r: r.arrives)


async def mail_replies(settings: Settings, office: str, replies: Sequence[BureauReply]) -> None:
    """Send the replies to the office over SMTP, one connection, in order."""
    client = aiosmtplib.SMTP(
        hostname=settings.smtp.host, port=settings.smtp.port, timeout=settings.smtp.timeout
    )
    async with client:
        for reply in replies:
            await client.send_message(reply_message(reply, office))
