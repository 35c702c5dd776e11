"""What the office reads in the Prefect UI's lists: each run named by its policy, what it does and
its day, each artifact titled with its moment in Asia/Shanghai, for both seed policies.

The runs go through a real (temporary) Prefect server and are read back from its API; the as_of
is given in UTC on purpose where the local time shows, so a title or name in UTC would fail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)

from config.errors import NotFoundError
from config.settings import Settings, use_settings
from flows.consolidation import annual_flow, consolidation_flow
from flows.escalation import escalation_flow
from flows.intake import intake_flow
from flows.reminders import reminders_flow
from flows.serve import reminders_tick
from tasks.calendar import SHANGHAI
from tasks.run_names import artifact_title, as_of_text, policy_short_name, run_name
from tests.consolidation_fixture import load_month
from tests.helpers import load_seeds
from tests.smtp_server import SmtpServer


@pytest.mark.parametrize(
    ("county", "issued", "short"),
    [
        ("陵川县", date(2023, 1, 12), "陵川2023"),
        ("新绛县", date(2022, 10, 19), "新绛2022"),
        ("沁县", date(2024, 3, 1), "沁县2024"),  # a one-character name keeps its rank
        ("盐湖区", date(2024, 3, 1), "盐湖2024"),
        ("孟村回族自治县", date(2024, 3, 1), "孟村回族2024"),
    ],
)
def test_policy_short_name(county: str, issued: date, short: str) -> None:
    assert policy_short_name(county, issued) == short


def test_names_and_titles_are_in_asia_shanghai() -> None:
    late_evening_utc = datetime(2023, 4, 9, 17, 5, tzinfo=UTC)  # 10 April 01:05 in Shanghai
    assert run_name("陵川2023", "报送提醒", late_evening_utc) == "陵川2023 报送提醒 2023-04-10"
    assert run_name("陵川2023", "收取报送", late_evening_utc, time=True) == (
        "陵川2023 收取报送 2023-04-10 01:05"
    )
    assert run_name("陵川2023", "月度汇总", late_evening_utc, what="2023年3月") == (
        "陵川2023 月度汇总 2023年3月 2023-04-10"
    )
    # A quarter's or a week's consolidation is no 月度汇总.
    assert run_name("青石2023", "月度汇总", late_evening_utc, what="2023年第一季度") == (
        "青石2023 汇总 2023年第一季度 2023-04-10"
    )
    assert run_name(
        "青石2023", "月度汇总", late_evening_utc, what="2023年第5周（1月30日—2月5日）"
    ) == ("青石2023 汇总 2023年第5周（1月30日—2月5日） 2023-04-10")
    assert as_of_text(late_evening_utc) == "2023年4月10日 01:05"
    assert artifact_title("陵川县 报送情况", late_evening_utc) == (
        "陵川县 报送情况（统计截至2023年4月10日 01:05）"
    )
    assert artifact_title("陵川2023 督办", late_evening_utc, figures=False) == (
        "陵川2023 督办（2023年4月10日 01:05）"
    )


SEEDS = [
    pytest.param("lingchuan-2023", "lingchuan-2023-02", "陵川2023", "陵川县", "2023年2月",
                 id="lingchuan"),
    pytest.param("xinjiang-2022", "xinjiang-2022-11", "新绛2022", "新绛县", "2022年11月",
                 id="xinjiang"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "month", "short", "county", "period"), SEEDS)
async def test_runs_and_artifacts_say_what_and_when(
    prefect_server: None,
    settings: Settings,
    smtp_server: SmtpServer,
    code: str,
    month: str,
    short: str,
    county: str,
    period: str,
) -> None:
    load_seeds(settings, code)
    spec = load_month(settings, month)
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    local: datetime = spec["as_of"].astimezone(SHANGHAI)  # a working day, 09:00
    in_utc = local.astimezone(UTC)  # 01:00 UTC: a name or title in UTC would say so
    day, year = f"{local:%Y-%m-%d}", str(local.year)
    states: dict[str, Any] = {}
    with use_settings(settings):
        states["reminders"] = await reminders_flow(code, in_utc, return_state=True)
        states["intake"] = await intake_flow(code, "maildir", in_utc, return_state=True)
        states["escalation"] = await escalation_flow(code, in_utc, return_state=True)
        # The obligation named, as the demo and the served tick do: still the month's name.
        states["consolidation"] = await consolidation_flow(
            code, None, in_utc, spec["obligation"], return_state=True
        )
        states["annual"] = await annual_flow(code, year, in_utc, return_state=True)
        states["tick"] = await reminders_tick([code], in_utc, return_state=True)
    assert all(s.is_completed() for s in states.values()), states
    ids = {kind: s.state_details.flow_run_id for kind, s in states.items()}
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(ids.values())))
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=list(ids.values()))
            )
        )
        tasks = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[ids["consolidation"]]))
        )
    # The steps in the run's graph say what they did, not a key with a hash suffix.
    assert sorted(t.name for t in tasks) == sorted(
        ["汇总并生成通报", "发布汇总表和通报", "发送邮件"]
    )
    names = {run.id: run.name for run in runs}
    assert {kind: names[run_id] for kind, run_id in ids.items()} == {
        "reminders": f"{short} 报送提醒 {day}",
        "intake": f"{short} 收取报送 {day} 09:00",
        "escalation": f"{short} 督办 {day}",
        "consolidation": f"{short} 月度汇总 {period} {day}",
        "annual": f"{short} 年度汇总 {year}年 {day}",
        "tick": f"{short} 定时报送提醒 {day} 09:00",
    }
    stamp = f"{local.year}年{local.month}月{local.day}日 09:00"
    titles = {a.key: a.description for a in artifacts}
    assert titles[f"reminders-{code}"] == f"{short} 报送提醒（{stamp}）"
    assert titles[f"intake-{code}"] == f"{short} 收取报送（{stamp}）"
    assert titles[f"escalation-{code}"] == f"{short} 督办（{stamp}）"
    # Mail goes out at the wall clock's time, whatever day the run works on.
    sent = titles[f"delivery-{code}"] or ""
    assert sent.startswith(f"{short} 邮件发送情况（{datetime.now(SHANGHAI):%Y}年"), sent
    for key in ("matrix", "bulletin", "submitted"):
        title = titles[f"consolidation-{code}-{key}"] or ""
        assert title.startswith(f"{county} {period}") and title.endswith(f"（统计截至{stamp}）")
    annual = titles[f"annual-{code}"] or ""
    assert annual.startswith(f"{county}{year}年度") and annual.endswith(f"（统计截至{stamp}）")


async def test_a_run_for_a_policy_not_loaded_is_named_by_its_code(
    prefect_server: None, settings: Settings
) -> None:
    """The run fails with its own message (load the policy first), not in its name."""
    load_seeds(settings, "lingchuan-2023")
    with use_settings(settings):
        state = await reminders_flow(
            "no-such-policy", datetime(2023, 4, 10, 9, tzinfo=SHANGHAI), return_state=True
        )
    assert state.is_failed()
    with pytest.raises(NotFoundError, match="尚未载入"):
        await state.aresult()
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "no-such-policy 报送提醒 2023-04-10"
