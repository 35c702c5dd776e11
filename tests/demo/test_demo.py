"""``taskforce demo``: the days it plans, the replies it releases, and a short replay end to end."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import SQLModel, func, select

from config.settings import Settings
from models.db import session_scope
from models.policy_store import policy_cycles
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.consolidation.steps import run_annual, run_consolidation
from tasks.demo.bureaus import BureauReply
from tasks.demo.replay import (
    ANNUAL_AT,
    CONSOLIDATION_AT,
    INTAKE_AT,
    REMINDERS_AT,
    DayPlan,
    DayRecord,
    NoticeDays,
    ReplyQueue,
    at,
    notice_days,
    plan_days,
)
from tasks.escalation.steps import run_escalation
from tasks.intake.steps import open_source, take_in
from tasks.reminders.steps import prepare_reminders
from tasks.serving import DueCycle, periodic_cycles
from tests.helpers import invoke_cli, run_cli

POLICY = "lingchuan-2023"


def table_counts(settings: Settings) -> dict[str, int]:
    """Rows in every table of the database."""
    with session_scope(settings) as session:
        return {
            table.name: int(session.exec(select(func.count()).select_from(table)).one())
            for table in SQLModel.metadata.sorted_tables
        }


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


# To the day after, January's late 督办单 (cc the office) and cases that a second run of the day
# would have proposed for 约谈: the last day is the one a replay could get wrong.
FIRST, LAST = date(2023, 1, 28), date(2023, 2, 8)


@dataclass(frozen=True)
class DemoRun:
    root: Path  # the var directory is root / "var"
    stdout: str


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """Late January to the week after the January report's deadline, as ``make demo`` runs it
    (the whole quarter is make demo's job), once for the module; its mail kept under var/."""
    root = tmp_path_factory.mktemp("demo")
    mail = {"TASKFORCE_MAILCATCHER_DIRECTORY": str(root / "var" / "mail")}
    result = run_cli(root, "demo", "--from", str(FIRST), "--to", str(LAST), env=mail)
    assert result.returncode == 0, result.stderr[-3000:]
    return DemoRun(root, result.stdout)


def test_demo_replays_a_month_end_to_end(demo_run: DemoRun) -> None:
    """Forms out, replies in, receipts, rejections, 催报, consolidation and the bulletin, the
    summary and the paths."""
    tmp_path, out = demo_run.root, demo_run.stdout
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
    # 40 units; one twice (invalid, then corrected), one twice (its Word reply held unverified,
    # then its sender confirmed by the office)
    assert versions == 42
    kinds = dict(db.execute("select kind, count(*) from notification group by kind").fetchall())
    assert kinds["opening"] == 41 and kinds["rejection"] == 1 and kinds["bulletin"] == 1
    assert kinds["overdue"] >= 1  # 催报 on the 6th to whoever had not reported
    # A database with the demo's mail in it is not replayed over (refused before any flow runs:
    # the entry point in this process will do).
    again = invoke_cli(tmp_path, "demo", "--from", "2023-01-28", "--to", "2023-01-28")
    assert again.returncode == 2 and "从空库开始" in again.stderr
    backwards = invoke_cli(tmp_path, "demo", "--from", "2023-02-07", "--to", "2023-02-01")
    assert backwards.returncode == 2 and "早于" in backwards.stderr


def _mails(var: Path) -> list[tuple[str, EmailMessage]]:
    """(subject tag, message) of every mail the demo's catcher kept."""
    found = []
    for path in sorted((var / "mail").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        tag = re.match(r"【(.+?)】", str(message["Subject"]))
        found.append((tag.group(1) if tag else "回复", message))
    return found


def _assert_dated_on_its_day(tag: str, message: EmailMessage) -> None:
    sent = email.utils.parsedate_to_datetime(str(message["Date"]))
    assert (sent.year, sent.utcoffset()) == (2023, timedelta(hours=8)), (tag, message["Date"])
    assert FIRST <= sent.date() <= LAST, (tag, message["Date"])
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert set(re.findall(r"(20\d\d)年", text)) == {"2023"}, (tag, text[-300:])
    assert text.rstrip().endswith(f"{sent.year}年{sent.month}月{sent.day}日"), tag
    if tag == "退回":  # before its deadline: resubmit by then; after it: the deadline has passed
        deadline = re.search(r"(?:请于|报送截止时间（)(\d+)年(\d+)月(\d+)日", text)
        assert deadline is not None, text
        due = date(*map(int, deadline.groups()))
        assert ("已过" in text) == (sent.date() > due), (sent, due, text)


def test_every_mail_is_dated_on_its_replayed_day(demo_run: DemoRun) -> None:
    """The office's mail is written at the replayed moment, in Beijing time: its Date header,
    the date it is signed with and every year it names are 2023's, whatever the wall clock."""
    mails = _mails(demo_run.root / "var")
    tags = {tag for tag, _ in mails}
    assert {"报送通知", "回执", "退回", "催报", "督办单", "通报"} <= tags, tags
    for tag, message in mails:
        if tag == "回复":  # a bureau's own Date: the day its reply arrives
            assert email.utils.parsedate_to_datetime(str(message["Date"])).year == 2023
        elif tag != "通报":  # test_the_bulletin_is_dated_on_its_replayed_day
            _assert_dated_on_its_day(tag, message)


def test_the_bulletin_is_dated_on_its_replayed_day(demo_run: DemoRun) -> None:
    bulletins = [m for tag, m in _mails(demo_run.root / "var") if tag == "通报"]
    assert bulletins
    for message in bulletins:
        _assert_dated_on_its_day("通报", message)


def _replay_day(settings: Settings, plan: DayPlan) -> None:
    """The office's work of one day again: reminders and escalation at 09:00, the monthly
    consolidation at 09:30, intake at 18:00 (the roll-up: test_replaying_a_rollup_day…)."""
    if plan.working:
        prepare_reminders(settings, POLICY, at(plan.day, REMINDERS_AT), None)
        run_escalation(settings, POLICY, as_of=at(plan.day, REMINDERS_AT))
    for cycle in plan.consolidate:
        moment = at(plan.day, CONSOLIDATION_AT)
        run_consolidation(settings, POLICY, period=cycle.period, obligation=cycle.obligation,
                          as_of=moment, now=moment)  # fmt: skip
    with closing(open_source(settings, POLICY, "maildir")) as source:
        taken = take_in(settings, POLICY, source, now=at(plan.day, INTAKE_AT))
    assert taken.lines == [], (plan.day, taken.lines)


def _demo_days(settings: Settings) -> list[DayPlan]:
    with session_scope(settings) as session:
        monthly = periodic_cycles(session, POLICY)
        notices = notice_days(policy_cycles(session, POLICY))
    return plan_days(FIRST, LAST, WorkingCalendar.from_settings(settings), monthly, notices)


def test_replaying_any_day_changes_no_table(demo_run: DemoRun) -> None:
    """Each day's office work again after the replay: not one row more in any table."""
    settings = Settings(var_dir=demo_run.root / "var")
    before = table_counts(settings)
    for plan in _demo_days(settings):
        _replay_day(settings, plan)
        assert table_counts(settings) == before, plan.day


def test_replaying_a_rollup_day_changes_no_table(demo_run: DemoRun) -> None:
    """Last in the module: a failing replay adds a version to the database the others read."""
    settings = Settings(var_dir=demo_run.root / "var")
    before = table_counts(settings)
    days = [plan for plan in _demo_days(settings) if plan.rollups]
    assert days
    for plan in days:
        for year in plan.rollups:
            moment = at(plan.day, ANNUAL_AT)
            run_annual(settings, POLICY, year=year, obligation=None, as_of=moment, now=moment)
        assert table_counts(settings) == before, plan.day
