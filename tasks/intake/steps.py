"""The steps of an intake run, as plain functions the Prefect wrappers and the CLI call.

For every batch of messages a source yields (``INTAKE_BATCH``): store the raw bytes
(content-addressed) → claim the items in the database, one transaction (the sha256 is unique, so
a concurrent run that read the same message skips it) → mark them processed at the source →
parse, decide, record versioned submissions and queue the receipts or rejections, one
transaction for the batch (a bug in one message: the batch again, one message at a time, so only
that one is marked ``error``). A run killed between the two leaves the items ``stored``, their
raw bytes safe: the first run once they are STALE_ITEM old on the real clock records them. Each
transaction that records an item first claims it (``_claim``), so two runs never both do. A
message over ``intake.max_message_bytes`` is measured before it is read: it is copied into the
raw store in chunks and only its header block is parsed, to quarantine it. A bug while parsing
leaves the item in status ``error`` with its reason, the raw bytes safe; ``replay`` runs it
again after a fix. At the end of a run the office gets one 【隔离】 digest of what was quarantined
(``tasks/intake/alerts.py``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment
from sqlmodel import Session, col, select, update

from config.errors import FormError, NotFoundError, TaskforceError
from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import (
    PolicyIntake,
    claim_item,
    claim_items,
    load_policy_intake,
    record_draft,
)
from models.outbox import NewNotification, enqueue
from models.types import utcnow
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.forms.keys import FormKeys, form_keys
from tasks.forms.layout import form_filename, form_path, form_spec_from_context
from tasks.forms.read import read_form_metadata
from tasks.intake.alerts import (
    ThrottleBook,
    oversize_notice,
    queue_quarantine_digest,
    throttle,
)
from tasks.intake.decide import Decision, Draft, decide, late_working_days
from tasks.mail.authentication import SenderAuthentication, authenticate_sender
from tasks.mail.inbound import Attachment, ParsedMessage, parse_headers, parse_message, size_text
from tasks.mail.notices import notice_context
from tasks.mail.sources import (
    HEADER_LIMIT,
    FetchedMessage,
    MaildirSource,
    MailSource,
    header_block,
    read_head,
)
from tasks.render import render_notice, shared_environment
from tasks.text import clean_line, clean_text

logger = logging.getLogger(__name__)

STATUS_LABELS = {
    "accepted": "已受理",
    "rejected": "退回",
    "unstructured": "已收到（未用报表，待审核）",
    "unverified": "已收到（发件人未经验证，待审核）",
    "quarantined": "隔离",
}
ITEM_LABELS = {
    "quarantined": "隔离",
    "ignored": "忽略",
    "error": "处理出错（待重放）",
    "skipped": "跳过（不重复处理）",
}
# An item ``stored`` this long on the real clock (its ``created_at``) was left by a dead run.
STALE_ITEM = timedelta(minutes=15)


def store_raw(root: Path, content: bytes, suffix: str = ".eml") -> tuple[str, str]:
    """Write bytes under their sha256 (once; a second copy is the same file); (sha256, path)."""
    digest = hashlib.sha256(content).hexdigest()
    relative = f"{digest[:2]}/{digest}{suffix}"
    path = root / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unique per process and thread: two runs may store the same message at once.
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(content)
        partial.replace(path)
    return digest, relative


COPY_CHUNK = 1024 * 1024


def store_raw_file(root: Path, source: Path, suffix: str = ".eml") -> tuple[str, str]:
    """``store_raw`` for a file too large to hold: hashed while copied in chunks."""
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f".incoming.{os.getpid()}.{threading.get_ident()}.tmp"
    digest = hashlib.sha256()
    try:
        with source.open("rb") as src, partial.open("wb") as out:
            while chunk := src.read(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        name = digest.hexdigest()
        relative = f"{name[:2]}/{name}{suffix}"
        path = root / relative
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return name, relative


@dataclass
class IntakeSummary:
    """What a run took in, for the CLI, the flow's artifact and the tests."""

    policy: str
    source: str
    lines: list[dict[str, Any]] = field(default_factory=list)  # one per submission or item
    duplicates: int = 0  # messages another run (or an earlier one) had already taken in
    mail: list[str] = field(default_factory=list)  # the run's mail outcome (tasks.mail.failures)
    mail_pending: int = 0  # mails still pending after the run's delivery

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line["outcome"] == outcome)


