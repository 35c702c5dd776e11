"""Pre-filled report forms (.xlsx) signed for intake, and reading their signature back.

Each unit gets one workbook per obligation and cycle: a visible sheet laid out from the
obligation's content fields, with the unit's own measures pre-filled, and a very hidden ``_meta``
sheet naming policy, obligation, period and unit plus the position of every fill-in cell, signed
with HMAC-SHA256. Three layouts follow from the content fields, never from an obligation's code:

- ``ledger``   (two or more ``per_measure`` fields, 陵川 任务清单台账): one row per measure, one
  column per field; a field whose label speaks of 目标 is pre-filled with the quantified targets.
- ``progress`` (one ``per_measure`` field, the monthly reports): one row per target (or per
  measure without one) with 进展状态 from a list, the target, the value reached and a note.
- ``roster``   (no ``per_measure`` field, 陵川 专班建立情况): label and value rows.

Text and table fields become labelled fill-in areas, in the order the obligation lists them.

Printing (bureaus print the form to stamp it): A4, portrait for the roster, landscape for the
tables, at one fixed zoom that fits the columns across the page in the widest case (LibreOffice
without Calibri); every row has an explicit height, so ``page_breaks`` places manual row breaks
that keep a section heading with the first row of its box, the table's header row with its first
measure and a measure's target rows together; the table's header row repeats on later pages; the
footer 第 N 页，共 M 页 sits in a bottom margin tall enough for it. Pre-filled text is broken into
lines by ``wrap_cjk``, never before 、；：，。）, since LibreOffice breaks there.

Sheet protection (no password) only keeps a unit from overwriting pre-filled cells by accident;
anyone can lift it. What intake trusts is the HMAC over the metadata, checked by
``read_form_metadata`` (``tasks/forms/read.py``). Building is deterministic: the same spec and key
give the same bytes (``tasks/forms/xlsx.py``). The spec, the layout and the signature are the
contract in ``tasks/forms/layout.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from config.errors import FormError
from tasks.calendar import format_day
from tasks.forms.layout import (
    FORM_VERSION,
    META_SHEET,
    STATUS_CHOICES,
    YES_NO,
    CellType,
    FormLayout,
    FormSpec,
    InputCell,
    LayoutKind,
    TableColumn,
    TableLayout,
    TableRow,
    as_date,
    check_key,
    form_digest,
    form_title,
    layout_kind,
    sign,
)
from tasks.forms.xlsx import (
    CellStyle,
    PrintSetup,
    Sheet,
    Validation,
    display_width,
    stylesheet,
    write_workbook,
)
from tasks.forms.xlsx import column_letter as get_column_letter

# ---------------------------------------------------------------------------------------------
# Building


_GREY = "D9D9D9"
_LIGHT = "F2F2F2"
_YELLOW = "FFF2CC"  # fill-in cells, named in the instructions
_BODY = "宋体"
_HEAD = "黑体"
_LINE_POINTS = 15.5  # one wrapped line of 10.5-pt 宋体 (Noto CJK, its stand-in, runs 1.45 em)
_SPACER_POINTS = 10.0
_CHINESE_ORDINALS = "一二三四五六七八九十"
_BORDERLESS = frozenset({"表头标题", "表头说明"})
# What openpyxl refuses in a cell (control characters other than tab, line feed, return).
_ILLEGAL_CHARACTERS = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
_MAX_CELL = 32767  # characters in one cell, as Excel (and openpyxl) cut a longer text

# The few cell styles a form uses, as named styles: a 10.5-pt 宋体 body, bold 11-pt headings,
# grey pre-filled cells, light yellow fill-in cells (unlocked), all wrapped in a thin grey box.
FORM_STYLES = (
    CellStyle("表头标题", _HEAD, 16, horizontal="center", border=False),
    CellStyle("表头说明", _BODY, 10.5, border=False),
    CellStyle("栏目标题", _BODY, 11, bold=True, fill=_GREY),
    CellStyle("列标题", _BODY, 11, bold=True, horizontal="center", fill=_GREY),
    CellStyle("预填", _BODY, 10.5, fill=_LIGHT),
    CellStyle("预填居中", _BODY, 10.5, horizontal="center", fill=_LIGHT),
    CellStyle("填写", _BODY, 10.5, vertical="top", fill=_YELLOW, locked=False),
    CellStyle("填写居中", _BODY, 10.5, horizontal="center", fill=_YELLOW, locked=False),
    CellStyle("填写数字", _BODY, 10.5, horizontal="right", fill=_YELLOW, locked=False),
    CellStyle(
        "填写日期",
        _BODY,
        10.5,
        horizontal="center",
        fill=_YELLOW,
        locked=False,
        number_format='yyyy"年"m"月"d"日"',
    ),
)
_STYLESHEET = stylesheet(FORM_STYLES)  # built once: only the order of its cell formats varies


def _lines(text: str, width: float) -> int:
    """How many lines a wrapped text takes in a column of the given width."""
    usable = _usable(width)
    return sum(max(1, math.ceil(display_width(p) / usable)) for p in text.split("\n"))


# CJK line-breaking rules (禁则): LibreOffice 7.4 breaks a cell's text before ，or ） when the
# document has no Chinese language set, and Excel's rules vary by locale. Text we pre-fill is
# broken into lines here, each short enough that no program wraps it again.
_NO_LINE_START = "、；：，。！？）》」』”’%…"
_NO_LINE_END = "（《「『“‘"
# A short bracketed or quoted phrase (（2023年12月31日前）, “目标”) moves to the next line whole.
_TOKEN = re.compile(
    r"(?:（[^（）\n]{1,18}）|“[^“”\n]{1,8}”"
    rf"|[{_NO_LINE_END}]*(?:[A-Za-z0-9.@_\-+/%]+|\s+|.))[{_NO_LINE_START}]*"
)


def wrap_cjk(text: str, width: float) -> str:
    """``text`` with line breaks where a column of ``width`` would wrap it, none right before a
    closing mark (、；：，。）…) or after an opening one, and none inside a number or an address."""
    usable = width - 2.0  # what Excel fits at 100 %; LibreOffice fits more: neither wraps again
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, line_width = "", 0  # the line so far and its display width, kept as it grows
        for token in _TOKEN.findall(paragraph):
            token_width = display_width(token)
            if line.strip() and line_width + token_width > usable:
                lines.append(line.rstrip())
                line = token.lstrip()
                line_width = display_width(line)
            else:
                line += token
                line_width += token_width
        lines.append(line.rstrip())
    return "\n".join(lines)


def _usable(width: float) -> float:
    # CJK glyphs in 宋体 or its fallbacks run wider than two "0"s: leave a margin, not a gap.
    return max(width * 0.85 - 1.0, 4.0)


def _number(value: float) -> str:
    """160.0 → 160, 8.5 → 8.5: as a notice writes numbers."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:f}".rstrip("0").rstrip(".")


