"""The ``taskforce`` command line.

User errors (a missing file, bad YAML, an unknown policy) print one line and exit with code 2;
anything else is a bug and keeps its traceback. Prefect is imported only by commands that run
flows, so configuration commands start fast.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from config.errors import TaskforceError
from config.loading import load_policy_file
from config.settings import Settings
from models import tables as t
from models.db import init_db, session_scope
from models.policy_store import get_policy, load_policy, policy_cycles, policy_document
from tasks.calendar import SHANGHAI, WorkingCalendar, parse_as_of, short_day
from tasks.cycles import cycles_for_policy
from tasks.ics import cycles_to_ics

app = typer.Typer(
    help="县级工作专班报送期限管理：政策载入、报送日历、提醒与汇总。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="数据库", no_args_is_help=True)
policy_app = typer.Typer(help="政策配置", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")

# Rich falls back to 80 columns when piped; Chinese tables need more to stay readable.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
ROLE_LABELS = {"lead": "牵头", "support": "配合", "responsible": "负责"}


def _settings() -> Settings:
    return Settings()


def _prefect_server(settings: Settings) -> None:
    """Use the server `taskforce up` started; without one, say once that the temporary server
    (about 10 s to start, per command) is used."""
    from flows.services import run_dir, use_running_server

    if use_running_server(settings):
        return
    marker = run_dir(settings) / "temporary-server-noted"
    if not marker.exists():
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            "提示：未运行 taskforce up，本命令使用 Prefect 临时服务器（每次启动约7–14秒）；"
            "先运行 taskforce up 可加快各命令。"
        )
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


@db_app.command("init")
def db_init() -> None:
    """建立数据库表（已存在的表不变）。"""
    settings = _settings()
    init_db(settings)
    out.print(f"数据库已就绪：{settings.effective_database_url}")


@policy_app.command("load")
def policy_load(
    files: Annotated[list[Path], typer.Argument(help="政策配置文件（YAML），可多个")],
) -> None:
    """校验并载入政策配置；重复载入不产生变化，配置中删去的措施标记为停用。"""
    settings = _settings()
    calendar = WorkingCalendar.from_settings(settings)
    bundles = [load_policy_file(file, settings) for file in files]  # validate all first
    init_db(settings)
    now = datetime.now(UTC)
    for bundle in bundles:
        cycles = cycles_for_policy(bundle.policy, calendar)
        with session_scope(settings) as session:
            report = load_policy(session, bundle, cycles, now=now)
        p = bundle.policy
        summary = (
            f"{len(p.measures)} 条措施、{len(p.obligations)} 项报送事项、{len(cycles)} 个报送周期"
        )
        if report.changed:
            changes = "；".join(
                f"{label} {sum(bucket.values())} 条记录"
                for label, bucket in (
                    ("新增", report.created),
                    ("更新", report.updated),
                    ("停用", report.retired),
                )
                if bucket
            )
            out.print(f"已载入 {p.code}（{p.county} {p.document.number}）：{summary}。{changes}")
        else:
            out.print(f"{p.code} 与数据库一致，无变化（{summary}）。")
        if not all(c.official for c in cycles):
            out.print("[yellow]注意：部分日期按周末推算，非官方节假日安排。[/yellow]")


@policy_app.command("list")
def policy_list() -> None:
    """列出已载入的政策。"""
    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        rows = session.exec(select(t.Policy).order_by(col(t.Policy.code))).all()
    table = Table("代码", "县", "文号", "标题", "印发日期", "有效期", title="已载入政策")
    for p in rows:
        table.add_row(
            p.code,
            p.county,
            p.doc_number,
            p.title,
            p.issued.isoformat(),
            f"{p.active_start}～{p.active_end}",
        )
    out.print(table if rows else "数据库中尚无政策；请运行 taskforce policy load。")


@policy_app.command("show")
def policy_show(
    code: Annotated[str, typer.Argument(help="政策代码，如 lingchuan-2023")],
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（供脚本使用）")] = False,
) -> None:
    """显示政策的措施、责任单位、目标和报送事项。"""
    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        doc = policy_document(session, code)
    if as_json:
        _print_json(doc)
        return
    out.print(
        f"[bold]{doc['title']}[/bold]\n{doc['county']} {doc['document_number']}，"
        f"{doc['issuer']} {doc['issued']} 印发"
    )
    measures = Table(title="措施", show_lines=True)
    measures.add_column("编号", no_wrap=True)
    measures.add_column("措施", overflow="fold", ratio=2)
    # Chinese has no spaces to wrap at: fold instead of cutting the unit list short.
    measures.add_column("责任单位（角色）", overflow="fold", ratio=3)
    measures.add_column("量化目标", overflow="fold", ratio=2)
    for m in doc["measures"]:
        # A collective (各乡镇人民政府) is shown once, as the notice names it.
        named = dict.fromkeys(
            f"{u['via'] or u['name']}（{ROLE_LABELS[u['role']]}）" for u in m["units"]
        )
        units = "、".join(named)
        targets = "\n".join(
            f"{g['metric']}：{g['value']:g}{g['unit']}，{g['due_phrase']} {g['due']}"
            for g in m["targets"]
        )
        measures.add_row(m["number"], m["title"], units, targets)
    out.print(measures)
    obligations = Table("代码", "报送事项", "频次", "报送单位数", title="报送事项")
    obligations.add_column("内容", overflow="fold")
    for o in doc["obligations"]:
        obligations.add_row(
            o["code"],
            o["name"],
            "每月" if o["frequency"] == "monthly" else "一次",
            str(len(o["recipients"])),
            "、".join(o["content"]),
        )
    out.print(obligations)
    groups = Table("代码", "名称", "牵头单位", "覆盖章节", title="专班 / 专项推进组")
    for g in doc["groups"]:
        groups.add_row(g["code"], g["name"], "、".join(g["lead_units"]), "、".join(g["sections"]))
    out.print(groups)


@policy_app.command("import")
def policy_import(
    document: Annotated[Path, typer.Argument(help="通知原文（.txt 或 .docx）")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="草稿输出路径，如 config/policies/NAME.yaml")
    ],
    units: Annotated[
        str | None, typer.Option("--units", help="单位目录名（默认按发文县自动选择）")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="覆盖已存在的输出文件")] = False,
) -> None:
    """从通知原文生成政策配置草稿，供办公室审核；存疑事项列入 review。"""
    from config.errors import ConfigError  # only this command raises it directly
    from tasks.policy_import.importer import import_file

    if output.exists() and not force:
        raise ConfigError(output, "", "输出文件已存在；如需覆盖请加 --force")
    settings = _settings()
    result = import_file(
        document,
        code=output.stem,
        units_dir=settings.units_dir,
        units=units,
        today=datetime.now(SHANGHAI).date(),  # stands in only for a notice without a date
    )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(result.to_yaml(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(output, "", f"无法写入：{exc.strerror or exc}") from None
    c = result.counts
    table = Table("项目", "数量", title=f"导入结果：{document.name}")
    for label, key in (
        ("章节", "sections"),
        ("措施（含子项）", "measures"),
        ("责任单位", "units"),
        ("量化目标", "targets"),
        ("报送事项", "obligations"),
        ("目录中没有的单位", "unknown_units"),
        ("待核对事项", "review"),
    ):
        table.add_row(label, str(c[key]))
    out.print(table)
    if result.unknown_units:
        out.print("目录中没有的单位（请添加到单位目录）：" + "、".join(result.unknown_units))
    for index, item in enumerate(result.review, 1):
        out.print(f"{index}. {item}")
    if not result.valid:
        out.print("[yellow]注意：草稿未通过格式校验，补全后才能载入。[/yellow]")
    out.print(f"草稿已写入 {output}，请核对后再运行 taskforce policy load。")


@app.command("calendar")
def calendar(
    policy: Annotated[str, typer.Option("--policy", help="政策代码")],
    year: Annotated[int | None, typer.Option("--year", help="只显示所属期在该年的周期")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（供脚本使用）")] = False,
    ics: Annotated[Path | None, typer.Option("--ics", help="另存为 iCalendar 文件")] = None,
) -> None:
    """显示报送日历：每个周期的所属期、截止日期（星期）和提醒日。"""
    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        policy_row = get_policy(session, policy)
        rows = policy_cycles(session, policy, year)
    if as_json:
        _print_json([_cycle_json(policy, o, c) for o, c in rows])
    else:
        _print_calendar(policy_row, rows, year)
    if ics is not None:
        ics.parent.mkdir(parents=True, exist_ok=True)
        ics.write_bytes(cycles_to_ics(policy_row, rows))
        if not as_json:
            out.print(f"已写出日历文件：{ics}")


@app.command("remind")
def remind(
    policy: Annotated[str, typer.Option("--policy", help="政策代码")],
    as_of: Annotated[
        list[str] | None,
        typer.Option("--as-of", help="按该时刻计算（默认现在，北京时间）；可重复，依次运行"),
    ] = None,
) -> None:
    """发送当日的报送开始通知和提醒（一次性报送与月度报告），已报送单位不再提醒。"""
    settings = _settings()
    moments = [parse_as_of(value) for value in as_of] if as_of else [parse_as_of(None)]
    init_db(settings)
    with session_scope(settings) as session:
        get_policy(session, policy)  # fail fast, before Prefect starts
    _prefect_server(settings)
    import gc

    # A short process whose modules live until it ends. Importing Prefect doubles what the
    # cyclic GC tracks (to ~170,000 objects) and the GC re-scans them over and over (10-20 % of
    # the import), then frees them one by one at exit (0.6-1 s here): freeze what is loaded
    # before and after the import, and collect less often in between.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    from flows.reminders import reminders_flow  # Prefect: imported only when needed

    gc.freeze()

    async def run_all() -> list[tuple[datetime, dict[str, int]]]:
        # One flow run a day for the one-off and the monthly reports alike (see reminders_flow).
        return [(moment, await reminders_flow(policy, moment.isoformat())) for moment in moments]

    for moment, counts in asyncio.run(run_all()):
        out.print(
            f"{moment:%Y-%m-%d %H:%M} 报送提醒：新入发件箱 {counts['queued']}，"
            f"已发送 {counts['sent']}，失败 {counts['failed']}，待重发 {counts['pending']}，"
            f"此前已入箱 {counts['already']}，已报送跳过 {counts['skipped']}"
        )


@app.command("mailcatcher")
def mailcatcher(
    demo_clock: Annotated[
        bool, typer.Option("--demo-clock", help="演示用：按模拟单位邮件所标时间记录收到时间")
    ] = False,
) -> None:
    """在本机启动收信服务器（演示与测试用），每封邮件存为 var/mail/ 下的 .eml 文件；
    发往专班办公室邮箱的另投递到 var/maildir/ 供收取。"""
    from tasks.demo.mailcatcher import serve_forever

    serve_forever(_settings(), demo_clock=demo_clock)


@app.command("up")
def up(
    port: Annotated[int, typer.Option("--port", help="Prefect 服务端口")] = 4200,
) -> None:
    """在后台启动本机 Prefect 服务（含界面，数据在 var/prefect-server）和收信服务器；
    之后各命令直接使用它们，不再每次启动临时服务器。"""
    from flows.services import start

    settings = _settings()
    try:
        services = start(settings, port)
    except OSError as exc:
        raise TaskforceError(str(exc)) from None
    out.print(f"Prefect 服务已运行：{services.api_url.removesuffix('/api')}（界面同址）")
    if services.catcher_pid is None:
        out.print(f"收信服务器：{settings.smtp.host}:{settings.smtp.port} 已有服务在监听，沿用。")
    else:
        out.print(f"收信服务器已运行：{settings.smtp.host}:{settings.smtp.port}")
    out.print("停止：taskforce down")


@app.command("down")
def down() -> None:
    """停止 taskforce up 启动的 Prefect 服务和收信服务器。"""
    from flows.services import stop

    stopped = stop(_settings())
    out.print("已停止本机 Prefect 服务和收信服务器。" if stopped else "没有在运行的本机服务。")


intake_app = typer.Typer(help="收取报送：邮箱收取、重放、纸质件登记", invoke_without_command=True)
app.add_typer(intake_app, name="intake")
review_app = typer.Typer(help="审核未使用报表的报送", invoke_without_command=True)
app.add_typer(review_app, name="review")
cases_app = typer.Typer(help="督办事项：列表、审批、销号、延期", invoke_without_command=True)
app.add_typer(cases_app, name="cases")


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
            line["received_at"], line["unit"] or line["sender"], line["obligation"],
            line["period"], str(line["version"] or ""), outcome_label(line["outcome"]),
            late, problems,
        )  # fmt: skip
    if summary.lines:
        out.print(table)
    out.print(
        f"{summary.source}：处理 {len(summary.lines)} 项，"
        f"此前已收取而跳过 {summary.duplicates} 封。"
    )


@intake_app.callback()
def intake(
    ctx: typer.Context,
    policy: Annotated[str | None, typer.Option("--policy", help="政策代码")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="maildir 或 imap（默认按设置）")
    ] = None,
) -> None:
    """收取一次办公室邮箱中的报送，登记并发送回执或退回通知。"""
    if ctx.invoked_subcommand is not None:
        return
    if policy is None:
        raise typer.BadParameter("请用 --policy 指明政策代码", param_hint="--policy")
    if source not in (None, "maildir", "imap"):
        raise typer.BadParameter(f"{source!r} 应为 maildir 或 imap", param_hint="--source")
    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        get_policy(session, policy)  # fail fast, before Prefect starts
    _prefect_server(settings)
    from flows.intake import intake_flow

    summary = asyncio.run(intake_flow(policy, source, settings))
    _print_intake(summary)


@intake_app.command("replay")
def intake_replay(
    items: Annotated[list[int] | None, typer.Argument(help="原件编号；不填则重放出错的")] = None,
    policy: Annotated[str | None, typer.Option("--policy", help="只重放该政策的")] = None,
) -> None:
    """按存档原件重新处理（修复解析问题后使用）；已登记过报送的原件不重复处理。"""
    from tasks.intake.steps import replay

    settings = _settings()
    init_db(settings)
    summary = replay(settings, policy_code=policy, item_ids=items or [], now=datetime.now(UTC))
    _print_intake(summary)


@app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="报送文件：填好的报表，或扫描件等")],
    unit: Annotated[str, typer.Option("--unit", help="报送单位（名称或代码）")],
    policy: Annotated[str, typer.Option("--policy", help="政策代码")],
    period: Annotated[str, typer.Option("--period", help="报告期，如 2023-02")],
    obligation: Annotated[
        str | None, typer.Option("--obligation", help="报送事项代码（报告期有多项时必填）")
    ] = None,
    received_at: Annotated[
        str | None, typer.Option("--received-at", help="收到时间（默认现在，北京时间）")
    ] = None,
) -> None:
    """登记纸质报送（如加盖公章的纸质件），渠道记为“纸质件”。"""
    from tasks.intake.steps import submit_paper

    settings = _settings()
    init_db(settings)
    summary = submit_paper(
        settings,
        policy_code=policy,
        unit_code=unit,
        period=period,
        file=file,
        obligation=obligation,
        received_at=parse_as_of(received_at),
        now=datetime.now(UTC),
    )
    if summary.duplicates:
        out.print(f"文件 {file} 此前已登记过，未重复登记。")
        return
    _print_intake(summary)
    if any(line["outcome"] == "rejected" for line in summary.lines):
        out.print("[yellow]报表未通过校验，已登记为退回，退回通知已入发件箱。[/yellow]")


@app.command("submissions")
def submissions(
    policy: Annotated[str, typer.Option("--policy", help="政策代码")],
    period: Annotated[str | None, typer.Option("--period", help="报告期，如 2023-02")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（供脚本使用）")] = False,
) -> None:
    """按单位和报告期列出最新一次报送：状态、渠道、收到时间、是否逾期。"""
    from models.submission_view import submission_rows

    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        rows = submission_rows(session, policy, period)
    if as_json:
        _print_json(rows)
        return
    table = Table(
        "报送事项", "报告期", "单位", "状态", "版本", "渠道", "收到时间", "逾期", "编号",
        title=f"{policy} 报送情况" + (f"（{period}）" if period else ""),
    )  # fmt: skip
    table.add_column("问题", overflow="fold")
    for r in rows:
        late = f"{r['late_working_days']} 个工作日" if r["late_working_days"] else ""
        table.add_row(
            r["obligation_name"], r["period"], r["unit"], r["status_label"],
            str(r["version"] or ""), r["channel_label"], r["received_at_local"] or "",
            late, str(r["submission_id"] or ""), "；".join(e["problem"] for e in r["errors"]),
        )  # fmt: skip
    out.print(table if rows else "尚无报送记录。")


@review_app.callback()
def review(
    ctx: typer.Context,
    policy: Annotated[str | None, typer.Option("--policy", help="政策代码")] = None,
) -> None:
    """列出待审核的报送（未使用下发报表的回复）。"""
    if ctx.invoked_subcommand is not None:
        return
    from models.submission_view import submission_rows

    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        codes = [policy] if policy else list(session.exec(select(t.Policy.code)).all())
        rows = [r for code in codes for r in submission_rows(session, code, None)]
    pending = [r for r in rows if r["status"] == "unstructured"]
    table = Table("编号", "单位", "报送事项", "报告期", "收到时间", "附件", title="待审核报送")
    table.add_column("内容摘要", overflow="fold")
    for r in pending:
        table.add_row(
            str(r["submission_id"]), r["unit"], r["obligation_name"], r["period"],
            r["received_at_local"], r["attachment"], r["excerpt"],
        )  # fmt: skip
    out.print(table if pending else "没有待审核的报送。")
    if pending:
        out.print(
            "审核：taskforce review accept 编号 --progress 19=推进中 …；"
            "taskforce review reject 编号 --reason 原因"
        )


@review_app.command("accept")
def review_accept(
    submission_id: Annotated[int, typer.Argument(help="报送记录编号")],
    progress: Annotated[
        list[str] | None,
        typer.Option("--progress", help="措施进展：措施编号=状态[:完成值]，可重复"),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="审核意见")] = "",
    reviewer: Annotated[str, typer.Option("--by", help="审核人")] = "办公室",
) -> None:
    """受理待审核的报送，登记审核人读出的进展。"""
    from tasks.intake.review import parse_progress, review_submission

    settings = _settings()
    entries = [parse_progress(p) for p in progress or []]
    new = review_submission(
        settings, submission_id, accept=True, progress=entries, note=note,
        reviewer=reviewer, now=datetime.now(UTC),
    )  # fmt: skip
    out.print(f"已受理：报送记录 {submission_id} → 第 {new.version} 版（编号 {new.id}），"
              f"登记进展 {len(entries)} 条。")  # fmt: skip


@review_app.command("reject")
def review_reject(
    submission_id: Annotated[int, typer.Argument(help="报送记录编号")],
    reason: Annotated[str, typer.Option("--reason", help="退回原因（将通知报送单位）")] = "",
    reviewer: Annotated[str, typer.Option("--by", help="审核人")] = "办公室",
) -> None:
    """退回待审核的报送，并通知报送单位（退回通知入发件箱，下次运行发出）。"""
    from tasks.intake.review import review_submission

    settings = _settings()
    new = review_submission(
        settings, submission_id, accept=False, progress=[], note=reason,
        reviewer=reviewer, now=datetime.now(UTC),
    )  # fmt: skip
    out.print(
        f"已退回：报送记录 {submission_id} → 第 {new.version} 版（编号 {new.id}），"
        "退回通知已入发件箱。"
    )


@app.command("consolidate")
def consolidate_command(
    policy: Annotated[str, typer.Option("--policy", help="政策代码")],
    period: Annotated[
        str | None, typer.Option("--period", help="报告期，如 2023-02（默认：最近到期的一期）")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="按该时刻汇总（默认现在，北京时间）")
    ] = None,
    obligation: Annotated[
        str | None, typer.Option("--obligation", help="报送事项代码（默认月度报告）")
    ] = None,
    year: Annotated[
        str | None, typer.Option("--year", help="改为生成该年度的年度汇总，如 2023")
    ] = None,
) -> None:
    """汇总一期报送：生成月度通报（HTML、Markdown）和汇总表（XLSX），发送给专班领导；
    加 --year 则生成年度汇总（各单位按时报送率、逾期和未报月份、目标完成、督办情况）。"""
    settings = _settings()
    moment = parse_as_of(as_of)  # a bad --as-of is a user error before Prefect starts
    init_db(settings)
    with session_scope(settings) as session:
        get_policy(session, policy)
    _prefect_server(settings)
    from flows.consolidation import annual_flow, consolidation_flow

    if year is not None:
        annual = asyncio.run(annual_flow(policy, year, moment.isoformat(), obligation, settings))
        rollup = annual.rollup
        out.print(
            f"{rollup.county}{year}年度汇总（{len(rollup.periods)} 期，"
            f"{len(rollup.rows)} 个单位），第 {annual.version} 版："
            + "".join(f"\n  {path}" for path in annual.files)
        )
        return

    result = asyncio.run(
        consolidation_flow(policy, period, moment.isoformat(), obligation, settings)
    )
    c = result.consolidation
    counts = c.counts
    out.print(
        f"{c.source.county} {c.source.period_label}{c.source.obligation_name}：应报送 "
        f"{counts['obligated']} 个单位，按时 {counts['on_time']}，逾期 {counts['late']}，"
        f"未报送 {counts['missing']}，退回未改 {counts['rejected']}，"
        f"待审核 {counts['needs_review']}；按时报送率 {100 * c.on_time_rate:.1f}%。"
    )
    state = "新版本" if result.new_version else "内容无变化，沿用"
    out.print(f"第 {result.version} 版（{state}）：")
    for path in result.files:
        out.print(f"  {path}")
    if not result.leaders:
        out.print("[yellow]政策配置中没有专班领导邮箱，通报未发送。[/yellow]")


@app.command("escalate")
def escalate_command(
    policy: Annotated[str, typer.Option("--policy", help="政策代码")],
    as_of: Annotated[
        list[str] | None,
        typer.Option("--as-of", help="按该时刻运行（默认现在，北京时间）；可重复，依次运行"),
    ] = None,
    wait_approval: Annotated[
        int | None,
        typer.Option(
            "--wait-approval",
            min=0,
            help="有待审批的升级建议时，暂停等待办公室在 Prefect 界面审批的秒数（0 为不等待）",
        ),
    ] = None,
) -> None:
    """运行督办：逾期催报、立督办单（“13710”时限）、提请升级；同一时刻重复运行不重复发送。"""
    settings = _settings()
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
    _prefect_server(settings)
    from flows.escalation import escalation_flow

    async def run_all() -> list[Any]:
        return [await escalation_flow(policy, m.isoformat(), settings) for m in moments]

    summaries = asyncio.run(run_all())
    for summary in summaries:
        out.print(
            f"{summary.as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M}：催报 {len(summary.overdue)}，"
            f"新立督办 {len(summary.opened)}，办结待销号 {len(summary.resolved)}，"
            f"提请升级 {len(summary.proposed)}，待审批 {len(summary.awaiting)}；"
            f"报县政府督查 {len(summary.supervision)}，约谈 {len(summary.interview)}，"
            f"通报表扬 {len(summary.commendations)}"
        )
        for decision in summary.decisions:
            out.print(f"  审批：{decision}")
    if summaries and summaries[-1].awaiting:
        out.print("待审批：taskforce cases --open 查看，taskforce cases approve|reject 编号 审批。")


@app.command("serve")
def serve_command(
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="只运行该政策（可重复；默认全部已载入的政策）"),
    ] = None,
) -> None:
    """长期运行：按北京时间定时提醒、督办、收取报送、汇总（Prefect 部署，Ctrl-C 停止）。"""
    from config.errors import NotFoundError

    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        codes = policy or list(session.exec(select(t.Policy.code).order_by(t.Policy.code)).all())
        for code in codes:
            get_policy(session, code)  # fail fast, before Prefect starts
    if not codes:
        raise NotFoundError("数据库中尚无政策；请先运行 taskforce policy load")
    from flows.services import use_running_server

    api_url = use_running_server(settings)  # before Prefect is imported: it reads the URL once
    from flows.serve import TICKS, serve_policies
    from tasks.serving import deployment_specs

    # The deployment is named after the policy; its parameters carry the same code.
    table = Table("部署", "计划", title="taskforce serve：定时运行的部署")
    table.add_column("说明", overflow="fold")
    for spec in deployment_specs(codes):
        table.add_row(
            f"{TICKS[spec.kind].name}/{spec.name}", spec.schedule.label(), spec.description
        )
    out.print(table)
    limit = settings.serve.max_lateness_minutes
    out.print(f"停机后补跑的运行，推迟超过 {limit} 分钟的跳过（收取报送超过 10 分钟即跳过）。")
    # Stopping pauses the deployments and restarting resumes them (serve_policies says why).
    out.print(
        "停止服务（Ctrl-C 或 kill）时以上部署自动暂停，不再排队运行；"
        "重新执行 taskforce serve 即全部恢复（在界面中手动暂停的部署也会恢复）。"
    )
    if api_url:
        out.print(f"部署登记到 {api_url}，可在 Prefect 界面查看运行和审批。")
    else:
        out.print(
            "[yellow]未运行 taskforce up，也未设置 PREFECT_API_URL：使用 Prefect 临时服务器"
            "（随本进程退出，无界面）。[/yellow]"
        )
    serve_policies(codes)


@cases_app.callback()
def cases(
    ctx: typer.Context,
    policy: Annotated[str | None, typer.Option("--policy", help="政策代码")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="只列未销号的")] = False,
    awaiting: Annotated[bool, typer.Option("--awaiting", help="只列待审批的")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（供脚本使用）")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="按该日判断是否超时")] = None,
) -> None:
    """列出督办事项及其“13710”时限。"""
    if ctx.invoked_subcommand is not None:
        return
    from tasks.escalation.case_view import case_rows

    settings = _settings()
    init_db(settings)
    today = parse_as_of(as_of).astimezone(SHANGHAI).date()
    with session_scope(settings) as session:
        rows = case_rows(session, settings, policy, today)
    if open_only:
        rows = [r for r in rows if r["state"] != "closed"]
    if awaiting:
        rows = [r for r in rows if r["state"] == "awaiting_approval"]
    if as_json:
        _print_json(rows)
        return
    colour = {"red": "red", "yellow": "yellow", "green": "green"}
    table = Table(
        "编号", "督办单号", "单位", "立案", "状态", "时限（部署/反馈/办结/重大）", title="督办事项"
    )
    table.add_column("事由", overflow="fold")
    for r in rows:
        clocks = " / ".join(c["deadline"][5:] if c["deadline"] else "—" for c in r["clocks"][:4])
        style = colour.get(r["light"], "")
        table.add_row(
            str(r["id"]), r["number"], r["unit"], r["opened"][:10],
            f"[{style}]{r['state_label']}[/{style}]" if style else r["state_label"],
            clocks, r["reason"],
        )  # fmt: skip
    out.print(table if rows else "没有督办事项。")


CaseIds = Annotated[list[int], typer.Argument(help="督办事项编号（可多个）")]
AtOption = Annotated[
    str | None, typer.Option("--at", help="记录的办理时刻（默认现在；补录或回放时使用）")
]


def _case_action(
    action: str, case_ids: list[int], by: str, note: str, days: int, at: str | None
) -> None:
    from tasks.escalation.steps import decide_case

    settings = _settings()
    moment = parse_as_of(at) if at else datetime.now(UTC)
    for case_id in case_ids:
        state = decide_case(settings, case_id, action, by=by, note=note, days=days, at=moment)
        out.print(f"督办事项 {case_id}：{state.label}")


@cases_app.command("approve")
def cases_approve(
    case_ids: CaseIds,
    by: Annotated[str, typer.Option("--by", help="审批人")] = "办公室",
    note: Annotated[str, typer.Option("--note", help="意见")] = "",
    at: AtOption = None,
) -> None:
    """同意升级建议（报县政府督查或约谈）。"""
    _case_action("approve", case_ids, by, note, 0, at)


@cases_app.command("reject")
def cases_reject(
    case_ids: CaseIds,
    by: Annotated[str, typer.Option("--by", help="审批人")] = "办公室",
    note: Annotated[str, typer.Option("--note", help="意见")] = "",
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
    by: Annotated[str, typer.Option("--by", help="审批人")] = "办公室",
    at: AtOption = None,
) -> None:
    """延期：各项时限顺延，并记录理由。"""
    _case_action("extend", case_ids, by, reason, days, at)


DEMO_POLICY = Path(__file__).resolve().parent.parent / "config" / "policies" / "lingchuan-2023.yaml"


@app.command("demo")
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
    settings = _settings()
    if settings.production:
        raise TaskforceError("生产环境（TASKFORCE_PRODUCTION）不能运行演示")
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as exc:
        raise TaskforceError(f"日期应写作 2023-01-12：{exc}") from None
    if end < start:
        raise TaskforceError(f"回放截止日 {last} 早于起始日 {first}")
    if ui:
        from flows.services import start as start_services

        try:
            services = start_services(settings, 4200)
        except OSError as exc:
            raise TaskforceError(str(exc)) from None
    _prefect_server(settings)
    from flows.demo import run_demo  # Prefect: imported only when needed

    run_demo(settings, policy_file, start, end, out)
    if ui:
        out.print(
            f"Prefect 界面：{services.api_url.removesuffix('/api')}"
            "（流程运行与产出物；taskforce down 停止）"
        )


@app.command("simulate-replies")
def simulate_replies(
    policy: Annotated[str, typer.Option("--policy", help="政策代码")],
    period: Annotated[str, typer.Option("--period", help="报告期，如 2023 或 2023-02")],
) -> None:
    """演示用：模拟各单位用收到的报表回复专班办公室（多数按时，个别逾期、填错后更正、
    用 Word 报送或不报），经 SMTP 发往办公室邮箱。"""
    from tasks.demo.bureaus import mail_replies, plan_bureau_replies

    settings = _settings()
    init_db(settings)
    with session_scope(settings) as session:
        office = str(get_policy(session, policy).task_force.get("office", {}).get("mailbox", ""))
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


def _cycle_json(code: str, obligation: t.Obligation, cycle: t.Cycle) -> dict[str, Any]:
    return {
        "policy": code,
        "obligation": obligation.code,
        "obligation_name": obligation.name,
        "period": cycle.period,
        "period_label": cycle.period_label,
        "opens": cycle.opens.isoformat(),
        "due": cycle.due_at.astimezone(SHANGHAI).isoformat(),
        "reminders": list(cycle.reminders),
        "official": cycle.official,
    }


def _print_calendar(
    policy: t.Policy, rows: list[tuple[t.Obligation, t.Cycle]], year: int | None
) -> None:
    title = f"{policy.county}（{policy.code}）{f'{year}年' if year else ''}报送日历"
    table = Table("报送事项", "所属期", "开始通知", "截止", "提醒日", title=title)
    for obligation, cycle in rows:
        due_local = cycle.due_at.astimezone(SHANGHAI)
        due = f"{short_day(due_local.date())} {due_local:%H:%M}"
        if not cycle.official:
            due += " [yellow]非官方日历[/yellow]"
        reminders = "、".join(short_day(date.fromisoformat(d)) for d in cycle.reminders)
        table.add_row(obligation.name, cycle.period_label, short_day(cycle.opens), due, reminders)
    out.print(table if rows else f"{title}：没有周期。")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def main() -> None:
    """Console entry: user errors become one line and exit code 2."""
    try:
        app()  # standalone: click handles usage errors (exit 2) and raises SystemExit
    except TaskforceError as exc:
        Console(stderr=True, highlight=False).print(f"[red]错误：[/red]{exc}", soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
