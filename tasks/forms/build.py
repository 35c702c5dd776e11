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

Sheet protection (no password) only keeps a unit from overwriting pre-filled cells by accident;
anyone can lift it. What intake trusts is the HMAC over the metadata, checked by
``read_form_metadata`` (``tasks/forms/read.py``). Building is deterministic: the same spec and key
give the same bytes (``tasks/forms/xlsx.py``). The spec, the layout and the signature are the
contract in ``tasks/forms/layout.py``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

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
from tasks.forms.xlsx import display_width, save_deterministic

# ---------------------------------------------------------------------------------------------
# Building


_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_GREY = PatternFill("solid", fgColor="D9D9D9")
_LIGHT = PatternFill("solid", fgColor="F2F2F2")
_YELLOW = PatternFill("solid", fgColor="FFF2CC")  # fill-in cells, named in the instructions
_LOCKED = Protection(locked=True)
_UNLOCKED = Protection(locked=False)
_BODY = "宋体"
_HEAD = "黑体"
_LINE_POINTS = 14.0  # one wrapped line of 10.5-pt 宋体
_CHINESE_ORDINALS = "一二三四五六七八九十"
_BORDERLESS = frozenset({"表头标题", "表头说明"})


def _named_styles() -> dict[str, NamedStyle]:
    """The few cell styles a form uses, as named styles (cheap to assign per cell)."""

    def style(
        name: str,
        *,
        font: Font,
        horizontal: str = "left",
        vertical: str = "center",
        fill: PatternFill | None = None,
        border: Border | None = _BOX,
        locked: bool = True,
        number_format: str = "General",
    ) -> NamedStyle:
        named = NamedStyle(name=name)
        named.font = font
        named.alignment = Alignment(horizontal=horizontal, vertical=vertical, wrap_text=True)
        if fill is not None:
            named.fill = fill
        if border is not None:
            named.border = border
        named.protection = _LOCKED if locked else _UNLOCKED
        named.number_format = number_format
        return named

    body = Font(name=_BODY, size=10.5)
    bold = Font(name=_BODY, size=11, bold=True)
    styles = [
        style("表头标题", font=Font(name=_HEAD, size=16), horizontal="center", border=None),
        style("表头说明", font=body, border=None),
        style("栏目标题", font=bold, fill=_GREY),
        style("列标题", font=bold, horizontal="center", fill=_GREY),
        style("预填", font=body, fill=_LIGHT),
        style("预填居中", font=body, horizontal="center", fill=_LIGHT),
        style("填写", font=body, vertical="top", fill=_YELLOW, locked=False),
        style("填写居中", font=body, horizontal="center", fill=_YELLOW, locked=False),
        style("填写数字", font=body, horizontal="right", fill=_YELLOW, locked=False),
        style(
            "填写日期",
            font=body,
            horizontal="center",
            fill=_YELLOW,
            locked=False,
            number_format='yyyy"年"m"月"d"日"',
        ),
    ]
    return {s.name: s for s in styles}


def _lines(text: str, width: float) -> int:
    """How many lines a wrapped text takes in a column of the given width."""
    # CJK glyphs in 宋体 or its fallbacks run wider than two "0"s: leave a margin, not a gap.
    usable = max(width * 0.85 - 1.0, 4.0)
    return sum(max(1, math.ceil(display_width(p) / usable)) for p in text.split("\n"))


