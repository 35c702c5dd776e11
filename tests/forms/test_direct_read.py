"""The direct XML reader (``tasks/forms/direct.py``) reads what openpyxl reads, or stands aside.

For every workbook of ``test_open_workbook`` (the intake corpus, a filled form, dates, durations,
percentages, broken styles and sheets, odd inline strings) and for forms saved by openpyxl with
shared strings and by LibreOffice, intake's two reads (the ``_meta`` pairs and the form grid
with its percentages) are compared between ``open_workbook`` and openpyxl alone; and the cases
in the usual shape must really take the direct path, so the comparison is not openpyxl against
itself.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from config.errors import FormReadError
from tasks.demo.bureaus import fill_form
from tasks.forms import direct
from tasks.forms.direct import DirectBook, open_direct
from tasks.forms.read import META_SHEET, _read_meta_rows, open_openpyxl, open_workbook
from tasks.forms.values import _read_grid
from tests.forms.blank_forms import blank
from tests.forms.test_open_workbook import CASES, _rezip
from tests.helpers import FORM_KEY
from tests.libreoffice import XLSX_FILTER, calc


def _reads(open_: Any, data: bytes) -> Any:
    """Each sheet's non-empty first-two-column pairs and its grid at two extents (with the
    percentages), as intake reads them; the error's type where opening or reading fails."""
    try:
        wb = open_(data)
    except Exception as exc:
        return ("open failed", type(exc).__name__)
    try:
        found: list[Any] = [("sheets", tuple(wb.sheetnames))]
        for name in wb.sheetnames:
            pairs = (
                wb.pairs(name)
                if isinstance(wb, DirectBook)
                else wb[name].iter_rows(max_col=2, values_only=True)
            )
            found.append((name, [repr(tuple(p)) for p in pairs if any(v is not None for v in p)]))
            for max_row, max_col in ((12, 5), (60, 8)):
                grid = _read_grid(wb, name, max_row, max_col)
                if isinstance(grid, list):
                    found.append((name, "not a worksheet", grid))
                    continue
                cells = sorted((at, repr(v), type(v).__name__) for at, v in grid.values.items())
                found.append((name, max_row, cells, sorted(grid.percent)))
        if META_SHEET in wb.sheetnames:
            found.append(("meta", _read_meta_rows(wb)))
        return found
    except FormReadError as exc:
        return ("read failed", str(exc))
    except Exception as exc:
        return ("read failed", type(exc).__name__)
    finally:
        wb.close()


def _shared_strings_form() -> bytes:
    """A filled form saved by openpyxl's normal writer: shared strings, typed dates, numbers."""
    wb = openpyxl.load_workbook(io.BytesIO(fill_form(blank("monthly"), FORM_KEY)))
    ws = wb.worksheets[0]
    ws["F14"] = datetime(2023, 2, 20)
    ws["F14"].number_format = "yyyy/m/d"
    ws["D14"] = 0.85
    ws["D14"].number_format = "0%"
    ws["D15"] = 1200
    ws["D15"].number_format = "#,##0"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _edited(part: str, old: bytes, new: bytes) -> bytes:
    """The filled form with one replacement in one part (sheet1: the form, sheet2: _meta)."""
    filled = fill_form(blank("monthly"), FORM_KEY)
    change = lambda name, body: body.replace(old, new, 1) if name == part else body  # noqa: E731
    return _rezip(filled, change)


META = "xl/worksheets/sheet2.xml"
FORM = "xl/worksheets/sheet1.xml"
EXTRA = [
    ("shared strings form", _shared_strings_form()),
    ("meta dimension of one row",
     _edited(META, b'<dimension ref="A1:B9"/>', b'<dimension ref="A1"/>')),
    ("meta without dimension", _edited(META, b'<dimension ref="A1:B9"/>', b"")),
    ("dimension with an unknown attribute",
     _edited(META, b'<dimension ref="A1:B9"/>', b'<dimension ref="A1:B9" x="1"/>')),
    ("dimension without a range", _edited(FORM, b'<dimension ref="A1:G31"/>', b"<dimension/>")),
    ("meta rows out of order", _edited(META, b'<row r="2">', b'<row r="12">')),
    ("cells without references", _edited(META, b'<c r="B1" ', b"<c ")),
    ("shared string past the table",
     _edited(FORM, b't="inlineStr"><is><t>', b't="s"><v>7</v><is><t>')),
]  # fmt: skip
ALL = [*CASES, *EXTRA]
# Workbooks in the usual shape: these must be read directly.
DIRECT = {"filled monthly form", "formats", "unknown built-in format", "unknown elements",
          "inline rich text", "inline empty text", "inline two texts", "inline text and run",
          "inline empty", "inline spaces", "meta dimension of one row", "meta without dimension",
          "cells without references",
          "inline other namespace", "inline without is", "shared strings form"}  # fmt: skip


@pytest.mark.parametrize(("name", "data"), ALL, ids=[name for name, _ in ALL])
def test_direct_reads_as_openpyxl_reads(name: str, data: bytes) -> None:
    assert _reads(open_workbook, data) == _reads(open_openpyxl, data)


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_the_usual_shapes_are_read_directly(name: str) -> None:
    assert isinstance(open_direct(dict(ALL)[name]), DirectBook)


def test_the_comparison_sees_dates_percentages_and_shared_strings() -> None:
    reads = _reads(open_workbook, dict(ALL)["shared strings form"])
    grid = next(r for r in reads if r[0] != "sheets" and r[1] == 60)
    types = {t for _, _, t in grid[2]}
    assert {"datetime", "float", "int", "str"} <= types
    assert grid[3]  # a percentage cell
    assert any(r[0] == "meta" and r[1] for r in reads)
    assert repr(datetime(2023, 2, 20)) in repr(grid[2])


def test_corrupt_sheets_fall_back_to_openpyxl() -> None:
    """Broken XML after the rows: the direct reader stands aside and openpyxl's error stands."""
    data = dict(ALL)["broken after the rows"]
    with pytest.raises(Exception):  # noqa: B017  # whichever error the direct reader meets
        open_direct(data)
    assert _reads(open_workbook, data)[0] == "read failed"


def test_a_form_saved_by_libreoffice_reads_the_same(tmp_path: Path) -> None:
    source = tmp_path / "form.xlsx"
    source.write_bytes(fill_form(blank("monthly"), FORM_KEY))
    saved = tmp_path / "saved.xlsx"
    edits = [("月度报告", "F14", "type", "2023-02-20"), ("月度报告", "D15", "type", "85%"),
             ("月度报告", "D16", "type", "1,200"), ("月度报告", "G14", "type", "=1/0")]  # fmt: skip
    with calc(tmp_path) as office:  # Calc keeps shared strings, typed dates and percentages
        office.edit(source, [(saved, XLSX_FILTER)], edits)
    data = saved.read_bytes()
    assert isinstance(open_direct(data), DirectBook)
    assert _reads(open_workbook, data) == _reads(open_openpyxl, data)


def test_large_sheets_are_left_to_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sheets are parsed whole here, so past a total size openpyxl streams them instead."""
    data = dict(ALL)["filled monthly form"]
    monkeypatch.setattr(direct, "MAX_SHEETS_BYTES", 10_000)  # the form's sheets: ~23 KB
    with pytest.raises(direct.NotPlain):
        direct.open_direct(data)
    assert not isinstance(open_workbook(data), DirectBook)
    monkeypatch.undo()
    assert _reads(open_workbook, data) == _reads(open_openpyxl, data)
