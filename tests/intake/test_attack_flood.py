"""Attack: a flood of mail must not make a flood of mail (issue 17 §5).

Real mail goes over SMTP into the mail catcher, which files it into the office's Maildir; intake
takes it in and the outbox delivers to the same catcher, where the mails sent are counted.
``TASKFORCE_FLOOD_STRANGERS`` and ``TASKFORCE_FLOOD_SPOOFED`` set the flood's size (the bench
``tests/bench/test_bench_flood.py`` runs 10,000 and 2,000).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from config.settings import IntakeSettings, Settings
from models import tables as t
from models.db import session_scope
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.intake.steps import replay, take_in
from tasks.mail.inbound import size_text
from tasks.mail.sources import FetchedMessage, MaildirSource
from tests.helpers import load_seeds, mail_body
from tests.imap_server import DovecotServer
from tests.intake.flood import flood, stranger_mail
from tests.intake.memory_probe import write_message
from tests.intake_helpers import at, office_mailbox, reply

POLICY = "lingchuan-2023"
RSJ = "rsj@lingchuan.example.org"  # 县人社局
STRANGERS = int(os.environ.get("TASKFORCE_FLOOD_STRANGERS", "300"))
SPOOFED = int(os.environ.get("TASKFORCE_FLOOD_SPOOFED", "100"))


async def test_attack_a_flood_makes_one_digest_and_one_receipt(settings: Settings) -> None:
    result = await flood(settings, STRANGERS, SPOOFED)
    print(f"\nflood of {STRANGERS} strangers and {SPOOFED} spoofed replies: {result}")
    assert result["quarantined"] == STRANGERS
    assert result["quarantine_mails"] == 1
    assert result["receipt_mails"] <= 1
    # Every further receipt is recorded in the outbox (cancelled, with why), none is lost.
    assert result["receipt_mails"] + result["receipts_recorded"] == result["replies"]
    assert result["sent"] == result["quarantine_mails"] + result["receipt_mails"]


def _file(maildir: Path, content: bytes, sender: str, when: datetime) -> None:
    deliver_to_maildir(maildir, content, sender, "office", received_at=when)


def test_a_receipt_an_hour_later_goes_out_again(db_settings: Settings, tmp_path: Path) -> None:
    """Within the hour a further receipt is recorded, not sent; after it, one goes again."""
    settings = db_settings
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    maildir = tmp_path / "maildir"
    source = MaildirSource(maildir)
    start = at(date(2023, 2, 27), 10)
    statuses = []
    for minutes in (0, 30, 59, 61, 70):
        when = start + timedelta(minutes=minutes)
        body = f"县人社局2月份工作已完成（{minutes}）。"
        _file(maildir, reply(None, sender=RSJ, office=office, body=body).as_bytes(), RSJ, when)
        take_in(settings, POLICY, source, now=when)
        with session_scope(settings) as session:
            last = session.exec(
                select(t.Notification).order_by(col(t.Notification.id).desc())
            ).first()
        assert last is not None and last.kind == "receipt"
        statuses.append((minutes, last.status, "一小时内已向该单位发出" in last.last_error))
    assert statuses == [
        (0, "pending", False), (30, "cancelled", True), (59, "cancelled", True),
        (61, "pending", False), (70, "cancelled", True),
    ]  # fmt: skip


def test_items_a_crashed_run_left_go_into_the_next_digest(
    db_settings: Settings, tmp_path: Path
) -> None:
    settings = db_settings
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    maildir = tmp_path / "maildir"
    when = at(date(2023, 3, 1), 9)
    for n in range(3):
        _file(maildir, stranger_mail(n, office).as_bytes(), f"user{n}@x.invalid", when)

    class Crashing(MaildirSource):
        """Dies after handing out two messages, as a run killed mid-way would."""

        def fetch_new(self, limit: int | None = None, *, max_bytes: int | None = None):  # type: ignore[no-untyped-def]
            for number, message in enumerate(super().fetch_new(limit, max_bytes=max_bytes)):
                if number == 2:
                    raise OSError("killed")
                yield message

    with contextlib.suppress(OSError):
        take_in(settings, POLICY, Crashing(maildir), now=when)
    _file(maildir, stranger_mail(9, office).as_bytes(), "user9@x.invalid", when)
    take_in(settings, POLICY, MaildirSource(maildir), now=when + timedelta(minutes=10))
    with session_scope(settings) as session:
        digests = session.exec(
            select(t.Notification).where(t.Notification.kind == "quarantine")
        ).all()
        items = session.exec(select(t.InboundItem).order_by(col(t.InboundItem.id))).all()
    [digest] = digests  # the crashed run queued none; the next one tells all four
    text = mail_body(settings, digest).text
    assert "系统于2023年3月1日（星期三）9:00收到的4封邮件（来自4个发件地址）" in text
    assert digest.subject == "【隔离】4封邮件已隔离待核实：user0@spam0.invalid等"
    assert {item.digest_key for item in items} == {digest.idempotency_key}
    for n in (0, 1, 2, 9):
        assert f"user{n}@spam{n % 17}.invalid" in text


def test_a_digest_is_queued_once_for_the_same_items(db_settings: Settings, tmp_path: Path) -> None:
    """Run twice (a retried task): the items are marked, the second run has nothing to tell."""
    settings = db_settings
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    maildir = tmp_path / "maildir"
    when = at(date(2023, 3, 1), 9)
    _file(maildir, stranger_mail(1, office).as_bytes(), "user1@x.invalid", when)
    take_in(settings, POLICY, MaildirSource(maildir), now=when)
    take_in(settings, POLICY, MaildirSource(maildir), now=when)
    with session_scope(settings) as session:
        kinds = session.exec(select(t.Notification.kind)).all()
    assert kinds == ["quarantine"]


def test_attack_oversized_mail_tells_a_unit_once_and_a_stranger_never(
    db_settings: Settings, tmp_path: Path
) -> None:
    settings = db_settings
    settings = settings.model_copy(update={"intake": IntakeSettings(max_message_bytes=10_000)})
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    maildir = tmp_path / "maildir"
    march = at(date(2023, 3, 1), 9)
    for name, sender, when in [
        ("a", RSJ, march), ("b", RSJ, march + timedelta(days=3)),  # the same month: told once
        ("c", "user1@spam.invalid", march),  # a stranger: never written to (no backscatter)
        ("d", RSJ, at(date(2023, 4, 3), 9)),  # the next month: told again
    ]:  # fmt: skip
        write_message(maildir, name, sender=sender, office=office, size=15_000, received_at=when)
    summary = take_in(settings, POLICY, MaildirSource(maildir), now=at(date(2023, 4, 3), 10))
    assert [line["outcome"] for line in summary.lines] == ["quarantined"] * 4
    with session_scope(settings) as session:
        told = session.exec(select(t.Notification).where(t.Notification.kind == "oversize")).all()
    assert [(n.to, n.subject) for n in told] == [
        ([RSJ], "【邮件过大】县人社局：2023年3月1日发来的邮件超过10.0 KB，未能接收"),
        ([RSJ], "【邮件过大】县人社局：2023年4月3日发来的邮件超过10.0 KB，未能接收"),
    ]


def test_attack_oversized_mail_over_imap_is_read_in_ranges(
    imap_mailbox: DovecotServer, settings: Settings
) -> None:
    """RFC822.SIZE first; the message copied range by range, byte for byte, into the raw store."""
    from tasks.mail import imap

    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    settings = settings.model_copy(
        update={
            "imap": imap_mailbox.imap_settings(),
            "intake": IntakeSettings(source="imap", max_message_bytes=1_000_000),
        }
    )
    spool = settings.var_dir / "spool"
    path = write_message(spool, "big", sender=RSJ, office=office, size=3_500_000,
                         received_at=at(date(2023, 3, 1), 9))  # fmt: skip
    content = path.read_bytes()
    answer = reply(None, sender=RSJ, office=office, body="本月工作已完成。")
    small = answer.as_bytes(policy=email.policy.SMTP)  # as the server keeps it: CRLF
    arrived = datetime(2023, 3, 1, 2, 0, tzinfo=UTC)
    imap_mailbox.append(content, arrived)
    imap_mailbox.append(small, arrived)
    chunk, imap.SPOOL_CHUNK = imap.SPOOL_CHUNK, 1_000_000  # four ranges, the last one short
    try:
        source = imap.ImapSource(settings.imap)
        try:
            fetched: list[FetchedMessage] = []
            for message in source.fetch_new(max_bytes=settings.intake.max_message_bytes):
                assert message.spool is None or message.spool.read_bytes() == content
                fetched.append(message)
            assert [(m.size, m.spool is not None) for m in fetched] == [
                (len(content), True),
                (len(small), False),
            ]
            assert fetched[0].content.endswith(b'boundary="b1"\r\n\r\n')  # its header block
        finally:
            source.close()
        assert not any(m.spool is not None and m.spool.exists() for m in fetched)
        source = imap.ImapSource(settings.imap)
        try:
            summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 1), 12))
        finally:
            source.close()
    finally:
        imap.SPOOL_CHUNK = chunk
    assert summary.lines[0]["outcome"] == "quarantined"
    with session_scope(settings) as session:
        item = session.exec(select(t.InboundItem).order_by(col(t.InboundItem.id))).first()
    assert item is not None and item.size == len(content)
    assert (settings.raw_dir / item.raw_path).read_bytes() == content
    assert item.received_at == arrived


def test_replay_of_an_oversized_item_reads_only_its_headers(
    settings: Settings, tmp_path: Path
) -> None:
    """A stored item over the limit stays unread when replayed (process_item measures first)."""
    settings = settings.model_copy(update={"intake": IntakeSettings(max_message_bytes=10_000)})
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    maildir = tmp_path / "maildir"
    size = write_message(maildir, "a", sender=RSJ, office=office, size=15_000,
                         received_at=at(date(2023, 3, 1), 9)).stat().st_size  # fmt: skip
    take_in(settings, POLICY, MaildirSource(maildir), now=at(date(2023, 3, 1), 10))
    with session_scope(settings) as session:
        item = session.exec(select(t.InboundItem)).one()
    summary = replay(settings, policy_code=POLICY, item_ids=[item.id or 0],
                     now=at(date(2023, 3, 1), 11))  # fmt: skip
    [line] = summary.lines
    assert line["outcome"] == "quarantined"
    assert line["errors"][0]["problem"] == (
        f"邮件大小 {size_text(size)}，超过系统接收上限（10.0 KB），未予读取"
    )
    assert (line["sender"], line["subject"]) == (RSJ, "月度进展情况报告")
