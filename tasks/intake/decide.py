"""What to make of one received message or file: the decision, as a pure function.

Given the parsed message and what the office knows (units and their mailboxes, cycles, notices
sent), ``decide`` returns the submissions to record and whether the item is processed,
quarantined or ignored. Trust comes from two facts only: the HMAC signature of our form (which
unit and which cycle) and the sender's address being one of that unit's mailboxes. Nothing from a
forged, altered or misdirected form is accepted: the whole message is quarantined and the office
is told.

A valid signature is necessary, not sufficient: the form must also be one the office issued (its
digest recorded when it was built) and must have arrived after its cycle opened (``_not_issued``).
A reply without our form names its unit only by the From address, which anyone can write: it
counts as the unit's report only when the sender's domain is authenticated (``authenticate``,
tasks.mail.authentication); otherwise it is kept as ``unverified`` until the office reviews it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from config.errors import FormNotOursError, FormReadError, FormSignatureError
from tasks.calendar import SHANGHAI, WorkingCalendar, format_day
from tasks.forms.keys import FormKeys
from tasks.forms.layout import FormMetadata
from tasks.forms.read import (
    MAX_UNPACKED_BYTES,
    ODS_ADVICE,
    OpenWorkbook,
    check_archive,
    open_workbook,
    read_form_metadata,
)
from tasks.forms.values import FormIssue, MeasureReport, read_form
from tasks.mail.authentication import SenderAuthentication
from tasks.mail.inbound import Attachment, ParsedMessage, docx_text, plain_text_file, size_text

SubmissionStatus = Literal["accepted", "rejected", "unstructured", "unverified", "quarantined"]
ItemStatus = Literal["processed", "quarantined", "ignored"]

SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".et")
# OpenDocument spreadsheets (LibreOffice's own format) are refused like .xls: saved as .xlsx, the
# same form reads. Told apart by suffix and by content type: the paper path has no content type.
OPENDOCUMENT_SUFFIXES = (".ods", ".fods", ".ots")
OPENDOCUMENT_TYPE = "opendocument.spreadsheet"
ODS_PROBLEM = ODS_ADVICE.replace("文件是", "是", 1)  # after 附件《…》
MACRO_SUFFIXES = (".xlsm", ".xltm", ".xlam", ".xlsb", ".docm", ".dotm")


@dataclass(frozen=True)
class UnitInfo:
    code: str
    name: str
    mailboxes: frozenset[str]  # lower case
    measures: frozenset[str]  # measure numbers the unit is named for, "26(3)"


@dataclass(frozen=True)
class CycleInfo:
    obligation: str
    period: str
    opens: date
    due_date: date
    due_at: datetime


@dataclass(frozen=True)
class IntakeContext:
    """What one policy's office knows when a reply arrives."""

    policy_code: str
    units: Mapping[str, UnitInfo]  # by code
    unit_by_mailbox: Mapping[str, str]  # address (lower case) → unit code
    cycles: Mapping[tuple[str, str], CycleInfo]  # (obligation, period)
    unit_cycles: Mapping[str, tuple[tuple[str, str], ...]]  # unit code → cycles it must report
    # The 32-hex local part of each notice's Message-ID → (obligation, period, unit code).
    notices: Mapping[str, tuple[str, str, str]]
    submitted: Collection[tuple[str, str, str]]  # (obligation, period, unit) already received
    # Digests of the forms the office issued (models.issued_forms): a signed form whose digest is
    # not among them was never sent by this office, whatever key signed it.
    issued: Collection[str] = frozenset()


@dataclass(frozen=True)
class Draft:
    """A submission to record: one per form in a message, or one for a message without form."""

    policy_code: str
    unit_code: str
    obligation: str
    period: str
    status: SubmissionStatus
    attachment: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    measures: tuple[MeasureReport, ...] = ()
    errors: tuple[FormIssue, ...] = ()


