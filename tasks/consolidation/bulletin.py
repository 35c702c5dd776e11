"""What a month's consolidation is published as: the 月度通报 and the office's 汇总表.

Pure functions over a ``Consolidation`` (``tasks/consolidation/consolidate.py``): the
bulletin in Markdown (also the Prefect markdown artifact) and as one printable HTML page, the
leaders' mail summary, the status matrix for a Prefect table artifact, and the ``.xlsx``
summary workbook.

The wording is built here, once, so the Markdown and the HTML bulletin say the same; the
templates in ``templates/reports/`` only lay it out. Nothing reads the clock: dates come from
``c.source.as_of``, and the workbook's file times too, so the same consolidation gives the same
bytes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jinja2 import Environment
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from tasks.calendar import SHANGHAI
from tasks.consolidation.consolidate import (
    LIGHT_LABELS,
    STATE_LABELS,
    STATUS_ORDER,
    Consolidation,
    MeasureFact,
    MeasureRow,
    TargetRow,
    TextItem,
)
from tasks.forms.build import _display_width, _FixedTimeZip
from tasks.render import article, make_environment, num

OTHER_GROUP = "其他（未明确推进组）"
NOT_REPORTED = "未报"
_ILLEGAL_IN_FILENAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


# ---------------------------------------------------------------------------------------------
# Numbers and names as the bulletin writes them


def percent(value: Decimal | float, digits: int = 1) -> str:
    """0.878 → 87.8%: a share as a percentage, rounded half up as official figures are."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    step = Decimal(1).scaleb(-digits)
    return f"{(exact * 100).quantize(step, rounding=ROUND_HALF_UP)}%"


def _share(part: int, whole: int) -> str:
    """36 of 41 → 87.8%; computed exactly, not through a float."""
    return percent(Decimal(part) / Decimal(whole)) if whole else percent(Decimal(0))


def counts_sentence(c: Consolidation) -> str:
    """应报送单位41个，按时报送36个，逾期报送2个，未报送2个，退回未改1个，按时报送率87.8%."""
    n = c.counts
    return (
        f"应报送单位{n['obligated']}个，按时报送{n['on_time']}个，逾期报送{n['late']}个，"
        f"未报送{n['missing']}个，退回未改{n['rejected']}个，"
        f"按时报送率{_share(n['on_time'], n['obligated'])}"
    )


def _review_sentence(c: Consolidation) -> str:
    count = c.counts["needs_review"]
    if not count:
        return ""
    return f"已报送单位中有{count}个未使用规定表格报送，待办公室审核确认。"


def issuer(c: Consolidation) -> str:
    """The body that issues the bulletin: 县工作专班办公室 of 陵川县 → 陵川县工作专班."""
    s = c.source
    body = s.office_name.removesuffix("办公室") or s.office_name or "工作专班"
    if body.startswith(s.county):
        return body
    if body.startswith("县") and s.county.endswith("县"):
        return s.county + body[1:]
    return s.county + body


def bulletin_title(c: Consolidation) -> str:
    """陵川县工作专班 2023年2月月度进展情况通报: the obligation's 报告 becomes 通报; 新绛's
    月度工作总结 gives 月度工作总结通报."""
    name = c.source.obligation_name.removesuffix("报告") + "通报"
    return f"{issuer(c)} {c.source.period_label}{name}"


def workbook_filename(c: Consolidation) -> str:
    """2023年2月月度进展情况报告报送情况汇总表.xlsx: safe on Windows and in mail clients."""
    stem = f"{c.source.period_label}{c.source.obligation_name}报送情况汇总表"
    stem = _ILLEGAL_IN_FILENAME.sub("_", stem).strip(" .")[:80].rstrip(" .") or "报送情况汇总表"
    return f"{stem}.xlsx"


