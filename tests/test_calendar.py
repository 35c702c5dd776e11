"""The working-day calendar and the cycles built on it: real dates, holiday files, properties."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.errors import CalendarError, ConfigError
from config.schema import Policy
from tasks.calendar import WorkingCalendar, format_day, load_holiday_files
from tasks.cycles import cycles_for_obligation, cycles_for_policy, report_title
from tests.helpers import policy_bundle

CAL = WorkingCalendar()


@pytest.mark.parametrize(
    ("day", "working", "why"),
    [
        (date(2023, 1, 20), True, "Friday, last working day before the Spring Festival"),
        (date(2023, 1, 21), False, "Spring Festival holiday (Saturday)"),
        (date(2023, 1, 23), False, "Spring Festival holiday (Monday)"),
        (date(2023, 1, 27), False, "Spring Festival holiday, last day"),
        (date(2023, 1, 28), True, "调休 working Saturday"),
        (date(2023, 1, 29), True, "调休 working Sunday"),
        (date(2023, 9, 29), False, "Mid-Autumn / National Day holiday"),
        (date(2023, 10, 5), False, "National Day holiday"),
        (date(2023, 10, 6), False, "National Day holiday, last day"),
        (date(2023, 10, 7), True, "调休 working Saturday"),
        (date(2023, 10, 8), True, "调休 working Sunday"),
        (date(2022, 11, 10), True, "an ordinary Thursday"),
        (date(2022, 11, 12), False, "an ordinary Saturday"),
    ],
)
def test_real_dates(day: date, working: bool, why: str) -> None:
    assert CAL.is_working_day(day) is working, why


def test_2023_01_20_is_a_friday_and_the_last_working_day_before_the_holiday() -> None:
    assert format_day(date(2023, 1, 20)) == "2023年1月20日（星期五）"
    assert CAL.next_working_day(date(2023, 1, 21)) == date(2023, 1, 28)
    assert CAL.previous_working_day(date(2023, 1, 27)) == date(2023, 1, 20)


def test_working_days_before_counts_only_working_days() -> None:
    # Three working days before Saturday 2023-01-28 (a 调休 working day) skip the whole holiday.
    assert CAL.working_days_before(date(2023, 1, 28), 1) == date(2023, 1, 20)
    assert CAL.working_days_before(date(2023, 1, 28), 3) == date(2023, 1, 18)
    assert CAL.working_days_before(date(2023, 10, 5), 0) == date(2023, 9, 28)


def _policy(obligation: dict[str, object], start: str = "2023-01-12", end: str = "2023-12-31"):
    return Policy.model_validate(
        {
            "code": "test",
            "county": "测试县",
            "units_directory": "test",
            "document": {
                "issuer": "测试县人民政府办公室",
                "number": "测政办发〔2023〕1号",
                "title": "测试",
                "issued": start,
            },
            "active": {"start": start, "end": end},
            "sections": [{"id": "一", "title": "测试"}],
            "measures": [
                {
                    "number": "1",
                    "section": "一",
                    "title": "测试",
                    "text": "测试。",
                    "units": [{"unit": "县发改局", "role": "responsible"}],
                }
            ],
            "task_force": {
                "name": "专班",
                "office": {
                    "name": "专班办公室",
                    "unit": "县发改局",
                    "mailbox": "office@test.example.org",
                },
            },
            "obligations": [obligation],
        }
    )


def _monthly(
    rule: str = "stay",
    day: int = 5,
    first: str = "2023-01",
    last: str = "2023-12",
    before: list[int] | None = None,
) -> dict[str, object]:
    return {
        "code": "monthly-progress",
        "name": "月度进展情况报告",
        "frequency": "monthly",
        "recipients": ["县发改局"],
        "due": {"day_of_month": day},
        "covers_from": first,
        "covers_to": last,
        "on_non_working_day": rule,
        "reminders": {"working_days_before": before if before is not None else [3, 0]},
        "content": [{"key": "progress", "label": "工作落实情况"}],
        "source_text": "各乡镇、各部门于每月5日前，将月度进展情况报告报送县工作专班办公室。",
    }


def _cycle(rule: str, period: str):
    policy = _policy(_monthly(rule))
    return next(
        c for c in cycles_for_obligation(policy.obligations[0], policy, CAL) if c.period == period
    )


def test_lingchuan_report_before_october_5th_meets_the_national_day_holiday() -> None:
    # 2023-10-05 lies in the holiday (09-29..10-06): by default the deadline stays …
    stay = _cycle("stay", "2023-09")
    assert stay.due_date == date(2023, 10, 5)
    assert stay.due_at.isoformat() == "2023-10-05T23:59:00+08:00"
    # … and the reminders move to the working days before the holiday.
    assert stay.reminders == (date(2023, 9, 26), date(2023, 9, 28))
    # Moving to the next working day lands on Saturday 10-07, a 调休 working day.
    assert _cycle("next_working_day", "2023-09").due_date == date(2023, 10, 7)
    assert _cycle("previous_working_day", "2023-09").due_date == date(2023, 9, 28)


def test_due_on_a_weekend_stays_and_the_due_day_reminder_moves_earlier() -> None:
    february = _cycle("stay", "2023-02")  # due by Sunday 2023-03-05
    assert february.due_date == date(2023, 3, 5)
    assert february.reminders == (date(2023, 3, 1), date(2023, 3, 3))


def test_once_obligation_due_on_january_20() -> None:
    policy = _policy(
        {
            **_monthly(),
            "code": "taskforce-setup",
            "frequency": "once",
            "due": {"fixed_date": "2023-01-20"},
            "covers_from": None,
            "covers_to": None,
        }
    )
    (cycle,) = cycles_for_obligation(policy.obligations[0], policy, CAL)
    assert (cycle.opens, cycle.due_date) == (date(2023, 1, 12), date(2023, 1, 20))
    assert cycle.reminders == (date(2023, 1, 17), date(2023, 1, 20))
    assert cycle.period == "2023" and cycle.official
    assert cycle.period_label == "2023年1月20日"  # its due day: "2023年" reads like a year's


def test_lingchuans_one_off_reports_are_labelled_by_their_due_day() -> None:
    """The 工作专班建立情况 and the 任务清单台账 are due 20 January 2023, once; the period key
    stays the year (it is stored and part of paths and idempotency keys)."""
    policy = policy_bundle("lingchuan-2023").policy
    once = {
        c.obligation: (c.period, c.period_label)
        for c in cycles_for_policy(policy, CAL)
        if c.period == "2023"
    }
    assert once == {
        "taskforce-setup": ("2023", "2023年1月20日"),
        "implementation-ledger": ("2023", "2023年1月20日"),
    }
    march = [c for c in cycles_for_policy(policy, CAL) if c.period == "2023-03"]
    assert [(c.obligation, c.period_label) for c in march] == [("monthly-progress", "2023年3月")]


@pytest.mark.parametrize(
    ("label", "name", "title"),
    [
        ("2023年3月", "月度进展情况报告", "2023年3月进展情况报告"),  # 陵川: not 3月月度
        ("2022年11月", "月度工作总结", "2022年11月工作总结"),  # 新绛
        ("2023年1月20日", "工作专班建立情况", "2023年1月20日工作专班建立情况"),  # a one-off
        ("2023年1月20日", "贯彻落实举措及任务清单台账", "2023年1月20日贯彻落实举措及任务清单台账"),
        ("2023年2月", "进展情况报告", "2023年2月进展情况报告"),
        ("2023年2月", "月报", "2023年2月月报"),  # 月报 is the word itself, not a doubled 月度
    ],
)
def test_report_title_says_the_month_once(label: str, name: str, title: str) -> None:
    assert report_title(label, name) == title


# --- properties ------------------------------------------------------------------------------

months = st.integers(min_value=2005 * 12, max_value=2025 * 12 + 10)


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    first=months,
    span=st.integers(min_value=0, max_value=14),
    day=st.integers(min_value=1, max_value=28),
    rule=st.sampled_from(["stay", "next_working_day", "previous_working_day"]),
    before=st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=4),
)
def test_cycle_properties(first: int, span: int, day: int, rule: str, before: list[int]) -> None:
    last = min(first + span, 2025 * 12 + 10)
    start = f"{first // 12}-{first % 12 + 1:02d}"
    end = f"{last // 12}-{last % 12 + 1:02d}"
    policy = _policy(_monthly(rule, day, start, end, before), start=f"{start}-01", end=f"{end}-28")
    cycles = cycles_for_obligation(policy.obligations[0], policy, CAL)
    assert len(cycles) == last - first + 1
    for cycle in cycles:
        assert CAL.is_working_day(cycle.opens)
        assert cycle.opens <= cycle.due_date
        for reminder in cycle.reminders:
            assert CAL.is_working_day(reminder), "no reminder on a non-working day"
            assert cycle.opens < reminder <= cycle.due_date, "every reminder before the due moment"
    dues = [c.due_at for c in cycles]
    assert all(a < b for a, b in pairwise(dues)), "due moments increase"


# --- years the package does not cover -------------------------------------------------------

HOLIDAYS_2027 = """\
year: 2027
source: 测试用节假日文件（非官方数据，仅用于检验文件机制）
holidays:
  - {name: 元旦, start: 2027-01-01, end: 2027-01-03}
  - {name: 春节, start: 2027-02-06, end: 2027-02-13}