@dataclass(frozen=True)
class Decision:
    status: ItemStatus
    drafts: tuple[Draft, ...] = ()
    reasons: tuple[str, ...] = ()  # why quarantined or ignored, in Chinese
    sender_unit: str = ""  # the unit the sender's address belongs to, "" when unknown


def notice_ref(idempotency_key: str) -> str:
    """The local part of the Message-ID a notice went out with (tasks.mail.smtp.message_id_for)."""
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]


def late_working_days(received_at: datetime, due_at: datetime, calendar: WorkingCalendar) -> int:
    """Working days after the due moment; 0 on time.

    A report that arrives on a non-working day counts as arriving on the next working day, and a
    report late by hours on the due day itself is one day late.
    """
    if received_at <= due_at:
        return 0
    due_day = due_at.astimezone(SHANGHAI).date()
    day = received_at.astimezone(SHANGHAI).date()
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    count = 0
    current = due_day + timedelta(days=1)
    while current <= day:
        if calendar.is_working_day(current):
            count += 1
        current += timedelta(days=1)
    return max(count, 1)


def infer_cycle(
    ctx: IntakeContext, unit_code: str, references: Collection[str], received_at: datetime
) -> tuple[str, str] | None:
    """Which report a reply without our form answers: the notice it replies to, else the cycle
    open when it arrived (the one due first), else the latest overdue one not yet received."""
    for reference in references:
        local = reference.strip("<>").split("@", 1)[0]
        found = ctx.notices.get(local)
        if found is not None and found[2] == unit_code:
            return found[0], found[1]
    day = received_at.astimezone(SHANGHAI).date()
    mine = [ctx.cycles[k] for k in ctx.unit_cycles.get(unit_code, ()) if k in ctx.cycles]
    open_now = sorted((c for c in mine if c.opens <= day <= c.due_date), key=lambda c: c.due_date)
    for cycle in open_now:
        if (cycle.obligation, cycle.period, unit_code) not in ctx.submitted:
            return cycle.obligation, cycle.period
    if open_now:
        return open_now[0].obligation, open_now[0].period
    overdue = sorted((c for c in mine if c.due_date < day), key=lambda c: c.due_date, reverse=True)
    for cycle in overdue:
        if (cycle.obligation, cycle.period, unit_code) not in ctx.submitted:
            return cycle.obligation, cycle.period
    return None


@dataclass(frozen=True)
class _Sorted:
    forms: list[tuple[Attachment, FormMetadata, OpenWorkbook]]  # opened once, closed by decide
    tampered: list[str]  # reasons
    documents: list[Attachment]
    problems: list[FormIssue]  # whole-file problems: corrupt, macro, too large, .ods
    notes: dict[int, str]  # id(document) → why a workbook among documents is not our form


def _whole_file(attachment: Attachment, problem: str) -> FormIssue:
    return FormIssue(
        sheet="", cell="", problem=f"附件《{attachment.filename or '未命名'}》{problem}"
    )


