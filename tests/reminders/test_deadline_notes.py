"""Requests for a report remind a lead unit of its measures' task deadlines (issue 23).

On the seeds' real dates: 陵川 measure 12 (due Friday 30 June 2023) in the 5 June 截止日提醒 of
May's report; 新绛 measure 11 (due Saturday 31 December 2022) in the opening notices of
December, then overdue in the reminder of 5 January 2023.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlmodel import select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from tasks.deadlines import Extension, MeasureDeadline
from tasks.reminders.plan import DeadlineNote, deadline_notes
from tasks.reminders.steps import prepare_reminders
from tests import consolidation_fixture
from tests.consolidation_fixture import load_month
from tests.deadline_fixture import report_measure
from tests.helpers import DATA, at, load_seeds, mail_body

LC, XJ = "lingchuan-2023", "xinjiang-2022"
M12 = MeasureDeadline("12", "着力扩大文旅消费", "task", date(2023, 6, 30), "2023年6月前")
M31 = MeasureDeadline("31", "加大信贷支持力度", "window", date(2023, 6, 30), "2023年6月底前")
LATER = Extension(date(2023, 6, 30), date(2023, 9, 30), "省级补贴资金尚未下达", "王杰",
                  at(date(2023, 7, 6), 15))  # fmt: skip


def note(days: int, overdue: bool = False, extended: bool = False) -> DeadlineNote:
    due = date(2023, 9, 30) if extended else date(2023, 6, 30)
    return DeadlineNote("12", "着力扩大文旅消费", "负责", due, extended, days, overdue)


@pytest.mark.parametrize(
    ("led", "status", "today", "expected"),
    [
        ([(M12, "负责")], None, date(2023, 5, 30), []),  # 31 days ahead: beyond the 30
        ([(M12, "负责")], None, date(2023, 5, 31), [note(30)]),  # the window's far end
        ([(M12, "负责")], "推进中", date(2023, 6, 30), [note(0)]),
        ([(M12, "负责")], "推进中", date(2023, 7, 5), [note(5, overdue=True)]),
        ([(M12, "负责")], "已完成", date(2023, 6, 5), []),  # done: nothing to remind
        ([(M31, "负责")], None, date(2023, 6, 5), []),  # a policy window asks nothing
        ([(replace(M12, extensions=(LATER,)), "负责")], "推进中",
         date(2023, 9, 1), [note(29, extended=True)]),
    ],
)  # fmt: skip
def test_deadline_notes(
    led: list[tuple[MeasureDeadline, str]],
    status: str | None,
    today: date,
    expected: list[DeadlineNote],
) -> None:
    assert deadline_notes(led, {"12": status}, today=today, window_days=30) == expected


def bodies(settings: Settings, kind: str, period: str) -> dict[str, str]:
    """Unit code → the text body of its notice of ``kind`` for ``period``."""
    with session_scope(settings) as session:
        rows = session.exec(select(t.Notification).where(t.Notification.kind == kind)).all()
    return {
        row.idempotency_key.split("/")[3]: mail_body(settings, row).text
        for row in rows
        if row.idempotency_key.split("/")[2] == period
    }


def test_lingchuan_last_day_of_may_names_measure_12(
    db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = db_settings
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", DATA / "escalation")
    load_seeds(settings, LC)
    load_month(settings, "lingchuan-2023-03")  # everyone 推进中, on 3 April
    # 示范区管委会 has done its part of measure 12 and said so in a new version of March's report.
    report_measure(settings, LC, "sfq", ("monthly-progress", "2023-03"), "12", "已完成",
                   at(date(2023, 4, 4), 9))  # fmt: skip
    prepare_reminders(settings, LC, at(date(2023, 6, 5), 9), None)  # Monday: May's is due today
    mails = bodies(settings, "last_day", "2023-05")
    assert (
        "完成时限提示：\n贵单位负责的第12条措施“着力扩大文旅消费”完成时限为2023年6月30日（星期五），"
        "还有25天，请抓紧推进。\n"
    ) in mails["wlj"]
    assert "第12条措施“着力扩大文旅消费”完成时限" in mails["cwz"]  # a township, through 各乡镇
    assert "完成时限提示" not in mails["sfq"]  # reported 已完成
    # 31 and 32 end policy windows the same day: their units are told nothing.
    assert "完成时限提示" not in mails["rhzh"]
    assert "完成时限提示" not in mails["fgj"]  # leads no dated measure


def test_xinjiang_measure_11_before_and_after_new_year(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", DATA / "escalation")
    load_seeds(settings, XJ)
    load_month(settings, "xinjiang-2022-10")  # 县发改局 reports 推进中 on 8 November
    prepare_reminders(settings, XJ, at(date(2022, 12, 1), 9), None)
    december = bodies(settings, "opening", "2022-11")
    assert (
        "贵单位牵头的第11条措施“创新农村寄递物流模式”完成时限为2022年12月31日（星期六），"
        "还有30天，请抓紧推进。"
    ) in december["fgj"]
    # 各镇人民政府 only support measure 11: the lead answers for the deadline.
    towns = [code for code, text in december.items() if code.endswith("z") and code != "fgj"]
    assert towns and all("第11条措施" not in december[code] for code in towns)
    # December's summary opens on Thursday 29 December, two days before the deadline; its
    # reminder of Thursday 5 January finds measure 11 overdue (the holiday days counted).
    prepare_reminders(settings, XJ, at(date(2022, 12, 29), 9), None)
    assert (
        "完成时限为2022年12月31日（星期六），还有2天，请抓紧推进。"
        in (bodies(settings, "opening", "2022-12")["fgj"])
    )
    prepare_reminders(settings, XJ, at(date(2023, 1, 5), 9), None)
    assert (
        "贵单位牵头的第11条措施“创新农村寄递物流模式”完成时限为2022年12月31日（星期六），"
        "已逾期5天，请尽快完成，并在报表中如实填报进展。"
    ) in bodies(settings, "reminder", "2022-12")["fgj"]
