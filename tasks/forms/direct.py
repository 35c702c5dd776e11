"""A returned form's cell values read straight from its sheet XML, as openpyxl reads them.

Intake reads two sheets of a small workbook (``_meta`` and the form sheet); openpyxl's
read-only load spends most of its time on objects no value needs (a Workbook, the stylesheet's
descriptors, a cell object per cell, a second parse of every sheet for its dimension). This
reader keeps openpyxl's own code for the package's small parts (content types, workbook,
relationships, document properties, defined names, shared strings, the stylesheet's number
formats, remembered per distinct styles part) and reads the cell XML itself, by openpyxl's
rules for each cell type.

It takes only workbooks in the shape it knows. Anything else (a chartsheet, rows out of order,
a style index past the cell formats, a date serial out of range, a custom number format id
that is not defined, a 1904 date system, broken XML anywhere in a sheet, large sheets)
raises ``NotPlain`` and the caller opens the workbook with openpyxl, whose values or error then
stand. ``tests/forms/test_direct_read.py`` checks that both give the same values.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from xml.etree import ElementTree

from openpyxl.cell.text import Text
from openpyxl.packaging.core import DocumentProperties
from openpyxl.packaging.custom import CustomPropertyList
from openpyxl.packaging.manifest import Manifest
from openpyxl.packaging.relationship import get_dependents, get_rels_path
from openpyxl.reader.excel import (  # type: ignore[attr-defined]  # not in the stubs
    _find_workbook_part,
)
from openpyxl.reader.strings import read_string_table
from openpyxl.reader.workbook import WorkbookParser
from openpyxl.styles.cell_style import CellStyleList
from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE, NumberFormatList
from openpyxl.styles.stylesheet import Stylesheet
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import WINDOWS_EPOCH, from_excel, from_ISO8601
from openpyxl.workbook.defined_name import DefinedNameList
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.xml.constants import (
    ARC_CONTENT_TYPES,
    ARC_CORE,
    ARC_CUSTOM,
    ARC_STYLE,
    ARC_THEME,
    SHARED_STRINGS,
    SHEET_MAIN_NS,
)
from openpyxl.xml.functions import fromstring

# Workbooks whose sheets hold more than this unpacked, together, are left to openpyxl, which
# streams only the sheets it is asked for; this reader parses every sheet whole at opening.
MAX_SHEETS_BYTES = 2_000_000
# Styles parts up to this size are remembered (a form's is about 9 KB).
MAX_CACHED_STYLES = 256_000

_NS = f"{{{SHEET_MAIN_NS}}}"
_ROW, _CELL, _VALUE = f"{_NS}row", f"{_NS}c", f"{_NS}v"
_SHEET_DATA, _DIMENSION = f"{_NS}sheetData", f"{_NS}dimension"
_INLINE, _TEXT = f"{_NS}is", f"{_NS}t"


class NotPlain(Exception):
    """The workbook is not in the shape this reader knows; openpyxl reads it instead."""


class _Book:
    """What openpyxl's WorkbookParser sets on a Workbook, without building one."""

    def __init__(self) -> None:
        self.epoch = WINDOWS_EPOCH
        self._external_links: list[Any] = []


class _Sheet:
    """What openpyxl's assign_names sets on a sheet (it can raise on a broken print area)."""

    def __init__(self) -> None:
        self.defined_names: dict[str, Any] = {}
        self._print_rows: Any = None
        self._print_cols: Any = None
        self._print_area: Any = None


class BookParser(WorkbookParser):
    """openpyxl 3.1's WorkbookParser on a stand-in ``book`` instead of the Workbook() its own
    __init__ builds (with every default style): both form readers need only what it parses."""

    def __init__(
        self, archive: zipfile.ZipFile, part: str, book: Any, *, keep_links: bool = False
    ) -> None:
        parser: Any = self  # openpyxl's stubs leave its members out
        parser.archive = archive
        parser.workbook_part_name = part
        parser.defined_names = DefinedNameList()
        parser.wb = book
        parser.keep_links = keep_links
        parser.sheets = []


@dataclass(frozen=True)
class _Formats:
    """The cell formats (cellXfs) as openpyxl's stylesheet resolves them: per style index its
    number format (None for an id past the custom formats, which openpyxl cannot look up), and
    which indexes mark dates and durations."""

    formats: tuple[str | None, ...] = ("General",)  # openpyxl's one default style, numFmtId 0
    dates: frozenset[int] = frozenset()
    durations: frozenset[int] = frozenset()


def _formats(styles: bytes | None) -> _Formats:
    """openpyxl's own reading of the number formats and cell formats of a styles part.

    It builds a descriptor object per cell format and is most of opening a small form; forms
    of one layout saved by one program carry the same styles part, so each distinct part is
    read once (the cache is keyed by its bytes: the same bytes give openpyxl the same result).
    """
    if styles is None:
        return _Formats()
    if len(styles) > MAX_CACHED_STYLES:  # a cache entry keeps its key's bytes
        return _read_formats.__wrapped__(styles)
    return _read_formats(styles)