def _sort_attachments(
    attachments: tuple[Attachment, ...], key: bytes | FormKeys, max_attachment_bytes: int
) -> _Sorted:
    result = _Sorted([], [], [], [], {})
    for attachment in attachments:
        suffix = attachment.suffix
        if attachment.too_large:
            result.problems.append(
                _whole_file(
                    attachment,
                    f"大小 {size_text(attachment.size)}，超过系统接收上限"
                    f"（{size_text(max_attachment_bytes)}），未予读取",
                )
            )
        elif suffix in MACRO_SUFFIXES or "macroenabled" in attachment.content_type.lower():
            result.problems.append(
                _whole_file(
                    attachment, "是含宏的文件，为安全起见不予接收：请另存为 .xlsx 格式后重新报送"
                )
            )
        elif suffix in OPENDOCUMENT_SUFFIXES or OPENDOCUMENT_TYPE in attachment.content_type:
            result.problems.append(_whole_file(attachment, ODS_PROBLEM))
        elif suffix in SPREADSHEET_SUFFIXES or "spreadsheet" in attachment.content_type:
            workbook = _open_checked(attachment.data)
            try:
                meta = read_form_metadata(attachment.data, key, workbook=workbook)
                if workbook is None:  # read_form_metadata opened and closed its own copy
                    workbook = open_workbook(attachment.data)
                result.forms.append((attachment, meta, workbook))
                workbook = None
            except FormNotOursError as exc:
                result.documents.append(attachment)  # the unit's own table: a person reads it
                result.notes[id(attachment)] = f"附件《{attachment.filename}》未作为报表读取：{exc}"
            except FormSignatureError as exc:
                result.tampered.append(f"附件《{attachment.filename}》：{exc}")
            except FormReadError as exc:
                result.problems.append(_whole_file(attachment, f"无法读取：{exc}"))
            finally:
                if workbook is not None:
                    workbook.close()
        else:
            # Whatever else came (a scan as .tif, a video, a file handed in without a known
            # suffix): kept for a person to look at, never dropped without a trace.
            result.documents.append(attachment)
    return result


def _open_checked(data: bytes) -> OpenWorkbook | None:
    """The workbook opened once for signature and values; None when it cannot be opened
    safely (too large unpacked, corrupt, encrypted), and read_form_metadata then says why."""
    try:
        check_archive(data, MAX_UNPACKED_BYTES)
        return open_workbook(data)
    except Exception:
        return None


def _document_text(attachment: Attachment) -> str:
    if attachment.suffix == ".docx":
        return docx_text(attachment.data)
    if attachment.suffix == ".txt" or attachment.content_type == "text/plain":
        return plain_text_file(attachment.data)
    return ""


def _form_draft(
    ctx: IntakeContext,
    sender: str,
    attachment: Attachment,
    meta: FormMetadata,
    workbook: OpenWorkbook,
    received_at: datetime,
) -> Draft | str:
    """The submission a signed form makes, or the reason to quarantine the message."""
    name = attachment.filename
    if meta.policy != ctx.policy_code:
        return f"附件《{name}》是另一项政策（{meta.policy}）的报表，本政策不予处理"
    unit = ctx.units.get(meta.unit_code)
    if unit is None:
        return f"附件《{name}》所属单位（{meta.unit_name}）不在本政策的单位名录中"
    if (meta.obligation, meta.period) not in ctx.cycles:
        return f"附件《{name}》的报送事项或报告期（{meta.obligation} {meta.period}）不存在或已撤销"
    if sender not in unit.mailboxes:
        owner = ctx.units.get(ctx.unit_by_mailbox.get(sender, ""))
        whose = f"（{owner.name}的邮箱）" if owner else ""
        return (
            f"附件《{name}》是{unit.name}的报表，但发件地址 {sender or '（无法识别）'}{whose}"
            f"不是{unit.name}登记的邮箱（{'、'.join(sorted(unit.mailboxes))}）"
        )
    not_issued = _not_issued(ctx, name, meta, received_at)
    if not_issued:
        return not_issued
    try:
        reading = read_form(attachment.data, meta, unit_measures=unit.measures, workbook=workbook)
    except FormReadError as exc:  # signed, but the form sheet itself cannot be read
        return Draft(
            ctx.policy_code, unit.code, meta.obligation, meta.period, "rejected", name,
            errors=(_whole_file(attachment, f"无法读取：{exc}"),),
        )  # fmt: skip
    return Draft(
        policy_code=ctx.policy_code,
        unit_code=unit.code,
        obligation=meta.obligation,
        period=meta.period,
        status="accepted" if reading.valid else "rejected",
        attachment=name,
        fields=reading.fields,
        measures=reading.measures,
        errors=reading.issues,
    )