def _target_pieces(target: Mapping[str, Any]) -> tuple[str, str, str]:
    due = as_date(target["due"])
    bound = "不高于" if target.get("direction") == "at_most" else ""
    return (
        f"{target['metric']}：",
        f"{bound}{_number(target['value'])}{target['unit']}",
        f"（{due.year}年{due.month}月{due.day}日前）",
    )


def target_text(target: Mapping[str, Any]) -> str:
    """煤矿智能化矿井建设：2座（2023年12月31日前）: the target as the notice mail words it.

    The mail (templates/mail/_wording.txt, ``target``) gives only the due day; ``due_phrase`` is
    the policy's own wording (全年) or an importer's note to the office (（原文未写时限，…）), and
    neither belongs in a bureau-facing cell that must say what the mail said.
    """
    return "".join(_target_pieces(target))


def target_lines(target: Mapping[str, Any], width: float) -> str:
    """``target_text`` broken for a column of ``width``: the amount (47亿元) and the due day each
    kept whole, on the metric's line when they fit."""
    metric, *rest = _target_pieces(target)
    lines = wrap_cjk(metric, width).split("\n")
    for piece in rest:
        if display_width(lines[-1] + piece) <= width - 2.0:
            lines[-1] += piece
        else:
            lines.extend(wrap_cjk(piece, width).split("\n"))
    return "\n".join(lines)


