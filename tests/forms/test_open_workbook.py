"""open_openpyxl (open_workbook's fallback) reads values as openpyxl's own read-only load does,
without the full stylesheet.

Every cell of every sheet (value, type, number format) and every failure is compared with
``openpyxl.load_workbook(read_only=True, data_only=True)`` over the intake corpus's workbooks,
a filled form, and workbooks with dates, durations, percentages and missing or broken styles.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import openpyxl
import pytest

from tasks.demo.bureaus import fill_form
from tasks.forms.read import open_openpyxl
from tests.forms.blank_forms import blank
from tests.helpers import DATA, FORM_KEY


def _reference(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)


def _cells(open_: Callable[[bytes], Any], data: bytes) -> Any:
    """Every non-empty cell as (sheet, row, column, value, type, format), or the error's type."""
    try:
        wb = open_(data)
    except Exception as exc:
        return ("open failed", type(exc).__name__)
    try:
        found = [("sheets", tuple(wb.sheetnames))]
        for name in wb.sheetnames:
            for row in wb[name].iter_rows():
                for cell in row:
                    value = getattr(cell, "value", None)
                    if value is not None:
                        found.append(
                            (name, cell.row, cell.column, repr(value), cell.data_type,
                             cell.number_format)
                        )  # fmt: skip
            # as values.py reads a form: a rectangle, from a sheet that may go on below it
            for row in wb[name].iter_rows(min_row=1, max_row=12, max_col=5, values_only=True):
                found.append((name, "rectangle", repr(row)))
        return found
    except Exception as exc:
        return ("read failed", type(exc).__name__)
    finally:
        wb.close()


def _corpus_workbooks() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted((DATA / "intake").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        for part in message.walk():
            payload = None if part.is_multipart() else part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload.startswith(b"PK"):
                found.append((f"{path.stem}/{part.get_filename()}", payload))
    return found


def _formats_workbook() -> bytes:
    """Numbers under built-in and custom formats: dates, times, durations, percentages."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "格式"
    cases: list[tuple[Any, str]] = [
        (datetime(2023, 2, 28, 17, 30), "yyyy-mm-dd hh:mm"),
        (date(2023, 3, 1), "yyyy/m/d"),
        (date(2023, 3, 1), 'yyyy"年"m"月"d"日"'),
        (time(8, 15), "h:mm"),
        (timedelta(hours=30, minutes=5), "[h]:mm:ss"),
        (0.85, "0%"),
        (0.125, "0.0%"),
        (12, '0"%"'),
        (12, "0\\%"),
        (1234.5, "#,##0.00"),
        (3, "General"),
        (45000, "mm-dd-yy"),  # a built-in id (14 in Excel's table)
        ("文字", "@"),
        (True, "General"),
    ]
    for row, (value, fmt) in enumerate(cases, start=1):
        ws.cell(row, 1, value).number_format = fmt
        ws.cell(row, 2, f"=A{row}")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rezip(data: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = change(info.filename, source.read(info))
            if body is not None:
                target.writestr(info.filename, body)
    return out.getvalue()


def _styles(change: Callable[[bytes], bytes | None]) -> Callable[[str, bytes], bytes | None]:
    return lambda name, body: change(body) if name == "xl/styles.xml" else body


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    return lambda body: body.replace(old, new)


def _sheet1(change: Callable[[bytes], bytes]) -> Callable[[str, bytes], bytes | None]:
    return lambda name, body: change(body) if name == "xl/worksheets/sheet1.xml" else body


def _inline(body: bytes) -> Callable[[bytes], bytes]:
    """Every inline string of the sheet replaced by ``body``."""
    return lambda sheet: re.sub(rb"<is>.*?</is>", body, sheet)


def _cases() -> list[tuple[str, bytes]]:
    formats = _formats_workbook()
    filled = fill_form(blank("monthly"), FORM_KEY)

    def styles(change: Callable[[bytes], bytes | None]) -> bytes:
        return _rezip(formats, _styles(change))

    def inline(body: bytes) -> bytes:
        return _rezip(filled, _sheet1(_inline(body)))

    return [
        *_corpus_workbooks(),
        ("filled monthly form", filled),
        ("formats", formats),
        ("no styles part", styles(lambda body: None)),
        ("no cellXfs", styles(lambda body: body.split(b"<cellXfs")[0] + b"</styleSheet>")),
        ("no numFmts", styles(_replace(b"numFmt", b"xnumFmt"))),
        ("broken styles xml", styles(lambda body: body[: len(body) // 2])),
        ("bogus numFmtId", styles(_replace(b'numFmtId="', b'numFmtId="x'))),
        ("unknown built-in format", styles(_replace(b'numFmtId="9"', b'numFmtId="77"'))),
        (
            "broken after the rows",
            _rezip(filled, _sheet1(lambda b: b[: b.index(b"</sheetData>") + 40])),
        ),
        (
            "unknown elements",
            _rezip(filled, _sheet1(_replace(b"<sheetData>", b"<x:y xmlns:x='u'/><sheetData>"))),
        ),
        (
            "inline rich text",
            _rezip(filled, _sheet1(_inline(b"<is><r><t>a</t></r><r><t>b</t></r></is>"))),
        ),
        ("inline empty text", inline(b"<is><t/></is>")),
        ("inline two texts", inline(b"<is><t>a</t><t>b</t></is>")),
        (
            "inline text and run",
            _rezip(filled, _sheet1(_inline(b"<is><t>a</t><r><t>b</t></r></is>"))),
        ),
        ("inline empty", inline(b"<is/>")),
        (
            "inline spaces",
            _rezip(filled, _sheet1(_inline(b'<is><t xml:space="preserve"> a </t></is>'))),
        ),
        (
            "inline other namespace",
            _rezip(filled, _sheet1(_inline(b"<is><x:t xmlns:x='u'>a</x:t></is>"))),
        ),
        ("inline without is", inline(b"")),
        ("style index past cellXfs", _rezip(filled, _sheet1(_replace(b' s="', b' s="9')))),
    ]


CASES = _cases()


@pytest.mark.parametrize(("name", "data"), CASES, ids=[name for name, _ in CASES])
def test_cells_read_as_openpyxl_reads_them(name: str, data: bytes) -> None:
    assert _cells(open_openpyxl, data) == _cells(_reference, data)


def test_the_cases_hold_what_they_claim() -> None:
    """The comparison sees dates, durations, percentages and failures, not only text."""
    cells = [c for c in _cells(open_openpyxl, dict(CASES)["formats"]) if len(c) == 6]
    types = {c[4] for c in cells}
    formats = {c[5] for c in cells}
    assert {"d", "n", "s", "b"} <= types
    assert {"0%", "[h]:mm:ss", "mm-dd-yy"} <= formats
    assert _cells(open_openpyxl, dict(CASES)["broken styles xml"])[0] == "open failed"
    assert _cells(open_openpyxl, dict(CASES)["broken after the rows"])[0] == "read failed"
    assert len(_corpus_workbooks()) >= 10
