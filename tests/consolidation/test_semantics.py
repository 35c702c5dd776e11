"""What the office and the leaders read must be true: a scripted 陵川 quarter on the real policy.

The policy, its 41 obliged units, its measures, targets and six groups come from the seed file
through the database; the reports of January to March are written here, so every expected
sentence below is worked out by hand from the scenario (the arithmetic is in the comments), not
copied from the code's output:

- January: everybody reports on time but 县财政局 (missing).
- February: 县财政局 missing again, 县交通局 one working day late.
- March: everybody on time; 县应急局 reports measure 4 as 滞后; 县财政局 reports 100亿元 on a
  3.5亿元 target; 县能源局's cumulative coal output goes down from 30 to 25万吨.
- Values (each by its lead unit): 第1条 煤炭产量 160万吨 (1 Jan–31 Dec) 14 / 30 / 25; 第20条
  开工率 40% (1 Jan–31 Mar) 12 / 18 / 20; 第21条 招商引资 40亿元 (1 Jan–30 Jun) 6 / 12 / 14.
- The ledger: every unit but 县自然资源局, 县能源局 with one of its two rows incomplete.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from config.settings import Settings
from models.consolidation_store import load_consolidation_input
from models.db import session_scope
from tasks.consolidation.annual import annual_rollup
from tasks.consolidation.bulletin import bulletin_markdown, summary_lines
from tasks.consolidation.consolidate import (
    NOTHING_SAID,
    Consolidation,
    ConsolidationInput,
    LedgerFact,
    SubmissionFact,
    TargetFact,
    UnitFact,
    as_previous,
    consolidate,
    implausibility,
)
from tasks.consolidation.judgement import judgement
from tasks.consolidation.workbook import status_table_rows, summary_workbook
from tests.consolidation.test_bulletin import entry
from tests.helpers import at, load_seeds

GROUPS = (
    "能源安全保供专项推进组",
    "工业复工复产专项推进组",
    "服务业提振回升专项推进组",
    "项目谋划建设专项推进组",
    "扩大稳岗就业专项推进组",
    "财政金融服务专项推进组",
)
COMPANIES = ("崇安能源公司", "高新高速公路管理公司")
# (period, the day the on-time reports arrive); each month is consolidated a week later
MONTHS = (
    ("2023-01", date(2023, 2, 2)),
    ("2023-02", date(2023, 3, 2)),
    ("2023-03", date(2023, 4, 3)),
)
# Values by (unit, measure) → {target index: value}, per period.
VALUES: Mapping[str, Mapping[tuple[str, str], Mapping[int, float]]] = {
    "2023-01": {("nyj", "1"): {0: 14}, ("fgj", "20"): {3: 12}, ("tzcjzx", "21"): {0: 6}},
    "2023-02": {("nyj", "1"): {0: 30}, ("fgj", "20"): {3: 18}, ("tzcjzx", "21"): {0: 12}},
    "2023-03": {
        ("nyj", "1"): {0: 25}, ("fgj", "20"): {3: 20}, ("tzcjzx", "21"): {0: 14},
        ("czj", "29"): {1: 100},
    },
}  # fmt: skip
MISSING = {"2023-01": {"czj"}, "2023-02": {"czj"}, "2023-03": set()}
LATE = {"2023-02": {"jtj"}}


def _skeletons(settings: Settings) -> dict[str, ConsolidationInput]:
    """Each month of the real policy with nobody having reported (the database holds no report)."""
    load_seeds(settings, "lingchuan-2023")
    with session_scope(settings) as session:
        return {
            period: load_consolidation_input(
                session, "lingchuan-2023", period=period, as_of=at(day, 9), with_previous=False
            )
            for period, day in MONTHS
        }


def _ledger(skeleton: ConsolidationInput) -> LedgerFact:
    assert skeleton.ledger is not None
    keys = skeleton.ledger.per_measure_keys
    full = {k: "已填" for k in keys if k != "number"}
    units: dict[str, SubmissionFact | None] = {}
    for i, unit in enumerate(skeleton.units):
        led = [m.number for m in skeleton.measures if unit.code in m.lead_units][:2] or ["1"]
        rows = {n: (None, None, dict(full)) for n in led}
        if unit.code == "nyj":
            rows = {"1": (None, None, dict(full)), "2": (None, None, {**full, "deadline": ""})}
        units[unit.code] = (
            None
            if unit.code == "zrzyj"
            else SubmissionFact(900 + i, 1, "accepted", at(date(2023, 1, 19)), 0, {}, rows)
        )
    return LedgerFact(skeleton.ledger.obligation_name, keys, units)


def _report(
    skeleton: ConsolidationInput, unit: UnitFact, period: str, day: date, sid: int
) -> SubmissionFact:
    progress: dict[str, tuple[str | None, float | None, Mapping[str, Any]]] = {}
    for measure in skeleton.measures:
        if unit.code not in measure.lead_units:
            continue
        status = (
            "滞后" if (period, unit.code, measure.number) == ("2023-03", "yjj", "4") else "推进中"
        )
        values = VALUES[period].get((unit.code, measure.number), {})
        row = [values.get(i) for i in range(len(measure.targets))]
        progress[measure.number] = entry(status, *row) if values else (status, None, {})
    late = 1 if unit.code in LATE.get(period, set()) else 0
    received = at(skeleton.due_at.date() + timedelta(days=1)) if late else at(day, 10)
    return SubmissionFact(
        sid, 1, "accepted", received, late,
        {"problems": f"{unit.name}{period}存在的问题。", "next-steps": f"{unit.name}下一步。"},
        progress,
    )  # fmt: skip


def _month(skeleton: ConsolidationInput, day: date) -> ConsolidationInput:
    period = skeleton.period
    units = tuple(
        replace(unit, submissions=())
        if unit.code in MISSING[period]
        else replace(unit, submissions=(_report(skeleton, unit, period, day, 100 + i),))
        for i, unit in enumerate(skeleton.units)
    )
    return replace(
        skeleton, units=units, ledger=_ledger(skeleton), as_of=at(day + timedelta(days=7))
    )


@pytest.fixture
def quarter(settings: Settings) -> list[Consolidation]:
    """January to March, each compared with the month before, as the store would give them."""
    skeletons = _skeletons(settings)
    months: list[Consolidation] = []
    for period, day in MONTHS:
        data = _month(skeletons[period], day)
        if months:
            data = replace(data, previous=as_previous(months[-1]))
        months.append(consolidate(data))
    return months


def _paragraphs(c: Consolidation) -> list[str]:
    return [f"{p.label}：{p.text}" for p in judgement(c)]


# ---------------------------------------------------------------------------------------------
# 1. Who counts as 未报


def test_nobody_reported_every_obliged_unit_is_missing_and_the_companies_are_not(
    settings: Settings,
) -> None:
    nothing = consolidate(_skeletons(settings)["2023-03"])
    assert nothing.counts["obligated"] == 41 and nothing.counts["missing"] == 41
    assert not {u.name for u in nothing.units} & set(COMPANIES)
    first = next(m for m in nothing.measures if m.number == "1")
    assert first.reports == (
        ("县能源局", "未报"),
        ("县应急局", "未报"),
        ("崇安能源公司", "不需报送"),
    )
    text = bulletin_markdown(nothing)
    for company in COMPANIES:
        assert f"{company}（未报）" not in text and f"{company}（不需报送）" in text
    rows = status_table_rows(nothing)
    assert len(rows) == 41 and not any(r["单位"] in COMPANIES for r in rows)


def test_the_companies_never_lower_a_status_or_a_group(quarter: list[Consolidation]) -> None:
    march = quarter[-1]
    # Measure 1 is led by 县能源局, 县应急局 and 崇安能源公司; the two obliged ones reported.
    first = next(m for m in march.measures if m.number == "1")
    assert (first.status, first.lead_reported) == ("推进中", 2)
    energy = next(g for g in march.groups if g.name == GROUPS[0])
    assert (energy.units, energy.missing, energy.measures) == (17, 0, 4)  # measures 1-4
    assert not any(company in "".join(summary_lines(march)) for company in COMPANIES)
    roll = annual_rollup(quarter, {}, year="2023", as_of=march.source.as_of)
    assert {r.name for r in roll.rows}.isdisjoint(COMPANIES) and len(roll.rows) == 41


# ---------------------------------------------------------------------------------------------
# 2. Groups


def test_every_group_appears_in_problems_and_next_steps(quarter: list[Consolidation]) -> None:
    text = bulletin_markdown(quarter[-1])
    # March, as of 10 April, lists 26(1)'s policy window ending on 30 April as section 四.
    problems = text.split("## 六、存在的问题")[1].split("## 七、")[0]
    next_steps = text.split("## 七、下一步措施")[1].split("## 八、")[0]
    for section in (problems, next_steps):
        assert re.findall(r"^### （.）(.+)$", section, re.M) == list(GROUPS)
    # 人行 leads 19 and 20 (项目谋划建设) and 31 and 32 (财政金融服务): its words go under both,
    # not under 项目谋划建设 alone.
    finance = problems.split(f"### （六）{GROUPS[5]}")[1]
    project = problems.split(f"### （四）{GROUPS[3]}")[1].split("### （五）")[0]
    assert "**人行陵川县支行**" in finance and "**人行陵川县支行**" in project
    assert "**晋城银保监陵川监管组**" in finance
    employment = problems.split(f"### （五）{GROUPS[4]}")[1].split("### （六）")[0]
    assert "**县人社局**" in employment and "**人行陵川县支行**" not in employment


def test_measures_in_a_shared_section_follow_the_groups_own_lists(
    quarter: list[Consolidation],
) -> None:
    group = {m.number: m.group for m in quarter[-1].measures}
    assert {group[n] for n in ("1", "2", "3", "4")} == {GROUPS[0]}
    assert {group[n] for n in ("5", "6", "7")} == {GROUPS[1]}
    assert {group[n] for n in ("25", "26", "26(3)")} == {GROUPS[4]}
    assert {group[n] for n in ("23", "27", "31", "32")} == {GROUPS[5]}
    assert group["24"] == group["33"] == ""  # the policy puts them in no group


# ---------------------------------------------------------------------------------------------
# 3. Numbers that cannot be true


def test_implausible_values_are_flagged_not_lit(quarter: list[Consolidation]) -> None:
    march = quarter[-1]
    targets = {(m.number, t.metric): t for m in march.measures for t in m.targets}
    bonds = targets[("29", "全年申请专项债券额度")]
    assert (bonds.reached, bonds.light, bonds.done_share) == (100, "check", None)
    assert bonds.implausible == "超过目标值的1.5倍" and bonds.reported_by == ("县财政局",)
    coal = targets[("1", "全县煤炭全年产量")]
    assert (coal.light, coal.implausible) == ("check", "低于上月报送的30万吨（累计值不应减少）")
    text = bulletin_markdown(march)
    assert "| 100亿元（待核实） |" in text and "2857.1%" not in text
    quality = text.split("## 九、台账报送质量")[1]  # after 四、临期和逾期事项
    assert (
        "第29条全年申请专项债券额度：报送100亿元，目标3.5亿元（2023年12月31日前），"
        "超过目标值的1.5倍（报送单位：县财政局）"
    ) in quality
    assert "待核实2项" in " ".join(summary_lines(march))


@pytest.mark.parametrize(
    ("value", "unit", "previous", "reason"),
    [
        (-1.0, "亿元", None, "报送值为负数"),
        (101.0, "%", None, "比率超过100%"),
        (61.0, "%", None, "超过目标值的1.5倍"),  # over 1.5 × 40 %
        (60.5, "亿元", None, "超过目标值的1.5倍"),
        (60.0, "亿元", None, ""),  # exactly 1.5 × the target is still believable
        (38.0, "%", 40.0, ""),  # a rate may go down
        (30.0, "亿元", 31.0, "低于上月报送的31亿元（累计值不应减少）"),
    ],
)
def test_implausibility_rules(value: float, unit: str, previous: float | None, reason: str) -> None:
    target = TargetFact(1, "指标", 40.0, unit, "at_least", date(2023, 1, 1), date(2023, 12, 31))
    assert implausibility(target, value, previous, 1.5) == reason


def test_the_factor_is_configurable() -> None:
    target = TargetFact(1, "指标", 40.0, "亿元", "at_least", date(2023, 1, 1), date(2023, 12, 31))
    assert implausibility(target, 90.0, None, 3.0) == ""
    assert implausibility(target, 130.0, None, 3.0) == "超过目标值的3倍"
    ceiling = replace(target, direction="at_most")
    assert implausibility(ceiling, 90.0, None, 1.5) == ""  # over a ceiling is late, not absurd
    assert Settings().reports.plausible_factor == 1.5


# ---------------------------------------------------------------------------------------------
# 4. 综合研判


def test_judgement_january(quarter: list[Consolidation]) -> None:
    assert _paragraphs(quarter[0]) == [
        # 40 of 41 = 97.56 % → 97.6 %
        "报送情况：应报送单位41个，按时报送40个，按时报送率97.6%；未报送1个。",
        # Measure 28 is led by 县财政局 alone. Schedules at 31 January: coal 31/365 = 8.5 %,
        # reached 14/160 = 8.75 %; 开工率 31/90 = 34.4 %, 12/40 = 30 % (4.4 behind);
        # 招商引资 31/181 = 17.1 %, 6/40 = 15 % (2.1 behind): three green lights.
        "推进情况：47项措施中，推进中46项、未报进展1项。量化目标12项，绿灯3项、未报完成值9项。",
        "台账质量：任务清单台账应报41个单位，已报送40个，未报送1个（县自然资源局）；"
        "填写不完整的1个：县能源局（1/2行完整）。",
        "督办情况：截至本期无在办督办事项。",
    ]


def test_judgement_february(quarter: list[Consolidation]) -> None:
    assert _paragraphs(quarter[1])[:2] == [
        # 39 of 41 = 95.12 % → 95.1 %, 2.5 points below January's 97.6 %
        "报送情况：应报送单位41个，按时报送39个，按时报送率95.1%，较上月（2023年1月，97.6%）"
        "下降2.5个百分点；逾期报送1个、未报送1个。"
        "连续两个月未按时报送的单位1个：县财政局（上月未报送，本月未报送）。",
        # 开工率 at 28 February: 59/90 = 65.6 %, reached 18/40 = 45 % → 20.6 behind: yellow.
        "推进情况：47项措施中，推进中46项、未报进展1项。量化目标12项，黄灯1项、绿灯2项、"
        "未报完成值9项。黄灯目标：第20条新建项目开工率（县发改局等牵头）落后20.6个百分点。",
    ]


def test_judgement_march(quarter: list[Consolidation]) -> None:
    opened = [date(2023, 2, 8), date(2023, 3, 8)]
    cases = (
        {"unit": "县财政局", "reason": "逾期未报（已升级）", "status": "escalated",
         "opened": opened[0], "overdue": ""},
        {"unit": "县交通局", "reason": "逾期报送（督办中）", "status": "open",
         "opened": opened[1], "overdue": "3个工作日内反馈进展"},
    )  # fmt: skip
    march = replace(quarter[-1], supervision=cases)
    assert _paragraphs(march) == [
        "报送情况：应报送单位41个，按时报送41个，按时报送率100.0%，较上月（2023年2月，95.1%）"
        "提高4.9个百分点。各单位均按时报送。",
        # 开工率 is due 31 March: 100 % of its time gone, 20/40 = 50 % → 50.0 behind: red.
        # 招商引资: 90/181 = 49.7 %, 14/40 = 35 % → 14.7 behind: yellow.
        "推进情况：47项措施中，滞后1项、推进中46项。自报滞后的措施1项：第4条进一步简化复工复产"
        "验收程序。量化目标12项，红灯1项、黄灯1项、待核实2项、未报完成值8项。"
        "红灯目标：第20条新建项目开工率（县发改局等牵头）落后序时进度50.0个百分点，需重点督促。"
        "黄灯目标：第21条招商引资签约项目总投资（县投资促进中心等牵头）落后14.7个百分点。"
        # As of 10 April, 26(1)'s rate cut ends in 20 days (30 April, a Sunday): told, unlit.
        "临期和逾期事项：第26条第（1）项降低失业保险费率，政策执行至4月30日（星期日），还有20天，"
        "到期后政策停止执行。",
        "台账质量：任务清单台账应报41个单位，已报送40个，未报送1个（县自然资源局）；"
        "填写不完整的1个：县能源局（1/2行完整）。报送数据明显不合常理、需核实的量化目标2项："
        "第1条全县煤炭全年产量、第29条全年申请专项债券额度。",
        # February's cycle was due on 6 March: the case of 8 March is this period's.
        "督办情况：在办督办事项2件，其中本期新立1件、已升级1件。"
        "超过13710时限的1件（县交通局），请督促办理。",
    ]


def test_every_figure_of_the_judgement_is_in_the_bulletin_below(
    quarter: list[Consolidation],
) -> None:
    for month in quarter:
        text = bulletin_markdown(month)
        head, below = text.split("## 二、报送总体情况")
        judged = head.split("## 一、综合研判")[1]
        # The change from last month is the difference of two figures printed below.
        judged = re.sub(r"(提高|下降)[\d.]+个百分点", "", judged)
        for figure in re.findall(r"\d+\.\d+%?|\d+%", judged):
            assert figure in below, (month.source.period, figure)


def test_judgement_xinjiang_november(settings: Settings) -> None:
    """新绛, November 2022: 县文旅局 silent two months running (its four measures 34–37 have no
    other unit); 县交通运输局 reports 0 of its one 网络货运 platform, 县农业农村局 3.6 of 4万亩."""
    load_seeds(settings, "xinjiang-2022")
    with session_scope(settings) as session:
        skeletons = [
            load_consolidation_input(
                session, "xinjiang-2022", period=p, as_of=at(day), with_previous=False
            )
            for p, day in (("2022-10", date(2022, 11, 15)), ("2022-11", date(2022, 12, 15)))
        ]
    values = {("jtysj", "10"): {0: 0.0}, ("nyncj", "26"): {0: 3.6}}
    months: list[Consolidation] = []
    for skeleton in skeletons:
        units = []
        for i, unit in enumerate(skeleton.units):
            progress: dict[str, tuple[str | None, float | None, Mapping[str, Any]]] = {
                m.number: entry("推进中", *[values.get((unit.code, m.number), {}).get(0)])
                if (unit.code, m.number) in values
                else ("推进中", None, {})
                for m in skeleton.measures
                if unit.code in m.lead_units
            }
            report = SubmissionFact(i, 1, "accepted", at(skeleton.due_at.date()), 0, {}, progress)
            units.append(replace(unit, submissions=() if unit.code == "wlj" else (report,)))
        data = replace(skeleton, units=tuple(units))
        if months:
            data = replace(data, previous=as_previous(months[-1]))
        months.append(consolidate(data))
    assert _paragraphs(months[-1]) == [
        # 41 of 42 both months = 97.6 %
        "报送情况：应报送单位42个，按时报送41个，按时报送率97.6%，较上月（2022年10月，97.6%）"
        "持平；未报送1个。连续两个月未按时报送的单位1个：县文旅局（上月未报送，本月未报送）。",
        # 序时进度 at 30 November of a calendar-year target: 334/365 = 91.5 %; 0 reached → 91.5
        # behind (red); 3.6/4 = 90 % → 1.5 behind (green); the other 12 targets unreported.
        "推进情况：64项措施中，推进中60项、未报进展4项。量化目标14项，红灯1项、绿灯1项、"
        "未报完成值12项。红灯目标：第10条引进或培育落户新绛的网络货运平台企业（县交通运输局牵头）"
        "落后序时进度91.5个百分点，需重点督促。"
        # Measure 11 (农村寄递物流, 县发改局) is due on 31 December, 16 days after as_of: 临期.
        "临期和逾期事项：第11条措施完成时限为12月31日（星期六），剩16天，牵头单位报送“推进中”。"
        "请县发改局抓紧推进，确保按期完成。",
        "台账质量：各单位均使用规定表格报送，未发现需核实的数据。",
        "督办情况：截至本期无在办督办事项。",
    ]


def test_the_workbook_marks_values_to_verify(quarter: list[Consolidation]) -> None:
    wb = load_workbook(io.BytesIO(summary_workbook(quarter[-1])))
    sheet = wb["措施进展"]
    header = [cell.value for cell in sheet[1]]
    rows = [{header[i]: cell for i, cell in enumerate(row)} for row in sheet.iter_rows(min_row=2)]
    bonds = next(
        r for r in rows if str(r["量化目标（计量单位）"].value).startswith("全年申请专项债券额度")
    )
    assert (bonds["完成值"].value, bonds["灯"].value) == (100, "待核实")
    assert bonds["灯"].fill.fgColor.rgb.endswith("E1D5F0")
    units = wb["措施责任单位"]
    reports = {
        row[2]: row[4] for row in units.iter_rows(min_row=2, values_only=True) if row[0] == "1"
    }
    assert reports["崇安能源公司"] == "不需报送" and "未报" not in reports.values()


@pytest.mark.parametrize(
    ("text", "listed"),
    [
        ("无", False), ("暂无。", False), ("暂未发现突出问题。", False), ("无问题困难", False),
        ("工作按计划推进，无突出困难。", False), ("本月无", False),
        ("本月工作推进总体顺利，暂无需要协调解决的问题。", False),
        ("资金缺口较大，暂无解决办法。", True), ("项目审批滞后，无法按期开工。", True),
        ("资金无着落。", True), ("无人机巡检设备不足。", True),
        ("暂无配套资金，项目无法开工。", True),
    ],
)  # fmt: skip
def test_nothing_to_report_is_not_listed_as_a_problem(text: str, listed: bool) -> None:
    assert (NOTHING_SAID.match(text) is None) == listed
