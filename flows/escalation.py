"""Daily escalation: overdue notices, 督办 cases, and the office's approval of heavy steps."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NONE
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from prefect.logging import get_run_logger

from config.settings import Settings, current_settings
from flows.delivery import deliver
from flows.run_names import named, policy_short
from tasks.calendar import local_moment
from tasks.escalation.approval import approval_description, approval_model, decisions_from
from tasks.escalation.report import escalation_markdown
from tasks.escalation.steps import (
    EscalationSummary,
    apply_decisions,
    refresh_lists,
    run_escalation,
)
from tasks.mail.failures import mail_lines
from tasks.run_names import artifact_title


@task(name="escalate", task_run_name="催报和督办", cache_policy=NONE)
def escalate(policy_code: str, as_of: datetime, settings: Settings) -> EscalationSummary:
    """Plan and apply the day's escalation (keyed: a replay changes nothing)."""
    summary = run_escalation(settings, policy_code, as_of=as_of)
    get_run_logger().info(
        "%s：催报 %d，新立督办 %d，办结待销号 %d，提请升级 %d",
        policy_code, len(summary.overdue), len(summary.opened), len(summary.resolved),
        len(summary.proposed),
    )  # fmt: skip
    return summary


@task(name="record-decisions", task_run_name="登记审批结果", cache_policy=NONE)
def record_decisions(
    settings: Settings, answer: Any, awaiting: list[dict[str, Any]], at: datetime
) -> list[str]:
    return apply_decisions(
        settings, decisions_from(answer, awaiting), by=answer.reviewer, note=answer.note, at=at
    )


@flow(name="office-approval", flow_run_name=named("审批"))
async def office_approval(
    policy_code: str, policy_name: str, awaiting: list[dict[str, Any]], as_of: datetime
) -> list[str]:
    """Pause until the office answers the form in the Prefect UI (or the wait runs out).

    The answer's moment is the run's ``as_of`` plus the time the pause took, so a replayed
    day records its decision on that day, and a live run at the real time. ``policy_code`` only
    names the run in the UI (陵川2023 审批 2023-04-10).
    """
    settings = current_settings()  # never a parameter: Prefect stores and shows those
    form = approval_model(awaiting, RunInput)
    started = time.monotonic()
    answer = await apause_flow_run(
        wait_for_input=form.with_initial_data(
            description=approval_description(policy_name, awaiting)
        ),
        timeout=settings.escalation.approval_wait_seconds,
        poll_interval=settings.escalation.approval_poll_seconds,
    )
    at = as_of + timedelta(seconds=time.monotonic() - started)
    return record_decisions(settings, answer, awaiting, at)


@task(name="publish-escalation", task_run_name="发布督办情况", cache_policy=NONE)
async def publish(summary: EscalationSummary) -> str:
    markdown = escalation_markdown(summary)
    await acreate_markdown_artifact(
        key=f"escalation-{summary.policy}", markdown=markdown,
        description=artifact_title(
            f"{policy_short(summary.policy)} 督办", summary.as_of, figures=False
        ),
    )  # fmt: skip
    return markdown


@flow(name="escalation", flow_run_name=named("督办"), log_prints=False)
async def escalation_flow(policy_code: str, as_of: datetime | None = None) -> EscalationSummary:
    """Run the escalation ladder for a day, send what it queued, leave the lists as artifact.

    With ``approval_wait_seconds`` set, proposals for 约谈 or county supervision wait in an
    ``office-approval`` sub-run, paused for the office's answer; left unanswered, that sub-run
    fails on its timeout, this run completes, and the proposals stay waiting.
    """
    settings = current_settings()  # never a parameter: Prefect stores and shows those
    summary = escalate(policy_code, local_moment(as_of), settings)
    delivered = await deliver(policy_code, settings)
    summary.mail = mail_lines(delivered, settings.smtp)
    summary.mail_pending = delivered.count("pending")
    await publish(summary)
    if summary.awaiting and settings.escalation.approval_wait_seconds > 0:
        await await_approval(summary, settings)
    return summary


async def await_approval(summary: EscalationSummary, settings: Settings) -> None:
    """The office's answer to the run's proposals, waited for in an ``office-approval`` sub-run
    (``approval_wait_seconds``), then the lists again. Apart from :func:`escalation_flow`, so a
    tick covering many policies waits for all their answers at once, not one policy after
    another."""
    state = await office_approval(
        summary.policy,
        summary.policy_name,
        summary.awaiting,
        summary.as_of,
        return_state=True,
    )
    if state.is_completed():
        summary.decisions = await state.aresult()
    else:
        get_run_logger().warning("等待时限内无人审批：%d 项仍待审批", len(summary.awaiting))
    refresh_lists(settings, summary)
    await publish(summary)
