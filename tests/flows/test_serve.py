"""``taskforce serve``: the schedule decisions as plain functions, the five deployments it
builds, the ticks over policies under a real Prefect server, and the command registering them
against a server. The work pool with two workers is tests/flows/test_workers.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
import yaml
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from config.settings import ServeSettings, Settings, use_settings
from flows.serve import (
    POLICY_LIMIT,
    TICKS,
    annual_tick,
    build_deployments,
    consolidation_tick,
    ensure_policy_limit,
    escalation_tick,
    intake_tick,
    reminders_tick,
)
from models.db import session_scope
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.serving import (
    ACTIVE_TAIL,
    DEPLOYMENT_NAME,
    DueCycle,
    active_policy_codes,
    consolidation_day,
    cycles_to_consolidate,
    deployment_specs,
    is_active,
    lateness_limit,
    non_working_reason,
    periodic_cycles,
    rollup_years,
    shard_total,
    shards,
    stale_reason,
    working_day_note,
)
from tests.helpers import ROOT, at, load_seeds
from tests.smtp_server import SmtpServer

SEEDS = ("lingchuan-2023", "xinjiang-2022")
CALENDAR = WorkingCalendar()  # chinesecalendar only, as the settings fixture has no files
KINDS = {
    "tick-reminders": ("cron", "0 9 * * *"),
    "tick-escalation": ("cron", "0 9 * * *"),
    "tick-intake": ("interval", timedelta(minutes=10)),
    "tick-consolidation": ("cron", "30 9 * * *"),
    "tick-annual": ("cron", "0 10 * * *"),
}


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


# -- the stale guard --------------------------------------------------------------------------

SIX_HOURS = timedelta(minutes=ServeSettings().max_lateness_minutes)


@pytest.mark.parametrize(
    ("scheduled", "now", "stale"),
    [
        # The 09:00 tick started at 09:00:05: on time.
        (
            shanghai(date(2023, 2, 6), 9),
            shanghai(date(2023, 2, 6), 9) + timedelta(seconds=5),
            False,
        ),
        # The machine came back at 14:59: today's run still goes, within the office day.
        (shanghai(date(2023, 2, 6), 9), shanghai(date(2023, 2, 6), 14, 59), False),
        # Exactly at the limit still runs; a second later it does not.
        (shanghai(date(2023, 2, 6), 9), shanghai(date(2023, 2, 6), 15), False),
        (
            shanghai(date(2023, 2, 6), 9),
            shanghai(date(2023, 2, 6), 15) + timedelta(seconds=1),
            True,
        ),
        # Friday's tick replayed on Monday morning after a weekend outage.
        (shanghai(date(2023, 2, 3), 9), shanghai(date(2023, 2, 6), 9, 2), True),
    ],
)
def test_stale_guard_for_daily_ticks(scheduled: datetime, now: datetime, stale: bool) -> None:
    reason = stale_reason(scheduled, now, lateness_limit("reminders", ServeSettings()))
    assert (reason is not None) == stale


def test_stale_reason_names_the_run_in_beijing_time_and_compares_aware_times() -> None:
    scheduled = datetime(2023, 2, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    reason = stale_reason(scheduled, datetime(2023, 2, 5, 3, 30, tzinfo=UTC), SIX_HOURS)
    assert reason == (
        "计划于 2023-02-03 09:00（北京时间）的运行已推迟 50 小时 30 分钟，"
        "超过上限 6 小时 0 分钟，跳过（停机后补跑的过期运行）"
    )


def test_intake_never_waits_longer_than_its_interval() -> None:
    assert lateness_limit("intake", ServeSettings()) == timedelta(minutes=10)
    assert lateness_limit("intake", ServeSettings(max_lateness_minutes=5)) == timedelta(minutes=5)
    assert lateness_limit("escalation", ServeSettings(max_lateness_minutes=90)) == timedelta(
        minutes=90
    )
    # An hour's outage: of the six intake runs missed, only the last (9 minutes late) runs.
    back = shanghai(date(2023, 2, 6), 10, 59)
    missed = [shanghai(date(2023, 2, 6), 10, m) for m in range(0, 60, 10)]
    limit = lateness_limit("intake", ServeSettings())
    assert [stale_reason(m, back, limit) is None for m in missed] == [False] * 5 + [True]


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKFORCE_SERVE_MAX_LATENESS_MINUTES", "45")
    monkeypatch.setenv("TASKFORCE_SERVE_APPROVAL_WAIT_SECONDS", "600")
    assert Settings().serve == ServeSettings(max_lateness_minutes=45, approval_wait_seconds=600)


# -- working days and consolidation days ------------------------------------------------------


def test_spring_festival_2023_rest_days_and_the_worked_saturday() -> None:
    for offset in range(7):  # 21-27 January: the holiday, weekend included
        day = date(2023, 1, 21) + timedelta(days=offset)
        assert non_working_reason(day, CALENDAR) is not None, day
    assert non_working_reason(date(2023, 1, 23), CALENDAR) == (
        "2023年1月23日（星期一）是法定节假日，不是工作日：今日不运行"
    )
    assert non_working_reason(date(2023, 1, 22), CALENDAR) == (
        "2023年1月22日（星期日）是休息日，不是工作日：今日不运行"
    )
    # 28 January, a Saturday, is worked in lieu: the ticks run and say why.
    assert non_working_reason(date(2023, 1, 28), CALENDAR) is None
    assert (
        working_day_note(date(2023, 1, 28), CALENDAR)
        == "2023年1月28日（星期六）为调休工作日，照常运行"
    )
    assert working_day_note(date(2023, 1, 30), CALENDAR) is None


@pytest.mark.parametrize(
    ("due", "consolidated"),
    [
        (date(2023, 2, 5), date(2023, 2, 6)),  # 陵川 January report due on a Sunday
        (date(2023, 4, 5), date(2023, 4, 6)),  # due on 清明 (a Wednesday): the next day
        (date(2023, 1, 20), date(2023, 1, 28)),  # across the Spring Festival to the 调休 Saturday
        (date(2023, 10, 5), date(2023, 10, 7)),  # National Day: the 调休 Saturday after it
        (date(2022, 11, 10), date(2022, 11, 11)),  # 新绛 October summary, due on a Thursday
    ],
)
def test_consolidation_day_is_the_first_working_day_after_the_due_day(
    due: date, consolidated: date
) -> None:
    assert consolidation_day(due, CALENDAR) == consolidated


def test_cycles_to_consolidate_from_the_loaded_policy(settings: Settings) -> None:
    load_seeds(settings, "lingchuan-2023")
    with session_scope(settings) as session:
        cycles = periodic_cycles(session, "lingchuan-2023")
    assert len(cycles) == 12 and cycles[0] == DueCycle(
        "monthly-progress", "2023-01", date(2023, 2, 5)
    )
    # Sunday 5 February is the deadline; Monday 6 February consolidates January, and only then.
    for day in (date(2023, 2, 5), date(2023, 2, 7), date(2023, 3, 5)):
        assert cycles_to_consolidate(cycles, day, CALENDAR) == [], day
    [due] = cycles_to_consolidate(cycles, date(2023, 2, 6), CALENDAR)
    assert (due.obligation, due.period) == ("monthly-progress", "2023-01")
    # September's report is due on 5 October, inside the National Day holiday.
    [september] = cycles_to_consolidate(cycles, date(2023, 10, 7), CALENDAR)
    assert september.period == "2023-09"
    # December's report (due 5 January 2024) closes the year: the roll-up of 2023 is final.
    [december] = cycles_to_consolidate(cycles, date(2024, 1, 8), CALENDAR)
    assert december.period == "2023-12" and rollup_years([december]) == ["2023"]
    # Every month is consolidated exactly once over the year.
    days = [date(2023, 2, 1) + timedelta(days=n) for n in range(400)]
    found = [c.period for d in days for c in cycles_to_consolidate(cycles, d, CALENDAR)]
    assert found == [f"2023-{m:02d}" for m in range(1, 13)]


# -- which policies a tick covers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "active"),
    [
        (date(2023, 1, 11), False),  # the day before the notice's start
        (date(2023, 1, 12), True),
        (date(2023, 12, 31), True),  # its end
        # December's report is due on 5 January 2024; consolidated on the 8th, with the final
        # annual roll-up; its 督办单 and 13710 clocks run on: active 45 days after that due day.
        (date(2024, 1, 8), True),
        (date(2024, 2, 19), True),
        (date(2024, 2, 20), False),
    ],
)
def test_a_policy_is_active_from_its_start_to_the_tail_after_its_last_due_day(
    day: date, active: bool
) -> None:
    assert timedelta(days=45) == ACTIVE_TAIL
    assert is_active(date(2023, 1, 12), date(2023, 12, 31), date(2024, 1, 5), day) is active


def test_a_policy_without_cycles_is_active_until_the_tail_after_its_end() -> None:
    assert is_active(date(2023, 1, 1), date(2023, 6, 30), None, date(2023, 8, 14))
    assert not is_active(date(2023, 1, 1), date(2023, 6, 30), None, date(2023, 8, 15))


def test_the_active_policies_of_a_day_from_the_loaded_seeds(settings: Settings) -> None:
    load_seeds(settings)
    with session_scope(settings) as session:
        found = {d: active_policy_codes(session, d) for d in SEED_DAYS}
    assert found == SEED_DAYS


SEED_DAYS = {
    date(2022, 10, 18): [],
    date(2022, 11, 1): ["xinjiang-2022"],
    # 新绛's December summary is due on 10 January 2023: both run in January and February.
    date(2023, 1, 20): ["lingchuan-2023", "xinjiang-2022"],
    date(2023, 2, 24): ["lingchuan-2023", "xinjiang-2022"],
    date(2023, 2, 25): ["lingchuan-2023"],
    date(2024, 3, 1): [],
}


def test_shards_deal_policies_round_robin() -> None:
    codes = [f"p{n:03d}" for n in range(10)]
    parts = shards(codes, 4)
    assert [len(p) for p in parts] == [3, 3, 2, 2]
    assert sorted(c for p in parts for c in p) == codes
    assert shards(codes[:2], 4) == [["p000"], ["p001"]]
    assert shards([], 4) == []
    assert shards(codes, 1) == [codes]


# -- the deployments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policies", "concurrency", "workers", "expected"),
    [
        (120, 4, 1, 1),  # one machine: the tick does it all, no sub-run
        (120, 4, 2, 2),
        (120, 4, 9, 4),  # never more than the concurrency setting
        (120, 4, None, 4),  # taskforce serve: no work pool
        (1, 4, 2, 1),
        (0, 4, 2, 1),
    ],
)
def test_a_tick_takes_a_shard_per_online_worker(
    policies: int, concurrency: int, workers: int | None, expected: int
) -> None:
    assert shard_total(policies, concurrency, workers) == expected


def test_five_deployments_whatever_the_policies_with_timezone_and_no_policy_code() -> None:
    deployments = build_deployments()
    assert sorted((d.flow_name, d.name) for d in deployments) == sorted(
        (flow, DEPLOYMENT_NAME) for flow in KINDS
    )
    for d in deployments:
        assert d.parameters == {}  # each run finds the active policies, or is given some
        assert d.entrypoint == f"flows.serve.{TICKS_BY_FLOW[str(d.flow_name)]}"
        [schedule] = d.schedules or []
        inner = schedule.schedule
        kind, value = KINDS[str(d.flow_name)]
        assert inner.timezone == "Asia/Shanghai"
        if kind == "cron":
            assert isinstance(inner, CronSchedule) and inner.cron == value
        else:
            assert isinstance(inner, IntervalSchedule) and inner.interval == value
            assert inner.anchor_date.astimezone(SHANGHAI).time().minute == 0


def test_serve_policy_restricts_the_runs_by_their_default_parameter() -> None:
    """``taskforce serve --policy X``: the same five deployments, their runs covering only X."""
    deployments = build_deployments(["lingchuan-2023"])
    assert sorted(d.name for d in deployments) == [DEPLOYMENT_NAME] * 5
    assert all(d.parameters == {"policy_codes": ["lingchuan-2023"]} for d in deployments)


TICKS_BY_FLOW = {f.name: f.fn.__name__ for f in TICKS.values()}


def test_prefect_yaml_declares_the_same_deployments() -> None:
    """The work-pool deployments (section 3) are the served ones: names, entrypoints, schedules."""
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    declared = {}
    for d in config["deployments"]:
        module, function = d["entrypoint"].split(":")
        assert module == "flows/serve.py" and d["work_pool"]["name"] == "taskforce"
        [schedule] = d["schedules"]
        assert schedule["timezone"] == "Asia/Shanghai"
        value = schedule.get("cron") or timedelta(seconds=schedule["interval"])
        anchor = schedule.get("anchor_date")
        anchor = datetime.fromisoformat(anchor) if anchor else None
        parameters = d.get("parameters", {})
        declared[(function, d["name"])] = (parameters, value, anchor, d["description"])
    expected = {
        (TICKS[s.kind].fn.__name__, s.name): (
            s.parameters,
            s.schedule.cron or s.schedule.interval,
            s.schedule.anchor,
            s.description,
        )
        for s in deployment_specs()
    }
    assert declared == expected
    text = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert not any(code in text for code in SEEDS)  # nothing to add when a policy is loaded


async def test_the_deployments_register_with_their_schedules(prefect_server: None) -> None:
    """What ``serve`` sends the API, applied directly (``serve`` itself is tested below)."""
    ids = [await d.aapply() for d in build_deployments()]
    async with get_client() as client:
        stored = [await client.read_deployment(i) for i in ids]
    assert {(d.name, str(d.parameters)) for d in stored} == {(DEPLOYMENT_NAME, "{}")}
    schedules = sorted(
        (s.schedule.model_dump(exclude={"anchor_date"}, exclude_none=True).items(), s.active)
        for d in stored
        for s in d.schedules
    )
    assert all(active for _, active in schedules)
    assert all(dict(items)["timezone"] == "Asia/Shanghai" for items, _ in schedules)
    assert sorted(
        str(dict(items).get("cron") or dict(items)["interval"]) for items, _ in schedules
    ) == ["0 10 * * *", "0 9 * * *", "0 9 * * *", "0:10:00", "30 9 * * *"]


# -- the ticks under a real Prefect server ----------------------------------------------------


def with_smtp(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return settings.model_copy(update={"smtp": smtp_server.smtp_settings()})


async def test_ticks_starting_together_all_get_the_policy_limit(
    prefect_server: None, settings: Settings
) -> None:
    """Prefect's upsert of a global limit reads, then creates: two ticks that start at the same
    moment on a fresh server both found no limit, and the second create failed its tick (the
    reminders and intake ticks of the worker test, once in CI). Each must go on instead."""
    async with get_client() as client:
        with contextlib.suppress(ObjectNotFound):
            await client.delete_global_concurrency_limit_by_name(POLICY_LIMIT)
    sized = settings.model_copy(update={"policy_concurrency": 5})
    await asyncio.gather(*(ensure_policy_limit(sized) for _ in range(6)))
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(POLICY_LIMIT)
    assert limit.limit == 5


async def test_the_daily_ticks_do_nothing_on_a_rest_day(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    settings = with_smtp(load_seeds(settings, "lingchuan-2023"), smtp_server)
    # Sunday 22 January 2023, in the Spring Festival holiday.
    with use_settings(settings):
        reminders = await reminders_tick(None, at(date(2023, 1, 22), 9))
        escalation = await escalation_tick(None, at(date(2023, 1, 22), 9))
    for report in (reminders, escalation):
        assert report.policies == [] and "不是工作日" in str(report.skipped)
    assert smtp_server.messages == []
    # 28 January, the 调休 Saturday: January's monthly report opens and the forms go out, for
    # the policy active that day (the only one loaded).
    with use_settings(settings):
        worked = await reminders_tick(None, at(date(2023, 1, 28), 9))
    assert worked.skipped is None
    assert [(o.policy_code, o.ran, o.error) for o in worked.policies] == [
        ("lingchuan-2023", ["reminders"], None)
    ]
    assert len(smtp_server.messages) > 30


NOT_LOADED = (
    "政策 'no-such-policy' 尚未载入（已载入：lingchuan-2023）；"
    "请先运行 taskforce policy load 载入其配置文件"
)


async def test_one_policy_failing_stops_no_other_and_the_artifact_lists_each(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    """A policy named but not loaded fails inside its slot; the one after it still sends its
    forms, the run ends Failed naming the broken policy, the artifact has a row per policy."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    settings = with_smtp(load_seeds(settings, "lingchuan-2023"), smtp_server)
    settings = settings.model_copy(update={"policy_concurrency": 3})
    with use_settings(settings):
        state = await reminders_tick(
            ["no-such-policy", "lingchuan-2023"], at(date(2023, 1, 28), 9), return_state=True
        )
    assert state.type == StateType.FAILED and state.message == "1 项政策出错：no-such-policy"
    assert len(smtp_server.messages) > 30
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
        limit = await client.read_global_concurrency_limit_by_name(POLICY_LIMIT)
    [table] = [json.loads(str(a.data)) for a in artifacts if a.type == "table"]
    assert table == [
        {"policy_code": "no-such-policy", "result": "出错", "detail": NOT_LOADED},
        {"policy_code": "lingchuan-2023", "result": "完成", "detail": "reminders"},
    ]
    # Each policy's reminders are a task of the tick's own run, their artifacts under it.
    markdowns = {a.key: a for a in artifacts if a.type == "markdown"}
    assert set(markdowns) == {
        "tick-reminders",
        "reminders-lingchuan-2023",
        "delivery-lingchuan-2023",
    }
    markdown = markdowns["tick-reminders"]
    assert markdown.description == "定时报送提醒（2023年1月28日 09:00）"
    text = str(markdown.data)
    assert "共 2 项政策：完成 1 项，无事可做 0 项，出错 1 项。" in text
    # The failed policy first, named by its code (not loaded, it has no short name).
    failed, ran = "| no-such-policy | 出错 | 政策", "| 陵川2023 | 完成 | 已处理当日报送通知和提醒 |"
    assert text.index(failed) < text.index(ran)
    assert limit.limit == 3  # the setting sizes the shared limit


