"""The reporting deadlines of real notices, one short excerpt written for each notation: weekly,
monthly, quarterly, half-yearly, yearly and one-off obligations in the schema's due rules."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from config.loading import load_units
from config.schema import Obligation, Policy
from config.settings import CONFIG_DIR
from tasks.calendar import WorkingCalendar
from tasks.cycles import cycles_for_obligation
from tasks.policy_import.importer import import_policy
from tasks.policy_import.obligations import find_due, find_meta, find_obligations, obligation_dict
from tasks.policy_import.text import text_paragraphs
from tasks.policy_import.units import UnitNames

DIRECTORY = load_units(CONFIG_DIR / "units" / "xinjiang.yaml")
NAMES = UnitNames.of(DIRECTORY)
ISSUED = date(2024, 3, 5)


@pytest.mark.parametrize(
    ("excerpt", "frequency", "due", "name"),
    [
        pytest.param(
            "县直各有关单位于每月10日前报送上月工作进展情况报告至县发改局。",
            "monthly", {"day_of_month": 10}, "月度工作进展情况报告", id="每月N日前报送上月",
        ),
        pytest.param(
            "县发改局、县财政局于每季度结束后10日内，将季度工作进展情况报送县服务业发展领导小组办公室。",
            "quarterly", {"days_after_end": 10}, "季度工作进展情况", id="每季度结束后N日内",
        ),
        pytest.param(
            "县财政局每季度首月5日前将上季度资金使用情况报送县发改局。",
            "quarterly", {"day_of_month": 5, "lands": "after_period"}, "季度资金使用情况",
            id="每季度首月N日前",
        ),
        pytest.param(
            "县财政局于每季度最后一个月的20日前，将本季度工作总结报送县发改局。",
            "quarterly", {"day_of_month": 20, "lands": "in_period"}, "季度工作总结",
            id="每季度最后一个月的N日前",
        ),
        pytest.param(
            "县统计局于每季度末将季度统计数据报送县发改局。",
            "quarterly", {"day_of_month": 31, "lands": "in_period"}, "季度统计数据", id="每季度末",
        ),
        pytest.param(
            "县教育局每半年将工作开展情况报送县发改局。",
            "half_yearly", {"days_after_end": 10}, "半年度工作开展情况", id="每半年（无日期）",
        ),
        pytest.param(
            "县教育局于每年6月、12月20日前将半年工作总结报送县发改局。",
            "half_yearly", {"day_of_month": 20, "lands": "in_period"}, "半年工作总结",
            id="每年6月、12月N日前",
        ),
        pytest.param(
            "县教育局于每半年结束后15日内将工作总结报送县发改局。",
            "half_yearly", {"days_after_end": 15}, "半年度工作总结", id="每半年结束后N日内",
        ),
        pytest.param(
            "县直各有关单位于每年1月10日前报送上年工作总结至县发改局。",
            "yearly", {"month": 1, "day_of_month": 10, "lands": "after_period"}, "年度工作总结",
            id="每年N月N日前报送上年",
        ),
        pytest.param(
            "县直各有关单位于每年12月20日前将本年度工作总结报送县发改局。",
            "yearly", {"month": 12, "day_of_month": 20, "lands": "in_period"}, "年度工作总结",
            id="每年N月N日前报送本年",
        ),
        pytest.param(
            "县交通运输局每周五17时前将本周安全生产检查情况报送县发改局。",
            "weekly", {"weekday": 5, "lands": "in_period", "time": "17:00"}, "安全生产检查情况",
            id="每周五N时前报送本周",
        ),
        pytest.param(
            "县交通运输局每周一报送上周安全生产检查情况至县发改局。",
            "weekly", {"weekday": 1, "lands": "after_period"}, "安全生产检查情况",
            id="每周一报送上周",
        ),
        pytest.param(
            "县交通运输局于4月30日前将排查整治方案报送县发改局。",
            "once", {"fixed_date": date(2024, 4, 30)}, "排查整治方案", id="N月N日前（一次性）",
        ),
    ],
)  # fmt: skip
def test_notation(excerpt: str, frequency: str, due: dict[str, Any], name: str) -> None:
    [draft] = find_obligations([excerpt], ISSUED, NAMES)
    assert (draft.frequency, draft.due) == (frequency, due)
    assert draft.name == name
    assert draft.recipients and draft.recipients[0].startswith("县")
    assert draft.submit_to.startswith("县")
    # The rule is one the schema accepts, and gives cycles over the rest of 2024.
    covers = {
        "weekly": ("2024-W10", "2024-W52"),
        "monthly": ("2024-03", "2024-12"),
        "quarterly": ("2024-Q1", "2024-Q4"),
        "half_yearly": ("2024-H1", "2024-H2"),
        "yearly": ("2024", "2024"),
    }.get(frequency)
    obligation = Obligation.model_validate(
        {
            "code": "report",
            "name": draft.name,
            "frequency": frequency,
            "recipients": draft.recipients,
            "due": draft.due,
            "covers_from": covers[0] if covers else None,
            "covers_to": covers[1] if covers else None,
            "content": [{"key": "c", "label": "内容"}],
            "source_text": draft.source_text,
        }
    )
    assert obligation.frequency == frequency


def test_guessed_readings_are_listed_for_review() -> None:
    """Where the text does not say which period a report is on, the draft says what it chose."""
    [monday] = find_obligations(
        ["县交通运输局每周一将安全生产检查情况报送县发改局。"], ISSUED, NAMES
    )
    assert monday.due == {"weekday": 1, "lands": "after_period"}
    assert any("按报送上一周处理，请确认" in r for r in monday.review)
    [january] = find_obligations(["县教育局于每年1月15日前将工作总结报送县发改局。"], ISSUED, NAMES)
    assert january.due == {"month": 1, "day_of_month": 15, "lands": "after_period"}
    assert any("按报送上一年处理" in r for r in january.review)
    [bare] = find_obligations(["县教育局每半年将工作开展情况报送县发改局。"], ISSUED, NAMES)
    assert any("未写截止日" in r for r in bare.review)


@pytest.mark.parametrize(
    "sentence",
    [
        "每周五组织一次隐患排查。",  # a weekly task, nothing handed in
        "确保每季度末完成投资进度。",
        "每年6月开展安全生产月活动。",
    ],
)
def test_a_recurring_task_without_handing_in_is_no_obligation(sentence: str) -> None:
    assert find_obligations([sentence], ISSUED, NAMES) == []


def test_find_due_prefers_the_longer_notation() -> None:
    """每年6月、12月20日前 is half-yearly, not a yearly 12月20日 nor a one-off."""
    due = find_due("于每年6月、12月20日前报送", ISSUED)
    assert due is not None and due.frequency == "half_yearly"
    once = find_due("于12月20日前报送", ISSUED)
    assert once is not None and once.frequency == "once"


NOTICE = """新绛县人民政府办公室文件