working_days: [2027-02-20]
"""


def test_uncovered_year_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match=r"2027年.*config/holidays/2027.yaml"):
        WorkingCalendar().is_working_day(date(2027, 3, 1))


def test_weekend_fallback_is_marked_unofficial() -> None:
    calendar = WorkingCalendar(allow_weekend_fallback=True)
    assert calendar.is_working_day(date(2027, 3, 1))  # a Monday
    assert not calendar.is_working_day(date(2027, 3, 6))  # a Saturday
    assert not calendar.is_official(date(2027, 3, 1))
    assert calendar.is_official(date(2026, 3, 2))


def test_holiday_file_extends_and_wins(tmp_path: Path) -> None:
    (tmp_path / "2027.yaml").write_text(HOLIDAYS_2027, encoding="utf-8")
    calendar = WorkingCalendar(load_holiday_files(tmp_path))
    assert not calendar.is_working_day(date(2027, 2, 8))  # Monday inside the file's holiday
    assert calendar.is_working_day(date(2027, 2, 20))  # Saturday 调休 working day
    assert calendar.is_working_day(date(2027, 2, 15)) and calendar.is_official(date(2027, 2, 15))
    # A file for a covered year wins over the package: 2026-01-05 (a Monday) becomes a holiday.
    (tmp_path / "2026.yaml").write_text(
        "year: 2026\nsource: 测试\nholidays: [{name: 测试, start: 2026-01-05, end: 2026-01-05}]\n",
        encoding="utf-8",
    )
    assert not WorkingCalendar(load_holiday_files(tmp_path)).is_working_day(date(2026, 1, 5))
    assert CAL.is_working_day(date(2026, 1, 5))


def test_package_matches_the_2026_notice() -> None:
    """国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04), spot checks."""
    assert CAL.is_working_day(date(2026, 1, 4))  # Sunday, 上班
    assert not CAL.is_working_day(date(2026, 2, 23))  # Monday, Spring Festival
    assert CAL.is_working_day(date(2026, 2, 28))  # Saturday, 上班
    assert CAL.is_working_day(date(2026, 10, 10))  # Saturday, 上班


@pytest.mark.parametrize(
    ("content", "path", "fragment"),
    [
        (
            "year: 2027\nsource: x\nholidays: [{name: 春节, start: 2026-02-06, end: 2027-02-13}]\n",
            "holidays[0]",
            "不在 2027 年",
        ),
        (
            "year: 2027\nsource: x\nholidays: [{name: 春节, start: 2027-02-31, end: 2027-02-13}]\n",
            "holidays[0].start",
            "不是有效日期",
        ),
        (
            "year: 2028\nsource: x\nholidays: [{name: 元旦, start: 2028-01-01, end: 2028-01-01}]\n",
            "year",
            "不一致",
        ),
    ],
)
def test_bad_holiday_file_names_file_path_and_value(
    tmp_path: Path, content: str, path: str, fragment: str
) -> None:
    file = tmp_path / "2027.yaml"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_holiday_files(tmp_path)
    assert caught.value.file == str(file)
    assert caught.value.path == path
    assert fragment in str(caught.value)


def test_per_year_cache_agrees_with_the_package_for_2024() -> None:
    days = [date(2024, 1, 1) + timedelta(n) for n in range(366)]
    ours = [d for d in days if CAL.is_working_day(d)]
    assert ours == chinese_calendar.get_workdays(date(2024, 1, 1), date(2024, 12, 31))
