"""The office's review of replies that came without our form: accept with progress, or reject.

Either way a new version of the submission is recorded (the unstructured one is kept): accepted
with the progress the reviewer read, received_at and lateness unchanged (it counted for
timeliness when it arrived); or rejected with the reason, and the unit gets a rejection mail.
A reply whose sender was not authenticated (``unverified``) counts only once accepted here, then
as of when it arrived: accepting it is the office's word that the unit sent it. Accepted without
progress it becomes ``unstructured`` (the sender confirmed, the content still to be read, as for
an authenticated reply); with progress, ``accepted`` at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from config.errors import NotFoundError
from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake, record_draft
from models.outbox import enqueue
from tasks.forms.layout import STATUS_CHOICES
from tasks.forms.values import FormIssue, MeasureReport
from tasks.intake.decide import Draft, SubmissionStatus
from tasks.intake.steps import _new_run, submission_notice

REVIEWABLE = ("unstructured", "unverified")  # replies without our form, waiting for the office


class ReviewError(NotFoundError):
    """A review the office asked for cannot be done as asked (user error, exit code 2)."""


@dataclass(frozen=True)
class ProgressInput:
    measure: str
    status: str
    value: float | None


def parse_progress(text: str) -> ProgressInput:
    """``19=推进中`` or ``26(3)=已完成:120`` (measure = status[:value reached])."""
    measure, sep, rest = text.partition("=")
    status, _, value = rest.partition(":")
    measure, status, value = measure.strip(), status.strip(), value.strip()
    if not sep or not measure or not status:
        raise ReviewError(f"进展格式有误：{text!r}，应为 措施编号=进展状态[:完成值]，如 19=推进中")
    if status not in STATUS_CHOICES:
        raise ReviewError(f"进展状态 {status!r} 不在可选范围（{'、'.join(STATUS_CHOICES)}）内")
    try:
        number = float(value) if value else None
    except ValueError:
        raise ReviewError(f"完成值 {value!r} 不是数字（措施 {measure}）") from None
    return ProgressInput(measure, status, number)


def _load(session: Any, submission_id: int) -> tuple[t.Submission, t.Cycle, t.Obligation, str]:
    row = session.exec(
        select(t.Submission, t.Cycle, t.Obligation, t.Policy.code)
        .join(t.Cycle, col(t.Cycle.id) == t.Submission.cycle_id)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .join(t.Policy, col(t.Policy.id) == t.Obligation.policy_id)
        .where(t.Submission.id == submission_id)
    ).first()
    if row is None:
        raise ReviewError(f"没有编号为 {submission_id} 的报送记录")
    submission = row[0]
    newer = session.exec(
        select(t.Submission.id).where(
            t.Submission.cycle_id == submission.cycle_id,
            t.Submission.unit_id == submission.unit_id,
            t.Submission.version > submission.version,
        )
    ).first()
    if newer is not None:
        raise ReviewError(
            f"报送记录 {submission_id} 已有更新的版本（编号 {newer}），请审核最新版本"
        )
    if submission.status not in REVIEWABLE:
        raise ReviewError(f"报送记录 {submission_id} 的状态是 {submission.status}，无需审核")
    return row


def _outcome(status: str, accept: bool, progress: list[ProgressInput]) -> SubmissionStatus:
    if not accept:
        return "rejected"
    return "unstructured" if status == "unverified" and not progress else "accepted"


def review_submission(
    settings: Settings,
    submission_id: int,
    *,
    accept: bool,
    progress: list[ProgressInput],
    note: str,
    reviewer: str,
    now: datetime,
) -> t.Submission:
    """Record the reviewer's decision as the next version of the submission."""
    run = _new_run(settings, now)
    with session_scope(settings) as session:
        submission, cycle, obligation, policy_code = _load(session, submission_id)
        intake = load_policy_intake(session, policy_code)
        unit = next(u for u in intake.units.values() if u.id == submission.unit_id)
        own = intake.context.units[unit.code].measures
        unknown = [p.measure for p in progress if p.measure not in own]
        if unknown:
            raise ReviewError(f"措施 {'、'.join(unknown)} 不是{unit.name}承担的措施")
        if not accept and not note:
            raise ReviewError("退回时请用 --reason 说明原因，原因将通知报送单位")
        review = {"by": reviewer, "at": now.isoformat(), "note": note, "of": submission.id}
        draft = Draft(
            policy_code=policy_code,
            unit_code=unit.code,
            obligation=obligation.code,
            period=cycle.period,
            status=_outcome(submission.status, accept, progress),
            attachment=submission.attachment,
            fields={**submission.fields, "review": review},
            measures=tuple(
                MeasureReport(p.measure, p.status, p.value, {"reviewed": True}) for p in progress
            ),
            errors=() if accept else (FormIssue("", "", note),),
        )
        new = record_draft(
            session,
            intake,
            draft,
            inbound_id=submission.inbound_id,
            channel=submission.channel,
            received_at=submission.received_at,
            late_working_days=submission.late_working_days,
            raw_sha256=submission.raw_sha256,
            now=now,
        )
        if not accept:
            notice = submission_notice(run, intake, draft, new)
            if notice is not None:
                enqueue(session, [notice], now=now)
        return new
