"""``taskforce serve`` and the work pool: five tick deployments whatever the number of policies.

Each tick first asks whether it should run at all (too late after downtime, a rest day; the
pure rules are in tasks/serving.py), logs why when it does not, and otherwise works on every
policy active on its day (or those named in ``policy_codes``). Policies run one after another
inside one slot of the Prefect global concurrency limit ``taskforce-policies``
(``TASKFORCE_POLICY_CONCURRENCY`` slots, across all ticks and workers), each policy's reminders
one task run; one policy's failure (its mailbox server down) is recorded in its row of the
tick's artifact and the others go on.

A tick that is a deployment run splits its policies into shards, as many as the work pool has
workers online (at most ``TASKFORCE_POLICY_CONCURRENCY``; under ``taskforce serve``, that many):
it works on the last shard itself and sends each other one to a sub-run of the same deployment
that any worker may take, so a province's policies spread over the machines. With one worker
online the tick does all the work in its own process: a sub-run costs a process start and its
bookkeeping, and one machine gains nothing from them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect import Flow, flow, serve, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NONE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    WorkerFilter,
    WorkerFilterStatus,
)
from prefect.client.schemas.objects import FlowRun
from prefect.concurrency.asyncio import concurrency
from prefect.context import FlowRunContext
from prefect.deployments.flow_runs import arun_deployment
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectAlreadyExists
from prefect.logging import get_run_logger
from prefect.runtime import flow_run, task_run
from prefect.schedules import Cron, Interval, Schedule
from prefect.states import Failed
from prefect.types.entrypoint import EntrypointType

from config.settings import Settings, current_settings, use_settings
from flows.consolidation import annual_flow, consolidation_flow
from flows.escalation import await_approval, escalation_flow
from flows.intake import intake_flow
from flows.reminders import remind_steps
from flows.run_names import policy_short, tick_named
from models.db import session_scope
from tasks.calendar import SHANGHAI, WorkingCalendar, local_moment
from tasks.escalation.steps import EscalationSummary
from tasks.render import render_report
from tasks.run_names import artifact_title, as_of_text
from tasks.serving import (
    DueCycle,
    ScheduleSpec,
    TickOutcome,
    TickReport,
    active_policy_codes,
    cycles_to_consolidate,
    deployment_specs,
    lateness_limit,
    non_working_reason,
    periodic_cycles,
    ran_text,
    rollup_years,
    shard_total,
    shards,
    stale_reason,
    working_day_note,
)

logger = logging.getLogger(__name__)

# The global concurrency limit every tick's policies share, its size set from the settings.
POLICY_LIMIT = "taskforce-policies"
# A slot held by a process that died (a worker's machine lost) is free again after this long.
SLOT_LEASE_SECONDS = 60
# How often a tick that split its policies asks the server whether its sub-runs have finished.
SHARD_POLL_SECONDS = 2
TITLES = {
    "reminders": "定时报送提醒",
    "escalation": "定时督办",
    "intake": "定时收取报送",
    "consolidation": "定时月度汇总",
    "annual": "定时年度汇总",
}


def this_deployment_id() -> UUID | None:
    """The deployment this run belongs to; None for a flow called directly (tests, the CLI)."""
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    return run.deployment_id if run is not None else None


def scheduled_start() -> datetime:
    """When Prefect meant this run to start (aware, UTC); now for a run started by hand."""
    moment = flow_run.scheduled_start_time
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def begin(
    kind: str, as_of: datetime | None, settings: Settings, *, working_days: bool
) -> TickReport:
    """The checks every tick starts with: the stale guard, then (optionally) the calendar.

    The tick's clock is its scheduled time (or an explicit ``as_of``), read once here: a run
    that starts late still works on the day it was meant for.
    """
    log = get_run_logger()
    scheduled = scheduled_start()
    moment = local_moment(as_of) if as_of is not None else scheduled.astimezone(SHANGHAI)
    report = TickReport(kind=kind, as_of=moment)
    limit = lateness_limit(kind, settings.serve)
    report.skipped = stale_reason(scheduled, datetime.now(UTC), limit)
    if report.skipped is None and working_days:
        calendar = WorkingCalendar.from_settings(settings)
        day = moment.astimezone(SHANGHAI).date()
        report.skipped = non_working_reason(day, calendar)
        if note := working_day_note(day, calendar):
            log.info("今日：%s", note)
    if report.skipped:
        log.info("本次定时运行：%s", report.skipped)
    return report


# -- one policy's work, per tick kind ----------------------------------------------------------
# Each raises on failure; the tick records it against the policy and goes on with the next.

PolicyStep = Callable[[str, datetime, Settings], Awaitable[TickOutcome]]


def _reminders_task_name() -> str:
    return f"{policy_short(str(task_run.parameters.get('policy_code', '')))} 报送提醒"


@task(name="policy-reminders", task_run_name=_reminders_task_name, cache_policy=NONE)
async def remind_one(policy_code: str, as_of: datetime, settings: Settings) -> dict[str, Any]:
    """One policy's notices and reminders of the day: the reminders flow's steps, one task run.

    Not the flow as a sub-run: a province's tick has a hundred policies, and a flow run with its
    three task runs and a concurrency slot of its own cost tenths of a second each (issue 22 §3).
    """
    return await remind_steps(policy_code, local_moment(as_of), settings)


async def remind_policy(code: str, moment: datetime, settings: Settings) -> TickOutcome:
    await remind_one(code, moment, settings)
    return TickOutcome(policy_code=code, as_of=moment, ran=["reminders"])


async def escalate_policy(
    code: str, moment: datetime, settings: Settings, *, waiting: list[EscalationSummary]
) -> TickOutcome:
    # No pause inside the slot: the tick waits for the office once every policy has run.
    no_wait = settings.escalation.model_copy(update={"approval_wait_seconds": 0})
    with use_settings(settings.model_copy(update={"escalation": no_wait})):
        summary = await escalation_flow(code, moment)
    if summary.awaiting:
        waiting.append(summary)
    return TickOutcome(policy_code=code, as_of=moment, ran=["escalation"])


async def take_in_policy(code: str, moment: datetime, settings: Settings) -> TickOutcome:
    await intake_flow(code, None, moment)
    return TickOutcome(policy_code=code, as_of=moment, ran=["intake"])


@task(name="cycles-to-consolidate", task_run_name="查找应汇总的报告期", cache_policy=NONE)
def due_today(policy_code: str, as_of: datetime, settings: Settings) -> list[DueCycle]:
    """The periodic cycles whose first working day after the deadline is today."""
    with session_scope(settings) as session:
        cycles = periodic_cycles(session, policy_code)
    calendar = WorkingCalendar.from_settings(settings)
    return cycles_to_consolidate(cycles, as_of.astimezone(SHANGHAI).date(), calendar)


async def consolidate_policy(code: str, moment: datetime, settings: Settings) -> TickOutcome:
    outcome = TickOutcome(policy_code=code, as_of=moment)
    cycles = due_today(code, moment, settings)
    if not cycles:
        day = moment.astimezone(SHANGHAI).date()
        outcome.skipped = f"{day} 不是定期报告截止后的第一个工作日：不汇总"
        return outcome
    for cycle in cycles:
        await consolidation_flow(code, cycle.period, moment, cycle.obligation)
        outcome.ran.append(f"monthly-consolidation {cycle.obligation} {cycle.period}")
    return outcome


async def roll_up_policy(code: str, moment: datetime, settings: Settings) -> TickOutcome:
    outcome = TickOutcome(policy_code=code, as_of=moment)
    years = rollup_years(due_today(code, moment, settings))
    if not years:
        day = moment.astimezone(SHANGHAI).date()
        outcome.skipped = f"{day} 没有新汇总的月度报告：年度汇总不更新"
        return outcome
    for year in years:
        await annual_flow(code, year, moment, None)
        outcome.ran.append(f"annual-rollup {year}")
    return outcome


STEPS: dict[str, PolicyStep] = {
    "reminders": remind_policy,
    "intake": take_in_policy,
    "consolidation": consolidate_policy,
    "annual": roll_up_policy,
}


# -- a tick over policies -----------------------------------------------------------------------


async def ensure_policy_limit(settings: Settings) -> None:
    """The global concurrency limit, created or resized to the setting on every tick."""
    async with get_client() as client:
        try:
            await client.upsert_global_concurrency_limit_by_name(
                POLICY_LIMIT, settings.policy_concurrency
            )
        except ObjectAlreadyExists:
            # Prefect's upsert reads, then creates: a tick that started at the same moment
            # created it in between. It exists now, so this upsert only resizes it.
            await client.upsert_global_concurrency_limit_by_name(
                POLICY_LIMIT, settings.policy_concurrency
            )


def describe(exc: BaseException) -> str:
    """An error as the office reads it in the artifact: its message, else its kind."""
    return str(exc).strip() or type(exc).__name__


async def run_policies(
    kind: str, codes: Sequence[str], moment: datetime, settings: Settings
) -> list[TickOutcome]:
    """Each policy's work in turn, all in one slot of the global limit (a slot per policy
    cost two API calls each); a failure is recorded against its policy and the next goes on."""
    waiting: list[EscalationSummary] = []
    outcomes: list[TickOutcome] = []
    try:
        if codes:
            async with concurrency(POLICY_LIMIT, occupy=1, lease_duration=SLOT_LEASE_SECONDS):
                for code in codes:
                    outcomes.append(await run_policy(kind, code, moment, settings, waiting))
    except Exception as exc:  # the slot itself (the server): every policy not run says so
        logger.exception("%s 定时任务未能取得并发名额（错误详情如下）", kind)
        done = {o.policy_code for o in outcomes}
        outcomes += [
            TickOutcome(policy_code=code, as_of=moment, error=describe(exc))
            for code in codes
            if code not in done
        ]
    if waiting and settings.serve.approval_wait_seconds > 0:
        # Served, proposals wait in the UI for a working day, all policies' at once.
        wait = settings.escalation.model_copy(
            update={"approval_wait_seconds": settings.serve.approval_wait_seconds}
        )
        waited = settings.model_copy(update={"escalation": wait})
        with use_settings(waited):
            await asyncio.gather(*(await_approval(s, waited) for s in waiting))
    return outcomes


async def run_policy(
    kind: str,
    code: str,
    moment: datetime,
    settings: Settings,
    waiting: list[EscalationSummary],
) -> TickOutcome:
    """One policy's work; its failure becomes its outcome and is logged."""
    log = get_run_logger()
    try:
        if kind == "escalation":
            outcome = await escalate_policy(code, moment, settings, waiting=waiting)
        else:
            outcome = await STEPS[kind](code, moment, settings)
    except Exception as exc:  # one policy's failure (a mailbox server down) stops no other
        logger.exception("%s 定时任务中 %s 出错（错误详情如下）", kind, code)
        log.error("%s：出错，其余政策照常运行：%s", code, describe(exc))
        outcome = TickOutcome(policy_code=code, as_of=moment, error=describe(exc))
    if outcome.skipped:
        log.info("%s：%s", code, outcome.skipped)
    return outcome


