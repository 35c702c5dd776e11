"""Measure deadlines on real dates of both seeds: kinds, standings, extensions."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from config.settings import Settings
from models.db import session_scope
from models.deadline_store import DeadlineError, extend_deadline, measure_deadlines
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI
from tasks.deadlines import MeasureDeadline, date_with_weekday, stand, worth_listing
from tests.helpers import load_seeds

AT = datetime(2023, 6, 20, 10, 0, tzinfo=SHANGHAI)


def _deadline(kind: str = "task", due: date = date(2023, 6, 30)) -> MeasureDeadline:
    return MeasureDeadline("12", "着力扩大文旅消费", kind, due, "2023年6月前")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("today", "status", "state", "light", "days_text"),
    [
        (date(2023, 5, 30), "推进中", "upcoming", None, "剩31天"),
        (date(2023, 5, 31), "推进中", "due_soon", "yellow", "剩30天"),
        (date(2023, 6, 30), None, "due_soon", "yellow", "今日到期"),  # the day itself is in time
        (date(2023, 7, 1), "推进中", "overdue", "red", "逾期1天"),
        (date(2023, 7, 1), "已完成", "done", None, "—"),
    ],
)
def test_a_task_deadline_turns_yellow_in_the_window_and_red_the_day_after(
    today: date, status: str | None, state: str, light: str | None, days_text: str
) -> None:
    standing = stand(_deadline(), today=today, lead_status=status, window_days=30)
    assert (standing.state, standing.light, standing.days_text) == (state, light, days_text)


def test_a_window_end_is_shown_but_never_lights() -> None:
    # 陵川 26(1) 政策执行至2023年4月30日: the 2023-04-10 bulletin tells the units it ends.
    window = _deadline("window", date(2023, 4, 30))
    before = stand(window, today=date(2023, 4, 10), lead_status=None, window_days=30)
    after = stand(window, today=date(2023, 5, 4), lead_status="推进中", window_days=30)
    assert (before.state, before.light, before.days_text) == ("window_open", None, "剩20天")
    assert worth_listing(before, 30)
    assert (after.state, after.light) == ("window_ended", None)
    assert not worth_listing(after, 30)


def test_weekday_of_a_deadline_on_a_holiday() -> None:
    # 2023-04-30 is a Sunday inside the 劳动节 holiday (4月29日至5月3日).
    assert date_with_weekday(date(2023, 4, 30)) == "2023年4月30日（星期日）"


def test_seed_deadlines_load_with_their_kinds(db_settings: Settings) -> None:
    load_seeds(db_settings, "lingchuan-2023", "xinjiang-2022")
    with session_scope(db_settings) as session:
        lingchuan = measure_deadlines(session, get_policy(session, "lingchuan-2023"))
        xinjiang = measure_deadlines(session, get_policy(session, "xinjiang-2022"))
    assert [(d.number, d.kind, d.due) for d in lingchuan] == [
        ("12", "task", date(2023, 6, 30)),
        ("26(1)", "window", date(2023, 4, 30)),
        ("26(2)", "window", date(2023, 12, 31)),
        ("26(9)", "window", date(2023, 12, 31)),
        ("31", "window", date(2023, 6, 30)),
        ("32", "window", date(2023, 6, 30)),
    ]
    assert [(d.number, d.kind, d.due) for d in xinjiang] == [("11", "task", date(2022, 12, 31))]


def test_an_extension_moves_the_deadline_once_and_survives_a_reload(db_settings: Settings) -> None:
    load_seeds(db_settings, "lingchuan-2023")
    with session_scope(db_settings) as session:
        after, added = extend_deadline(
            session, "lingchuan-2023", "12", date(2023, 9, 30),
            reason="景区门票补贴资金下达延迟", by="县文旅局", at=AT,
        )  # fmt: skip
        again, added_again = extend_deadline(
            session, "lingchuan-2023", "12", date(2023, 9, 30),
            reason="景区门票补贴资金下达延迟", by="县文旅局", at=AT,
        )  # fmt: skip
    assert (after.due, after.original, added, added_again) == (
        date(2023, 9, 30), date(2023, 6, 30), True, False,
    )  # fmt: skip
    assert again == after
    load_seeds(db_settings, "lingchuan-2023")  # reloading the policy file keeps the office's 延期
    with session_scope(db_settings) as session:
        (twelve,) = [
            d for d in measure_deadlines(session, get_policy(session, "lingchuan-2023"))
            if d.number == "12"
        ]  # fmt: skip
    assert twelve.due == date(2023, 9, 30)
    assert twelve.extensions[0].reason == "景区门票补贴资金下达延迟"


@pytest.mark.parametrize(
    ("number", "new", "reason", "message"),
    [
        ("26(1)", date(2023, 6, 30), "延续", "是政策执行期，不是工作完成时限，不能延期"),
        ("5", date(2023, 6, 30), "延续", "第5条措施没有完成时限"),
        ("12", date(2023, 6, 1), "提前", "须晚于现行时限 2023年6月30日（星期五）"),
        ("12", date(2023, 9, 30), " ", "须用 --reason 说明理由"),
    ],
)
def test_an_extension_the_office_cannot_make_is_refused_with_the_reason(
    settings: Settings, number: str, new: date, reason: str, message: str
) -> None:
    load_seeds(settings, "lingchuan-2023")
    with session_scope(settings) as session, pytest.raises(DeadlineError, match=message):
        extend_deadline(session, "lingchuan-2023", number, new, reason=reason, by="办公室", at=AT)
