"""Reading a returned form's values and checking them against the signed layout.

``tasks.forms.build`` builds each unit's form and signs its layout; once ``read_form_metadata``
(``tasks.forms.read``) has verified that signature, ``read_form`` reads every fill-in cell the
layout names and checks it: required cells filled, 进展状态 from the list, 完成值 a number, dates
real dates, the pre-filled measure numbers still on the rows the layout put them on, no rows
added below the table, and the measures still the unit's own when the policy changed after the
form went out.

Everything about the *contents* of cells becomes a ``FormIssue`` in plain Chinese, naming the
sheet, the cell and the value, so the office can send the unit one list of what to correct. Only a
file that cannot be read as a workbook at all raises (``FormReadError``), as ``read_form_metadata``
does: the caller answers those with the same "please resend" reply.

Judgement calls, so that intake behaves the same for every unit:

- Whitespace (including the full-width space and zero-width characters) around a value is
  dropped; a cell holding nothing else counts as empty.
- 完成值 accepts Excel numbers and text numbers with full-width digits, thousands separators
  ("1,200") and a sign. A number followed by anything else ("120万", "100左右") is refused with
  the suffix named: the unit is in the 目标 column, and guessing a scale would store a wrong value
  silently. A percentage ("85%", or a cell Excel formats as 85 %) is read in percentage points
  (85.0, not 0.85), and only on a row whose target counts in % — which is how those targets are
  written ("新建项目开工率：40%"); on any other row it is refused like a unit.
- Dates accept Excel dates, the serial numbers the form's own validation allows, and text such as
  "2023-01-18", "2023/1/18", "2023.1.18", "2023年1月18日" or "20230118", between 2000 and 2099.
- A value that fails its check is stored as ``None``; the issue carries what the unit wrote.
- Cells are read with ``data_only``: a formula counts as the value Excel last computed for it,
  and as empty when the file was saved by a program that computes nothing.
- A cell showing a formula error (#NAME?, #N/A, #VALUE!, #DIV/0!, #REF!, #NUM!, #NULL!, …) is an
  issue, whether the file holds the cached error or (opened without ``data_only``) the formula:
  typing ``=资金缺口较大`` in Calc or Excel makes a formula whose value is #NAME?, and that is
  neither the unit's text nor a filled required field.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from openpyxl.utils import column_index_from_string, coordinate_to_tuple, get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from config.errors import FormError, FormReadError
from tasks.forms.direct import DirectBook
from tasks.forms.layout import (
    META_SHEET,
    CellType,
    FormLayout,
    FormMetadata,
    TableColumn,
    TableLayout,
    TableRow,
)
from tasks.forms.read import (
    MAX_UNPACKED_BYTES,
    UNREADABLE,
    OpenWorkbook,
    check_archive,
    open_workbook,
)
from tasks.text import clean_text

# Least advanced first: a measure is only as far along as its least advanced target.
STATUS_ORDER = ("未启动", "滞后", "推进中", "已完成")

_DATE_SERIALS = (36526, 73050)  # 2000-01-01 … 2099-12-31, as the form's date validation says
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters pasted from web pages
_NUMBER = re.compile(
    r"(?P<number>[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+))\s*(?P<rest>.*)", re.S
)
_DATE_TEXT = (
    re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
_PERCENT_TARGET = re.compile(r"\d\s*[%％]\s*（")  # "新建项目开工率：40%（明年一季度，…）"
_QUOTED_FORMAT = re.compile(r'"[^"]*"|\\.')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# What Excel and LibreOffice store for a formula that failed (LibreOffice maps its Err:5xx codes
# to these when saving .xlsx).
FORMULA_ERRORS = frozenset(
    ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
     "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!")
)  # fmt: skip


@dataclass(frozen=True)
class FormulaCell:
    """A cell whose value is a formula's error, or a formula whose value was not kept."""

    shown: str  # "#NAME?", or the formula "=资金缺口较大" when no computed value was stored

    def __str__(self) -> str:
        return self.shown


@dataclass(frozen=True)
class FormIssue:
    """One thing to correct, told to the unit as it sees its form."""

    sheet: str  # sheet name as the unit sees it ("" for a whole-file problem)
    cell: str  # "D12" ("" when not one cell)
    problem: str  # Simplified Chinese, naming the value


@dataclass(frozen=True)
class MeasureReport:
    """What a unit reported on one of its measures."""

    number: str  # "26(3)"
    # progress: the least advanced status over the measure's rows (None when one is missing or
    # not from the list); ledger: None
    status: str | None
    value_reached: float | None  # the only target row's value; None with several targets or none
    # progress: {"targets": [{"index", "status", "value", "note"}, …], "note": …};
    # ledger: {content key: text, …}
    fields: dict[str, Any]


