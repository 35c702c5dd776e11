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
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from tasks.calendar import SHANGHAI
from tasks.consolidation.bulletin import (
    deadline_rows,
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
        style("汇总短日期", horizontal="center", number_format="yyyy.m.d"),
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
    "short": ("汇总居中", 12.0),
    "number": ("汇总数字", 10.0),
    "int": ("汇总整数", 8.0),
    "percent": ("汇总百分比", 9.0),
    "date": ("汇总日期", 16.0),
    "short_date": ("汇总短日期", 11.0),
    "moment": ("汇总时间", 22.0),
    "light": ("汇总居中", 6.0),
    "light_text": ("汇总居中", 16.0),  # a light with its reason: 红灯（逾期未完成）
}
_WRAPPING = ("name", "text", "long")  # the kinds that take a page's spare width

# Print geometry. A column of width w (in the default font's digit widths) prints about
# 6.5w + 3.75 pt wide in LibreOffice, which lacks 宋体 and measures a wider stand-in (Excel and
# WPS with 宋体: 5.25w + 3.75, so there a table prints less shrunk and centred). A table
# narrower than the printable width is widened to it: fit-to-width only ever shrinks.
_UNIT_POINTS = 6.5
_MARGIN_SIDE = 0.4  # inches
_MARGIN_TOP = _MARGIN_BOTTOM = 0.75
_HEADER_FOOTER = 0.3  # the page header/footer's distance from the edge, clear of the table
_A4_PORTRAIT_POINTS = 595.3 - 2 * 72 * _MARGIN_SIDE
_A4_LANDSCAPE_POINTS = 841.9 - 2 * 72 * _MARGIN_SIDE


