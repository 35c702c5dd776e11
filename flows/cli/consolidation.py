"""``taskforce consolidate``: a period's (or, with --year, a year's) summary and bulletin."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from config.settings import use_settings
from flows.cli.common import (
    ConsolidateAsOfOption,
    PolicyOption,
    end_with_mail,
    load_settings,
    out,
    prefect_server,
    progress,
    quiet_user_error_tracebacks,
)
from models.db import init_db, session_scope
from models.policy_store import get_policy
from tasks.calendar import parse_as_of


def consolidate_command(
    policy: PolicyOption,
    period: Annotated[
        str | None,
        typer.Option(
            "--period", help="报告期，如 2023-02、2023-Q1、2023-W05（默认：最近到期的一期）"
        ),
    ] = None,
    as_of: ConsolidateAsOfOption = None,
    obligation: Annotated[
        str | None, typer.Option("--obligation", help="报送事项代码（默认月度报告）")
    ] = None,
    year: Annotated[
        str | None, typer.Option("--year", help="改为生成该年度的年度汇总，如 2023")
    ] = None,
) -> None:
    """汇总一期报送，生成月度通报和汇总表，发送给专班领导；加 --year 则生成年度汇总。

    月度通报有 HTML、PDF（供打印）、Markdown 三种格式，汇总表为 XLSX；年度汇总列出各单位
    按时报送率、逾期和未报月份、目标完成、督办情况。

    邮件经重试后仍待发送（如邮件服务器无法连接）时，命令以退出码 3 结束。"""
    settings = load_settings()
    moment = parse_as_of(as_of)  # a bad --as-of is a user error before Prefect starts
    init_db(settings)
    with session_scope(settings) as session:
        get_policy(session, policy)
    prefect_server(settings)
    from flows.consolidation import annual_flow, consolidation_flow

    quiet_user_error_tracebacks()
    from tasks.consolidation.bulletin import on_time_rate, report_name

    if year is not None:
        with use_settings(settings), progress(f"{policy} {year}年度汇总"):
            annual = asyncio.run(annual_flow(policy, year, moment, obligation))
        rollup = annual.rollup
        out.print(
            f"{rollup.county}{year}年度汇总（{len(rollup.periods)} 期，"
            f"{len(rollup.rows)} 个单位），第 {annual.version} 版："
            + "".join(f"\n  {path}" for path in annual.files)
        )
        return

    with use_settings(settings), progress(f"{policy} 汇总：生成通报与汇总表并发送"):
        result = asyncio.run(consolidation_flow(policy, period, moment, obligation))
    c = result.consolidation
    counts = c.counts
    out.print(
        f"{c.source.county} {report_name(c)}：应报送 "
        f"{counts['obligated']} 个单位，按时 {counts['on_time']}，逾期 {counts['late']}，"
        f"未报送 {counts['missing']}，退回未改 {counts['rejected']}，"
        f"待审核 {counts['needs_review']}，发件人待核实 {counts['unverified']}；"
        f"按时报送率 {on_time_rate(c)}。"
    )
    state = "新版本" if result.new_version else "内容无变化，沿用"
    out.print(f"第 {result.version} 版（{state}）：")
    for path in result.files:
        out.print(f"  {path}")
    if result.pdf_missing:
        out.print(
            f"通报PDF未生成：{result.pdf_missing}。{result.pdf_remedy}",
            markup=False,
            style="yellow",
        )
    if not result.leaders:
        out.print("[yellow]政策配置中没有专班领导邮箱，通报未发送。[/yellow]")
    end_with_mail(result.mail, result.mail_pending)