def _day(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def _moment(value: datetime) -> str:
    """2023年3月3日 17:20, in Asia/Shanghai."""
    local = value.astimezone(SHANGHAI)
    return f"{_day(local.date())} {local.hour}:{local.minute:02d}"


def _source_measures(c: Consolidation) -> dict[str, MeasureFact]:
    return {m.number: m for m in c.source.measures}


def _direction(fact: MeasureFact | None, index: int) -> str:
    if fact is None or index >= len(fact.targets):
        return "at_least"
    return fact.targets[index].direction


def target_text(t: TargetRow, direction: str = "at_least") -> str:
    """全县煤炭全年产量：160万吨（2023年12月31日前）."""
    bound = "不高于" if direction == "at_most" else ""
    return f"{t.metric}：{bound}{num(t.target)}{t.unit_of_measure}（{_day(t.due)}前）"


def reached_text(t: TargetRow, direction: str = "at_least") -> str:
    """28万吨（17.5%）; 未报 when no lead unit gave a value."""
    if t.reached is None:
        return NOT_REPORTED
    text = f"{num(t.reached)}{t.unit_of_measure}"
    if t.done_share is not None and direction != "at_most":
        text += f"（{percent(t.done_share)}）"
    return text


def behind_text(points: float | None) -> str:
    """12.3 behind schedule; 未落后 at or ahead of it; — when nothing was reported."""
    if points is None:
        return "—"
    return f"{points:.1f}" if points > 0 else "未落后"


def _status_text(m: MeasureRow) -> str:
    if m.status is not None:
        return m.status
    return NOT_REPORTED if m.lead_reported == 0 else "未填报状态"


def _leads_text(m: MeasureRow) -> str:
    """The lead units; one whose report differs from the measure's status carries its own:
    县交通局（未报）、县财政局、崇文镇 under 推进中. Listing every unit's status would make a
    measure led by all twelve townships a page long."""
    if len(m.reports) <= 1:
        return "、".join(m.lead_units) or "—"
    shown = _status_text(m)
    return "、".join(name if st == shown else f"{name}（{st}）" for name, st in m.reports)


def _status_counts(pairs: Iterable[tuple[str, int]]) -> str:
    parts = [f"{status}{count}项" for status, count in pairs if count]
    return "、".join(parts) or "—"


# ---------------------------------------------------------------------------------------------
# The bulletin's content, shared by the Markdown and the HTML template


def _group_rows(c: Consolidation) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "name": g.name,
            "units": g.units,
            "on_time": g.on_time,
            "late": g.late,
            "missing": g.missing,
            "rejected": g.rejected,
            "measures": g.measures,
            "statuses": _status_counts(g.by_status),
            "red": g.red,
            "yellow": g.yellow,
        }
        for g in c.groups
    ]
    # Measures in a section no group covers, and units leading none of a group's measures,
    # still belong in the table: every obligated unit is counted in some row.
    loose = [m for m in c.measures if not m.group]
    members = [u for u in c.units if not u.groups]
    if loose or members:
        by_status = [(s, sum(1 for m in loose if m.status == s)) for s in STATUS_ORDER]
        by_status.append((NOT_REPORTED, sum(1 for m in loose if m.status is None)))
        rows.append(
            {
                "name": OTHER_GROUP,
                "units": len(members),
                "on_time": sum(1 for u in members if u.state == "on_time"),
                "late": sum(1 for u in members if u.state == "late"),
                "missing": sum(1 for u in members if u.state == "missing"),
                "rejected": sum(1 for u in members if u.state == "rejected"),
                "measures": len(loose),
                "statuses": _status_counts(by_status),
                "red": sum(1 for m in loose if m.light == "red"),
                "yellow": sum(1 for m in loose if m.light == "yellow"),
            }
        )
    return rows


def _measure_rows(c: Consolidation) -> list[dict[str, Any]]:
    facts = _source_measures(c)
    out: list[dict[str, Any]] = []
    for m in c.measures:
        fact = facts.get(m.number)
        targets = [
            {
                "target": target_text(t, _direction(fact, i)),
                "reached": reached_text(t, _direction(fact, i)),
                "schedule": percent(t.schedule_share),
                "behind": behind_text(t.points_behind),
                "light": t.light,
                "light_label": LIGHT_LABELS[t.light],
            }
            for i, t in enumerate(m.targets)
        ]
        if not targets:
            targets = [
                {
                    "target": "（无量化目标）",
                    "reached": "—",
                    "schedule": "—",
                    "behind": "—",
                    "light": m.light,
                    "light_label": LIGHT_LABELS[m.light],
                }
            ]
        out.append(
            {
                "number": m.number,
                "title": m.title,
                "group": m.group,
                "leads": _leads_text(m),
                "status": _status_text(m),
                "support": "、".join(m.support_units) or "—",
                "light": m.light,
                "targets": targets,
            }
        )
    return out


