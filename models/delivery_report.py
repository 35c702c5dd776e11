"""Queries behind what the office reads about delivery: the rows that turned ``failed`` since the
last 【投递失败】 digest, when that digest was queued, and the rows a delivery that cannot start
(no usable sender) leaves waiting.

A row's ``updated_at`` is the moment its outcome was recorded, so a ``failed`` row's is when it
turned failed (re-queueing it with ``taskforce outbox retry`` makes it ``pending`` again; failing
again stamps it anew, and the next digest lists it again).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from models.tables import Notification, Unit


def failed_between(
    session: Session, *, policy_id: int, after: datetime, until: datetime, exclude_kind: str
) -> list[tuple[Notification, str]]:
    """Rows of the policy that turned failed in (after, until], with their unit's name ("")."""
    rows = session.exec(
        select(Notification, Unit.name)
        .join(Unit, col(Unit.id) == col(Notification.unit_id), isouter=True)
        .where(
            Notification.policy_id == policy_id,
            col(Notification.status) == "failed",
            col(Notification.kind) != exclude_kind,
            col(Notification.updated_at) > after,
            col(Notification.updated_at) <= until,
        )
        .order_by(col(Notification.updated_at), col(Notification.id))
    ).all()
    return [(row, name or "") for row, name in rows]


def last_queued(session: Session, *, policy_id: int, kind: str) -> datetime | None:
    """When the policy's latest mail of ``kind`` was queued (None if it never was)."""
    # Ordered, not max(): the column's type (aware UTC on SQLite too) applies to a plain select.
    return session.exec(
        select(Notification.created_at)
        .where(Notification.policy_id == policy_id, col(Notification.kind) == kind)
        .order_by(col(Notification.created_at).desc())
        .limit(1)
    ).first()


def pending_rows(session: Session, *, policy_id: int) -> list[Notification]:
    """The policy's rows waiting to be sent, in the order a delivery would claim them."""
    return list(
        session.exec(
            select(Notification)
            .where(Notification.policy_id == policy_id, col(Notification.status) == "pending")
            .order_by(col(Notification.id))
        ).all()
    )
