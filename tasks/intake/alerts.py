"""Mail intake sends about what it set aside, bounded however much arrives.

* One 【隔离】 digest per intake run to the office, not one mail per quarantined message: counts by
  reason, the first ``DIGEST_LISTED`` messages, where the raw copies are and how to list all.
  The items are marked with the digest's key in the transaction that queues it, so an item left
  out by a run that crashed goes into the next run's digest, and the key (from the item ids)
  makes a repeated digest of the same items one mail.
* The sender of a message over the size limit is told once per unit per month, and only when its
  address is a unit's registered mailbox (never backscatter to an unknown address), at the unit's
  registered mailboxes.
* Receipts and rejections: at most one of each kind per unit per cycle per hour. A further one is
  still written to the outbox, as ``cancelled`` with the reason, so ``taskforce outbox`` shows it
  and ``taskforce outbox retry`` can send it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment
from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from config.settings import Settings
from models import tables as t
from models.intake_store import PolicyIntake
from models.outbox import NewNotification
from tasks.calendar import SHANGHAI
from tasks.mail.inbound import size_text
from tasks.mail.labels import KIND_LABELS
from tasks.mail.notices import office_context
from tasks.render import render_notice

DIGEST_LISTED = 20  # messages a digest lists one by one; the rest are counted
THROTTLE = timedelta(hours=1)
_ID_CHUNK = 5000  # ids per IN (...): SQLite and PostgreSQL limit bound parameters
THROTTLED_KINDS = ("receipt", "rejection")
_THROTTLE_STATUSES = ("pending", "sending", "sent")

# Reasons name addresses, files and units; the digest counts them by what went wrong.
_REASON_GROUPS = (
    ("超过系统接收上限", "邮件超过大小上限，未予读取"),
    ("不在单位名录中", "发件地址不在单位名录中"),
    ("签名校验失败", "表格签名校验失败（被改动或非本办下发）"),
    ("登记的邮箱", "发件地址不是报表所属单位的登记邮箱"),
    ("无法判断该邮件所报的事项", "无法判断所报事项和报告期"),
    ("未载入", "政策未载入"),
)


def reason_group(reason: str) -> str:
    """The kind of a quarantine reason, as the digest counts it."""
    for needle, label in _REASON_GROUPS:
        if needle in reason:
            return label
    # Another reason: its first clause, with the addresses in it made alike.
    first = re.split(r"[，。；：]", reason, maxsplit=1)[0]
    return re.sub(r"\S+@\S+", "某地址", first)[:60] or "其他原因"


# ---------------------------------------------------------------------------------------------
# The quarantine digest


def digest_context(
    settings: Settings, intake: PolicyIntake, items: list[t.InboundItem], now: datetime
) -> dict[str, Any]:
    """What the 【隔离】 digest says about ``items`` (in the order they were taken in)."""
    # Each mail once per kind of reason: a forged form from a stranger counts under both.
    groups = Counter(
        group
        for item in items
        for group in dict.fromkeys(reason_group(r) for r in (item.reasons or ["（未记原因）"]))
    )
    listed = [
        {
            "id": item.id,
            "channel": item.channel,
            "received_at": item.received_at.astimezone(SHANGHAI),
            "sender": item.sender,
            "subject": item.subject,
            "size": size_text(item.size),
            "reasons": item.reasons,
            "raw_path": str(settings.raw_dir / item.raw_path),
        }
        for item in items[:DIGEST_LISTED]
    ]
    return {
        "kind": "quarantine",
        "office": office_context(intake.policy),
        "as_of": now.astimezone(SHANGHAI),
        "digest": {
            "policy": intake.policy.code,
            "total": len(items),
            "senders": len({item.sender for item in items}),
            "groups": [{"label": label, "count": n} for label, n in groups.most_common()],
            "overlap": sum(groups.values()) > len(items),
            "items": listed,
            "more": len(items) - len(listed),
            "first_at": min(item.received_at for item in items).astimezone(SHANGHAI),
            "last_at": max(item.received_at for item in items).astimezone(SHANGHAI),
            "raw_dir": str(settings.raw_dir),
        },
    }


def queue_quarantine_digest(
    session: Session, settings: Settings, env: Environment, intake: PolicyIntake, now: datetime
) -> NewNotification | None:
    """The digest of every quarantined item of the policy no digest has included yet, with the
    items marked as included (in the caller's transaction); None when there are none."""
    items = list(
        session.exec(
            select(t.InboundItem)
            .where(
                t.InboundItem.policy_code == intake.policy.code,
                col(t.InboundItem.status) == "quarantined",
                col(t.InboundItem.digest_key) == "",
            )
            .order_by(col(t.InboundItem.id))
        ).all()
    )
    if not items:
        return None
    ids = [item.id or 0 for item in items]
    ids_digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:24]
    key = f"{intake.policy.code}/intake/quarantine/{ids[0]}-{ids[-1]}/{ids_digest}"
    marked = 0
    for start in range(0, len(ids), _ID_CHUNK):
        result = session.execute(
            update(t.InboundItem)
            .where(
                col(t.InboundItem.id).in_(ids[start : start + _ID_CHUNK]),
                col(t.InboundItem.digest_key) == "",
            )
            .values(digest_key=key)
            .execution_options(synchronize_session=False)
        )
        marked += int(result.rowcount or 0)  # type: ignore[attr-defined]
    if marked != len(ids):
        # A concurrent run took some of them into its own digest: leave them all to it.
        session.rollback()
        return None
    mail = render_notice(env, digest_context(settings, intake, items, now))
    return NewNotification(
        idempotency_key=key,
        kind="quarantine",
        policy_id=intake.policy.id,
        cycle_id=None,
        unit_id=None,
        to=[intake.policy.task_force_spec.office.mailbox],
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
    )


