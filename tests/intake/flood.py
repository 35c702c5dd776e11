"""A flood of mail through the real mail catcher, and what the system sends back (issue 17 §5).

Used by ``tests/intake/test_attack_flood.py`` and the bench ``tests/bench/test_bench_flood.py``:
``stranger`` mails from unknown addresses and ``spoofed`` replies "from" 县人社局 (In-Reply-To its
real notice) go over one SMTP connection into the catcher, which files them into the office's
Maildir; intake runs once; the outbox is delivered to the same catcher, where the mails the
system sent are counted.
"""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from tasks.intake.steps import take_in
from tasks.mail.outbox import deliver_outbox
from tasks.mail.sources import MaildirSource
from tasks.reminders.steps import prepare_reminders
from tests.helpers import load_seeds
from tests.intake_helpers import at, caught, office_catcher, office_mailbox, reply

POLICY = "lingchuan-2023"
RSJ = "rsj@lingchuan.example.org"  # 县人社局


def stranger_mail(n: int, office: str) -> EmailMessage:
    return reply(None, sender=f"user{n}@spam{n % 17}.invalid", office=office,
                 subject=f"合作洽谈 {n}", body="您好，附件是我们的产品介绍。")  # fmt: skip


async def send_all(settings: Settings, messages: list[EmailMessage]) -> None:
    """Over one SMTP connection, as a spammer's bulk sender would."""
    async with aiosmtplib.SMTP(hostname=settings.smtp.host, port=settings.smtp.port) as smtp:
        for message in messages:
            await smtp.send_message(message)


async def flood(settings: Settings, strangers: int, spoofed: int) -> dict[str, float]:
    """Notices out, then the flood in, intake once, the outbox delivered: what was sent."""
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with office_catcher(settings) as (catcher, settings):
        prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
        await deliver_outbox(settings, POLICY, run_id="notices", now=datetime.now(UTC))
        notice = caught(catcher.directory, RSJ)[-1]  # what the forger answers, In-Reply-To
        mails = [stranger_mail(n, office) for n in range(strangers)]
        mails += [reply(notice, sender=RSJ, office=office, body=f"本月工作已完成（{n}）。")
                  for n in range(spoofed)]  # fmt: skip
        clock = time.perf_counter()
        await send_all(settings, mails)
        sent_in = time.perf_counter() - clock
        # What the system sends from here on (the flood itself was caught too).
        before = {path.name for path in catcher.directory.glob("*.eml")}
        source = MaildirSource(settings.maildir_root / office)
        clock = time.perf_counter()
        summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 3), 10))
        intake_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        await deliver_outbox(settings, POLICY, run_id="intake", now=datetime.now(UTC))
        delivery_seconds = time.perf_counter() - clock
        sent = [path for path in catcher.directory.glob("*.eml") if path.name not in before]
    subjects = [line for path in sent for line in subject_of(path)]
    with session_scope(settings) as session:
        recorded = session.exec(
            select(t.Notification).where(col(t.Notification.status) == "cancelled")
        ).all()
    return {
        "quarantined": summary.count("quarantined"),
        "replies": sum(summary.count(s) for s in ("unverified", "unstructured", "accepted")),
        "sent": len(sent),
        "quarantine_mails": sum(s.startswith("【隔离】") for s in subjects),
        "receipt_mails": sum(s.startswith("【回执】") for s in subjects),
        "receipts_recorded": sum(1 for n in recorded if n.kind == "receipt"),
        "send_seconds": round(sent_in, 1),
        "intake_seconds": round(intake_seconds, 1),
        "delivery_seconds": round(delivery_seconds, 1),
    }


def subject_of(path: Path) -> list[str]:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return [str(message["Subject"])] if message["Subject"] else []
