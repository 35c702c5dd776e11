"""``taskforce serve``: tick flows on Asia/Shanghai schedules, one deployment per tick per policy.

Each tick first asks whether it should run at all (too late after downtime, a rest day, not a
consolidation day; tasks/serving.py decides), logs why when it does not, and otherwise runs the
existing flows as sub-runs, so the office finds their artifacts under the tick in the UI.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from prefect import Flow, flow, serve, task
from prefect.cache_policies import NONE
from prefect.deployments.runner import RunnerDeployment
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.schedules import Cron, Interval, Schedule
from prefect.types.entrypoint import EntrypointType

from config.settings import Settings, current_settings, use_settings
from flows.consolidation import annual_flow, consolidation_flow
from flows.escalation import escalation_flow
from flows.intake import intake_flow
from flows.reminders import reminders_flow
from flows.run_names import named
from models.db import session_scope
from tasks.calendar import SHANGHAI, WorkingCalendar, local_moment
from tasks.serving import (
    DueCycle,
    ScheduleSpec,
    TickOutcome,
    cycles_to_consolidate,
    deployment_specs,
    lateness_limit,
    non_working_reason,
    periodic_cycles,
    rollup_years,
    stale_reason,
    working_day_note,
)


def scheduled_start() -> datetime:
    """When Prefect meant this run to start (aware, UTC); now for a run started by hand."""
    moment = flow_run.scheduled_start_time
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def begin(
    kind: str, policy_code: str, as_of: datetime | None, settings: Settings, *, working_days: bool
) -> TickOutcome:
    """The checks every tick starts with: the stale guard, then (optionally) the calendar.

    The tick's clock is its scheduled time (or an explicit ``as_of``), read once here: a run
    that starts late still works on the day it was meant for.
    """
    logger = get_run_logger()
    scheduled = scheduled_start()
    moment = local_moment(as_of) if as_of is not None else scheduled.astimezone(SHANGHAI)
    outcome = TickOutcome(policy_code=policy_code, as_of=moment)
    limit = lateness_limit(kind, settings.serve)
    outcome.skipped = stale_reason(scheduled, datetime.now(UTC), limit)
    if outcome.skipped is None and working_days:
        calendar = WorkingCalendar.from_settings(settings)
        day = moment.astimezone(SHANGHAI).date()
        outcome.skipped = non_working_reason(day, calendar)
        if note := working_day_note(day, calendar):
            logger.info("%s：%s", policy_code, note)
    if outcome.skipped:
        logger.info("%s：%s", policy_code, outcome.skipped)
    return outcome


@flow(name="tick-reminders", flow_run_name=named("定时报送提醒", time=True), log_prints=False)
async def reminders_tick(policy_code: str, as_of: datetime | None = None) -> TickOutcome:
    """Working days 09:00: the day's opening notices and reminders, one-off and monthly."""
    outcome = begin("reminders", policy_code, as_of, current_settings(), working_days=True)
    if outcome.skipped:
        return outcome
    await reminders_flow(policy_code, outcome.as_of)
    outcome.ran.append("reminders")
    return outcome


@flow(name="tick-escalation", flow_run_name=named("定时督办", time=True), log_prints=False)
async def escalation_tick(policy_code: str, as_of: datetime | None = None) -> TickOutcome:
    """Working days 09:00: the escalation ladder, pausing for the office's approval."""
    settings = current_settings()
    outcome = begin("escalation", policy_code, as_of, settings, working_days=True)
    if outcome.skipped:
        return outcome
    # Served, proposals wait in the UI for a working day (the CLI default is not to wait).
    wait = settings.escalation.model_copy(
        update={"approval_wait_seconds": settings.serve.approval_wait_seconds}
    )
    with use_settings(settings.model_copy(update={"escalation": wait})):
        await escalation_flow(policy_code, outcome.as_of)
    outcome.ran.append("escalation")
    return outcome


@flow(name="tick-intake", flow_run_name=named("定时收取报送", time=True), log_prints=False)
async def intake_tick(policy_code: str) -> TickOutcome:
    """Every 10 minutes, every day: replies arrive at weekends too and get their receipt."""
    outcome = begin("intake", policy_code, None, current_settings(), working_days=False)
    if outcome.skipped:
        return outcome
    await intake_flow(policy_code, None)  # live: the wall clock
    outcome.ran.append("intake")
    return outcome


@task(name="cycles-to-consolidate", task_run_name="查找应汇总的报告期", cache_policy=NONE)
def due_today(policy_code: str, as_of: datetime, settings: Settings) -> list[DueCycle]:
    """The periodic cycles whose first working day after the deadline is today."""
    with session_scope(settings) as session:
        cycles = periodic_cycles(session, policy_code)
    calendar = WorkingCalendar.from_settings(settings)
    return cycles_to_consolidate(cycles, as_of.astimezone(SHANGHAI).date(), calendar)


@flow(name="tick-consolidation", flow_run_name=named("定时月度汇总", time=True), log_prints=False)
async def consolidation_tick(policy_code: str, as_of: datetime | None = None) -> TickOutcome:
    """Daily 09:30: consolidate the cycles whose deadline passed on the last working day."""
    settings = current_settings()
    outcome = begin("consolidation", policy_code, as_of, settings, working_days=False)
    if outcome.skipped:
        return outcome
    cycles = due_today(policy_code, outcome.as_of, settings)
    if not cycles:
        day = outcome.as_of.astimezone(SHANGHAI).date()
        outcome.skipped = f"{day} 不是定期报告截止后的第一个工作日：不汇总"
        get_run_logger().info("%s：%s", policy_code, outcome.skipped)
        return outcome
    for cycle in cycles:
        await consolidation_flow(policy_code, cycle.period, outcome.as_of, cycle.obligation)
        outcome.ran.append(f"monthly-consolidation {cycle.obligation} {cycle.period}")
    return outcome


@flow(name="tick-annual", flow_run_name=named("定时年度汇总", time=True), log_prints=False)
async def annual_tick(policy_code: str, as_of: datetime | None = None) -> TickOutcome:
    """Daily 10:00: on a consolidation day, the roll-up of that year so far (final in January)."""
    settings = current_settings()
    outcome = begin("annual", policy_code, as_of, settings, working_days=False)
    if outcome.skipped:
        return outcome
    years = rollup_years(due_today(policy_code, outcome.as_of, settings))
    if not years:
        outcome.skipped = (
            f"{outcome.as_of.astimezone(SHANGHAI).date()} 没有新汇总的月度报告：年度汇总不更新"
        )
        get_run_logger().info("%s：%s", policy_code, outcome.skipped)
        return outcome
    for year in years:
        await annual_flow(policy_code, year, outcome.as_of, None)
        outcome.ran.append(f"annual-rollup {year}")
    return outcome


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


def build_deployments(policy_codes: Sequence[str]) -> list[RunnerDeployment]:
    """The served deployments of these policies."""
    # What ``flow.to_deployment`` builds for a flow without remote storage, called directly:
    # ``to_deployment`` returns a coroutine when called from async code (tests, aserve).
    return [
        RunnerDeployment.from_flow(
            TICKS[spec.kind],
            name=spec.name,
            schedules=[prefect_schedule(spec.schedule)],
            parameters=spec.parameters,
            description=spec.description,
            tags=["taskforce", spec.name],
            # The packages are installed: the runner's sub-process imports the tick by module,
            # whatever directory serve was started from.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in deployment_specs(policy_codes)
    ]


def serve_policies(policy_codes: Sequence[str]) -> None:
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