# ---------------------------------------------------------------------------------------------
# Telling the sender of an oversized message


def oversize_notice(
    env: Environment,
    intake: PolicyIntake,
    item: t.InboundItem,
    unit_code: str,
    *,
    limit: int,
    now: datetime,
) -> NewNotification:
    """The unit is told its message was too large to read: once per unit per month."""
    unit = intake.units[unit_code]
    received = item.received_at.astimezone(SHANGHAI)
    context = {
        "kind": "oversize",
        "unit": {"name": unit.name, "code": unit.code},
        "office": office_context(intake.policy),
        "as_of": now.astimezone(SHANGHAI),
        "item": {
            "received_at": received,
            "sender": item.sender,
            "subject": item.subject,
            "size": size_text(item.size),
        },
        "limit": size_text(limit),
    }
    mail = render_notice(env, context)
    return NewNotification(
        idempotency_key=f"{intake.policy.code}/intake/oversize/{unit.code}/{received:%Y-%m}",
        kind="oversize",
        policy_id=intake.policy.id,
        cycle_id=None,
        unit_id=unit.id,
        to=list(unit.mailboxes),
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
    )


# ---------------------------------------------------------------------------------------------
# At most one receipt (and one rejection) per unit per cycle per hour


class ThrottleBook:
    """The first receipt and rejection queued within the hour per (kind, unit, cycle), kept up
    to date by reading only the outbox rows added since it last looked.

    One query per notice scanned the whole outbox (no index on unit and cycle): at a deadline's
    thousands of replies that grew with every receipt. The book reads the rows once, then only
    those with a higher id. Rows it has seen are not read again: a receipt that a delivery marks
    failed during the same intake run still holds back the next one within the hour.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.first: dict[tuple[str, int, int | None], tuple[int, datetime]] = {}
        self.last_id: int | None = None

    def refresh(self, session: Session) -> None:
        """Take in the outbox rows added since the last look."""
        query = sa_select(  # sqlmodel's select types at most four columns
            col(t.Notification.id),
            col(t.Notification.kind),
            col(t.Notification.unit_id),
            col(t.Notification.cycle_id),
            col(t.Notification.status),
            col(t.Notification.created_at),
        )
        if self.last_id is None:  # the first look: only what can throttle
            query = query.where(
                col(t.Notification.kind).in_(THROTTLED_KINDS),
                col(t.Notification.status).in_(_THROTTLE_STATUSES),
                col(t.Notification.created_at) > self.now - THROTTLE,
            )
            top = session.exec(select(func.max(t.Notification.id))).one()
            self.last_id = top or 0
        else:
            query = query.where(col(t.Notification.id) > self.last_id)
        for row_id, kind, unit_id, cycle_id, status, created_at in session.execute(
            query.order_by(col(t.Notification.id))
        ).all():
            assert row_id is not None
            self.last_id = max(self.last_id, row_id)
            if (
                kind in THROTTLED_KINDS
                and unit_id is not None
                and status in _THROTTLE_STATUSES
                and created_at > self.now - THROTTLE
            ):
                self.first.setdefault((kind, unit_id, cycle_id), (row_id, created_at))

    def earlier(self, notice: NewNotification) -> tuple[int, datetime] | None:
        assert notice.unit_id is not None
        return self.first.get((notice.kind, notice.unit_id, notice.cycle_id))


def throttle(
    session: Session,
    notices: list[NewNotification],
    *,
    now: datetime,
    book: ThrottleBook | None = None,
) -> list[NewNotification]:
    """The notices with every receipt or rejection that would follow one of the same kind, unit
    and cycle queued within the hour turned into a ``cancelled`` record with the reason.

    ``book``: the run's view of the outbox (``ThrottleBook``, same ``now``), instead of a query
    per notice."""
    out: list[NewNotification] = []
    if book is not None and any(n.kind in THROTTLED_KINDS for n in notices):
        book.refresh(session)
    for notice in notices:
        if notice.kind not in THROTTLED_KINDS or notice.unit_id is None:
            out.append(notice)
            continue
        earlier = (
            book.earlier(notice)
            if book is not None
            else session.exec(
                select(t.Notification.id, t.Notification.created_at)
                .where(
                    t.Notification.kind == notice.kind,
                    t.Notification.unit_id == notice.unit_id,
                    t.Notification.cycle_id == notice.cycle_id,
                    col(t.Notification.status).in_(_THROTTLE_STATUSES),
                    col(t.Notification.created_at) > now - THROTTLE,
                )
                .order_by(col(t.Notification.id))
                .limit(1)
            ).first()
        )
        if earlier is None:
            out.append(notice)
            continue
        label = KIND_LABELS[notice.kind]
        note = (
            f"一小时内已向该单位发出同一报告期的{label}（发件箱编号 {earlier[0]}，"
            f"{earlier[1].astimezone(SHANGHAI):%Y-%m-%d %H:%M}），本封未发送，仅作记录；"
            "确需发送的，可运行 taskforce outbox retry 编号"
        )
        out.append(replace(notice, status="cancelled", note=note))
    return out
