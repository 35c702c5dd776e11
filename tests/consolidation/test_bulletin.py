"""The month's outputs (bulletin, summary workbook, artifacts) and the consolidation rules.

One hand-built month of a 陵川-like policy: four task-force groups sharing sections the way
陵川's do, seven obligated units (on time, late, missing, rejected, one reply without our form,
one with no measures), measures with lead and support units and targets on schedule, yellow,
red and not reported, problems and next steps, and the once-off ledger.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tasks.consolidation.bulletin import (
    bulletin_context,
    bulletin_html,
    bulletin_markdown,
    bulletin_title,
    summary_lines,
    workbook_filename,
)
from tasks.consolidation.chart import (
    GroupFigures,
    Rate,
    _short,
    group_figures,
    groups_chart,
    month_rates,
)
from tasks.consolidation.consolidate import (
    OTHER_GROUP,
    Consolidation,
    ConsolidationInput,
    GroupFact,
    LedgerFact,
    MeasureFact,
    PreviousCycle,
    SubmissionFact,
    TargetFact,
    UnitFact,
    consolidate,
    group_of,
    least_advanced,
    light_for,
    schedule_share,
)
from tasks.consolidation.workbook import status_table_rows, summary_workbook
from tasks.render import make_environment, md_cell
from tests.helpers import at


def sub(
    sid: int,
    version: int,
    status: str,
    received: datetime,
    *,
    late: int = 0,
    fields: Mapping[str, Any] | None = None,
    progress: Mapping[str, tuple[str | None, float | None, Mapping[str, Any]]] | None = None,
) -> SubmissionFact:
    return SubmissionFact(sid, version, status, received, late, fields or {}, progress or {})


def entry(
    status: str | None, *values: float | None, note: str | None = None
) -> tuple[str | None, float | None, Mapping[str, Any]]:
    """A progress entry as tasks/forms/values.py reads it: one row per target."""
    targets = [
        {"index": i, "status": status, "value": v, "note": None} for i, v in enumerate(values)
    ]
    value = values[0] if len(values) == 1 else None
    return status, value, {"targets": targets, "note": note}


G1, G2, G3, G4 = (
    "能源安全保供专项推进组",
    "工业复工复产专项推进组",
    "服务业提振回升专项推进组",
    "扩大稳岗就业专项推进组",
)
RENSHE = "县<b>人社</b>局"  # a name that must come out escaped in HTML
RENSHE_PROBLEM = "返乡人员就业意愿调查未完成。"

UNITS = (
    UnitFact(
        "nengyuan",
        "县能源局",
        "bureau",
        (
            sub(
                1, 1, "accepted", at(date(2023, 3, 3), 10), progress={"1": entry("推进中", 20.0)},
                fields={"problems": "煤矿安全检查频次高。"},
            ),
            # A corrected version after the deadline: its content counts, its lateness does not.
            sub(
                2, 2, "accepted", at(date(2023, 3, 7), 15), late=1,
                progress={"1": entry("推进中", 28.0, note="司家河煤矿产能核增材料已上报。")},
                fields={
                    "problems": "煤矿产能核增审批周期较长。\n部分煤矿采掘接续紧张。",
                    "next-steps": "协调省市加快产能核增审批。",
                },
            ),
            # Arrived after as_of: must not count.
            sub(3, 3, "accepted", at(date(2023, 3, 9), 10), late=3,
                progress={"1": entry("已完成", 160.0)}),
        ),
    ),
    UnitFact(
        "yingji",
        "县应急局",
        "bureau",
        (
            sub(
                4, 1, "accepted", at(date(2023, 3, 7), 11), late=2,
                progress={
                    "1": entry("推进中", 30.0),
                    "12": ("滞后", None, {"targets": [], "note": "受雨雪天气影响，检查进度滞后。"}),
                },
                fields={"problems": "专业执法人员不足。", "next-steps": "开展煤矿安全专项检查。"},
            ),
        ),
    ),
    UnitFact(
        "gongxin",
        "县工信局",
        "bureau",
        (
            sub(
                5, 1, "accepted", at(date(2023, 3, 2), 9, 30),
                progress={
                    "3": entry("推进中", 2.0, 3.0, note="技改项目开工偏慢。"),
                    # As a 配合 unit on measure 1: shown, never counted.
                    "1": entry("已完成", 200.0, note="配合做好电煤运输保障。"),
                },
                fields={"next-steps": "推动技改项目尽快开工。"},
            ),
        ),
    ),
    UnitFact(
        "renshe",
        RENSHE,
        "bureau",
        (sub(6, 1, "unstructured", at(date(2023, 3, 3), 16), fields={"problems": RENSHE_PROBLEM}),),
    ),
    UnitFact(
        "wenlv",
        "县文旅局",
        "bureau",
        (sub(7, 1, "rejected", at(date(2023, 3, 4), 10), progress={"9": entry("推进中", 50.0)}),),
    ),
    UnitFact("tongji", "县统计局", "bureau", ()),
    UnitFact("fagai", "县发改局", "bureau", (sub(8, 1, "accepted", at(date(2023, 3, 1), 10)),)),
)  # fmt: skip

MEASURES = (
    MeasureFact(
        "1", "统筹做好煤炭增产增供", "一", ("nengyuan", "yingji"), ("gongxin",),
        (TargetFact(1, "全县煤炭全年产量", 160.0, "万吨", "at_least", date(2023, 1, 1),
                    date(2023, 12, 31)),),
    ),
    MeasureFact(
        "3", "推动工业企业满产达产", "一", ("gongxin",), ("tongji",),
        (
            TargetFact(1, "新增规模以上工业企业", 12.0, "家", "at_least", date(2023, 1, 1),
                       date(2023, 6, 30)),
            TargetFact(2, "技术改造项目完成投资", 10.0, "亿元", "at_least", date(2023, 1, 1),
                       date(2023, 3, 31)),
        ),
    ),
    MeasureFact(
        "9", "促进文旅消费回暖（“春游|陵川”系列活动）", "二", ("wenlv",), (),
        (TargetFact(1, "旅游接待人次", 300.0, "万人次", "at_least", date(2023, 1, 1),
                    date(2023, 12, 31)),),
    ),
    MeasureFact("12", "加强煤矿安全监管", "二", ("yingji",), (), ()),
    MeasureFact(
        "26(3)", "支持人力资源产业发展", "三", ("renshe",), (),
        (TargetFact(1, "城镇新增就业", 2000.0, "人", "at_least", date(2023, 1, 1),
                    date(2023, 12, 31)),),
    ),
)  # fmt: skip

GROUPS = (
    GroupFact("nengyuan", G1, ("一",), ("县能源局",)),
    GroupFact("gongye", G2, ("一",), ("县工信局",)),
    GroupFact("fuwuye", G3, ("二",), ("县文旅局",)),
    GroupFact("jiuye", G4, ("三",), (RENSHE,)),
)

LEDGER_KEYS = ("number", "task-item", "expected-goal", "deadline", "progress")
FULL_ROW = {"task-item": "事项", "expected-goal": "目标", "deadline": "6月底", "progress": "进展"}
PART_ROW = {**FULL_ROW, "deadline": " "}  # blank: not complete
LEDGER = LedgerFact(
    "贯彻落实举措及任务清单台账",
    LEDGER_KEYS,
    {
        "nengyuan": sub(
            20, 1, "accepted", at(date(2023, 1, 20), 10),
            progress={"1": (None, None, FULL_ROW), "12": (None, None, PART_ROW)},
        ),
        "gongxin": sub(21, 1, "accepted", at(date(2023, 1, 21), 10),
                       progress={"3": (None, None, FULL_ROW)}),
        "yingji": None,
    },
)  # fmt: skip


def month_input(**changes: Any) -> ConsolidationInput:
    data = ConsolidationInput(
        policy_code="lingchuan-2023",
        county="陵川县",
        policy_title="陵川县人民政府办公室关于印发陵川县促进经济稳中求进若干措施的通知",
        doc_number="陵政办发〔2023〕1号",
        office_name="县工作专班办公室",
        obligation_code="monthly-progress",
        obligation_name="月度进展情况报告",
        period="2023-02",
        period_label="2023年2月",
        covers_end=date(2023, 2, 28),
        due_at=at(date(2023, 3, 5), 23, 59),
        as_of=at(date(2023, 3, 8), 9),
        units=UNITS,
        measures=MEASURES,
        groups=GROUPS,
        unit_names={u.code: u.name for u in UNITS},
        ledger=LEDGER,
    )
    return replace(data, **changes)


@pytest.fixture(scope="module")
def c() -> Consolidation:
    return consolidate(month_input())


@pytest.fixture(scope="module")
def markdown(c: Consolidation) -> str:
    return bulletin_markdown(c)


@pytest.fixture(scope="module")
def html(c: Consolidation) -> str:
    return bulletin_html(c)


COUNTS = "应报送单位7个，按时报送4个，逾期报送1个，未报送1个，退回未改1个，按时报送率57.1%"


# ---------------------------------------------------------------------------------------------
# The consolidation of the fixture month


def test_unit_states(c: Consolidation) -> None:
    rows = {u.code: u for u in c.units}
    assert [u.code for u in c.units] == [u.code for u in UNITS]  # directory order
    assert {code: u.state for code, u in rows.items()} == {
        "nengyuan": "on_time",
        "yingji": "late",
        "gongxin": "on_time",
        "renshe": "on_time",
        "wenlv": "rejected",
        "tongji": "missing",
        "fagai": "on_time",
    }
    assert dict(c.counts) == {
        "on_time": 4, "late": 1, "missing": 1, "rejected": 1, "needs_review": 1,
        "unverified": 0, "obligated": 7,
    }  # fmt: skip
    assert rows["renshe"].needs_review and not rows["nengyuan"].needs_review
    assert rows["yingji"].groups == (G1, G3)
    assert rows["gongxin"].groups == (G2,)  # 配合 on measure 1 does not make it a G1 member
    assert rows["tongji"].groups == ()


def test_timeliness_from_the_first_report_content_from_the_latest(c: Consolidation) -> None:
    energy = next(u for u in c.units if u.code == "nengyuan")
    assert energy.state == "on_time" and energy.late_working_days == 0
    assert energy.received_at == at(date(2023, 3, 3), 10)  # of version 1
    assert (energy.version, energy.submission_id) == (2, 2)  # version 3 arrived after as_of
    problems = [p for p in c.problems if p.unit == "县能源局"]
    assert [p.text for p in problems] == ["煤矿产能核增审批周期较长。\n部分煤矿采掘接续紧张。"]


def test_support_units_are_shown_but_not_counted(c: Consolidation) -> None:
    coal = c.measures[0]
    assert coal.lead_units == ("县能源局", "县应急局")
    assert coal.support_units == ("县工信局",)
    assert coal.reports == (("县能源局", "推进中"), ("县应急局", "推进中"))
    assert coal.status == "推进中"  # not the supporting 工信局's 已完成
    assert coal.lead_reported == 2
    assert coal.targets[0].reached == 30.0  # max of the leads' 28 and 30; not 200, not 58
    assert ("县工信局", "配合做好电煤运输保障。") in coal.notes
    g1 = c.groups[0]
    assert dict(g1.by_status) == {"未启动": 0, "滞后": 0, "推进中": 1, "已完成": 0, "未报": 0}


def test_target_lights(c: Consolidation) -> None:
    targets = [(m.number, t) for m in c.measures for t in m.targets]
    lights = {(number, t.metric): (t.points_behind, t.light) for number, t in targets}
    assert lights == {
        ("1", "全县煤炭全年产量"): (-2.6, "green"),
        ("3", "新增规模以上工业企业"): (15.9, "yellow"),
        ("3", "技术改造项目完成投资"): (35.6, "red"),
        ("9", "旅游接待人次"): (None, "none"),  # its lead unit's report was rejected
        ("26(3)", "城镇新增就业"): (None, "none"),  # a reply without our form: no values yet
    }
    assert [m.light for m in c.measures] == ["green", "red", "none", "yellow", "none"]


# ---------------------------------------------------------------------------------------------
# The bulletin in Markdown


def _table_rows(markdown: str) -> list[list[list[str]]]:
    """Every table of a Markdown text as rows of cells, split on unescaped pipes."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            cells = re.split(r"(?<!\\)\|", line)
            assert cells[0] == "" and cells[-1] == "", line
            tables[-1].append([cell.strip() for cell in cells[1:-1]])
        previous = line
    return tables


