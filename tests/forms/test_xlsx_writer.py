"""The direct form writer (tasks/forms/xlsx.py) writes what openpyxl wrote for the same form.

Forms used to be built and saved through openpyxl. The writer that replaced it (for speed) must
give every unit the same file: each form is written both ways here, from the same laid-out
sheets, and the bytes compared; the parts of the four reference forms are pinned to what the
openpyxl build gave before the switch, so the layout code cannot drift either.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace
from datetime import datetime

import pytest
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.properties import PageSetupProperties

from config.errors import FormError
from tasks.calendar import SHANGHAI
from tasks.forms.build import FORM_STYLES, build_form, form_sheets
from tasks.forms.layout import FormSpec, form_spec_from_context, form_title
from tasks.forms.xlsx import CellStyle, Sheet, save_deterministic
from tests.forms.test_forms import CASE_IDS, CASES, spec_for
from tests.helpers import FORM_KEY, form_context, policy_bundle


def _named(style: CellStyle) -> NamedStyle:
    named = NamedStyle(name=style.name)
    named.font = Font(name=style.font, size=style.size, bold=style.bold or None)
    named.alignment = Alignment(
        horizontal=style.horizontal, vertical=style.vertical, wrap_text=True
    )
    if style.fill is not None:
        named.fill = PatternFill("solid", fgColor=style.fill)
    if style.border:
        thin = Side(style="thin", color="808080")
        named.border = Border(left=thin, right=thin, top=thin, bottom=thin)
    named.protection = Protection(locked=style.locked)
    named.number_format = style.number_format
    return named


def openpyxl_bytes(sheets: list[Sheet], title: str, as_of: datetime) -> bytes:
    """The same sheets written through openpyxl, as forms were built before the direct writer."""
    wb = Workbook()
    for style in FORM_STYLES:
        wb.add_named_style(_named(style))
    for index, sheet in enumerate(sheets):
        ws = wb.active if index == 0 else wb.create_sheet(sheet.title)
        assert ws is not None
        ws.title = sheet.title
        for column, width in enumerate(sheet.widths, start=1):
            ws.column_dimensions[get_column_letter(column)].width = width
        for (row, column), (value, style) in sheet.cells.items():
            cell = ws.cell(row=row, column=column)
            cell.value = value
            if value is not None:
                cell.data_type = "s"
            if style is not None:
                cell.style = style
        for row, height in sheet.heights.items():
            ws.row_dimensions[row].height = height
        for first_row, first_col, last_row, last_col in sheet.merges:
            ws.merged_cells.add(
                f"{get_column_letter(first_col)}{first_row}:{get_column_letter(last_col)}{last_row}"
            )
        for rule in sheet.validations:
            dv = DataValidation(
                type=rule.type,
                operator=rule.operator,
                formula1=rule.formula1,
                formula2=rule.formula2,
                error=rule.error,
                errorTitle=rule.error_title,
                prompt=rule.prompt,
                promptTitle=rule.prompt_title,
                showErrorMessage=True,
                showInputMessage=True,
                allow_blank=True,
            )
            for row, column in rule.cells:
                dv.add(f"{get_column_letter(column)}{row}")
            ws.add_data_validation(dv)
        ws.protection.sheet = True
        setup = sheet.print_setup
        if setup is not None:
            ws.protection.formatRows = False
            ws.protection.formatColumns = False
            ws.page_setup.orientation = "landscape" if setup.landscape else "portrait"
            ws.page_setup.paperSize = ws.PAPERSIZE_A4
            ws.page_setup.scale = setup.scale
            ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=False)
            ws.print_options.horizontalCentered = True
            for side, inches in setup.margins.items():
                setattr(ws.page_margins, side, inches)
            ws.print_area = f"A1:{get_column_letter(len(sheet.widths))}{setup.last_row}"
            if setup.title_row is not None:
                ws.print_title_rows = f"{setup.title_row}:{setup.title_row}"
            for row in setup.row_breaks:
                ws.row_breaks.append(Break(id=row))
            assert setup.footer.startswith("&C&9 ")
            assert ws.oddFooter is not None
            ws.oddFooter.center.text = setup.footer.removeprefix("&C&9 ")
            ws.oddFooter.center.size = 9
        if sheet.very_hidden:
            ws.sheet_state = "veryHidden"
    wb.active = 0
    wb.security = WorkbookProtection(lockStructure=True)
    wb.properties.title = title
    out = io.BytesIO()
    save_deterministic(wb, out, as_of)
    return out.getvalue()


def _both(spec: FormSpec) -> tuple[bytes, bytes]:
    sheets, _ = form_sheets(spec, FORM_KEY)
    return build_form(spec, FORM_KEY), openpyxl_bytes(sheets, form_title(spec), spec.issued_at)


def _every_units_form() -> list[tuple[str, FormSpec]]:
    """Each table case for every unit of its policy (with measures or without, one target or
    many); the roster, the same for every unit but its name, for a few."""
    out = []
    for case in CASES:
        units = [u.name for u in policy_bundle(case[1]).resolver.directory.units]
        if case[7] == "roster":
            units = units[:5]
        for unit in units:
            context = form_context(case[1], case[2], unit, *case[4:7])
            out.append((f"{case[0]}-{unit}", form_spec_from_context(context)))
    return out


def test_every_units_form_is_what_openpyxl_writes() -> None:
    specs = _every_units_form()
    assert len(specs) > 3 * 40
    for name, spec in specs:
        ours, theirs = _both(spec)
        assert ours == theirs, name


# Text that XML must escape, whitespace openpyxl marks as preserved, characters outside the
# BMP, control characters a cell cannot hold, a would-be formula and an error literal.
AWKWARD = "  A&B <c> \"d\" 'e'\tf\r\ng 𠀀😀 \x01\x0b =SUM(A1) #N/A "


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_awkward_text_is_written_as_openpyxl_writes_it(case_id: str) -> None:
    spec = spec_for(case_id)
    measures = tuple(
        {**m, "title": AWKWARD + str(m["title"]), "number": m["number"]} for m in spec.measures
    )
    spec = replace(
        spec,
        unit_name=f"县{AWKWARD.replace(chr(1), '').replace(chr(11), '')}局",
        policy_title=AWKWARD,
        doc_number=" ",
        office_mailbox="a&b@example.org",
        measures=measures,
    )
    ours, theirs = _both(spec)
    assert ours == theirs


def _parts_digest(data: bytes) -> str:
    """The sha256 of a workbook's parts, names and times (not of the deflated bytes, which
    depend on the zlib build)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    digest = hashlib.sha256()
    for info in archive.infolist():
        digest.update(f"{info.filename}|{info.date_time}|{info.external_attr}\n".encode())
        digest.update(archive.read(info) + b"\n")
    return digest.hexdigest()


