"""The Chinese working-day calendar: statutory holidays and 调休 working days.

Data comes from the chinesecalendar package; a holiday file in ``config/holidays/YYYY.yaml``
extends it for years it does not cover yet (an office plans next year in December, before the
package catches up) and wins over it for a year both cover. A year neither covers is an error,
or, when the settings allow it, a weekend-only fallback that callers mark unofficial.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

from config.errors import CalendarError, ConfigError
from config.loading import read_yaml, validate_model
from config.schema import HolidayYear
from config.settings import Settings

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = "一二三四五六日"


def weekday_label(day: date) -> str:
    """星期一 … 星期日."""
    return f"星期{WEEKDAYS[day.weekday()]}"


def format_day(day: date) -> str:
    """2023年3月3日（星期五）: how a government notice writes a date."""
    return f"{day.year}年{day.month}月{day.day}日（{weekday_label(day)}）"


def short_day(day: date) -> str:
    """2023-03-03 周五: compact, for tables."""
    return f"{day.isoformat()} 周{WEEKDAYS[day.weekday()]}"


class WorkingCalendar:
    """Answers whether a day is a working day in mainland China, and moves dates across them."""

    def __init__(
        self, overrides: dict[int, HolidayYear] | None = None, allow_weekend_fallback: bool = False
    ) -> None:
        self._overrides = overrides or {}
        self._allow_fallback = allow_weekend_fallback
        self._years: dict[int, tuple[frozenset[date], bool]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkingCalendar:
        return cls(
            load_holiday_files(settings.calendar.holidays_dir),
            settings.calendar.allow_weekend_fallback,
        )

    def _year(self, year: int) -> tuple[frozenset[date], bool]:
        """(working days of the year, official?) computed once per year."""
        if year not in self._years:
            self._years[year] = self._compute_year(year)
        return self._years[year]

    def _compute_year(self, year: int) -> tuple[frozenset[date], bool]:
        days = [date(year, 1, 1) + timedelta(n) for n in range(366)]
        days = [d for d in days if d.year == year]
        override = self._overrides.get(year)
        if override is not None:
            holidays = {
                span.start + timedelta(n)
                for span in override.holidays
                for n in range((span.end - span.start).days + 1)
            }
            extra = set(override.working_days)
            working = {d for d in days if (d.weekday() < 5 and d not in holidays) or d in extra}
            return frozenset(working), True
        try:
            return frozenset(d for d in days if chinese_calendar.is_workday(d)), True
        except NotImplementedError:
            if not self._allow_fallback:
                raise CalendarError(
                    f"{year}年的法定节假日安排尚无数据：chinesecalendar 未覆盖，"
                    f"也没有 config/holidays/{year}.yaml；请按国务院办公厅通知补充该文件"
                ) from None
            logger.warning("%s 年没有节假日数据：仅按周末计算非工作日（非官方）", year)
            return frozenset(d for d in days if d.weekday() < 5), False

    def is_working_day(self, day: date) -> bool:
        return day in self._year(day.year)[0]

    def is_official(self, day: date) -> bool:
        """False when the day's year is answered by the weekend-only fallback."""
        return self._year(day.year)[1]

    def next_working_day(self, day: date) -> date:
        """The first working day on or after ``day``."""
        while not self.is_working_day(day):
            day += timedelta(1)
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day on or before ``day``."""
        while not self.is_working_day(day):
            day -= timedelta(1)
        return day

    def working_days_before(self, day: date, count: int) -> date:
        """The ``count``-th working day before ``day``; 0 is the last working day on or before."""
        if count == 0:
            return self.previous_working_day(day)
        for _ in range(count):
            day = self.previous_working_day(day - timedelta(1))
        return day


def load_holiday_files(directory: Path) -> dict[int, HolidayYear]:
    """Every ``YYYY.yaml`` holiday file in a directory, keyed by year."""
    years: dict[int, HolidayYear] = {}
    if not directory.is_dir():
        return years
    for file in sorted(directory.glob("*.yaml")):
        spec = validate_model(HolidayYear, read_yaml(file), file)
        if file.stem != str(spec.year):
            raise ConfigError(file, "year", f"年份与文件名 {file.name} 不一致", spec.year)
        years[spec.year] = spec
    return years


def local_moment(moment: datetime | None) -> datetime:
    """A flow's clock, read once at its edge: an aware moment as it is, a naive one as
    Asia/Shanghai wall time, None as now (Asia/Shanghai)."""
    if moment is None:
        return datetime.now(SHANGHAI)
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def parse_as_of(value: str | None) -> datetime:
    """A user's ``--as-of``: ISO text (Asia/Shanghai if no offset) or now (``local_moment``)."""
    if value is None:
        return local_moment(None)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CalendarError(
            f"时间格式不正确：{value!r}（应为 2023-01-17 或 2023-01-17T09:00）"
        ) from None
    return local_moment(moment)
