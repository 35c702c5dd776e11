"""``taskforce demo``: the days it plans, the replies it releases, and a short replay end to end."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.demo.bureaus import BureauReply
from tasks.demo.replay import DayRecord, NoticeDays, ReplyQueue, plan_days
from tasks.serving import DueCycle
from tests.helpers import invoke_cli, run_cli

NOTICES = [
    NoticeDays("once", frozenset({date(2023, 1, 12), date(2023, 1, 20)})),
    NoticeDays("monthly", frozenset({date(2023, 1, 28), date(2023, 2, 3), date(2023, 2, 5)})),
]
JANUARY_REPORT = DueCycle(
    obligation="monthly-progress", period="2023-01", due_date=date(2023, 2, 4)
)


def test_plan_follows_the_working_calendar_and_the_consolidation_day() -> None:
    plans = {
        p.day: p
        for p in plan_days(
            date(2023, 1, 20), date(2023, 2, 8), WorkingCalendar(), [JANUARY_REPORT], NOTICES
        )
    }
    assert len(plans) == 20
    assert plans[date(2023, 1, 20)].working  # the Friday before the Spring Festival
    assert all(not plans[date(2023, 1, d)].working for d in range(21, 28))
    assert "法定节假日" in (plans[date(2023, 1, 23)].rest_reason or "")
    assert plans[date(2023, 1, 28)].working and plans[date(2023, 1, 29)].working  # 调休
    assert "休息日" in (plans[date(2023, 2, 4)].rest_reason or "")
    # Due Saturday 4 February: consolidated on Monday the 6th, with the year's roll-up.
    consolidating = [d for d, p in plans.items() if p.consolidate]
    assert consolidating == [date(2023, 2, 6)]
    assert plans[date(2023, 2, 6)].rollups == ("2023",)
    assert not any(p.rollups for d, p in plans.items() if d != date(2023, 2, 6))
    # Reminder flows run on the days with notices; none on a rest day, whatever the data says.
    assert {d: p.notices for d, p in plans.items() if p.notices} == {
        date(2023, 1, 20): ("once",),
        date(2023, 1, 28): ("monthly",),
        date(2023, 2, 3): ("monthly",),
    }


def _reply(unit: str, arrives: datetime) -> BureauReply:
    return BureauReply(unit, f"{unit}@example.org", "on_time", arrives, None, "报送材料见附件。")


def test_replies_are_released_in_order_of_arrival_and_once() -> None:
    start = datetime(2023, 1, 29, 9, tzinfo=SHANGHAI)
    queue = ReplyQueue()
    queue.add([_reply("b", start + timedelta(days=1)), _reply("a", start)])
    queue.add([_reply("c", start + timedelta(days=1)), _reply("d", start + timedelta(days=9))])
    assert queue.arriving_by(start - timedelta(seconds=1)) == []
    assert [r.unit_code for r in queue.arriving_by(start)] == ["a"]
    assert [r.unit_code for r in queue.arriving_by(start + timedelta(days=2))] == ["b", "c"]
    assert queue.arriving_by(start + timedelta(days=2)) == [] and len(queue) == 1


def test_day_line_names_what_happened() -> None:
    record = DayRecord(
        date(2023, 2, 6),
        None,
        Counter(overdue=6, receipt=2),
        replies=3,
        accepted=2,
        rejected=1,
        cases_opened=1,
        consolidated=["2023-01"],
    )
    assert record.line() == "收到回复3（受理2、退回1），催报6，回执2，立督办1，汇总2023-01"
    assert DayRecord(date(2023, 2, 5), "2023年2月5日星期日是休息日").line() == "休息日"
    assert DayRecord(date(2023, 2, 7)).line() == "无事项"


def test_demo_replays_a_month_end_to_end(tmp_path: Path) -> None:
    """Late January to the week after the January report's deadline, as ``make demo`` runs it
    (the whole quarter is make demo's job): forms out, replies in, receipts, rejections, 催报,
    consolidation and the bulletin, the summary and the paths."""
    result = run_cli(tmp_path, "demo", "--from", "2023-01-28", "--to", "2023-02-07")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "2023-01-28 周六  开始通知41" in out  # 调休 Saturday: the January forms go out
    assert "2023-02-06 周一" in out and "汇总2023-01" in out
    # The cast of tasks/demo/bureaus.py for January: 41 units, one never replies, one in Word,
    # two late, one invalid then corrected.
    row = next(line for line in out.splitlines() if line.startswith("│ 2023年1月"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:7] == ["2023年1月", "41", "37", "2", "0", "1", "1"], row
    var = tmp_path / "var"
    bulletin = var / "reports/lingchuan-2023/2023-01/v1/2023年1月进展情况通报.html"
    assert bulletin.exists() and str(bulletin.relative_to(tmp_path)) in out.replace("\n  ", "")
    db = sqlite3.connect(var / "taskforce.db")
    versions = db.execute(
        "select count(*) from submission s join cycle c on c.id = s.cycle_id "
        "where c.period = '2023-01'"
    ).fetchone()[0]
    assert versions == 41  # 40 units, one of them twice (invalid, then corrected)
    kinds = dict(db.execute("select kind, count(*) from notification group by kind").fetchall())
    assert kinds["opening"] == 41 and kinds["rejection"] == 1 and kinds["bulletin"] == 1
    assert kinds["overdue"] >= 1  # 催报 on the 6th to whoever had not reported
    # A database with the demo's mail in it is not replayed over (refused before any flow runs:
    # the entry point in this process will do).
    again = invoke_cli(tmp_path, "demo", "--from", "2023-01-28", "--to", "2023-01-28")
    assert again.returncode == 2 and "从空库开始" in again.stderr
    backwards = invoke_cli(tmp_path, "demo", "--from", "2023-02-07", "--to", "2023-02-01")
    assert backwards.returncode == 2 and "早于" in backwards.stderr
