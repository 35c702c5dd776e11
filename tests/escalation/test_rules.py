"""The 13710 clocks and the lag rules the escalation ladder will use."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.escalation.cases import Event, case_state
from tasks.escalation.rules import (
    CycleRecord,
    LagRules,
    add_days,
    add_month,
    clocks_13710,
    deserves_commendation,
    is_repeat_offender,
    lags_of,
    month_clock,
)

CAL = WorkingCalendar()


def test_clocks_in_working_days_across_the_spring_festival() -> None:
    # Opened Friday 20 January 2023; the Spring Festival holiday runs 21–27 January and
    # Saturday 28 and Sunday 29 January are 调休 working days.
    clocks = {c.code: c.deadline for c in clocks_13710(date(2023, 1, 20), CAL)}
    assert clocks == {
        "deploy": date(2023, 1, 20),
        "feedback": date(2023, 1, 30),  # 28, 29, 30
        "solve": date(2023, 2, 3),  # 28, 29, 30, 31, 1, 2, 3
        "major": date(2023, 2, 20),
        "close": None,
    }


def test_clocks_in_natural_days_and_the_labels() -> None:
    clocks = clocks_13710(date(2023, 1, 20), CAL, "natural")
    assert [c.deadline for c in clocks] == [
        date(2023, 1, 20), date(2023, 1, 23), date(2023, 1, 27), date(2023, 2, 20), None,
    ]  # fmt: skip
    assert [c.label for c in clocks] == [
        "1：当日部署", "3：3日内反馈进展", "7：一般问题7日内办结",
        "1：重大复杂问题1个月内办结或明确时间表", "0：跟踪到底、销号清零",
    ]  # fmt: skip
    assert not any("10日" in c.label for c in clocks)  # 13710 is not "10 days to close"
    # Only deployment is due on the day the case opens: a 督办单 says 当日（…）内, not …前.
    assert [c.code for c in clocks if c.same_day] == ["deploy"]
    working = clocks_13710(date(2023, 1, 20), CAL)
    assert [c.term for c in working] == ["当日", "3个工作日内", "7个工作日内", "1个月内", ""]


def test_an_extension_moves_every_clock() -> None:
    moved = clocks_13710(date(2023, 3, 6), CAL, "natural", extension_days=5)
    assert [c.deadline for c in moved][:4] == [
        date(2023, 3, 11), date(2023, 3, 14), date(2023, 3, 18), date(2023, 4, 11),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (date(2023, 1, 31), date(2023, 2, 28)),
        (date(2024, 1, 31), date(2024, 2, 29)),
        (date(2023, 12, 15), date(2024, 1, 15)),
    ],
)
def test_a_month_later(start: date, expected: date) -> None:
    assert add_month(start) == expected


def test_the_month_clock_moves_off_rest_days_when_working_days_count() -> None:
    # 22 December 2022 + a month = Sunday 22 January 2023, in the Spring Festival holiday: the
    # next working day is Saturday 28 January (调休). Natural days keep the calendar date.
    assert month_clock(date(2022, 12, 22), "working", CAL) == date(2023, 1, 28)
    assert month_clock(date(2022, 12, 22), "natural", CAL) == date(2023, 1, 22)
    assert month_clock(date(2023, 3, 6), "working", CAL) == date(2023, 4, 6)  # a Thursday


def test_working_days_skip_weekends() -> None:
    assert add_days(date(2023, 3, 3), 1, "working", CAL) == date(2023, 3, 6)  # Fri → Mon
    assert add_days(date(2023, 3, 3), 0, "working", CAL) == date(2023, 3, 3)


def test_lags_of_a_cycle() -> None:
    record = CycleRecord(
        "2023-02",
        "late",
        lights=("green", "red", "red"),
        self_reported=("滞后", "推进中", "未启动"),
    )
    assert [(lag.kind, lag.detail) for lag in lags_of(record)] == [
        ("late", "逾期报送"),
        ("self_reported", "自报措施进展滞后1项、未启动1项"),
        ("behind_target", "量化目标落后序时进度（红灯2项）"),
    ]
    assert lags_of(CycleRecord("2023-02", "on_time", ("green",), ("推进中",))) == []
    assert [lag.kind for lag in lags_of(CycleRecord("2023-03", "missing"))] == ["missing"]


def test_repeat_offenders_and_commendations() -> None:
    rules = LagRules()
    on_time = CycleRecord("2023-01", "on_time", ("green",))
    late = CycleRecord("2023-02", "late")
    missing = CycleRecord("2023-03", "missing")
    assert is_repeat_offender([on_time, late, missing], rules)
    assert not is_repeat_offender([late, on_time, missing], rules)
    assert not is_repeat_offender([missing], rules)
    assert deserves_commendation([late, on_time, on_time, on_time], rules)
    yellow = CycleRecord("2023-04", "on_time", ("green", "yellow"))
    assert not deserves_commendation([on_time, on_time, yellow], rules)
    doubtful = CycleRecord("2023-04", "on_time", ("green", "check"))  # a 待核实 figure
    assert not deserves_commendation([on_time, on_time, doubtful], rules)
    assert not deserves_commendation([on_time, on_time], rules)


def _event(kind: str, day: int, **payload: object) -> Event:
    return Event(kind, datetime(2023, 3, day, 10, tzinfo=SHANGHAI), "办公室", payload)


def test_case_state_is_computed_from_events() -> None:
    opened = _event("opened", 9, reason="逾期未报")
    state = case_state([opened], CAL)
    assert (state.status, state.label, state.opened) == ("open", "督办中", date(2023, 3, 9))
    assert [c.code for c in state.overdue_clocks(date(2023, 3, 15))] == ["feedback"]
    # Events in any order; feedback meets the 3-day clock; an extension moves the clocks.
    events = [_event("extended", 13, days=2, reason="春耕"), _event("feedback", 10), opened]
    later = case_state(events, CAL)
    assert later.feedback and later.extension_days == 2
    assert later.clocks[1].deadline == add_days(date(2023, 3, 13), 3, "working", CAL)
    assert later.overdue_clocks(date(2023, 3, 15)) == ()
    # A proposal waits for a person; a rejection puts the case back, an approval escalates it.
    proposed = [*events, _event("proposed", 20, step="interview")]
    assert case_state(proposed, CAL).status == "awaiting_approval"
    refused = case_state([*proposed, _event("rejected", 21, step="interview")], CAL)
    assert (refused.status, refused.rejected_steps) == ("open", ("interview",))
    again = [*proposed, _event("approved", 21, step="interview")]
    assert case_state(again, CAL).approved_steps == ("interview",)
    closed = case_state([*again, _event("resolved", 22), _event("closed", 23)], CAL)
    assert closed.status == "closed" and closed.overdue_clocks(date(2023, 6, 1)) == ()
    with pytest.raises(ValueError):
        case_state([_event("feedback", 10)], CAL)
