"""The escalation flow under a real Prefect server: it pauses for the office's approval.

The office answers the form the flow leaves (as the Prefect UI would: ``resume_flow_run`` with
the run input); left unanswered, the approval sub-run times out and the proposals stay waiting.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import ArtifactSort
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import aresume_flow_run

from config.settings import EscalationSettings, Settings, use_settings
from flows.escalation import escalation_flow
from models.db import session_scope
from tasks.calendar import SHANGHAI
from tasks.escalation.case_view import case_rows
from tasks.escalation.steps import decide_case, run_escalation
from tests.consolidation_fixture import load_month
from tests.helpers import at, load_seeds
from tests.smtp_server import SmtpServer

POLICY = "lingchuan-2023"


def february(settings: Settings, smtp_server: SmtpServer, wait: int) -> Settings:
    """陵川's February up to 9 March: 县交通局 proposed for 约谈 and waiting for the office."""
    load_seeds(settings, POLICY)
    load_month(settings, "lingchuan-2023-02")
    for day in (6, 8, 9):
        run_escalation(settings, POLICY, as_of=at(date(2023, 3, day), 10))
    return settings.model_copy(
        update={
            "smtp": smtp_server.smtp_settings(),
            "escalation": EscalationSettings(approval_wait_seconds=wait, approval_poll_seconds=1),
        }
    )


async def paused_approval_run(since: datetime) -> tuple[UUID, dict[str, Any]]:
    """The office-approval run waiting for input, and the form's JSON schema it saved."""
    async with get_client() as client:
        for _ in range(300):
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["office-approval"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
            )
            runs = [r for r in runs if r.created and r.created >= since]
            if runs:
                run = runs[0]
                keyset = run.state.state_details.run_input_keyset  # type: ignore[union-attr]
                assert keyset is not None
                try:  # the flow saves the form's schema just after it has paused
                    schema = await client.read_flow_run_input(run.id, keyset["schema"])
                except ObjectNotFound:
                    schema = None
                if schema:
                    return run.id, json.loads(schema)
            await asyncio.sleep(0.2)
    raise AssertionError("no office-approval run paused")


def case_id(summary: Any, unit: str, step: str) -> str:
    """The first case of ``unit`` waiting for ``step``."""
    return next(str(c["case"]) for c in summary.awaiting if (c["unit"], c["step"]) == (unit, step))


async def test_the_flow_pauses_until_the_office_decides(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    settings = february(settings, smtp_server, wait=120)
    started = datetime.now(SHANGHAI)
    # 20 March: 县交通局 (repeat offender) waits for 约谈, 县发改局's red case is proposed for
    # county supervision; the flow pauses on both.
    with use_settings(settings):  # the task copies the context as it is created
        running = asyncio.create_task(escalation_flow(POLICY, at(date(2023, 3, 20), 10)))
    run_id, schema = await paused_approval_run(started)
    fields = schema["properties"]
    choices = {k: v for k, v in fields.items() if k.startswith("case_")}
    # One choice per case waiting (the fixture has no January reports, so most units' January
    # cases are past their clocks and proposed for county supervision too).
    with session_scope(settings) as session:
        waiting = {
            f"case_{r['id']}": r for r in case_rows(session, settings, POLICY, date(2023, 3, 20))
            if r["state"] == "awaiting_approval"
        }  # fmt: skip
    assert set(choices) == set(waiting) and schema["required"] == ["reviewer"]
    assert all(v["default"] == "暂不决定" for v in choices.values())
    jtj = next(k for k, r in waiting.items() if r["key"].endswith("2023-02/jtj/missing"))
    fgj = next(k for k, r in waiting.items() if r["key"].endswith("2023-02/fgj/red"))
    assert choices[jtj]["title"] == f"{waiting[jtj]['number']} 县交通局：约谈"
    assert choices[fgj]["title"] == f"{waiting[fgj]['number']} 县发改局：报县政府督查"
    assert choices[fgj]["description"] == waiting[fgj]["reason"]

    # Meanwhile the office rejects 县发改局's proposal from the command line.
    decide_case(settings, int(fgj.removeprefix("case_")), "reject", by="李明",
                at=at(date(2023, 3, 20), 11))  # fmt: skip
    await aresume_flow_run(
        run_id, run_input={jtj: "同意", fgj: "同意", "reviewer": "王杰", "note": "同意约谈"}
    )
    summary = await asyncio.wait_for(running, timeout=60)

    # Only the two answered cases are decided; the rest stay waiting for the next run.
    assert set(summary.decisions) == {
        f"督办事项 {jtj.removeprefix('case_')}：已升级",
        f"督办事项 {fgj.removeprefix('case_')}：未处理（督办事项 {fgj.removeprefix('case_')} "
        "没有待审批的升级建议（当前：督办中））",
    }
    assert [e["unit"] for e in summary.interview] == ["县交通局"]
    assert summary.supervision == []
    assert {f"case_{a['case']}" for a in summary.awaiting} == set(waiting) - {jtj, fgj}
    async with get_client() as client:
        [artifact] = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"escalation-{POLICY}"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )  # the version published after the decisions
    assert "## 约谈名单" in str(artifact.data) and "## 本次运行中的审批" in str(artifact.data)


async def test_an_unanswered_approval_times_out_and_the_proposals_wait(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    settings = february(settings, smtp_server, wait=2)
    with use_settings(settings):
        summary = await escalation_flow(POLICY, at(date(2023, 3, 20), 10))
    assert summary.decisions == []
    assert {("县交通局", "interview"), ("县发改局", "supervision")} <= {
        (a["unit"], a["step"]) for a in summary.awaiting
    }
    assert summary.interview == [] and summary.supervision == []
    # The next day asks again, and the command line can still decide.
    again = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 21), 10))
    approved = decide_case(settings, int(case_id(again, "县交通局", "interview")), "approve",
                           by="王杰", at=at(date(2023, 3, 21), 15))  # fmt: skip
    assert approved.status == "escalated"