@dataclass
class _SheetWriter:
    """Writes a form sheet top to bottom, recording fill-in cells and validations as it goes."""

    ws: Sheet
    widths: list[float]
    row: int = 1
    cells: list[InputCell] = field(default_factory=list)
    validations: dict[str, Validation] = field(default_factory=dict)
    ordinal: int = 0
    header_row: int | None = None
    # Rows that must print on the same page as the row below them (a heading and the start of its
    # box, a measure's merged target rows, the signature line and the table above it).
    keep_with_next: set[int] = field(default_factory=set)

    @property
    def last_column(self) -> int:
        return len(self.widths)

    def put(self, row: int, column: int, value: str | None, style: str) -> None:
        # Text from the policy is written as text, never as a formula (=…) or a number.
        if value is not None:
            value = _ILLEGAL_CHARACTERS.sub("", value)[:_MAX_CELL]
        self.ws.put(row, column, value, style)

    def merge(self, row: int, first: int, last: int, rows: int = 1) -> None:
        """Merge a block whose top-left cell is written, giving every cell its style."""
        if last == first and rows == 1:
            return
        style = self.ws.style_of(row, first)
        if style not in _BORDERLESS:  # Excel draws a merged block's border from its edge cells
            for r in range(row, row + rows):
                for column in range(first, last + 1):
                    if (r, column) != (row, first):
                        self.ws.restyle(r, column, style)
        self.ws.merges.append((row, first, row + rows - 1, last))

    def line(self, value: str, style: str, height: float | None = None) -> int:
        """A full-width row; returns its row number."""
        row = self.row
        total = sum(self.widths)
        lines = _lines(value, total)
        if style == "表头说明":
            value = wrap_cjk(value, total)
            lines = value.count("\n") + 1
        self.put(row, 1, value, style)
        self.merge(row, 1, self.last_column)
        self.ws.heights[row] = height or (lines * _LINE_POINTS + 6)
        self.row += 1
        return row

    def section(self, label: str, required: bool) -> None:
        self.ordinal += 1
        ordinal = _CHINESE_ORDINALS[self.ordinal - 1] if self.ordinal <= 10 else str(self.ordinal)
        suffix = "（必填）" if required else "（选填）"
        row = self.line(f"{ordinal}、{label}{suffix}", "栏目标题", height=22)
        self.keep_with_next.add(row)

    def spacer(self, *, keep_with_previous: bool = True) -> None:
        """A thin blank row; it stays with what is above it, so no page starts with a gap."""
        self.ws.heights[self.row] = _SPACER_POINTS
        if keep_with_previous and self.row > 1:
            self.keep_with_next.add(self.row - 1)
        self.row += 1

    def heights(self) -> list[float]:
        """Every row's height in points, top to bottom (each row is given one explicitly)."""
        return [float(self.ws.heights.get(r) or 0) for r in range(1, self.row)]

    def text_area(self, key: str, label: str, required: bool, height: float) -> None:
        row = self.row
        self.put(row, 1, None, "填写")
        self.merge(row, 1, self.last_column)
        self.ws.heights[row] = height
        self.cells.append(InputCell(f"A{row}", key, "", label, "text", required))
        self.row += 1

    def validation(self, name: str) -> Validation:
        """One validation object per kind of rule, with every cell it covers."""
        if name not in self.validations:
            self.validations[name] = _make_validation(name)
            self.ws.validations.append(self.validations[name])
        return self.validations[name]


def _titled(kind: str, formula1: str, **options: str) -> Validation:
    """A validation whose error and prompt boxes carry the form's own titles."""
    return Validation(kind, formula1, error_title="填写有误", prompt_title="填写提示", **options)  # type: ignore[arg-type]


