"""Which notices go out on which day: 陵川's January-20 cycle and one month of 新绛, day by day."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from config.settings import Settings
from models.db import session_scope
from models.notice_data import load_notice_data
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.reminders.plan import Recipient, plan_notices
from tasks.reminders.steps import _cycle_views
from tests.helpers import load_seeds

CAL = WorkingCalendar()


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    return load_seeds(settings)


def plan_day(
    settings: Settings,
    policy: str,
    frequency: str,
    day: date,
    submitted: set[tuple[int, int]] | None = None,
):
    with session_scope(settings) as session:
        data = load_notice_data(session, policy, frequency)
    recipients = {
        code: [Recipient(u.id, u.code, u.name) for u in units if u.id is not None]
        for code, units in data.recipients.items()
    }
    return plan_notices(
        policy=policy,
        cycles=_cycle_views(data, CAL),
        recipients=recipients,
        submitted=submitted if submitted is not None else data.submitted,
        as_of=datetime(day.year, day.month, day.day, 9, 0, tzinfo=SHANGHAI),
    ), recipients


def test_lingchuan_january_20_checklist_day_by_day(loaded: Settings) -> None:
    seen: dict[date, Counter[tuple[str, str]]] = {}
    day = date(2023, 1, 12)
    while day <= date(2023, 1, 20):
        (planned, _), recipients = plan_day(loaded, "lingchuan-2023", "once", day)
        seen[day] = Counter((p.obligation, p.kind) for p in planned)
        for obligation in ("taskforce-setup", "implementation-ledger"):
            units = sorted(p.unit.name for p in planned if p.obligation == obligation)
            if seen[day]:
                assert units == sorted(r.name for r in recipients[obligation])
        day += timedelta(days=1)
    n = len(recipients["taskforce-setup"])
    assert n == len(recipients["implementation-ledger"]) and n > 30

    def both(kind: str) -> Counter[tuple[str, str]]:
        return Counter({("taskforce-setup", kind): n, ("implementation-ledger", kind): n})

    assert {d: c for d, c in seen.items() if c} == {
        date(2023, 1, 12): both("opening"),  # the notice's issue day, a Thursday
        date(2023, 1, 17): both("reminder"),  # 3 working days before Friday the 20th
        date(2023, 1, 20): both("last_day"),
    }


def test_a_unit_that_submitted_is_not_reminded(loaded: Settings) -> None:
    (planned, _), recipients = plan_day(loaded, "lingchuan-2023", "once", date(2023, 1, 17))
    first = recipients["taskforce-setup"][0]
    cycle_id = next(p.cycle_id for p in planned if p.obligation == "taskforce-setup")
    (again, skipped), _ = plan_day(
        loaded, "lingchuan-2023", "once", date(2023, 1, 17), submitted={(cycle_id, first.unit_id)}
    )
    assert len(again) == len(planned) - 1
    assert [(s.unit.name, s.reason) for s in skipped] == [(first.name, "已报送，不再提醒")]


def test_xinjiang_one_month_day_by_day(loaded: Settings) -> None:
    seen = {}
    day = date(2022, 11, 1)
    while day <= date(2022, 11, 30):
        (planned, _), recipients = plan_day(loaded, "xinjiang-2022", "monthly", day)
        if planned:
            assert {p.period for p in planned} == {"2022-10"}
            assert sorted(p.unit.name for p in planned) == sorted(
                r.name for r in recipients["monthly-summary"]
            )
            seen[day] = {p.kind for p in planned}
        day += timedelta(days=1)
    assert seen == {
        date(2022, 11, 1): {"opening"},
        date(2022, 11, 7): {"reminder"},
        date(2022, 11, 10): {"last_day"},  # due Thursday the 10th
    }


def test_nothing_after_the_due_moment(loaded: Settings) -> None:
    with session_scope(loaded) as session:
        data = load_notice_data(session, "lingchuan-2023", "once")
    views = _cycle_views(data, CAL)
    late = datetime(2023, 1, 21, 0, 1, tzinfo=SHANGHAI)
    planned, _ = plan_notices(
        policy="lingchuan-2023", cycles=views, recipients={}, submitted=set(), as_of=late
    )
    assert planned == []