def number_format_stylesheet(styles: bytes) -> Any:
    """openpyxl's Stylesheet of a styles part, built from its cell formats (cellXfs) and custom
    number formats only: all that a cell's value and number format need to be read."""
    node: Any = fromstring(styles)  # openpyxl's stubs type neither the tree nor these attributes
    num_fmts = node.find(f"{_NS}numFmts")
    cell_xfs = node.find(f"{_NS}cellXfs")
    # Stylesheet's own constructor rebases custom formats and indexes the date formats.
    return Stylesheet(
        numFmts=None if num_fmts is None else NumberFormatList.from_tree(num_fmts),
        cellXfs=None if cell_xfs is None else CellStyleList.from_tree(cell_xfs),
    )


@lru_cache(maxsize=64)
def _read_formats(styles: bytes) -> _Formats:
    sheet = number_format_stylesheet(styles)
    if not sheet.cell_styles:
        return _Formats()
    custom = list(sheet.number_formats)
    formats: list[str | None] = []
    for style in sheet.cell_styles:
        number = style.numFmtId
        if number < BUILTIN_FORMATS_MAX_SIZE:
            formats.append(BUILTIN_FORMATS.get(number, "General"))
        else:
            index = number - BUILTIN_FORMATS_MAX_SIZE
            formats.append(custom[index] if index < len(custom) else None)
    return _Formats(tuple(formats), frozenset(sheet.date_formats),
                    frozenset(sheet.timedelta_formats))  # fmt: skip


def _count(text: str | None) -> int:
    if text is None or not text.isascii() or not text.isdigit():
        raise NotPlain(f"not a plain index: {text!r}")
    return int(text)


# (row, column) → (value, style index); rows as openpyxl's read-only reader numbers them
_Cells = dict[tuple[int, int], tuple[Any, int]]


class _SheetCells:
    def __init__(self, cells: _Cells, rows: list[int], dimension_max_row: int | None) -> None:
        self.cells = cells
        self.rows = rows  # the row numbers present, ascending
        self.dimension_max_row = dimension_max_row


class DirectBook:
    """The values of a workbook's sheets, read at opening; ``close`` for symmetry with openpyxl."""

    def __init__(self, sheetnames: list[str], sheets: dict[str, _SheetCells],
                 formats: tuple[str | None, ...]) -> None:  # fmt: skip
        self.sheetnames = sheetnames
        self._sheets = sheets
        self._formats = formats

    def close(self) -> None:
        """Nothing stays open: the archive was read at opening."""

    def number_format(self, style: int) -> str | None:
        """The number format of a style index (checked at opening)."""
        return self._formats[style]

    def cells(self, sheet: str, max_row: int, max_col: int) -> Iterator[tuple[int, int, Any, int]]:
        """(row, column, value, style) of each non-empty cell in rows and columns 1..max_*."""
        for (row, column), (value, style) in self._sheets[sheet].cells.items():
            if 1 <= column <= max_col and row <= max_row and value is not None:
                yield row, column, value, style

    def pairs(self, sheet: str) -> Iterator[tuple[Any, Any]]:
        """The first two values of each row, up to the sheet's declared dimension when it has
        one, as openpyxl's ``iter_rows(max_col=2)`` bounds them (rows the file leaves out are
        empty, and left out here too)."""
        found = self._sheets[sheet]
        limit = found.dimension_max_row
        for row in found.rows:
            if limit is not None and row > limit:
                break
            yield found.cells.get((row, 1), (None, 0))[0], found.cells.get((row, 2), (None, 0))[0]


