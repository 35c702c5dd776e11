"""The outbox delivery task every flow ends with: send the policy's pending mail in one batch,
then the office's 【投递失败】 digest when mails turned failed; leave the outcome as an artifact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from config.settings import Settings
from flows.run_names import policy_short
from tasks.calendar import SHANGHAI
from tasks.mail.digest import hold_for_sender, queue_failure_digest
from tasks.mail.failures import mail_lines
from tasks.mail.outbox import DeliverySummary, deliver_outbox
from tasks.mail.smtp import sender_problem
from tasks.render import render_report
from tasks.run_names import artifact_title


def _run_id() -> str:
    # The claim's owner: the flow run, plus a suffix of this delivery's own, because the claim
    # and heartbeat queries match on it and two deliveries must never share one.
    return f"{flow_run.get_id() or 'local'}:{uuid.uuid4().hex[:8]}"


async def deliver_steps(policy_code: str, settings: Settings) -> DeliverySummary:
    """Send the outbox, then the day's failure digest if rows turned failed; one summary."""
    if sender_problem(settings.smtp.sender):
        # No mail can go: claim nothing, leave every row pending for the fixed setting.
        return hold_for_sender(settings, policy_code)
    summary = await deliver_outbox(settings, policy_code, run_id=_run_id(), now=datetime.now(UTC))
    if queue_failure_digest(settings, policy_code, now=datetime.now(UTC)) is None:
        return summary
    digest = await deliver_outbox(settings, policy_code, run_id=_run_id(), now=datetime.now(UTC))
    return DeliverySummary(
        outcomes=summary.outcomes + digest.outcomes,
        subjects={**summary.subjects, **digest.subjects},
        recipients={**summary.recipients, **digest.recipients},
    )


# A side effect, never cached.
@task(name="deliver-outbox", task_run_name="发送邮件", cache_policy=NONE)
async def deliver(policy_code: str, settings: Settings) -> DeliverySummary:
    """Send the policy's pending outbox rows in one batch; the office's digest of failures."""
    summary = await deliver_steps(policy_code, settings)
    lines = mail_lines(summary, settings.smtp)
    get_run_logger().info("%s：%s", policy_code, "\n".join(lines))
    if summary.outcomes:  # most runs send nothing: no artifact to say so
        await acreate_markdown_artifact(
            key=f"delivery-{policy_code}",
            markdown=render_report("delivery.md", policy=policy_code, lines=lines),
            # Sent at the wall clock's time, also when the run replays a past day.
            description=artifact_title(
                f"{policy_short(policy_code)} 邮件发送情况", datetime.now(SHANGHAI), figures=False
            ),
        )
    return summary
