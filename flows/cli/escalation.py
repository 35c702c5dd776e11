"""督办: ``escalate`` and ``cases`` (with ``cases approve/reject/close/extend``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from config.settings import use_settings
from flows.cli.common import (
    AtOption,
    CaseIds,
    CasesAsOfOption,
    EscalateAsOfOption,
    JsonOption,
    JsonRow,
    OptionalPolicyOption,
    PolicyOption,
    end_with_mail,
    load_settings,
    out,
    prefect_server,
    print_json,
    print_mail,
    progress,
    quiet_user_error_tracebacks,
)
from flows.cli.tables import whole
from models.db import init_db, session_scope
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI, parse_as_of

cases_app = typer.Typer(
    help="督办事项：不带子命令时列出督办事项；"
    "approve 同意升级、reject 不同意、close 销号、extend 延期",
    invoke_without_command=True,
)

ApproverOption = Annotated[str, typer.Option("--by", help="审批人")]
OpinionOption = Annotated[str, typer.Option("--note", help="意见")]


class CaseClock(JsonRow):
    """One of a case's “13710” clocks."""

    code: str
    label: str
    deadline: str | None  # ISO date; None while the clock has not started


class CaseRow(JsonRow):
    """One 督办 case in ``cases --json`` (tasks.escalation.case_view.case_rows)."""

    id: int
    policy: str
    number: str
    key: str
    unit_code: str
    unit: str
    reason: str
    opened: str  # ISO, Beijing time
    state: str
    state_label: str
    pending_step: str  # "" when nothing awaits approval
    approved_steps: list[str]
    extension_days: int
    clocks: list[CaseClock]
    overdue_clocks: list[str]
    light: str  # red / yellow / green


def escalate_command(
    policy: PolicyOption,
    as_of: EscalateAsOfOption = None,
    wait_approval: Annotated[
        int | None,
        typer.Option(
            "--wait-approval",
            min=0,
            help="有待审批的升级建议时，暂停等待办公室在 Prefect 界面审批的秒数（0 为不等待）",
        ),
    ] = None,
) -> None:
    """运行督办：逾期催报、立督办单（“13710”时限）、提请升级；同一时刻重复运行不重复发送。

    邮件经重试后仍待发送（如邮件服务器无法连接）时，命令以退出码 3 结束。"""
    settings = load_settings()
    if wait_approval is not None:
        settings = settings.model_copy(
            update={
                "escalation": settings.escalation.model_copy(
                    update={"approval_wait_seconds": wait_approval}
                )
            }
        )
    moments = [parse_as_of(value) for value in as_of] if as_of else [parse_as_of(None)]
    init_db(settings)
    with session_scope(settings) as session:
        get_policy(session, policy)
    prefect_server(settings)
    from flows.escalation import escalation_flow

    quiet_user_error_tracebacks()

    async def run_all() -> list[Any]:
        return [await escalation_flow(policy, m) for m in moments]

    label = f"{policy} 督办：催报、立督办单并发送"
    if wait := settings.escalation.approval_wait_seconds:
        # Prefect's "Pausing flow…" goes to the log file: say here what the command waits for.
        label += f"；如有升级建议，最长等待 {wait} 秒，请在 Prefect 界面审批"
    with use_settings(settings), progress(label):
        summaries = asyncio.run(run_all())  # settings: --wait-approval's
    for number, summary in enumerate(summaries, 1):
        out.print(
            f"{summary.as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M}：催报 {len(summary.overdue)}，"
            f"新立督办 {len(summary.opened)}，办结待销号 {len(summary.resolved)}，"
            f"提请升级 {len(summary.proposed)}，待审批 {len(summary.awaiting)}；"
            f"报县政府督查 {len(summary.supervision)}，约谈 {len(summary.interview)}，"
            f"通报表扬 {len(summary.commendations)}"
        )
        for decision in summary.decisions:
            out.print(f"  审批：{decision}")
        if number == len(summaries) and summary.awaiting:
            out.print(
                "待审批：taskforce cases --open 查看，taskforce cases approve|reject 编号 审批。"
            )
        # Each run's block ends with what became of its mail; the last run's pending mail is
        # what still waits, and sets the exit status.
        if number < len(summaries):
            print_mail(summary.mail)
        else:
            end_with_mail(summary.mail, summary.mail_pending)


