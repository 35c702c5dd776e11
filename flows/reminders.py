"""``reminders``: one flow run for all of a policy's reports on a day (what `taskforce remind`
runs), with the Prefect wrappers of its steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from config.settings import Settings, current_settings
from flows.delivery import deliver
from flows.run_names import named, policy_short
from tasks.calendar import local_moment
from tasks.mail.failures import mail_lines, stop_line
from tasks.mail.outbox import DeliverySummary
from tasks.reminders.report import reminder_markdown
from tasks.reminders.steps import PrepareSummary, prepare_reminders
from tasks.run_names import artifact_title


# Side effects, never cached.
@task(name="prepare-notices", task_run_name="生成当日通知", cache_policy=NONE)
def prepare_notices(
    policy_code: str, as_of: datetime, frequency: str | None, settings: Settings
) -> PrepareSummary:
    """Plan, render and enqueue today's notices of one policy."""
    summary = prepare_reminders(settings, policy_code, as_of, frequency)
    get_run_logger().info(
        "%s：新入箱 %d，此前已入箱 %d，跳过 %d",
        policy_code, len(summary.queued), len(summary.already), len(summary.skipped),
    )  # fmt: skip
    return summary


@task(name="publish-report", task_run_name="发布提醒情况", cache_policy=NONE)
async def publish_report(
    title: str,
    policy_code: str,
    prepared: PrepareSummary,
    delivered: DeliverySummary,
    stop: str,
) -> str:
    """Leave a markdown artifact: what was sent to whom, what was skipped and why."""
    markdown = reminder_markdown(title, prepared, delivered, stop)
    await acreate_markdown_artifact(
        key=f"reminders-{policy_code}", markdown=markdown, description=title
    )
    return markdown


@flow(name="reminders", flow_run_name=named("报送提醒"), log_prints=False)
async def reminders_flow(policy_code: str, as_of: datetime | None = None) -> dict[str, Any]:
    """Send today's opening notices and reminders for all of a policy's reports.

    One flow run for the one-off and the monthly reports: two flows would plan the same day's
    notices and then each deliver the whole outbox of the policy anyway, and a flow run costs
    ~10 API round trips (and, as a second sub-run of a tick, a ~2 s retry: a SQLite lock
    conflict on the server answered with 503).
    """
    moment = local_moment(as_of)
    settings = current_settings()  # never a parameter: Prefect stores and shows those
    title = artifact_title(f"{policy_short(policy_code)} 报送提醒", moment, figures=False)
    prepared = prepare_notices(policy_code, moment, None, settings)
    delivered = await deliver(policy_code, settings)
    await publish_report(
        title, policy_code, prepared, delivered, stop_line(delivered, settings.smtp)
    )
    return outcome(prepared, delivered, settings)


async def remind_steps(policy_code: str, moment: datetime, settings: Settings) -> dict[str, Any]:
    """The flow's steps as plain calls of the task bodies, for a tick's one task per policy.

    Same notices, mails, log lines and artifacts as the flow, without its ~10 API round trips
    of a flow run and three task runs: a province's tick runs this for every policy.
    """
    title = artifact_title(f"{policy_short(policy_code)} 报送提醒", moment, figures=False)
    prepared = prepare_notices.fn(policy_code, moment, None, settings)
    delivered = await deliver.fn(policy_code, settings)
    await publish_report.fn(
        title, policy_code, prepared, delivered, stop_line(delivered, settings.smtp)
    )
    return outcome(prepared, delivered, settings)


def outcome(
    prepared: PrepareSummary, delivered: DeliverySummary, settings: Settings
) -> dict[str, Any]:
    """What a run returns: the counts, and the command's closing lines."""
    return {
        "queued": len(prepared.queued),
        "already": len(prepared.already),
        "skipped": len(prepared.skipped),
        "sent": delivered.count("sent"),
        "failed": delivered.count("failed"),
        "pending": delivered.count("pending"),
        # The command's closing lines: why sending stopped, what was not sent, 已发送 N，失败 N…
        "mail": mail_lines(delivered, settings.smtp),
    }