def shard_parameters(shard: list[str], as_of: datetime | None) -> dict[str, Any]:
    """A sub-run's parameters: its policies, and the tick's explicit day if it had one."""
    return {"policy_codes": shard} | ({"as_of": as_of.isoformat()} if as_of else {})


async def online_workers() -> int | None:
    """How many workers of this run's work pool are online; None outside a pool (serve)."""
    context = FlowRunContext.get()
    pool = context.flow_run.work_pool_name if context and context.flow_run else None
    if pool is None:
        return None
    online = WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"]))
    async with get_client() as client:
        return len(await client.read_workers_for_work_pool(pool, worker_filter=online))


async def run_shards(
    kind: str,
    parts: list[list[str]],
    as_of: datetime | None,
    moment: datetime,
    settings: Settings,
) -> list[TickOutcome]:
    """All shards but the last sent to sub-runs of this deployment, the last worked on here
    meanwhile; the sub-runs' outcomes read back from the table artifact each one leaves (a
    sub-run may run on another machine)."""
    deployment_id = this_deployment_id()
    assert deployment_id is not None  # run_tick splits only a deployment's run
    *sent, own = parts
    runs_and_own = await asyncio.gather(
        asyncio.gather(
            *(
                arun_deployment(
                    name=deployment_id,
                    parameters=shard_parameters(part, as_of),
                    timeout=None,
                    poll_interval=SHARD_POLL_SECONDS,
                )
                for part in sent
            )
        ),
        run_policies(kind, own, moment, settings),
    )
    runs: list[FlowRun] = list(runs_and_own[0])
    outcomes: list[TickOutcome] = []
    async with get_client() as client:
        for part, run in zip(sent, runs, strict=True):
            rows = await shard_rows(client, run.id)
            for code in part:
                if code in rows:
                    outcomes.append(outcome_from_row(code, moment, rows[code]))
                else:
                    state = run.state.name if run.state else "未知"
                    error = f"子运行“{run.name}”结束于 {state}，未报告本政策的结果；下次运行补做"
                    outcomes.append(TickOutcome(policy_code=code, as_of=moment, error=error))
    return outcomes + runs_and_own[1]