def test_markdown_counts_sentence_and_sections(markdown: str) -> None:
    lines = markdown.splitlines()
    assert lines[0] == "# 陵川县工作专班 2023年2月进展情况通报"
    assert f"{COUNTS}。已报送单位中有1个未使用规定表格报送，待办公室审核确认。" in lines
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == [
        "## 一、综合研判",
        "## 二、报送总体情况",
        "## 三、分组情况",
        "## 四、措施推进情况",
        "## 五、存在的问题",
        "## 六、下一步措施",
        "## 七、未按时报送单位",
        "## 八、台账报送质量",
    ]
    assert "（统计截至2023年3月8日 9:00）" in markdown
    assert lines[-2:] == ["县工作专班办公室\\", "2023年3月8日"]


def test_markdown_tables_are_well_formed(markdown: str) -> None:
    tables = _table_rows(markdown)
    assert len(tables) == 3  # groups, measures, ledger
    for table in tables:
        widths = {len(row) for row in table}
        assert len(widths) == 1, table
        assert all(re.fullmatch(r"-+:?|---:?", cell) for cell in table[1])
    # the measure title's | is escaped, so its row still has ten cells
    assert r"| 促进文旅消费回暖（“春游\|陵川”系列活动） |" in markdown


def test_markdown_renders_as_gfm(markdown: str) -> None:
    """Through a CommonMark parser with GFM tables and raw HTML allowed, as a renderer may."""
    markdown_it = pytest.importorskip("markdown_it")  # installed with rich, a Prefect dependency
    page = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    tables = re.findall(r"<table>.*?</table>", page, flags=re.S)
    assert len(tables) == 3
    for table in tables:
        heads = len(re.findall(r"<th[ >]", table))
        rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]
        assert rows and all(len(re.findall(r"<td[ >]", row)) == heads for row in rows), table
    assert "<td>促进文旅消费回暖（“春游|陵川”系列活动）</td>" in page
    assert "县&lt;b&gt;人社&lt;/b&gt;局" in page and "<b>人社" not in page
    assert "<li><strong>县能源局</strong>：煤矿产能核增审批周期较长。<br />" in page