def _make_validation(name: str) -> Validation:
    """A rule with its error and prompt texts; blanks allowed, both messages shown."""
    if name == "status":
        return _titled(
            "list",
            f'"{",".join(STATUS_CHOICES)}"',
            error=f"请从下拉列表中选择：{'、'.join(STATUS_CHOICES)}",
            prompt="请选择本项进展状态",
        )
    if name == "yes_no":
        return _titled(
            "list",
            f'"{",".join(YES_NO)}"',
            error="请从下拉列表中选择：是、否",
            prompt="请选择“是”或“否”",
        )
    if name == "number":
        return _titled(
            "decimal",
            "-1000000000000",
            operator="between",
            formula2="1000000000000",
            error="请只填写数字（不带单位，单位见“目标”栏）",
            prompt="只填数字，单位见“目标”栏",
        )
    if name == "date":
        # 36526 and 73050 are the serial numbers of 2000-01-01 and 2099-12-31.
        return _titled(
            "date",
            "36526",
            operator="between",
            formula2="73050",
            error="请填写日期，例如 2023-01-18",
            prompt="日期，例如 2023-01-18",
        )
    raise ValueError(name)  # pragma: no cover - a programming error


_PROGRESS_COLUMNS: tuple[tuple[str, str, float], ...] = (
    ("number", "措施编号", 8),
    ("title", "措施名称", 34),
    ("role", "角色", 6),
    ("status", "进展状态", 10),
    ("target", "目标", 30),
    ("value", "当前完成值", 11),
    ("note", "情况说明", 30),
)
_PROGRESS_TYPES: dict[str, CellType] = {"status": "choice", "value": "number"}
_LEDGER_WIDTH = 129.0  # as wide as the progress table: both print at 85 % on A4 landscape
_ROSTER_WIDTHS = [20.0, 54.0]  # A4 portrait at 100 %: a one-page form to sign and stamp
# Rows of the roster's known fields: (part, label, type, required-if-the-field-is, height).
_ROSTER_PARTS: dict[str, tuple[tuple[str, str, CellType, bool, float], ...]] = {
    "established": (
        ("", "是否已建立专班", "choice", True, 24),
        ("date", "建立日期", "date", False, 24),
    ),
    "members": (
        ("leader", "组长（姓名、职务）", "text", True, 36),
        ("deputies", "副组长（姓名、职务）", "text", False, 48),
        ("members", "成员（姓名、单位及职务，每人一行）", "text", False, 250),
        ("contact", "联系人（姓名、职务）", "text", True, 24),
        ("phone", "联系电话", "text", True, 24),
    ),
}


def _table_widths(kind: LayoutKind, fields: Sequence[Mapping[str, Any]]) -> list[float]:
    if kind == "progress":
        return [width for _, _, width in _PROGRESS_COLUMNS]
    if kind == "ledger":
        return [8.0, 26.0, 6.0, *_ledger_widths(fields)]
    return list(_ROSTER_WIDTHS)


def _ledger_widths(fields: Sequence[Mapping[str, Any]]) -> list[float]:
    """The goal column pre-filled with targets gets room for one target a line (a tall row would
    leave the rest of a page empty); a deadline needs only a date; the others share the rest."""
    room = _LEDGER_WIDTH - 40.0
    fixed = {
        i: 40.0 if _is_goal_field(f) else 12.0
        for i, f in enumerate(fields)
        if _is_goal_field(f) or any(w in str(f["label"]) for w in ("时限", "日期", "时间"))
    }
    free = len(fields) - len(fixed)
    share = max(12.0, (room - sum(fixed.values())) / free) if free else 0.0
    return [fixed.get(i, share) for i in range(len(fields))]


# 16 pt title against the 10.5 pt body the column widths are measured in.
_TITLE_SCALE = 16 / 10.5
_PROGRESS_SHEETS = {
    "weekly": "周报",
    "monthly": "月度报告",
    "quarterly": "季度报告",
    "half_yearly": "半年报告",
    "yearly": "年度报告",
}


def _sheet_name(spec: FormSpec, kind: LayoutKind) -> str:
    if kind == "ledger":
        return "任务清单台账"
    if kind == "progress":
        return _PROGRESS_SHEETS.get(spec.frequency, "进展情况报告")
    keys = {str(f["key"]) for f in spec.content}
    return "专班建立情况" if keys & set(_ROSTER_PARTS) else "填报内容"


