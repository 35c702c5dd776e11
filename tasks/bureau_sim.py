"""Filling a built form as a bureau would, for tests: every fill-in cell the signed layout names.

Opens the workbook with openpyxl in normal mode, writes the cells and saves it again, which keeps
the very hidden ``_meta`` sheet and so the signature (``fill_form`` checks that it still verifies).
"""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

from tasks.forms import input_cells, read_form_metadata

DAY = date(2023, 1, 18)


def fill_form(
    data: bytes,
    key: bytes,
    *,
    status: str = "推进中",
    value: float = 100.0,
    text: str = "……",
    day: date = DAY,
    overrides: Mapping[str, Any] | None = None,
    skip: Collection[str] = (),
) -> bytes:
    """The form with every input cell filled: ``status`` in status lists (the first choice in other
    lists, "是"), ``value`` in number cells, ``day`` in date cells and ``text`` in text cells that
    are empty (a pre-filled 预期目标 stays as issued, as a bureau leaves it). ``overrides`` set any
    cell by address, input or not (None clears it); ``skip`` leaves input cells empty.
    """
    meta = read_form_metadata(data, key)
    layout = meta.layout
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[layout.sheet]
    assert isinstance(ws, Worksheet)
    types = {c.cell: (c.type, c.choices) for c in layout.cells}
    if layout.table is not None:
        for row in layout.table.rows:
            for column in layout.table.columns:
                types[f"{column.column}{row.row}"] = (column.type, column.choices)
    for cell, _, _ in input_cells(layout):
        cell_type, choices = types[cell]
        if cell in skip:
            ws[cell] = None
        elif cell_type == "choice":
            ws[cell] = status if status in choices or not choices else choices[0]
        elif cell_type == "number":
            ws[cell] = value
        elif cell_type == "date":
            ws[cell] = day
        elif ws[cell].value is None:
            ws[cell] = text
    for cell, given in (overrides or {}).items():
        ws[cell] = given
    out = io.BytesIO()
    wb.save(out)
    filled = out.getvalue()
    assert read_form_metadata(filled, key) == meta, "filling must keep the signed metadata"
    return filled