def test_markdown_group_table(markdown: str) -> None:
    groups = _table_rows(markdown)[0]
    assert groups[0] == [
        "专班/推进组", "涉及单位", "按时报送", "逾期报送", "未报送", "退回未改", "措施",
        "进展状态", "红灯", "黄灯",
    ]  # fmt: skip
    assert groups[2:] == [
        [G1, "2", "1", "1", "0", "0", "1", "推进中1项", "0", "0"],
        [G2, "1", "1", "0", "0", "0", "1", "推进中1项", "1", "0"],
        [G3, "2", "0", "1", "0", "1", "2", "滞后1项、未报1项", "0", "1"],
        [G4, "1", "1", "0", "0", "0", "1", "未报1项", "0", "0"],
        ["其他（未明确推进组）", "2", "1", "0", "1", "0", "0", "—", "0", "0"],
    ]


def test_markdown_measure_table(markdown: str) -> None:
    measures = _table_rows(markdown)[1]
    assert measures[0] == [
        "编号", "措施", "牵头/负责单位", "进展状态", "量化目标", "完成值", "序时进度",
        "落后百分点", "灯", "配合单位",
    ]  # fmt: skip
    assert measures[2] == [
        "1", "统筹做好煤炭增产增供", "县能源局、县应急局", "推进中",
        "全县煤炭全年产量：160万吨（2023年12月31日前）", "30万吨（18.8%）", "16.2%", "未落后",
        "绿灯", "县工信局",
    ]  # fmt: skip
    assert measures[3] == [
        "3", "推动工业企业满产达产", "县工信局", "推进中",
        "新增规模以上工业企业：12家（2023年6月30日前）", "2家（16.7%）", "32.6%", "15.9",
        "黄灯", "县统计局",
    ]  # fmt: skip
    # the red target, on the measure's second row
    assert measures[4] == [
        "", "", "", "", "技术改造项目完成投资：10亿元（2023年3月31日前）", "3亿元（30.0%）",
        "65.6%", "35.6", "红灯", "",
    ]  # fmt: skip
    assert measures[5][3:6] == ["未报", "旅游接待人次：300万人次（2023年12月31日前）", "未报"]
    assert measures[6] == [
        "12", "加强煤矿安全监管", "县应急局", "滞后", "（无量化目标）", "—", "—", "—", "黄灯", "—",
    ]  # fmt: skip
    assert measures[7][2] == r"县\<b\>人社\</b\>局"
    assert "与之不同的单位在其后括注" in markdown
    assert "落后序时进度10个百分点及以上为黄灯，30个百分点及以上为红灯" in markdown


def test_leads_whose_report_differs_are_annotated(c: Consolidation) -> None:
    coal = replace(c.measures[0], reports=(("县能源局", "推进中"), ("县应急局", "未报")))
    many = replace(c, measures=(coal, *c.measures[1:]))
    row = _table_rows(bulletin_markdown(many))[1][2]
    assert row[2:4] == ["县能源局、县应急局（未报）", "推进中"]


def test_markdown_problems_next_steps_and_late_units(markdown: str) -> None:
    problems = markdown.split("## 五、存在的问题")[1].split("## 六、")[0]
    assert problems.strip().splitlines() == [
        f"### （一）{G1}",
        "",
        "1. **县能源局**：煤矿产能核增审批周期较长。\\",
        "   部分煤矿采掘接续紧张。",
        "2. **县应急局**：专业执法人员不足。",
        "",
        # 县工信局 leads measure 3 here but wrote no problem: the group still appears
        f"### （二）{G2}",
        "",
        "无。",
        "",
        # 县应急局 leads measures in G1 and G3: its per-unit text goes under both
        f"### （三）{G3}",
        "",
        "1. **县应急局**：专业执法人员不足。",
        "",
        f"### （四）{G4}",
        "",
        r"1. **县\<b\>人社\</b\>局**：" + RENSHE_PROBLEM,
        "",
        # 县统计局 and 县发改局 lead no measure of any group
        "### （五）其他（未明确推进组）",
        "",
        "无。",
    ]
    next_steps = markdown.split("## 六、下一步措施")[1].split("## 七、")[0]
    assert f"### （二）{G2}\n\n1. **县工信局**：推动技改项目尽快开工。" in next_steps
    assert f"### （四）{G4}\n\n无。" in next_steps
    late = markdown.split("## 七、未按时报送单位")[1].split("## 八、")[0]
    assert late.strip().splitlines() == [
        "- 未报送（1个）：县统计局",
        "- 逾期报送（1个）：县应急局（逾期2个工作日）",
        "- 退回未改（1个）：县文旅局",
    ]