def open_direct(data: bytes) -> DirectBook:
    """Read every sheet's values; ``NotPlain`` (or any error) when openpyxl must decide."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        tree: Any = fromstring  # openpyxl's stubs do not type its parsed trees
        package: Any = Manifest.from_tree(tree(archive.read(ARC_CONTENT_TYPES)))
        strings: list[str] = []
        part = package.find(SHARED_STRINGS)
        if part is not None:
            with archive.open(part.PartName[1:]) as src:
                strings = read_string_table(src)
        parser: Any = BookParser(archive, _find_workbook_part(package).PartName[1:], _Book())
        parser.parse()
        book: Any = parser.wb
        if book.epoch != WINDOWS_EPOCH:
            raise NotPlain("1904 date system")
        if ARC_CORE in names:
            DocumentProperties.from_tree(tree(archive.read(ARC_CORE)))  # fails as openpyxl's
        if ARC_THEME in names:
            archive.read(ARC_THEME)  # openpyxl keeps its bytes: a damaged one fails there too
        if ARC_CUSTOM in names:
            CustomPropertyList.from_tree(tree(archive.read(ARC_CUSTOM)))
        formats = _formats(archive.read(ARC_STYLE) if ARC_STYLE in names else None)
        sheetnames: list[str] = []
        sheets: dict[str, _SheetCells] = {}
        stubs: list[_Sheet] = []
        sheet_bytes = 0
        for sheet, rel in parser.find_sheets():
            if rel.target not in names:
                continue
            if "chartsheet" in rel.Type or sheet.name in sheets:
                raise NotPlain("chartsheet or repeated sheet name")
            rels_path = get_rels_path(rel.target)
            if rels_path in names:
                get_dependents(archive, rels_path)
            sheet_bytes += archive.getinfo(rel.target).file_size
            if sheet_bytes > MAX_SHEETS_BYTES:
                raise NotPlain("large sheets")
            sheets[sheet.name] = _read_sheet(archive.read(rel.target), strings, formats)
            sheetnames.append(sheet.name)
            stubs.append(_Sheet())
        book._sheets = stubs
        parser.assign_names()
    return DirectBook(sheetnames, sheets, formats.formats)


def _read_sheet(body: bytes, strings: list[str], formats: _Formats) -> _SheetCells:
    """openpyxl's WorkSheetParser.parse_row/parse_cell with data_only, over the whole sheet.

    The sheet is parsed whole by the same expat parser openpyxl streams it with, so a sheet
    that parses here holds no XML error anywhere openpyxl's partial reads could meet one.
    """
    root = ElementTree.fromstring(body)
    top = list(root)
    data = [index for index, child in enumerate(top) if child.tag == _SHEET_DATA]
    if len(data) != 1:
        raise NotPlain("not one sheetData")
    # openpyxl takes the first dimension that ends before sheetData does
    dimensions = [child for child in top[: data[0]] if child.tag == _DIMENSION]
    dimension: Any = None
    if dimensions:
        element: Any = dimensions[0]  # openpyxl's stubs want their own tree type
        found: Any = SheetDimension.from_tree(element)
        dimension = found.boundaries  # a missing or bad range fails as in openpyxl
    sheet_data = top[data[0]]
    rows_only = all(child.tag == _ROW for child in sheet_data)
    if (
        not rows_only
        or sum(1 for _ in root.iter(_ROW)) != len(sheet_data)
        or sum(1 for _ in root.iter(_DIMENSION)) != sum(1 for c in top if c.tag == _DIMENSION)
    ):
        raise NotPlain("rows or dimensions elsewhere than openpyxl expects them")
    cells: _Cells = {}
    rows: list[int] = []
    row_number = 0
    styles = len(formats.formats)
    for row in sheet_data:
        row_number = _row_number(row.get("r"), row_number)
        if (rows and row_number <= rows[-1]) or row_number < 1:
            raise NotPlain("rows out of order")
        rows.append(row_number)
        column = 0
        for cell in row:
            if cell.tag != _CELL:
                raise NotPlain("not a cell inside a row")
            coordinate = cell.get("r")
            column = coordinate_to_tuple(coordinate)[1] if coordinate else column + 1
            cells[row_number, column] = _cell_value(cell, strings, formats, styles)
    return _SheetCells(cells, rows, None if dimension is None else dimension[3])


def _row_number(text: str | None, previous: int) -> int:
    if text is None:
        return previous + 1
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


def _cell_value(cell: Any, strings: list[str], formats: _Formats, styles: int) -> tuple[Any, int]:
    kind = cell.get("t", "n")
    style_text = cell.get("s")
    style = 0 if style_text is None or style_text == "0" else _count(style_text)
    if style >= styles or formats.formats[style] is None:
        raise NotPlain("style index past the cell formats, or its number format undefined")
    if kind == "inlineStr":
        child = cell.find(_INLINE)
        if child is None:
            return None, style
        if child.attrib or len(child) != 1 or child[0].tag != _TEXT or len(child[0]):
            text: Any = Text.from_tree(child)
            return text.content, style
        return child[0].text or "", style
    value: Any = cell.findtext(_VALUE, None) or None
    if value is None:
        return None, style
    if kind == "n":
        value = float(value) if "." in value or "E" in value or "e" in value else int(value)
        if style in formats.dates:
            try:
                value = from_excel(value, WINDOWS_EPOCH, timedelta=style in formats.durations)
            except (OverflowError, ValueError):
                raise NotPlain("date serial out of range") from None
    elif kind == "s":
        value = strings[int(value)]
    elif kind == "b":
        value = bool(int(value))
    elif kind == "d":
        value = from_ISO8601(value)
    elif kind not in ("str", "e"):
        raise NotPlain(f"cell type {kind!r}")
    return value, style
