"""How a run's mail outcome reads to the office: the closing line of every flow command, the
line that says why sending stopped, and the context of the day's 【投递失败】 digest.

Every flow command (remind, intake, consolidate, escalate) ends its summary with
``mail_lines(summary, smtp)``: the stop line when the batch stopped, the unsent mails by subject
(a few), then ``邮件：已发送 N，失败 N（原因），待发送 N（原因）``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from tasks.calendar import SHANGHAI
from tasks.mail.labels import kind_label
from tasks.mail.smtp import DeliveryOutcome, sender_problem

if TYPE_CHECKING:
    from config.settings import SmtpSettings
    from tasks.mail.outbox import DeliverySummary

DIGEST_KIND = "delivery_failures"
UNSENT_SHOWN = 5  # mails named under the line; the rest are counted (taskforce outbox lists all)

# Why a mail waits, when the batch stopped (DeliveryOutcome.stop).
STOP_REASONS = {
    "sender": "发件地址设置有误",
    "auth": "邮件服务器拒绝登录",
    "tls": "加密连接失败",
    "refused": "邮件服务器拒绝连接",
    "attachment": "附件文件缺失",
    "unreachable": "邮件服务器无法连接",
}

# Why a mail failed or waits otherwise, by the exception classify_error named in ``error``.
_ERROR_REASONS = (
    ("仍未送达", "多次重试仍未送达"),  # given up: smtp.give_up_attempts or give_up_hours
    ("SMTPRecipientsRefused", "收件人被拒收"),
    ("ValueError", "收件地址无效"),
    ("邮件无法生成", "邮件无法生成"),
    ("附件文件", "附件文件缺失"),
    ("SMTPConnect", "邮件服务器无法连接"),
    ("SMTPServerDisconnected", "连接中断"),
    ("Timeout", "连接超时"),
)


def reason(outcome: DeliveryOutcome) -> str:
    """Why a mail was not sent, in a few Chinese words ("" for a sent mail)."""
    if outcome.status == "sent":
        return ""
    if outcome.stop:
        return STOP_REASONS[outcome.stop]
    for marker, words in _ERROR_REASONS:
        if marker in outcome.error:
            return words
    if outcome.reply[:1] == "5":
        return "被邮件服务器拒收"
    if outcome.reply[:1] == "4":
        return "邮件服务器暂时拒收"
    return "多次重试未成功" if outcome.status == "failed" else "稍后重试"


def _reasons(outcomes: Sequence[DeliveryOutcome]) -> str:
    """（收件人被拒收） or （收件人被拒收 2 封、连接中断 1 封）; "" when there is none."""
    counts = Counter(reason(o) for o in outcomes)
    if not counts:
        return ""
    if len(counts) == 1:
        return f"（{next(iter(counts))}）"
    return "（" + "、".join(f"{words} {n} 封" for words, n in counts.most_common()) + "）"


def outcome_line(summary: DeliverySummary) -> str:
    """邮件：已发送 N，失败 N（原因），待发送 N（原因）: the last line of a flow command."""
    failed = [o for o in summary.outcomes if o.status == "failed"]
    pending = [o for o in summary.outcomes if o.status == "pending"]
    partly = summary.partly_refused()
    sent = f"已发送 {summary.count('sent')}" + (
        f"（其中 {partly} 封部分收件人被拒收）" if partly else ""
    )
    return (
        f"邮件：{sent}，失败 {len(failed)}{_reasons(failed)}，"
        f"待发送 {len(pending)}{_reasons(pending)}"
    )


def _server(smtp: SmtpSettings) -> str:
    return f"{smtp.host}:{smtp.port}"


def _detail(outcome: DeliveryOutcome) -> str:
    """The server's answer, or the error behind a stop without one (a TLS or socket error)."""
    return outcome.reply or outcome.error.removeprefix("not sent: ")


