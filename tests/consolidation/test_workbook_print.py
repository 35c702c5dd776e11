"""The summary workbook on paper, as the office prints it for the monthly meeting on an A4-only
printer: each seed's month consolidated, the 汇总表 converted to PDF by LibreOffice
(``tests/libreoffice.py``) and read back page by page; the unit lists checked against the seed
policy's responsibilities as loaded, not against what the workbook code computes.

Before this layout 措施进展 printed on A3: 9 pages at 6.8-pt type (陵川) and 5 at 7.3-pt (新绛);
shrunk to A4 that is 4.8 / 5.2-pt.
"""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from tests.consolidation_fixture import consolidate_month
from tests.helpers import ROOT, load_seeds
from tests.libreoffice import convert, pdf_pages

MONTHS = {"lingchuan-2023-02": "lingchuan-2023", "xinjiang-2022-11": "xinjiang-2022"}
SCREENSHOTS = ROOT / "var" / "screenshots"
# Pages per sheet, in sheet order. 措施责任单位 (a row per measure and unit) comes last: the office
# prints the sheets before it for the meeting.
PAGES = {
    "lingchuan-2023-02": {"报送情况": 3, "措施进展": 4, "问题困难": 1, "下一步措施": 1,
                          "台账质量": 1, "措施责任单位": 17},
    "xinjiang-2022-11": {"报送情况": 2, "措施进展": 5, "临期和逾期事项": 1, "问题困难": 1,
                         "下一步措施": 1, "措施责任单位": 10},
}  # fmt: skip
A4_LANDSCAPE = (841.9, 595.3)  # points
MEASURE_HEADERS = ("编号", "措施", "牵头/责任单位", "进展状态", "量化目标（计量单位）", "目标值",
                   "完成时限", "完成值", "完成率", "序时进度", "灯")  # fmt: skip
SMALLEST_TYPE = 9.0  # points: 小五, the smallest a table for leaders is set in


@dataclass(frozen=True)
class Word:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(frozen=True)
class Page:
    number: int
    sheet: str  # from the page header, “…汇总表 <sheet>”
    width: float
    height: float
    text: str
    words: tuple[Word, ...]


def _read_pdf(pdf: Path) -> list[Page]:
    """Each page's size, text and words with their boxes (pdftotext -bbox, poppler-utils)."""
    texts = pdf_pages(pdf)
    boxes = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                           text=True, timeout=60, check=True).stdout  # fmt: skip
    pages: list[Page] = []
    found = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', boxes, re.S)
    for number, (width, height, body) in enumerate(found, start=1):
        words = tuple(
            Word(float(a), float(b), float(c), float(d), text)
            for a, b, c, d, text in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<',
                body,
            )
        )
        text = texts[number - 1]
        sheet = text.strip().splitlines()[0].split()[-1]
        pages.append(Page(number, sheet, float(width), float(height), text, words))
    return pages


def _type_size(page: Page) -> float:
    """The printed size of the table's type: the advance of a CJK character in the header row."""
    header = [w for w in page.words if w.text in MEASURE_HEADERS and re.fullmatch(r"\w+", w.text)]
    sizes = sorted((w.x1 - w.x0) / len(w.text) for w in header)
    return sizes[len(sizes) // 2]


def _table_extent(pdf: Path, page: Page) -> tuple[float, float]:
    """The table's margins left and right in points: where ink starts and ends between the
    page header and footer (a grey-scale rendering, the table's borders being the outermost)."""
    dpi = 72
    gray = subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page.number), "-l",
                           str(page.number), "-singlefile", str(pdf)],
                          capture_output=True, timeout=60, check=True).stdout  # fmt: skip
    magic, width, height, _, pixels = gray.split(maxsplit=4)
    assert magic == b"P5"
    columns, rows = int(width), int(height)
    inked: set[int] = set()
    for y in range(int(0.9 * dpi), rows - int(0.9 * dpi)):  # below the header, above the footer
        line = pixels[y * columns : (y + 1) * columns]
        inked.update(x for x, value in enumerate(line) if value < 192)
    scale = 72 / dpi
    return min(inked) * scale, page.width - (max(inked) + 1) * scale


@pytest.fixture(params=sorted(MONTHS))
def month(request: pytest.FixtureRequest, settings: Settings) -> tuple[str, Path, Settings]:
    """A seed's month consolidated: (fixture name, the workbook, the settings of its database)."""
    name = request.param
    load_seeds(settings, MONTHS[name])
    _, result = consolidate_month(settings, name)
    return name, result.files[2], settings