async def test_consolidation_and_annual_ticks_run_on_the_day_after_the_deadline(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    settings = with_smtp(load_seeds(settings, "lingchuan-2023"), smtp_server)
    with use_settings(settings):
        sunday = await consolidation_tick(None, at(date(2023, 2, 5), 9, 30))
        monday = await consolidation_tick(None, at(date(2023, 2, 6), 9, 30))
        annual = await annual_tick(["lingchuan-2023"], at(date(2023, 2, 6), 10))
    sunday_outcome = sunday.outcome("lingchuan-2023")
    assert sunday_outcome.ran == [] and "不汇总" in str(sunday_outcome.skipped)
    assert monday.outcome("lingchuan-2023").ran == [
        "monthly-consolidation monthly-progress 2023-01"
    ]
    bulletin = settings.var_dir / "reports" / "lingchuan-2023" / "2023-01"
    assert any(bulletin.rglob("*通报.html"))
    assert annual.outcome("lingchuan-2023").ran == ["annual-rollup 2023"]
    assert len(smtp_server.messages) >= 1  # the bulletin to the leaders


async def test_the_served_escalation_pauses_for_the_office(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    """The CLI's default is not to wait (escalation.approval_wait_seconds 0); the tick waits
    ``serve.approval_wait_seconds``, so proposals get an office-approval run in the UI."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    from tasks.escalation.steps import run_escalation
    from tests.consolidation_fixture import load_month

    load_seeds(settings, "lingchuan-2023")
    load_month(settings, "lingchuan-2023-02")
    for day in (6, 8, 9):  # 县交通局 proposed for 约谈 by 9 March (see test_escalation_flow)
        run_escalation(settings, "lingchuan-2023", as_of=shanghai(date(2023, 3, day), 10))
    settings = with_smtp(settings, smtp_server).model_copy(
        update={"serve": ServeSettings(approval_wait_seconds=1)}
    )
    assert settings.escalation.approval_wait_seconds == 0
    started = datetime.now(UTC)
    with use_settings(settings):
        report = await escalation_tick(["lingchuan-2023"], at(date(2023, 3, 20), 10))
    assert report.outcome("lingchuan-2023").ran == ["escalation"]
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["office-approval"]))
        )
    # Unanswered within the wait, the approval run failed on its timeout; the tick completed.
    assert [(r.state_name, r.name) for r in runs if r.created and r.created >= started] == [
        ("Failed", "陵川2023 审批 2023-03-20")
    ]


async def test_a_replayed_run_past_the_limit_is_skipped(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    """A flow run created as Prefect creates a missed one (scheduled yesterday), then started:
    ``flow_run.scheduled_start_time`` is yesterday's and the guard skips it."""
    from prefect.client.schemas.objects import StateType
    from prefect.flow_engine import run_flow_async
    from prefect.states import Scheduled

    settings = with_smtp(load_seeds(settings, "lingchuan-2023"), smtp_server)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    async with get_client() as client:
        run = await client.create_flow_run(
            intake_tick, parameters={"policy_codes": ["lingchuan-2023"]},
            state=Scheduled(scheduled_time=yesterday),
        )  # fmt: skip
    with use_settings(settings):
        state = await run_flow_async(
            intake_tick, flow_run=run, parameters={"policy_codes": ["lingchuan-2023"]},
            return_type="state",
        )  # fmt: skip
    assert state.type == StateType.COMPLETED
    report = await state.aresult()
    assert report.policies == [] and "停机后补跑的过期运行" in str(report.skipped)
    # Named for the slot it was meant for, in Beijing time, whatever its server-given name was.
    async with get_client() as client:
        named = await client.read_flow_run(run.id)
    assert named.name == f"陵川2023 定时收取报送 {yesterday.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


async def test_a_deployment_run_takes_as_of_as_text(
    prefect_server: None, settings: Settings
) -> None:
    """What ``prefect deployment run tick-reminders/taskforce --param as_of=2023-01-22T09:00``
    sends: the text passes the API's check against the deployment's parameter schema, and the
    run reads it as a naive datetime, Beijing time (22 January 2023 is in the holiday)."""
    from prefect.flow_engine import run_flow_async

    settings = load_seeds(settings, "lingchuan-2023")
    [tick] = [d for d in build_deployments() if d.flow_name == "tick-reminders"]
    deployment_id = await tick.aapply()
    async with get_client() as client:
        run = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"as_of": "2023-01-22T09:00"}
        )
    assert run.parameters == {"as_of": "2023-01-22T09:00"}
    with use_settings(settings):
        state = await run_flow_async(
            reminders_tick, flow_run=run, parameters=run.parameters, return_type="state"
        )
    report = await state.aresult()
    assert report.as_of == at(date(2023, 1, 22), 9) and report.as_of.tzinfo is SHANGHAI
    assert report.policies == [] and "不是工作日" in str(report.skipped)
    async with get_client() as client:  # the text as_of names the run as it dates the work
        assert (await client.read_flow_run(run.id)).name == "全部政策 定时报送提醒 2023-01-22 09:00"