@dataclass(frozen=True)
class FormReading:
    """A returned form's values by content key, per measure, and what is wrong with them."""

    # Text and roster fields by content key (a field with sub-cells: a dict by part, the field's
    # own cell under "value"); 填报人/联系电话/单位负责人 under "footer" by build.py's part names.
    fields: dict[str, Any]
    measures: tuple[MeasureReport, ...]
    issues: tuple[FormIssue, ...]

    @property
    def valid(self) -> bool:
        """True when nothing needs correcting."""
        return not self.issues


# ---------------------------------------------------------------------------------------------
# Reading the cells


@dataclass(frozen=True)
class _Grid:
    """The values of one rectangle of the form sheet, read in one streaming pass."""

    values: dict[tuple[int, int], Any]  # (row, column) → value, empty cells left out
    percent: frozenset[tuple[int, int]]  # numeric cells shown as a percentage

    def get(self, row: int, column: int) -> Any:
        return self.values.get((row, column))


def _read_grid(wb: OpenWorkbook, sheet: str, max_row: int, max_col: int) -> _Grid | list[str]:
    """The sheet's cells up to max_row × max_col, or the names of the sheets when it is missing.

    Read-only mode streams the sheet's XML once; asking it for cells one by one would re-parse the
    sheet for every cell, so every needed cell comes from a single iter_rows pass.
    """
    values: dict[tuple[int, int], Any] = {}
    percent: set[tuple[int, int]] = set()
    if isinstance(wb, DirectBook):
        if sheet not in wb.sheetnames:
            return [name for name in wb.sheetnames if name != META_SHEET]
        for row_index, column_index, value, style in wb.cells(sheet, max_row, max_col):
            value = _formula_marked(value, False)
            values[row_index, column_index] = value
            if isinstance(value, int | float) and _is_percent_format(wb.number_format(style)):
                percent.add((row_index, column_index))
        return _Grid(values, frozenset(percent))
    ws = wb[sheet] if sheet in wb.sheetnames else None
    if not isinstance(ws, ReadOnlyWorksheet):
        return [name for name in wb.sheetnames if name != META_SHEET]
    rows = ws.iter_rows(min_row=1, max_row=max_row, min_col=1, max_col=max_col)
    for row_index, row in enumerate(rows, start=1):
        for column_index, cell in enumerate(row, start=1):
            if cell.value is None:
                continue
            value = _formula_marked(cell.value, cell.data_type == "f")
            values[row_index, column_index] = value
            if isinstance(value, int | float) and _is_percent_format(cell.number_format):
                percent.add((row_index, column_index))
    return _Grid(values, frozenset(percent))


def _formula_marked(value: Any, formula: bool) -> Any:
    """A cell's value, or a FormulaCell for a formula error (or a formula kept unevaluated)."""
    if isinstance(value, str) and (
        value.strip() in FORMULA_ERRORS or (formula and value.startswith("="))
    ):
        return FormulaCell(value.strip())
    return value


def _is_percent_format(number_format: str | None) -> bool:
    """'0%', '0.0%': Excel shows 0.85 as 85 %. A quoted or escaped % is literal text."""
    return bool(number_format) and "%" in _QUOTED_FORMAT.sub("", str(number_format))


# ---------------------------------------------------------------------------------------------
# Values


