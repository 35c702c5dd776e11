"""The office's view of an intake run, as markdown for a Prefect artifact.

The rows are labelled here; ``templates/reports/intake.md`` lays them out and escapes them.
"""

from __future__ import annotations

from typing import Any

from tasks.intake.steps import ITEM_LABELS, STATUS_LABELS, IntakeSummary
from tasks.render import render_report

COUNTED = ("accepted", "rejected", "unstructured", "unverified", "quarantined", "ignored", "error")


def outcome_label(outcome: str) -> str:
    return STATUS_LABELS.get(outcome, ITEM_LABELS.get(outcome, outcome))


def intake_context(title: str, summary: IntakeSummary) -> dict[str, Any]:
    """What templates/reports/intake.md shows: one row per item, then each problem found."""
    counts = "，".join(
        f"{outcome_label(o)} {summary.count(o)}" for o in COUNTED if summary.count(o)
    )
    lines = [
        {
            "received_at": line["received_at"],
            "sender": line["sender"],
            "unit": line["unit"],
            "obligation": line.get("obligation_name") or line["obligation"],
            "period": line.get("period_label") or line["period"],
            "version": line["version"] or "",
            "outcome": outcome_label(line["outcome"]),
            "late": line["late_working_days"] or "",
            "problems": len(line["errors"]) or "",
        }
        for line in summary.lines
    ]
    problems = [
        {
            "who": line["unit"] or line["sender"],
            "where": " ".join(str(error[k]) for k in ("sheet", "cell") if error.get(k)),
            "problem": error["problem"],
        }
        for line in summary.lines
        for error in line["errors"]
    ]
    return {
        "title": title,
        "source": summary.source,
        "counts": counts,
        "duplicates": summary.duplicates,
        "lines": lines,
        "problems": problems,
        "mail": summary.mail,
        "mail_line": summary.mail[-1] if summary.mail else "",
    }


def intake_markdown(title: str, summary: IntakeSummary) -> str:
    """One row per submission or set-aside item; errors listed under the table."""
    return render_report("intake.md", **intake_context(title, summary))