@cases_app.callback()
def cases(
    ctx: typer.Context,
    policy: OptionalPolicyOption = None,
    open_only: Annotated[bool, typer.Option("--open", help="只列未销号的")] = False,
    awaiting: Annotated[bool, typer.Option("--awaiting", help="只列待审批的")] = False,
    as_json: JsonOption = False,
    as_of: CasesAsOfOption = None,
) -> None:
    """列出督办事项及其“13710”时限。"""
    if ctx.invoked_subcommand is not None:
        return
    from tasks.escalation.case_view import case_rows

    settings = load_settings()
    init_db(settings)
    today = parse_as_of(as_of).astimezone(SHANGHAI).date()
    with session_scope(settings) as session:
        rows = [CaseRow.model_validate(r) for r in case_rows(session, settings, policy, today)]
    if open_only:
        rows = [r for r in rows if r.state != "closed"]
    if awaiting:
        rows = [r for r in rows if r.state == "awaiting_approval"]
    if as_json:
        print_json(rows)
        return
    colour = {"red": "red", "yellow": "yellow", "green": "green"}
    table = Table(
        "编号", "督办单号", "单位", "立案", "状态", "时限（部署/反馈/办结/重大）", title="督办事项"
    )
    table.add_column("事由", overflow="fold")
    for r in rows:
        clocks = " / ".join(c.deadline[5:] if c.deadline else "—" for c in r.clocks[:4])
        style = colour.get(r.light, "")
        table.add_row(
            str(r.id), r.number, r.unit, r.opened[:10],
            f"[{style}]{r.state_label}[/{style}]" if style else r.state_label,
            clocks, r.reason,
        )  # fmt: skip
    out.print(whole(table) if rows else "没有督办事项。")


def _case_action(
    action: str, case_ids: list[int], by: str, note: str, days: int, at: str | None
) -> None:
    from tasks.escalation.steps import decide_case

    settings = load_settings()
    moment = parse_as_of(at)  # now, in Beijing time, when not given
    for case_id in case_ids:
        state = decide_case(settings, case_id, action, by=by, note=note, days=days, at=moment)
        out.print(f"督办事项 {case_id}：{state.label}")


@cases_app.command("approve")
def cases_approve(
    case_ids: CaseIds,
    by: ApproverOption = "办公室",
    note: OpinionOption = "",
    at: AtOption = None,
) -> None:
    """同意升级建议（报县政府督查或约谈）。"""
    _case_action("approve", case_ids, by, note, 0, at)


@cases_app.command("reject")
def cases_reject(
    case_ids: CaseIds,
    by: ApproverOption = "办公室",
    note: OpinionOption = "",
    at: AtOption = None,
) -> None:
    """不同意升级建议，事项回到督办中。"""
    _case_action("reject", case_ids, by, note, 0, at)


@cases_app.command("close")
def cases_close(
    case_ids: CaseIds,
    by: Annotated[str, typer.Option("--by", help="经办人")] = "办公室",
    note: Annotated[str, typer.Option("--note", help="销号说明")] = "",
    at: AtOption = None,
) -> None:
    """销号（“13710”之“0”：跟踪到底、销号清零）。"""
    _case_action("close", case_ids, by, note, 0, at)


@cases_app.command("extend")
def cases_extend(
    case_ids: CaseIds,
    days: Annotated[int, typer.Option("--days", help="延期天数（按政策的计日方式）")],
    reason: Annotated[str, typer.Option("--reason", help="延期理由")],
    by: ApproverOption = "办公室",
    at: AtOption = None,
) -> None:
    """延期：各项时限顺延，并记录理由。"""
    _case_action("extend", case_ids, by, reason, days, at)