# -- taskforce serve against a running server -------------------------------------------------


def test_taskforce_serve_pauses_on_sigterm_and_resumes_on_restart(
    prefect_server: None, settings: Settings
) -> None:
    """Two real ``taskforce serve`` processes in turn against the session's server (one test:
    each start costs about 10 s). Stopping for maintenance pauses the deployments; starting
    again unpauses the same deployments, their schedules active. The test server runs no
    scheduler service: Prefect's scheduler takes exactly the deployments not paused with an
    active schedule (server/services/scheduler.py); what it and a pause do to queued runs is
    tested below."""
    load_seeds(settings)
    env = serve_env(settings)
    since = datetime.now(UTC)
    first = start_serve(env)
    try:
        running = asyncio.run(wait_until_served(since))
    finally:
        output = stop(first)
    assert sorted(running) == SERVED, output
    assert "tick-intake/taskforce" in output and "每 10 分钟" in output
    assert "已载入：lingchuan-2023、xinjiang-2022" in output
    assert f"部署登记到 {env['PREFECT_API_URL']}" in output
    assert "停止服务（Ctrl-C 或 kill）时以上部署自动暂停" in output
    assert all(not d.paused for d in running.values())
    # Exit code 0: Prefect's SIGTERM handler ran (it is installed before the first poll), and
    # its unawaited ``astop`` warning is filtered.
    assert first.returncode == 0 and "RuntimeWarning" not in output, output
    stopped = asyncio.run(read_served())
    assert {n: d.id for n, d in stopped.items()} == {n: d.id for n, d in running.items()}
    assert all(d.paused for d in stopped.values()), output
    assert all(len(d.schedules) == 1 for d in stopped.values())

    since = datetime.now(UTC)
    second = start_serve(env)
    try:
        restarted = asyncio.run(wait_until_served(since))
    finally:
        output = stop(second)
    assert {n: d.id for n, d in restarted.items()} == {n: d.id for n, d in running.items()}
    assert all(not d.paused for d in restarted.values()), output
    for name, deployment in restarted.items():
        [schedule] = deployment.schedules
        assert isinstance(schedule.schedule, CronSchedule | IntervalSchedule), name
        assert schedule.active and schedule.schedule.timezone == "Asia/Shanghai", name
    assert second.returncode == 0 and all(d.paused for d in asyncio.run(read_served()).values())