def test_markdown_ledger(markdown: str) -> None:
    ledger = _table_rows(markdown)[2]
    assert ledger[0] == ["单位", "报送状态", "台账行数", "完整行数", "完整率"]
    assert ledger[2] == ["县能源局", "已报送", "2", "1", "50.0%"]
    assert ledger[3] == ["县应急局", "未报送", "0", "0", "—"]
    assert ledger[4] == ["县工信局", "已报送", "1", "1", "100.0%"]
    assert "《贯彻落实举措及任务清单台账》" in markdown


def test_optional_sections_appear_only_with_content(c: Consolidation) -> None:
    # Without the ledger, the quality section keeps the reply waiting for review only.
    text = bulletin_markdown(replace(c, ledger=()))
    quality = text.split("## 八、台账报送质量")[1]
    assert re.findall(r"### （.）(\S+)", quality) == ["待审核报送"]
    assert "待办公室审核确认：县\\<b\\>人社\\</b\\>局。" in quality
    reviewed = tuple(replace(u, needs_review=False) for u in c.units)
    plain = replace(c, ledger=(), units=reviewed)
    text = bulletin_markdown(plain)
    assert re.findall("^## (.*)$", text, re.M)[-1] == "七、未按时报送单位"
    more = replace(
        plain,
        supervision=({"unit": "县统计局", "reason": "逾期未报，经催报仍未报送", "case": 3},),
        commendations=({"unit": "县工信局", "reason": "按时报送，内容详实"},),
    )
    text = bulletin_markdown(more)
    assert "## 八、督办事项\n\n1. **县统计局**：逾期未报，经催报仍未报送\n" in text
    assert "## 九、通报表扬\n\n1. **县工信局**：按时报送，内容详实\n" in text
    page = bulletin_html(more)
    assert "<h2>八、督办事项</h2>" in page and "<h2>九、通报表扬</h2>" in page


def test_nothing_late_and_nothing_said() -> None:
    units = tuple(
        UnitFact(code, name, "bureau", (sub(i, 1, "accepted", at(date(2023, 3, 1), 10)),))
        for i, (code, name) in enumerate((("a", "县甲局"), ("b", "县乙局")), start=1)
    )
    data = month_input(
        units=units, measures=(), groups=GROUPS[:1], unit_names={"a": "县甲局", "b": "县乙局"},
        ledger=None,
    )  # fmt: skip
    c = consolidate(data)
    text = bulletin_markdown(c)
    counts = "应报送单位2个，按时报送2个，逾期报送0个，未报送0个，退回未改0个，按时报送率100.0%"
    assert f"{counts}。" in text
    assert "各单位均已按时报送。" in text
    assert "各单位本期未反映存在的问题。" in text
    assert "本期无需报告进展的措施。" in text
    assert summary_lines(c)[1].endswith("本期措施均无量化目标。")
    assert "各单位均已按时报送。" in bulletin_html(c)


def test_md_cell_escapes_markup() -> None:
    assert md_cell("a|b") == r"a\|b"
    assert md_cell("第一行\n第二行") == "第一行 第二行"
    assert md_cell("*重点*_项目_ <i>x</i> & [链接]") == r"\*重点\*\_项目\_ \<i\>x\</i\> \& \[链接\]"
    assert md_cell("1. 不是列表") == r"1\. 不是列表"
    assert md_cell("- 不是列表") == r"\- 不是列表"


# ---------------------------------------------------------------------------------------------
# The bulletin in HTML