def _write_header(w: _SheetWriter, spec: FormSpec, kind: LayoutKind) -> None:
    usable = sum(w.widths) - 2.0
    title = form_title(spec)
    if display_width(title) * _TITLE_SCALE > usable:
        # A week's title (…第5周（1月30日—2月5日）…) outgrows a narrow form: the unit goes on a
        # line of its own rather than breaking inside its name.
        w.line(
            title.replace(f"（{spec.unit_name}）", f"\n（{spec.unit_name}）"), "表头标题", height=60
        )
    else:
        w.line(title, "表头标题", height=36)
    parts = [f"填报单位：{spec.unit_name}"]
    if spec.frequency != "once":
        parts.append(f"报告期：{spec.period_label}")
    parts.append(f"报送截止：{format_day(spec.due_date)}{spec.due_time}")
    joined = "　　".join(parts)
    # One line if it fits; else one item per line, never a break inside 报送截止.
    w.line(joined if display_width(joined) <= usable else "\n".join(parts), "表头说明")
    w.line(f"依据：{spec.doc_number}　{spec.policy_title}", "表头说明")
    hints = ["灰色单元格为预填内容，不能修改", "淡黄色单元格请填写"]
    if kind != "ledger":
        hints.append("带下拉箭头的单元格请从列表中选择")
    if kind == "progress":
        hints.append("“当前完成值”只填数字，单位见“目标”栏")
    w.line(
        f"填报说明：{'；'.join(hints)}。填好后请保存为 .xlsx 格式（不要更改工作表名称和表格结构，"
        f"不要另建表格），作为邮件附件回复至 {spec.office_mailbox}。",
        "表头说明",
    )
    w.spacer()


def _header_row(w: _SheetWriter, labels: Sequence[str]) -> int:
    row = w.row
    for column, label in enumerate(labels, start=1):
        w.put(row, column, label, "列标题")
    w.ws.heights[row] = (
        max(_lines(label, w.widths[i]) for i, label in enumerate(labels)) * _LINE_POINTS + 8
    )
    w.header_row = row
    w.keep_with_next.add(row)  # a header row never ends a page
    w.row += 1
    return row


def _measure_cells(w: _SheetWriter, row: int, measure: Mapping[str, Any], rows: int) -> None:
    """Number, title and role: pre-filled, locked, merged down over a measure's target rows."""
    for column, (value, style) in enumerate(
        (
            (measure["number"], "预填居中"),
            (measure["title"], "预填"),
            (measure["role_label"], "预填居中"),
        ),
        start=1,
    ):
        w.put(row, column, value, style)
        w.merge(row, column, column, rows)


def _write_progress(w: _SheetWriter, spec: FormSpec, fld: Mapping[str, Any]) -> TableLayout:
    key, required = str(fld["key"]), bool(fld["required"])
    label = str(fld["label"])
    w.section(label if "逐条" in label else f"{label}（逐条措施填写）", required)
    header = _header_row(w, [label for _, label, _ in _PROGRESS_COLUMNS])
    columns = tuple(
        TableColumn(
            column=get_column_letter(i),
            field="" if part in ("number", "title", "role") else key,
            part=part,
            label=label,
            type=_PROGRESS_TYPES.get(part, "text"),
            input=part in ("status", "value", "note"),
            required=required and part in ("status", "value"),
            choices=STATUS_CHOICES if part == "status" else (),
            target_rows_only=part == "value",
        )
        for i, (part, label, _) in enumerate(_PROGRESS_COLUMNS, start=1)
    )
    status, number = w.validation("status"), w.validation("number")
    rows: list[TableRow] = []
    for measure in spec.measures:
        targets = list(measure["targets"]) or [None]
        first = w.row
        _measure_cells(w, first, measure, len(targets))
        title_lines = _lines(str(measure["title"]), w.widths[1]) / len(targets)
        for index, target in enumerate(targets):
            row = first + index
            w.put(row, 4, None, "填写居中")
            status.add(row, 4)
            text = "（无量化目标）" if target is None else target_lines(target, w.widths[4])
            w.put(row, 5, text, "预填")
            if target is None:
                w.put(row, 6, "—", "预填居中")
            else:
                w.put(row, 6, None, "填写数字")
                number.add(row, 6)
            w.put(row, 7, None, "填写")
            lines = max(title_lines, text.count("\n") + 1, 2)
            w.ws.heights[row] = math.ceil(lines) * _LINE_POINTS + 8
            rows.append(TableRow(row, str(measure["number"]), None if target is None else index))
        w.keep_with_next.update(range(first, first + len(targets) - 1))  # merged cells
        w.row = first + len(targets)
    if not spec.measures:
        w.line("（本单位在本政策中没有具名承担的措施，本栏无需填写。）", "预填")
    return TableLayout(header, columns, tuple(rows))


