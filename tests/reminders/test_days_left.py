"""距截止还有N个工作日: the working days after the mail's day through the due day, on the 2023
calendar of the State Council (holidays and 调休 working days as chinesecalendar has them)."""

from __future__ import annotations

from datetime import date

import pytest

from tasks.calendar import WorkingCalendar
from tasks.mail.notices import working_days_left

CALENDAR = WorkingCalendar()


@pytest.mark.parametrize(
    ("mail_day", "due", "left", "why"),
    [
        # Across a weekend: Wednesday for Sunday 5 February leaves Thursday and Friday.
        (date(2023, 2, 1), date(2023, 2, 5), 2, "due on a Sunday: Thu 2, Fri 3 Feb"),
        (date(2023, 2, 3), date(2023, 2, 5), 0, "Friday: nothing left after today"),
        (date(2023, 3, 3), date(2023, 3, 8), 3, "over a weekend: Mon 6, Tue 7, Wed 8 Mar"),
        (date(2023, 3, 13), date(2023, 3, 17), 4, "due on a working day, counted"),
        # Across a holiday: 清明, Wednesday 5 April 2023.
        (date(2023, 3, 31), date(2023, 4, 5), 2, "Mon 3, Tue 4 Apr; 5 Apr is 清明"),
        (date(2023, 4, 4), date(2023, 4, 5), 0, "the last working day before 清明"),
        (date(2023, 4, 4), date(2023, 4, 6), 1, "清明 skipped: Thu 6 Apr"),
        # Across 调休 working days: the Spring Festival holiday runs 21–27 January; Saturday 28
        # and Sunday 29 January are worked.
        (date(2023, 1, 20), date(2023, 1, 29), 2, "Sat 28 and Sun 29 Jan are 调休 working days"),
        (date(2023, 1, 20), date(2023, 1, 30), 3, "28, 29, 30 Jan"),
        (date(2023, 1, 19), date(2023, 1, 27), 1, "only Fri 20 Jan; 21–27 Jan is the holiday"),
        # Labour Day: Sunday 23 April is worked, 29 April – 3 May are holidays.
        (date(2023, 4, 21), date(2023, 4, 24), 2, "Sun 23 (调休) and Mon 24 Apr"),
        (date(2023, 4, 28), date(2023, 5, 4), 1, "29 Apr – 3 May off: Thu 4 May"),
        # The due day itself, and after it: nothing left.
        (date(2023, 2, 6), date(2023, 2, 6), 0, "the due day"),
        (date(2023, 2, 7), date(2023, 2, 6), 0, "past due"),
    ],
)
def test_working_days_left(mail_day: date, due: date, left: int, why: str) -> None:
    assert working_days_left(CALENDAR, mail_day, due) == left, why
