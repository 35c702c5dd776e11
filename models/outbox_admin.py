"""The office's hand on the outbox (``taskforce outbox``): list a policy's rows, put failed or
withdrawn ones back in the queue, withdraw one that must not go.

Re-queueing sets a row back to ``pending`` and clears its claim. It keeps ``attempts``: that
column counts every SMTP attempt the row ever had, so the list stays truthful, and the delivery's
give-up rules (``smtp.give_up_attempts``, ``smtp.give_up_hours``) keep seeing the whole history. A
re-queued row is therefore tried by the next delivery and, if that fails too, failed again with
the new reply: the office re-queues once it has fixed the cause (a full mailbox, a wrong
address), not to start another day of retries. ``server_reply`` keeps the server's last answer;
``last_error`` gets who re-queued it and when, in front of what it said before.

Withdrawing sets ``cancelled``, which no delivery claims (they take ``pending`` rows only), and
keeps the reason, who and when in ``last_error``. A withdrawn row can be re-queued by its id.

Rows being sent or already sent are refused for both. Every id is checked before any row
changes (all or nothing), and each update is conditional on the status just read: a delivery
that claims one of the rows in between wins, and the command changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlmodel import Session, col

from config.errors import NotFoundError, TaskforceError
from models import tables as t
from models.outbox import id_chunks
from models.tables import Notification
from tasks.calendar import SHANGHAI

RETRY_FROM = ("failed", "cancelled")  # pending rows are left as they are
CANCEL_FROM = ("pending", "failed")  # cancelled rows are left as they are
_NOTE_LIMIT = 2000  # last_error keeps the notes of repeated actions, not without end


class OutboxRefusal(TaskforceError):
    """The office asked to re-queue or withdraw a mail that is being sent or was sent."""


@dataclass(frozen=True)
class OutboxRecord:
    """A row of the outbox with its unit and cycle ("" for a mail to no unit or no cycle); the
    row's bodies are not loaded."""

    row: Notification
    unit_code: str
    unit: str
    obligation: str
    obligation_name: str
    period: str
    period_label: str


@dataclass(frozen=True)
class StatusChange:
    """What an action did to one row: ``after == before`` when it left the row as it was."""

    id: int
    before: str
    after: str


def outbox_records(
    session: Session,
    *,
    policy_id: int,
    statuses: Collection[str] = (),
    period: str | None = None,
) -> list[OutboxRecord]:
    """The policy's rows, oldest first; only those in ``statuses`` (all when empty) and, with
    ``period``, only those of a cycle of that period (rows without a cycle never match)."""
    stmt = (
        select(
            Notification,
            col(t.Unit.code),
            col(t.Unit.name),
            col(t.Obligation.code),
            col(t.Obligation.name),
            col(t.Cycle.period),
            col(t.Cycle.period_label),
        )
        .outerjoin(t.Unit, col(t.Unit.id) == col(Notification.unit_id))
        .outerjoin(t.Cycle, col(t.Cycle.id) == col(Notification.cycle_id))
        .outerjoin(t.Obligation, col(t.Obligation.id) == col(t.Cycle.obligation_id))
        .where(col(Notification.policy_id) == policy_id)
        .order_by(col(Notification.id))
        # the bodies (a notice is ~15 kB of text and HTML) are rows of their own, not listed
    )
    if statuses:
        stmt = stmt.where(col(Notification.status).in_(list(statuses)))
    if period is not None:
        stmt = stmt.where(col(t.Cycle.period) == period)
    return [
        OutboxRecord(row, *(value or "" for value in joined))
        for row, *joined in session.execute(stmt).all()
    ]


def requeue(
    session: Session, *, policy: t.Policy, ids: Sequence[int] | None, by: str, now: datetime
) -> list[StatusChange]:
    """Put the rows named (``None``: every failed row of the policy) back to ``pending``."""
    if ids is None:
        rows = list(
            session.scalars(
                select(Notification)
                .where(col(Notification.policy_id) == policy.id)
                .where(col(Notification.status) == "failed")
                .order_by(col(Notification.id))
                .with_for_update()
            )
        )
    else:
        rows = _policy_rows(session, policy, ids)
    _refuse_in_flight(rows, "重新排队", now)
    note = f"已重新排队（{by}，{_local(now)}）"
    return _set_status(session, rows, RETRY_FROM, "pending", note, now)


