"""Writing a workbook deterministically: the same workbook and moment give the same bytes.

openpyxl's ``Workbook.save`` stamps "modified" with the clock, and the zip entries of its
worksheets carry the mtimes of temporary files. The consolidation workbooks
(``tasks/consolidation/workbook.py``, ``annual_outputs.py``) are saved by ``save_deterministic``
instead, with every time taken from one given moment. The forms (``tasks/forms/build.py``) are
written by ``write_workbook``, the same XML openpyxl writes, without its object model.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from tasks.calendar import SHANGHAI


def display_width(text: str) -> int:
    """Width in Excel column units: a CJK character takes two."""
    if text.isascii():
        return len(text)
    return sum(map(_char_width, text))


@cache
def _char_width(ch: str) -> int:
    # Cached per character: a form measures its texts a few hundred times while laying out.
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


class FixedTimeZip(zipfile.ZipFile):
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


def save_deterministic(wb: Workbook, out: io.BytesIO, as_of: datetime) -> None:
    """Write ``wb`` to ``out`` with its times fixed to ``as_of``: equal workbooks, equal bytes."""
    stamp_utc = as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.created = wb.properties.modified = stamp_utc
    wb.properties.creator = wb.properties.lastModifiedBy = "taskforce"
    local = as_of.astimezone(SHANGHAI)
    stamp = (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)
    # ExcelWriter instead of wb.save: save() stamps "modified" with the clock; the zip entries
    # carry one fixed time instead of the temporary files' mtimes.
    ExcelWriter(wb, FixedTimeZip(out, stamp)).save()


# ---------------------------------------------------------------------------------------------
# A direct writer for the forms: the XML openpyxl 3.1.5 writes for the same workbook, part by
# part and byte for byte (tests/forms/test_xlsx_writer.py holds it to that), without building
# openpyxl's object model. Building the model and serialising it through openpyxl's descriptors
# was ~80 % of a form's cost; a form here is a grid of strings in a handful of named styles.
#
# What it writes is what the forms use: inline strings and empty styled cells, named cell
# styles, merges, data validations, row heights, column widths, print setup, protection, a very
# hidden sheet and a locked workbook structure. Anything else belongs in openpyxl.


@dataclass(frozen=True)
class CellStyle:
    """A named cell style: font, alignment (always wrapped), fill, thin grey box, lock, format."""

    name: str
    font: str
    size: float
    bold: bool = False
    horizontal: str = "left"
    vertical: str = "center"
    fill: str | None = None  # solid fill, RGB hex
    border: bool = True
    locked: bool = True
    number_format: str = "General"


@dataclass
class Validation:
    """A data validation and the cells it covers, in the attribute order Excel files use."""

    type: str
    formula1: str
    error: str
    prompt: str
    operator: str | None = None
    formula2: str | None = None
    error_title: str = ""
    prompt_title: str = ""
    cells: list[tuple[int, int]] = field(default_factory=list)  # (row, column)

    def add(self, row: int, column: int) -> None:
        self.cells.append((row, column))


@dataclass
class PrintSetup:
    landscape: bool
    scale: int
    margins: Mapping[str, float]
    footer: str
    last_row: int  # of the print area, which spans every column
    title_row: int | None = None  # repeated atop every page
    row_breaks: list[int] = field(default_factory=list)


@dataclass
class Sheet:
    """One worksheet as the forms fill it: strings (or nothing) in named styles."""

    title: str
    widths: list[float]
    cells: dict[tuple[int, int], tuple[str | None, str | None]] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    # (first row, first column, last row, last column), in the order they were merged
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    validations: list[Validation] = field(default_factory=list)
    print_setup: PrintSetup | None = None
    very_hidden: bool = False
    # Protected as a form (rows may be made taller, columns wider) or as the metadata sheet.
    form_protection: bool = True

    def put(self, row: int, column: int, value: str | None, style: str | None) -> None:
        self.cells[(row, column)] = (value, style)

    def style_of(self, row: int, column: int) -> str | None:
        return self.cells[(row, column)][1]

    def restyle(self, row: int, column: int, style: str | None) -> None:
        """Give a cell a style, keeping its value (a merged block's other cells)."""
        value = self.cells.get((row, column), (None, None))[0]
        self.cells[(row, column)] = (value, style)

    @property
    def last_row(self) -> int:
        return max(row for row, _ in self.cells) if self.cells else 1

    @property
    def last_column(self) -> int:
        return max(column for _, column in self.cells) if self.cells else 1


def column_letter(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _number(value: float) -> str:
    return "%.16g" % value  # noqa: UP031 - openpyxl's safe_string, so the bytes match


_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


def _text(value: str) -> str:
    """Element text as lxml writes a worksheet: ASCII, everything else as character references."""
    return value.translate(_TEXT_ESCAPES).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _attr(value: str) -> str:
    return value.translate(_ATTR_ESCAPES).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _utf8_text(value: str) -> str:
    return value.translate(_TEXT_ESCAPES)


def _utf8_attr(value: str) -> str:
    return value.translate(_ATTR_ESCAPES)


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_FORM_PROTECTION = (
    '<sheetProtection selectLockedCells="0" selectUnlockedCells="0" sheet="1" objects="0" '
    'insertRows="1" insertHyperlinks="1" autoFilter="1" scenarios="0" formatColumns="{cols}" '
    'deleteColumns="1" insertColumns="1" pivotTables="1" deleteRows="1" formatCells="1" '
    'formatRows="{rows}" sort="1"/>'
)
_EMPTY_HEADERS = (
    "<evenHeader></evenHeader><evenFooter></evenFooter>"
    "<firstHeader></firstHeader><firstFooter></firstFooter>"
)


def _validation_xml(v: Validation) -> str:
    # openpyxl's MultiCellRange prints its cells ordered by column, then row.
    sqref = " ".join(f"{column_letter(c)}{r}" for r, c in sorted(v.cells, key=lambda rc: rc[::-1]))
    operator = "" if v.operator is None else f' operator="{v.operator}"'
    formula2 = "" if v.formula2 is None else f"<formula2>{_text(v.formula2)}</formula2>"
    return (
        f'<dataValidation sqref="{sqref}" showDropDown="0" showInputMessage="1" '
        f'showErrorMessage="1" allowBlank="1" errorTitle="{_attr(v.error_title)}" '
        f'error="{_attr(v.error)}" promptTitle="{_attr(v.prompt_title)}" '
        f'prompt="{_attr(v.prompt)}" type="{v.type}"{operator}>'
        f"<formula1>{_text(v.formula1)}</formula1>{formula2}</dataValidation>"
    )


def _sheet_xml(sheet: Sheet, style_ids: dict[str | None, int]) -> str:
    """The worksheet part; ``style_ids`` gains each named style at its first cell, row by row,
    as openpyxl numbers the cell formats."""
    out: list[str] = [f'<worksheet xmlns="{_MAIN_NS}"><sheetPr>']
    out.append('<outlinePr summaryBelow="1" summaryRight="1"/>')
    out.append('<pageSetUpPr fitToPage="0"/>' if sheet.print_setup else "<pageSetUpPr/>")
    out.append("</sheetPr>")
    last_column = column_letter(sheet.last_column)
    out.append(f'<dimension ref="A1:{last_column}{sheet.last_row}"/>')
    out.append(
        '<sheetViews><sheetView workbookViewId="0"><selection activeCell="A1" sqref="A1"/>'
        '</sheetView></sheetViews><sheetFormatPr baseColWidth="8" defaultRowHeight="15"/><cols>'
    )
    for index, width in enumerate(sheet.widths, start=1):
        out.append(f'<col width="{_number(width)}" customWidth="1" min="{index}" max="{index}"/>')
    out.append("</cols><sheetData>")
    by_row: dict[int, list[tuple[int, str | None, str | None]]] = {r: [] for r in sheet.heights}
    for (row, column), (value, style) in sorted(sheet.cells.items()):
        by_row.setdefault(row, []).append((column, value, style))
    for row in sorted(by_row):
        height = sheet.heights.get(row)
        if height:
            out.append(f'<row r="{row}" ht="{_number(height)}" customHeight="1">')
        else:
            out.append(f'<row r="{row}">')
        letters = ""
        for column, value, style in by_row[row]:
            letters = column_letter(column)
            if style is None:
                if value is None:
                    continue  # openpyxl leaves out an empty unstyled cell
                attrs = f'r="{letters}{row}"'
            else:
                if style not in style_ids:
                    style_ids[style] = len(style_ids)
                attrs = f'r="{letters}{row}" s="{style_ids[style]}"'
            if value is None:
                out.append(f'<c {attrs} t="n"></c>')
            elif value == "":
                out.append(f'<c {attrs} t="inlineStr"></c>')
            else:
                space = ' xml:space="preserve"' if value != value.strip() else ""
                out.append(f'<c {attrs} t="inlineStr"><is><t{space}>{_text(value)}</t></is></c>')
        out.append("</row>")
    out.append("</sheetData>")
    if sheet.form_protection:
        out.append(_FORM_PROTECTION.format(cols=0, rows=0))
    else:
        out.append(_FORM_PROTECTION.format(cols=1, rows=1))
    if sheet.merges:
        # openpyxl keeps merged ranges in a set of ranges hashed as these tuples, and writes them
        # in the set's order: the same order here keeps forms byte-identical to earlier ones.
        out.append(f'<mergeCells count="{len(set(sheet.merges))}">')
        for first_row, first_col, last_row, last_col in set(sheet.merges):
            ref = f"{column_letter(first_col)}{first_row}:{column_letter(last_col)}{last_row}"
            out.append(f'<mergeCell ref="{ref}"/>')
        out.append("</mergeCells>")
    if sheet.validations:  # a rule that covers no cell (a form without measures) is left out
        rules = [_validation_xml(v) for v in sheet.validations if v.cells]
        if rules:
            out.append(f'<dataValidations count="{len(rules)}">{"".join(rules)}</dataValidations>')
        else:
            out.append('<dataValidations count="0"/>')
    setup = sheet.print_setup
    if setup is None:
        out.append(
            '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
        )
    else:
        m = {k: _number(v) for k, v in setup.margins.items()}
        out.append(
            '<printOptions horizontalCentered="1"/>'
            f'<pageMargins left="{m["left"]}" right="{m["right"]}" top="{m["top"]}" '
            f'bottom="{m["bottom"]}" header="{m["header"]}" footer="{m["footer"]}"/>'
            f'<pageSetup orientation="{"landscape" if setup.landscape else "portrait"}" '
            f'paperSize="9" scale="{setup.scale}"/>'
            f"<headerFooter><oddHeader></oddHeader><oddFooter>{_text(setup.footer)}</oddFooter>"
            f"{_EMPTY_HEADERS}</headerFooter>"
        )
        if setup.row_breaks:
            count = len(setup.row_breaks)
            out.append(f'<rowBreaks count="{count}" manualBreakCount="{count}">')
            out.extend(f'<brk id="{r}" min="0" max="16383" man="1"/>' for r in setup.row_breaks)
            out.append("</rowBreaks>")
    out.append("</worksheet>")
    return "".join(out)


class _Indexed:
    """openpyxl's IndexedList: each distinct item once, numbered in order of first addition."""

    def __init__(self, *items: str) -> None:
        self.items: dict[str, int] = {}
        for item in items:
            self.add(item)

    def add(self, item: str) -> int:
        return self.items.setdefault(item, len(self.items))


_INDEXED_COLOR_TEXT = (  # openpyxl's 64 indexed colours, in its order
    "000000 FFFFFF FF0000 00FF00 0000FF FFFF00 FF00FF 00FFFF 000000 FFFFFF FF0000 00FF00 0000FF "
    "FFFF00 FF00FF 00FFFF 800000 008000 000080 808000 800080 008080 C0C0C0 808080 9999FF 993366 "
    "FFFFCC CCFFFF 660066 FF8080 0066CC CCCCFF 000080 FF00FF FFFF00 00FFFF 800080 800000 008080 "
    "0000FF 00CCFF CCFFFF CCFFCC FFFF99 99CCFF FF99CC CC99FF FFCC99 3366FF 33CCCC 99CC00 FFCC00 "
    "FF9900 FF6600 666699 969696 003366 339966 003300 333300 993300 993366 333399 333333"
)
_INDEXED_COLORS = _INDEXED_COLOR_TEXT.split()


@dataclass(frozen=True)
class Stylesheet:
    """The styles part for a set of named styles, split around the cell formats, which depend
    on the order the styles first appear in the sheet."""

    head: str
    tail: str
    cell_xfs: Mapping[str, str]  # style name → its <xf> among the cell formats

    def xml(self, style_ids: Mapping[str | None, int]) -> str:
        xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" pivotButton="0" '
               'quotePrefix="0" xfId="0"/>']  # fmt: skip
        xfs.extend(self.cell_xfs[str(name)] for name in style_ids if name is not None)
        return f'{self.head}<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>{self.tail}'


def stylesheet(styles: Sequence[CellStyle]) -> Stylesheet:
    """The styles part openpyxl writes for a workbook holding these named styles."""
    number_formats = _Indexed()
    fonts = _Indexed(
        '<font><name val="Calibri"/><family val="2"/><color theme="1"/><sz val="11"/>'
        '<scheme val="minor"/></font>'
    )
    fills = _Indexed(
        "<fill><patternFill/></fill>", '<fill><patternFill patternType="gray125"/></fill>'
    )
    borders = _Indexed("<border><left/><right/><top/><bottom/><diagonal/></border>")
    line = '<color rgb="00808080"/>'
    box = "".join(f'<{s} style="thin">{line}</{s}>' for s in ("left", "right", "top", "bottom"))
    style_xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>']
    cell_xfs: dict[str, str] = {}
    for xf_id, style in enumerate(styles, start=1):
        bold = '<b val="1"/>' if style.bold else ""
        font = fonts.add(f'<font><name val="{_utf8_attr(style.font)}"/>{bold}'
                         f'<sz val="{_number(style.size)}"/></font>')  # fmt: skip
        fill = 0
        if style.fill is not None:
            fill = fills.add(
                f'<fill><patternFill patternType="solid"><fgColor rgb="00{style.fill}"/>'
                "</patternFill></fill>"
            )
        border = borders.add(f"<border>{box}</border>" if style.border else "<border/>")
        number = 0
        if style.number_format != "General":
            number = 164 + number_formats.add(style.number_format)
        attrs = f'numFmtId="{number}" fontId="{font}" fillId="{fill}" borderId="{border}" '
        attrs += 'applyAlignment="1"' + ("" if style.locked else ' applyProtection="1"')
        body = (
            f'<alignment horizontal="{style.horizontal}" vertical="{style.vertical}" '
            'wrapText="1"/>' + ("" if style.locked else '<protection locked="0" hidden="0"/>')
        )
        style_xfs.append(f"<xf {attrs}>{body}</xf>")
        cell_xfs[style.name] = (
            f'<xf {attrs} pivotButton="0" quotePrefix="0" xfId="{xf_id}">{body}</xf>'
        )
    formats = "".join(
        f'<numFmt numFmtId="{164 + i}" formatCode="{_utf8_attr(code)}"/>'
        for code, i in number_formats.items.items()
    )
    head = f'<styleSheet xmlns="{_MAIN_NS}">'
    if formats:
        head += f'<numFmts count="{len(number_formats.items)}">{formats}</numFmts>'
    for tag, items in (("fonts", fonts), ("fills", fills), ("borders", borders)):
        head += f'<{tag} count="{len(items.items)}">{"".join(items.items)}</{tag}>'
    head += f'<cellStyleXfs count="{len(style_xfs)}">{"".join(style_xfs)}</cellStyleXfs>'
    names = ['<cellStyle name="Normal" xfId="0" builtinId="0" hidden="0"/>'] + [
        f'<cellStyle name="{_utf8_attr(s.name)}" xfId="{i}" hidden="0"/>'
        for i, s in enumerate(styles, start=1)
    ]
    colors = "".join(f'<rgbColor rgb="00{c}"/>' for c in _INDEXED_COLORS)
    tail = (
        f'<cellStyles count="{len(names)}">{"".join(names)}</cellStyles>'
        '<tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
        'defaultPivotStyle="PivotStyleLight16"/>'
        f"<colors><indexedColors>{colors}</indexedColors></colors></styleSheet>"
    )
    return Stylesheet(head, tail, cell_xfs)


_APP_XML = (
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>Microsoft Excel Compatible / Openpyxl 3.1.5</Application>"
    "<AppVersion>3.1</AppVersion></Properties>"
)
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_ROOT_RELS = (
    f'<Relationships xmlns="{_PKG_RELS}">'
    f'<Relationship Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml" Id="rId1"/>'
    '<Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
    'core-properties" Target="docProps/core.xml" Id="rId2"/>'
    f'<Relationship Type="{_REL_NS}/extended-properties" Target="docProps/app.xml" Id="rId3"/>'
    "</Relationships>"
)
_CONTENT = "application/vnd.openxmlformats-officedocument"


def _workbook_rels(sheets: int) -> str:
    rels = [
        f'<Relationship Type="{_REL_NS}/worksheet" Target="/xl/worksheets/sheet{i}.xml" '
        f'Id="rId{i}"/>'
        for i in range(1, sheets + 1)
    ]
    rels.append(f'<Relationship Type="{_REL_NS}/styles" Target="styles.xml" Id="rId{sheets + 1}"/>')
    rels.append(
        f'<Relationship Type="{_REL_NS}/theme" Target="theme/theme1.xml" Id="rId{sheets + 2}"/>'
    )
    return f'<Relationships xmlns="{_PKG_RELS}">{"".join(rels)}</Relationships>'


def _content_types(sheets: int) -> str:
    worksheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        f'ContentType="{_CONTENT}.spreadsheetml.worksheet+xml"/>'
        for i in range(1, sheets + 1)
    )
    return (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CONTENT}.spreadsheetml.styles+xml"/>'
        f'<Override PartName="/xl/theme/theme1.xml" ContentType="{_CONTENT}.theme+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/>'
        f'<Override PartName="/docProps/app.xml" ContentType="{_CONTENT}.extended-properties+xml"/>'
        f"{worksheets}"
        '<Override PartName="/xl/workbook.xml" '
        f'ContentType="{_CONTENT}.spreadsheetml.sheet.main+xml"/></Types>'
    )


