"""Reading a returned form's signed metadata back, before its values are trusted.

A returned file is first checked as an archive (not empty, not encrypted or .xls, not a zip bomb),
then its very hidden ``_meta`` sheet is read and its HMAC checked against the install's keys,
the current one first, then the previous ones (``tasks/forms/keys.py``, ``layout.py``).
``tasks/forms/values.py`` reads the fill-in cells the signed layout names.
"""

from __future__ import annotations

import hmac
import io
import logging
import zipfile
import zlib
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.read_only import EMPTY_CELL
from openpyxl.packaging.relationship import get_dependents, get_rels_path
from openpyxl.reader.excel import (  # type: ignore[attr-defined]  # not in the stubs
    ExcelReader,
    _find_workbook_part,
)
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.named_styles import NamedStyleList
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import ROW_TAG, WorkSheetParser
from openpyxl.xml.constants import ARC_STYLE, SHEET_MAIN_NS, XLTM, XLTX
from openpyxl.xml.functions import iterparse

from config.errors import FormError, FormNotOursError, FormReadError, FormSignatureError
from tasks.forms.direct import BookParser, DirectBook, number_format_stylesheet, open_direct
from tasks.forms.keys import FormKeys, key_id
from tasks.forms.layout import (
    FORM_VERSION,
    META_KEYS,
    META_SHEET,
    FormLayout,
    FormMetadata,
    check_key,
    form_digest,
    sign,
)

logger = logging.getLogger(__name__)

# A returned workbook larger than this once unpacked is refused before openpyxl parses it.
MAX_UNPACKED_BYTES = 50_000_000
MAX_ZIP_ENTRIES = 2_000