def test_html_page(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>陵川县工作专班 2023年2月进展情况通报</title>" in html
    assert "size: A4 portrait;" in html
    # Page numbers in the printed footer (WeasyPrint's PDF; Chromium's print honours them too).
    assert 'content: "第 " counter(page) " 页 共 " counter(pages) " 页";' in html
    fonts = '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", SimSun'
    assert f"font-family: {fonts}, sans-serif;" in html
    assert "thead { display: table-header-group; }" in html
    assert f"<p>{COUNTS}。已报送单位中有1个未使用规定表格报送，待办公室审核确认。</p>" in html
    assert [m for m in re.findall(r"<h2>(.*?)</h2>", html)] == [
        "一、综合研判", "二、报送总体情况", "三、分组情况", "四、措施推进情况", "五、存在的问题",
        "六、下一步措施", "七、未按时报送单位", "八、台账报送质量",
    ]  # fmt: skip
    assert '<p class="signature">县工作专班办公室<br>2023年3月8日</p>' in html


def test_html_escapes_names_and_colours_lights(html: str) -> None:
    assert "县&lt;b&gt;人社&lt;/b&gt;局" in html
    assert "<b>人社" not in html
    assert '<span class="light light-red">红灯</span>' in html
    assert '<span class="light light-yellow">黄灯</span>' in html
    assert '<span class="light light-green">绿灯</span>' in html
    assert ".light-red { color: #c00000; }" in html
    # the measure with two targets spans two rows
    assert '<td class="c" rowspan="2">3</td><td rowspan="2">推动工业企业满产达产</td>' in html
    assert "<li><strong>县能源局</strong>：煤矿产能核增审批周期较长。<br>部分煤矿" in html
    row = re.search(r"<tr><td>工业复工复产专项推进组</td>.*?</tr>", html)
    assert row is not None and '<span class="light light-red">1</span>' in row.group(0)


def test_signature_stays_with_the_last_section(c: Consolidation, html: str) -> None:
    def closing(page: str) -> str:
        found = re.search(r'<div class="closing">\s*<h2>(.*?)</h2>.*?</div>\s*</body>', page, re.S)
        assert found is not None and page.count('<div class="closing">') == 1
        assert '<p class="signature">' in found.group(0)
        return found.group(1)

    assert closing(html) == "八、台账报送质量"
    reviewed = tuple(replace(u, needs_review=False) for u in c.units)
    assert closing(bulletin_html(replace(c, ledger=(), units=reviewed))) == "七、未按时报送单位"
    praised = replace(c, commendations=({"unit": "县工信局", "reason": "按时报送"},))
    assert closing(bulletin_html(praised)) == "九、通报表扬"


def test_a_given_environment_is_used(c: Consolidation) -> None:
    env = make_environment()
    assert bulletin_markdown(c, env) == bulletin_markdown(c)
    assert bulletin_html(c, env) == bulletin_html(c)


# ---------------------------------------------------------------------------------------------
# Mail summary, artifact rows, workbook


def test_summary_lines(c: Consolidation) -> None:
    """The leaders read the 综合研判 in the mail: the four paragraphs, in the notice's order."""
    lines = summary_lines(c)
    assert [line.split("。")[0] for line in lines] == [
        "报送情况",
        "推进情况",
        "台账质量",
        "督办情况",
    ]
    assert lines[0] == (
        "报送情况。应报送单位7个，按时报送4个，按时报送率57.1%；逾期报送1个、未报送1个、退回未改1个。"
    )
    assert "红灯目标：第3条技术改造项目完成投资（县工信局牵头）落后序时进度35.6个百分点" in lines[1]
    assert lines[3] == "督办情况。截至本期无在办督办事项。"


def test_summary_lines_fit_the_bulletin_mail(c: Consolidation) -> None:
    from tasks.render import render_notice

    context = {
        "kind": "bulletin",
        "policy": {"title": c.source.policy_title, "doc_number": c.source.doc_number},
        "obligation": {"name": c.source.obligation_name},
        "office": {"name": c.source.office_name},
        "as_of": c.source.as_of,
        "bulletin": {
            "period_label": c.source.period_label,
            "summary_lines": summary_lines(c),
            "attachments": ["2023年2月进展情况通报.pdf", workbook_filename(c)],
            "print_copy": "2023年2月进展情况通报.pdf",
            "pdf_missing": "",
        },
    }
    mail = render_notice(make_environment(), context)
    assert "一、报送情况。应报送单位7个，按时报送4个，按时报送率57.1%；" in mail.text
    assert "四、督办情况。截至本期无在办督办事项。" in mail.text
    # The 综合研判 names units: a hostile name is escaped in the HTML part
    assert "县&lt;b&gt;人社&lt;/b&gt;局" in mail.html and "<b>人社" not in mail.html
    assert "2023年2月进展情况报告报送情况汇总表.xlsx" in mail.text
    assert "1. 2023年2月进展情况通报.pdf（供打印）" in mail.text


def test_status_table_rows(c: Consolidation) -> None:
    rows = status_table_rows(c)
    assert len(rows) == 7
    assert rows[0] == {
        "单位": "县能源局",
        "所属专班/推进组": G1,
        "报送状态": "按时报送",
        "逾期工作日": "0",
        "收到时间": "2023年3月3日 10:00",
        "版本": "2",
        "待审核": "",
    }
    assert rows[1]["所属专班/推进组"] == f"{G1}、{G3}"
    assert rows[1]["逾期工作日"] == "2"
    assert rows[3]["单位"] == RENSHE and rows[3]["待审核"] == "是"
    assert rows[4] == {
        "单位": "县文旅局", "所属专班/推进组": G3, "报送状态": "退回未改", "逾期工作日": "",
        "收到时间": "", "版本": "1", "待审核": "",
    }  # fmt: skip
    assert rows[5]["报送状态"] == "未报送" and rows[5]["版本"] == ""


def test_bulletin_title(c: Consolidation) -> None:
    assert bulletin_title(c) == "陵川县工作专班 2023年2月进展情况通报"
    xinjiang = replace(
        c.source, county="新绛县", office_name="县服务业发展领导小组办公室",
        obligation_name="月度工作总结", period_label="2022年11月",
    )  # fmt: skip
    assert (
        bulletin_title(replace(c, source=xinjiang))
        == "新绛县服务业发展领导小组 2022年11月工作总结通报"
    )


def test_workbook_filename(c: Consolidation) -> None:
    assert workbook_filename(c) == "2023年2月进展情况报告报送情况汇总表.xlsx"
    odd = replace(c, source=replace(c.source, obligation_name="月报/快报"))
    assert workbook_filename(odd) == "2023年2月月报_快报报送情况汇总表.xlsx"


def test_workbook_content(c: Consolidation) -> None:
    wb = load_workbook(io.BytesIO(summary_workbook(c)))
    assert wb.sheetnames == ["报送情况", "措施进展", "问题困难", "下一步措施", "台账质量",
                             "措施责任单位"]  # fmt: skip
    status = wb["报送情况"]
    assert [cell.value for cell in status[1]] == [
        "单位", "所属专班/推进组", "报送状态", "逾期工作日", "收到时间", "版本", "待审核",
    ]  # fmt: skip
    assert status.freeze_panes == "A2"
    assert status["A1"].font.bold
    assert status.print_title_rows == "$1:$1"
    assert status.page_setup.orientation == "landscape"
    assert status.page_setup.paperSize == 9  # A4
    assert status.print_options.horizontalCentered
    # The group's name without 专项推进组: the header says what the column holds.
    assert [cell.value for cell in status[2]] == [
        "县能源局", "能源安全保供", "按时报送", 0, datetime(2023, 3, 3, 10, 0), 2, None,
    ]  # fmt: skip
    assert status["B3"].value == "能源安全保供、服务业提振回升"
    assert status["C3"].value == "逾期报送" and status["D3"].value == 2
    assert status["A5"].value == RENSHE and status["G5"].value == "是"
    assert status["C7"].value == "未报送" and status["E7"].value is None
    assert status.column_dimensions["B"].width > status.column_dimensions["G"].width
    assert status.row_dimensions[2].height is None  # one line: left to Excel

    measures = wb["措施进展"]
    header = [cell.value for cell in measures[1]]
    assert header == [
        "编号", "措施", "所属专班/\n推进组", "牵头/责任单位", "进展状态", "量化目标（计量单位）",
        "目标值", "完成时限", "完成值", "完成率", "序时进度", "落后\n百分点", "灯",
    ]  # fmt: skip
    assert measures.page_setup.orientation == "landscape"
    assert measures.page_setup.paperSize == 9
    assert (measures.page_setup.fitToWidth, measures.page_setup.fitToHeight) == (1, 0)
    assert measures.sheet_properties.pageSetUpPr.fitToPage
    assert measures.print_title_rows == "$1:$1" and measures.freeze_panes == "A2"
    assert measures.oddFooter.center.text == "第 &P 页，共 &N 页"
    assert measures.max_row == 1 + 6  # one row per target, one for the measure without
    red = {header[i]: cell.value for i, cell in enumerate(measures[4])}
    assert red["编号"] == "3"
    assert red["量化目标（计量单位）"] == "技术改造项目完成投资\n（亿元）"
    assert red["目标值"] == 10 and red["完成值"] == 3
    assert red["完成时限"] == datetime(2023, 3, 31)
    assert red["落后\n百分点"] == 35.6 and red["灯"] == "红灯"
    assert red["完成率"] == pytest.approx(0.3)
    assert measures["M4"].fill.fgColor.rgb == "00F4B6B6"
    coal = {header[i]: cell.value for i, cell in enumerate(measures[2])}
    assert coal["牵头/责任单位"] == "县能源局、\n县应急局"  # broken after 、, not mid-name
    assert coal["所属专班/\n推进组"] == "能源安全保供"
    # Per-unit reports, 配合单位 and notes: on 措施责任单位, one row per measure and unit.
    units = wb["措施责任单位"]
    assert [cell.value for cell in units[1]] == [
        "措施编号", "措施", "单位", "分工", "报送情况", "进展说明",
    ]  # fmt: skip
    by_unit = {(row[0], row[2]): row[3:] for row in units.iter_rows(min_row=2, values_only=True)}
    assert by_unit["1", "县能源局"] == ("牵头/负责", "推进中", "司家河煤矿产能核增材料已上报。")
    assert by_unit["1", "县应急局"][:2] == ("牵头/负责", "推进中")
    assert by_unit["1", "县工信局"] == ("配合", None, "配合做好电煤运输保障。")
    assert by_unit["3", "县统计局"][0] == "配合"

    problems = wb["问题困难"]
    header = ["序号", "所属专班/推进组", "单位", "存在的问题困难"]
    assert [cell.value for cell in problems[1]] == header
    assert [cell.value for cell in problems[2]] == [
        1, G1, "县能源局", "煤矿产能核增审批周期较长。\n部分煤矿采掘接续紧张。",
    ]  # fmt: skip
    assert wb["下一步措施"]["D1"].value == "下一步落实措施"
    ledger = wb["台账质量"]
    assert [cell.value for cell in ledger[2]] == ["县能源局", "已报送", 2, 1, 0.5]
    assert wb.properties.created == datetime(2023, 3, 8, 1, 0)  # as_of in UTC


def test_workbook_without_ledger_and_text_that_looks_like_a_formula(c: Consolidation) -> None:
    odd = replace(
        c,
        ledger=(),
        problems=(replace(c.problems[0], text='=HYPERLINK("http://x")\x07资金缺口'),),
    )
    wb = load_workbook(io.BytesIO(summary_workbook(odd)))
    assert "台账质量" not in wb.sheetnames
    cell = wb["问题困难"]["D2"]
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x")资金缺口'


def test_outputs_are_deterministic() -> None:
    first, second = consolidate(month_input()), consolidate(month_input())
    assert summary_workbook(first) == summary_workbook(second)
    assert bulletin_markdown(first) == bulletin_markdown(second)
    assert bulletin_html(first) == bulletin_html(second)
    assert summary_lines(first) == summary_lines(second)
    assert status_table_rows(first) == status_table_rows(second)
    with zipfile.ZipFile(io.BytesIO(summary_workbook(first))) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2023, 3, 8, 9, 0, 0)}
    later = consolidate(month_input(as_of=at(date(2023, 3, 8), 10)))
    assert summary_workbook(later) != summary_workbook(first)  # the file times follow as_of