def _core_xml(title: str, stamp: datetime) -> str:
    moment = stamp.isoformat(timespec="seconds") + "Z"
    dc = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'
    terms = (
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="dcterms:W3CDTF"'
    )
    return (
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        f'core-properties"><dc:creator {dc}>taskforce</dc:creator>'
        f"<dc:title {dc}>{_utf8_text(title)}</dc:title>"
        f"<dcterms:created {terms}>{moment}</dcterms:created>"
        f"<dcterms:modified {terms}>{moment}</dcterms:modified>"
        "<cp:lastModifiedBy>taskforce</cp:lastModifiedBy></cp:coreProperties>"
    )


def _workbook_xml(sheets: Sequence[Sheet]) -> str:
    entries, names = [], []
    for index, sheet in enumerate(sheets):
        state = "veryHidden" if sheet.very_hidden else "visible"
        entries.append(
            f'<sheet xmlns:r="{_REL_NS}" name="{_utf8_attr(sheet.title)}" sheetId="{index + 1}" '
            f'state="{state}" r:id="rId{index + 1}"/>'
        )
        setup = sheet.print_setup
        if setup is None:
            continue
        quoted = "'" + sheet.title.replace("'", "''") + "'"
        if setup.title_row is not None:
            row = setup.title_row
            names.append(
                f'<definedName name="_xlnm.Print_Titles" localSheetId="{index}">'
                f"{_utf8_text(quoted)}!${row}:${row}</definedName>"
            )
        area = f"$A$1:${column_letter(len(sheet.widths))}${setup.last_row}"
        names.append(
            f'<definedName name="_xlnm.Print_Area" localSheetId="{index}">'
            f"{_utf8_text(quoted)}!{area}</definedName>"
        )
    defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
    return (
        f'<workbook xmlns="{_MAIN_NS}"><workbookPr/><workbookProtection lockStructure="1"/>'
        '<bookViews><workbookView visibility="visible" minimized="0" showHorizontalScroll="1" '
        'showVerticalScroll="1" showSheetTabs="1" tabRatio="600" firstSheet="0" activeTab="0" '
        'autoFilterDateGrouping="1"/></bookViews>'
        f"<sheets>{''.join(entries)}</sheets>{defined}"
        '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
    )


def write_workbook(
    sheets: Sequence[Sheet], styles: Stylesheet, title: str, as_of: datetime
) -> bytes:
    """The .xlsx of these sheets (the first one active), its structure locked, with every time
    in it taken from ``as_of``: the same sheets and moment give the same bytes."""
    from openpyxl.writer.theme import theme_xml  # the library's theme part, as it writes it

    stamp_utc = as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    local = as_of.astimezone(SHANGHAI)
    stamp = (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)
    style_ids: dict[str | None, int] = {None: 0}  # 0: the default format
    parts = [_sheet_xml(sheet, style_ids) for sheet in sheets]
    out = io.BytesIO()
    with FixedTimeZip(out, stamp) as archive:
        archive.writestr("docProps/app.xml", _APP_XML)
        archive.writestr("docProps/core.xml", _core_xml(title, stamp_utc))
        archive.writestr("xl/theme/theme1.xml", theme_xml)
        for index, part in enumerate(parts, start=1):
            archive.writestr(f"xl/worksheets/sheet{index}.xml", part)
        archive.writestr("xl/styles.xml", styles.xml(style_ids))
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _workbook_xml(sheets))
        archive.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        archive.writestr("[Content_Types].xml", _content_types(len(sheets)))
    return out.getvalue()