@dataclass
class _Run:
    settings: Settings
    calendar: WorkingCalendar
    env: Environment
    form_key: FormKeys
    now: datetime
    intakes: dict[str, PolicyIntake] = field(default_factory=dict)
    throttle: ThrottleBook | None = None  # the outbox as the run has seen it

    def throttle_book(self) -> ThrottleBook:
        if self.throttle is None:
            self.throttle = ThrottleBook(self.now)
        return self.throttle

    def intake(self, session: Session, code: str) -> PolicyIntake | None:
        if code not in self.intakes:
            try:
                self.intakes[code] = load_policy_intake(session, code)
            except NotFoundError:
                return None
        return self.intakes[code]


def _new_run(settings: Settings, now: datetime) -> _Run:
    return _Run(
        settings=settings,
        calendar=WorkingCalendar.from_settings(settings),
        env=shared_environment(),
        form_key=form_keys(settings),
        now=now,
    )


# ---------------------------------------------------------------------------------------------
# Notices intake sends


def _context(run: _Run, intake: PolicyIntake, draft: Draft, kind: str) -> dict[str, Any]:
    obligation = intake.obligations[draft.obligation]
    return notice_context(
        kind=kind,
        policy=intake.policy,
        obligation=obligation,
        cycle=intake.cycles[(draft.obligation, draft.period)],
        unit=intake.units[draft.unit_code],
        measures=[],
        as_of=run.now,
        days_left=0,
        attachment_name="",
    )


def submission_notice(
    run: _Run, intake: PolicyIntake, draft: Draft, submission: t.Submission
) -> NewNotification | None:
    """The receipt of an accepted or unstructured submission, the rejection of a rejected one."""
    if draft.status == "quarantined":
        return None  # the office is told; the address it came from may not be the unit's
    kind = "rejection" if draft.status == "rejected" else "receipt"
    context = _context(run, intake, draft, kind)
    context["submission"] = {
        "version": submission.version,
        "received_at": submission.received_at.astimezone(SHANGHAI),
        "channel": submission.channel,
        "status": submission.status,
    }
    attachments: list[dict[str, Any]] = []
    if kind == "rejection":
        context["errors"] = submission.errors
        form = form_path(
            run.settings, intake.policy.code, draft.obligation, draft.period, draft.unit_code
        )
        if form.exists():  # the blank form again, for a unit whose copy is beyond repair
            name = form_spec_name(context, form)
            context["reply"]["attachment_name"] = name
            attachments.append({"path": str(form), "filename": name})
    mail = render_notice(run.env, context)
    unit = intake.units[draft.unit_code]
    return NewNotification(
        idempotency_key=(
            f"{intake.policy.code}/{draft.obligation}/{draft.period}/{draft.unit_code}"
            f"/{kind}/v{submission.version}"
        ),
        kind=kind,
        policy_id=intake.policy.id,
        cycle_id=submission.cycle_id,
        unit_id=unit.id,
        to=list(unit.mailboxes),
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        attachments=attachments,
    )


def form_spec_name(context: dict[str, Any], form: Path) -> str:
    """The file name the form went out with (the notices' naming), from the notice context."""
    return form_filename(form_spec_from_context({**context, "measures": []}))


# ---------------------------------------------------------------------------------------------
# Processing one stored item


def _line(item: t.InboundItem, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "item": item.id,
        "received_at": item.received_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "sender": item.sender,
        "subject": item.subject,
        "outcome": outcome,
        "unit": "",
        "obligation": "",
        "period": "",
        "obligation_name": "",  # as the office names them: 工作专班建立情况 · 2023年1月20日
        "period_label": "",
        "version": None,
        "late_working_days": 0,
        "errors": [],
        **extra,
    }


def _paper_message(item: t.InboundItem, data: bytes, intake: PolicyIntake) -> ParsedMessage:
    """A file handed in on paper, as if its unit had mailed it from a registered address."""
    unit = intake.units[item.details["unit"]]
    filename = str(item.details.get("filename", ""))
    return ParsedMessage(
        sender=unit.mailboxes[0].lower() if unit.mailboxes else "",
        sender_name=unit.name,
        subject=filename,
        message_id="",
        references=(),
        auto_reply=False,
        text="",
        attachments=(Attachment(filename, "", data, False, len(data)),),
    )