# ---------------------------------------------------------------------------------------------
# The rules of tasks/consolidation/consolidate.py


@pytest.mark.parametrize(
    ("start", "due", "day", "share"),
    [
        (date(2023, 1, 1), date(2023, 12, 31), date(2022, 12, 31), 0.0),  # before the start
        (date(2023, 1, 1), date(2023, 12, 31), date(2023, 1, 1), 1 / 365),  # end of day one
        (date(2023, 1, 1), date(2023, 12, 31), date(2023, 2, 28), 59 / 365),
        (date(2023, 1, 1), date(2023, 3, 31), date(2023, 2, 28), 59 / 90),
        (date(2023, 1, 1), date(2023, 12, 31), date(2023, 12, 31), 1.0),  # the due day
        (date(2023, 1, 1), date(2023, 12, 31), date(2024, 3, 1), 1.0),  # clamped
        (date(2023, 5, 1), date(2023, 5, 1), date(2023, 5, 1), 1.0),  # a one-day period
    ],
)
def test_schedule_share(start: date, due: date, day: date, share: float) -> None:
    assert schedule_share(start, due, day) == pytest.approx(share)


@pytest.mark.parametrize(
    ("points", "light"),
    [
        (None, "none"),
        (-20.0, "green"),
        (0.0, "green"),
        (9.9, "green"),
        (10.0, "yellow"),  # at the yellow threshold
        (29.9, "yellow"),
        (30.0, "red"),  # at the red threshold
        (75.0, "red"),
    ],
)
def test_light_for_thresholds(points: float | None, light: str) -> None:
    assert light_for(points, 10.0, 30.0) == light


def test_light_boundaries_through_targets() -> None:
    """A target exactly 10 (30) points behind is yellow (red), despite float noise."""

    def light(reached: float) -> tuple[float | None, str]:
        # 100 days, 50 elapsed at covers_end: 序时进度 50%.
        target = TargetFact(1, "指标", 100.0, "个", "at_least", date(2023, 1, 1), date(2023, 4, 10))
        measure = MeasureFact("1", "措施", "一", ("a",), (), (target,))
        report = sub(
            1, 1, "accepted", at(date(2023, 3, 1), 10), progress={"1": entry("推进中", reached)}
        )
        unit = UnitFact("a", "县甲局", "bureau", (report,))
        data = month_input(
            units=(unit,), measures=(measure,), groups=(), unit_names={"a": "县甲局"},
            covers_end=date(2023, 2, 19), ledger=None,
        )  # fmt: skip
        row = consolidate(data).measures[0].targets[0]
        assert row.schedule_share == pytest.approx(0.5)
        return row.points_behind, row.light

    assert light(40.0) == (10.0, "yellow")
    assert light(40.1) == (9.9, "green")
    assert light(20.0) == (30.0, "red")
    assert light(20.1) == (29.9, "yellow")


def test_custom_thresholds() -> None:
    c = consolidate(month_input(yellow_points=5.0, red_points=15.0))
    assert [t.light for t in c.measures[1].targets] == ["red", "red"]
    assert "落后序时进度5个百分点及以上为黄灯，15个百分点及以上为红灯" in bulletin_markdown(c)


@pytest.mark.parametrize(
    ("statuses", "least"),
    [
        (["推进中", "已完成"], "推进中"),
        (["已完成", "未启动", "滞后"], "未启动"),
        (["滞后", "推进中"], "滞后"),
        (["已完成", None], "已完成"),  # a report without status does not pull it down
        (["其他", None], None),
        ([], None),
    ],
)
def test_least_advanced(statuses: list[str | None], least: str | None) -> None:
    assert least_advanced(statuses) == least