def _is_goal_field(fld: Mapping[str, Any]) -> bool:
    """The ledger column that is pre-filled with the measure's quantified targets."""
    return fld["key"] == "expected-goal" or "目标" in str(fld["label"])


def _write_ledger(
    w: _SheetWriter, spec: FormSpec, fields: Sequence[Mapping[str, Any]]
) -> TableLayout:
    required = any(bool(f["required"]) for f in fields)
    w.section("任务清单（每项措施一行）", required)
    labels = ["措施编号", "措施名称", "角色", *(str(f["label"]) for f in fields)]
    header = _header_row(w, labels)
    fixed = tuple(
        TableColumn(get_column_letter(i), "", part, label, "text", input=False, required=False)
        for i, (part, label) in enumerate(
            (("number", "措施编号"), ("title", "措施名称"), ("role", "角色")), start=1
        )
    )
    inputs = tuple(
        TableColumn(
            get_column_letter(4 + i),
            str(f["key"]),
            str(f["key"]),
            str(f["label"]),
            "text",
            input=True,
            required=bool(f["required"]),
        )
        for i, f in enumerate(fields)
    )
    rows: list[TableRow] = []
    for measure in spec.measures:
        row = w.row
        _measure_cells(w, row, measure, 1)
        lines = [_lines(str(measure["title"]), w.widths[1]), 3]
        for i, f in enumerate(fields):
            value = None
            if _is_goal_field(f) and measure["targets"]:
                # broken here, not by the spreadsheet program: LibreOffice would start a line
                # with ）; intake reads the cell back as the unit left it, line breaks and all
                value = "\n".join(target_lines(t, w.widths[3 + i]) for t in measure["targets"])
                lines.append(value.count("\n") + 1)
            w.put(row, 4 + i, value, "填写")
        w.ws.heights[row] = max(lines) * _LINE_POINTS + 8
        rows.append(TableRow(row, str(measure["number"]), None))
        w.row += 1
    if not spec.measures:
        w.line("（本单位在本政策中没有具名承担的措施，可结合职责自行列出任务事项。）", "预填")
    return TableLayout(header, fixed + inputs, tuple(rows))


def _write_roster_field(w: _SheetWriter, fld: Mapping[str, Any]) -> None:
    key, label, required = str(fld["key"]), str(fld["label"]), bool(fld["required"])
    w.section(label, required)
    parts = _ROSTER_PARTS.get(key) or (("", label, "text", True, 60.0),)
    for part, part_label, kind, part_required, height in parts:
        row = w.row
        w.put(row, 1, part_label or label, "预填")
        style = {"choice": "填写居中", "date": "填写日期"}.get(kind, "填写")
        w.put(row, 2, None, style)
        w.ws.heights[row] = height
        cell = f"B{row}"
        choices: tuple[str, ...] = ()
        if kind == "choice":
            choices = YES_NO
            w.validation("yes_no").add(row, 2)
        elif kind == "date":
            w.validation("date").add(row, 2)
        w.cells.append(
            InputCell(
                cell, key, part, part_label or label, kind, required and part_required, choices
            )
        )
        w.row += 1


def _write_footer(w: _SheetWriter) -> None:
    """填报人、联系电话、单位负责人: who to call about the report, on the page of the last row."""
    w.spacer()
    w.keep_with_next.add(w.row - 1)
    row = w.row
    for first, last, part, label in (
        (1, 1, "filled_by", "填报人"),
        (3, 4, "phone", "联系电话"),
        (6, 6, "head", "单位负责人"),
    ):
        w.put(row, first, label, "预填居中")
        w.merge(row, first, last)
        w.put(row, last + 1, None, "填写")
        cell = f"{get_column_letter(last + 1)}{row}"
        w.cells.append(InputCell(cell, "footer", part, label, "text", False))
    w.ws.heights[row] = 24
    w.row += 1


