"""The office's view of a reminder run, as markdown for a Prefect artifact.

The rows are labelled here; ``templates/reports/reminders.md`` lays them out and escapes them.
"""

from __future__ import annotations

from typing import Any

from tasks.mail.failures import outcome_line
from tasks.mail.outbox import DeliverySummary, refusal_note
from tasks.reminders.steps import PrepareSummary
from tasks.render import render_report

STATUS_LABELS = {"sent": "已发送", "failed": "发送失败", "pending": "待发送"}
PARTLY_REFUSED = "已发送（部分收件人被拒收）"


def _outcome_rows(delivered: DeliverySummary) -> list[dict[str, str]]:
    rows = []
    for o in delivered.outcomes:
        status = STATUS_LABELS[o.status]
        if o.status != "sent":
            reply = o.error or o.reply
        elif o.refused:  # sent, but not to everyone listed: say who did not get it
            status = PARTLY_REFUSED
            reply = f"{o.reply}；{refusal_note(o.refused)}"
        else:
            reply = o.reply
        rows.append(
            {
                "status": status,
                "recipients": delivered.recipients.get(o.key, ""),
                "subject": delivered.subjects.get(o.key, o.key),
                "reply": reply,
            }
        )
    return rows


def reminder_context(
    title: str, prepared: PrepareSummary, delivered: DeliverySummary, stop: str = ""
) -> dict[str, Any]:
    """What templates/reports/reminders.md shows: counts, then sent, already queued, skipped."""
    return {
        "title": title,
        "stop": stop,
        "mail_line": outcome_line(delivered),
        "sent": delivered.count("sent"),
        "partly_refused": delivered.partly_refused(),
        "failed": delivered.count("failed"),
        "pending": delivered.count("pending"),
        "queued": len(prepared.queued),
        "already": prepared.already,
        "skipped": prepared.skipped,
        "outcomes": _outcome_rows(delivered),
    }


def reminder_markdown(
    title: str, prepared: PrepareSummary, delivered: DeliverySummary, stop: str = ""
) -> str:
    """Sent, failed, skipped: one table each, in the order the office reads them; ``stop`` is
    why sending stopped (tasks.mail.failures.stop_line), shown under the counts."""
    return render_report("reminders.md", **reminder_context(title, prepared, delivered, stop))
