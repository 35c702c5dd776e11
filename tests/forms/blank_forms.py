"""Blank forms of the seeds, built once per test process: the forms the value tests fill."""

from __future__ import annotations

from datetime import date
from functools import cache

from tasks.forms.build import build_form
from tasks.forms.layout import FormMetadata, form_spec_from_context
from tasks.forms.read import read_form_metadata
from tests.helpers import FORM_KEY, form_context

FORMS: dict[str, tuple[str, str, str, str, str, date]] = {
    "ledger": ("lingchuan-2023", "implementation-ledger", "县能源局", "2023", "2023年1月20日",
               date(2023, 1, 20)),
    "roster": ("lingchuan-2023", "taskforce-setup", "县能源局", "2023", "2023年1月20日",
               date(2023, 1, 20)),
    "monthly": ("lingchuan-2023", "monthly-progress", "县能源局", "2023-02", "2023年2月",
                date(2023, 3, 5)),
    "monthly-fgj": ("lingchuan-2023", "monthly-progress", "县发改局", "2023-02", "2023年2月",
                    date(2023, 3, 5)),
    "summary": ("xinjiang-2022", "monthly-summary", "县交通运输局", "2022-10", "2022年10月",
                date(2022, 11, 10)),
}  # fmt: skip


@cache
def blank(form: str) -> bytes:
    return build_form(form_spec_from_context(form_context(*FORMS[form])), FORM_KEY)


@cache
def metadata(form: str) -> FormMetadata:
    return read_form_metadata(blank(form), FORM_KEY)
