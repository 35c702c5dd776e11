"""Measure deadlines in the monthly consolidation, on real dates of both seeds: the lights, the
bulletin's 临期和逾期事项 table and its sentence in 综合研判, the summary workbook's sheet and the
Prefect artifact.

The expected texts are what the seed policies say and what a county leader must read: 陵川
measure 12 (门票补贴, “2023年6月前”, led by 县文旅局、县财政局、the 11 townships and 示范区管委会)
and 26(1) (失业保险费率“政策执行至2023年4月30日”, a policy window); 新绛 measure 11 (农村寄递
物流“2022年底”全覆盖, led by 县发改局), due on Saturday 31 December 2022, inside the 元旦
holiday. Every month is recorded through the intake's own records (tests/consolidation_fixture.py).
"""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from config.settings import Settings
from models.consolidation_store import load_consolidation_input
from models.db import session_scope
from models.deadline_store import extend_deadline
from tasks.calendar import SHANGHAI
from tasks.consolidation.bulletin import bulletin_html, bulletin_markdown, summary_lines
from tasks.consolidation.consolidate import (
    Consolidation,
    MeasureRow,
    consolidate,
    listed_deadline,
)
from tasks.consolidation.workbook import summary_workbook
from tasks.deadlines import Extension, MeasureDeadline, stand
from tests.consolidation_fixture import record_month
from tests.helpers import load_seeds

LINGCHUAN = "lingchuan-2023"
XINJIANG = "xinjiang-2022"
REASON = "省级门票补贴资金尚未下达"


def _month(
    policy: str, period: str, as_of: str, received: str, status: str = "推进中"
) -> dict[str, Any]:
    """Every obligated unit reported on time with ``status`` on each of its measures."""
    obligation = "monthly-progress" if policy == LINGCHUAN else "monthly-summary"
    return {
        "policy": policy, "obligation": obligation, "period": period, "as_of": as_of,
        "default": {"received": f"{received}:00+08:00", "status": status, "share": 0.5},
        "units": {},
    }  # fmt: skip


def _consolidated(settings: Settings, spec: dict[str, Any]) -> Consolidation:
    recorded = record_month(settings, spec)
    with session_scope(settings) as session:
        data = load_consolidation_input(
            session, spec["policy"], period=spec["period"], as_of=recorded["as_of"]
        )
    return consolidate(data)


def _measure(c: Consolidation, number: str) -> MeasureRow:
    (found,) = [m for m in c.measures if m.number == number]
    return found