def cancel(
    session: Session, *, policy: t.Policy, ids: Sequence[int], reason: str, by: str, now: datetime
) -> list[StatusChange]:
    """Withdraw the rows named: ``cancelled``, never claimed, the reason kept."""
    if not reason.strip():
        raise OutboxRefusal("撤回邮件须用 --reason 说明原因")
    rows = _policy_rows(session, policy, ids)
    _refuse_in_flight(rows, "撤回", now)
    note = f"已撤回：{reason.strip()}（{by}，{_local(now)}）"
    return _set_status(session, rows, CANCEL_FROM, "cancelled", note, now)


def _policy_rows(session: Session, policy: t.Policy, ids: Iterable[int]) -> list[Notification]:
    """The rows named, locked until the transaction ends; unknown ids or another policy's are a
    user error naming them."""
    wanted = sorted(set(ids))
    rows = [
        row
        for chunk in id_chunks(wanted)
        for row in session.scalars(
            select(Notification).where(col(Notification.id).in_(chunk)).with_for_update()
        )
    ]
    found = {row.id for row in rows}
    unknown = [str(i) for i in wanted if i not in found]
    if unknown:
        raise NotFoundError(f"发件箱中没有编号为 {'、'.join(unknown)} 的邮件")
    foreign: dict[int | None, list[str]] = {}
    for row in rows:
        if row.policy_id != policy.id:
            foreign.setdefault(row.policy_id, []).append(str(row.id))
    if foreign:
        codes = {
            p.id: p.code
            for p in session.scalars(select(t.Policy).where(col(t.Policy.id).in_(list(foreign))))
        }
        owners = "；".join(
            f"编号 {'、'.join(ids)} 的邮件属于政策 {codes.get(owner, '（无）')}"
            for owner, ids in foreign.items()
        )
        raise NotFoundError(f"{owners}，不属于 {policy.code}；未作任何改动")
    return sorted(rows, key=lambda row: row.id or 0)


def _refuse_in_flight(rows: Sequence[Notification], action: str, now: datetime) -> None:
    """One line naming every row that is being sent or was sent."""
    problems = []
    for row in rows:
        if row.status == "sent":
            sent = f"（{_local(row.sent_at)}）" if row.sent_at else ""
            problems.append(f"编号 {row.id} 的邮件已发送{sent}")
        elif row.status == "sending":
            holder = row.claim_holder or row.claimed_by or "发送程序"
            until = ""
            if row.lease_until is not None:
                expired = "，已过期，下次发送时放回待发送" if row.lease_until < now else ""
                until = f"，占用至 {_local(row.lease_until)}{expired}"
            problems.append(f"编号 {row.id} 的邮件正在发送（{holder}{until}）")
    if problems:
        raise OutboxRefusal("；".join(problems) + f"，不能{action}；未作任何改动")


def _set_status(
    session: Session,
    rows: Sequence[Notification],
    from_statuses: Sequence[str],
    to: str,
    note: str,
    now: datetime,
) -> list[StatusChange]:
    """Move the rows in ``from_statuses`` to ``to`` with the note, their claim cleared; fails
    (and the caller's transaction rolls back) if a delivery claimed one meanwhile."""
    moving = [row for row in rows if row.status in from_statuses]
    changes = [
        StatusChange(row.id or 0, row.status, to if row.status in from_statuses else row.status)
        for row in rows
    ]
    if moving:
        table = Notification.__table__  # type: ignore[attr-defined]
        session.execute(
            update(table)
            # OR of equalities: an IN list expands per statement, which executemany refuses
            .where(
                table.c.id == bindparam("row_id"),
                or_(*(table.c.status == s for s in from_statuses)),
            )
            .values(
                status=to,
                claimed_by="",
                claim_holder="",
                lease_until=None,
                last_error=bindparam("note"),
                updated_at=now,
            ),
            [{"row_id": row.id, "note": _with_previous(note, row.last_error)} for row in moving],
        )
        moved = [
            row_id
            for chunk in id_chunks([row.id or 0 for row in moving])
            for row_id in session.scalars(
                select(col(Notification.id))
                .where(col(Notification.id).in_(chunk))
                .where(col(Notification.status) == to)
            )
        ]
        if len(moved) != len(moving):
            missed = sorted({row.id or 0 for row in moving} - set(moved))
            raise OutboxRefusal(
                f"编号为 {'、'.join(map(str, missed))} 的邮件刚被发送程序取走，未作任何改动；"
                "请稍后用 taskforce outbox 查看"
            )
    return changes


def _with_previous(note: str, previous: str) -> str:
    text = f"{note}；此前：{previous}" if previous else note
    return text if len(text) <= _NOTE_LIMIT else text[: _NOTE_LIMIT - 1] + "…"


def _local(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""
