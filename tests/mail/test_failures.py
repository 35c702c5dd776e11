"""Failures the office can see: the closing mail line of a flow command, the line that says why
sending stopped, mails held for a missing attachment, and the daily 【投递失败】 digest.

Wording from tables of outcomes; the rest on a real SQLite file and a real aiosmtpd server that
refuses a unit's address, as a county mail server does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from sqlmodel import col, select

from config.settings import Settings, SmtpSettings
from flows.delivery import deliver_steps
from models import tables as t
from models.db import session_scope
from models.outbox import ClaimedRow, NewNotification, enqueue
from tasks.calendar import SHANGHAI
from tasks.mail.batch import build_batch
from tasks.mail.digest import queue_failure_digest
from tasks.mail.failures import mail_lines, outcome_line, reason, stop_line, unsent_lines
from tasks.mail.outbox import DeliverySummary, deliver_outbox
from tasks.mail.smtp import DeliveryOutcome
from tests.helpers import load_seeds, mail_body
from tests.smtp_server import SmtpServer

POLICY = "lingchuan-2023"
OFFICE = "taskforce-office@lingchuan.example.org"  # the seed's office mailbox
SMTP = SmtpSettings(host="127.0.0.1", port=2525, sender="zhuanban-office@example.org")


def summary(*outcomes: DeliveryOutcome) -> DeliverySummary:
    return DeliverySummary(
        outcomes=list(outcomes),
        subjects={o.key: f"【提醒】{o.key}" for o in outcomes},
        recipients={o.key: f"{o.key}@lingchuan.example.org" for o in outcomes},
    )


def sent(key: str) -> DeliveryOutcome:
    return DeliveryOutcome(key, "sent", 1, reply="250 OK queued")


# --- wording --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        (sent("a"), ""),
        (
            DeliveryOutcome(
                "a",
                "failed",
                1,
                reply="<a@x.org> 550 5.1.1 unknown",
                error="SMTPRecipientsRefused: <a@x.org> 550 5.1.1 unknown",
            ),
            "收件人被拒收",
        ),
        (
            DeliveryOutcome(
                "a", "failed", 1, reply="554 5.7.1 spam", error="SMTPDataError: 554 5.7.1 spam"
            ),
            "被邮件服务器拒收",
        ),
        (DeliveryOutcome("a", "failed", 1, error="ValueError: address has spaces"), "收件地址无效"),
        (
            DeliveryOutcome(
                "a", "pending", 2, reply="451 4.3.0 later", error="SMTPDataError: 451 4.3.0 later"
            ),
            "邮件服务器暂时拒收",
        ),
        (
            DeliveryOutcome("a", "pending", 0, error="not sent: x", stop="sender"),
            "发件地址设置有误",
        ),
        (
            DeliveryOutcome("a", "pending", 1, reply="535 5.7.8 no", stop="auth"),
            "邮件服务器拒绝登录",
        ),
        (
            DeliveryOutcome("a", "pending", 0, error="附件文件不存在：/f.xlsx", stop="attachment"),
            "附件文件缺失",
        ),
        (
            DeliveryOutcome(
                "a", "pending", 3, error="SMTPConnectError: refused", stop="unreachable"
            ),
            "邮件服务器无法连接",
        ),
        # Given up (smtp.give_up_attempts / give_up_hours): that is why it ended.
        (
            DeliveryOutcome(
                "a",
                "failed",
                8,
                reply="451 4.3.0 later",
                error="已尝试8次仍未送达：SMTPDataError: 451 4.3.0 later",
            ),
            "多次重试仍未送达",
        ),
    ],
)
def test_reason(outcome: DeliveryOutcome, words: str) -> None:
    assert reason(outcome) == words


def test_outcome_line_counts_and_gives_reasons() -> None:
    assert outcome_line(summary()) == "邮件：已发送 0，失败 0，待发送 0"
    line = outcome_line(
        summary(
            sent("a"),
            DeliveryOutcome("b", "failed", 1, error="SMTPRecipientsRefused: <b> 550"),
            DeliveryOutcome("c", "failed", 1, error="SMTPRecipientsRefused: <c> 550"),
            DeliveryOutcome("d", "failed", 1, error="ValueError: bad"),
            DeliveryOutcome("e", "pending", 2, error="SMTPServerDisconnected: lost"),
        )
    )
    assert line == (
        "邮件：已发送 1，失败 3（收件人被拒收 2 封、收件地址无效 1 封），待发送 1（连接中断）"
    )


def test_stop_lines_name_what_to_fix() -> None:
    empty_sender = SMTP.model_copy(update={"sender": ""})
    held = summary(
        *(DeliveryOutcome(k, "pending", 0, error="not sent", stop="sender") for k in "abc")
    )
    assert stop_line(held, empty_sender) == (
        "邮件发送已停止：发件地址设置（TASKFORCE_SMTP_SENDER）为空。3 封邮件仍待发送，"
        "不计为发送失败，改正后再次运行本命令即可发出。"
    )
    refused = summary(
        DeliveryOutcome("a", "pending", 1, reply="553 5.7.1 not owned", stop="sender"), sent("b")
    )
    assert stop_line(refused, SMTP).startswith(
        "邮件发送已停止：邮件服务器 127.0.0.1:2525 拒绝发件地址 zhuanban-office@example.org"
        "（553 5.7.1 not owned），请核对 TASKFORCE_SMTP_SENDER。1 封邮件仍待发送"
    )
    auth = summary(DeliveryOutcome("a", "pending", 1, reply="535 5.7.8 bad", stop="auth"))
    assert (
        "拒绝登录（535 5.7.8 bad），请核对 TASKFORCE_SMTP_USERNAME 和 TASKFORCE_SMTP_PASSWORD"
        in (stop_line(auth, SMTP))
    )
    tls = summary(DeliveryOutcome("a", "pending", 1, error="SSLError: wrong version", stop="tls"))
    assert "建立加密连接失败（SSLError: wrong version）" in stop_line(tls, SMTP)
    down = summary(
        DeliveryOutcome("a", "pending", 3, error="SMTPConnectError: refused", stop="unreachable")
    )
    assert stop_line(down, SMTP) == (
        "邮件服务器 127.0.0.1:2525 无法连接（SMTPConnectError: refused），"
        "1 封邮件仍待发送，下次运行时重发。"
    )
    assert stop_line(summary(sent("a")), SMTP) == ""


def test_mail_lines_end_with_the_outcome_and_name_a_few_unsent() -> None:
    outcomes = [DeliveryOutcome(f"k{n}", "pending", 0, stop="unreachable") for n in range(7)]
    refused = "SMTPRecipientsRefused: <x> 550 5.1.1 unknown"
    outcomes.insert(
        3, DeliveryOutcome("bad", "failed", 1, reply="550 5.1.1 unknown", error=refused)
    )
    lines = mail_lines(summary(*outcomes), SMTP)
    assert lines[0].startswith("邮件服务器 127.0.0.1:2525 无法连接")
    # The failed mail first, with the server's reply; five named, the rest counted.
    assert lines[1] == (
        "  失败：【提醒】bad → bad@lingchuan.example.org（收件人被拒收：550 5.1.1 unknown）"
    )
    assert lines[2] == "  待发送：【提醒】k0 → k0@lingchuan.example.org（邮件服务器无法连接）"
    assert lines[6] == "  另有 3 封未发出，taskforce outbox 可查看全部。"
    assert lines[-1] == "邮件：已发送 0，失败 1（收件人被拒收），待发送 7（邮件服务器无法连接）"
    assert unsent_lines(summary(sent("a"))) == []


# --- rows that cannot be built --------------------------------------------------------------


def row(key: str, attachment: Path | None = None) -> ClaimedRow:
    return ClaimedRow(
        id=1, idempotency_key=key, to=["rsj@lingchuan.example.org"], cc=[],
        subject="【报送提醒】县人社局", body_text="请报送。", body_html="",
        attachments=[{"path": str(attachment), "filename": "报表.xlsx"}] if attachment else [],
        created_at=datetime(2023, 3, 1, 1, tzinfo=UTC), attempts=0, first_tried_at=None,
    )  # fmt: skip


def test_a_missing_attachment_holds_its_mail_and_the_rest_is_built(tmp_path: Path) -> None:
    form = tmp_path / "form.xlsx"
    form.write_bytes(b"PK\x03\x04 a form")
    gone = tmp_path / "deleted" / "form.xlsx"
    rows = [row("a", form), row("b", gone), row("c")]
    built = build_batch(rows, sender="zhuanban-office@example.org", reply_to=OFFICE)
    assert [m.key for m in built.mails] == ["a", "c"]
    [held] = built.held
    assert (held.key, held.status, held.stop, held.attempts) == ("b", "pending", "attachment", 0)
    assert held.local and str(gone) in held.error


def test_an_empty_sender_holds_every_row(tmp_path: Path) -> None:
    built = build_batch([row("a"), row("b")], sender="", reply_to=OFFICE)
    assert built.mails == []
    assert [(o.key, o.status, o.stop) for o in built.held] == [
        ("a", "pending", "sender"), ("b", "pending", "sender"),
    ]  # fmt: skip


# --- the digest -----------------------------------------------------------------------------


def queue(settings: Settings, *units: str, now: datetime) -> None:
    """One overdue notice per unit code, as escalation queues them."""
    with session_scope(settings) as session:
        policy = session.exec(select(t.Policy).where(t.Policy.code == POLICY)).one()
        found = session.exec(select(t.Unit).where(col(t.Unit.code).in_(units))).all()
        enqueue(
            session,
            [
                NewNotification(
                    idempotency_key=f"{POLICY}/test/{u.code}/{now.isoformat()}", kind="overdue",
                    policy_id=policy.id, cycle_id=None, unit_id=u.id, to=list(u.mailboxes),
                    subject=f"【催报】{u.name}：2023年2月进展情况报告已逾期，请立即报送",
                    body_text="请立即报送。", body_html="",
                )
                for u in found
            ],
            now=now,
        )  # fmt: skip


def digests(settings: Settings) -> list[t.Notification]:
    with session_scope(settings) as session:
        return list(
            session.exec(
                select(t.Notification)
                .where(t.Notification.kind == "delivery_failures")
                .order_by(col(t.Notification.id))
            ).all()
        )


async def test_one_digest_a_day_lists_unit_kind_and_reply(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    load_seeds(settings, POLICY)
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    with session_scope(settings) as session:
        units = {u.code: u for u in session.exec(select(t.Unit)).all()}
    rsj, jtj = units["rsj"], units["jtj"]
    smtp_server.refuse_recipient(rsj.mailboxes[0], "550 5.1.1 User unknown in virtual table")
    # 23:30 UTC on 5 March: 7:30 on the 6th in Beijing, whose day the digest is.
    morning = datetime(2023, 3, 5, 23, 30, tzinfo=UTC)
    queue(settings, "rsj", "jtj", now=morning)

    delivered = await deliver_outbox(settings, POLICY, run_id="t1", now=morning)
    assert sorted(o.status for o in delivered.outcomes) == ["failed", "sent"]

    key = queue_failure_digest(settings, POLICY, now=morning + timedelta(minutes=1))
    assert key == f"{POLICY}/delivery-failures/2023-03-06"
    [digest] = digests(settings)
    assert digest.to == [OFFICE] and digest.unit_id is None
    assert digest.subject == "【投递失败】1封邮件未能送达（2023年3月6日）"
    text = mail_body(settings, digest).text
    assert "1. 县人社局　催报：【催报】县人社局：2023年2月进展情况报告已逾期" in text
    assert f"失败原因：<{rsj.mailboxes[0]}> 550 5.1.1 User unknown in virtual table" in text
    assert jtj.name not in text  # sent: not a failure

    # The same day: the digest went, a later failure waits for the next day's.
    smtp_server.refuse_recipient(jtj.mailboxes[0])
    noon = morning + timedelta(hours=3)
    queue(settings, "jtj", now=noon)
    await deliver_outbox(settings, POLICY, run_id="t2", now=noon)
    assert queue_failure_digest(settings, POLICY, now=noon + timedelta(minutes=1)) is None
    assert len(digests(settings)) == 1

    # The next day's starts where the last one ended: 县交通局 only, 县人社局 not twice.
    tomorrow = morning + timedelta(days=1)
    assert queue_failure_digest(settings, POLICY, now=tomorrow) == (
        f"{POLICY}/delivery-failures/2023-03-07"
    )
    latest = digests(settings)[-1]
    latest_text = mail_body(settings, latest).text
    assert f"1. {jtj.name}　催报：" in latest_text and rsj.name not in latest_text
    # Nothing failed since: no digest on the day after.
    assert queue_failure_digest(settings, POLICY, now=tomorrow + timedelta(days=1)) is None


async def test_the_delivery_sends_the_digest_once(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    load_seeds(settings, POLICY)
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    now = datetime.now(UTC)
    queue(settings, "rsj", "jtj", now=now)
    with session_scope(settings) as session:
        rsj = session.exec(select(t.Unit).where(t.Unit.code == "rsj")).one()
    smtp_server.refuse_recipient(rsj.mailboxes[0])

    first = await deliver_steps(POLICY, settings)

    # The batch (one sent, one refused), then the digest to the office in the same run.
    assert sorted(o.status for o in first.outcomes) == ["failed", "sent", "sent"]
    [digest] = [m for m in smtp_server.messages if m.rcpt_tos == (OFFICE,)]
    subject = str(make_header(decode_header(str(digest.message["Subject"]))))
    day = now.astimezone(SHANGHAI).date()
    assert subject == f"【投递失败】1封邮件未能送达（{day.year}年{day.month}月{day.day}日）"
    lines = mail_lines(first, settings.smtp)
    assert lines[-1] == "邮件：已发送 2，失败 1（收件人被拒收），待发送 0"
    assert lines[0].startswith("  失败：【催报】县人社局：")

    queue(settings, "rsj", now=now + timedelta(seconds=1))  # fails again the same day
    again = await deliver_steps(POLICY, settings)
    assert [o.status for o in again.outcomes] == ["failed"]
    assert len([m for m in smtp_server.messages if m.rcpt_tos == (OFFICE,)]) == 1


async def test_an_empty_sender_leaves_rows_pending_and_the_fixed_one_sends_them(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    load_seeds(settings, POLICY)
    good = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    empty = settings.model_copy(update={"smtp": smtp_server.smtp_settings(sender="")})
    queue(good, "rsj", "jtj", "kjj", now=datetime.now(UTC))

    held = await deliver_steps(POLICY, empty)

    assert [(o.status, o.stop) for o in held.outcomes] == [("pending", "sender")] * 3
    assert mail_lines(held, empty.smtp)[0].startswith(
        "邮件发送已停止：发件地址设置（TASKFORCE_SMTP_SENDER）为空。3 封邮件仍待发送"
    )
    with session_scope(good) as session:
        rows = session.exec(select(t.Notification)).all()
    # Before: every row failed for good. Now untouched: pending, no attempt counted, no claim.
    assert {(r.status, r.attempts, r.claimed_by) for r in rows} == {("pending", 0, "")}
    assert smtp_server.connections == 0 and digests(good) == []

    fixed = await deliver_steps(POLICY, good)
    assert [o.status for o in fixed.outcomes] == ["sent"] * 3
    assert len(smtp_server.messages) == 3
    assert mail_lines(fixed, good.smtp) == ["邮件：已发送 3，失败 0，待发送 0"]


async def test_a_refused_sender_leaves_rows_pending_not_failed(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    load_seeds(settings, POLICY)
    smtp_server.refuse_sender("typo@example.org")
    wrong = settings.model_copy(
        update={"smtp": smtp_server.smtp_settings(sender="typo@example.org")}
    )
    queue(wrong, "rsj", "jtj", now=datetime.now(UTC))

    held = await deliver_steps(POLICY, wrong)

    assert {(o.status, o.stop) for o in held.outcomes} == {("pending", "sender")}
    with session_scope(wrong) as session:
        assert {r.status for r in session.exec(select(t.Notification)).all()} == {"pending"}
    assert "拒绝发件地址 typo@example.org（553 5.7.1" in mail_lines(held, wrong.smtp)[0]
    assert digests(wrong) == []  # nothing failed: nothing to report to the office

    right = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    assert [o.status for o in (await deliver_steps(POLICY, right)).outcomes] == ["sent"] * 2


# --- what deliver_outbox does with them (tasks/mail/outbox.py) ---------------------------------


async def test_a_missing_attachment_leaves_the_row_pending_and_a_restored_file_sends_it(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    load_seeds(settings, POLICY)
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    form = tmp_path / "forms" / "2023年2月进展情况报告（县人社局）.xlsx"
    with session_scope(settings) as session:
        policy = session.exec(select(t.Policy).where(t.Policy.code == POLICY)).one()
        rsj = session.exec(select(t.Unit).where(t.Unit.code == "rsj")).one()
        enqueue(
            session,
            [
                NewNotification(
                    idempotency_key=f"{POLICY}/test/rsj/form", kind="reminder",
                    policy_id=policy.id, cycle_id=None, unit_id=rsj.id, to=list(rsj.mailboxes),
                    subject="【报送提醒】县人社局", body_text="请报送。", body_html="",
                    attachments=[{"path": str(form), "filename": form.name}],
                )
            ],
            now=datetime.now(UTC),
        )  # fmt: skip

    held = await deliver_steps(POLICY, settings)

    # Not failed (which would also queue the office's 【投递失败】): held, the file named.
    [outcome] = held.outcomes
    assert (outcome.status, outcome.stop) == ("pending", "attachment")
    assert str(form) in mail_lines(held, settings.smtp)[0]
    with session_scope(settings) as session:
        row = session.exec(select(t.Notification)).one()
    assert (row.status, row.attempts) == ("pending", 0)

    form.parent.mkdir(parents=True)
    form.write_bytes(b"PK\x03\x04 the unit's form")
    sent = await deliver_steps(POLICY, settings)
    assert [o.status for o in sent.outcomes] == ["sent"] and len(smtp_server.messages) == 1


async def test_a_refused_sender_never_gives_the_mail_up(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    load_seeds(settings, POLICY)
    smtp_server.refuse_sender("typo@example.org")
    smtp = smtp_server.smtp_settings(sender="typo@example.org", give_up_attempts=2)
    wrong = settings.model_copy(update={"smtp": smtp})
    queue(wrong, "rsj", now=datetime.now(UTC))
    for _ in range(3):  # more runs than give_up_attempts: a setting to fix, not a mail to drop
        await deliver_steps(POLICY, wrong)
    with session_scope(wrong) as session:
        [row] = session.exec(select(t.Notification).where(t.Notification.kind == "overdue")).all()
    assert (row.status, row.attempts) == ("pending", 0)
    assert digests(wrong) == []