# A4 in points, and the margins in inches. The bottom margin leaves room for the page-number
# footer below the body: LibreOffice gives the footer (bottom - footer) = 0.45", Excel prints it
# 0.45" from the edge, clear of the body; at 0.6"/0.5" LibreOffice cut the line in half.
_A4_POINTS = (595.3, 841.9)
_MARGINS = {"left": 0.5, "right": 0.5, "top": 0.6, "bottom": 0.9, "header": 0.3, "footer": 0.45}
PAGE_FOOTER = "第 &P 页，共 &N 页"


def column_points(widths: Sequence[float]) -> float:
    """The printed width at 100 % of columns given in Excel's character units, in the widest of
    the programs that print the forms: LibreOffice without Calibri (DejaVu Sans stands in) makes
    a character 7 pt; Excel with Calibri 5.25 pt plus 3.75 pt a column. One fixed zoom from the
    wider measure prints the same rows on each page everywhere (the narrower one centred)."""
    return sum(widths) * 7.0


def print_scale(widths: Sequence[float], landscape: bool) -> int:
    """The zoom that fits the columns to the paper's width: 100 when they fit, never above."""
    paper = _A4_POINTS[1] if landscape else _A4_POINTS[0]
    usable = paper - (_MARGINS["left"] + _MARGINS["right"]) * 72
    return min(100, math.floor(usable / column_points(widths) * 100))


def body_points(landscape: bool, scale: int) -> float:
    """How many points of row height one page holds at the given zoom, with a little slack for
    the spreadsheet program's rounding (row heights are kept in whole pixels or twips)."""
    paper = _A4_POINTS[0] if landscape else _A4_POINTS[1]
    body = paper - (_MARGINS["top"] + _MARGINS["bottom"]) * 72
    return body * 100 / scale * 0.97


def page_breaks(
    heights: Sequence[float],
    keep_with_next: Collection[int],
    page: float,
    repeat: tuple[int, int] | None = None,
) -> list[int]:
    """The rows after which a page must end (1-based), filling each page in turn.

    ``heights[i]`` is row i+1's height; a row in ``keep_with_next`` goes on the page of the row
    below it, so a run of such rows moves as one block; ``repeat`` is the (first, last) rows
    printed again atop every later page. A block taller than a page starts a page and is left to
    the spreadsheet program to split.
    """
    blocks: list[tuple[int, int]] = []
    first = 1
    for row in range(1, len(heights) + 1):
        if row not in keep_with_next or row == len(heights):
            blocks.append((first, row))
            first = row + 1
    repeated = 0.0 if repeat is None else sum(heights[repeat[0] - 1 : repeat[1]])
    breaks: list[int] = []
    used = 0.0
    for first, last in blocks:
        height = sum(heights[first - 1 : last])
        if used > 0 and used + height > page:
            breaks.append(first - 1)
            used = repeated if repeat is not None and first > repeat[1] else 0.0
        used += height
    return breaks


def _setup_print(w: _SheetWriter, kind: LayoutKind) -> None:
    """A4, the form's columns across one page, and manual page breaks so that no heading or
    header row ends a page and no measure is split.

    A fixed zoom rather than "fit to 1 page wide": Excel ignores manual page breaks under
    fit-to-page, and at the zoom fit-to-width would pick they fall where the layout put them.
    The sheet is protected with no password: this guards against slips, the HMAC against
    forgery; a unit may still make a row taller (or a column wider) for a long answer.
    """
    landscape = kind != "roster"
    scale = print_scale(w.widths, landscape)
    repeat = None if w.header_row is None else (w.header_row, w.header_row)
    page = body_points(landscape, scale)
    w.ws.print_setup = PrintSetup(
        landscape=landscape,
        scale=scale,
        margins=_MARGINS,
        footer=f"&C&9 {PAGE_FOOTER}",  # centred, 9 pt
        last_row=w.row - 1,
        title_row=w.header_row,  # on every page the table runs on to
        row_breaks=page_breaks(w.heights(), w.keep_with_next, page, repeat),
    )