# The table artifact's columns: what a parent tick reads back from its sub-runs.
RESULT_RAN, RESULT_SKIPPED, RESULT_FAILED = "完成", "无事可做", "出错"


def outcome_row(outcome: TickOutcome) -> dict[str, str]:
    """One policy's row of a tick's table artifact."""
    if outcome.error is not None:
        result, detail = RESULT_FAILED, outcome.error
    elif outcome.skipped:
        result, detail = RESULT_SKIPPED, outcome.skipped
    else:
        result, detail = RESULT_RAN, "；".join(outcome.ran)
    return {"policy_code": outcome.policy_code, "result": result, "detail": detail}


def outcome_from_row(code: str, moment: datetime, row: dict[str, str]) -> TickOutcome:
    outcome = TickOutcome(policy_code=code, as_of=moment)
    if row["result"] == RESULT_FAILED:
        outcome.error = row["detail"]
    elif row["result"] == RESULT_SKIPPED:
        outcome.skipped = row["detail"]
    else:
        outcome.ran = row["detail"].split("；") if row["detail"] else []
    return outcome


async def shard_rows(client: Any, run_id: UUID) -> dict[str, dict[str, str]]:
    """The rows a sub-run's table artifact holds, by policy code (none if it left none)."""
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            type=ArtifactFilterType(any_=["table"]),
        )
    )
    rows: dict[str, dict[str, str]] = {}
    for artifact in artifacts:
        # The server keeps a table's rows as JSON text.
        data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
        for row in data if isinstance(data, list) else []:
            rows[str(row["policy_code"])] = {k: str(v) for k, v in row.items()}
    return rows


