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
from tasks.policy_import.obligations import find_due, find_obligations
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