def _not_issued(ctx: IntakeContext, name: str, meta: FormMetadata, received_at: datetime) -> str:
    """Why a validly signed form is still not one this office sent; "" when it is.

    A signature proves only that the key signed it: a leaked key, or a key kept to verify forms
    sent before a rotation, can sign any form. The office sends a cycle's form when the cycle
    opens and records its digest, so a form received before its cycle opened, or one whose
    signed metadata (unit, period, measures, layout, issue time) matches no recorded form, was
    made by someone else.
    """
    cycle = ctx.cycles[(meta.obligation, meta.period)]
    day = received_at.astimezone(SHANGHAI).date()
    if day < cycle.opens:
        return (
            f"附件《{name}》是 {meta.period} 报告期的报表，该报告期 {format_day(cycle.opens)}"
            f"才开始报送，本办此前未下发该表，而邮件于 {format_day(day)}收到：疑为伪造，不予登记"
        )
    if meta.digest not in ctx.issued:
        return (
            f"附件《{name}》签名有效，但其内容（单位、报告期、措施或表格布局）与本办下发的任何一份"
            "报表都不一致：疑为用泄露的密钥伪造或改动后重新签名的表格，不予登记"
        )
    return ""


def decide(
    parsed: ParsedMessage,
    ctx: IntakeContext,
    *,
    form_key: bytes | FormKeys,
    received_at: datetime,
    context_for: Callable[[str], IntakeContext | None] | None = None,
    cycle_hint: tuple[str, str] | None = None,
    max_attachment_bytes: int = 20_000_000,
    authenticate: Callable[[], SenderAuthentication] | None = None,
) -> Decision:
    """Classify one message; see the module docstring for whom it trusts.

    ``cycle_hint``: the (obligation, period) a reply without our form is filed under, when the
    office said so (paper); otherwise it is inferred from the message. ``authenticate``: the
    verdict on the sender, asked only for a reply without our form from a unit's mailbox (it may
    query DNS); None counts such a reply as the unit's (paper, or the ``count`` setting).
    """
    if parsed.system_key:
        return Decision(
            "ignored", reasons=(f"本系统发出的通知（{parsed.system_key}），不作为报送处理",)
        )
    if parsed.auto_reply:
        return Decision("ignored", reasons=("自动回复邮件，不作为报送处理",))
    files = _sort_attachments(parsed.attachments, form_key, max_attachment_bytes)
    try:
        return _decide_sorted(
            parsed, ctx, files, received_at, context_for, cycle_hint, authenticate
        )
    finally:
        for _, _, workbook in files.forms:
            workbook.close()


def _decide_sorted(
    parsed: ParsedMessage,
    ctx: IntakeContext,
    files: _Sorted,
    received_at: datetime,
    context_for: Callable[[str], IntakeContext | None] | None,
    cycle_hint: tuple[str, str] | None,
    authenticate: Callable[[], SenderAuthentication] | None = None,
) -> Decision:
    sender_unit = ctx.unit_by_mailbox.get(parsed.sender, "")
    if files.tampered:
        return Decision("quarantined", reasons=tuple(files.tampered), sender_unit=sender_unit)
    if files.forms:
        return _decide_with_forms(parsed, ctx, files, context_for, sender_unit, received_at)
    return _decide_without_form(
        parsed, ctx, files, received_at, cycle_hint, sender_unit, authenticate
    )


def _quarantined_form(
    form_ctx: IntakeContext, attachment: Attachment, meta: FormMetadata, reason: str
) -> Draft | None:
    """The record of a form that is not accepted, when it names a unit and cycle we know."""
    if meta.unit_code in form_ctx.units and (meta.obligation, meta.period) in form_ctx.cycles:
        # Shown under the unit the form names, never counted as its report.
        return Draft(
            form_ctx.policy_code,
            meta.unit_code,
            meta.obligation,
            meta.period,
            "quarantined",
            attachment.filename,
            errors=(FormIssue("", "", reason),),
        )
    return None


