"""The consolidation's tables: the status matrix for a Prefect table artifact and the office's
汇总表 (.xlsx).

Pure functions over a ``Consolidation`` (``tasks/consolidation/consolidate.py``), worded as the
bulletin (``tasks/consolidation/bulletin.py``) words them. Nothing reads the clock: the
workbook's file times come from ``c.source.as_of`` (``tasks/forms/xlsx.py``), so the same
consolidation gives the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from tasks.calendar import SHANGHAI
from tasks.consolidation.bulletin import (
    moment_text,
    report_name,
    source_measures,
    status_text,
    target_direction,
)
from tasks.consolidation.consolidate import LIGHT_LABELS, STATE_LABELS, Consolidation
from tasks.forms.xlsx import display_width, save_deterministic
from tasks.render import num

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
                "发件人待核实" if u.unverified else "是" if u.needs_review else "",
            )
        )
    return records


def status_table_rows(c: Consolidation) -> list[dict[str, str]]:
    """The status matrix as rows of text keyed in Chinese, for a Prefect table artifact."""
    rows: list[dict[str, str]] = []
    for u, record in zip(c.units, _status_records(c), strict=True):
        texts = ["" if value is None else str(value) for value in record]
        texts[4] = moment_text(u.received_at) if u.received_at is not None else ""
        rows.append(dict(zip(STATUS_HEADERS, texts, strict=True)))
    return rows


_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FONT = "宋体"
_LINE_POINTS = 14.0
_LIGHT_FILLS = {"red": "F4B6B6", "yellow": "FFE699", "green": "C6EFCE", "check": "E1D5F0"}
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
    return sum(max(1, math.ceil(display_width(part) / usable)) for part in text.split("\n"))


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
    widths = [display_width(header) + 2.0 for header, _ in columns]
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
            natural = max(display_width(part) for part in text.split("\n")) + 2.0
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
    facts = source_measures(c)
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
            status_text(m),
        ]
        tail = ["、".join(m.support_units), "\n".join(f"{u}：{n}" for u, n in m.notes)]
        if not m.targets:
            lights[len(rows)] = m.light
            rows.append([*head, "", None, "", None, None, None, None, None, LIGHT_LABELS[m.light],
                         *tail])  # fmt: skip
            continue
        for i, t in enumerate(m.targets):
            bound = "不高于" if target_direction(fact, i) == "at_most" else ""
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


def summary_workbook(c: Consolidation) -> bytes:
    """The office's 汇总表 (.xlsx); the same consolidation always gives the same bytes."""
    s = c.source
    title = f"{s.county}{report_name(c)}报送情况汇总表"
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
