"""The office's view of an escalation run, as markdown for a Prefect artifact.

Labels are applied here; ``templates/reports/escalation.md`` lays the run out and escapes it.
"""

from __future__ import annotations

from typing import Any

from tasks.calendar import SHANGHAI
from tasks.escalation.cases import STEP_LABELS
from tasks.escalation.steps import EscalationSummary
from tasks.render import render_report


def escalation_context(summary: EscalationSummary) -> dict[str, Any]:
    """What templates/reports/escalation.md shows, in the order the office acts on it."""
    return {
        "policy": summary.policy,
        "as_of": f"{summary.as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M}",  # whatever zone it came in
        "overdue": summary.overdue,
        "opened": summary.opened,
        "resolved": summary.resolved,
        "proposed": summary.proposed,
        "awaiting": [
            {**a, "step": STEP_LABELS.get(a["step"], a["step"])} for a in summary.awaiting
        ],
        "decisions": summary.decisions,
        "supervision": summary.supervision,
        "interview": summary.interview,
        "commendations": summary.commendations,
        "mail": summary.mail,
        "mail_line": summary.mail[-1] if summary.mail else "",
    }


def escalation_markdown(summary: EscalationSummary) -> str:
    """催报, new cases, proposals and the office's lists of one run."""
    return render_report("escalation.md", **escalation_context(summary))