def _by_group(items: Sequence[TextItem]) -> list[dict[str, Any]]:
    """Texts in the consolidation's order (by group, then directory order), one block per group."""
    blocks: list[dict[str, Any]] = []
    for item in items:
        if not blocks or blocks[-1]["group"] != item.group:
            blocks.append({"group": item.group, "items": []})
        blocks[-1]["items"].append({"unit": item.unit, "text": item.text})
    return blocks


def _late_lines(c: Consolidation) -> list[dict[str, str]]:
    """未报送 / 逾期报送 / 退回未改, each with its units in directory order."""
    lines: list[dict[str, str]] = []
    for state in ("missing", "late", "rejected"):
        units = [u for u in c.units if u.state == state]
        if not units:
            continue
        if state == "late":
            names = "、".join(f"{u.name}（逾期{u.late_working_days}个工作日）" for u in units)
        else:
            names = "、".join(u.name for u in units)
        lines.append({"label": f"{STATE_LABELS[state]}（{len(units)}个）", "units": names})
    return lines


def _ledger(c: Consolidation) -> dict[str, Any] | None:
    if not c.ledger:
        return None
    name = c.source.ledger.obligation_name if c.source.ledger else "任务清单台账"
    return {
        "intro": f"《{name}》各单位报送质量如下（完整行指各栏均已填写的措施行）：",
        "rows": [
            {
                "unit": r.unit,
                "state": r.state,
                "rows": r.rows,
                "complete": r.complete,
                "share": percent(r.share) if r.rows else "—",
            }
            for r in c.ledger
        ],
    }


def _mentions(items: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {"unit": str(item.get("unit") or ""), "reason": str(item.get("reason") or "")}
        for item in items
    ]


def bulletin_context(c: Consolidation) -> dict[str, Any]:
    """Everything the bulletin templates print, worded once for both formats."""
    s = c.source
    return {
        "title": bulletin_title(c),
        "lead": (
            f"根据《{s.policy_title}》（{s.doc_number}）要求，现将{s.period_label}"
            f"{s.obligation_name}报送及各项措施推进情况通报如下（统计截至{_moment(s.as_of)}）："
        ),
        "overview": counts_sentence(c) + "。",
        "review": _review_sentence(c),
        "groups": _group_rows(c),
        "measures": _measure_rows(c),
        "light_note": (
            "注：进展状态取各牵头/负责单位所报最滞后者，与之不同的单位在其后括注；"
            f"序时进度为目标期限已过时间占比（至{_day(s.covers_end)}）；量化目标完成进度"
            f"落后序时进度{num(s.yellow_points)}个百分点及以上为黄灯，"
            f"{num(s.red_points)}个百分点及以上为红灯。"
        ),
        "problems": _by_group(c.problems),
        "next_steps": _by_group(c.next_steps),
        "late": _late_lines(c),
        "ledger": _ledger(c),
        "supervision": _mentions(c.supervision),
        "commendations": _mentions(c.commendations),
        "office": s.office_name,
        "as_of": s.as_of,
        "last_section": _last_section(c),
    }


def _last_section(c: Consolidation) -> str:
    """The section the signature closes (HTML keeps the two on one page)."""
    for key, present in (
        ("commendations", c.commendations),
        ("supervision", c.supervision),
        ("ledger", c.ledger),
    ):
        if present:
            return key
    return "late"


# ---------------------------------------------------------------------------------------------
# Markdown escaping (GitHub-flavoured, also what Prefect renders)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=])")


def _md_escape_line(line: str) -> str:
    line = _MD_SPECIAL.sub(r"\\\1", line.strip())
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", line)


def md_cell(value: Any) -> str:
    """A table cell or inline text: markup and ``|`` escaped, lines joined by a space."""
    lines = [_md_escape_line(part) for part in str(value).splitlines()]
    return " ".join(part for part in lines if part)


def md_text(value: Any, indent: int = 0) -> str:
    """A paragraph that may span lines: each line escaped, hard line breaks, indented to fit
    under a list marker of ``indent`` characters."""
    lines = [_md_escape_line(part) for part in str(value).splitlines()]
    lines = [part for part in lines if part]
    return ("\\\n" + " " * indent).join(lines)


def _environment(env: Environment | None) -> Environment:
    """The given environment (or a new one) with the two Markdown filters added if missing."""
    env = env or make_environment()
    env.filters.setdefault("md_cell", md_cell)
    env.filters.setdefault("md_text", md_text)
    return env


