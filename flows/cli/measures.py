"""措施完成时限: ``measures deadlines`` lists them, ``measures extend`` records a 延期.

An extension is the office's decision, recorded at once with its reason (``DeadlineExtension``);
the measure's open 督办 cases on the old date are resolved by the next ``taskforce escalate``,
which also opens new ones if the extended date passes without 已完成.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import (
    AtOption,
    JsonOption,
    JsonRow,
    PolicyOption,
    load_settings,
    out,
    print_json,
)
from flows.cli.tables import whole
from models.db import init_db, session_scope
from tasks.calendar import SHANGHAI, parse_as_of
from tasks.deadlines import DeadlineStanding, date_with_weekday

measures_app = typer.Typer(
    help="措施完成时限：deadlines 列出各措施的完成时限和进度，extend 延期",
    no_args_is_help=True,
)

KIND_LABELS = {"task": "工作完成时限", "window": "政策执行期"}


class ExtensionRow(JsonRow):
    """One 延期 the office granted."""

    previous: str  # ISO date
    new: str  # ISO date
    reason: str
    by: str
    at: str  # ISO, Beijing time


class DeadlineRow(JsonRow):
    """One measure's deadline in ``measures deadlines --json``."""

    number: str
    title: str
    kind: str  # task / window
    kind_label: str
    phrase: str  # the notice's words
    original: str  # ISO date, the notice's
    due: str  # ISO date that counts, after extensions
    due_text: str  # 2023年6月30日（星期五）
    extensions: list[ExtensionRow]
    state: str  # overdue / due_soon / upcoming / done / window_open / window_ended
    state_label: str
    days_text: str  # 剩5天 / 今日到期 / 逾期3天 / 已结束2天 / —
    status: str | None  # least advanced status the lead units last reported
    light: str | None  # red / yellow / None


def _day(iso: str) -> str:
    """2023年6月20日, from an ISO date."""
    day = date.fromisoformat(iso)
    return f"{day.year}年{day.month}月{day.day}日"


def _parse_day(value: str) -> date:
    from models.deadline_store import DeadlineError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DeadlineError(f"日期格式不正确：{value!r}（应为 2023-09-30）") from None


def _row(s: DeadlineStanding) -> DeadlineRow:
    d = s.deadline
    extensions = [
        ExtensionRow(previous=e.previous_deadline.isoformat(), new=e.new_deadline.isoformat(),
                     reason=e.reason, by=e.by, at=e.at.astimezone(SHANGHAI).isoformat())
        for e in d.extensions
    ]  # fmt: skip
    return DeadlineRow(
        number=d.number, title=d.title, kind=d.kind, kind_label=KIND_LABELS[d.kind],
        phrase=d.phrase, original=d.original.isoformat(), due=d.due.isoformat(),
        due_text=date_with_weekday(d.due), extensions=extensions, state=s.state,
        state_label=s.label, days_text=s.days_text, status=s.status, light=s.light,
    )  # fmt: skip


@measures_app.command("deadlines")
def deadlines_command(
    policy: PolicyOption,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="按该日判断临期、逾期（默认今天，北京时间）")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """列出有完成时限的措施：时限类别、现行时限（星期）、延期记录和进度。"""
    from models.deadline_store import deadline_standings
    from models.escalation_store import lag_rules
    from models.policy_store import get_policy

    settings = load_settings()
    init_db(settings)
    moment = parse_as_of(as_of)
    with session_scope(settings) as session:
        policy_row = get_policy(session, policy)
        window = lag_rules(policy_row).deadline_window_days
        found = deadline_standings(session, policy_row, moment, window)
        title = f"{policy_row.county}（{policy}）措施完成时限"
    rows = [_row(s) for s in found]
    if as_json:
        print_json(rows)
        return
    day = moment.astimezone(SHANGHAI).date()
    table = Table("措施", "时限类别", "现行时限", "状态", "剩余/逾期", "报送进展",
                  title=f"{title}（截至{date_with_weekday(day)}）")  # fmt: skip
    table.add_column("原文及延期", overflow="fold")
    colour = {"red": "red", "yellow": "yellow"}
    for r in rows:
        history = r.phrase + "".join(
            f"；{_day(e.at[:10])}经{e.by}同意延至{_day(e.new)}（{e.reason}）" for e in r.extensions
        )
        style = colour.get(r.light or "", "")
        table.add_row(
            f"第{r.number}条 {r.title}", r.kind_label, r.due_text,
            f"[{style}]{r.state_label}[/{style}]" if style else r.state_label,
            # A policy window asks no unit for anything: no status to show.
            r.days_text, "—" if r.kind == "window" else r.status or "未报", history,
        )  # fmt: skip
    out.print(whole(table) if rows else f"{title}：没有写明完成时限的措施。")


@measures_app.command("extend")
def extend_command(
    number: Annotated[str, typer.Argument(help="措施编号，如 12 或 26(1)", metavar="措施编号")],
    policy: PolicyOption,
    to: Annotated[str, typer.Option("--to", help="新的完成时限，如 2023-09-30")],
    reason: Annotated[str, typer.Option("--reason", help="延期理由")],
    by: Annotated[str, typer.Option("--by", help="批准人")] = "办公室",
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """延期：把措施的工作完成时限延至新的日期，并记录理由（政策执行期不能延期）。

    已就原时限开立的督办事项，在下次运行 taskforce escalate 时办结；新时限过后仍未完成的，
    再立督办单。"""
    from models.deadline_store import extend_deadline

    settings = load_settings()
    init_db(settings)
    new_deadline = _parse_day(to)
    moment = parse_as_of(at)
    with session_scope(settings) as session:
        deadline, added = extend_deadline(
            session, policy, number, new_deadline, reason=reason, by=by, at=moment
        )
    if as_json:
        print_json({"number": deadline.number, "due": deadline.due.isoformat(), "added": added})
        return
    label = f"第{deadline.number}条措施“{deadline.title}”"
    if not added:
        out.print(f"{label}已延期至{date_with_weekday(new_deadline)}，未重复登记。")
        return
    previous = deadline.extensions[-1].previous_deadline
    out.print(
        f"{label}完成时限已由{date_with_weekday(previous)}延至{date_with_weekday(deadline.due)}"
        f"（理由：{deadline.extensions[-1].reason}）。"
    )
    out.print("该措施就原时限开立的督办事项，将在下次运行 taskforce escalate 时办结。")
