"""Quarterly, half-yearly, yearly and weekly cycles: keys, labels, due days and validation."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from config.errors import ConfigError
from config.loading import load_policy_file
from config.schema import Obligation
from config.settings import Settings
from tasks.calendar import WorkingCalendar
from tasks.cycles import (
    cycles_for_obligation,
    period_bounds,
    period_key,
    period_label,
    periods_between,
    report_title,
)
from tests.helpers import DATA
from tests.test_calendar import _policy

CAL = WorkingCalendar()
CYCLES = DATA / "cycles"


def _obligation(frequency: str, due: dict[str, Any], first: str, last: str) -> dict[str, Any]:
    return {
        "code": "report",
        "name": "工作进展情况报告",
        "frequency": frequency,
        "recipients": ["县发改局"],
        "due": due,
        "covers_from": first,
        "covers_to": last,
        "content": [{"key": "progress", "label": "工作落实情况"}],
        "source_text": "测试。",
    }


@pytest.mark.parametrize(
    ("frequency", "day", "key", "label", "bounds"),
    [
        ("monthly", date(2023, 2, 14), "2023-02", "2023年2月", ("2023-02-01", "2023-02-28")),
        ("quarterly", date(2023, 2, 14), "2023-Q1", "2023年第一季度", ("2023-01-01", "2023-03-31")),
        (
            "quarterly",
            date(2023, 12, 31),
            "2023-Q4",
            "2023年第四季度",
            ("2023-10-01", "2023-12-31"),
        ),
        ("half_yearly", date(2023, 6, 30), "2023-H1", "2023年上半年", ("2023-01-01", "2023-06-30")),
        ("half_yearly", date(2023, 7, 1), "2023-H2", "2023年下半年", ("2023-07-01", "2023-12-31")),
        ("yearly", date(2023, 7, 1), "2023", "2023年", ("2023-01-01", "2023-12-31")),
        (
            "weekly",
            date(2023, 2, 1),
            "2023-W05",
            "2023年第5周（1月30日—2月5日）",
            ("2023-01-30", "2023-02-05"),
        ),
        # ISO weeks: 2027-01-01 (a Friday) belongs to 2026's 53rd week.
        (
            "weekly",
            date(2027, 1, 1),
            "2026-W53",
            "2026年第53周（12月28日—1月3日）",
            ("2026-12-28", "2027-01-03"),
        ),
    ],
)
def test_period_keys_labels_and_bounds(
    frequency: str, day: date, key: str, label: str, bounds: tuple[str, str]
) -> None:
    assert period_key(frequency, day) == key
    assert period_label(frequency, key) == label
    assert tuple(d.isoformat() for d in period_bounds(frequency, key)) == bounds


def test_periods_between_crosses_years() -> None:
    assert periods_between("quarterly", "2022-Q4", "2023-Q2") == ["2022-Q4", "2023-Q1", "2023-Q2"]
    assert periods_between("weekly", "2026-W52", "2027-W01") == ["2026-W52", "2026-W53", "2027-W01"]
    assert periods_between("half_yearly", "2023-H2", "2024-H1") == ["2023-H2", "2024-H1"]
    assert periods_between("yearly", "2023", "2025") == ["2023", "2024", "2025"]


@pytest.mark.parametrize(
    ("label", "name", "title"),
    [
        ("2023年第一季度", "季度工作进展情况报告", "2023年第一季度工作进展情况报告"),
        ("2023年第一季度", "工作进展情况报告", "2023年第一季度工作进展情况报告"),
        ("2023年上半年", "半年度工作总结", "2023年上半年工作总结"),
        ("2023年上半年", "半年工作总结", "2023年上半年工作总结"),
        ("2023年", "年度工作总结", "2023年度工作总结"),
        ("2023年", "工作总结", "2023年工作总结"),
        ("2023年第5周（1月30日—2月5日）", "每周进展情况", "2023年第5周（1月30日—2月5日）进展情况"),
        ("2023年3月", "月度进展情况报告", "2023年3月进展情况报告"),
    ],
)
def test_report_title_names_the_period_once(label: str, name: str, title: str) -> None:
    assert report_title(label, name) == title


def _cycles(frequency: str, due: dict[str, Any], first: str, last: str) -> dict[str, Any]:
    policy = _policy(_obligation(frequency, due, first, last), start="2023-01-03")
    return {c.period: c for c in cycles_for_obligation(policy.obligations[0], policy, CAL)}


def test_quarterly_within_days_after_the_quarter() -> None:
    # 每季度结束后10日内: Q1 ends 03-31, due 04-10 (a Monday).
    cycles = _cycles("quarterly", {"days_after_end": 10}, "2023-Q1", "2023-Q4")
    assert list(cycles) == ["2023-Q1", "2023-Q2", "2023-Q3", "2023-Q4"]
    q1 = cycles["2023-Q1"]
    assert (q1.covers_start, q1.covers_end, q1.due_date) == (
        date(2023, 1, 1),
        date(2023, 3, 31),
        date(2023, 4, 10),
    )
    assert q1.period_label == "2023年第一季度"
    # Seven working days before 04-10 (04-05 is 清明): 04-07, 06, 04, 03, 03-31, 30, 29.
    assert q1.opens == date(2023, 3, 29)
    assert cycles["2023-Q4"].due_date == date(2024, 1, 10)


def test_quarterly_in_the_last_month_and_at_quarter_end() -> None:
    # 每季度最后一个月的20日前 / 每季度末 (31 = the month's last day: 06-30, not 07-01).
    by_20th = _cycles("quarterly", {"day_of_month": 20, "lands": "in_period"}, "2023-Q1", "2023-Q2")
    assert [c.due_date for c in by_20th.values()] == [date(2023, 3, 20), date(2023, 6, 20)]
    at_end = _cycles("quarterly", {"day_of_month": 31, "lands": "in_period"}, "2023-Q1", "2023-Q2")
    assert [c.due_date for c in at_end.values()] == [date(2023, 3, 31), date(2023, 6, 30)]
    first_month = _cycles(
        "quarterly", {"day_of_month": 5, "lands": "after_period"}, "2023-Q1", "2023-Q1"
    )
    assert first_month["2023-Q1"].due_date == date(2023, 4, 5)  # 每季度首月5日前


def test_half_yearly_and_yearly() -> None:
    halves = _cycles(
        "half_yearly", {"day_of_month": 25, "lands": "in_period"}, "2023-H1", "2023-H2"
    )
    assert [(k, c.due_date) for k, c in halves.items()] == [
        ("2023-H1", date(2023, 6, 25)),
        ("2023-H2", date(2023, 12, 25)),
    ]
    assert halves["2023-H2"].period_label == "2023年下半年"
    # 每年1月10日前报送上年: 2023's report is due 2024-01-10.
    years = _cycles(
        "yearly", {"month": 1, "day_of_month": 10, "lands": "after_period"}, "2023", "2023"
    )
    assert years["2023"].due_date == date(2024, 1, 10)
    assert years["2023"].covers_start == date(2023, 1, 1)
    # 每年12月20日前报送当年.
    this_year = _cycles(
        "yearly", {"month": 12, "day_of_month": 20, "lands": "in_period"}, "2023", "2023"
    )
    assert this_year["2023"].due_date == date(2023, 12, 20)


def test_weekly_friday_of_the_week_and_monday_after() -> None:
    # 每周五前: week 5 of 2023 (01-30..02-05) is due Friday 02-03; it opens on its own Monday,
    # not in week 4, whose report is still open then.
    friday = _cycles("weekly", {"weekday": 5, "lands": "in_period"}, "2023-W05", "2023-W07")
    w5 = friday["2023-W05"]
    assert w5.due_date == date(2023, 2, 3)
    assert w5.opens == date(2023, 1, 30)
    assert w5.reminders == (date(2023, 1, 31), date(2023, 2, 3))
    # 每周一报送上周: due the Monday after.
    monday = _cycles("weekly", {"weekday": 1, "lands": "after_period"}, "2023-W05", "2023-W05")
    assert monday["2023-W05"].due_date == date(2023, 2, 6)
    assert monday["2023-W05"].opens >= date(2023, 1, 30)


def test_every_weekly_cycle_opens_after_the_previous_is_due() -> None:
    cycles = _cycles("weekly", {"weekday": 5, "lands": "in_period"}, "2023-W02", "2023-W52")
    ordered = list(cycles.values())
    assert len(ordered) == 51
    for cycle in ordered:
        # A week opens within itself, unless its days up to the due day are all holidays.
        if CAL.next_working_day(cycle.covers_start) < cycle.due_date:
            assert cycle.covers_start <= cycle.opens < cycle.due_date, cycle.period
    # The Spring Festival week (01-23..01-27 off, due Friday 01-27 stays) can only open on the
    # last working day before it, the day week 3 is due.
    holiday_week = cycles["2023-W04"]
    assert (holiday_week.opens, holiday_week.due_date) == (date(2023, 1, 20), date(2023, 1, 27))
    assert holiday_week.opens == cycles["2023-W03"].due_date


@pytest.mark.parametrize(
    ("frequency", "due", "first", "last", "path", "message"),
    [
        (
            "quarterly",
            {"day_of_month": 20},
            "2023-Q1",
            "2023-Q4",
            ("due", "lands"),
            "每季度报送须给出 lands",
        ),
        ("quarterly", {"days_after_end": 10}, "2023-01", "2023-Q4", ("covers_from",), "YYYY-Qn"),
        (
            "weekly",
            {"weekday": 8, "lands": "in_period"},
            "2023-W01",
            "2023-W02",
            ("due", "weekday"),
            "",
        ),
        (
            "weekly",
            {"weekday": 5, "lands": "in_period"},
            "2023-W5",
            "2023-W09",
            ("covers_from",),
            "YYYY-Www",
        ),
        (
            "weekly",
            {"day_of_month": 5, "lands": "in_period"},
            "2023-W01",
            "2023-W09",
            ("due", "day_of_month"),
            "每周报送不使用 day_of_month",
        ),
        (
            "yearly",
            {"day_of_month": 10, "lands": "after_period"},
            "2023",
            "2024",
            ("due", "month"),
            "每年报送须给出 month",
        ),
        ("monthly", {"day_of_month": 30}, "2023-01", "2023-02", ("due", "day_of_month"), "1–28"),
        (
            "half_yearly",
            {"days_after_end": 15},
            "2023-H2",
            "2023-H1",
            ("covers_to",),
            "早于 covers_from",
        ),
        (
            "half_yearly",
            {"days_after_end": 15, "lands": "in_period"},
            "2023-H1",
            "2023-H2",
            ("due", "lands"),
            "",
        ),
    ],
)
def test_bad_rules_name_the_field(
    frequency: str, due: dict[str, Any], first: str, last: str, path: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Obligation.model_validate(_obligation(frequency, due, first, last))
    error = caught.value.errors()[0]
    cause = error.get("ctx", {}).get("error")
    where = (*error["loc"], *getattr(cause, "path", ()))
    assert where[-len(path) :] == path
    assert message in error["msg"]


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        (
            "covers_to: 2023-Q4",
            "covers_to: 2024-Q1",
            "obligations[0].covers_to",
            "报告期不在政策有效期 2023-01-09～2023-12-31 内（值：'2024-Q1'）",
        ),
        (
            "covers_from: 2023-W05",
            "covers_from: 2023-W01",  # 2023-01-02..08: the week the policy starts in is W02
            "obligations[1].covers_from",
            "报告期不在政策有效期",
        ),
        (
            "    days_after_end: 10\n",
            "    day_of_month: 10\n",
            "obligations[0].due.lands",
            "每季度报送须给出 lands",
        ),
    ],
)
def test_policy_file_errors_name_file_path_and_value(
    tmp_path: Path, old: str, new: str, path: str, message: str
) -> None:
    """A covered period outside the policy's active period, or an incomplete rule, is refused
    with the file, the YAML path and the value."""
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (CYCLES / "policies" / "qingshi-2023.yaml").read_text(encoding="utf-8")
    assert old in text
    file = policies / "qingshi-2023.yaml"
    file.write_text(text.replace(old, new), encoding="utf-8")
    settings = Settings(policies_dir=policies, units_dir=CYCLES / "units")
    with pytest.raises(ConfigError) as caught:
        load_policy_file(file, settings)
    assert caught.value.path == path
    assert str(file) in str(caught.value) and message in str(caught.value)