def bulletin_markdown(c: Consolidation, env: Environment | None = None) -> str:
    """The 月度通报 as GitHub-flavoured Markdown (the file and the Prefect artifact)."""
    template = _environment(env).get_template("reports/bulletin.md")
    return template.render(bulletin_context(c))


def bulletin_html(c: Consolidation, env: Environment | None = None) -> str:
    """The 月度通报 as one printable HTML page (A4)."""
    template = _environment(env).get_template("reports/bulletin.html")
    return template.render(bulletin_context(c))


# ---------------------------------------------------------------------------------------------
# The leaders' mail


def summary_lines(c: Consolidation) -> list[str]:
    """Three to six short sentences for the leaders' mail, numbered there 一、二、…."""
    lines = [counts_sentence(c) + "。"]
    late = _late_lines(c)
    if late:
        parts = [f"{line['label'].split('（')[0]}：{line['units']}" for line in late]
        lines.append("；".join(parts) + "。")
    by_status = [(s, sum(1 for m in c.measures if m.status == s)) for s in STATUS_ORDER]
    by_status.append(("未报进展", sum(1 for m in c.measures if m.status is None)))
    lines.append(f"{len(c.measures)}项措施中，{_status_counts(by_status)}。")
    targets = [(m, t) for m in c.measures for t in m.targets]
    if targets:
        lights = [
            (label, sum(1 for _, t in targets if t.light == key))
            for key, label in (("red", "红灯"), ("yellow", "黄灯"), ("green", "绿灯"))
        ]
        lights.append(("未报完成值", sum(1 for _, t in targets if t.light == "none")))
        parts = [f"{label}{count}项" for label, count in lights if count]
        lines.append(f"量化目标{len(targets)}项，其中{'、'.join(parts)}。")
        red = [(m, t) for m, t in targets if t.light == "red"]
        # The furthest behind first; sorted() is stable, so ties keep the notice's order.
        red = sorted(red, key=lambda pair: -(pair[1].points_behind or 0.0))[:2]
        if red:
            named = "；".join(
                f"{_article(m.number)}{t.metric}（落后序时进度{behind_text(t.points_behind)}"
                "个百分点）"
                for m, t in red
            )
            lines.append(f"落后较多的目标：{named}。")
    else:
        lines.append("本期措施均无量化目标。")
    review = _review_sentence(c)
    if review:
        lines.append(review)
    return lines[:6]


def _article(number: str) -> str:
    try:
        return article(number)
    except ValueError:  # a number the notice grammar does not know: cite it as it is
        return f"措施{number}"


# ---------------------------------------------------------------------------------------------
# Tables: the Prefect artifact and the workbook

STATUS_HEADERS = ("单位", "所属专班/推进组", "报送状态", "逾期工作日", "收到时间", "版本", "待审核")


def _status_records(c: Consolidation) -> list[tuple[Any, ...]]:
    """The status matrix with typed values (ints, local naive datetimes), directory order."""
    records: list[tuple[Any, ...]] = []
    for u in c.units:
        counted = u.state in ("on_time", "late")
        received = (
            u.received_at.astimezone(SHANGHAI).replace(tzinfo=None)
            if u.received_at is not None
            else None
        )
        records.append(
            (
                u.name,
                "、".join(u.groups),
                STATE_LABELS[u.state],
                u.late_working_days if counted else None,
                received,
                u.version,
                "是" if u.needs_review else "",
            )
        )
    return records


def status_table_rows(c: Consolidation) -> list[dict[str, str]]:
    """The status matrix as rows of text keyed in Chinese, for a Prefect table artifact."""
    rows: list[dict[str, str]] = []
    for u, record in zip(c.units, _status_records(c), strict=True):
        texts = ["" if value is None else str(value) for value in record]
        texts[4] = _moment(u.received_at) if u.received_at is not None else ""
        rows.append(dict(zip(STATUS_HEADERS, texts, strict=True)))
    return rows


_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FONT = "宋体"
_LINE_POINTS = 14.0
_LIGHT_FILLS = {"red": "F4B6B6", "yellow": "FFE699", "green": "C6EFCE"}
_DATE_FORMAT = 'yyyy"年"m"月"d"日"'
_MOMENT_FORMAT = 'yyyy"年"m"月"d"日" hh:mm'


