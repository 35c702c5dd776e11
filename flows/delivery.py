"""The outbox delivery task every flow ends with: send the policy's pending mail in one batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from config.settings import Settings
from tasks.mail.outbox import DeliverySummary, deliver_outbox


# A side effect, never cached.
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