async def test_the_server_queues_scheduled_runs_and_a_pause_drops_them(
    prefect_server: None,
) -> None:
    """Runs queued as Prefect's scheduler queues them (auto-scheduled, through the same
    ``models.deployments._insert_scheduled_flow_runs``), from tomorrow; pausing, as serve does
    on SIGTERM (``PATCH paused=true``), drops them, so none waits for a process that is gone.

    With SQLAlchemy 2.1 that insert raises "Can't evaluate bulk DML statement" (Prefect 3.8.8
    with SQLite): the scheduler then never queues a run and no schedule fires."""
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    [intake] = [d for d in build_deployments() if d.flow_name == "tick-intake"]
    deployment_id = await intake.aapply()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    # No retries: the client would retry the server's 503 for about two minutes.
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
        async with get_client() as client:
            try:
                await client.request(
                    "POST",
                    "/deployments/{id}/schedule",
                    path_params={"id": deployment_id},
                    json={"start_time": tomorrow, "min_runs": 2, "max_runs": 2},
                )
            except PrefectHTTPStatusError as exc:
                pytest.fail(f"the server cannot queue scheduled runs (SQLAlchemy 2.1?): {exc}")
            assert await scheduled_runs(client, deployment_id) == 2
            await client.pause_deployment(deployment_id)
            assert await scheduled_runs(client, deployment_id) == 0