新政办发〔2024〕3号

新绛县人民政府办公室 关于印发新绛县测试工作方案的通知

各镇人民政府：

新绛县人民政府办公室

2024年3月5日

新绛县测试工作方案

一、重点任务

1. 推动发展。今年完成投资 5 亿元以上。（县发改局牵头，县财政局配合）

2. 排查隐患。每周组织一次隐患排查。（县应急局负责）

二、保障措施

3. 按季调度。县发改局、县财政局于每季度结束后10日内，将季度工作进展情况报告报送县发改局。

4. 按周报送。县交通运输局每周五前将本周安全生产检查情况报送县发改局。

（县发改局负责）
"""


def test_imported_quarterly_and_weekly_obligations_load_and_make_cycles() -> None:
    result = import_policy(
        text_paragraphs(NOTICE), code="test-2024", directory=DIRECTORY, units_directory="xinjiang"
    )
    obligations = {o["code"]: o for o in result.policy["obligations"]}
    assert obligations["quarterly-report-1"]["due"] == {"days_after_end": 10}
    assert obligations["quarterly-report-1"]["name"] == "季度工作进展情况报告"
    assert (
        obligations["quarterly-report-1"]["covers_from"],
        obligations["quarterly-report-1"]["covers_to"],
    ) == ("2024-Q1", "2024-Q4")
    weekly = obligations["weekly-report-2"]
    assert weekly["due"] == {"weekday": 5, "lands": "in_period"}
    # The ISO week holding the policy's last day (2024-12-31) is 2025-W01: it is reported too.
    assert (weekly["covers_from"], weekly["covers_to"]) == ("2024-W10", "2025-W01")
    policy = Policy.model_validate(result.policy)
    calendar = WorkingCalendar()
    quarters = cycles_for_obligation(policy.obligations[0], policy, calendar)
    assert [(c.period_label, c.due_date) for c in quarters][:2] == [
        ("2024年第一季度", date(2024, 4, 10)),
        ("2024年第二季度", date(2024, 7, 10)),
    ]
    weeks = cycles_for_obligation(policy.obligations[1], policy, calendar)
    assert weeks[0].period_label == "2024年第10周（3月4日—3月10日）"
    assert weeks[0].due_date == date(2024, 3, 8)


# Real notices hand in with a bare 报 and the office (报区人民政府办公室), say from which period
# (从2022年3月起), write the year of a one-off date, and open with a collective as the subject.


def test_a_bare_bao_with_an_office_hands_in() -> None:
    [draft] = find_obligations(
        ["县统计局于每月10日前将上月统计数据报县人民政府办公室。"], ISSUED, NAMES
    )
    assert (draft.frequency, draft.due) == ("monthly", {"day_of_month": 10})
    assert (draft.name, draft.submit_to) == ("月度统计数据", "县人民政府办公室")
    assert draft.recipients == ["县统计局"]


@pytest.mark.parametrize(
    "sentence",
    [
        "县财政局于5月10日前将资金方案报县政府分管领导审定后实施。",  # a leader approves, no office
        "县财政局于5月10日前完成年度预算报告的编制。",  # 报告 is a noun
        "县财政局于5月10日前将调整方案报经县人民政府同意后执行。",
    ],
)
def test_bao_without_an_office_ending_the_clause_is_no_handing_in(sentence: str) -> None:
    assert find_obligations([sentence], ISSUED, NAMES) == []


@pytest.mark.parametrize(
    ("excerpt", "fixed", "submit_to"),
    [
        pytest.param(
            "各责任单位要制订工作方案，并于2025年1月15日前将工作方案报县人民政府办公室。",
            date(2025, 1, 15), "县人民政府办公室", id="YYYY年M月D日前：年份照原文",
        ),
        pytest.param(
            "各牵头单位要做好细化实施方案，于4月19日（星期五）前上报县督查室（联系电话：1234567）。",
            date(2024, 4, 19), "县督查室（联系电话：1234567）", id="M月D日（星期五）前",
        ),
        pytest.param(
            "各牵头单位要做好细化实施方案，于4月19日（星期五）前上报县督查室（办公室设在县府办，电话：1234567）。",
            date(2024, 4, 19), "县督查室", id="括号被逗号截断",
        ),
    ],
)  # fmt: skip
def test_a_one_off_date_as_written(excerpt: str, fixed: date, submit_to: str) -> None:
    [draft] = find_obligations([excerpt], ISSUED, NAMES)
    assert (draft.frequency, draft.due) == ("once", {"fixed_date": fixed})
    assert draft.submit_to == submit_to
    assert draft.name in ("工作方案", "细化实施方案")
    assert draft.recipients[0] in ("各责任单位", "各牵头单位")


@pytest.mark.parametrize(
    "excerpt",
    [
        "各部门各单位要在每季度末（分别在6月、9月和12月底），将本部门（单位）工作进展情况和存在的问题，"
        "以书面和电子邮件的形式报县督查组。",
        # the same as many web pages print it, with half-width commas and brackets
        "各部门各单位要在每季度末(分别在6月、9月和12月底),将本部门(单位)工作进展情况和存在的问题,"
        "以书面和电子邮件的形式报县督查组。",
    ],
    ids=["全角", "半角标点"],
)
def test_each_quarters_end_with_its_months_in_brackets(excerpt: str) -> None:
    [draft] = find_obligations([excerpt], ISSUED, NAMES)
    assert (draft.frequency, draft.due) == ("quarterly", {"day_of_month": 31, "lands": "in_period"})
    assert draft.recipients == ["各部门各单位"]  # the sentence's own subject, a collective
    assert draft.name == "季度工作进展情况和存在的问题"
    assert (draft.submit_to, draft.paper_copy) == ("县督查组", True)  # 书面: a paper copy too
    assert draft.source_text == excerpt  # as printed


@pytest.mark.parametrize(
    ("excerpt", "frequency", "due", "covers_from"),
    [
        pytest.param(
            "从2024年5月起，各乡镇于每月25日前将本单位《2024年<政府工作报告>重点任务推进情况表》报县政府督查室。",
            "monthly", {"day_of_month": 25}, "2024-05", id="从YYYY年M月起",
        ),
        pytest.param(
            "三、从2024年第二季度开始，各责任单位要在每季度最后一个月的30日前将本季度工作进展情况报县人民政府办公室。",
            "quarterly", {"day_of_month": 30, "lands": "in_period"}, "2024-Q2",
            id="从YYYY年第N季度开始",
        ),
    ],
)  # fmt: skip
def test_reports_start_from_the_period_the_notice_names(
    excerpt: str, frequency: str, due: dict[str, Any], covers_from: str
) -> None:
    [draft] = find_obligations([excerpt], ISSUED, NAMES)
    assert (draft.frequency, draft.due, draft.covers_from) == (frequency, due, covers_from)
    entry = obligation_dict(draft, "report-1", (ISSUED, date(2024, 12, 31)))
    assert (entry["covers_from"], entry["covers_to"]) == (
        covers_from,
        covers_from[:5] + ("12" if frequency == "monthly" else "Q4"),
    )
    assert draft.recipients in (["各乡镇"], ["各责任单位"])
    assert draft.name in ("月度《政府工作报告》重点任务推进情况表", "季度工作进展情况")


def test_a_start_before_the_issue_date_keeps_the_policys_start() -> None:
    """从2024年1月起 in a notice of 5 March: no report on a month before the policy is active."""
    [draft] = find_obligations(
        ["从2024年1月起，各乡镇于每月25日前将推进情况表报县政府督查室。"], ISSUED, NAMES
    )
    assert draft.covers_from == "2024-01"
    entry = obligation_dict(draft, "monthly-report-1", (ISSUED, date(2024, 12, 31)))
    assert entry["covers_from"] == "2024-03"


def test_the_paragraphs_subject_reports_when_the_sentence_names_none() -> None:
    [draft] = find_obligations(
        [
            "一、各地区、各部门要高度重视，确保各项任务落到实处。从2024年5月起，务于每月25日前将"
            "推进情况表（电子版）报县政府督查室。"
        ],
        ISSUED,
        NAMES,
    )
    assert draft.recipients == ["各地区、各部门"]
    assert (draft.name, draft.submit_to) == ("月度推进情况表（电子版）", "县政府督查室")


def test_the_units_of_each_task_are_the_collective_of_those_units() -> None:
    """各项工作任务的主要责任单位 is 各主要责任单位; the first 报 (to a leader) is no handing in."""
    [draft] = find_obligations(
        [
            "各项工作任务的主要责任单位要将实施方案和“四四表单”报县政府分管领导审查签字后，"
            "于2024年3月15日前报县政府督查室备案。"
        ],
        ISSUED,
        NAMES,
    )
    assert draft.recipients == ["各主要责任单位"]
    assert (draft.name, draft.submit_to) == ("实施方案和“四四表单”", "县政府督查室")
    assert draft.due == {"fixed_date": date(2024, 3, 15)}


@pytest.mark.parametrize(
    ("line", "issued"),
    [
        ("二○○七年四月十三日", date(2007, 4, 13)),
        ("二〇二四年十二月三十一日", date(2024, 12, 31)),
        ("二〇二四年十月一日", date(2024, 10, 1)),
    ],
)
def test_a_signature_date_in_chinese_numerals(line: str, issued: date) -> None:
    meta = find_meta(["县人民政府办公室关于做好测试工作的通知", "县人民政府办公室", line])
    assert meta.issued == issued


COVER_LETTER = """县人民政府办公室关于分解落实测试工作任务的通知