def test_group_of_longest_prefix_then_first_named_lead() -> None:
    groups = (
        GroupFact("a", "第三部分组", ("三",)),
        GroupFact("b", "金融组", ("三(一)",)),
        GroupFact("c", "能源组", ("一",), ("县能源局",)),
        GroupFact("d", "工业组", ("一",), ("县工信局",)),
    )
    name = lambda key, leads=(): g.name if (g := group_of(key, groups, leads)) else None  # noqa: E731
    assert name("三(一)") == "金融组"
    assert name("三(一)2") == "金融组"  # the most specific section wins
    assert name("三(二)") == "第三部分组"
    assert name("三") == "第三部分组"
    assert name("四") is None
    assert name("一", ["县工信局"]) == "工业组"  # shared section: the group whose lead leads it
    assert name("一", ["县能源局", "县应急局"]) == "能源组"
    assert name("一", ["县应急局", "县工信局", "县能源局"]) == "工业组"  # the first-named lead
    assert name("一", ["县应急局"]) == "能源组"  # nobody's lead: the first group listed
    assert name("四(十一)", []) is None
    ten = (GroupFact("x", "十组", ("四(十)",)),)
    assert group_of("四(十一)", ten) is None  # （十） does not cover （十一）


def test_as_of_excludes_later_arrivals() -> None:
    unit = UnitFact("a", "县甲局", "bureau", (sub(1, 1, "accepted", at(date(2023, 3, 9), 10)),))
    data = month_input(units=(unit,), measures=(), unit_names={"a": "县甲局"}, ledger=None)
    assert consolidate(data).units[0].state == "missing"
    assert consolidate(replace(data, as_of=at(date(2023, 3, 9), 10))).units[0].state == "on_time"


def test_rejected_then_nothing_is_rejected_then_resent_is_late() -> None:
    rejected = sub(1, 1, "rejected", at(date(2023, 3, 3), 10))
    unit = UnitFact("a", "县甲局", "bureau", (rejected,))
    data = month_input(units=(unit,), measures=(), unit_names={"a": "县甲局"}, ledger=None)
    row = consolidate(data).units[0]
    assert (row.state, row.version, row.submission_id, row.received_at) == ("rejected", 1, 1, None)
    resent = replace(
        unit, submissions=(rejected, sub(2, 2, "accepted", at(date(2023, 3, 7), 10), late=2))
    )
    row = consolidate(replace(data, units=(resent,))).units[0]
    assert (row.state, row.late_working_days, row.version) == ("late", 2, 2)


def test_quarantined_only_is_missing() -> None:
    unit = UnitFact("a", "县甲局", "bureau", ())  # the loader leaves quarantined mail out
    data = month_input(units=(unit,), measures=(), unit_names={"a": "县甲局"}, ledger=None)
    assert consolidate(data).units[0].state == "missing"


def test_reviewed_and_accepted_reply_counts_from_its_arrival() -> None:
    reply = sub(1, 1, "unstructured", at(date(2023, 3, 3), 10))
    reviewed = sub(
        2,
        2,
        "accepted",
        at(date(2023, 3, 3), 10),
        progress={"1": ("推进中", 28.0, {"reviewed": True})},
    )
    unit = UnitFact("nengyuan", "县能源局", "bureau", (reply, reviewed))
    data = month_input(units=(unit,), ledger=None)
    c = consolidate(data)
    row = c.units[0]
    assert (row.state, row.version, row.needs_review) == ("on_time", 2, False)
    assert c.measures[0].targets[0].reached == 28.0


def test_reviewed_and_rejected_reply_is_rejected() -> None:
    reply = sub(1, 1, "unstructured", at(date(2023, 3, 3), 10))
    review = {
        "by": "office",
        "at": at(date(2023, 3, 6), 10).isoformat(),
        "note": "未按规定表格填报",
        "of": 1,
    }
    rejected = sub(2, 2, "rejected", at(date(2023, 3, 3), 10), fields={"review": review})
    unit = UnitFact("a", "县甲局", "bureau", (reply, rejected))
    data = month_input(units=(unit,), measures=(), unit_names={"a": "县甲局"}, ledger=None)
    row = consolidate(data).units[0]
    assert (row.state, row.needs_review, row.version) == ("rejected", False, 2)


def _one_unit(*submissions: SubmissionFact) -> Consolidation:
    unit = UnitFact("a", "县甲局", "bureau", submissions)
    return consolidate(
        month_input(units=(unit,), measures=(), unit_names={"a": "县甲局"}, ledger=None)
    )


def test_an_unverified_reply_is_not_a_report_and_waits_for_the_office() -> None:
    """Anyone can write a unit's From address: until the office accepts the reply, the unit has
    not reported, and the leaders are told a reply under its name waits."""
    c = _one_unit(sub(1, 1, "unverified", at(date(2023, 3, 3), 10)))
    row = c.units[0]
    assert (row.state, row.unverified, row.needs_review, row.received_at) == (
        "missing", True, False, None
    )  # fmt: skip
    assert (c.counts["missing"], c.counts["unverified"], c.counts["needs_review"]) == (1, 1, 0)
    context = bulletin_context(c)
    assert "另有1个单位（县甲局）名义发来的回复未使用规定表格、发件人未经验证" in context["review"]
    assert context["quality"]["unverified"] == ["县甲局"]
    assert status_table_rows(c)[0]["待审核"] == "发件人待核实"


def test_an_unverified_reply_rejected_by_the_office_is_as_if_never_sent() -> None:
    review = {"by": "office", "at": "2023-03-06", "note": "经核实非本单位发送", "of": 1}
    c = _one_unit(
        sub(1, 1, "unverified", at(date(2023, 3, 3), 10)),
        sub(2, 2, "rejected", at(date(2023, 3, 3), 10), fields={"review": review}),
    )
    row = c.units[0]
    assert (row.state, row.unverified, row.version) == ("missing", False, None)
    assert "发件人未经验证" not in bulletin_context(c)["review"]


def test_an_unverified_reply_after_a_report_neither_counts_nor_undoes_it() -> None:
    c = _one_unit(
        sub(1, 1, "accepted", at(date(2023, 3, 3), 10)),
        sub(2, 2, "unverified", at(date(2023, 3, 4), 10)),
    )
    row = c.units[0]
    assert (row.state, row.version, row.unverified) == ("on_time", 1, True)


def test_an_unverified_reply_accepted_by_the_office_counts_from_its_arrival() -> None:
    review = {"by": "office", "at": "2023-03-06", "note": "已电话核实", "of": 1}
    c = _one_unit(
        sub(1, 1, "unverified", at(date(2023, 3, 3), 10)),
        sub(2, 2, "accepted", at(date(2023, 3, 3), 10), fields={"review": review}),
    )
    row = c.units[0]
    assert (row.state, row.version, row.unverified, row.received_at) == (
        "on_time", 2, False, at(date(2023, 3, 3), 10)
    )  # fmt: skip


