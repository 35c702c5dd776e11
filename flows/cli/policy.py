"""Configuration commands: ``db init``, ``policy load/list/show/import`` and ``calendar``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlmodel import col, select

from config.loading import load_policy_file
from config.schema import FREQUENCY_LABELS
from flows.cli.common import JsonOption, JsonRow, PolicyOption, load_settings, out, print_json
from flows.cli.keys import form_lines
from flows.cli.tables import whole
from models import tables as t
from models.db import Upgraded, init_db, session_scope, upgrade_db
from models.policy_store import get_policy, load_policy, policy_cycles, policy_document
from tasks.calendar import SHANGHAI, WorkingCalendar, short_day
from tasks.cycles import cycles_for_policy
from tasks.ics import cycles_to_ics

if TYPE_CHECKING:
    from tasks.policy_import.importer import ImportResult

db_app = typer.Typer(
    help="数据库：init 建立数据库表，upgrade 将旧数据库升级到本版本的表结构", no_args_is_help=True
)
policy_app = typer.Typer(
    help="政策配置：load 载入、list 列出、show 查看、import 从通知原文生成草稿",
    no_args_is_help=True,
)

ROLE_LABELS = {"lead": "牵头", "support": "配合", "responsible": "负责"}


class CycleRow(JsonRow):
    """One reporting cycle in ``calendar --json``."""

    policy: str
    obligation: str
    obligation_name: str
    period: str
    period_label: str
    opens: str
    due: str  # ISO, Beijing time
    reminders: list[str]
    official: bool

    @classmethod
    def of(cls, code: str, obligation: t.Obligation, cycle: t.Cycle) -> CycleRow:
        return cls(
            policy=code,
            obligation=obligation.code,
            obligation_name=obligation.name,
            period=cycle.period,
            period_label=cycle.period_label,
            opens=cycle.opens.isoformat(),
            due=cycle.due_at.astimezone(SHANGHAI).isoformat(),
            reminders=list(cycle.reminders),
            official=cycle.official,
        )


@db_app.command("init")
def db_init() -> None:
    """建立数据库表；已有的数据库则就地升级到本版本的表结构，原有数据保留。"""
    settings = load_settings()
    done = upgrade_db(settings)
    out.print(f"数据库已就绪：{settings.shown_database_url}", markup=False)
    out.print(upgrade_line(done), markup=False)
    for line in form_lines(settings):
        out.print(line, markup=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """将数据库就地升级到本版本的表结构，原有数据保留（升级前请先备份）；已是最新则不变。"""
    settings = load_settings()
    out.print(upgrade_line(upgrade_db(settings)), markup=False)
    out.print(f"数据库：{settings.shown_database_url}", markup=False)


def upgrade_line(done: Upgraded) -> str:
    """What ``db init`` and ``db upgrade`` say they did to the schema."""
    if done.before is None:
        return f"已建立数据库表（表结构版本 {done.after}）。"
    found = (
        f"数据库建于启用表结构版本管理之前，经核对与版本 {done.stamped} 一致，已记录版本号；"
        if done.stamped
        else ""
    )
    if done.before == done.after:
        return f"{found}表结构已是最新版本 {done.after}，无需升级。"
    return f"{found}表结构已从版本 {done.before} 升级到 {done.after}，原有数据保留。"


@policy_app.command("load")
def policy_load(
    files: Annotated[
        list[Path], typer.Argument(help="政策配置文件（YAML），可多个", metavar="配置文件")
    ],
) -> None:
    """校验并载入政策配置；重复载入不产生变化，配置中删去的措施标记为停用。"""
    settings = load_settings()
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
            # County and number come from a notice via the importer: never Rich markup.
            out.print(
                f"已载入 {p.code}（{p.county} {p.document.number}）：{summary}。{changes}",
                markup=False,
            )
        else:
            out.print(f"{p.code} 与数据库一致，无变化（{summary}）。")
        if not all(c.official for c in cycles):
            out.print("[yellow]注意：部分日期按周末推算，非官方节假日安排。[/yellow]")


@policy_app.command("list")
def policy_list() -> None:
    """列出已载入的政策。"""
    settings = load_settings()
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
    out.print(whole(table) if rows else "数据库中尚无政策；请运行 taskforce policy load。")


@policy_app.command("show")
def policy_show(
    code: Annotated[str, typer.Argument(help="政策代码，如 lingchuan-2023", metavar="政策代码")],
    as_json: JsonOption = False,
) -> None:
    """显示政策的措施、责任单位、目标和报送事项。"""
    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        doc = policy_document(session, code)
    if as_json:
        print_json(doc)
        return
    out.print(
        f"[bold]{doc['title']}[/bold]\n{doc['county']} {doc['document_number']}，"
        f"{doc['issuer']} {doc['issued']} 印发"
    )
    measures = Table(title="措施", show_lines=True)
    measures.add_column("编号", no_wrap=True)
    measures.add_column("措施", overflow="fold", ratio=2)
    # One unit a line: Chinese has no spaces to wrap a list at, and a name split over two
    # lines (县投资促进中|心) reads as two units.
    measures.add_column("责任单位（角色）", ratio=3)
    measures.add_column("量化目标", overflow="fold", ratio=2)
    for m in doc["measures"]:
        # A collective (各乡镇人民政府) is shown once, as the notice names it.
        named = dict.fromkeys(
            f"{u['via'] or u['name']}（{ROLE_LABELS[u['role']]}）" for u in m["units"]
        )
        units = "\n".join(named)
        targets = "\n".join(
            f"{g['metric']}：{g['value']:g}{g['unit']}，{g['due_phrase']} {g['due']}"
            for g in m["targets"]
        )
        measures.add_row(m["number"], m["title"], units, targets)
    out.print(whole(measures))
    obligations = Table("代码", "报送事项", "频次", "报送单位数", title="报送事项")
    obligations.add_column("内容", overflow="fold")
    for o in doc["obligations"]:
        obligations.add_row(
            o["code"],
            o["name"],
            FREQUENCY_LABELS[o["frequency"]],
            str(len(o["recipients"])),
            "、".join(o["content"]),
        )
    out.print(whole(obligations))
    groups = Table("代码", "名称", "牵头单位", "覆盖章节", title="专班 / 专项推进组")
    for g in doc["groups"]:
        groups.add_row(g["code"], g["name"], "、".join(g["lead_units"]), "、".join(g["sections"]))
    out.print(whole(groups))


@policy_app.command("import")
def policy_import(
    document: Annotated[Path, typer.Argument(help="通知原文（.txt 或 .docx）", metavar="通知原文")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="草稿输出路径，如 config/policies/NAME.yaml")
    ],
    units: Annotated[
        str | None, typer.Option("--units", help="单位目录名（默认按发文县自动选择）")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="覆盖已存在的输出文件")] = False,
) -> None:
    """从通知原文生成政策配置草稿，供办公室审核；存疑事项列入草稿的 review 部分（待核对事项）。"""
    from config.errors import ConfigError  # only this command raises it directly
    from tasks.policy_import.importer import import_file

    if output.exists() and not force:
        raise ConfigError(output, "", "输出文件已存在；如需覆盖请加 --force")
    settings = load_settings()
    result = import_file(
        document,
        code=output.stem,
        units_dir=settings.units_dir,
        units=units,
        today=datetime.now(SHANGHAI).date(),  # stands in only for a notice without a date
    )
    draft = result.units_draft
    units_file = settings.units_dir / f"{draft.code}.yaml" if draft is not None else None
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(result.to_yaml(), encoding="utf-8")
        if draft is not None and units_file is not None:
            units_file.parent.mkdir(parents=True, exist_ok=True)
            with units_file.open("x", encoding="utf-8") as file:  # "x": never overwrite
                file.write(draft.to_yaml(str(document)))
    except FileExistsError:
        raise ConfigError(units_file or output, "", "单位目录文件已存在，未覆盖") from None
    except OSError as exc:
        raise ConfigError(output, "", f"无法写入：{exc.strerror or exc}") from None
    _print_import(document, output, result, units_file)


def _print_import(
    document: Path, output: Path, result: ImportResult, units_file: Path | None
) -> None:
    """The import's summary; names and review lines come from the notice, so never as markup."""
    c = result.counts
    table = Table("项目", "数量", title=escape(f"导入结果：{document.name}"))
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
        out.print(
            "目录中没有的单位（请添加到单位目录）：" + "、".join(result.unknown_units), markup=False
        )
    for index, item in enumerate(result.review, 1):
        out.print(f"{index}. {item}", markup=False)
    if not result.valid:
        out.print("[yellow]注意：草稿未通过格式校验，补全后才能载入。[/yellow]")
    out.print(f"草稿已写入 {output}，请核对后再运行 taskforce policy load。", markup=False)
    draft = result.units_draft
    if draft is not None and units_file is not None:
        collectives = len(draft.data.get("collectives", []))
        out.print(
            f"单位目录草稿已写入 {units_file}：{len(draft.data['units'])} 个单位、"
            f"{collectives} 个集合单位。邮箱为 example.org 示例地址，请改为各单位实际邮箱、"
            "核对单位类型和集合单位成员后再载入。",
            markup=False,
        )
        for index, item in enumerate(draft.review, 1):
            out.print(f"  单位目录待核对 {index}. {item}", markup=False)


def calendar(
    policy: PolicyOption,
    year: Annotated[int | None, typer.Option("--year", help="只显示所属期在该年的周期")] = None,
    as_json: JsonOption = False,
    ics: Annotated[Path | None, typer.Option("--ics", help="另存为 iCalendar 文件")] = None,
) -> None:
    """显示报送日历：每个周期的所属期、截止日期（星期）和提醒日。"""
    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        policy_row = get_policy(session, policy)
        rows = policy_cycles(session, policy, year)
    if as_json:
        print_json([CycleRow.of(policy, o, c) for o, c in rows])
    else:
        _print_calendar(policy_row, rows, year)
    if ics is not None:
        ics.parent.mkdir(parents=True, exist_ok=True)
        ics.write_bytes(cycles_to_ics(policy_row, rows))
        if not as_json:
            out.print(f"已写出日历文件：{ics}")


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
    out.print(whole(table) if rows else f"{title}：没有周期。")