def _number(value: float) -> str:
    """160.0 → 160, 8.5 → 8.5: as a notice writes numbers."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:f}".rstrip("0").rstrip(".")


def target_text(target: Mapping[str, Any]) -> str:
    """全县煤炭全年产量：160万吨（全年，2023年12月31日前）."""
    due = as_date(target["due"])
    phrase = str(target.get("due_phrase", "")).strip().strip("（）()")
    when = f"{phrase}，" if phrase else ""
    bound = "不高于" if target.get("direction") == "at_most" else ""
    return (
        f"{target['metric']}：{bound}{_number(target['value'])}{target['unit']}"
        f"（{when}{due.year}年{due.month}月{due.day}日前）"
    )


@dataclass
class _SheetWriter:
    """Writes a form sheet top to bottom, recording fill-in cells and validations as it goes."""

    ws: Worksheet
    widths: list[float]
    row: int = 1
    cells: list[InputCell] = field(default_factory=list)
    validations: dict[str, DataValidation] = field(default_factory=dict)
    ordinal: int = 0

    @property
    def last_column(self) -> int:
        return len(self.widths)

    def put(self, row: int, column: int, value: Any, style: str) -> None:
        cell = self.ws.cell(row=row, column=column)
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.value = value
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"  # text from the policy is never a formula
        cell.style = style

    def merge(self, row: int, first: int, last: int, rows: int = 1) -> None:
        """Merge a block whose top-left cell is written, giving every cell its style."""
        if last == first and rows == 1:
            return
        style = self.ws.cell(row=row, column=first).style
        if style not in _BORDERLESS:  # Excel draws a merged block's border from its edge cells
            for r in range(row, row + rows):
                for column in range(first, last + 1):
                    if (r, column) != (row, first):
                        self.ws.cell(row=r, column=column).style = style
        # Registered directly: ws.merge_cells() rebuilds each edge cell's border object by object
        # (half of a form's build time); the cells above already carry the box border.
        coord = f"{get_column_letter(first)}{row}:{get_column_letter(last)}{row + rows - 1}"
        self.ws.merged_cells.add(coord)

    def line(self, value: str, style: str, height: float | None = None) -> int:
        """A full-width row; returns its row number."""
        row = self.row
        self.put(row, 1, value, style)
        self.merge(row, 1, self.last_column)
        total = sum(self.widths)
        self.ws.row_dimensions[row].height = height or (_lines(value, total) * _LINE_POINTS + 6)
        self.row += 1
        return row

    def section(self, label: str, required: bool) -> None:
        self.ordinal += 1
        ordinal = _CHINESE_ORDINALS[self.ordinal - 1] if self.ordinal <= 10 else str(self.ordinal)
        suffix = "（必填）" if required else "（选填）"
        self.line(f"{ordinal}、{label}{suffix}", "栏目标题", height=22)

    def text_area(self, key: str, label: str, required: bool, height: float) -> None:
        row = self.row
        self.put(row, 1, None, "填写")
        self.merge(row, 1, self.last_column)
        self.ws.row_dimensions[row].height = height
        self.cells.append(InputCell(f"A{row}", key, "", label, "text", required))
        self.row += 1

    def validation(self, name: str) -> DataValidation:
        """One validation object per kind of rule, with every cell it covers."""
        if name not in self.validations:
            self.validations[name] = _make_validation(name)
            self.ws.add_data_validation(self.validations[name])
        return self.validations[name]


def _make_validation(name: str) -> DataValidation:
    if name == "status":
        dv = DataValidation(type="list", formula1=f'"{",".join(STATUS_CHOICES)}"')
        dv.error = f"请从下拉列表中选择：{'、'.join(STATUS_CHOICES)}"
        dv.prompt = "请选择本项进展状态"
    elif name == "yes_no":
        dv = DataValidation(type="list", formula1=f'"{",".join(YES_NO)}"')
        dv.error = "请从下拉列表中选择：是、否"
        dv.prompt = "请选择“是”或“否”"
    elif name == "number":
        dv = DataValidation(
            type="decimal", operator="between", formula1="-1000000000000", formula2="1000000000000"
        )
        dv.error = "请只填写数字（不带单位，单位见“目标”栏）"
        dv.prompt = "只填数字，单位见“目标”栏"
    elif name == "date":
        # 36526 and 73050 are the serial numbers of 2000-01-01 and 2099-12-31.
        dv = DataValidation(type="date", operator="between", formula1="36526", formula2="73050")
        dv.error = "请填写日期，例如 2023-01-18"
        dv.prompt = "日期，例如 2023-01-18"
    else:  # pragma: no cover - a programming error
        raise ValueError(name)
    dv.errorTitle = "填写有误"
    dv.promptTitle = "填写提示"
    dv.showErrorMessage = True
    dv.showInputMessage = True
    dv.allow_blank = True
    return dv


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
_TABLE_WIDTH = sum(width for _, _, width in _PROGRESS_COLUMNS)  # fits A4 landscape at ~85 %
_ROSTER_WIDTHS = [24.0, 96.0]
# Rows of the roster's known fields: (part, label, type, required-if-the-field-is, height).
_ROSTER_PARTS: dict[str, tuple[tuple[str, str, CellType, bool, float], ...]] = {
    "established": (
        ("", "是否已建立专班", "choice", True, 24),
        ("date", "建立日期", "date", False, 24),
    ),
    "members": (
        ("leader", "组长（姓名、职务）", "text", True, 36),
        ("deputies", "副组长（姓名、职务）", "text", False, 48),
        ("members", "成员（姓名、单位及职务，每人一行）", "text", False, 150),
        ("contact", "联系人（姓名、职务）", "text", True, 24),
        ("phone", "联系电话", "text", True, 24),
    ),
}


def _table_widths(kind: LayoutKind, per_measure: int) -> list[float]:
    if kind == "progress":
        return [width for _, _, width in _PROGRESS_COLUMNS]
    if kind == "ledger":
        fixed = [8.0, 26.0, 6.0]
        rest = max(12.0, (_TABLE_WIDTH - sum(fixed)) / per_measure)
        return fixed + [rest] * per_measure
    return list(_ROSTER_WIDTHS)


def _sheet_name(spec: FormSpec, kind: LayoutKind) -> str:
    if kind == "ledger":
        return "任务清单台账"
    if kind == "progress":
        return "月度报告" if spec.frequency == "monthly" else "进展情况报告"
    keys = {str(f["key"]) for f in spec.content}
    return "专班建立情况" if keys & set(_ROSTER_PARTS) else "填报内容"


def _write_header(w: _SheetWriter, spec: FormSpec, kind: LayoutKind) -> None:
    w.line(form_title(spec), "表头标题", height=36)
    period = f"报告期：{spec.period_label}　　" if spec.frequency == "monthly" else ""
    w.line(
        f"填报单位：{spec.unit_name}　　{period}报送截止：{format_day(spec.due_date)}",
        "表头说明",
    )
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
    w.row += 1


def _header_row(w: _SheetWriter, labels: Sequence[str]) -> int:
    row = w.row
    for column, label in enumerate(labels, start=1):
        w.put(row, column, label, "列标题")
    w.ws.row_dimensions[row].height = (
        max(_lines(label, w.widths[i]) for i, label in enumerate(labels)) * _LINE_POINTS + 8
    )
    w.ws.print_title_rows = f"{row}:{row}"
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
            status.add(f"D{row}")
            text = "（无量化目标）" if target is None else target_text(target)
            w.put(row, 5, text, "预填")
            if target is None:
                w.put(row, 6, "—", "预填居中")
            else:
                w.put(row, 6, None, "填写数字")
                number.add(f"F{row}")
            w.put(row, 7, None, "填写")
            lines = max(title_lines, _lines(text, w.widths[4]), 2)
            w.ws.row_dimensions[row].height = math.ceil(lines) * _LINE_POINTS + 8
            rows.append(TableRow(row, str(measure["number"]), None if target is None else index))
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
                value = "\n".join(target_text(t) for t in measure["targets"])
                lines.append(_lines(value, w.widths[3 + i]))
            w.put(row, 4 + i, value, "填写")
        w.ws.row_dimensions[row].height = max(lines) * _LINE_POINTS + 8
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
        w.ws.row_dimensions[row].height = height
        cell = f"B{row}"
        choices: tuple[str, ...] = ()
        if kind == "choice":
            choices = YES_NO
            w.validation("yes_no").add(cell)
        elif kind == "date":
            w.validation("date").add(cell)
        w.cells.append(
            InputCell(
                cell, key, part, part_label or label, kind, required and part_required, choices
            )
        )
        w.row += 1


def _write_footer(w: _SheetWriter) -> None:
    """填报人、联系电话、单位负责人: who to call about the report."""
    w.row += 1
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
    w.ws.row_dimensions[row].height = 24
    w.row += 1


def _setup_print(ws: Worksheet) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    footer = ws.oddFooter
    if footer is not None:
        footer.center.text = "第 &P 页，共 &N 页"


def _protect(ws: Worksheet) -> None:
    """Lock pre-filled cells; no password: this guards against slips, the HMAC against forgery."""
    ws.protection.sheet = True
    ws.protection.formatRows = False  # a unit may make a row taller for a long answer
    ws.protection.formatColumns = False


def _write_form_sheet(ws: Worksheet, spec: FormSpec, kind: LayoutKind) -> FormLayout:
    content = list(spec.content)
    per_measure = [f for f in content if f["kind"] == "per_measure"]
    w = _SheetWriter(ws, _table_widths(kind, len(per_measure)))
    for index, width in enumerate(w.widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
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
                w.row += 1
        elif kind == "roster":
            _write_roster_field(w, fld)
        else:
            w.section(str(fld["label"]), bool(fld["required"]))
            height = 150.0 if kind == "ledger" else 110.0
            w.text_area(str(fld["key"]), str(fld["label"]), bool(fld["required"]), height)
    if kind != "roster":
        _write_footer(w)
    _setup_print(ws)
    _protect(ws)
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


def _write_meta(ws: Worksheet, fields: Mapping[str, str], signature: str) -> None:
    for row, (name, value) in enumerate([*fields.items(), ("signature", signature)], start=1):
        ws.cell(row=row, column=1, value=name)
        cell = ws.cell(row=row, column=2, value=value)
        cell.data_type = "s"  # never read back as a number or a formula
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 80
    ws.sheet_state = "veryHidden"
    ws.protection.sheet = True


def build_form(spec: FormSpec, key: bytes) -> bytes:
    """The unit's pre-filled, signed .xlsx form for one obligation and cycle."""
    return build_signed_form(spec, key)[0]


def build_signed_form(spec: FormSpec, key: bytes) -> tuple[bytes, str]:
    """The form, and the digest of its signed metadata the office records as issued."""
    check_key(key)
    kind = layout_kind(spec.content)
    wb = Workbook()
    for style in _named_styles().values():
        wb.add_named_style(style)
    ws = wb.active
    assert ws is not None
    ws.title = _sheet_name(spec, kind)
    layout = _write_form_sheet(ws, spec, kind)
    fields = _meta_fields(spec, layout)
    if len(fields["layout"]) > 32_000:  # Excel's limit for one cell is 32,767 characters
        raise FormError(f"{spec.unit_name} 的表格措施过多，元数据超出单元格长度上限")
    _write_meta(wb.create_sheet(META_SHEET), fields, sign(fields, key))
    wb.active = 0
    # Locking the structure keeps the hidden sheet from being unhidden, renamed or deleted by
    # accident; like the sheet protection it has no password and is not the trust anchor.
    wb.security = WorkbookProtection(lockStructure=True)
    wb.properties.title = form_title(spec)
    out = io.BytesIO()
    save_deterministic(wb, out, spec.issued_at)  # file times from issued_at, not the clock
    return out.getvalue(), form_digest(fields)