# openpyxl and zipfile raise a spread of unrelated types on malformed input; each means the same
# thing to the sender: the file cannot be read.
UNREADABLE = (
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
# An .xls file's directory names its "Workbook" stream (UTF-16); an encrypted .xlsx has none.
_XLS_STREAM = "Workbook".encode("utf-16-le")
_OLE_DIRECTORY_SCAN = 1_000_000
XLS_ADVICE = (
    "文件是旧版 Excel 97-2003（.xls）格式，系统无法读取：请另存为 .xlsx 格式（Excel 工作簿）后"
    "重新报送，表格内容不必改动"
)
ODS_ADVICE = (
    "文件是 OpenDocument 表格（.ods）格式，系统无法读取：请另存为 .xlsx 格式（Excel 工作簿）后"
    "重新报送，表格内容不必改动"
)


def check_archive(data: bytes, max_unpacked: int) -> None:
    """Refuse what is not a workbook, or unpacks too large, before openpyxl parses it."""
    if not data:
        raise FormReadError("文件为空，无法读取")
    if data.startswith(_OLE_MAGIC) and _XLS_STREAM in data[:_OLE_DIRECTORY_SCAN]:
        raise FormReadError(XLS_ADVICE)
    if data.startswith(_OLE_MAGIC):
        raise FormReadError(
            "文件设置了打开密码，或是旧版 .xls 格式：请取消密码并另存为 .xlsx 格式后重新报送"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except UNREADABLE:
        raise FormReadError("文件已损坏或不是 Excel（.xlsx）文件，无法读取") from None
    names = {info.filename for info in infos}
    if "mimetype" in names and "content.xml" in names:  # LibreOffice's own format, renamed
        raise FormReadError(ODS_ADVICE)
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise FormReadError("文件不是 Excel（.xlsx）工作簿，无法读取")
    if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > max_unpacked:
        raise FormReadError("文件解压后过大，不像是下发的报表，已拒收")
    if any(i.flag_bits & 0x1 for i in infos):  # zipfile would raise RuntimeError on reading
        raise FormReadError("文件已损坏或设置了密码，Excel 工作簿内容无法读取")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a program that retyped "2023" as a number
    return str(value)


_SHEET_DATA_TAG = f"{{{SHEET_MAIN_NS}}}sheetData"
_INLINE_TAG = f"{{{SHEET_MAIN_NS}}}is"
_TEXT_TAG = f"{{{SHEET_MAIN_NS}}}t"


class _RowsParser(WorkSheetParser):
    """openpyxl's sheet parser, cells read exactly as it reads them, that builds nothing of
    what surrounds the rows: views, validations, merges, protection and page setup are most of
    a form sheet's parsing and hold no value. The XML after the rows is still read to its end
    when the caller reads on, so a sheet broken there fails as it does in openpyxl."""

    def parse_cell(self, element: Any) -> dict[str, Any]:
        """openpyxl's parse_cell, with a plain inline string (``<is><t>…</t></is>``, what the
        forms hold) read without building openpyxl's rich-text objects for it."""
        child = element.find(_INLINE_TAG) if element.get("t") == "inlineStr" else None
        if (
            child is None
            or not self.data_only
            or self.rich_text
            or child.attrib
            or len(child) != 1
            or child[0].tag != _TEXT_TAG
            or len(child[0])
        ):
            cell: dict[str, Any] = super().parse_cell(element)
            return cell
        coordinate = element.get("r")
        style_id = element.get("s", 0)
        if style_id:
            style_id = int(style_id)
        if coordinate:
            row, column = coordinate_to_tuple(coordinate)
            self.col_counter = column
        else:
            self.col_counter += 1
            row, column = self.row_counter, self.col_counter
        # Text.from_tree(child).content for a lone <t>: its text, "" when empty
        value = child[0].text or ""
        return {"row": row, "column": column, "value": value, "data_type": "s",
                "style_id": style_id}  # fmt: skip

    def parse(self) -> Generator[Any, None, None]:
        rows = True
        for _, element in iterparse(self.source):
            if rows and element.tag == ROW_TAG:
                row = self.parse_row(element)
                element.clear()
                yield row
            elif element.tag == _SHEET_DATA_TAG:
                rows = False
            elif not rows:
                element.clear()


class _ValuesSheet(ReadOnlyWorksheet):
    """A read-only sheet whose rows come from ``_RowsParser``."""

    def _cells_by_row(
        self, min_col: int, min_row: int, max_col: int | None, max_row: int | None,
        values_only: bool = False,
    ) -> Iterator[tuple[Any, ...]]:  # fmt: skip
        # openpyxl 3.1's ReadOnlyWorksheet._cells_by_row, with the parser swapped.
        ws: Any = self  # openpyxl's stubs leave its private members out
        filler = None if values_only else EMPTY_CELL
        max_col = max_col or self.max_column
        max_row = max_row or self.max_row
        empty_row: tuple[Any, ...] = ()
        if max_col is not None:
            empty_row = (filler,) * (max_col + 1 - min_col)
        counter = min_row
        idx = 1
        with ws._get_source() as src:
            parser = _RowsParser(
                src,
                ws._shared_strings,
                data_only=ws.parent.data_only,
                epoch=ws.parent.epoch,
                date_formats=ws.parent._date_formats,
                timedelta_formats=ws.parent._timedelta_formats,
            )
            for idx, row in parser.parse():
                if max_row is not None and idx > max_row:
                    break
                for _ in range(counter, idx):  # rows the file leaves out
                    counter += 1
                    yield empty_row
                if counter <= idx:
                    counter += 1
                    yield ws._get_row(row, min_col, max_col, values_only)
        if max_row is not None and max_row < idx:
            for _ in range(counter, max_row + 1):
                yield empty_row


class _ValuesWorkbook(Workbook):
    """A workbook that starts without openpyxl's default fonts, fills, borders and named style
    (a fifth of opening a form): only the cell formats a value's reading looks up."""

    def _setup_styles(self) -> None:
        wb: Any = self
        wb._number_formats = IndexedList()
        wb._date_formats = {}
        wb._timedelta_formats = {}
        wb._cell_styles = IndexedList([StyleArray()])
        wb._named_styles = NamedStyleList()
        for empty in ("_fonts", "_alignments", "_borders", "_fills", "_protections"):
            setattr(wb, empty, IndexedList())


class _ValuesReader(ExcelReader):
    """openpyxl's read-only reader cut to what cell values need.

    Fonts, fills, borders and named styles are most of a form's opening time and no value
    depends on them: only the number formats are read, which decide which numbers are dates or
    percentages. Sheets read their rows and stop (``_RowsParser``). Every other part (manifest,
    strings, workbook, properties, relationships) is read as openpyxl reads it.
    """

    def read(self) -> None:
        self.read_manifest()
        self.read_strings()
        self._read_workbook()
        self.read_properties()
        self.read_custom()
        self.read_theme()
        _apply_number_formats(self.archive, self.wb)
        self.read_worksheets()
        self.parser.assign_names()

    def _read_workbook(self) -> None:
        # openpyxl 3.1's ExcelReader.read_workbook for read-only mode, with _ValuesWorkbook.
        wb_part = _find_workbook_part(self.package)
        self.parser = BookParser(
            self.archive, wb_part.PartName[1:], _ValuesWorkbook(), keep_links=self.keep_links
        )
        self.parser.parse()
        wb: Any = self.parser.wb
        wb._sheets = []
        wb._data_only = self.data_only
        wb._read_only = self.read_only
        wb.template = wb_part.ContentType in (XLTX, XLTM)
        wb._archive = self.archive
        self.wb = wb

    def read_worksheets(self) -> None:
        # openpyxl 3.1's read-only branch of ExcelReader.read_worksheets, with _ValuesSheet.
        wb: Any = self.wb
        sheet: Any
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)
                continue
            rels_path = get_rels_path(rel.target)
            if rels_path in self.valid_files:
                get_dependents(self.archive, rels_path)  # a broken one fails as in openpyxl
            ws = _ValuesSheet(self.wb, sheet.name, rel.target, self.shared_strings)
            ws.sheet_state = sheet.state
            wb._sheets.append(ws)


def _apply_number_formats(archive: zipfile.ZipFile, wb: Any) -> None:
    """What openpyxl's apply_stylesheet sets that a read-only cell's value and number_format
    read: the cell formats (cellXfs), the custom number formats and the date/duration styles."""
    try:
        src = archive.read(ARC_STYLE)
    except KeyError:
        return
    stylesheet = number_format_stylesheet(src)
    if stylesheet.cell_styles:
        wb._number_formats = stylesheet.number_formats
        wb._cell_styles = stylesheet.cell_styles
        wb._date_formats = stylesheet.date_formats
        wb._timedelta_formats = stylesheet.timedelta_formats


# What open_workbook returns: the values read directly, or openpyxl's read-only workbook.
OpenWorkbook = DirectBook | Workbook


def open_workbook(data: bytes) -> OpenWorkbook:
    """A returned workbook opened read-only, values as last computed; the caller closes it.

    Opening costs most of a form's reading, so intake opens a workbook once for the signature
    and the values. A workbook in the usual shape is read straight from its XML
    (``tasks/forms/direct.py``); any other is opened by openpyxl, skipping the styles no value
    needs (``_ValuesReader``), and whatever openpyxl then reads or raises stands.
    """
    try:
        return open_direct(data)
    except Exception:  # any surprise: openpyxl's reading is the reference
        logger.debug("表格不是常见结构，改用 openpyxl 读取", exc_info=True)
    return open_openpyxl(data)


def open_openpyxl(data: bytes) -> Workbook:
    """The workbook opened by openpyxl (read-only, values, no styles beyond number formats)."""
    reader = _ValuesReader(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        reader.read()
    except BaseException:
        reader.archive.close()
        raise
    workbook: Workbook = reader.wb
    return workbook


def _read_meta_rows(wb: OpenWorkbook) -> dict[str, str] | None:
    """The _meta sheet as name → value, or None when there is no such sheet."""
    if META_SHEET not in wb.sheetnames:
        return None
    rows: dict[str, str] = {}
    pairs: Iterable[Iterable[Any]] = (
        wb.pairs(META_SHEET)
        if isinstance(wb, DirectBook)
        else wb[META_SHEET].iter_rows(max_col=2, values_only=True)
    )
    for values in pairs:
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
    key: bytes | FormKeys,
    *,
    max_unpacked: int = MAX_UNPACKED_BYTES,
    workbook: OpenWorkbook | None = None,
) -> FormMetadata:
    """Open a returned form, verify its signature and return whose form it is and its layout.

    ``key``: one key, or the install's keys: the current one, then each previous one, is tried.
    ``workbook``: the same bytes already opened with ``open_workbook`` (left open).
    """
    keys = key.verifying if isinstance(key, FormKeys) else (key,)
    for one in keys:
        check_key(one)
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
    except UNREADABLE:
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
    signer = next(
        (k for k in keys if hmac.compare_digest(sign(fields, k), rows["signature"])), None
    )
    if signer is None:
        logger.info(
            "报表签名不符（表内声称 %s/%s/%s/%s）",
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
            digest=form_digest(fields),
            key_id=key_id(signer),
        )
    except (ValueError, KeyError, TypeError) as exc:
        # Signed by us yet unparsable: a bug or a key shared with another program.
        raise FormReadError(f"表格元数据格式无法识别：{exc}") from None


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