def stop_line(summary: DeliverySummary, smtp: SmtpSettings) -> str:
    """Why sending stopped, what to fix, and that nothing is lost; "" when it did not stop."""
    stopped = [o for o in summary.outcomes if o.stop]
    if not stopped:
        return ""
    first = stopped[0]
    server = _server(smtp)
    if first.stop == "unreachable":
        return (
            f"邮件服务器 {server} 无法连接（{_detail(first)}），"
            f"{len(stopped)} 封邮件仍待发送，下次运行时重发。"
        )
    if first.stop == "sender":
        problem = sender_problem(smtp.sender)
        cause = (
            f"发件地址设置（TASKFORCE_SMTP_SENDER）{problem}"
            if problem
            else f"邮件服务器 {server} 拒绝发件地址 {smtp.sender}（{first.reply}），"
            "请核对 TASKFORCE_SMTP_SENDER"
        )
    elif first.stop == "auth":
        cause = (
            f"邮件服务器 {server} 拒绝登录（{_detail(first)}），"
            "请核对 TASKFORCE_SMTP_USERNAME 和 TASKFORCE_SMTP_PASSWORD"
        )
    elif first.stop == "tls":
        cause = (
            f"与邮件服务器 {server} 建立加密连接失败（{_detail(first)}），"
            "请核对 TASKFORCE_SMTP_SSL、TASKFORCE_SMTP_STARTTLS 和服务器证书"
        )
    elif first.stop == "attachment":
        files = "；".join(dict.fromkeys(o.error for o in stopped))
        cause = f"{files}，请恢复附件文件"
    else:
        cause = f"邮件服务器 {server} 拒绝本机连接（{_detail(first)}），请联系邮件服务器管理员"
    return (
        f"邮件发送已停止：{cause}。{len(stopped)} 封邮件仍待发送，不计为发送失败，"
        "改正后再次运行本命令即可发出。"
    )


def unsent_lines(summary: DeliverySummary, limit: int = UNSENT_SHOWN) -> list[str]:
    """The mails not sent, by subject and recipients, failed first; the rest counted."""
    unsent = sorted(
        (o for o in summary.outcomes if o.status != "sent"), key=lambda o: o.status != "failed"
    )
    lines = []
    for o in unsent[:limit]:
        state = "失败" if o.status == "failed" else "待发送"
        to = summary.recipients.get(o.key, "")
        reply = f"：{o.reply}" if o.status == "failed" and o.reply else ""
        lines.append(
            f"  {state}：{summary.subjects.get(o.key, o.key)}"
            + (f" → {to}" if to else "")
            + f"（{reason(o)}{reply}）"
        )
    if len(unsent) > limit:
        lines.append(f"  另有 {len(unsent) - limit} 封未发出，taskforce outbox 可查看全部。")
    return lines


def mail_lines(summary: DeliverySummary, smtp: SmtpSettings) -> list[str]:
    """What a flow command prints about its mail, the outcome line last."""
    stop = stop_line(summary, smtp)
    return [*([stop] if stop else []), *unsent_lines(summary), outcome_line(summary)]


# ---------------------------------------------------------------------------------------------
# The day's 【投递失败】 digest to the office


@dataclass(frozen=True)
class FailedMail:
    """One outbox row that turned ``failed``, as the digest lists it."""

    id: int
    unit: str  # "" for a mail to no unit (the leaders' 通报, the office's own notices)
    kind: str
    subject: str
    to: str
    attempts: int
    reply: str  # the server's last answer, or the error when there was none
    failed_at: datetime


def digest_key(policy_code: str, day: date) -> str:
    """One digest per policy and day: the outbox refuses a second row with this key."""
    return f"{policy_code}/delivery-failures/{day.isoformat()}"


def digest_context(
    *,
    policy_code: str,
    office: dict[str, Any],
    day: date,
    failures: Sequence[FailedMail],
    as_of: datetime,
) -> dict[str, Any]:
    """The context of templates/mail/delivery_failures.*: the rows, oldest failure first."""
    return {
        "kind": DIGEST_KIND,
        "office": office,
        "as_of": as_of.astimezone(SHANGHAI),
        "digest": {
            "policy": policy_code,
            "day": day,
            "failures": [
                {
                    "id": f.id,
                    "unit": f.unit,
                    "kind": kind_label(f.kind),
                    "subject": f.subject,
                    "to": f.to,
                    "attempts": f.attempts,
                    "reply": f.reply,
                    "failed_at": f.failed_at.astimezone(SHANGHAI),
                }
                for f in sorted(failures, key=lambda f: (f.failed_at, f.id))
            ],
        },
    }
