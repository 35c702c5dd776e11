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
``read_form_metadata``. Building is deterministic: the same spec and key give the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import math
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from config.errors import FormError, FormNotOursError, FormReadError, FormSignatureError
from tasks.calendar import SHANGHAI, format_day

logger = logging.getLogger(__name__)

FORM_VERSION = 1  # bump when the layout metadata changes shape; intake refuses unknown versions
META_SHEET = "_meta"
META_KEYS = (
    "policy",
    "obligation",
    "period",
    "unit_code",
    "unit_name",
    "form_version",
    "issued_at",
    "layout",
)
STATUS_CHOICES = ("已完成", "推进中", "滞后", "未启动")
YES_NO = ("是", "否")
# A returned workbook larger than this once unpacked is refused before openpyxl parses it.
MAX_UNPACKED_BYTES = 50_000_000
MAX_ZIP_ENTRIES = 2_000

LayoutKind = Literal["ledger", "progress", "roster"]
CellType = Literal["text", "choice", "number", "date"]


# ---------------------------------------------------------------------------------------------
# What a form is built from, and the layout intake reads back


@dataclass(frozen=True)
class FormSpec:
    """Everything a unit's form shows, taken from a notice context."""

    policy_code: str
    policy_title: str
    doc_number: str
    county: str
    obligation_code: str
    obligation_name: str
    frequency: Literal["once", "monthly"]
    content: tuple[Mapping[str, Any], ...]  # {key, label, kind, required}
    period: str
    period_label: str
    due_date: date
    unit_code: str
    unit_name: str
    # {number, title, role_label, targets: [{metric, value, unit, due, due_phrase}]}
    measures: tuple[Mapping[str, Any], ...]
    office_mailbox: str
    issued_at: datetime  # the notice's as_of: stamped into metadata and file times


@dataclass(frozen=True)
class InputCell:
    """A single fill-in cell (or the top-left of a merged fill-in area) outside the table."""

    cell: str  # "A7"
    field: str  # content key, or "footer" for 填报人/联系电话/单位负责人
    part: str  # "" for the field itself; "date", "leader", "phone" … for a field's sub-cells
    label: str
    type: CellType
    required: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableColumn:
    """A column of the per-measure table; ``input`` false means pre-filled and locked."""

    column: str  # "D"
    field: str  # content key of the per-measure field ("" for number, title, role)
    part: str  # number, title, role, status, target, value, note; the key for ledger columns
    label: str
    type: CellType
    input: bool
    required: bool
    choices: tuple[str, ...] = ()
    target_rows_only: bool = False  # fill-in only on rows that carry a target


@dataclass(frozen=True)
class TableRow:
    row: int
    measure: str  # measure number, "26(3)"
    target: int | None  # index into the measure's targets; None for a row without target


@dataclass(frozen=True)
class TableLayout:
    header_row: int
    columns: tuple[TableColumn, ...]
    rows: tuple[TableRow, ...]


@dataclass(frozen=True)
class FormLayout:
    """Where everything sits on the form's sheet: signed, so intake can rely on it."""

    kind: LayoutKind
    sheet: str
    cells: tuple[InputCell, ...]
    table: TableLayout | None

    def to_json(self) -> str:
        return _canonical(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FormLayout:
        raw = json.loads(text)
        table = raw["table"]
        return cls(
            kind=raw["kind"],
            sheet=raw["sheet"],
            cells=tuple(InputCell(**{**c, "choices": tuple(c["choices"])}) for c in raw["cells"]),
            table=None
            if table is None
            else TableLayout(
                header_row=table["header_row"],
                columns=tuple(
                    TableColumn(**{**c, "choices": tuple(c["choices"])}) for c in table["columns"]
                ),
                rows=tuple(TableRow(**r) for r in table["rows"]),
            ),
        )


@dataclass(frozen=True)
class FormMetadata:
    """The signed facts of a returned form: whose it is, for which cycle, and its layout."""

    policy: str
    obligation: str
    period: str
    unit_code: str
    unit_name: str
    form_version: int
    issued_at: datetime
    layout: FormLayout


def form_spec_from_context(context: Mapping[str, Any]) -> FormSpec:
    """Take what a form needs from a notice context (the shape in templates/README.md)."""
    policy, obligation, cycle, unit = (
        context["policy"],
        context["obligation"],
        context["cycle"],
        context["unit"],
    )
    reply = context.get("reply") or {}
    mailbox = reply.get("mailbox") or context.get("office", {}).get("mailbox", "")
    return FormSpec(
        policy_code=policy["code"],
        policy_title=policy["title"],
        doc_number=policy["doc_number"],
        county=policy["county"],
        obligation_code=obligation["code"],
        obligation_name=obligation["name"],
        frequency=obligation["frequency"],
        content=tuple(
            {
                "key": f["key"],
                "label": f["label"],
                "kind": f.get("kind", "text"),
                "required": bool(f.get("required", True)),
            }
            for f in obligation["content"]
        ),
        period=cycle["period"],
        period_label=cycle["period_label"],
        due_date=_as_date(cycle["due_date"]),
        unit_code=unit["code"],
        unit_name=unit["name"],
        measures=tuple(
            {
                "number": m["number"],
                "title": m["title"],
                "role_label": m["role_label"],
                "targets": tuple(
                    {
                        "metric": t["metric"],
                        "value": float(t["value"]),
                        "unit": t["unit"],
                        "due": _as_date(t["due"]),
                        "due_phrase": t.get("due_phrase", ""),
                        "direction": t.get("direction", "at_least"),
                    }
                    for t in m.get("targets", ())
                ),
            }
            for m in context["measures"]
        ),
        office_mailbox=mailbox,
        issued_at=context["as_of"],
    )


def layout_kind(content: Sequence[Mapping[str, Any]]) -> LayoutKind:
    """Which layout an obligation's content fields call for."""
    per_measure = sum(1 for f in content if f.get("kind") == "per_measure")
    if per_measure >= 2:
        return "ledger"
    return "progress" if per_measure == 1 else "roster"


def form_title(spec: FormSpec) -> str:
    """陵川县2023年2月月度进展情况报告（县人社局）; a one-off report has no period in its title."""
    period = spec.period_label if spec.frequency == "monthly" else ""
    return f"{spec.county}{period}{spec.obligation_name}（{spec.unit_name}）"


_ILLEGAL_IN_FILENAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in "123456789"
}


