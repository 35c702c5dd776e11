"""The annual roll-up's outputs: Markdown, printable HTML and a workbook, all deterministic."""

from __future__ import annotations

import io

from jinja2 import Environment
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from tasks.consolidation.annual import AnnualRollup
from tasks.forms.xlsx import save_deterministic
from tasks.render import shared_environment

HEADERS = (
    "单位", "应报期数", "按时", "逾期", "未报", "退回未改", "按时报送率", "逾期月份", "未报月份",
    "牵头目标", "已完成目标", "督办立案", "督办办结",
)  # fmt: skip
WIDTHS = (22, 9, 7, 7, 7, 9, 11, 24, 24, 9, 11, 9, 9)


def annual_markdown(rollup: AnnualRollup, env: Environment | None = None) -> str:
    return (env or shared_environment()).get_template("reports/annual.md").render(rollup=rollup)


def annual_html(rollup: AnnualRollup, env: Environment | None = None) -> str:
    return (env or shared_environment()).get_template("reports/annual.html").render(rollup=rollup)


def annual_workbook_filename(rollup: AnnualRollup) -> str:
    return f"{rollup.year}年度{rollup.obligation_name}报送情况汇总表.xlsx"


def annual_workbook(rollup: AnnualRollup) -> bytes:
    """One sheet, a row per unit; file times fixed to as_of so equal input gives equal bytes."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "年度汇总"
    ws.append(list(HEADERS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for r in rollup.rows:
        ws.append([
            r.name, r.months, r.on_time, r.late, r.missing, r.rejected,
            round(r.on_time_rate, 4), "、".join(r.late_months), "、".join(r.missing_months),
            r.targets_led, r.targets_reached, r.cases_opened, r.cases_closed,
        ])  # fmt: skip
        ws.cell(ws.max_row, 7).number_format = "0.0%"
    for index, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "B2"
    buffer = io.BytesIO()
    save_deterministic(wb, buffer, rollup.as_of)
    return buffer.getvalue()