async def publish(report: TickReport, *, keyed: bool) -> None:
    """The tick's outcome per policy: a table (read back by a parent tick) and, for the office,
    markdown under the key ``tick-<kind>`` (a sub-run's is left unkeyed, seen under its run)."""
    ordered = sorted(report.policies, key=lambda o: (o.error is None, o.policy_code))
    await acreate_table_artifact(
        table=[outcome_row(o) for o in ordered],
        description=f"{TITLES[report.kind]}：各政策结果",
    )
    rows = [
        (
            policy_short(o.policy_code),
            row["result"],
            "；".join(ran_text(r) for r in o.ran) if row["result"] == RESULT_RAN else row["detail"],
        )
        for o, row in ((o, outcome_row(o)) for o in ordered)
    ]
    counts = {
        "ran": sum(r[1] == RESULT_RAN for r in rows),
        "skipped": sum(r[1] == RESULT_SKIPPED for r in rows),
        "failed": sum(r[1] == RESULT_FAILED for r in rows),
    }
    moment = report.as_of.astimezone(SHANGHAI)
    await acreate_markdown_artifact(
        key=f"tick-{report.kind}" if keyed else None,
        markdown=render_report(
            "tick.md",
            title=TITLES[report.kind],
            as_of=as_of_text(moment),
            skipped=report.skipped,
            rows=rows,
            counts=counts,
        ),
        description=artifact_title(TITLES[report.kind], moment, figures=False),
    )


async def run_tick(
    kind: str,
    policy_codes: list[str] | None,
    as_of: datetime | None,
    *,
    working_days: bool,
) -> Any:
    """A tick: the checks, the policies (given, or those active on its day), their work (here
    or in sub-runs), the artifact. The report, or a Failed state carrying it when a policy's
    work failed (the run shows red in the UI; the artifacts say which policy and why)."""
    settings = current_settings()
    report = begin(kind, as_of, settings, working_days=working_days)
    is_sub_run = flow_run.parent_flow_run_id is not None and policy_codes is not None
    if report.skipped is None:
        if policy_codes is None:
            with session_scope(settings) as session:
                codes = active_policy_codes(session, report.as_of.astimezone(SHANGHAI).date())
        else:
            codes = list(dict.fromkeys(policy_codes))
        await ensure_policy_limit(settings)
        split = policy_codes is None and this_deployment_id() is not None
        count = shard_total(len(codes), settings.policy_concurrency, await online_workers())
        parts = shards(codes, count) if split else []
        if len(parts) > 1:
            explicit = local_moment(as_of) if as_of is not None else None
            report.policies = await run_shards(kind, parts, explicit, report.as_of, settings)
        else:
            report.policies = await run_policies(kind, codes, report.as_of, settings)
    await publish(report, keyed=not is_sub_run)
    if report.failed:
        names = "、".join(policy_short(o.policy_code) for o in report.failed)
        # No data: a Failed state's data would be persisted as a result file on the worker.
        return Failed(message=f"{len(report.failed)} 项政策出错：{names}")
    return report


