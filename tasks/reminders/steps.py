"""The reminder run's step, as a plain function the Prefect wrapper calls.

``prepare_reminders``: plan today's notices, build each unit's form once per cycle, render the
mails and write them to the outbox (a key already there is left alone). Sending the outbox is
``tasks.mail.outbox.deliver_outbox``, shared by every flow.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlmodel import Session, col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.issued_forms import issued_pairs, record_issued_form
from models.notice_data import NoticeData, led_deadlines, load_notice_data
from models.outbox import (
    NewNotification,
    enqueue,
)
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.forms.keys import FormKeys, form_keys, key_id
from tasks.forms.layout import form_path
from tasks.reminders.plan import (
    CycleView,
    PlannedNotice,
    Recipient,
    deadline_notes,
    plan_notices,
)

if TYPE_CHECKING:
    from tasks.forms.layout import FormSpec

# Forms (openpyxl), templates (Jinja2) and mail (email.mime, aiosmtplib) are imported where a
# notice is built or sent: most days nothing is due, and `taskforce remind` should not pay
# ~0.3 s of imports to find that out.

logger = logging.getLogger(__name__)

KIND_LABELS = {"opening": "开始通知", "reminder": "提醒", "last_day": "截止日提醒"}


@dataclass
class PrepareSummary:
    """What a prepare step decided, for the run's artifact and the CLI."""

    as_of: datetime
    queued: list[dict[str, str]] = field(default_factory=list)  # new outbox rows
    already: list[dict[str, str]] = field(default_factory=list)  # keys queued by an earlier run
    skipped: list[dict[str, str]] = field(default_factory=list)


def _labels(data: NoticeData) -> dict[int, tuple[str, str]]:
    """Cycle id → (obligation name, period label), as the office's run report names them."""
    return {c.id: (o.name, c.period_label) for o, c in data.cycles if c.id is not None}


def _cycle_views(data: NoticeData, calendar: WorkingCalendar) -> list[CycleView]:
    views = []
    for obligation, cycle in data.cycles:
        assert cycle.id is not None
        views.append(
            CycleView(
                cycle_id=cycle.id,
                obligation=obligation.code,
                frequency=obligation.frequency,
                period=cycle.period,
                opens=cycle.opens,
                due_date=cycle.due_date,
                due_at=cycle.due_at,
                reminders=tuple(datetime.fromisoformat(d).date() for d in cycle.reminders),
                last_working_day=calendar.previous_working_day(cycle.due_date),
            )
        )
    return views


def _line(
    notice: PlannedNotice, to: list[str], labels: dict[int, tuple[str, str]], reason: str = ""
) -> dict[str, str]:
    name, period_label = labels.get(notice.cycle_id, (notice.obligation, notice.period))
    return {
        "unit": notice.unit.name,
        "obligation": notice.obligation,
        "obligation_name": name,
        "period": notice.period,
        "period_label": period_label,  # 2023年1月20日 for a one-off, not its key "2023"
        "kind": KIND_LABELS[notice.kind],
        "to": ", ".join(to),
        "key": notice.key,
        "reason": reason,
    }


class Issued(NamedTuple):
    """A form to record as issued (models.issued_forms)."""

    digest: str
    key_id: str
    issued_at: datetime


def _ensure_form(path: Path, spec: FormSpec, keys: FormKeys, recorded: bool) -> Issued | None:
    """Build a unit's form for a cycle once; later reminders of the cycle reuse the file.

    Returns what to record as issued, None when the cycle's form is recorded already. A file
    with no record (its run failed before committing, or it predates the record) is read back;
    one that no key of the install verifies any more is built again with the current key.
    """
    if path.exists():
        if recorded:
            return None
        from config.errors import FormError
        from tasks.forms.read import read_form_metadata

        try:
            meta = read_form_metadata(path.read_bytes(), keys)
            return Issued(meta.digest, meta.key_id, meta.issued_at)
        except FormError:
            logger.warning("报表 %s 不是用本机密钥签名的：已重新生成", path)
    from tasks.forms.build import build_signed_form

    data, digest = build_signed_form(spec, keys.current)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.{uuid.uuid4().hex}.tmp")  # per writer
    partial.write_bytes(data)
    partial.replace(path)  # atomic: a concurrent run never reads half a file
    return Issued(digest, key_id(keys.current), spec.issued_at)


