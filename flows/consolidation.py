"""Monthly consolidation: the office's summary table and the leaders' bulletin, as artifacts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from prefect import flow, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
)
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from config.settings import Settings, current_settings
from flows.delivery import deliver
from flows.run_names import named
from tasks.calendar import local_moment
from tasks.consolidation.bulletin import report_name
from tasks.consolidation.steps import (
    AnnualResult,
    ConsolidationResult,
    run_annual,
    run_consolidation,
)
from tasks.consolidation.workbook import status_table_rows
from tasks.mail.failures import mail_lines
from tasks.run_names import artifact_title


@task(name="consolidate-month", task_run_name="汇总并生成通报", cache_policy=NONE)
def consolidate_month(
    policy_code: str,
    period: str | None,
    obligation: str | None,
    as_of: datetime,
    settings: Settings,
) -> ConsolidationResult:
    """Consolidate one cycle and store its bulletin and workbook (a new version if changed)."""
    # now=as_of: the leaders' mail and the report's version are dated at the run's moment, so a
    # replayed month is dated in its own year (a live run's as_of is the wall clock anyway).
    result = run_consolidation(
        settings, policy_code, period=period, obligation=obligation, as_of=as_of, now=as_of
    )
    logger = get_run_logger()
    logger.info(
        "%s %s：第 %d 版（%s），存于 %s",
        policy_code, result.consolidation.source.period, result.version,
        "新版本" if result.new_version else "内容无变化，沿用", result.directory,
    )  # fmt: skip
    if result.pdf_missing:
        logger.warning("通报PDF未生成：%s。%s", result.pdf_missing, result.pdf_remedy)
    return result


@task(name="publish-consolidation", task_run_name="发布汇总表和通报", cache_policy=NONE)
async def publish(result: ConsolidationResult) -> None:
    """The office reads these on the flow run: the matrix, the bulletin, the share submitted;
    the bulletin's artifact opens with the run's mail outcome, as the command ends with it."""
    c = result.consolidation
    key = f"consolidation-{c.source.policy_code}"  # artifact keys allow only [a-z0-9-]
    title = f"{c.source.county} {report_name(c)}"
    await acreate_table_artifact(
        table=status_table_rows(c), key=f"{key}-matrix",
        description=artifact_title(f"{title} 报送情况", c.source.as_of),
    )  # fmt: skip
    # The mail line (counts and fixed reasons: no outside text), then, so that the office learns
    # here and not from a leader, that the mail went without the PDF.
    notes = f"> {result.mail[-1]}\n\n" if result.mail else ""
    if result.pdf_missing:
        notes += f"> **通报PDF未生成**：{result.pdf_missing}。{result.pdf_remedy}\n\n"
    await acreate_markdown_artifact(
        markdown=notes + result.markdown, key=f"{key}-bulletin",
        description=artifact_title(f"{title} 通报", c.source.as_of),
    )  # fmt: skip
    await acreate_progress_artifact(
        progress=round(100 * c.submitted_share, 1), key=f"{key}-submitted",
        description=artifact_title(f"{title} 已报送单位占比（%）", c.source.as_of),
    )  # fmt: skip


@flow(name="monthly-consolidation", flow_run_name=named("月度汇总", monthly=True), log_prints=False)
async def consolidation_flow(
    policy_code: str,
    period: str | None = None,
    as_of: datetime | None = None,
    obligation: str | None = None,
) -> ConsolidationResult:
    """Consolidate a policy's month (default: the cycle due most recently), publish, mail."""
    settings = current_settings()  # never a parameter: Prefect stores and shows those
    moment = local_moment(as_of)
    result = consolidate_month(policy_code, period, obligation, moment, settings)
    delivered = await deliver(policy_code, settings)
    # The bulletin's mail may not have gone (SMTP down): the command, its exit status and the
    # artifacts say so, not only a log.
    result = replace(
        result,
        mail=tuple(mail_lines(delivered, settings.smtp)),
        mail_pending=delivered.count("pending"),
    )
    await publish(result)
    return result


@task(name="annual-rollup", task_run_name="生成年度汇总", cache_policy=NONE)
async def annual_task(
    policy_code: str, year: str, obligation: str | None, as_of: datetime, settings: Settings
) -> AnnualResult:
    result = run_annual(
        settings, policy_code, year=year, obligation=obligation, as_of=as_of, now=as_of
    )
    rollup = result.rollup
    await acreate_markdown_artifact(
        markdown=result.markdown, key=f"annual-{policy_code}",
        description=artifact_title(
            f"{rollup.county}{year}年度{rollup.obligation_name}报送情况汇总", rollup.as_of
        ),
    )  # fmt: skip
    return result


@flow(name="annual-rollup", flow_run_name=named("年度汇总"), log_prints=False)
async def annual_flow(
    policy_code: str,
    year: str,
    as_of: datetime | None = None,
    obligation: str | None = None,
) -> AnnualResult:
    """Per unit for a year: on-time rate, months missing or late, targets reached, cases."""
    return await annual_task(policy_code, year, obligation, local_moment(as_of), current_settings())