SERVED = sorted(f"{flow}/{DEPLOYMENT_NAME}" for flow in KINDS)


def serve_env(settings: Settings) -> dict[str, str]:
    """The test's database and Prefect server, none of the developer's TASKFORCE_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")}
    env.update(
        TASKFORCE_VAR_DIR=str(settings.var_dir),
        TASKFORCE_DATABASE_URL=settings.effective_database_url,
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def start_serve(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as ``kill`` or systemd sends it; the process's output once it has exited."""
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


async def read_served() -> dict[str, DeploymentResponse]:
    """The served deployments by ``flow/deployment`` name."""
    async with get_client() as client:
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["taskforce"]))
        )
        flows = {f.id: f.name for f in await client.read_flows()}
    return {f"{flows[d.flow_id]}/{d.name}": d for d in found}


async def wait_until_served(since: datetime, timeout: float = 60) -> dict[str, DeploymentResponse]:
    """The deployments once a process started after ``since`` polls for their runs: it has
    registered all of them, and Prefect has installed its SIGTERM handler (before the poll)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await read_served()
        polled = [d for d in found.values() if d.last_polled and d.last_polled > since]
        if len(polled) == len(SERVED) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def scheduled_runs(client: PrefectClient, deployment_id: UUID) -> int:
    runs = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
    )
    assert all(r.auto_scheduled for r in runs)
    return len(runs)