@flow(name="tick-reminders", flow_run_name=tick_named("定时报送提醒"), log_prints=False)
async def reminders_tick(
    policy_codes: list[str] | None = None, as_of: datetime | None = None
) -> TickReport:
    """Working days 09:00: the day's opening notices and reminders, one-off and monthly."""
    return await run_tick("reminders", policy_codes, as_of, working_days=True)


@flow(name="tick-escalation", flow_run_name=tick_named("定时督办"), log_prints=False)
async def escalation_tick(
    policy_codes: list[str] | None = None, as_of: datetime | None = None
) -> TickReport:
    """Working days 09:00: the escalation ladder, pausing for the office's approval."""
    return await run_tick("escalation", policy_codes, as_of, working_days=True)


@flow(name="tick-intake", flow_run_name=tick_named("定时收取报送"), log_prints=False)
async def intake_tick(
    policy_codes: list[str] | None = None, as_of: datetime | None = None
) -> TickReport:
    """Every 10 minutes, every day: replies arrive at weekends too and get their receipt."""
    return await run_tick("intake", policy_codes, as_of, working_days=False)


@flow(name="tick-consolidation", flow_run_name=tick_named("定时月度汇总"), log_prints=False)
async def consolidation_tick(
    policy_codes: list[str] | None = None, as_of: datetime | None = None
) -> TickReport:
    """Daily 09:30: consolidate the cycles whose deadline passed on the last working day."""
    return await run_tick("consolidation", policy_codes, as_of, working_days=False)


@flow(name="tick-annual", flow_run_name=tick_named("定时年度汇总"), log_prints=False)
async def annual_tick(
    policy_codes: list[str] | None = None, as_of: datetime | None = None
) -> TickReport:
    """Daily 10:00: on a consolidation day, the roll-up of that year so far (final in January)."""
    return await run_tick("annual", policy_codes, as_of, working_days=False)


TICKS: dict[str, Flow[Any, Any]] = {
    "reminders": reminders_tick,
    "escalation": escalation_tick,
    "intake": intake_tick,
    "consolidation": consolidation_tick,
    "annual": annual_tick,
}


def prefect_schedule(spec: ScheduleSpec) -> Schedule:
    """The Prefect schedule of a spec, its timezone always set."""
    if spec.interval is not None:
        # Anchored at a local midnight so intake runs at :00, :10, … whenever serve starts.
        return Interval(spec.interval, anchor_date=spec.anchor, timezone=spec.timezone)
    assert spec.cron is not None
    return Cron(spec.cron, timezone=spec.timezone)


def build_deployments(policy_codes: Sequence[str] | None = None) -> list[RunnerDeployment]:
    """The five served deployments: each run finds the active policies itself, or covers only
    ``policy_codes`` (``taskforce serve --policy``), passed as the runs' default parameter."""
    # What ``flow.to_deployment`` builds for a flow without remote storage, called directly:
    # ``to_deployment`` returns a coroutine when called from async code (tests, aserve).
    return [
        RunnerDeployment.from_flow(
            TICKS[spec.kind],
            name=spec.name,
            schedules=[prefect_schedule(spec.schedule)],
            parameters=spec.parameters
            | ({"policy_codes": list(policy_codes)} if policy_codes else {}),
            description=spec.description,
            tags=["taskforce"],
            # The packages are installed: the runner's sub-process imports the tick by module,
            # whatever directory serve was started from.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in deployment_specs()
    ]


def serve_ticks(policy_codes: Sequence[str] | None = None) -> None:
    """Register the deployments and run their schedules until stopped (Ctrl-C, SIGTERM).

    Stopping pauses every served deployment: Prefect stops scheduling them and drops their
    future scheduled runs, so a stop for maintenance leaves no runs waiting hours for a
    process that is gone (turning Late). Starting again re-registers them unpaused (Prefect
    sends ``paused=False`` with each update), which also resumes a deployment paused by hand
    in the UI; a kill -9 or a crash pauses nothing, and the lateness guard skips the replay.
    """
    # Prefect's SIGTERM handler calls the sync ``Runner.stop`` inside the event loop, where it
    # returns an ``astop`` coroutine it never awaits; the shutdown still pauses (it comes from
    # ``sys.exit`` unwinding the runner), so the warning would only alarm the office.
    warnings.filterwarnings(
        "ignore", message="coroutine 'Runner.astop' was never awaited", category=RuntimeWarning
    )
    serve(
        *build_deployments(policy_codes),
        pause_on_shutdown=True,  # Prefect's default, chosen on purpose (see above)
        print_starting_message=False,
    )
