"""Intake: take in what the units sent back, record it, send receipts and rejections."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from config.settings import Settings, current_settings
from flows.delivery import deliver
from flows.run_names import named, policy_short
from tasks.calendar import local_moment
from tasks.intake.report import intake_markdown
from tasks.intake.steps import IntakeSummary, open_source, take_in
from tasks.mail.failures import mail_lines
from tasks.run_names import artifact_title


@task(name="take-in", task_run_name="收取并登记报送", cache_policy=NONE)
def take_in_mail(
    policy_code: str, source_kind: str | None, as_of: datetime, settings: Settings
) -> IntakeSummary:
    """Read the office's mailbox once: store, claim, decide and record every new message."""
    source = open_source(settings, policy_code, source_kind)
    try:
        summary = take_in(settings, policy_code, source, now=as_of)
    finally:
        source.close()
    get_run_logger().info(
        "%s：收取 %d 项（来源 %s），此前已收取 %d 封",
        policy_code, len(summary.lines), summary.source, summary.duplicates,
    )  # fmt: skip
    return summary


@task(name="publish-intake-report", task_run_name="发布收取情况", cache_policy=NONE)
async def publish_intake_report(title: str, policy_code: str, summary: IntakeSummary) -> str:
    markdown = intake_markdown(title, summary)
    await acreate_markdown_artifact(
        key=f"intake-{policy_code}", markdown=markdown, description=title
    )
    return markdown


@flow(name="intake", flow_run_name=named("收取报送", time=True), log_prints=False)
async def intake_flow(
    policy_code: str, source: str | None = None, as_of: datetime | None = None
) -> IntakeSummary:
    """One intake pass over a policy's office mailbox, then receipts and rejections go out.

    ``as_of`` is the run's moment: when items are recorded and what the receipts and
    rejections are dated and measured against (a replayed day's, not the wall clock's).
    ``summary.mail`` says what became of the mail sent (receipts, rejections, anything queued).
    """
    moment = local_moment(as_of)
    settings = current_settings()  # never a parameter: Prefect stores and shows those
    summary = take_in_mail(policy_code, source, moment, settings)
    delivered = await deliver(policy_code, settings)
    summary.mail = mail_lines(delivered, settings.smtp)
    summary.mail_pending = delivered.count("pending")
    title = artifact_title(f"{policy_short(policy_code)} 收取报送", moment, figures=False)
    await publish_intake_report(title, policy_code, summary)
    return summary