def _write_form_sheet(ws: Sheet, spec: FormSpec, kind: LayoutKind) -> FormLayout:
    content = list(spec.content)
    per_measure = [f for f in content if f["kind"] == "per_measure"]
    w = _SheetWriter(ws, ws.widths)
    _write_header(w, spec, kind)
    table: TableLayout | None = None
    for fld in content:
        if fld["kind"] == "per_measure":
            if table is None:  # every per-measure field lives in the one table
                table = (
                    _write_ledger(w, spec, per_measure)
                    if kind == "ledger"
                    else _write_progress(w, spec, fld)
                )
                w.spacer()
        elif kind == "roster":
            _write_roster_field(w, fld)
        else:
            w.section(str(fld["label"]), bool(fld["required"]))
            height = 150.0 if kind == "ledger" else 110.0
            w.text_area(str(fld["key"]), str(fld["label"]), bool(fld["required"]), height)
    if kind != "roster":
        _write_footer(w)
    _setup_print(w, kind)
    return FormLayout(kind, ws.title, tuple(w.cells), table)


def _meta_fields(spec: FormSpec, layout: FormLayout) -> dict[str, str]:
    if spec.issued_at.tzinfo is None:
        raise FormError("issued_at 须带时区")
    return {
        "policy": spec.policy_code,
        "obligation": spec.obligation_code,
        "period": spec.period,
        "unit_code": spec.unit_code,
        "unit_name": spec.unit_name,
        "form_version": str(FORM_VERSION),
        "issued_at": spec.issued_at.isoformat(),
        "layout": layout.to_json(),
    }


def _meta_sheet(fields: Mapping[str, str], signature: str) -> Sheet:
    """The very hidden, protected sheet of signed metadata; every value is written as text, so
    it is never read back as a number or a formula."""
    ws = Sheet(META_SHEET, [14.0, 80.0], very_hidden=True, form_protection=False)
    for row, (name, value) in enumerate([*fields.items(), ("signature", signature)], start=1):
        ws.put(row, 1, name, None)
        ws.put(row, 2, value[:_MAX_CELL], None)
    return ws


def build_form(spec: FormSpec, key: bytes) -> bytes:
    """The unit's pre-filled, signed .xlsx form for one obligation and cycle."""
    return build_signed_form(spec, key)[0]


def build_signed_form(spec: FormSpec, key: bytes) -> tuple[bytes, str]:
    """The form, and the digest of its signed metadata the office records as issued."""
    sheets, fields = form_sheets(spec, key)
    # The structure is locked (write_workbook), which keeps the hidden sheet from being
    # unhidden, renamed or deleted by accident; like the sheet protection it has no password
    # and is not the trust anchor. File times come from issued_at, not the clock.
    data = write_workbook(sheets, _STYLESHEET, form_title(spec), spec.issued_at)
    return data, form_digest(fields)


def form_sheets(spec: FormSpec, key: bytes) -> tuple[list[Sheet], dict[str, str]]:
    """The form's two sheets, laid out and signed: the unit's form and the very hidden
    metadata; and the signed fields."""
    check_key(key)
    kind = layout_kind(spec.content)
    per_measure = [f for f in spec.content if f["kind"] == "per_measure"]
    ws = Sheet(_sheet_name(spec, kind), _table_widths(kind, per_measure))
    layout = _write_form_sheet(ws, spec, kind)
    fields = _meta_fields(spec, layout)
    if len(fields["layout"]) > 32_000:  # Excel's limit for one cell is 32,767 characters
        raise FormError(f"{spec.unit_name} 的表格措施过多，元数据超出单元格长度上限")
    # Signed values cannot be cleaned like the visible text; openpyxl refused them as well.
    if any(_ILLEGAL_CHARACTERS.search(v) for v in (*fields.values(), form_title(spec))):
        raise FormError(f"{spec.unit_name!r} 的表格元数据含有不能写入表格的控制字符")
    return [ws, _meta_sheet(fields, sign(fields, key))], fields