def _named_styles() -> list[NamedStyle]:
    """Fresh named styles per workbook (openpyxl binds a NamedStyle to one workbook)."""

    def style(
        name: str,
        *,
        bold: bool = False,
        horizontal: str = "left",
        fill: str | None = None,
        number_format: str = "General",
    ) -> NamedStyle:
        named = NamedStyle(name=name)
        named.font = Font(name=_FONT, size=10.5, bold=bold)
        named.alignment = Alignment(horizontal=horizontal, vertical="top", wrap_text=True)
        named.border = _BOX
        if fill is not None:
            named.fill = PatternFill("solid", fgColor=fill)
        named.number_format = number_format
        return named

    return [
        style("汇总表头", bold=True, horizontal="center", fill="D9D9D9"),
        style("汇总正文"),
        style("汇总居中", horizontal="center"),
        style("汇总数字", horizontal="right"),
        style("汇总整数", horizontal="right", number_format="0"),
        style("汇总百分比", horizontal="right", number_format="0.0%"),
        style("汇总日期", horizontal="center", number_format=_DATE_FORMAT),
        style("汇总时间", horizontal="center", number_format=_MOMENT_FORMAT),
        *(
            style(f"汇总{LIGHT_LABELS[key]}", horizontal="center", fill=color)
            for key, color in _LIGHT_FILLS.items()
        ),
    ]


# Column kinds: style, and the widest a column grows to before its text wraps.
_KINDS: dict[str, tuple[str, float]] = {
    "name": ("汇总正文", 18.0),
    "text": ("汇总正文", 22.0),
    "long": ("汇总正文", 36.0),
    "center": ("汇总居中", 10.0),
    "number": ("汇总数字", 10.0),
    "int": ("汇总整数", 8.0),
    "percent": ("汇总百分比", 9.0),
    "date": ("汇总日期", 16.0),
    "moment": ("汇总时间", 22.0),
    "light": ("汇总居中", 6.0),
}
_A3_FROM = 180.0  # a table wider than this (in column units) prints on A3, not squeezed on A4


def _wrapped_lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column of ``width`` units (a CJK character takes two)."""
    usable = max(width - 1.5, 2.0)
    return sum(max(1, math.ceil(_display_width(part) / usable)) for part in text.split("\n"))


def _width_text(value: Any) -> str:
    """The text a cell shows, for sizing its column (dates at their widest formatted length)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return "2023年12月31日 23:59"
    if isinstance(value, date):
        return "2023年12月31日"
    if isinstance(value, float):
        return num(value)
    return str(value)