def _note_headers(item: t.InboundItem, data: bytes) -> None:
    """Sender, subject and Message-ID on the item, from the headers alone (cheap, never fails)."""
    headers = parse_headers(header_block(data[:HEADER_LIMIT]))  # never the whole message
    item.sender, item.subject, item.message_id = (
        headers.sender,
        headers.subject[:500],
        headers.message_id[:500],
    )


def _decide(run: _Run, session: Session, item: t.InboundItem, data: bytes) -> Decision:
    intake = run.intake(session, item.policy_code)
    if intake is None:
        return Decision("quarantined", reasons=(f"政策 {item.policy_code} 未载入",))
    if item.channel == "paper":
        parsed = _paper_message(item, data, intake)
    else:
        _note_headers(item, data)
        parsed = parse_message(data, max_attachment_bytes=run.settings.intake.max_attachment_bytes)

    def context_for(code: str) -> Any:
        other = run.intake(session, code)
        return None if other is None else other.context

    decision = decide(
        parsed,
        intake.context,
        form_key=run.form_key,
        received_at=item.received_at,
        context_for=context_for,
        max_attachment_bytes=run.settings.intake.max_attachment_bytes,
        authenticate=_authenticator(run, item, data, parsed),
        cycle_hint=(
            (item.details["obligation"], item.details["period"])
            if item.channel == "paper"
            else None
        ),
    )
    if item.channel == "paper":
        decision = _check_paper(decision, item)
    return decision


def _oversized(run: _Run, session: Session, item: t.InboundItem, head: bytes) -> Decision:
    """A message over the size limit, known by its header block alone: quarantined unread."""
    _note_headers(item, head)
    intake = run.intake(session, item.policy_code)
    limit = run.settings.intake.max_message_bytes
    return Decision(
        "quarantined",
        reasons=(
            f"邮件大小 {size_text(item.size)}，超过系统接收上限（{size_text(limit)}），未予读取",
        ),
        sender_unit=intake.context.unit_by_mailbox.get(item.sender, "") if intake else "",
    )


def _authenticator(
    run: _Run, item: t.InboundItem, data: bytes, parsed: ParsedMessage
) -> Callable[[], SenderAuthentication] | None:
    """How decide checks a formless reply's sender; None: it counts (paper, or the setting)."""
    rules = run.settings.intake
    if item.channel == "paper" or rules.unverified_replies == "count":
        return None
    return partial(
        authenticate_sender, data, parsed.sender, trusted_authserv_id=rules.trusted_authserv_id
    )


def _check_paper(decision: Decision, item: t.InboundItem) -> Decision:
    """A paper form must be the form of the unit and period the office entered."""
    wanted = (item.details["unit"], item.details["obligation"], item.details["period"])
    drafts: list[Draft] = []
    for draft in decision.drafts:
        if (draft.unit_code, draft.obligation, draft.period) != wanted:
            raise PaperMismatch(
                f"表格属于 {draft.unit_code} {draft.obligation} {draft.period}，"
                f"与登记的 {wanted[0]} {wanted[1]} {wanted[2]} 不符"
            )
        drafts.append(draft)
    return Decision(decision.status, tuple(drafts), decision.reasons, decision.sender_unit)


class PaperMismatch(TaskforceError):
    """The file handed in is another unit's or another period's form."""


