"""Daily escalation: overdue notices, 督办 cases, and the office's approval of heavy steps."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from config.settings import Settings
from flows.reminders import deliver
from tasks.calendar import parse_as_of
from tasks.escalation_report import escalation_markdown
from tasks.escalation_steps import EscalationSummary, run_escalation


@task(name="escalate", cache_policy=NONE)
def escalate(policy_code: str, as_of: datetime, settings: Settings) -> EscalationSummary:
    """Plan and apply the day's escalation (keyed: a replay changes nothing)."""
    summary = run_escalation(settings, policy_code, as_of=as_of)
    get_run_logger().info(
        "%s: %d overdue notices, %d cases opened, %d resolved, %d proposed",
        policy_code, len(summary.overdue), len(summary.opened), len(summary.resolved),
        len(summary.proposed),
    )  # fmt: skip
    return summary


@task(name="publish-escalation", cache_policy=NONE)
async def publish(summary: EscalationSummary) -> str:
    markdown = escalation_markdown(summary)
    await create_markdown_artifact(  # type: ignore[misc]
        key=f"escalation-{summary.policy}", markdown=markdown,
        description=f"{summary.policy} 督办 {summary.as_of:%Y-%m-%d}",
    )  # fmt: skip
    return markdown


@flow(name="escalation", log_prints=False)
async def escalation_flow(
    policy_code: str, as_of: str | None = None, settings: Settings | None = None
) -> EscalationSummary:
    """Run the escalation ladder for a day, send what it queued, leave the lists as artifact."""
    settings = settings or Settings()
    summary = escalate(policy_code, parse_as_of(as_of), settings)
    await deliver(policy_code, settings)
    await publish(summary)
    return summary