县政办发〔2024〕5号

各乡镇人民政府，县直各单位：

现将有关事项通知如下：

一、各牵头单位要做好细化实施方案，于4月19日(星期五)前上报县督查室。

二、各部门各单位要在每季度末(分别在6月、9月和12月底),将工作进展情况,以书面和电子邮件的形式报县督查组。

附件：测试工作任务分解表

二○二四年四月十日
"""


def test_a_cover_letter_whose_tasks_are_in_an_annex_still_gives_its_obligations() -> None:
    """Its points are sections of their own (一、…。): their headings are read for obligations."""
    result = import_policy(
        text_paragraphs(COVER_LETTER), code="test-2024", directory=None, units_directory="none"
    )
    assert result.policy["document"]["issued"] == date(2024, 4, 10)
    got = [
        (o["frequency"], o["due"], o["recipients"], o.get("covers_from"))
        for o in result.policy["obligations"]
    ]
    assert got == [
        ("once", {"fixed_date": date(2024, 4, 19)}, ["各牵头单位"], None),
        ("quarterly", {"day_of_month": 31, "lands": "in_period"}, ["各部门各单位"], "2024-Q2"),
    ]


def test_content_is_what_the_notice_asks_to_make_clear_not_what_it_checks_against() -> None:
    """明确A，明确B，明确C lists the content; 对照… (checked against) and 对…进行督办 do not."""
    [draft] = find_obligations(
        [
            "一、各责任单位要对照年度目标任务，制订工作方案，明确责任，明确措施，明确时间节点，"
            "并于2024年4月15日前将工作方案报县人民政府办公室。县人民政府办公室将对各项任务的"
            "落实情况进行全程跟踪督办。"
        ],
        ISSUED,
        NAMES,
    )
    assert draft.content == ["责任", "措施", "时间节点"]
    assert draft.name == "工作方案"
