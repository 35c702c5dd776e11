"""The office's view of a reminder run, as markdown for a Prefect artifact and the CLI."""

from __future__ import annotations

from tasks.mail.outbox import DeliverySummary, refusal_note
from tasks.reminders.steps import PrepareSummary

STATUS_LABELS = {"sent": "已发送", "failed": "发送失败", "pending": "待重发"}


PARTLY_REFUSED = "已发送（部分收件人被拒收）"


def _partly(delivered: DeliverySummary) -> str:
    count = delivered.partly_refused()
    return f"（其中 {count} 封部分收件人被拒收）" if count else ""


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reminder_markdown(title: str, prepared: PrepareSummary, delivered: DeliverySummary) -> str:
    """Sent, failed, skipped: one table each, in the order the office reads them."""
    lines = [
        f"# {title}",
        "",
        f"本次新入发件箱 {len(prepared.queued)} 封，此前已入发件箱 {len(prepared.already)} 封，"
        f"跳过 {len(prepared.skipped)} 个单位；发送成功 {delivered.count('sent')} 封"
        f"{_partly(delivered)}，失败 {delivered.count('failed')} 封，"
        f"待重发 {delivered.count('pending')} 封。",
        "",
    ]
    if delivered.outcomes:
        lines += ["## 发送结果", "", "| 状态 | 收件人 | 主题 | 服务器答复 |", "|---|---|---|---|"]
        for o in delivered.outcomes:
            status = STATUS_LABELS[o.status]
            if o.status != "sent":
                reply = o.error or o.reply
            elif o.refused:  # sent, but not to everyone listed: say who did not get it
                status = PARTLY_REFUSED
                reply = f"{o.reply}；{refusal_note(o.refused)}"
            else:
                reply = o.reply
            lines.append(
                f"| {status} | {_escape(delivered.recipients.get(o.key, ''))} "
                f"| {_escape(delivered.subjects.get(o.key, o.key))} | {_escape(reply)} |"
            )
        lines.append("")
    if prepared.already:
        lines += [
            "## 未重复发送",
            "",
            "| 单位 | 事项 | 所属期 | 类别 | 原因 |",
            "|---|---|---|---|---|",
        ]
        for row in prepared.already:
            lines.append(
                f"| {row['unit']} | {row['obligation']} | {row['period']} | {row['kind']} "
                f"| {row['reason']} |"
            )
        lines.append("")
    if prepared.skipped:
        lines += ["## 跳过", "", "| 单位 | 事项 | 所属期 | 原因 |", "|---|---|---|---|"]
        for row in prepared.skipped:
            lines.append(
                f"| {row['unit']} | {row['obligation']} | {row['period']} | {row['reason']} |"
            )
        lines.append("")
    if not (delivered.outcomes or prepared.already or prepared.skipped):
        lines.append("今日无需发送通知。")
    return "\n".join(lines) + "\n"