def _record(
    run: _Run, session: Session, item: t.InboundItem, decision: Decision
) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    notices: list[NewNotification] = []
    for draft in decision.drafts:
        form_intake = run.intake(session, draft.policy_code)
        assert form_intake is not None
        cycle = form_intake.cycles[(draft.obligation, draft.period)]
        late = late_working_days(item.received_at, cycle.due_at, run.calendar)
        submission = record_draft(
            session,
            form_intake,
            draft,
            inbound_id=item.id,
            channel=item.channel,
            received_at=item.received_at,
            late_working_days=late,
            raw_sha256=item.raw_sha256,
            now=run.now,
        )
        notice = submission_notice(run, form_intake, draft, submission)
        if notice is not None:
            notices.append(notice)
        lines.append(
            _line(
                item,
                draft.status,
                unit=form_intake.units[draft.unit_code].name,
                obligation=draft.obligation,
                period=draft.period,
                obligation_name=form_intake.obligations[draft.obligation].name,
                period_label=form_intake.cycles[(draft.obligation, draft.period)].period_label,
                version=submission.version,
                late_working_days=late,
                errors=list(submission.errors),
                submission=submission.id,
            )
        )
    item.status = decision.status
    item.reasons = list(decision.reasons)
    item.processed_at = run.now
    # A quarantined item waits for the run's digest (alerts.queue_quarantine_digest).
    if decision.status != "processed" and not decision.drafts:
        lines.append(_line(item, decision.status, errors=[{"problem": r} for r in item.reasons]))
    notices = throttle(session, notices, now=run.now, book=run.throttle_book())
    enqueue(session, notices, now=run.now)
    return lines


