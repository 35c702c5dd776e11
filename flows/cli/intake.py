"""Taking reports in: ``intake`` (and ``intake replay``), ``submit``, ``submissions`` and
``review`` (with ``review accept/reject``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlmodel import select

from config.settings import use_settings
from flows.cli.common import (
    AtOption,
    JsonOption,
    JsonRow,
    OptionalPolicyOption,
    PolicyOption,
    ReplayPolicyOption,
    end_with_mail,
    load_settings,
    out,
    outside,
    prefect_server,
    print_json,
    progress,
    quiet_user_error_tracebacks,
)
from flows.cli.tables import whole
from models import tables as t
from models.db import init_db, session_scope
from models.policy_store import get_policy
from tasks.calendar import parse_as_of

intake_app = typer.Typer(
    help="收取报送：不带子命令时收取一次办公室邮箱（须 --policy），登记并发送回执或退回通知；"
    "replay 按存档原件重新处理。\n\n"
    "邮件经重试后仍待发送（如邮件服务器无法连接）时，命令以退出码 3 结束。",
    invoke_without_command=True,
)
review_app = typer.Typer(
    help="审核未使用报表的报送：不带子命令时列出待审核的；accept 受理，reject 退回",
    invoke_without_command=True,
)

ReviewerOption = Annotated[str, typer.Option("--by", help="审核人")]
# The run's moment: what receipts and rejections are dated and judged by (a replayed day's).
IntakeAsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="按该时刻收取、登记和出具回执（默认现在，北京时间）")
]


class SubmissionRow(JsonRow):
    """One unit and cycle in ``submissions --json`` (models.submission_view.submission_rows):
    its latest submission, or ``missing``; or mail set aside that names no unit."""

    policy: str
    obligation: str
    obligation_name: str
    period: str
    due: str | None  # ISO, Beijing time; None for mail set aside
    unit_code: str
    unit: str
    status: str
    status_label: str
    submission_id: int | None
    version: int | None
    channel: str
    channel_label: str
    received_at: str | None
    received_at_local: str
    late_working_days: int
    attachment: str
    errors: list[dict[str, Any]]  # [{sheet, cell, problem}], as recorded
    to_verify: list[str]  # reported values the bulletin shows as 待核实, with the reason
    excerpt: str
    sender_check: str = ""  # the sender verdict of a reply without our form, in Chinese
    item_id: int | None


def _submission_rows(codes: list[str] | None, period: str | None) -> list[SubmissionRow]:
    """The rows of the policies named (None: every policy loaded)."""
    from models.submission_view import submission_rows

    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        if codes is None:
            codes = list(session.exec(select(t.Policy.code)).all())
        rows = [row for code in codes for row in submission_rows(session, code, period)]
    return [SubmissionRow.model_validate(row) for row in rows]


def _print_intake(summary: Any) -> None:
    from tasks.intake.report import outcome_label

    table = Table("收到时间", "单位 / 发件人", "报送事项", "报告期", "版本", "结果", "逾期")
    table.add_column("问题", overflow="fold", ratio=1)
    for line in summary.lines:
        problems = "；".join(
            "".join(f"{e[k]} " for k in ("sheet", "cell") if e.get(k)) + e["problem"]
            for e in line["errors"]
        )
        late = f"{line['late_working_days']} 个工作日" if line["late_working_days"] else ""
        table.add_row(
            line["received_at"], outside(line["unit"] or line["sender"]),
            line["obligation_name"] or line["obligation"], line["period_label"] or line["period"],
            str(line["version"] or ""), outcome_label(line["outcome"]),
            late, outside(problems),
        )  # fmt: skip
    if summary.lines:
        out.print(whole(table))
    out.print(
        f"{summary.source}：处理 {len(summary.lines)} 项，"
        f"此前已收取而跳过 {summary.duplicates} 封。"
    )


@intake_app.callback()
def intake(
    ctx: typer.Context,
    policy: OptionalPolicyOption = None,
    source: Annotated[
        str | None, typer.Option("--source", help="maildir 或 imap（默认按设置）")
    ] = None,
    as_of: IntakeAsOfOption = None,
) -> None:
    """收取一次办公室邮箱中的报送，登记并发送回执或退回通知。

    邮件经重试后仍待发送（如邮件服务器无法连接）时，命令以退出码 3 结束。"""
    if ctx.invoked_subcommand is not None:
        return
    if policy is None:
        raise typer.BadParameter("请用 --policy 指明政策代码", param_hint="--policy")
    if source not in (None, "maildir", "imap"):
        raise typer.BadParameter(f"{source!r} 应为 maildir 或 imap", param_hint="--source")
    moment = parse_as_of(as_of)
    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        get_policy(session, policy)  # fail fast, before Prefect starts
    prefect_server(settings)
    from flows.intake import intake_flow

    quiet_user_error_tracebacks()

    with use_settings(settings), progress(f"{policy} 收取报送：读取邮箱并发送回执"):
        summary = asyncio.run(intake_flow(policy, source, moment))
    _print_intake(summary)
    end_with_mail(summary.mail, summary.mail_pending)


@intake_app.command("replay")
def intake_replay(
    items: Annotated[
        list[int] | None, typer.Argument(help="原件编号；不填则重放出错的", metavar="原件编号")
    ] = None,
    policy: ReplayPolicyOption = None,
    as_of: IntakeAsOfOption = None,
) -> None:
    """按存档原件重新处理（修复解析问题后使用）；已登记过报送的原件不重复处理。"""
    from tasks.intake.steps import replay

    moment = parse_as_of(as_of)
    settings = load_settings()
    init_db(settings)
    summary = replay(settings, policy_code=policy, item_ids=items or [], now=moment)
    _print_intake(summary)


def submit(
    file: Annotated[Path, typer.Argument(help="报送文件：填好的报表，或扫描件等", metavar="文件")],
    unit: Annotated[str, typer.Option("--unit", help="报送单位（名称或代码）")],
    policy: PolicyOption,
    period: Annotated[str, typer.Option("--period", help="报告期，如 2023-02、2023-Q1、2023-W05")],
    obligation: Annotated[
        str | None, typer.Option("--obligation", help="报送事项代码（报告期有多项时必填）")
    ] = None,
    received_at: Annotated[
        str | None, typer.Option("--received-at", help="收到时间（默认现在，北京时间）")
    ] = None,
    as_of: IntakeAsOfOption = None,
) -> None:
    """登记纸质报送（如加盖公章的纸质件），渠道记为“纸质件”。"""
    from tasks.intake.steps import submit_paper

    moment = parse_as_of(as_of)
    settings = load_settings()
    init_db(settings)
    summary = submit_paper(
        settings,
        policy_code=policy,
        unit_code=unit,
        period=period,
        file=file,
        obligation=obligation,
        received_at=parse_as_of(received_at) if received_at else moment,
        now=moment,
    )
    if summary.duplicates:
        out.print(Text.assemble("文件 ", outside(file), " 此前已登记过，未重复登记。"))
        return
    _print_intake(summary)
    if any(line["outcome"] == "rejected" for line in summary.lines):
        out.print("[yellow]报表未通过校验，已登记为退回，退回通知已入发件箱。[/yellow]")


def submissions(
    policy: PolicyOption,
    period: Annotated[
        str | None, typer.Option("--period", help="报告期，如 2023-02、2023-Q1、2023-W05")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """按单位和报告期列出最新一次报送：状态、渠道、收到时间、是否逾期。"""
    rows = _submission_rows([policy], period)
    if as_json:
        print_json(rows)
        return
    table = Table(
        "报送事项", "报告期", "单位", "状态", "版本", "渠道", "收到时间", "逾期", "编号",
        title=f"{policy} 报送情况" + (f"（{period}）" if period else ""),
    )  # fmt: skip
    table.add_column("问题", overflow="fold")
    for r in rows:
        late = f"{r.late_working_days} 个工作日" if r.late_working_days else ""
        problems = [e["problem"] for e in r.errors] + [f"待核实：{v}" for v in r.to_verify]
        table.add_row(
            r.obligation_name, r.period, r.unit, r.status_label,
            str(r.version or ""), r.channel_label, r.received_at_local or "",
            late, str(r.submission_id or ""), outside("；".join(problems)),
        )  # fmt: skip
    out.print(whole(table) if rows else "尚无报送记录。")


PENDING_LABELS = {"unstructured": "未用报表", "unverified": "发件人未经验证"}


@review_app.callback()
def review(
    ctx: typer.Context,
    policy: OptionalPolicyOption = None,
) -> None:
    """列出待审核的报送（未使用下发报表的回复）。"""
    if ctx.invoked_subcommand is not None:
        return
    rows = _submission_rows([policy] if policy else None, None)
    pending = [r for r in rows if r.status in PENDING_LABELS]
    table = Table("编号", "单位", "报送事项", "报告期", "收到时间", title="待审核报送")
    table.add_column("类别", no_wrap=True)  # 发件人未经验证: the office confirms the sender
    table.add_column("附件")
    table.add_column("内容摘要", overflow="fold")
    for r in pending:
        table.add_row(
            str(r.submission_id), r.unit, r.obligation_name, r.period,
            r.received_at_local, PENDING_LABELS[r.status], outside(r.attachment),
            outside(r.excerpt),
        )  # fmt: skip
    out.print(whole(table) if pending else "没有待审核的报送。")
    for r in pending:
        if r.status == "unverified" and r.sender_check:
            out.print(
                f"编号 {r.submission_id}（{r.unit}）发件人验证：{r.sender_check}", markup=False
            )
    if pending:
        out.print(
            "审核：taskforce review accept 编号 --progress 19=推进中 …；"
            "taskforce review reject 编号 --reason 原因"
        )


@review_app.command("accept")
def review_accept(
    submission_id: Annotated[int, typer.Argument(help="报送记录编号", metavar="报送编号")],
    progress: Annotated[
        list[str] | None,
        typer.Option("--progress", help="措施进展：措施编号=状态[:完成值]，可重复"),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="审核意见")] = "",
    reviewer: ReviewerOption = "办公室",
    at: AtOption = None,
) -> None:
    """受理待审核的报送，登记审核人读出的进展（发件人未经验证的，不登记进展即仅确认发件人）。"""
    from tasks.intake.review import parse_progress, review_submission

    settings = load_settings()
    entries = [parse_progress(p) for p in progress or []]
    new = review_submission(
        settings, submission_id, accept=True, progress=entries, note=note,
        reviewer=reviewer, now=parse_as_of(at),
    )  # fmt: skip
    if new.status == "unstructured":  # an unverified reply whose sender the office confirmed
        out.print(
            f"已确认发件人：报送记录 {submission_id} → 第 {new.version} 版（编号 {new.id}），"
            f"计入报送；内容仍待审核（taskforce review accept {new.id} --progress …）。"
        )
        return
    out.print(f"已受理：报送记录 {submission_id} → 第 {new.version} 版（编号 {new.id}），"
              f"登记进展 {len(entries)} 条。")  # fmt: skip


@review_app.command("reject")
def review_reject(
    submission_id: Annotated[int, typer.Argument(help="报送记录编号", metavar="报送编号")],
    reason: Annotated[str, typer.Option("--reason", help="退回原因（将通知报送单位）")] = "",
    reviewer: ReviewerOption = "办公室",
    at: AtOption = None,
) -> None:
    """退回待审核的报送，并通知报送单位（退回通知入发件箱，下次运行发出）。"""
    from tasks.intake.review import review_submission

    settings = load_settings()
    new = review_submission(
        settings, submission_id, accept=False, progress=[], note=reason,
        reviewer=reviewer, now=parse_as_of(at),
    )  # fmt: skip
    out.print(
        f"已退回：报送记录 {submission_id} → 第 {new.version} 版（编号 {new.id}），"
        "退回通知已入发件箱。"
    )
