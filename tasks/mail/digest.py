"""The office's daily 【投递失败】 digest: queue it when rows turned ``failed`` since the last one;
and the summary of a delivery that cannot start for want of a sender.

``queue_failure_digest`` runs after a delivery (``flows.delivery.deliver``). It lists the rows of
the policy that turned failed since the previous digest was queued (the first time: since the
start of the day in Beijing time), renders ``templates/mail/delivery_failures.*`` and queues
the mail to the office's mailbox under ``<policy>/delivery-failures/<day>``: one per day, the
outbox refusing a second row with the key. Failures after the day's digest wait for the next
day's, which starts where this one ended. A failed digest is never listed in a digest.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlmodel import select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.delivery_report import failed_between, last_queued, pending_rows
from models.outbox import NewNotification, enqueue
from tasks.calendar import SHANGHAI
from tasks.mail.failures import DIGEST_KIND, FailedMail, digest_context, digest_key
from tasks.mail.outbox import DeliverySummary
from tasks.mail.smtp import DeliveryOutcome


def queue_failure_digest(settings: Settings, policy_code: str, *, now: datetime) -> str | None:
    """Queue today's digest if rows failed since the last one; its key, or None if not queued."""
    day = now.astimezone(SHANGHAI).date()
    key = digest_key(policy_code, day)
    with session_scope(settings) as session:
        policy = session.exec(select(t.Policy).where(t.Policy.code == policy_code)).one()
        assert policy.id is not None
        if session.exec(
            select(t.Notification.id).where(t.Notification.idempotency_key == key)
        ).first():
            return None  # today's went already: later failures wait for tomorrow's
        after = last_queued(session, policy_id=policy.id, kind=DIGEST_KIND) or datetime.combine(
            day, time(0), SHANGHAI
        )
        rows = failed_between(
            session, policy_id=policy.id, after=after, until=now, exclude_kind=DIGEST_KIND
        )
        if not rows:
            return None
        office = policy.task_force_spec.office
        context = digest_context(
            policy_code=policy_code,
            office={"name": office.name, "mailbox": office.mailbox},
            day=day,
            failures=[_failed(row, unit) for row, unit in rows],
            as_of=now,
        )
        from tasks.render import render_notice, shared_environment

        mail = render_notice(shared_environment(), context)
        inserted = enqueue(
            session,
            [
                NewNotification(
                    idempotency_key=key, kind=DIGEST_KIND, policy_id=policy.id, cycle_id=None,
                    unit_id=None, to=[office.mailbox], subject=mail.subject,
                    body_text=mail.text, body_html=mail.html,
                )
            ],
            now=now,
        )  # fmt: skip
    return key if inserted else None


def _failed(row: t.Notification, unit: str) -> FailedMail:
    assert row.id is not None
    return FailedMail(
        id=row.id,
        unit=unit,
        kind=row.kind,
        subject=row.subject,
        to=", ".join(row.to + row.cc),
        attempts=row.attempts,
        reply=row.server_reply or row.last_error,
        failed_at=row.updated_at,
    )


def hold_for_sender(settings: Settings, policy_code: str) -> DeliverySummary:
    """A delivery that cannot start (no usable sender): the pending rows, left as they are."""
    error = f"not sent: smtp.sender {settings.smtp.sender!r}"
    with session_scope(settings) as session:
        policy = session.exec(select(t.Policy).where(t.Policy.code == policy_code)).one()
        assert policy.id is not None
        rows = pending_rows(session, policy_id=policy.id)
    return DeliverySummary(
        outcomes=[
            DeliveryOutcome(r.idempotency_key, "pending", 0, error=error, stop="sender")
            for r in rows
        ],
        subjects={r.idempotency_key: r.subject for r in rows},
        recipients={r.idempotency_key: ", ".join(r.to) for r in rows},
    )