def register_form_files(settings: Settings) -> tuple[int, list[Path]]:
    """Record as issued the forms under ``var/forms`` that have no record yet (made before the
    office recorded its forms, or by a run that failed before committing), so that they are
    still accepted when they come back; (forms recorded, files no key of the install verifies)."""
    from config.errors import FormError
    from models.issued_forms import record_form_read_back
    from tasks.forms.read import read_form_metadata

    root = settings.var_dir / "forms"
    files = sorted(root.glob("*/*/*/*.xlsx")) if root.is_dir() else []
    if not files:
        return 0, []
    keys = form_keys(settings)
    recorded, refused = 0, []
    with session_scope(settings) as session:
        known = _recorded_paths(session, settings)
        for path in files:
            if path in known:
                continue
            try:
                meta = read_form_metadata(path.read_bytes(), keys)
            except (FormError, OSError):
                refused.append(path)
                continue
            recorded += record_form_read_back(session, meta)
    return recorded, refused


def _recorded_paths(session: Session, settings: Settings) -> set[Path]:
    """The form paths (``form_path``'s layout) of every form recorded as issued."""
    from models.issued_forms import IssuedForm

    rows = session.exec(
        select(t.Policy.code, t.Obligation.code, t.Cycle.period, t.Unit.code)
        .select_from(IssuedForm)
        .join(t.Policy, col(t.Policy.id) == IssuedForm.policy_id)
        .join(t.Cycle, col(t.Cycle.id) == IssuedForm.cycle_id)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .join(t.Unit, col(t.Unit.id) == IssuedForm.unit_id)
    ).all()
    return {form_path(settings, *row) for row in rows}


def prepare_reminders(
    settings: Settings, policy_code: str, as_of: datetime, frequency: str | None
) -> PrepareSummary:
    """Plan, render and enqueue today's notices of one policy (one frequency, if given)."""
    calendar = WorkingCalendar.from_settings(settings)
    summary = PrepareSummary(as_of=as_of)
    with session_scope(settings) as session:
        data = load_notice_data(session, policy_code, frequency)
        units = {u.id: u for units in data.recipients.values() for u in units}
        labels = _labels(data)
        planned = _plan(data, policy_code, calendar, as_of, summary, labels)
        known = _keys_in_outbox(session, [notice.key for notice in planned])
        for notice in planned:
            if notice.key in known:
                mailboxes = units[notice.unit.unit_id].mailboxes
                summary.already.append(_line(notice, mailboxes, labels, "此前已入发件箱"))
        due = [notice for notice in planned if notice.key not in known]
        fresh = _render_notices(settings, session, policy_code, data, units, calendar, as_of, due)
        inserted = set(enqueue(session, fresh, now=as_of))
        for notice in due:
            mailboxes = units[notice.unit.unit_id].mailboxes
            if notice.key in inserted:
                summary.queued.append(_line(notice, mailboxes, labels))
            else:  # lost a race with an overlapping run: theirs stands
                summary.already.append(_line(notice, mailboxes, labels, "并发运行已入发件箱"))
    return summary


def _plan(
    data: NoticeData,
    policy_code: str,
    calendar: WorkingCalendar,
    as_of: datetime,
    summary: PrepareSummary,
    labels: dict[int, tuple[str, str]],
) -> list[PlannedNotice]:
    """Today's notices; those the plan skips are listed in the summary with the reason."""
    recipients = {
        code: [Recipient(u.id, u.code, u.name) for u in members if u.id is not None]
        for code, members in data.recipients.items()
    }
    planned, skipped = plan_notices(
        policy=policy_code,
        cycles=_cycle_views(data, calendar),
        recipients=recipients,
        submitted=data.submitted,
        as_of=as_of,
    )
    for s in skipped:
        name, period_label = labels.get(s.cycle_id, (s.obligation, s.period))
        summary.skipped.append(
            {"unit": s.unit.name, "obligation": s.obligation, "obligation_name": name,
             "period": s.period, "period_label": period_label, "reason": s.reason}
        )  # fmt: skip
    return planned


def _keys_in_outbox(session: Session, keys: list[str]) -> set[str]:
    return set(
        session.exec(
            select(t.Notification.idempotency_key).where(
                col(t.Notification.idempotency_key).in_(keys)
            )
        ).all()
    )