def _printed_points(widths: Sequence[float]) -> float:
    return sum(_UNIT_POINTS * w + 3.75 for w in widths)


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
    *,
    widths: Sequence[float] | None = None,
    landscape: bool | None = None,
) -> None:
    """One table: a bold, frozen header row; typed cells; widths from content; A4 print setup.

    ``lights``: by data row index (from 0), the light (red, yellow …) of the ``light`` column.
    ``widths``: fixed column widths (the print sheet's, chosen for legibility), else from
    content. ``landscape``: the orientation, else portrait when the table fits it unshrunk.
    """
    for index, (header, _) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=index, value=header)
        cell.style = "汇总表头"
    natural = [max(map(display_width, header.split("\n"))) + 2.0 for header, _ in columns]
    wanted = list(natural)  # the width that holds each column's longest line unwrapped
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
            if kind in ("light", "light_text") and lights is not None:
                key = lights.get(r - 2, "none")
                style = f"汇总{LIGHT_LABELS[key]}" if key in _LIGHT_FILLS else "汇总居中"
            cell.style = style
            text = _width_text(value)
            texts[-1].append(text if isinstance(value, str) else "")  # only text wraps
            wide = max(display_width(part) for part in text.split("\n")) + 2.0
            wanted[index - 1] = max(wanted[index - 1], wide)
            natural[index - 1] = min(max(natural[index - 1], wide), widest)
    final = list(widths) if widths is not None else natural
    if landscape is None:
        landscape = _printed_points(final) > _A4_PORTRAIT_POINTS
    page = _A4_LANDSCAPE_POINTS if landscape else _A4_PORTRAIT_POINTS
    if widths is None:
        final = _widened(final, wanted, [kind for _, kind in columns], page)
    # Heights once the widths are final; Excel does not grow a row for wrapped text by itself.
    for r, row_texts in enumerate(texts, start=1):
        lines = max(_wrapped_lines(t, w) for t, w in zip(row_texts, final, strict=True))
        if lines > 1:
            ws.row_dimensions[r].height = lines * _LINE_POINTS + 4
    for index, width in enumerate(final, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    last = f"{get_column_letter(len(columns))}{max(len(rows) + 1, 1)}"
    ws.auto_filter.ref = f"A1:{last}"
    _print_setup(ws, title, landscape=landscape)


def _widened(
    widths: Sequence[float], wanted: Sequence[float], kinds: Sequence[str], page: float
) -> list[float]:
    """The widths grown until the table spans the page: first the columns whose text wraps,
    towards the width that would hold their longest line, then all text columns alike."""
    grown = list(widths)
    spare = (page - _printed_points(grown)) / _UNIT_POINTS - 1.0  # a unit's slack for rounding
    growing = [i for i, kind in enumerate(kinds) if kind in _WRAPPING]
    if spare <= 0 or not growing:
        return grown
    short = {i: wanted[i] - grown[i] for i in growing if wanted[i] > grown[i]}
    if short:
        share = min(1.0, spare / sum(short.values()))
        for i, missing in short.items():
            grown[i] += missing * share
        spare -= sum(short.values()) * share
    base = sum(grown[i] for i in growing)
    return [round(w + spare * w / base, 1) if i in growing else w for i, w in enumerate(grown)]


def _print_setup(ws: Worksheet, title: str, *, landscape: bool) -> None:
    """A4, one page wide, the header row on every page, centred, page numbers in the footer."""
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    margins = ws.page_margins
    margins.left = margins.right = _MARGIN_SIDE
    margins.top, margins.bottom = _MARGIN_TOP, _MARGIN_BOTTOM
    # The footer sits 0.3" from the edge with 0.45" to the table: a whole line, never cut.
    margins.header = margins.footer = _HEADER_FOOTER
    page_header, page_footer = ws.oddHeader, ws.oddFooter
    if page_header is not None:
        page_header.center.text = f"{title} {ws.title}".replace("&", "&&")
    if page_footer is not None:
        page_footer.center.text = "第 &P 页，共 &N 页"


# ---------------------------------------------------------------------------------------------
# 措施进展: the print sheet a leader reads, and the full list of units behind it

# The print sheet on A4 landscape: 13 narrow columns, so that fit-to-width keeps 9-pt type
# (小五) where 17 columns gave 5-pt. The unit of measure joins its metric, the group loses its
# 专项推进组/专班 suffix, dates print short; per-unit reports, 配合单位 and 进展说明 are on
# 措施责任单位, a row per unit.
_UNITS_WIDTH = 16.0  # the 牵头/责任单位 column
_METRIC_WIDTH = 19.0  # the 量化目标 column
_MEASURE_COLUMNS: tuple[tuple[str, str, float], ...] = (
    ("编号", "center", 6.0),
    ("措施", "text", 22.0),
    ("所属专班/\n推进组", "text", 10.0),
    ("牵头/责任单位", "name", _UNITS_WIDTH),
    ("进展状态", "center", 7.0),
    ("量化目标（计量单位）", "text", _METRIC_WIDTH),
    ("目标值", "number", 7.0),
    ("完成时限", "short_date", 11.0),
    ("完成值", "number", 7.0),
    ("完成率", "percent", 7.5),
    ("序时进度", "percent", 7.5),
    ("落后\n百分点", "number", 7.0),
    ("灯", "light", 5.0),
)
_GROUP_SUFFIXES = ("专项推进组", "推进组", "专班")


def _joined(first: str, second: str, width: float) -> str:
    """Two parts on one line if they fit the column, else broken between them: a line that
    wraps by itself may start with 、 or ）, which no Chinese typesetting allows."""
    together = first + second
    return together if _wrapped_lines(together, width) == 1 else f"{first}\n{second}"


def lead_units_text(lead_units: Sequence[str]) -> str:
    """The lead/responsible units as the print sheet names them: one or two by name; more as
    the first (the notice names its lead first) and 等N个单位 counting them all, as Chinese
    documents count (“县能源局等16个单位” is sixteen units)."""
    if len(lead_units) > 2:
        return _joined(lead_units[0], f"等{len(lead_units)}个单位", _UNITS_WIDTH)
    if len(lead_units) == 2:
        return _joined(f"{lead_units[0]}、", lead_units[1], _UNITS_WIDTH)
    return "".join(lead_units)


def short_group(group: str) -> str:
    """A group's name without its 专项推进组/专班 suffix: the column header says what it is."""
    for suffix in _GROUP_SUFFIXES:
        if group.endswith(suffix) and len(group) > len(suffix):
            return group.removesuffix(suffix)
    return group


def _measure_sheet_rows(c: Consolidation) -> tuple[list[list[Any]], dict[int, str]]:
    facts = source_measures(c)
    rows: list[list[Any]] = []
    lights: dict[int, str] = {}
    for m in c.measures:
        fact = facts.get(m.number)
        head = [m.number, m.title, short_group(m.group), lead_units_text(m.lead_units),
                status_text(m)]  # fmt: skip
        if not m.targets:
            lights[len(rows)] = m.light
            rows.append([*head, "", None, None, None, None, None, None, LIGHT_LABELS[m.light]])
            continue
        for i, t in enumerate(m.targets):
            bound = "不高于，" if target_direction(fact, i) == "at_most" else ""
            measure = f"{bound}{t.unit_of_measure}"
            lights[len(rows)] = t.light
            rows.append(
                [
                    *head,
                    _joined(t.metric, f"（{measure}）", _METRIC_WIDTH) if measure else t.metric,
                    t.target,
                    t.due,
                    t.reached,
                    t.done_share,
                    t.schedule_share,
                    t.points_behind,
                    LIGHT_LABELS[t.light],
                ]
            )
    return rows, lights


DEADLINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("编号", "center"),
    ("措施", "text"),
    ("牵头单位", "name"),
    ("完成时限", "long"),
    ("剩余/逾期\n天数", "center"),
    ("报送进展", "center"),
    ("提示", "light_text"),
)