def _deadline_table(markdown: str) -> list[list[str]]:
    """The 临期和逾期事项 table's rows (header included), [] when the section is absent."""
    if "临期和逾期事项\n" not in markdown:
        return []
    section = markdown.split("临期和逾期事项\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def _judgement(markdown: str) -> str:
    return markdown.split("## 一、综合研判", 1)[1].split("## 二、", 1)[0]


def test_march_2023_lists_the_unemployment_insurance_window_end_without_a_light(
    settings: Settings,
) -> None:
    load_seeds(settings, LINGCHUAN)
    c = _consolidated(
        settings, _month(LINGCHUAN, "2023-03", "2023-04-10T09:00:00+08:00", "2023-04-03T09:00")
    )
    markdown = bulletin_markdown(c)
    # 26(1)'s rate cut ends on Sunday 30 April, 20 days after the bulletin; 12 (30 June) and
    # the June windows of 31 and 32 are 81 days away: not yet worth a leader's time.
    assert _deadline_table(markdown) == [
        ["措施", "牵头单位", "完成时限", "剩余/逾期天数", "报送进展", "提示"],
        ["第26条第（1）项 降低失业保险费率", "县人社局、县财政局",
         "政策执行期至2023年4月30日（星期日）", "剩20天", "推进中", "到期后政策停止执行"],
    ]  # fmt: skip
    # 26(1) inherits 26's units (县人社局、县财政局), who report on it like any measure.
    # A window end never turns a light: the measure is lit by its targets alone (it has none).
    assert _measure(c, "26(1)").light == "none"
    assert (
        "第26条第（1）项降低失业保险费率，政策执行至4月30日（星期日），还有20天，到期后政策停止执行"
        in (_judgement(markdown))
    )
    # The table comes before the long measure table, and the sections are numbered on.
    assert markdown.index("## 四、临期和逾期事项") < markdown.index("## 五、措施推进情况")
    html = bulletin_html(c)
    assert "<th>剩余/<br>逾期天数</th>" in html and "政策执行期至2023年4月30日（星期日）" in html
    table = html.split("<h2>四、临期和逾期事项</h2>", 1)[1].split("<h2>", 1)[0]
    assert "light-" not in table and "<td>到期后政策停止执行</td>" in table


def test_measure_12_is_yellow_in_may_and_red_in_june_while_its_leads_report_in_progress(
    settings: Settings,
) -> None:
    load_seeds(settings, LINGCHUAN)
    may = _consolidated(
        settings, _month(LINGCHUAN, "2023-05", "2023-06-09T09:00:00+08:00", "2023-06-02T09:00")
    )
    twelve = _measure(may, "12")
    assert (twelve.status, twelve.light) == ("推进中", "yellow")
    rows = _deadline_table(bulletin_markdown(may))
    assert rows[1] == [
        "第12条 着力扩大文旅消费", "县文旅局、县财政局等14个单位", "2023年6月30日（星期五）",
        "剩21天", "推进中", "黄灯（临期）",
    ]  # fmt: skip
    # The two June policy windows (2% 激励, 贷款延期) follow, unlit.
    assert [(r[0].split()[0], r[5]) for r in rows[2:]] == [
        ("第31条", "到期后政策停止执行"), ("第32条", "到期后政策停止执行"),
    ]  # fmt: skip
    assert "第12条措施完成时限为6月30日（星期五），剩21天，牵头单位报送“推进中”" in (
        _judgement(bulletin_markdown(may))
    )
    assert "请县文旅局等牵头单位抓紧推进，确保按期完成" in _judgement(bulletin_markdown(may))

    june = _consolidated(
        settings, _month(LINGCHUAN, "2023-06", "2023-07-10T09:00:00+08:00", "2023-07-04T09:00")
    )
    twelve = _measure(june, "12")
    assert (twelve.status, twelve.light) == ("推进中", "red")
    # Red whatever its targets say: they are on schedule at half of a target by mid-year.
    assert all(t.light != "red" for t in twelve.targets)
    markdown = bulletin_markdown(june)
    assert _deadline_table(markdown)[1] == [
        "第12条 着力扩大文旅消费", "县文旅局、县财政局等14个单位", "2023年6月30日（星期五）",
        "逾期10天", "推进中", "红灯（逾期未完成）",
    ]  # fmt: skip
    judgement = _judgement(markdown)
    assert "第12条措施完成时限为6月30日（星期五），逾期10天，牵头单位报送“推进中”" in judgement
    assert "请县文旅局等牵头单位说明逾期原因、限期办结" in judgement
    # The group that covers measure 12 counts it among its red measures.
    group = next(g for g in june.groups if g.name == twelve.group)
    assert group.red >= 1
    # The leaders' mail says the same as the bulletin.
    assert any("第12条措施完成时限为6月30日" in line for line in summary_lines(june))


def test_measure_12_done_in_june_has_no_deadline_light_and_no_row(settings: Settings) -> None:
    load_seeds(settings, LINGCHUAN)
    june = _consolidated(
        settings,
        _month(LINGCHUAN, "2023-06", "2023-07-10T09:00:00+08:00", "2023-07-04T09:00", "已完成"),
    )
    twelve = _measure(june, "12")
    assert twelve.status == "已完成"
    assert twelve.deadline is not None and twelve.deadline.state == "done"
    assert twelve.light in ("green", "none")  # its targets' light, nothing from the deadline
    markdown = bulletin_markdown(june)
    # Nothing to list: no table, no sentence (the June windows ended on 30 June).
    assert _deadline_table(markdown) == []
    assert "临期和逾期" not in markdown
    assert "临期和逾期" not in bulletin_html(june)


def test_an_extension_keeps_measure_12_in_the_june_table_not_overdue(
    db_settings: Settings,
) -> None:
    load_seeds(db_settings, LINGCHUAN)
    with session_scope(db_settings) as session:
        extend_deadline(
            session, LINGCHUAN, "12", date(2023, 9, 30), reason=REASON, by="县工作专班办公室",
            at=datetime(2023, 6, 28, 10, tzinfo=SHANGHAI),
        )  # fmt: skip
    june = _consolidated(
        db_settings,
        _month(LINGCHUAN, "2023-06", "2023-07-10T09:00:00+08:00", "2023-07-04T09:00"),
    )
    twelve = _measure(june, "12")
    assert twelve.light != "red" and twelve.deadline is not None
    assert twelve.deadline.state == "upcoming"
    markdown = bulletin_markdown(june)
    assert _deadline_table(markdown)[1] == [
        "第12条 着力扩大文旅消费", "县文旅局、县财政局等14个单位",
        f"原定2023年6月30日，经办公室同意延至2023年9月30日（星期六）（延期理由：{REASON}）",
        "剩82天", "推进中", "已延期，未到期",
    ]  # fmt: skip
    judgement = _judgement(markdown)
    assert "第12条措施完成时限经办公室同意由6月30日延至9月30日（星期六），剩82天" in judgement
    assert "逾期" not in judgement.split("临期和逾期事项：", 1)[1]
    # The Prefect artifact keeps one-line cells and gives the reason below its table.
    artifact = bulletin_markdown(june, workbook=Path("/srv/v1/汇总表.xlsx"))
    assert _deadline_table(artifact)[1] == [
        "12 着力扩大文旅消费", "县文旅局等14个单位", "9月30日（星期六）（已延期）", "剩82天",
        "推进中",
    ]  # fmt: skip
    assert "措施完成时限临期的为黄灯、逾期未完成的为红灯" in artifact
    assert f"- 第12条原定2023年6月30日，经办公室同意延至2023年9月30日，延期理由：{REASON}。" in (
        artifact
    )


def test_xinjiang_11_due_on_new_years_eve_is_red_in_the_december_summary(
    settings: Settings,
) -> None:
    load_seeds(settings, XINJIANG)
    c = _consolidated(
        settings,
        _month(XINJIANG, "2022-12", "2023-01-10T09:00:00+08:00", "2023-01-09T09:00"),
    )
    eleven = _measure(c, "11")
    assert eleven.lead_units == ("县发改局",)
    assert (eleven.status, eleven.light) == ("推进中", "red")
    assert eleven.deadline is not None and eleven.deadline.days_text == "逾期10天"
    markdown = bulletin_markdown(c)
    # Saturday 31 December, in the 元旦 holiday: still the deadline (natural days); 10 January
    # is the tenth day past it.
    assert _deadline_table(markdown)[1:] == [
        ["第11条 创新农村寄递物流模式", "县发改局", "2022年12月31日（星期六）", "逾期10天",
         "推进中", "红灯（逾期未完成）"],
    ]  # fmt: skip
    assert (
        "第11条措施完成时限为2022年12月31日（星期六），逾期10天，牵头单位报送“推进中”。"
        "请县发改局说明逾期原因、限期办结。"
    ) in _judgement(markdown)
    # The summary workbook carries the same row, next to 措施进展, its 提示 cell filled red.
    wb = openpyxl.load_workbook(io.BytesIO(summary_workbook(c)))
    assert wb.sheetnames[:3] == ["报送情况", "措施进展", "临期和逾期事项"]
    sheet = wb["临期和逾期事项"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows == [
        ["编号", "措施", "牵头单位", "完成时限", "剩余/逾期\n天数", "报送进展", "提示"],
        ["11", "创新农村寄递物流模式", "县发改局", "2022年12月31日（星期六）", "逾期10天",
         "推进中", "红灯（逾期未完成）"],
    ]  # fmt: skip
    assert sheet["G2"].fill.fgColor.rgb.endswith("F4B6B6")
    assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4)


def test_xinjiang_11_reported_done_is_not_listed(settings: Settings) -> None:
    load_seeds(settings, XINJIANG)
    spec = _month(XINJIANG, "2022-12", "2023-01-10T09:00:00+08:00", "2023-01-09T09:00")
    spec["units"] = {"fgj": {"status": "已完成"}}
    c = _consolidated(settings, spec)
    assert _measure(c, "11").deadline.state == "done"  # type: ignore[union-attr]
    assert c.deadline_items == ()
    wb = openpyxl.load_workbook(io.BytesIO(summary_workbook(c)))
    assert "临期和逾期事项" not in wb.sheetnames


@pytest.mark.parametrize(
    ("as_of", "listed"),
    [
        ("2023-05-31T09:00:00+08:00", True),  # 30 days before 30 June: the window opens
        ("2023-05-30T09:00:00+08:00", False),
    ],
)
def test_the_window_of_30_days_is_counted_on_the_local_date_of_as_of(
    settings: Settings, as_of: str, listed: bool
) -> None:
    # 2023-05-31 00:30 in 陵川 is still 30 May in UTC: the local date is the one that counts.
    load_seeds(settings, LINGCHUAN)
    early = datetime.fromisoformat(as_of).replace(hour=0, minute=30)
    c = _consolidated(settings, _month(LINGCHUAN, "2023-04", early.isoformat(), "2023-05-04T09:00"))
    assert (_measure(c, "12").light == "yellow") is listed
    assert any(m.number == "12" for m in c.deadline_items) is listed


@pytest.mark.parametrize(
    ("today", "status", "listed"),
    [
        (date(2023, 5, 30), "推进中", False),  # 6-30 is 31 days away: it would not be listed
        (date(2023, 5, 31), "推进中", True),  # 30 days: it would be 临期, so it stays in sight
        (date(2023, 7, 10), "推进中", True),  # past the original date: shown with its extension
        (date(2023, 7, 10), "已完成", False),
    ],
)
def test_an_extended_deadline_stays_listed_once_its_original_date_is_near(
    today: date, status: str, listed: bool
) -> None:
    extension = Extension(date(2023, 6, 30), date(2023, 9, 30), REASON, "办公室", datetime.now())
    twelve = MeasureDeadline(
        "12", "着力扩大文旅消费", "task", date(2023, 6, 30), "2023年6月前", (extension,)
    )
    standing = stand(twelve, today=today, lead_status=status, window_days=30)
    assert standing.light is None
    assert listed_deadline(standing, 30) is listed