def _render_notices(
    settings: Settings,
    session: Session,
    policy_code: str,
    data: NoticeData,
    units: dict[int | None, t.Unit],
    calendar: WorkingCalendar,
    as_of: datetime,
    due: list[PlannedNotice],
) -> list[NewNotification]:
    """Each notice not yet in the outbox, with the unit's form attached, as an outbox row; each
    form built is recorded as issued."""
    if not due:
        return []  # the usual day: no templates, forms or mail modules to import
    from models.escalation_store import lag_rules
    from tasks.mail.notices import notice_context, working_days_left
    from tasks.render import render_notice, shared_environment

    env = shared_environment()
    keys = form_keys(settings)
    by_cycle = {c.id: (o, c) for o, c in data.cycles}
    led, statuses = led_deadlines(session, data.policy, as_of)
    window = lag_rules(data.policy).deadline_window_days
    today = as_of.astimezone(SHANGHAI).date()
    recorded = issued_pairs(session, {n.cycle_id for n in due})
    fresh: list[NewNotification] = []
    for notice in due:
        unit = units[notice.unit.unit_id]
        obligation, cycle = by_cycle[notice.cycle_id]
        context = notice_context(
            kind=notice.kind,
            policy=data.policy,
            obligation=obligation,
            cycle=cycle,
            unit=unit,
            measures=data.measures_by_unit.get(notice.unit.unit_id, []),
            as_of=as_of,
            days_left=working_days_left(
                calendar, as_of.astimezone(SHANGHAI).date(), cycle.due_date
            ),
            attachment_name="",
        )
        own = {number: status for (code, number), status in statuses.items() if code == unit.code}
        notes = deadline_notes(led.get(unit.id or 0, []), own, today=today, window_days=window)
        context["deadlines"] = [asdict(note) for note in notes]
        path = form_path(settings, policy_code, obligation.code, cycle.period, unit.code)
        assert cycle.id is not None and unit.id is not None and data.policy.id is not None
        filename, issued = _attach_form(path, context, keys, (cycle.id, unit.id) in recorded)
        if issued is not None:
            record_issued_form(
                session, digest=issued.digest, policy_id=data.policy.id, cycle_id=cycle.id,
                unit_id=unit.id, key_id=issued.key_id, issued_at=issued.issued_at,
            )  # fmt: skip
            recorded.add((cycle.id, unit.id))
        attachments = [{"path": str(path), "filename": filename}]
        if notice.kind == "opening":
            calendar_file = _attach_calendar(settings, data, obligation, cycle, unit, as_of)
            attachments.append(calendar_file)
            context["reply"]["calendar_name"] = calendar_file["filename"]
        mail = render_notice(env, context)
        fresh.append(
            NewNotification(
                idempotency_key=notice.key,
                kind=notice.kind,
                policy_id=data.policy.id,
                cycle_id=cycle.id,
                unit_id=unit.id,
                to=list(unit.mailboxes),
                subject=mail.subject,
                body_text=mail.text,
                body_html=mail.html,
                attachments=attachments,
            )
        )
    return fresh


def _attach_calendar(
    settings: Settings,
    data: NoticeData,
    obligation: t.Obligation,
    cycle: t.Cycle,
    unit: t.Unit,
    as_of: datetime,
) -> dict[str, str]:
    """The unit's calendar of this obligation, written for the opening notice to attach.

    Stamped with the notice's moment: the next month's file is newer, so a calendar that
    already has the events updates them on re-import.
    """
    from tasks.ics import ICS_FILENAME, calendar_path, unit_calendar

    path = calendar_path(settings, data.policy.code, obligation.code, cycle.period, unit.code)
    path.parent.mkdir(parents=True, exist_ok=True)
    data_ics = unit_calendar(data.policy, obligation, cycle, data.cycles, unit, as_of)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    temporary.write_bytes(data_ics)
    os.replace(temporary, path)  # a concurrent run never attaches a half-written file
    return {"path": str(path), "filename": ICS_FILENAME}


def _attach_form(
    path: Path, context: dict[str, Any], keys: FormKeys, recorded: bool
) -> tuple[str, Issued | None]:
    """The unit's form at ``path`` (built once per cycle), named in the mail; its file name and
    what to record as issued."""
    from tasks.forms.layout import form_filename, form_spec_from_context

    spec = form_spec_from_context(context)
    filename = form_filename(spec)
    context["reply"]["attachment_name"] = filename
    return filename, _ensure_form(path, spec, keys, recorded)