def _deadline_sheet_rows(c: Consolidation) -> tuple[list[list[Any]], dict[int, str]]:
    """临期和逾期事项 as the bulletin words them; the 提示 cell filled with the light."""
    rows = deadline_rows(c)
    table = [
        [r["number"], r["title"], r["leads"], r["due"], r["days"],
         r["status"], r["note"]]
        for r in rows
    ]  # fmt: skip
    return table, {i: r["light"] for i, r in enumerate(rows)}


MEASURE_UNIT_HEADERS = ("措施编号", "措施", "单位", "分工", "报送情况", "进展说明")
_MEASURE_UNIT_KINDS = ("center", "text", "name", "short", "center", "long")


def _measure_unit_rows(c: Consolidation) -> list[list[Any]]:
    """One row per measure and unit: every unit the notice names, its role, report and note."""
    rows: list[list[Any]] = []
    for m in c.measures:
        reports = dict(m.reports)
        notes: dict[str, list[str]] = {}
        for unit, note in m.notes:
            notes.setdefault(unit, []).append(note)
        for role, units in (("牵头/负责", m.lead_units), ("配合", m.support_units)):
            for unit in units:
                note = "\n".join(notes.get(unit, ()))
                rows.append([m.number, m.title, unit, role, reports.get(unit, ""), note])
    return rows


def summary_workbook(c: Consolidation) -> bytes:
    """The office's 汇总表 (.xlsx); the same consolidation always gives the same bytes."""
    s = c.source
    title = f"{s.county}{report_name(c)}报送情况汇总表"
    wb = Workbook()
    # The default font (font 0, the Normal style's) sets the column width unit: 宋体 10.5, a
    # 7-px digit in Excel and WPS like Calibri 11, but in LibreOffice without Calibri's
    # metric twin (Carlito) a narrower stand-in than DejaVu Sans. openpyxl has no public setter.
    wb._fonts = IndexedList([Font(name=_FONT, size=10.5)])  # type: ignore[attr-defined]
    for style in _named_styles():
        wb.add_named_style(style)
    ws = wb.active
    assert ws is not None
    ws.title = "报送情况"
    kinds = ("name", "long", "center", "int", "moment", "int", "center")
    status_rows = [
        (name, "、".join(short_group(g) for g in u.groups), *rest)
        for u, (name, _, *rest) in zip(c.units, _status_records(c), strict=True)
    ]
    _write_sheet(ws, title, list(zip(STATUS_HEADERS, kinds, strict=True)), status_rows)

    measure_rows, lights = _measure_sheet_rows(c)
    _write_sheet(
        wb.create_sheet("措施进展"),
        title,
        [(header, kind) for header, kind, _ in _MEASURE_COLUMNS],
        measure_rows,
        lights,
        widths=[width for _, _, width in _MEASURE_COLUMNS],
        landscape=True,
    )
    deadline_table, deadline_lights = _deadline_sheet_rows(c)
    if deadline_table:  # read with 措施进展 at the meeting, so printed next to it
        _write_sheet(
            wb.create_sheet("临期和逾期事项"), title, DEADLINE_COLUMNS, deadline_table,
            deadline_lights,
        )  # fmt: skip
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
    # The full list of units last: the office prints the sheets before it for the meeting.
    _write_sheet(
        wb.create_sheet("措施责任单位"),
        title,
        list(zip(MEASURE_UNIT_HEADERS, _MEASURE_UNIT_KINDS, strict=True)),
        _measure_unit_rows(c),
    )
    wb.active = 0
    wb.properties.title = title
    out = io.BytesIO()
    save_deterministic(wb, out, s.as_of)
    return out.getvalue()