# What the openpyxl build (before the direct writer) gave for the four reference forms.
BEFORE = {
    "lc-ledger": "ac9d6d3eaecd3dd9942a63c94e0641832c2ee3984a19cd44161ca1d3dddf4185",
    "lc-setup": "82e63b7321aec9220137ac806f1bd3a622ab0b660fbdc020ad5933f3685a27ea",
    "lc-monthly": "5dbdce7d52c819684d4e8fb360011311d6fd4d4e9229652fe163ed08d8849cdc",
    "xj-monthly": "55ec928e2ce1f90488a2c52eb1901edfdb3485acf91b3e158022167bb3479f75",
}


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_reference_forms_are_unchanged_part_for_part(case_id: str) -> None:
    assert _parts_digest(build_form(spec_for(case_id), FORM_KEY)) == BEFORE[case_id]


def test_issued_at_sets_the_file_times() -> None:
    spec = replace(spec_for("lc-setup"), issued_at=datetime(2024, 2, 29, 23, 59, tzinfo=SHANGHAI))
    ours, theirs = _both(spec)
    assert ours == theirs
    assert zipfile.ZipFile(io.BytesIO(ours)).infolist()[0].date_time == (2024, 2, 29, 23, 59, 0)


def test_control_characters_in_signed_metadata_are_refused() -> None:
    """The visible sheet drops them; the metadata is signed as it stands, so the form is refused
    (openpyxl refused to write it too) rather than saved as a file no program opens."""
    with pytest.raises(FormError, match="控制字符"):
        build_form(replace(spec_for("lc-setup"), unit_name="县\x01局"), FORM_KEY)