def _decide_with_forms(
    parsed: ParsedMessage,
    ctx: IntakeContext,
    files: _Sorted,
    context_for: Callable[[str], IntakeContext | None] | None,
    sender_unit: str,
    received_at: datetime,
) -> Decision:
    """A message with our signed forms: one submission each, or quarantine if any is wrong."""
    drafts: list[Draft] = []
    quarantined: list[Draft] = []
    reasons: list[str] = []
    for attachment, meta, workbook in files.forms:
        form_ctx = ctx
        if meta.policy != ctx.policy_code and context_for is not None:
            form_ctx = context_for(meta.policy) or ctx
        outcome = _form_draft(form_ctx, parsed.sender, attachment, meta, workbook, received_at)
        if isinstance(outcome, str):
            reasons.append(outcome)
            kept = _quarantined_form(form_ctx, attachment, meta, outcome)
            if kept is not None:
                quarantined.append(kept)
        else:
            drafts.append(outcome)
    if reasons:
        return Decision("quarantined", tuple(quarantined), tuple(reasons), sender_unit)
    others = [
        files.notes.get(id(a)) or f"附件《{a.filename}》未作为报表读取" for a in files.documents
    ]
    others += [issue.problem for issue in files.problems]
    if others:  # kept with the report, so a person sees what else came with it
        drafts = [replace(d, fields={**d.fields, "other_attachments": others}) for d in drafts]
    return Decision("processed", tuple(drafts), sender_unit=sender_unit)


def _decide_without_form(
    parsed: ParsedMessage,
    ctx: IntakeContext,
    files: _Sorted,
    received_at: datetime,
    cycle_hint: tuple[str, str] | None,
    sender_unit: str,
    authenticate: Callable[[], SenderAuthentication] | None = None,
) -> Decision:
    """A message without our form: a report from a known mailbox, for a cycle we can tell;
    ``unverified`` (kept, not counted) when the sender's domain is not authenticated."""
    if not sender_unit:
        return Decision(
            "quarantined",
            reasons=(
                f"发件地址 {parsed.sender or '（空）'} 不在单位名录中，且邮件未附本办下发的报表",
            ),
        )
    cycle = cycle_hint or infer_cycle(ctx, sender_unit, parsed.references, received_at)
    if cycle is None:
        return Decision(
            "quarantined",
            reasons=("无法判断该邮件所报的事项和报告期（本单位当前没有待报送的报告）",),
            sender_unit=sender_unit,
        )
    names = [a.filename for a in files.documents]
    message_problems = [FormIssue("", "", problem) for problem in parsed.problems]
    if message_problems and not files.documents:
        files.problems.extend(message_problems)
    if files.problems and not files.documents:
        return Decision(
            "processed",
            (
                Draft(
                    ctx.policy_code, sender_unit, cycle[0], cycle[1], "rejected",
                    "、".join(a.filename for a in parsed.attachments),
                    errors=tuple(files.problems),
                ),
            ),
            sender_unit=sender_unit,
        )  # fmt: skip
    texts = {a.filename: text for a in files.documents if (text := _document_text(a))}
    fields: dict[str, Any] = {
        "subject": parsed.subject,
        "body": parsed.text,
        "attachments": names,
        "attachment_texts": texts,
        "problems": [issue.problem for issue in files.problems],
        "notes": list(files.notes.values()),  # a workbook not read as our form, and why
    }
    status: SubmissionStatus = "unstructured"
    if authenticate is not None:
        verdict = authenticate()
        fields["sender_authentication"] = verdict.as_fields()
        status = "unstructured" if verdict.verified else "unverified"
    return Decision(
        "processed",
        (
            Draft(
                ctx.policy_code,
                sender_unit,
                cycle[0],
                cycle[1],
                status,
                "、".join(names),
                fields,
            ),
        ),
        sender_unit=sender_unit,
    )
