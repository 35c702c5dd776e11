"""Sending the outbox: claim a policy's pending rows, send them over SMTP, record outcomes.

Every flow that queues mail (reminders, intake receipts, escalation, the bulletin) sends it
through ``deliver_outbox``; rows are claimed per delivery, outcomes written while the batch is
sent, and a mail that cannot be built fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError
from sqlmodel import select

from config.errors import DeliveryError
from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.outbox import (
    Outcome,
    claim_pending,
    record_outcomes,
    refresh_claims,
    release_stale_claims,
)

if TYPE_CHECKING:
    from tasks.mail.smtp import DeliveryOutcome

# Mail (email.mime, aiosmtplib) is imported where a mail is sent: most days nothing is due, and
# `taskforce remind` should not pay for those imports to find that out.

logger = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=15)
# While a batch is sent, outcomes are written every FLUSH_EVERY seconds or FLUSH_SIZE outcomes,
# and the run's remaining claims are refreshed every HEARTBEAT_EVERY, well inside STALE_CLAIM
# (refreshing ~10,000 claimed rows at every flush cost ~15 % of the sending rate).
FLUSH_EVERY = 0.25
FLUSH_SIZE = 200
HEARTBEAT_EVERY = timedelta(minutes=1)


@dataclass
class DeliverySummary:
    outcomes: list[DeliveryOutcome]
    subjects: dict[str, str]
    recipients: dict[str, str]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def partly_refused(self) -> int:
        """Sent mails that some of their recipients refused (counted as sent too)."""
        return sum(1 for o in self.outcomes if o.status == "sent" and o.refused)


def refusal_note(refused: dict[str, str]) -> str:
    """The office's line for recipients the server refused while accepting the mail."""
    if not refused:
        return ""
    return "部分收件人被拒收：" + "；".join(f"{a}（{reply}）" for a, reply in refused.items())


