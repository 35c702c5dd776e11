"""Simulated bureaus for the demo and the tests: fill a form as a bureau would, mail it back.

Filling opens the workbook with openpyxl in normal mode, writes the cells and saves it again,
which keeps the very hidden ``_meta`` sheet and so the signature (``fill_form`` checks that it
still verifies). The demo's bureaus write what a county's would: figures that follow 序时进度
with a spread (``tasks/demo/progress.py``), statuses that match them, and problems and next
steps in their own words (``tasks/demo/phrases.py``), all fixed by a seed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Mapping, Sequence
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
from tasks.demo.progress import TargetSpec, assign_roles
from tasks.demo.writing import County, form_cells
from tasks.forms.keys import FormKeys, form_keys
from tasks.forms.layout import FormMetadata
from tasks.forms.read import input_cells, read_form_metadata

DAY = date(2023, 1, 18)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DEMO_SEED = "2023"  # the demo's story; another seed gives other figures and words
LEAD_ROLES = ("lead", "responsible")

# Cell address → value for a form, given its signed metadata (what a bureau decides to write).
CellPlan = Callable[[FormMetadata], Mapping[str, Any]]


def fill_form(
    data: bytes,
    key: bytes | FormKeys,
    *,
    status: str = "推进中",
    value: float = 100.0,
    text: str = "……",
    day: date = DAY,
    overrides: Mapping[str, Any] | None = None,
    skip: Collection[str] = (),
    plan: CellPlan | None = None,
) -> bytes:
    """The form with every input cell filled: ``status`` in status lists (the first choice in other
    lists, "是"), ``value`` in number cells, ``day`` in date cells and ``text`` in text cells that
    are empty (a pre-filled 预期目标 stays as issued, as a bureau leaves it). ``plan`` then sets
    the cells it returns for the form's metadata, except skipped ones; ``overrides`` set any
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
    planned = plan(meta) if plan is not None else {}
    for cell, given in planned.items():
        if cell not in skip:
            ws[cell] = given
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


def _first_required_cell(data: bytes, key: bytes | FormKeys) -> str:
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
    key: bytes | FormKeys,
    opens: datetime,
    due_at: datetime,
    late_at: datetime,
    index: int,
    plan: CellPlan | None = None,
) -> list[BureauReply]:
    """What one bureau sends for one cycle, in order; ``plan`` says what it writes on the form
    (without it: every text cell 已按要求落实。, every figure 100)."""
    on_time = opens + timedelta(days=1, minutes=7 * index)
    on_time = min(on_time, due_at - timedelta(hours=1))
    if behaviour == "never":
        return []
    if behaviour == "word":
        word = (f"{unit_name}报送材料.docx", word_report(unit_name, ""), DOCX_TYPE)
        return [BureauReply(unit_code, sender, behaviour, on_time, word, "报送材料见附件。")]
    filled = (form_name, fill_form(form, key, text="已按要求落实。", plan=plan), XLSX_TYPE)
    if behaviour == "late":
        return [BureauReply(unit_code, sender, behaviour, late_at, filled, "报送材料见附件。")]
    if behaviour == "invalid_then_corrected":
        cell = _first_required_cell(form, key)
        invalid = (form_name, fill_form(form, key, skip=(cell,), plan=plan), XLSX_TYPE)
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


def _policy_targets(session: Any, policy: t.Policy) -> tuple[dict[str, str], list[TargetSpec]]:
    """The policy's live measures (number → title) and their live targets, as consolidated."""
    measures = session.exec(
        select(t.Measure)
        .where(t.Measure.policy_id == policy.id, col(t.Measure.retired_at).is_(None))
        .order_by(col(t.Measure.sort_major), col(t.Measure.sort_minor))
    ).all()
    number = {m.id: m.number for m in measures}
    targets: list[TargetSpec] = []
    for g in session.exec(
        select(t.Target)
        .where(col(t.Target.measure_id).in_(list(number)), col(t.Target.retired_at).is_(None))
        .order_by(col(t.Target.measure_id), col(t.Target.position))
    ):
        index = sum(1 for s in targets if s.measure == number[g.measure_id])
        targets.append(TargetSpec(number[g.measure_id], index, g.metric, g.value,
                                  g.unit_of_measure, g.direction,
                                  g.starts or policy.active_start, g.due))  # fmt: skip
    return {m.number: m.title for m in measures}, targets


def _named(
    session: Any, measure_ids: Mapping[int, str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Per measure, the units named on it directly (not through 各乡镇 and the like), in the
    notice's order: all of them, and those named as lead, who explain its figures."""
    named: dict[str, list[str]] = {}
    owners: dict[str, list[str]] = {}
    for role, unit_code in session.exec(
        select(t.Responsibility, t.Unit.code)
        .join(t.Unit, col(t.Unit.id) == t.Responsibility.unit_id)
        .where(col(t.Responsibility.measure_id).in_(list(measure_ids)))
        .order_by(col(t.Responsibility.measure_id), col(t.Responsibility.position))
    ):
        if role.via is not None:
            continue
        number = measure_ids[role.measure_id]
        named.setdefault(number, []).append(unit_code)
        if role.role in LEAD_ROLES:
            owners.setdefault(number, []).append(unit_code)
    return (
        {number: tuple(codes) for number, codes in named.items()},
        {number: tuple(codes) for number, codes in owners.items()},
    )


def load_county(
    session: Any, policy: t.Policy, cycle: t.Cycle, *, seed: str, yellow_points: float
) -> County:
    """The policy's measures, targets and their roles for the demo, at a cycle's end."""
    titles, targets = _policy_targets(session, policy)
    ids = {
        m.id: m.number
        for m in session.exec(select(t.Measure).where(t.Measure.policy_id == policy.id))
        if m.id is not None and m.number in titles
    }
    story = f"{seed}/{policy.code}"
    named, owners = _named(session, ids)
    start, end = policy.active_start, cycle.covers_start
    return County(
        seed=story,
        titles=titles,
        targets={(g.measure, g.index): g for g in targets},
        roles=assign_roles(targets, story),
        named=named,
        owners=owners,
        covers_end=cycle.covers_end,
        month=max(0, (end.year - start.year) * 12 + end.month - start.month),
        yellow_points=yellow_points,
    )


def plan_bureau_replies(
    settings: Settings, policy_code: str, period: str, *, seed: str = DEMO_SEED
) -> list[BureauReply]:
    """Every bureau's replies to the forms it was sent for a period, in order of arrival; what
    they write follows the county's story for ``seed``."""
    calendar = WorkingCalendar.from_settings(settings)
    key = form_keys(settings)  # a bureau reads the form as intake does, to know its cells
    replies: list[BureauReply] = []
    with session_scope(settings) as session:
        intake = load_policy_intake(session, policy_code)
        sent = session.exec(
            select(t.Notification)
            .where(t.Notification.policy_id == intake.policy.id)
            .order_by(col(t.Notification.id))
        ).all()
        counties = {
            cycle.id: load_county(session, intake.policy, cycle, seed=seed,
                                  yellow_points=settings.reports.yellow_points)
            for (_, cycle_period), cycle in intake.cycles.items()
            if cycle_period == period
        }  # fmt: skip
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
        county = counties[cycle.id]

        def plan(meta: FormMetadata, county: County = county) -> Mapping[str, Any]:
            return form_cells(meta, county)

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
                plan=plan,
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
