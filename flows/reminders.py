"""Shared Prefect wrappers of the reminder steps, the flow body every reminder flow uses, and
``reminders``: one flow run for all of a policy's reports on a day (what `taskforce remind` runs).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from config.settings import Settings
from tasks.calendar import parse_as_of
from tasks.reminders.report import reminder_markdown
from tasks.reminders.steps import (
    DeliverySummary,
    PrepareSummary,
    deliver_outbox,
    prepare_reminders,
)


# Side effects, never cached.
@task(name="prepare-notices", cache_policy=NONE)
def prepare_notices(
    policy_code: str, as_of: datetime, frequency: str | None, settings: Settings
) -> PrepareSummary:
    """Plan, render and enqueue today's notices of one policy."""
    summary = prepare_reminders(settings, policy_code, as_of, frequency)
    get_run_logger().info(
        "%s: %d queued, %d already queued, %d skipped",
        policy_code, len(summary.queued), len(summary.already), len(summary.skipped),
    )  # fmt: skip
    return summary


@task(name="deliver-outbox", cache_policy=NONE)
async def deliver(policy_code: str, settings: Settings) -> DeliverySummary:
    """Send the policy's pending outbox rows in one batch."""
    # The claim's owner: the flow run, plus a suffix of this delivery's own, because the claim
    # and heartbeat queries match on it and two deliveries must never share one.
    run_id = f"{flow_run.get_id() or 'local'}:{uuid.uuid4().hex[:8]}"
    summary = await deliver_outbox(settings, policy_code, run_id=run_id, now=datetime.now(UTC))
    get_run_logger().info(
        "%s: %d sent, %d failed, %d pending",
        policy_code, summary.count("sent"), summary.count("failed"), summary.count("pending"),
    )  # fmt: skip
    return summary


@task(name="publish-report", cache_policy=NONE)
async def publish_report(
    title: str, policy_code: str, prepared: PrepareSummary, delivered: DeliverySummary
) -> str:
    """Leave a markdown artifact: what was sent to whom, what was skipped and why."""
    markdown = reminder_markdown(title, prepared, delivered)
    await create_markdown_artifact(  # type: ignore[misc]
        key=f"reminders-{policy_code}", markdown=markdown, description=title
    )
    return markdown


async def run_reminders(
    title: str, policy_code: str, as_of: datetime, frequency: str | None, settings: Settings
) -> dict[str, int]:
    """The body of a reminder flow: prepare (one frequency, or all), deliver, report."""
    prepared = prepare_notices(policy_code, as_of, frequency, settings)
    delivered = await deliver(policy_code, settings)
    await publish_report(title, policy_code, prepared, delivered)
    return {
        "queued": len(prepared.queued),
        "already": len(prepared.already),
        "skipped": len(prepared.skipped),
        "sent": delivered.count("sent"),
        "failed": delivered.count("failed"),
        "pending": delivered.count("pending"),
    }


@flow(name="reminders", log_prints=False)
async def reminders_flow(
    policy_code: str, as_of: str | None = None, settings: Settings | None = None
) -> dict[str, int]:
    """Send today's opening notices and reminders for all of a policy's reports.

    One flow run instead of checklist-reminders plus monthly-report-reminders: the two planned
    the same day's notices and then each delivered the whole outbox of the policy anyway, and a
    flow run costs ~10 API round trips (and, as a second sub-run of a tick, a ~2 s retry: a
    SQLite lock conflict on the server answered with 503).
    """
    moment = parse_as_of(as_of)
    title = f"{policy_code} 报送提醒 {moment:%Y-%m-%d %H:%M}"
    return await run_reminders(title, policy_code, moment, None, settings or Settings())
