"""Outbox rows to the mails of one batch: what cannot be built is held or failed, not sent.

A row queued with its message stored (``OutboxMessage``, serialised by ``enqueue``) goes
as those bytes with today's From, Reply-To and Message-ID (``wire_bytes``), as long as its
attachment files are as they were read then (size and mtime); otherwise, and for rows queued
before messages were stored, the message is built from the row here, as it always was. A
"missing attachment" is therefore a file missing when the mail is sent: a file gone or rewritten
since queueing makes the row be built again, and held as below if the file is gone.

``deliver_outbox`` calls ``build_batch`` on the rows it claimed and sends ``mails``; ``held``
are the outcomes of the rows not built, to record like any other outcome:

- every row ``pending`` with ``stop="sender"`` when the sender setting is empty or invalid (an
  empty sender used to fail every mail of the day for good, and nothing was resent once fixed);
- a row whose attachment file is missing or unreadable ``pending`` with ``stop="attachment"``:
  restoring the file (or rebuilding it) sends the mail, the recipient is not at fault, and the
  other mails of the batch go;
- a row that fails to build for any other reason ``failed``: a bug, which the office sees in
  the day's 【投递失败】 digest instead of retrying it for ever.

Outcomes with a local stop (``DeliveryOutcome.local``) are not attempts of the mail: they must
not count towards ``smtp.give_up_attempts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config.errors import DeliveryError
from models.outbox import ClaimedRow
from tasks.mail.notices import build_email, file_stamps, wire_bytes
from tasks.mail.smtp import DeliveryOutcome, OutgoingMail, sender_problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltBatch:
    """The mails to send, and the outcomes of the rows that are not sent this time."""

    mails: list[OutgoingMail]
    held: list[DeliveryOutcome]


def build_batch(
    rows: Sequence[ClaimedRow],
    *,
    sender: str,
    reply_to: str,
    bodies: Callable[[Sequence[ClaimedRow]], Sequence[ClaimedRow]] | None = None,
) -> BuiltBatch:
    """Build each row's message; hold or fail, with the reason, the rows that cannot be built.

    ``bodies``: gives claimed rows their bodies (read by the claim only for rows without a
    stored message), for those whose stored message cannot serve after all."""
    if problem := sender_problem(sender):
        logger.error(
            "发件地址设置（TASKFORCE_SMTP_SENDER）%s：%d 封邮件仍待发送", problem, len(rows)
        )
        error = f"not sent: smtp.sender {sender!r}: {problem}"
        held = [
            DeliveryOutcome(r.idempotency_key, "pending", 0, error=error, stop="sender")
            for r in rows
        ]
        return BuiltBatch([], held)
    mails: list[OutgoingMail] = []
    unbuilt: list[DeliveryOutcome] = []
    to_build: list[ClaimedRow] = []
    for row in rows:
        key = row.idempotency_key
        recipients = tuple(row.to + row.cc)
        if (data := _stored(row, sender=sender, reply_to=reply_to)) is not None:
            mails.append(OutgoingMail(key=key, message=data, recipients=recipients))
        else:
            to_build.append(row)
    unread = [r for r in to_build if r.body_text is None]
    if unread and bodies is not None:
        read = {r.id: r for r in bodies(unread)}
        to_build = [read.get(r.id, r) for r in to_build]
    for row in to_build:
        key = row.idempotency_key
        recipients = tuple(row.to + row.cc)
        try:
            message = build_email(row, sender=sender, reply_to=reply_to)
        except DeliveryError as exc:  # an attachment file missing or unreadable (names the path)
            logger.error("%s：附件有误，暂不发送：%s", key, exc)
            unbuilt.append(DeliveryOutcome(key, "pending", 0, error=str(exc), stop="attachment"))
            continue
        except Exception as exc:
            logger.exception("%s：邮件无法生成", key)
            error = f"邮件无法生成：{type(exc).__name__}: {exc}"
            unbuilt.append(DeliveryOutcome(key, "failed", 0, error=error))
            continue
        mails.append(OutgoingMail(key=key, message=message, recipients=recipients))
    return BuiltBatch(mails, unbuilt)


def _stored(row: ClaimedRow, *, sender: str, reply_to: str) -> bytes | None:
    """The bytes serialised when the row was queued, with today's sender; None when there are
    none (queued before, or an attachment was missing then) or an attachment file has changed
    since (rebuilt from the row, so that a rebuilt form goes and a deleted one holds the mail).
    The claim reads it with the row (``OutboxMessage``)."""
    if row.mime is None:
        return None
    if row.attachments and file_stamps(row.attachments) != row.mime_sources:
        return None
    try:
        return wire_bytes(row.mime, key=row.idempotency_key, sender=sender, reply_to=reply_to)
    except ValueError:  # not the layout prebuild writes: build it from the row instead
        logger.warning("%s：预先生成的邮件无法使用，按记录重新生成", row.idempotency_key)
        return None
