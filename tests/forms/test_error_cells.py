"""Cells showing a formula error (#NAME? from typing ``=资金缺口较大``, #N/A, …) are issues that
name the sheet, the cell and what to do; they never fill a required field."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tasks.demo.bureaus import fill_form
from tasks.forms.layout import CellType
from tasks.forms.read import input_cells
from tasks.forms.values import read_form
from tests.forms.blank_forms import blank, metadata
from tests.helpers import FORM_KEY

ERRORS = ["#NAME?", "#N/A", "#VALUE!", "#DIV/0!", "#REF!", "#NUM!", "#NULL!"]
ADVICE = {
    "text": "请去掉开头的等号，直接填写文字",
    "number": "请直接填写数字，不要使用公式",
    "date": "请直接填写日期（如2023-01-18），不要使用公式",
    "choice": "请从下拉列表中选择",
}


def first_cell(form: str, wanted: CellType, required: bool = True) -> str:
    """The first fill-in cell of that type (read from the signed layout, not assumed)."""
    layout = metadata(form).layout
    types = {c.cell: (c.type, c.required) for c in layout.cells}
    if layout.table is not None:
        for row in layout.table.rows:
            for column in layout.table.columns:
                types[f"{column.column}{row.row}"] = (column.type, column.required)
    return next(cell for cell, _, _ in input_cells(layout) if types[cell] == (wanted, required))


CASES = [("monthly", "text"), ("monthly", "number"), ("monthly", "choice"), ("roster", "choice"),
         ("roster", "text"), ("ledger", "text")]  # fmt: skip


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize(("form", "cell_type"), CASES)
def test_an_error_cell_is_an_issue_naming_cell_and_remedy(
    form: str, cell_type: CellType, error: str
) -> None:
    cell = first_cell(form, cell_type)
    # openpyxl stores these strings as error cells (t="e"), as Excel and Calc save them.
    data = fill_form(blank(form), FORM_KEY, overrides={cell: error})
    reading = read_form(data, metadata(form))
    assert [(i.sheet, i.cell) for i in reading.issues] == [(metadata(form).layout.sheet, cell)]
    problem = reading.issues[0].problem
    assert problem.endswith(f"显示 {error}（公式错误）：{ADVICE[cell_type]}")
    assert "未填写" not in problem and not reading.valid
    assert error not in repr(reading.fields) + repr([m.fields for m in reading.measures])


def test_an_optional_date_showing_an_error_is_still_an_issue() -> None:
    cell = first_cell("roster", "date", required=False)
    data = fill_form(blank("roster"), FORM_KEY, overrides={cell: "#VALUE!"})
    [issue] = read_form(data, metadata("roster")).issues
    assert (issue.cell, issue.problem.split("：", 1)[-1]) == (cell, ADVICE["date"])


def test_a_formula_read_without_computed_values_names_the_formula() -> None:
    """A workbook opened without data_only (or a formula whose value was not kept)."""
    cell = first_cell("monthly", "text")
    data = fill_form(blank("monthly"), FORM_KEY, overrides={cell: "=资金缺口较大"})
    formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        reading = read_form(data, metadata("monthly"), workbook=formulas)
    finally:
        formulas.close()
    [issue] = reading.issues
    assert (issue.cell, issue.problem.endswith("是公式“=资金缺口较大”，不是填写的内容："
                                                 f"{ADVICE['text']}")) == (cell, True)  # fmt: skip
    # Read as intake reads (cached values): openpyxl kept none, so the field is empty.
    [empty] = read_form(data, metadata("monthly")).issues
    assert (empty.cell, "未填写" in empty.problem) == (cell, True)


def test_text_that_merely_contains_a_hash_is_text() -> None:
    cell = first_cell("monthly", "text")
    data = fill_form(blank("monthly"), FORM_KEY, overrides={cell: "完成率#N/A待核"})
    reading = read_form(data, metadata("monthly"))
    assert reading.valid