def _claim(session: Session, item_id: int, attempts: int) -> bool:
    """Take an item for this transaction, if no one processed it since its ``attempts`` were
    read: the row stays locked until commit (the other run's UPDATE waits, then matches
    nothing), so two runs never both record it. On SQLite the UPDATE, the transaction's first
    write, waits for the database's one writer instead."""
    result = session.execute(
        update(t.InboundItem)
        .where(col(t.InboundItem.id) == item_id, col(t.InboundItem.attempts) == attempts)
        .values(attempts=col(t.InboundItem.attempts) + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _skipped(session: Session, item_id: int) -> list[dict[str, Any]]:
    logger.info("收取项 %s 已由另一次运行处理，不重复处理", item_id)
    item = session.get(t.InboundItem, item_id)
    assert item is not None
    return [_line(item, "skipped", errors=[{"problem": "已由另一次收取处理，不重复处理"}])]


def _process(
    run: _Run, session: Session, item_id: int, data: bytes | None, attempts: int
) -> list[dict[str, Any]]:
    """Decide and record one stored item in the caller's transaction; ``attempts``: as the
    caller read it (another run that processed the item since: skipped)."""
    if not _claim(session, item_id, attempts):
        return _skipped(session, item_id)
    item = session.get(t.InboundItem, item_id, populate_existing=True)
    assert item is not None
    path = run.settings.raw_dir / item.raw_path
    if item.channel == "email" and item.size > run.settings.intake.max_message_bytes:
        # Measured before reading: never read whole, only its header block is parsed.
        decision = _oversized(run, session, item, read_head(path))
        lines = _record(run, session, item, decision)
        _tell_oversized_sender(run, session, item, decision.sender_unit)
        return lines
    decision = _decide(run, session, item, path.read_bytes() if data is None else data)
    return _record(run, session, item, decision)


def process_item(
    run: _Run, item_id: int, data: bytes | None = None, *, attempts: int = 0
) -> list[dict[str, Any]]:
    """Decide and record one stored item; a bug marks it ``error`` and never loses it.

    ``data``: its raw bytes when the caller holds them already (not read a second time);
    ``attempts``: the item's count when the caller chose it (0: just claimed)."""
    try:
        with session_scope(run.settings) as session:
            return _process(run, session, item_id, data, attempts)
    except PaperMismatch:
        run.throttle = None
        raise
    except Exception as exc:
        logger.exception("收取项 %s 处理出错", item_id)
        run.throttle = None  # it saw rows the rollback took back
        with session_scope(run.settings) as session:
            if not _claim(session, item_id, attempts):  # recorded by another run meanwhile
                return _skipped(session, item_id)
            item = session.get(t.InboundItem, item_id, populate_existing=True)
            assert item is not None
            item.status = "error"
            if item.channel == "email":
                _note_headers(item, read_head(run.settings.raw_dir / item.raw_path))
            # The exception may quote what the mail held: cleaned, or PostgreSQL refuses a NUL.
            item.reasons = [clean_line(f"处理出错：{type(exc).__name__}: {exc}")[:1000]]
            item.details = {**item.details, "traceback": clean_text(traceback.format_exc()[-4000:])}
            return [_line(item, "error", errors=[{"problem": item.reasons[0]}])]


def process_items(run: _Run, items: list[tuple[int, bytes | None]]) -> list[dict[str, Any]]:
    """``process_item`` over items just claimed, in one transaction (one commit, not one each).

    A bug in any of them rolls the whole batch back, and each is then processed alone, so the
    culprit is marked ``error`` and the others recorded exactly as one by one."""
    if len(items) == 1:
        return process_item(run, *items[0])
    loaded = set(run.intakes)
    try:
        with session_scope(run.settings) as session:
            lines: list[dict[str, Any]] = []
            for item_id, data in items:
                lines.extend(_process(run, session, item_id, data, 0))
            return lines
    except Exception:
        logger.info("一批 %s 个收取项中有处理出错的，逐个重新处理", len(items))
        # Rows loaded by the rolled-back session are expired: load them again when needed.
        run.intakes = {code: run.intakes[code] for code in loaded}
        run.throttle = None  # it saw rows the rollback took back
    return [line for item_id, data in items for line in process_item(run, item_id, data)]


def _tell_oversized_sender(
    run: _Run, session: Session, item: t.InboundItem, unit_code: str
) -> None:
    """The unit whose registered address sent an oversized message is told, once a month."""
    intake = run.intake(session, item.policy_code)
    if intake is None or not unit_code:
        return  # an unknown address is never written to (no backscatter)
    notice = oversize_notice(
        run.env, intake, item, unit_code, limit=run.settings.intake.max_message_bytes, now=run.now
    )
    enqueue(session, [notice], now=run.now)


def queue_digest(run: _Run, policy_code: str) -> None:
    """The run's 【隔离】 digest to the office (with what earlier runs left undigested)."""
    with session_scope(run.settings) as session:
        intake = run.intake(session, policy_code)
        if intake is None:
            return
        notice = queue_quarantine_digest(session, run.settings, run.env, intake, run.now)
        if notice is not None:
            enqueue(session, [notice], now=run.now)


# ---------------------------------------------------------------------------------------------
# The three ways in


def take_in(
    settings: Settings,
    policy_code: str,
    source: MailSource,
    *,
    now: datetime,
    limit: int | None = None,
) -> IntakeSummary:
    """One pass over a mailbox: every new message stored, claimed, processed, marked."""
    run = _new_run(settings, now)
    summary = IntakeSummary(policy_code, source.name)
    with session_scope(settings) as session:
        if run.intake(session, policy_code) is None:
            load_policy_intake(session, policy_code)  # raises the NotFoundError with its hint
    batch: list[FetchedMessage] = []
    try:
        for message in source.fetch_new(limit, max_bytes=settings.intake.max_message_bytes):
            if message.spool is not None:  # its spool file may not outlive the next fetch
                _take_batch(run, policy_code, source, batch, summary)
                batch = []
                _take_batch(run, policy_code, source, [message], summary)
                continue
            batch.append(message)
            if len(batch) >= INTAKE_BATCH:
                _take_batch(run, policy_code, source, batch, summary)
                batch = []
    except Exception:
        # The mailbox failed mid-way (a dropped IMAP connection): what it gave is taken in.
        _take_batch(run, policy_code, source, batch, summary)
        raise
    _take_batch(run, policy_code, source, batch, summary)
    # A run killed between claim and record left its batch ``stored``: the next run records it
    # once no live run can still be working on it, so no one has to think of ``replay``.
    _process_ids(run, _replayable(settings, policy_code, [], errors=False), summary)
    # Items a crashed run left undigested are in this one (queue_quarantine_digest).
    queue_digest(run, policy_code)
    return summary


# Messages per transaction: a commit per message was a tenth of intake's time. A crash between
# the claim and the record leaves the batch's items ``stored``, their raw bytes safe, for replay.
INTAKE_BATCH = 50


def _take_batch(
    run: _Run,
    policy_code: str,
    source: MailSource,
    messages: list[FetchedMessage],
    summary: IntakeSummary,
) -> None:
    """Store, claim (one commit), mark at the source, then process (one commit) some messages."""
    stored: list[tuple[FetchedMessage, str, str]] = []
    for message in messages:
        try:
            stored.append((message, *_store(run.settings, message)))
        except FileNotFoundError:  # an oversized Maildir file another run moved meanwhile
            continue
    if not stored:
        return
    with session_scope(run.settings) as session:
        item_ids = claim_items(
            session,
            [
                _item_values(policy_code, message, digest, relative, utcnow())
                for message, digest, relative in stored
            ],
        )
    todo: list[tuple[int, bytes | None]] = []
    for (message, _, _), item_id in zip(stored, item_ids, strict=True):
        # Marked once stored and claimed: the raw copy is safe whatever processing does.
        source.mark_processed(message.source_key)
        if item_id is None:
            summary.duplicates += 1
        else:
            todo.append((item_id, None if message.spool else message.content))
    if todo:
        summary.lines.extend(process_items(run, todo))


def _store(settings: Settings, message: FetchedMessage) -> tuple[str, str]:
    if message.spool is not None:
        return store_raw_file(settings.raw_dir, message.spool)
    return store_raw(settings.raw_dir, message.content)


def _item_values(
    policy_code: str, message: FetchedMessage, digest: str, relative: str, stored_at: datetime
) -> dict[str, Any]:
    """The item's row; ``stored_at``: the real time (not the run's as-of), which tells a later
    run whether the item's owner can still be alive (``_replayable``)."""
    return {
        "raw_sha256": digest, "raw_path": relative, "size": message.size,
        "channel": "email", "source": message.source, "source_key": message.source_key,
        "received_at": message.received_at, "sender": "", "subject": "",
        "message_id": "", "policy_code": policy_code, "status": "stored",
        "reasons": [], "details": {}, "attempts": 0, "created_at": stored_at,
        "processed_at": None,
    }  # fmt: skip


def submit_paper(
    settings: Settings,
    *,
    policy_code: str,
    unit_code: str,
    period: str,
    file: Path,
    obligation: str | None,
    received_at: datetime,
    now: datetime,
) -> IntakeSummary:
    """Record a report handed in on paper (its file: a filled form or a scan), channel paper."""
    run = _new_run(settings, now)
    with session_scope(settings) as session:
        intake = load_policy_intake(session, policy_code)
        unit = _find_unit(intake, unit_code)
        periods = sorted({o for (o, p) in intake.cycles if p == period})
        if obligation is None:
            obligation = _obligation_from_file(file, run.form_key, periods, period)
        if (obligation, period) not in intake.cycles:
            known = "、".join(periods) or "无"
            raise NotFoundError(
                f"政策 {policy_code} 没有报送事项 {obligation} 的 {period} 报告期"
                f"（该报告期的报送事项：{known}）"
            )
        if (obligation, period) not in intake.context.unit_cycles.get(unit.code, ()):
            raise NotFoundError(f"{unit.name} 不是报送事项 {obligation} 的报送单位")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"无法读取文件 {file}：{exc.strerror or exc}") from None
    digest, relative = store_raw(settings.raw_dir, data, file.suffix.lower()[:10])
    summary = IntakeSummary(policy_code, "paper")
    name = clean_line(file.name)
    with session_scope(settings) as session:
        item_id = claim_item(
            session,
            {
                "raw_sha256": digest, "raw_path": relative, "size": len(data), "channel": "paper",
                "source": "paper", "source_key": name, "received_at": received_at,
                "sender": unit.code, "subject": name, "message_id": "",
                "policy_code": policy_code, "status": "stored", "reasons": [],
                "details": {"unit": unit.code, "obligation": obligation, "period": period,
                            "filename": name},
                "attempts": 0, "created_at": utcnow(), "processed_at": None,
            },
        )  # fmt: skip
    if item_id is None:
        summary.duplicates += 1
        return summary
    try:
        summary.lines.extend(process_item(run, item_id))
    except PaperMismatch:
        with session_scope(settings) as session:  # nothing recorded: the office fixes its entry
            item = session.get(t.InboundItem, item_id)
            if item is not None:
                session.delete(item)
        raise
    queue_digest(run, policy_code)
    return summary


def _find_unit(intake: PolicyIntake, name_or_code: str) -> t.Unit:
    for unit in intake.units.values():
        if name_or_code in (unit.code, unit.name, unit.full_name, *unit.aliases):
            return unit
    raise NotFoundError(f"单位 {name_or_code!r} 不是政策 {intake.policy.code} 的报送单位")


def _obligation_from_file(file: Path, key: FormKeys, candidates: list[str], period: str) -> str:
    if len(candidates) == 1:
        return candidates[0]
    try:
        return read_form_metadata(file.read_bytes(), key).obligation
    except (FormError, OSError):
        pass
    if not candidates:
        raise NotFoundError(f"没有 {period} 报告期的报送事项")
    raise NotFoundError(
        f"{period} 报告期有多项报送事项（{'、'.join(candidates)}），请用 --obligation 指明"
    )


def replay(
    settings: Settings, *, policy_code: str | None, item_ids: list[int], now: datetime
) -> IntakeSummary:
    """Process stored items again: the given ones, else those that failed or were left mid-way.

    Only items that produced no submission are replayed, and an item another run processes
    meanwhile is skipped, so a replay never doubles a report.
    """
    run = _new_run(settings, now)
    summary = IntakeSummary(policy_code or "", "replay")
    chosen = _replayable(settings, policy_code, item_ids, errors=True)
    _process_ids(run, chosen, summary)
    for code in sorted(_policies(settings, [item_id for item_id, _ in chosen])):
        queue_digest(run, code)
    return summary


def _replayable(
    settings: Settings, policy_code: str | None, item_ids: list[int], *, errors: bool
) -> list[tuple[int, int]]:
    """(id, attempts) of the given items, else of those left ``stored`` for over STALE_ITEM
    (and, with ``errors``, those in ``error``): a live run's batch goes from claim to record in
    seconds. Measured on the real clock: a run's as-of may lie years back (a backfill)."""
    with session_scope(settings) as session:
        query = select(t.InboundItem.id, t.InboundItem.attempts)
        if item_ids:
            query = query.where(col(t.InboundItem.id).in_(item_ids))
        else:
            stale = utcnow() - STALE_ITEM
            left = (col(t.InboundItem.status) == "stored") & (t.InboundItem.created_at < stale)
            query = query.where(left | (col(t.InboundItem.status) == "error") if errors else left)
        if policy_code:
            query = query.where(t.InboundItem.policy_code == policy_code)
        rows = session.exec(query.order_by(col(t.InboundItem.id))).all()
        return [(item_id, attempts) for item_id, attempts in rows if item_id]


def _process_ids(run: _Run, chosen: list[tuple[int, int]], summary: IntakeSummary) -> None:
    """Process each (item, attempts read) again, except one that already made a submission or
    that another run processed since it was chosen (never doubled)."""
    if not chosen:
        return
    ids = [item_id for item_id, _ in chosen]
    settings = run.settings
    with session_scope(settings) as session:
        recorded = set(
            session.exec(
                select(t.Submission.inbound_id).where(col(t.Submission.inbound_id).in_(ids))
            ).all()
        )
    for item_id, attempts in chosen:
        if item_id in recorded:
            with session_scope(settings) as session:
                item = session.get(t.InboundItem, item_id)
                assert item is not None
                summary.lines.append(
                    _line(item, "skipped", errors=[{"problem": "已登记过报送，不重复处理"}])
                )
            continue
        summary.lines.extend(process_item(run, item_id, attempts=attempts))


def _policies(settings: Settings, item_ids: list[int]) -> set[str]:
    if not item_ids:
        return set()
    with session_scope(settings) as session:
        return set(
            session.exec(
                select(t.InboundItem.policy_code).where(col(t.InboundItem.id).in_(item_ids))
            ).all()
        )


def open_source(settings: Settings, policy_code: str, kind: str | None = None) -> MailSource:
    """The mailbox intake reads for a policy: its office's Maildir, or the IMAP mailbox."""
    kind = kind or settings.intake.source
    if kind == "imap":
        from tasks.mail.imap import ImapSource  # imaplib only when asked for

        if not settings.imap.host:
            raise NotFoundError("未设置收件邮箱服务器：请设置 TASKFORCE_IMAP_HOST 等参数")
        return ImapSource(settings.imap)
    with session_scope(settings) as session:
        intake = load_policy_intake(session, policy_code)
    mailbox = intake.policy.task_force_spec.office.mailbox.lower()
    return MaildirSource(settings.maildir_root / mailbox)