def form_filename(spec: FormSpec) -> str:
    """2023年2月月度进展情况报告_县人社局.xlsx: safe on Windows, short enough for mail clients."""
    period = spec.period_label if spec.frequency == "monthly" else ""
    stem = _ILLEGAL_IN_FILENAME.sub("_", f"{period}{spec.obligation_name}_{spec.unit_name}")
    stem = stem.strip(" .")[:80].rstrip(" .") or "报表"
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    return f"{stem}.xlsx"


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


def _display_width(text: str) -> int:
    """Width in Excel column units: a CJK character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _lines(text: str, width: float) -> int:
    """How many lines a wrapped text takes in a column of the given width."""
    # CJK glyphs in 宋体 or its fallbacks run wider than two "0"s: leave a margin, not a gap.
    usable = max(width * 0.85 - 1.0, 4.0)
    return sum(max(1, math.ceil(_display_width(p) / usable)) for p in text.split("\n"))


def _number(value: float) -> str:
    """160.0 → 160, 8.5 → 8.5: as a notice writes numbers."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:f}".rstrip("0").rstrip(".")


def target_text(target: Mapping[str, Any]) -> str:
    """全县煤炭全年产量：160万吨（全年，2023年12月31日前）."""
    due = _as_date(target["due"])
    phrase = str(target.get("due_phrase", "")).strip().strip("（）()")
    when = f"{phrase}，" if phrase else ""
    bound = "不高于" if target.get("direction") == "at_most" else ""
    return (
        f"{target['metric']}：{bound}{_number(target['value'])}{target['unit']}"
        f"（{when}{due.year}年{due.month}月{due.day}日前）"
    )


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries carry one fixed timestamp, so equal workbooks give equal bytes."""

    def __init__(self, file: io.BytesIO, stamp: tuple[int, int, int, int, int, int]) -> None:
        super().__init__(file, "w", zipfile.ZIP_DEFLATED)
        self._stamp = stamp

    def write(  # type: ignore[override]
        self,
        filename: str,
        arcname: str | None = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        # openpyxl writes each worksheet through a temporary file, whose mtime would leak in.
        with open(filename, "rb") as handle:
            data = handle.read()
        self.writestr(arcname or filename, data, compress_type, compresslevel)

    def writestr(  # type: ignore[override]
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: bytes | str,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zinfo_or_arcname
        else:
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
        super().writestr(info, data, compress_type, compresslevel)


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


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _sign(fields: Mapping[str, str], key: bytes) -> str:
    return hmac.new(key, _canonical(dict(fields)).encode("utf-8"), hashlib.sha256).hexdigest()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or not key:
        raise FormError("表格签名密钥为空：请设置 TASKFORCE_FORM_KEY")


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
    _check_key(key)
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
    _write_meta(wb.create_sheet(META_SHEET), fields, _sign(fields, key))
    wb.active = 0
    # Locking the structure keeps the hidden sheet from being unhidden, renamed or deleted by
    # accident; like the sheet protection it has no password and is not the trust anchor.
    wb.security = WorkbookProtection(lockStructure=True)
    issued = spec.issued_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.created = wb.properties.modified = issued
    wb.properties.creator = wb.properties.lastModifiedBy = "taskforce"
    wb.properties.title = form_title(spec)
    local = spec.issued_at.astimezone(SHANGHAI)
    stamp = (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)
    out = io.BytesIO()
    archive = _FixedTimeZip(out, stamp)
    # ExcelWriter instead of wb.save: save() stamps "modified" with the clock.
    ExcelWriter(wb, archive).save()
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Reading back

# openpyxl and zipfile raise a spread of unrelated types on malformed input; each means the same
# thing to the sender: the file cannot be read.
_UNREADABLE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    InvalidFileException,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    SyntaxError,  # xml.etree.ElementTree.ParseError
    EOFError,
    OSError,
    NotImplementedError,
    RecursionError,
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and old .xls files


def check_archive(data: bytes, max_unpacked: int) -> None:
    """Refuse what is not a workbook, or unpacks too large, before openpyxl parses it."""
    if not data:
        raise FormReadError("文件为空，无法读取")
    if data.startswith(_OLE_MAGIC):
        raise FormReadError(
            "文件设置了打开密码，或是旧版 .xls 格式：请取消密码并另存为 .xlsx 格式后重新报送"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except _UNREADABLE:
        raise FormReadError("文件已损坏或不是 Excel（.xlsx）文件，无法读取") from None
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise FormReadError("文件不是 Excel（.xlsx）工作簿，无法读取")
    if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > max_unpacked:
        raise FormReadError("文件解压后过大，不像是下发的报表，已拒收")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a program that retyped "2023" as a number
    return str(value)


def open_workbook(data: bytes) -> Workbook:
    """A returned workbook opened read-only, values as last computed; the caller closes it.

    Opening costs most of a form's reading (the stylesheet is parsed each time), so intake opens
    a workbook once for the signature and the values.
    """
    return load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)


def _read_meta_rows(wb: Workbook) -> dict[str, str] | None:
    """The _meta sheet as name → value, or None when there is no such sheet."""
    if META_SHEET not in wb.sheetnames:
        return None
    rows: dict[str, str] = {}
    for values in wb[META_SHEET].iter_rows(max_col=2, values_only=True):
        name, value = [*values, None, None][:2]
        if name is None and value is None:
            continue
        name = _cell_text(name)
        if name in rows:
            raise FormSignatureError(f"表格元数据中字段 {name} 重复出现，表格已被改动")
        rows[name] = _cell_text(value)
    return rows


def read_form_metadata(
    data: bytes,
    key: bytes,
    *,
    max_unpacked: int = MAX_UNPACKED_BYTES,
    workbook: Workbook | None = None,
) -> FormMetadata:
    """Open a returned form, verify its signature and return whose form it is and its layout.

    ``workbook``: the same bytes already opened with ``open_workbook`` (left open).
    """
    _check_key(key)
    check_archive(data, max_unpacked)
    try:
        wb = workbook if workbook is not None else open_workbook(data)
        try:
            rows = _read_meta_rows(wb)
        finally:
            if workbook is None:
                wb.close()
    except FormError:
        raise
    except _UNREADABLE:
        raise FormReadError("文件已损坏，Excel 工作簿内容无法读取") from None
    if rows is None:
        raise FormNotOursError(
            f"表格中没有系统元数据工作表（{META_SHEET}），无法确认填报单位和报告期："
            "请使用通知所附的原表填报，不要把内容复制到新建的表格中"
        )
    missing = [name for name in (*META_KEYS, "signature") if name not in rows]
    if missing:
        raise FormSignatureError(f"表格元数据缺少字段：{'、'.join(missing)}，表格已被改动")
    unknown = sorted(set(rows) - {*META_KEYS, "signature"})
    if unknown:
        raise FormSignatureError(f"表格元数据含有未知字段：{'、'.join(unknown)}，表格已被改动")
    fields = {name: rows[name] for name in META_KEYS}
    if not hmac.compare_digest(_sign(fields, key), rows["signature"]):
        logger.info(
            "form signature mismatch (claims %s/%s/%s/%s)",
            fields["policy"],
            fields["obligation"],
            fields["period"],
            fields["unit_code"],
        )
        raise FormSignatureError(
            "表格签名校验失败：元数据（政策、报送事项、报告期或单位）被改动，"
            "或不是本办公室下发的表格。请使用通知所附的原表填报"
        )
    try:
        version = int(fields["form_version"])
        if version != FORM_VERSION:
            raise FormReadError(f"表格版本 {version} 不受支持（当前为 {FORM_VERSION}）")
        return FormMetadata(
            policy=fields["policy"],
            obligation=fields["obligation"],
            period=fields["period"],
            unit_code=fields["unit_code"],
            unit_name=fields["unit_name"],
            form_version=version,
            issued_at=datetime.fromisoformat(fields["issued_at"]),
            layout=FormLayout.from_json(fields["layout"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        # Signed by us yet unparsable: a bug or a key shared with another program.
        raise FormReadError(f"表格元数据格式无法识别：{exc}") from None


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def input_cells(layout: FormLayout) -> Iterable[tuple[str, str, str]]:
    """(cell, field, part) of every fill-in cell of a form, table cells included."""
    for cell in layout.cells:
        yield cell.cell, cell.field, cell.part
    if layout.table is None:
        return
    for row in layout.table.rows:
        for column in layout.table.columns:
            if column.input and (row.target is not None or not column.target_rows_only):
                yield f"{column.column}{row.row}", column.field, column.part