class _Recorder:
    """Writes a batch's outcomes while it is being sent, and keeps this run's claims fresh.

    Outcomes go to the database in small transactions, every ``FLUSH_EVERY`` seconds or every
    ``FLUSH_SIZE`` outcomes, so a process that dies mid-batch leaves at most the last fraction
    of a second of sent mails unrecorded (to be sent again once their claims are released).
    A timed flush also refreshes ``updated_at`` of the rows this run still holds once
    ``HEARTBEAT_EVERY`` has passed on the run's clock since the claim or the last refresh: a
    batch longer than ``STALE_CLAIM`` does not see them released under it by another run.
    """

    def __init__(
        self,
        settings: Settings,
        claimed: dict[str, tuple[int, int]],
        *,
        run_id: str,
        claimed_at: datetime,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.claimed = claimed  # key -> (row id, attempts before this run)
        self.run_id = run_id
        self.clock = clock
        self.beaten_at = claimed_at  # the claims' updated_at as this run last wrote it
        self.buffer: list[DeliveryOutcome] = []
        self.recorded: set[str] = set()

    def add(self, outcome: DeliveryOutcome) -> None:
        self.buffer.append(outcome)
        if len(self.buffer) >= FLUSH_SIZE:
            self.flush_or_wait(heartbeat=False)

    def flush(self, *, heartbeat: bool) -> None:
        """Record the buffered outcomes (and refresh this run's claims, when due) at once."""
        now = self.clock()
        beat = heartbeat and now - self.beaten_at >= HEARTBEAT_EVERY
        outcomes, self.buffer = self.buffer, []
        if not outcomes and not beat:
            return
        try:
            with session_scope(self.settings) as session:
                record_outcomes(session, [self._row(o) for o in outcomes], now=now)
                if beat:
                    refresh_claims(session, run_id=self.run_id, now=now)
        except BaseException:
            self.buffer[:0] = outcomes  # not written: the next flush tries them again
            raise
        self.recorded.update(o.key for o in outcomes)
        if beat:
            self.beaten_at = now

    def flush_or_wait(self, *, heartbeat: bool) -> None:
        """A flush during the batch: a busy database is tried again at the next one."""
        try:
            self.flush(heartbeat=heartbeat)
        except OperationalError as exc:
            logger.warning(
                "recording %d outcome(s) failed, again in %.2f s: %s",
                len(self.buffer),
                FLUSH_EVERY,
                exc,
            )

    async def run(self) -> None:
        """Flush on a timer until cancelled."""
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            self.flush_or_wait(heartbeat=True)

    def finish(self, outcomes: list[DeliveryOutcome]) -> None:
        """Record every outcome of the batch not recorded yet; a failure here raises."""
        self.buffer = [o for o in outcomes if o.key not in self.recorded]
        self.flush(heartbeat=False)

    def _row(self, outcome: DeliveryOutcome) -> Outcome:
        row_id, previous = self.claimed[outcome.key]
        return Outcome(
            row_id=row_id,
            previous_attempts=previous,
            status=outcome.status,
            attempts=outcome.attempts,
            reply=outcome.reply,
            # A partial refusal leaves the row sent; the refused addresses go where errors go.
            error=outcome.error or refusal_note(outcome.refused),
        )


def _elapsed_clock(start: datetime) -> Callable[[], datetime]:
    """``start`` moved on by the time elapsed since: the caller's timeline, the real pace."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


async def deliver_outbox(
    settings: Settings,
    policy_code: str,
    *,
    run_id: str,
    now: datetime,
    clock: Callable[[], datetime] | None = None,
) -> DeliverySummary:
    """Send every pending outbox row of a policy once; record each outcome as it is settled.

    ``now`` stamps the release of stale claims and the claim; ``clock`` (by default ``now``
    plus the time elapsed since) stamps outcomes and heartbeats while the batch is sent.
    """
    clock = clock or _elapsed_clock(now)
    with session_scope(settings) as session:
        policy = session.exec(select(t.Policy).where(t.Policy.code == policy_code)).one()
        policy_id = policy.id
        assert policy_id is not None
        office_mailbox = policy.task_force_spec.office.mailbox
        release_stale_claims(session, now=now, stale_after=STALE_CLAIM)
        session.commit()
        rows = claim_pending(session, policy_id=policy_id, run_id=run_id, now=now)
        if not rows:  # the usual day: nothing queued, nothing to import or send
            return DeliverySummary([], {}, {})
        from tasks.mail.notices import build_email
        from tasks.mail.smtp import DeliveryOutcome, OutgoingMail, send_batch

        mails: list[OutgoingMail] = []
        unbuilt: list[DeliveryOutcome] = []
        for row in rows:
            try:
                message = build_email(row, sender=settings.smtp.sender, reply_to=office_mailbox)
            except DeliveryError as exc:  # a missing attachment: this mail, not the batch
                logger.error("%s: cannot be built: %s", row.idempotency_key, exc)
                unbuilt.append(DeliveryOutcome(row.idempotency_key, "failed", 0, error=str(exc)))
                continue
            except Exception as exc:
                logger.exception("%s: cannot be built", row.idempotency_key)
                error = f"邮件无法生成：{type(exc).__name__}: {exc}"
                unbuilt.append(DeliveryOutcome(row.idempotency_key, "failed", 0, error=error))
                continue
            mails.append(
                OutgoingMail(
                    key=row.idempotency_key, message=message, recipients=tuple(row.to + row.cc)
                )
            )
        claimed = {row.idempotency_key: (row.id or 0, row.attempts) for row in rows}
        subjects = {row.idempotency_key: row.subject for row in rows}
        to = {row.idempotency_key: ", ".join(row.to) for row in rows}
    recorder = _Recorder(settings, claimed, run_id=run_id, claimed_at=now, clock=clock)
    if unbuilt:
        recorder.buffer.extend(unbuilt)
        recorder.flush(heartbeat=False)
    ticker = asyncio.create_task(recorder.run())
    try:
        sent = await send_batch(mails, settings.smtp, on_settled=recorder.add)
    except BaseException:  # cancelled (a timeout) or a bug: keep what was sent from going twice
        recorder.flush_or_wait(heartbeat=False)
        raise
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    position = {key: i for i, key in enumerate(claimed)}  # the rows' order, as before
    outcomes = sorted(unbuilt + sent, key=lambda o: position[o.key])
    recorder.finish(outcomes)
    for outcome in sent:
        if outcome.status != "sent":
            logger.warning("%s: %s %s", outcome.key, outcome.status, outcome.error)
        elif outcome.refused:
            logger.warning("%s: %s", outcome.key, refusal_note(outcome.refused))
    return DeliverySummary(outcomes, subjects, to)
