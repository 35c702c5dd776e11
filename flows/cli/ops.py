"""Running things: ``mailcatcher``, ``up``, ``down``, ``serve``, ``demo`` and
``simulate-replies``."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import select

from config.errors import TaskforceError
from flows.cli.common import (
    PolicyOption,
    ServePoliciesOption,
    load_settings,
    log_file,
    out,
    prefect_server,
)
from flows.cli.tables import whole
from models import tables as t
from models.db import init_db, session_scope
from models.policy_store import get_policy

DEMO_POLICY = Path(__file__).resolve().parents[2] / "config" / "policies" / "lingchuan-2023.yaml"


def mailcatcher(
    demo_clock: Annotated[
        bool, typer.Option("--demo-clock", help="演示用：按模拟单位邮件所标时间记录收到时间")
    ] = False,
) -> None:
    """在本机启动收信服务器（演示与测试用），每封邮件存为 var/mail/ 下的 .eml 文件；
    发往专班办公室邮箱的另投递到 var/maildir/ 供收取。"""
    from tasks.demo.mailcatcher import serve_forever

    serve_forever(load_settings(), demo_clock=demo_clock)


def up(
    port: Annotated[int, typer.Option("--port", help="Prefect 服务端口")] = 4200,
) -> None:
    """在后台启动本机 Prefect 服务（含界面，数据在 var/prefect-server）和收信服务器；
    之后各命令直接使用它们，不再每次启动临时服务器。"""
    from flows.cli.services import start

    settings = load_settings()
    try:
        services = start(settings, port)
    except OSError as exc:
        raise TaskforceError(str(exc)) from None
    out.print(f"Prefect 服务已运行：{services.api_url.removesuffix('/api')}（界面同址）")
    catcher = f"{settings.mailcatcher.host}:{settings.mailcatcher.port}"
    if services.catcher_pid is None:
        out.print(f"收信服务器：{catcher} 已有服务在监听，沿用。")
    else:
        out.print(f"收信服务器已运行：{catcher}")
    smtp = f"{settings.smtp.host}:{settings.smtp.port}"
    if smtp != catcher:  # the commands send where the SMTP settings say, not to the catcher
        out.print(f"注意：各命令的邮件按 SMTP 设置发往 {smtp}，不经本机收信服务器。")
    out.print("停止：taskforce down")


def down() -> None:
    """停止 taskforce up 启动的 Prefect 服务和收信服务器。"""
    from flows.cli.services import stop

    stopped = stop(load_settings())
    out.print("已停止本机 Prefect 服务和收信服务器。" if stopped else "没有在运行的本机服务。")


def serve_command(
    policy: ServePoliciesOption = None,
) -> None:
    """长期运行：按北京时间定时提醒、督办、收取报送、汇总（五个 Prefect 部署，
    覆盖所有执行期内的政策；Ctrl-C 停止）。"""
    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        codes = list(session.exec(select(t.Policy.code).order_by(t.Policy.code)).all())
        for code in policy or []:
            get_policy(session, code)  # fail fast, before Prefect starts
    from flows.cli.services import use_running_server

    api_url = use_running_server(settings)  # before Prefect is imported: it reads the URL once
    from flows.serve import TICKS, serve_ticks
    from tasks.serving import deployment_specs

    table = Table("部署", "计划", title="taskforce serve：定时运行的部署")
    table.add_column("说明", overflow="fold")
    for spec in deployment_specs():
        table.add_row(
            f"{TICKS[spec.kind].name}/{spec.name}", spec.schedule.label(), spec.description
        )
    out.print(whole(table))
    if policy:
        out.print(f"每次运行只覆盖：{'、'.join(policy)}（--policy）。")
    else:
        # Loading a policy later needs no restart: each run reads the policies from the database.
        loaded = "、".join(codes) or "尚无（taskforce policy load 载入后即纳入，无须重启）"
        out.print(f"每次运行覆盖当日处于执行期的全部政策；已载入：{loaded}。")
    out.print(
        f"各政策依次运行，同时运行的政策不超过 {settings.policy_concurrency} 项"
        "（TASKFORCE_POLICY_CONCURRENCY）；某一政策出错不影响其他政策。"
    )
    limit = settings.serve.max_lateness_minutes
    out.print(f"停机后补跑的运行，推迟超过 {limit} 分钟的跳过（收取报送超过 10 分钟即跳过）。")
    # Stopping pauses the deployments and restarting resumes them (serve_ticks says why).
    out.print(
        "停止服务（Ctrl-C 或 kill）时以上部署自动暂停，不再排队运行；"
        "重新执行 taskforce serve 即全部恢复（在界面中手动暂停的部署也会恢复）。"
    )
    out.print(f"运行日志写入 {log_file(settings)}（加 taskforce --verbose 则同时显示在终端）。")
    if api_url:
        out.print(f"部署登记到 {api_url}，可在 Prefect 界面查看运行和审批。")
    else:
        out.print(
            "[yellow]未运行 taskforce up，也未设置 PREFECT_API_URL：使用 Prefect 临时服务器"
            "（随本进程退出，无界面）。[/yellow]"
        )
    serve_ticks(policy)


def demo(
    policy_file: Annotated[
        Path, typer.Option("--policy-file", help="政策配置文件（默认陵川 2023）")
    ] = DEMO_POLICY,
    first: Annotated[str, typer.Option("--from", help="回放起始日")] = "2023-01-12",
    last: Annotated[str, typer.Option("--to", help="回放截止日（含）")] = "2023-04-10",
    ui: Annotated[
        bool, typer.Option("--ui", help="同时启动 Prefect 服务及界面（taskforce up），演示后保留")
    ] = False,
) -> None:
    """演示：在空数据库上逐日回放一个季度——发出通知和提醒，模拟各单位回复，收取登记，
    督办与审批，月度汇总与通报；最后列出汇总表和产出文件所在位置。"""
    settings = load_settings()
    if settings.production:
        raise TaskforceError("生产环境（TASKFORCE_PRODUCTION）不能运行演示")
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as exc:
        raise TaskforceError(f"日期应写作 2023-01-12：{exc}") from None
    if end < start:
        raise TaskforceError(f"回放截止日 {last} 早于起始日 {first}")
    if ui:
        from flows.cli.services import start as start_services

        try:
            services = start_services(settings, 4200)
        except OSError as exc:
            raise TaskforceError(str(exc)) from None
    prefect_server(settings)
    from flows.demo import run_demo  # Prefect: imported only when needed

    run_demo(settings, policy_file, start, end, out)
    if ui:
        out.print(
            f"Prefect 界面：{services.api_url.removesuffix('/api')}"
            "（流程运行与产出物；taskforce down 停止）"
        )


def simulate_replies(
    policy: PolicyOption,
    period: Annotated[str, typer.Option("--period", help="报告期，如 2023 或 2023-02")],
) -> None:
    """演示用：模拟各单位用收到的报表回复专班办公室（多数按时，个别逾期、填错后更正、
    用 Word 报送或不报），经 SMTP 发往办公室邮箱。"""
    from tasks.demo.bureaus import mail_replies, plan_bureau_replies

    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        office = get_policy(session, policy).task_force_spec.office.mailbox
    replies = plan_bureau_replies(settings, policy, period)
    if not replies:
        out.print(
            f"{policy} {period} 没有已发出的报表，无可模拟的回复（请先运行 taskforce remind）。"
        )
        return
    asyncio.run(mail_replies(settings, office, replies))
    labels = {"on_time": "按时", "late": "逾期", "invalid_then_corrected": "填错后更正",
              "word": "Word 文档", "never": "未报"}  # fmt: skip
    counts: dict[str, int] = {}
    for r in replies:
        counts[labels[r.behaviour]] = counts.get(labels[r.behaviour], 0) + 1
    out.print(
        f"模拟单位回复 {len(replies)} 封已发往 {office}（"
        + "，".join(f"{k} {v}" for k, v in counts.items())
        + "）。"
    )