def _write_sheet(
    ws: Worksheet,
    title: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    lights: Mapping[int, str] | None = None,
) -> None:
    """One table: a bold, frozen header row; typed cells; widths from content; print setup.

    ``lights``: by data row index (from 0), the light (red, yellow …) of the ``light`` column.
    """
    for index, (header, _) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=index, value=header)
        cell.style = "汇总表头"
    widths = [_display_width(header) + 2.0 for header, _ in columns]
    texts: list[list[str]] = [[header for header, _ in columns]]
    for r, values in enumerate(rows, start=2):
        texts.append([])
        for index, ((_, kind), value) in enumerate(zip(columns, values, strict=True), start=1):
            style, widest = _KINDS[kind]
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell = ws.cell(row=r, column=index, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # a bureau's text is never a formula
            if kind == "light" and lights is not None:
                key = lights.get(r - 2, "none")
                style = f"汇总{LIGHT_LABELS[key]}" if key in _LIGHT_FILLS else "汇总居中"
            cell.style = style
            text = _width_text(value)
            texts[-1].append(text if isinstance(value, str) else "")  # only text wraps
            natural = max(_display_width(part) for part in text.split("\n")) + 2.0
            widths[index - 1] = min(max(widths[index - 1], natural), widest)
    # Heights once the widths are final; Excel does not grow a row for wrapped text by itself.
    for r, row_texts in enumerate(texts, start=1):
        lines = max(_wrapped_lines(t, w) for t, w in zip(row_texts, widths, strict=True))
        if lines > 1:
            ws.row_dimensions[r].height = lines * _LINE_POINTS + 4
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    last = f"{get_column_letter(len(columns))}{max(len(rows) + 1, 1)}"
    ws.auto_filter.ref = f"A1:{last}"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3 if sum(widths) > _A3_FROM else ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.7
    page_header, page_footer = ws.oddHeader, ws.oddFooter
    if page_header is not None:
        page_header.center.text = f"{title} {ws.title}".replace("&", "&&")
    if page_footer is not None:
        page_footer.center.text = "第 &P 页，共 &N 页"


def _measure_sheet_rows(c: Consolidation) -> tuple[list[list[Any]], dict[int, str]]:
    facts = _source_measures(c)
    rows: list[list[Any]] = []
    lights: dict[int, str] = {}
    for m in c.measures:
        fact = facts.get(m.number)
        head = [
            m.number,
            m.title,
            m.group,
            "、".join(m.lead_units),
            "；".join(f"{name}：{status}" for name, status in m.reports),
            _status_text(m),
        ]
        tail = ["、".join(m.support_units), "\n".join(f"{u}：{n}" for u, n in m.notes)]
        if not m.targets:
            lights[len(rows)] = m.light
            rows.append([*head, "", None, "", None, None, None, None, None, LIGHT_LABELS[m.light],
                         *tail])  # fmt: skip
            continue
        for i, t in enumerate(m.targets):
            bound = "不高于" if _direction(fact, i) == "at_most" else ""
            lights[len(rows)] = t.light
            rows.append(
                [
                    *head,
                    t.metric,
                    t.target,
                    f"{bound}{t.unit_of_measure}" if bound else t.unit_of_measure,
                    t.due,
                    t.reached,
                    t.done_share,
                    t.schedule_share,
                    t.points_behind,
                    LIGHT_LABELS[t.light],
                    *tail,
                ]
            )
    return rows, lights


def save_deterministic(wb: Workbook, out: io.BytesIO, as_of: datetime) -> None:
    """Write ``wb`` to ``out`` with its times fixed to ``as_of``: equal workbooks, equal bytes."""
    stamp_utc = as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.created = wb.properties.modified = stamp_utc
    wb.properties.creator = wb.properties.lastModifiedBy = "taskforce"
    local = as_of.astimezone(SHANGHAI)
    stamp = (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)
    # ExcelWriter instead of wb.save: save() stamps "modified" with the clock; the zip entries
    # carry one fixed time instead of the temporary files' mtimes.
    ExcelWriter(wb, _FixedTimeZip(out, stamp)).save()


def summary_workbook(c: Consolidation) -> bytes:
    """The office's 汇总表 (.xlsx); the same consolidation always gives the same bytes."""
    s = c.source
    title = f"{s.county}{s.period_label}{s.obligation_name}报送情况汇总表"
    wb = Workbook()
    for style in _named_styles():
        wb.add_named_style(style)
    ws = wb.active
    assert ws is not None
    ws.title = "报送情况"
    kinds = ("name", "long", "center", "int", "moment", "int", "center")
    _write_sheet(ws, title, list(zip(STATUS_HEADERS, kinds, strict=True)), _status_records(c))

    measure_rows, lights = _measure_sheet_rows(c)
    _write_sheet(
        wb.create_sheet("措施进展"),
        title,
        [
            ("措施编号", "center"),
            ("措施", "text"),
            ("所属专班/推进组", "text"),
            ("牵头/负责单位", "name"),
            ("牵头单位报送情况", "text"),
            ("进展状态", "center"),
            ("量化目标", "text"),
            ("目标值", "number"),
            ("计量单位", "center"),
            ("完成时限", "date"),
            ("完成值", "number"),
            ("完成率", "percent"),
            ("序时进度", "percent"),
            ("落后百分点", "number"),
            ("灯", "light"),
            ("配合单位", "name"),
            ("进展说明", "long"),
        ],
        measure_rows,
        lights,
    )
    for sheet, items, label in (
        ("问题困难", c.problems, "存在的问题困难"),
        ("下一步措施", c.next_steps, "下一步落实措施"),
    ):
        _write_sheet(
            wb.create_sheet(sheet),
            title,
            [("序号", "int"), ("所属专班/推进组", "text"), ("单位", "name"), (label, "long")],
            [[i, item.group, item.unit, item.text] for i, item in enumerate(items, start=1)],
        )
    if c.ledger:
        _write_sheet(
            wb.create_sheet("台账质量"),
            title,
            [
                ("单位", "name"),
                ("报送状态", "center"),
                ("台账行数", "int"),
                ("完整行数", "int"),
                ("完整率", "percent"),
            ],
            [[r.unit, r.state, r.rows, r.complete, r.share if r.rows else None] for r in c.ledger],
        )
    wb.active = 0
    wb.properties.title = title
    out = io.BytesIO()
    save_deterministic(wb, out, s.as_of)
    return out.getvalue()