def test_measure_sheet_prints_on_a4_landscape(
    month: tuple[str, Path, Settings], tmp_path: Path
) -> None:
    name, workbook, _ = month
    pdf = convert(workbook, "pdf", tmp_path / "pdf")
    pages = _read_pdf(pdf)
    counts: dict[str, int] = {}
    for page in pages:
        counts[page.sheet] = counts.get(page.sheet, 0) + 1
    assert counts == PAGES[name]

    measures = [p for p in pages if p.sheet == "措施进展"]
    for page in measures:
        where = f"{name} page {page.number}"
        assert (page.width, page.height) == pytest.approx(A4_LANDSCAPE, abs=1), where
        # The header row, repeated on every page: its cells in order on one line.
        header = [line for line in page.text.splitlines() if "牵头/责任单位" in line]
        assert header, f"{where}: no header row"
        assert re.search(".*".join(map(re.escape, MEASURE_HEADERS)), header[0]), where
        # Fit to one page wide, at a size a leader reads without glasses.
        assert _type_size(page) >= SMALLEST_TYPE, f"{where}: {_type_size(page):.1f}-pt type"
        table = [w for w in page.words if w.y0 > 45 and w.y1 < page.height - 45]
        assert min(w.x0 for w in table) >= 0.3 * 72 and max(w.x1 for w in table) <= (
            page.width - 0.3 * 72
        ), f"{where}: the table runs into the side margin"

    for page in pages:
        # The footer whole on the page, below the table and clear of the edge.
        lowest = max(w.y0 for w in page.words)
        footer = [w for w in page.words if w.y0 >= lowest - 2]
        rest = [w for w in page.words if w.y0 < lowest - 2]
        where = f"{name} page {page.number} ({page.sheet})"
        assert "".join(w.text for w in footer) == f"第{page.number}页，共{len(pages)}页", where
        assert max(w.y1 for w in footer) <= page.height - 0.2 * 72, f"{where}: footer cut"
        assert min(w.y0 for w in footer) > max(w.y1 for w in rest), f"{where}: footer on table"

    # Every sheet is centred and uses the width: its table's borders span the page between
    # equal margins of 0.4" (29 pt), a little more where the scale LibreOffice picks leaves slack.
    for page in pages:
        left, right = _table_extent(pdf, page)
        where = f"{name} page {page.number} ({page.sheet}): {left:.0f}/{right:.0f} pt"
        assert abs(left - right) <= 6 and 20 <= left <= 50, where

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOTS / f"summary-workbook-measures-{name}.png"
    first = measures[0].number
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", str(first), "-l", str(first),
                    "-singlefile", str(pdf), str(png.with_suffix(""))],
                   capture_output=True, timeout=60, check=True)  # fmt: skip
    assert png.stat().st_size > 10_000
    print(f"{name}: pages {counts}; 措施进展 type {_type_size(measures[0]):.1f} pt; {png}")


def _responsibilities(settings: Settings, policy: str) -> list[tuple[str, str, str]]:
    """(measure number, unit name, role) of the seed policy as loaded, in the notice's order."""
    with session_scope(settings) as session:
        rows = session.exec(
            select(t.Measure.number, t.Unit.name, t.Responsibility.role)
            .join(t.Responsibility, col(t.Responsibility.measure_id) == t.Measure.id)
            .join(t.Unit, col(t.Unit.id) == t.Responsibility.unit_id)
            .join(t.Policy, col(t.Policy.id) == t.Measure.policy_id)
            .where(t.Policy.code == policy, col(t.Measure.retired_at).is_(None))
            .order_by(col(t.Measure.id), col(t.Responsibility.position))
        ).all()
    return [(number, unit, role) for number, unit, role in rows]


def test_unit_lists_name_the_leads_and_the_full_list_has_every_unit(
    month: tuple[str, Path, Settings],
) -> None:
    name, workbook, settings = month
    named = _responsibilities(settings, MONTHS[name])
    leads: dict[str, list[str]] = {}
    explicit: dict[str, list[str]] = {}  # the units the notice says lead (牵头), where it says
    for number, unit, role in named:
        if role in ("lead", "responsible"):
            leads.setdefault(number, []).append(unit)
        if role == "lead":
            explicit.setdefault(number, []).append(unit)
    wb = openpyxl.load_workbook(io.BytesIO(workbook.read_bytes()))

    sheet = wb["措施进展"]
    header = [cell.value for cell in sheet[1]]
    number_at, units_at = header.index("编号"), header.index("牵头/责任单位")
    checked = set()
    for row in sheet.iter_rows(min_row=2, values_only=True):
        number, text = str(row[number_at]), str(row[units_at] or "").replace("\n", "")
        own = leads.get(number, [])
        shortened = re.fullmatch(r"(.+?)等(\d+)个单位", text)
        if shortened is None:
            # Two or fewer: all of them, in the notice's order.
            assert len(own) <= 2 and text == "、".join(own), (number, text, own)
        else:
            # More: the first named (a 牵头 unit where the notice says which), then the count.
            first, count = shortened.groups()
            assert "、" not in first and first == own[0], (number, text, own)
            assert int(count) == len(own), (number, text, len(own))
            if number in explicit:
                assert first in explicit[number], (number, first, explicit[number])
        checked.add(number)
    assert {number for number, _, _ in named} <= checked  # every measure has its row

    # The full list: every unit of every measure once, with its role.
    full = wb["措施责任单位"]
    assert [cell.value for cell in full[1]][:4] == ["措施编号", "措施", "单位", "分工"]
    listed = [
        tuple(row[i] for i in (0, 2, 3)) for row in full.iter_rows(min_row=2, values_only=True)
    ]
    roles = {"lead": "牵头/负责", "responsible": "牵头/负责", "support": "配合"}
    assert sorted(listed) == sorted((n, u, roles[r]) for n, u, r in named)
    assert len(named) > 150  # the seed's lists, not an empty policy