def test_a_target_two_leads_report_takes_the_larger_not_the_sum(c: Consolidation) -> None:
    assert c.measures[0].targets[0].reached == 30.0
    assert c.measures[0].targets[0].done_share == pytest.approx(30 / 160)


# ---------------------------------------------------------------------------------------------
# The charts (tasks/consolidation/chart.py); the PDF's are checked against the seed month in
# tests/consolidation/test_pdf.py


def _previous(label: str, on_time: int, obligated: int, **states: str) -> PreviousCycle:
    return PreviousCycle(label, at(date(2023, 1, 5), 23, 59), obligated, on_time, states, {})


@pytest.mark.parametrize(
    ("label", "year", "short"),
    [
        ("2023年2月", "2023", "2月"),
        ("2022年12月", "2023", "2022年12月"),
        # A yearly report's column keeps its year (it was "" before yearly cycles existed).
        ("2023年", "2023", "2023年"),
        ("2023年第一季度", "2023", "第一季度"),
        ("2023年第5周（1月30日—2月5日）", "2023", "第5周"),
    ],
)
def test_month_labels_drop_the_bulletins_own_year(label: str, year: str, short: str) -> None:
    assert _short(label, year) == short


@pytest.mark.parametrize(
    ("on_time", "units", "text"),
    [(4, 7, "57.1%"), (2, 3, "66.7%"), (1, 8, "12.5%"), (0, 5, "0.0%"), (3, 3, "100.0%"),
     (0, 0, "—")],
)  # fmt: skip
def test_rate_text(on_time: int, units: int, text: str) -> None:
    assert Rate("", on_time, units).text == text


def test_month_rates_oldest_first_this_month_last(c: Consolidation) -> None:
    earlier = [_previous("2022年12月", 5, 7), _previous("2023年1月", 6, 7)]
    assert [(r.label, r.on_time, r.units) for r in month_rates(c, earlier)] == [
        ("2022年12月", 5, 7), ("1月", 6, 7), ("2月", 4, 7),
    ]  # fmt: skip
    # Without a history: last month, when the consolidation holds it, else this month alone.
    assert [r.label for r in month_rates(c)] == ["2月"]
    with_last = replace(c, source=replace(c.source, previous=_previous("2023年1月", 6, 7)))
    assert [r.text for r in month_rates(with_last)] == ["85.7%", "57.1%"]


def test_group_figures_count_every_unit_and_measure(c: Consolidation) -> None:
    last = {u.code: "on_time" for u in c.units} | {"nengyuan": "late"}
    c = replace(c, source=replace(c.source, previous=_previous("2023年1月", 6, 7, **last)))
    figures = {g.name: g for g in group_figures(c)}
    assert list(figures) == [g.name for g in c.groups if g.units or g.measures] + [OTHER_GROUP]
    assert sum(n for g in figures.values() for _, n in g.lights) == len(c.measures)
    for g in c.groups:
        if g.name in figures:
            f = figures[g.name]
            assert (f.now.on_time, f.now.units) == (g.on_time, g.units)
            members = [u.code for u in c.units if g.name in u.groups]
            assert f.before is not None
            assert f.before.on_time == sum(last[code] == "on_time" for code in members)
            assert dict(f.lights)["red"] == g.red and dict(f.lights)["yellow"] == g.yellow


def test_a_segment_too_narrow_for_its_count_is_counted_after_the_bar() -> None:
    lights = (("red", 1), ("yellow", 0), ("green", 2), ("check", 0), ("none", 57))
    group = GroupFigures("某专班", Rate("本月", 1, 2), None, lights)
    figure = groups_chart([group])
    texts = [t["text"] for t in figure["texts"]]
    assert "共60项（红灯1）" in texts  # 1 of 60 is narrower than its number
    assert "2" in texts and "57" in texts and "50.0%" in texts


def test_the_html_bulletin_draws_its_charts_without_script(html: str) -> None:
    assert html.count("<svg ") == 2 and "<script" not in html
    assert "图1 各月按时报送率" in html and "图2 各组按时报送率与措施灯色" in html
    # Pattern ids are unique in the page (two figures, one document).
    ids = re.findall(r'<pattern id="([^"]+)"', html)
    assert len(ids) == len(set(ids)) == 8
    assert 'fill="url(#groups-red)"' in html
    # A policy without groups (everything under 其他): 图1 only.
    alone = consolidate(month_input(groups=()))
    assert bulletin_html(alone).count("<svg ") == 1


def test_the_artifact_keeps_the_columns_a_reader_scans_and_names_the_files(
    c: Consolidation, markdown: str
) -> None:
    """The Prefect UI never wraps a table cell and hides a wide table's scroll bar: the
    artifact's tables are the narrow ones, the rest is in the files it names."""
    workbook, pdf = Path("/srv/v1/汇总表.xlsx"), Path("/srv/v1/通报.pdf")
    artifact = bulletin_markdown(c, workbook=workbook, pdf=pdf)
    groups, measures = _table_rows(artifact)[:2]
    assert groups[0] == ["专班/推进组", "涉及单位", "按时报送", "进展状态", "红灯", "黄灯"]
    assert measures[0] == ["编号", "措施", "牵头/负责单位", "进展状态", "灯"]
    # One row per measure: its worst light, its first lead unit and how many lead it.
    assert measures[2] == ["1", "统筹做好煤炭增产增供", "县能源局等2个单位", "推进中", "绿灯"]
    assert measures[3] == ["3", "推动工业企业满产达产", "县工信局", "推进中", "红灯"]
    assert [row[0] for row in measures[2:]] == [row[0] for row in _table_rows(markdown)[1][2:]
                                                 if row[0]]  # fmt: skip
    assert f"- 汇总表：`{workbook}`" in artifact and f"- 打印版通报（PDF）：`{pdf}`" in artifact
    assert "与之不同的单位在其后括注" not in artifact  # no unit is named with its own status
    without_pdf = bulletin_markdown(c, workbook=workbook)
    assert "PDF" not in without_pdf and "见汇总表：" in without_pdf
    # Apart from those two tables and the note, it is the bulletin.
    assert artifact.split("## 五、")[1] == markdown.split("## 五、")[1]
    assert artifact.split("## 三、")[0] == markdown.split("## 三、")[0]
