"""The forms as a bureau prints them to stamp: each form of each seed converted to PDF by
LibreOffice Calc, then read back page by page. Page 1 of each blank form is kept as a PNG under
./var/screenshots/ for a person to look at."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from tasks.forms.build import page_breaks, wrap_cjk
from tasks.forms.read import read_form_metadata
from tests.forms.test_forms import CASE_IDS, built
from tests.helpers import FORM_KEY, ROOT
from tests.libreoffice import PdfPage, convert_all, first_page_png, pdf_pages, pdf_words, soffice

SCREENSHOTS = ROOT / "var" / "screenshots"

# What each form prints on. 专班建立情况 is one portrait page; the monthly report gives its three
# text sections page 1 and the measure table the rest; the ledger's table starts on page 1.
PAGES = {"lc-ledger": 3, "lc-setup": 1, "lc-monthly": 3, "xj-monthly": 2}

_HEADING = re.compile(r"^[一二三四五六七八九十]、")
_NO_LINE_START = "、；：，。）"


@dataclass(frozen=True)
class Printed:
    sheet: Worksheet  # the filled-in copy, as printed
    blank: list[str]  # page texts of the form as issued
    filled: list[str]  # page texts with every text box filled in
    words: list[PdfPage]  # of the form as issued


def _fill_text_boxes(data: bytes) -> bytes:
    """Type a short marker into every free-text fill-in cell, so each box shows on paper."""
    layout = read_form_metadata(data, FORM_KEY).layout
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[layout.sheet]
    for cell in layout.cells:
        if cell.type == "text":
            ws[cell.cell] = f"【{cell.cell}】已填"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Printed]:
    soffice()
    out = tmp_path_factory.mktemp("print")
    sources: list[Path] = []
    sheets: dict[str, Worksheet] = {}
    for case in CASE_IDS:
        filled = _fill_text_boxes(built(case))
        (out / f"{case}.xlsx").write_bytes(built(case))
        (out / f"{case}-filled.xlsx").write_bytes(filled)
        sources += [out / f"{case}.xlsx", out / f"{case}-filled.xlsx"]
        ws = openpyxl.load_workbook(io.BytesIO(filled)).worksheets[0]
        assert isinstance(ws, Worksheet)
        sheets[case] = ws
    convert_all(sources, "pdf", out)  # one soffice start for all eight
    result = {}
    for case in CASE_IDS:
        blank = out / f"{case}.pdf"
        first_page_png(blank, SCREENSHOTS / f"form-{case}.png", dpi=100)
        result[case] = Printed(
            sheets[case],
            pdf_pages(blank),
            pdf_pages(out / f"{case}-filled.pdf"),
            pdf_words(blank),
        )
    return result


@pytest.mark.parametrize("case", CASE_IDS)
def test_page_count(printed: dict[str, Printed], case: str) -> None:
    assert len(printed[case].blank) == PAGES[case]
    assert len(printed[case].filled) == PAGES[case]  # typed-in text does not move a page


def _box_start(ws: Worksheet, heading: int) -> str:
    """A text that only the first row of the box under a heading row prints."""
    first = [str(c.value) for c in ws[heading + 1] if c.value is not None]
    if first and first[0] == "措施编号":  # a table: its header repeats, so take the first title
        return str(ws.cell(heading + 2, 2).value)[:6]
    if first and first[0].startswith("【"):  # a text box: its marker
        return first[0].split("】")[0] + "】"
    return first[0][:6]  # a roster row's label


@pytest.mark.parametrize("case", CASE_IDS)
def test_each_heading_shares_a_page_with_the_start_of_its_box(
    printed: dict[str, Printed], case: str
) -> None:
    ws, pages = printed[case].sheet, printed[case].filled
    headings = [
        (row, str(ws.cell(row, 1).value))
        for row in range(1, ws.max_row + 1)
        if _HEADING.match(str(ws.cell(row, 1).value or ""))
    ]
    assert len(headings) >= 2
    for row, heading in headings:
        where = [i for i, page in enumerate(pages) if heading in page.replace(" ", "")]
        assert len(where) == 1, f"{heading} is printed on pages {where}"
        start = _box_start(ws, row)
        page = pages[where[0]].replace(" ", "")
        assert start in page[page.index(heading) :], (
            f"{heading} ends page {where[0] + 1}: its box ({start}) starts on the next"
        )


@pytest.mark.parametrize("case", CASE_IDS)
def test_page_footer_is_whole_on_every_page(printed: dict[str, Printed], case: str) -> None:
    margins = printed[case].sheet.page_margins
    pages = printed[case].words
    for number, page in enumerate(pages, start=1):
        footer = [w for w in page.words if w.y_min > page.height - margins.bottom * 72]
        assert "".join(w.text for w in footer) == f"第{number}页，共{len(pages)}页"
        # LibreOffice sets the footer's last line on the footer margin and clips whatever runs
        # past it (at bottom 0.6", footer 0.5" the line was cut in half): the line's box,
        # descent included, stays within the margin band.
        for word in footer:
            assert word.y_max <= page.height - margins.footer * 72 + 1.5, (number, word)


@pytest.mark.parametrize("case", CASE_IDS)
def test_no_wrapped_line_starts_with_a_closing_mark(printed: dict[str, Printed], case: str) -> None:
    """LibreOffice 7.4 does not apply CJK line-start rules here: the form breaks its own lines."""
    for number, page in enumerate(printed[case].blank, start=1):
        for line in page.splitlines():
            for segment in re.split(r"\s{2,}", line.strip()):
                assert not segment or segment[0] not in _NO_LINE_START, (number, line)


# ---------------------------------------------------------------------------------------------
# Where the form puts its page breaks and line breaks (pure functions, no LibreOffice)


@pytest.mark.parametrize(
    ("heights", "keep", "repeat", "breaks"),
    [
        ([10, 10, 10], set(), None, []),  # fits
        ([40, 40, 40], set(), None, [2]),  # fills page 1, then breaks
        ([40, 40, 40], {2}, None, [1]),  # row 2 keeps with row 3: both move
        ([30, 30, 30, 30], {1, 2}, None, [3]),  # a run of kept rows moves as one block
        ([150, 10], set(), None, [1]),  # a block taller than a page starts its own page
        ([60, 10, 30, 30, 30], set(), (2, 2), [3]),  # after the break the header repeats:
        ([60, 10, 20, 20, 20, 30, 30], set(), (2, 2), [3, 6]),  # ...and takes its room
    ],
)
def test_page_breaks(
    heights: list[float], keep: set[int], repeat: tuple[int, int] | None, breaks: list[int]
) -> None:
    assert page_breaks(heights, keep, 100, repeat) == breaks


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("开工率：40%（2023年3月31日前）", 24, ["开工率：40%", "（2023年3月31日前）"]),
        ("短目标：1个（2023年12月31日前）", 60, ["短目标：1个（2023年12月31日前）"]),
        # a comma or a closing bracket goes with the character before it, never starts a line
        ("一二三四五六七八九十一二三四，五", 30, ["一二三四五六七八九十一二三", "四，五"]),
        ("一二三四五六七八九十一二三四）五", 30, ["一二三四五六七八九十一二三", "四）五"]),
        # a mail address or a number is never split
        ("回复至 taskforce-office@example.org。", 20, ["回复至", "taskforce-office@example.org。"]),
    ],
)  # fmt: skip
def test_wrap_cjk(text: str, width: float, lines: list[str]) -> None:
    wrapped = wrap_cjk(text, width)
    assert wrapped.split("\n") == lines
    assert wrapped.replace("\n", "") == text.replace(" ", "")