def _strip(text: str) -> str:
    """Whitespace and zero-width characters off both ends (str methods: no regex backtracking
    on a cell of 30,000 spaces)."""
    text = text.replace("\r\n", "\n")
    while True:
        stripped = text.strip().strip(_INVISIBLE)
        if stripped == text:
            return text
        text = stripped


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def _text(value: Any) -> str:
    """A cell's value as the text the unit sees; "" for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    # OOXML writes a control character as _x0000_, which openpyxl restores: never stored.
    return _strip(clean_text(str(value)))


def _shown(value: Any) -> str:
    """A value quoted in a message: one line, not too long."""
    text = _CONTROL.sub("", _text(value).replace("\n", " "))
    return text if len(text) <= 40 else f"{text[:40]}…"


class _Bad(Exception):
    """A value that fails its check; the message is the problem after the label and value."""


def _parse_number(value: Any, *, percent_target: bool, percent_format: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad("不是数字")
    if isinstance(value, int | float):
        number = float(value)
        if percent_format:
            if not percent_target:
                raise _Bad("是百分数，但该目标不以%计，请只填数字（单位见“目标”栏）")
            number = float(Decimal(repr(number)) * 100)  # 0.85 shown as 85 % → 85.0
    else:
        text = unicodedata.normalize("NFKC", value).replace("−", "-").strip()
        match = _NUMBER.fullmatch(text)
        if match is None:
            raise _Bad("不是数字")
        rest = match["rest"].strip()
        if rest == "%":
            if not percent_target:
                raise _Bad("是百分数，但该目标不以%计，请只填数字（单位见“目标”栏）")
        elif rest:
            if re.search(r"\d", rest):
                raise _Bad("不是数字")
            raise _Bad(f"带有单位或文字“{_shown(rest)}”，请只填数字（单位见“目标”栏）")
        number = float(match["number"].replace(",", ""))
    if not math.isfinite(number):
        raise _Bad("数值过大")
    return number


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not _DATE_SERIALS[0] <= value <= _DATE_SERIALS[1]:
            raise _Bad("不是有效日期，请按“2023-01-18”的格式填写")
        converted = from_excel(value)
        day = converted.date() if isinstance(converted, datetime) else converted
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        for pattern in _DATE_TEXT:
            match = pattern.fullmatch(text)
            if match:
                try:
                    day = date(int(match[1]), int(match[2]), int(match[3]))
                except ValueError:
                    raise _Bad("不是有效日期（该日不存在）") from None
                break
        else:
            raise _Bad("不是有效日期，请按“2023-01-18”的格式填写")
    else:
        raise _Bad("不是有效日期，请按“2023-01-18”的格式填写")
    if not date(2000, 1, 1) <= day <= date(2099, 12, 31):
        raise _Bad("不在2000年至2099年之间，请检查年份")
    return day


@dataclass
class _Checker:
    """Reads cells off the grid into JSON-able values, collecting issues as it goes."""

    sheet: str
    grid: _Grid
    issues: list[FormIssue]

    def issue(self, cell: str, problem: str) -> None:
        self.issues.append(FormIssue(self.sheet, cell, problem))

    def value(
        self,
        cell: str,
        *,
        label: str,
        type: CellType,
        required: bool,
        choices: Sequence[str] = (),
        where: str = "",
        percent_target: bool = False,
    ) -> Any:
        """The cell's value (str, float or ISO date), or None when empty or not acceptable.

        ``where`` names the measure in front of the label ("措施20第2项目标的").
        """
        row, column = coordinate_to_tuple(cell)
        raw = self.grid.get(row, column)
        if isinstance(raw, FormulaCell):
            self.issue(cell, f"{where}{label}{_formula_problem(raw, type)}")
            return None
        text = _text(raw)
        if not text:
            if required:
                self.issue(cell, f"{where}必填项“{label}”未填写")
            return None
        try:
            if type == "number":
                return _parse_number(
                    text if isinstance(raw, str) else raw,
                    percent_target=percent_target,
                    percent_format=(row, column) in self.grid.percent,
                )
            if type == "date":
                return _parse_date(raw).isoformat()
            if type == "choice" and text not in choices:
                raise _Bad(f"不在可选范围（{'、'.join(choices)}）内")
        except _Bad as bad:
            shown = _shown(raw)
            if (row, column) in self.grid.percent and isinstance(raw, int | float):
                shown = f"{_number_text(float(Decimal(repr(float(raw))) * 100))}%"
            self.issue(cell, f"{where}{label}“{shown}”{bad}")
            return None
        return text


_FORMULA_ADVICE: dict[CellType, str] = {
    "text": "请去掉开头的等号，直接填写文字",
    "number": "请直接填写数字，不要使用公式",
    "date": "请直接填写日期（如2023-01-18），不要使用公式",
    "choice": "请从下拉列表中选择",
}


def _formula_problem(raw: FormulaCell, type: CellType) -> str:
    """What the unit sees in the cell, and what to do instead."""
    if raw.shown.startswith("="):
        return f"是公式“{_shown(raw.shown)}”，不是填写的内容：{_FORMULA_ADVICE[type]}"
    return f"显示 {raw.shown}（公式错误）：{_FORMULA_ADVICE[type]}"


# ---------------------------------------------------------------------------------------------
# The form


def read_form(
    data: bytes,
    metadata: FormMetadata,
    *,
    unit_measures: Collection[str] | None = None,
    max_unpacked: int = MAX_UNPACKED_BYTES,
    workbook: OpenWorkbook | None = None,
) -> FormReading:
    """Read and check the values of a returned form whose signature ``metadata`` came from.

    ``unit_measures`` are the numbers of the measures the unit carries under the policy as it
    stands now; given, a measure on the form that is no longer the unit's (or a new one the form
    lacks) is an issue, since the policy changed after the form was issued.

    Raises ``FormReadError`` only when the file cannot be read as a workbook; every problem with
    what is in the cells is a ``FormIssue``. ``workbook``: the bytes already opened with
    ``forms.open_workbook`` (left open), to read the file once for signature and values.
    """
    layout = metadata.layout
    check_archive(data, max_unpacked)
    max_row, max_col = _extent(layout)
    try:
        wb = workbook if workbook is not None else open_workbook(data)
        try:
            grid = _read_grid(wb, layout.sheet, max_row, max_col)
        finally:
            if workbook is None:
                wb.close()
    except FormError:
        raise
    except UNREADABLE:
        raise FormReadError("文件已损坏，Excel 工作簿内容无法读取") from None
    if isinstance(grid, list):
        found = "、".join(f"“{name}”" for name in grid) or "无"
        problem = (
            f"表格中找不到工作表“{layout.sheet}”（现有工作表：{found}）：请使用通知所附的原表"
            "填报，不要更改工作表名称"
        )
        return FormReading({}, (), (FormIssue("", "", problem),))

    checker = _Checker(layout.sheet, grid, [])
    fields = _read_cells(checker, layout)
    measures: tuple[MeasureReport, ...] = ()
    if layout.table is not None and layout.table.rows:
        _check_measure_numbers(checker, layout.table.columns, layout.table.rows)
        measures = tuple(_read_measures(checker, layout))
        _check_rows_below(checker, layout.table.columns, layout.table.rows)
    if unit_measures is not None and layout.table is not None:
        _check_unit_measures(checker, layout.table, unit_measures)
    return FormReading(fields, measures, tuple(checker.issues))


def _extent(layout: FormLayout) -> tuple[int, int]:
    """The last row and column any check looks at."""
    cells = [coordinate_to_tuple(c.cell) for c in layout.cells]
    max_row = max((row for row, _ in cells), default=1)
    max_col = max((column for _, column in cells), default=1)
    if layout.table is not None:
        columns = [column_index_from_string(c.column) for c in layout.table.columns]
        max_col = max(max_col, *columns)
        last = max((r.row for r in layout.table.rows), default=layout.table.header_row)
        max_row = max(max_row, last + 1)  # the row below the table, for inserted rows
    return max_row, max_col


def _read_cells(checker: _Checker, layout: FormLayout) -> dict[str, Any]:
    """Text, roster and footer cells, grouped by content key."""
    parts: dict[str, dict[str, Any]] = {}
    for cell in layout.cells:
        value = checker.value(
            cell.cell,
            label=cell.label,
            type=cell.type,
            required=cell.required,
            choices=cell.choices,
        )
        parts.setdefault(cell.field, {})[cell.part] = value
    fields: dict[str, Any] = {}
    for key, values in parts.items():
        if key != "footer" and set(values) == {""}:
            fields[key] = values[""]
        else:
            fields[key] = {part or "value": value for part, value in values.items()}
    return fields


def _groups(rows: Iterable[TableRow]) -> dict[str, list[TableRow]]:
    """Rows by measure, in form order (a measure's rows are consecutive)."""
    groups: dict[str, list[TableRow]] = {}
    for row in rows:
        groups.setdefault(row.measure, []).append(row)
    return groups


def _column(columns: Sequence[TableColumn], part: str) -> TableColumn | None:
    return next((c for c in columns if c.part == part), None)


def _check_measure_numbers(
    checker: _Checker, columns: Sequence[TableColumn], rows: Sequence[TableRow]
) -> None:
    """The pre-filled 措施编号 still stands where the layout put it: rows were not moved."""
    number = _column(columns, "number")
    if number is None:
        return
    column = column_index_from_string(number.column)
    previous: str | None = None
    for row in rows:
        first = row.measure != previous
        previous = row.measure
        found = _text(checker.grid.get(row.row, column))
        cell = f"{number.column}{row.row}"
        if first and found == row.measure:
            continue
        if first and found:
            checker.issue(
                cell,
                f"第{row.row}行措施编号被改为“{_shown(found)}”，应为“{row.measure}”"
                "（请勿改动预填内容或增删、移动表格行）",
            )
        elif first:
            checker.issue(
                cell,
                f"第{row.row}行应为措施“{row.measure}”，措施编号却是空白（表格行可能被增删或移动）",
            )
        elif found:
            checker.issue(
                cell,
                f"第{row.row}行应属措施“{row.measure}”，却填有措施编号“{_shown(found)}”"
                "（表格行可能被增删或移动）",
            )


def _where(row: TableRow, targets: int) -> str:
    if row.target is None or targets <= 1:
        return f"措施{row.measure}的"
    return f"措施{row.measure}第{row.target + 1}项目标的"


def _read_measures(checker: _Checker, layout: FormLayout) -> Iterable[MeasureReport]:
    assert layout.table is not None
    columns = layout.table.columns
    inputs = [c for c in columns if c.input]
    target_column = _column(columns, "target")
    for number, rows in _groups(layout.table.rows).items():
        targets = sum(1 for r in rows if r.target is not None)
        read: list[dict[str, Any]] = []
        for row in rows:
            percent_target = False
            if target_column is not None and row.target is not None:
                goal = _text(
                    checker.grid.get(row.row, column_index_from_string(target_column.column))
                )
                percent_target = bool(_PERCENT_TARGET.search(goal))
            values: dict[str, Any] = {}
            for column in inputs:
                if column.target_rows_only and row.target is None:
                    continue
                values[column.part] = checker.value(
                    f"{column.column}{row.row}",
                    label=column.label,
                    type=column.type,
                    required=column.required,
                    choices=column.choices,
                    where=_where(row, targets),
                    percent_target=percent_target,
                )
            read.append(values)
        if layout.kind == "ledger":
            yield MeasureReport(number, None, None, read[0])
        else:
            yield _progress_report(number, rows, read)


def _progress_report(
    number: str, rows: Sequence[TableRow], read: Sequence[dict[str, Any]]
) -> MeasureReport:
    statuses = [values.get("status") for values in read]
    status = (
        None
        if not statuses or None in statuses
        else min(statuses, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else -1)
    )
    targets = [
        {
            "index": row.target,
            "status": values.get("status"),
            "value": values.get("value"),
            "note": values.get("note"),
        }
        for row, values in zip(rows, read, strict=True)
        if row.target is not None
    ]
    notes = [values["note"] for values in read if values.get("note")]
    value_reached = targets[0]["value"] if len(targets) == 1 else None
    return MeasureReport(
        number,
        status,
        value_reached,
        {"targets": targets, "note": "\n".join(notes) if notes else None},
    )


def _check_rows_below(
    checker: _Checker, columns: Sequence[TableColumn], rows: Sequence[TableRow]
) -> None:
    """The row below the last measure is blank on the issued form: content there means rows were
    added to the table, or the table was shifted down."""
    below = max(r.row for r in rows) + 1
    indexes = sorted(column_index_from_string(c.column) for c in columns)
    for index in indexes:
        found = checker.grid.get(below, index)
        if not _text(found):
            continue
        cell = f"{get_column_letter(index)}{below}"
        if index == indexes[0]:
            problem = (
                f"表格行被增删：最后一项措施之后的第{below}行出现措施编号“{_shown(found)}”，"
                "表格行可能被插入或移动，请使用原表填报，不要增删表格行"
            )
        else:
            problem = (
                f"表格行被增删：最后一项措施之后的第{below}行填有内容“{_shown(found)}”，"
                "请不要在表格中增加行，补充内容请写在相应措施的行内"
            )
        checker.issue(cell, problem)
        return


def _check_unit_measures(
    checker: _Checker, table: TableLayout, unit_measures: Collection[str]
) -> None:
    """Measures reassigned after the form was issued: the form and the policy disagree."""
    groups = _groups(table.rows)
    number_column = _column(table.columns, "number")
    letter = "A" if number_column is None else number_column.column
    current = set(unit_measures)
    for number, measure_rows in groups.items():
        if number not in current:
            checker.issue(
                f"{letter}{measure_rows[0].row}",
                f"措施{number}已不属于本单位承担的措施（表格下发后政策已调整），"
                "请向专班办公室索取新表重新填报",
            )
    for number in sorted(current - set(groups), key=_measure_sort_key):
        checker.issue(
            "",
            f"措施{number}为表格下发后新增由本单位承担的措施，本表中没有该项，"
            "请向专班办公室索取新表重新填报",
        )


def _measure_sort_key(number: str) -> tuple[int, ...]:
    """ "26(3)" after "26" and before "27"; anything else by its digits."""
    return tuple(int(part) for part in re.findall(r"\d+", number)) or (0,)
