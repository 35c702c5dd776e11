"""A scripted quarter of 陵川 2023 and a month of 新绛 2022, escalation driven day by day.

Every calendar day gets its 10:00 run of ``run_escalation``; the office's decisions are taken
at 15:00. All reports are loaded up front with their ``received`` moments (the escalation
reads only what had arrived by ``as_of``). The story of 陵川 (tests/data/escalation/):

- 县财政局 (czj) is always on time: on the 通报表扬 list once three monthly cycles are clean;
- 县住建局 (zjj) is late once: February's report on the second working day, after one 催报;
- 县交通局 (jtj) misses January and February: two 催报, two 督办单, proposed for 约谈;
- 县投资促进中心 (tzcjzx) is behind its 招商引资 targets in February (red): a 督办单, and past
  its 7-working-day clock, proposed for county supervision (报县政府督查);
- 县科技局 (kjj) misses the 任务清单台账 due Friday 20 January, across the Spring Festival
  (holiday 21–27 January, Saturday 28 and Sunday 29 January are 调休 working days): 催报 on
  the 28th, 督办单 on the 30th, its report on 1 February resolves the case;
- every other unit reports on time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlmodel import SQLModel, col, func, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake, record_draft
from tasks.calendar import WorkingCalendar
from tasks.escalation.case_view import case_rows
from tasks.escalation.steps import EscalationSummary, decide_case, run_escalation
from tasks.intake.decide import Draft, late_working_days
from tests import consolidation_fixture
from tests.consolidation_fixture import load_month
from tests.helpers import DATA, at, load_seeds, mail_body

ESCALATION_DATA = DATA / "escalation"
LC = "lingchuan-2023"
XJ = "xinjiang-2022"

# 陵川's cases, in the order they open (陵专督〔2023〕1号 … 4号).
LEDGER_KJJ = f"{LC}/implementation-ledger/2023/kjj/missing"
JAN_JTJ = f"{LC}/monthly-progress/2023-01/jtj/missing"
FEB_TZ_RED = f"{LC}/monthly-progress/2023-02/tzcjzx/red"
FEB_JTJ = f"{LC}/monthly-progress/2023-02/jtj/missing"

TOWNSHIPS = ("崇文镇", "礼义镇", "附城镇", "西河底镇", "平城镇", "杨村镇", "潞城镇", "夺火乡",
             "马圪当乡", "古郊乡", "六泉乡")  # fmt: skip

Office = dict[date, list[tuple[str, str, dict[str, Any]]]]  # day → (case key, action, options)


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def overdue(policy: str, obligation: str, period: str, unit: str) -> str:
    """The idempotency key of a 催报."""
    return f"{policy}/{obligation}/{period}/{unit}/overdue/1"


def opened(case_key: str) -> str:
    """The idempotency key of a 督办单."""
    return f"case/{case_key}/opened"


def load_checklist(settings: Settings, name: str) -> None:
    """Record a one-off obligation's reports (load_month only knows monthly progress)."""
    spec = yaml.safe_load((ESCALATION_DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    period = str(spec["period"])
    calendar = WorkingCalendar.from_settings(settings)
    with session_scope(settings) as session:
        intake = load_policy_intake(session, spec["policy"])
        for unit in sorted(intake.units.values(), key=lambda u: u.id or 0):
            own = spec["units"].get(unit.code) or {}
            for obligation, fields in spec["obligations"].items():
                if (obligation, period) not in intake.context.unit_cycles.get(unit.code, ()):
                    continue
                received = own.get(obligation, spec["received"])
                if received == "missing":
                    continue
                received = datetime.fromisoformat(str(received))
                due_at = intake.cycles[(obligation, period)].due_at
                draft = Draft(spec["policy"], unit.code, obligation, period, "accepted",
                              "台账.xlsx", dict(fields))  # fmt: skip
                record_draft(
                    session, intake, draft, inbound_id=None, channel="email", received_at=received,
                    late_working_days=late_working_days(received, due_at, calendar),
                    raw_sha256=None, now=received,
                )  # fmt: skip


@dataclass
class Day:
    """What one day's run did."""

    summary: EscalationSummary
    sent: list[str]  # idempotency keys of the notices it queued
    events: list[tuple[str, str, str]]  # (case key, kind, step) of the case events it wrote
    decided: list[tuple[str, str, str]]  # (case key, action, state after) of the office at 15:00


def outbox_keys(settings: Settings) -> set[str]:
    with session_scope(settings) as session:
        return set(session.exec(select(t.Notification.idempotency_key)))


def counts(settings: Settings) -> dict[str, int]:
    """Rows in every table of the database: a replay must add to none of them."""
    with session_scope(settings) as session:
        return {
            table.name: int(session.exec(select(func.count()).select_from(table)).one())
            for table in SQLModel.metadata.sorted_tables
        }


def events_after(settings: Settings, last_id: int) -> list[tuple[int, str, str, str]]:
    with session_scope(settings) as session:
        return [
            (e.id or 0, key, e.kind, str((e.payload or {}).get("step", "")))
            for e, key in session.exec(
                select(t.CaseEvent, t.SupervisionCase.case_key)
                .join(t.SupervisionCase, col(t.SupervisionCase.id) == t.CaseEvent.case_id)
                .where(col(t.CaseEvent.id) > last_id)
                .order_by(col(t.CaseEvent.id))
            )
        ]


def case_id(settings: Settings, key: str) -> int:
    with session_scope(settings) as session:
        found = session.exec(
            select(t.SupervisionCase.id).where(t.SupervisionCase.case_key == key)
        ).one()
    assert found is not None
    return found


def drive(
    settings: Settings, policy: str, first: date, last: date, office: Office
) -> dict[date, Day]:
    """Run every day from ``first`` to ``last`` at 10:00, the office deciding at 15:00.

    After the office's decisions each day is replayed at its hour: the replay finds everything
    done and writes nothing. (A replay at the end of the quarter would not catch a case that a
    day's run opened and a second run of that day would propose: later events hide it.)
    """
    runs: dict[date, Day] = {}
    seen, cursor = outbox_keys(settings), max([0, *(e[0] for e in events_after(settings, 0))])
    for day in days(first, last):
        summary = run_escalation(settings, policy, as_of=at(day, 10))
        keys, new = outbox_keys(settings), events_after(settings, cursor)
        decided = [
            (key, action, decide_case(settings, case_id(settings, key), action, by="王杰",
                                      at=at(day, 15), **options).status)
            for key, action, options in office.get(day, [])
        ]  # fmt: skip
        events = [(k, kind, step) for _, k, kind, step in new]
        runs[day] = Day(summary, sorted(keys - seen), events, decided)
        assert_replays_write_nothing(settings, policy, [(day, 10)])
        seen = keys
        cursor = max([cursor, *(e[0] for e in events_after(settings, cursor))])
    return runs


def assert_replays_write_nothing(
    settings: Settings, policy: str, moments: list[tuple[date, int]]
) -> None:
    """Each moment's run again: no case opened, resolved or proposed, no row in any table."""
    before = counts(settings)
    for day, hour in moments:
        replay = run_escalation(settings, policy, as_of=at(day, hour))
        done = (replay.overdue, replay.opened, replay.resolved, replay.proposed)
        assert done == ([], [], [], []), (day, hour)
        after = counts(settings)
        assert after == before, (day, hour, {k: v - before[k] for k, v in after.items()})


def changes(values: dict[date, Any]) -> dict[date, Any]:
    """The days on which a value differs from the day before (the first day included)."""
    out: dict[date, Any] = {}
    previous: Any = object()
    for day, value in values.items():
        if value != previous:
            out[day] = value
        previous = value
    return out


def lists(summary: EscalationSummary) -> tuple[Any, ...]:
    """(awaiting (unit, step), on the 报县政府督查 list, on the 约谈 list)."""
    return (
        tuple((a["unit"], str(a["step"])) for a in summary.awaiting),
        tuple(e["unit"] for e in summary.supervision),
        tuple(e["unit"] for e in summary.interview),
    )


def clocks(settings: Settings, policy: str, today: date) -> list[tuple[Any, ...]]:
    """(number, key, state, approved steps, clock deadlines) of each case, as the CLI lists it."""
    with session_scope(settings) as session:
        return [
            (r["number"], r["key"], r["state"], tuple(r["approved_steps"]),
             [c["deadline"] for c in r["clocks"]])
            for r in case_rows(session, settings, policy, today)
        ]  # fmt: skip


def test_a_quarter_of_lingchuan(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", ESCALATION_DATA)
    load_seeds(settings, LC)
    load_checklist(settings, "lingchuan-2023-checklist")
    for month in ("01", "02", "03"):  # due Sunday 5 Feb, Sunday 5 Mar, Wednesday 5 Apr (清明)
        load_month(settings, f"lingchuan-2023-{month}")

    office: Office = {
        # Thursday 2 February: 县科技局's ledger arrived, the office closes the case (销号).
        date(2023, 2, 2): [(LEDGER_KJJ, "close", {"note": "已补报任务清单台账"})],
        # Monday 20 February: county supervision for 县交通局's January case is refused.
        date(2023, 2, 20): [(JAN_JTJ, "reject", {"note": "已当面督促，暂不报县政府督查"})],
        # Friday 10 March: the 约谈 of 县交通局 is approved.
        date(2023, 3, 10): [(FEB_JTJ, "approve", {"note": "同意约谈主要负责人"})],
        # Friday 17 March: county supervision of 县投资促进中心's red targets is approved.
        date(2023, 3, 17): [(FEB_TZ_RED, "approve", {"note": "同意报县政府督查"})],
    }
    runs = drive(settings, LC, date(2023, 1, 20), date(2023, 4, 14), office)
    assert {day: run.decided for day, run in runs.items() if run.decided} == {
        date(2023, 2, 2): [(LEDGER_KJJ, "close", "closed")],
        date(2023, 2, 20): [(JAN_JTJ, "reject", "open")],  # back to 督办中
        date(2023, 3, 10): [(FEB_JTJ, "approve", "escalated")],
        date(2023, 3, 17): [(FEB_TZ_RED, "approve", "escalated")],
    }

    # Notices (催报 and 督办单), each on the day it went out; no other day sends anything: not
    # the Spring Festival (21–27 Jan), not a weekend, not 清明 (5 Apr).
    assert {day: run.sent for day, run in runs.items() if run.sent} == {
        # Saturday 28 Jan, a 调休 working day, is the first working day after Friday 20 Jan.
        date(2023, 1, 28): [overdue(LC, "implementation-ledger", "2023", "kjj")],
        # Monday 30 Jan is the third working day after it (28, 29, 30): the 督办单.
        date(2023, 1, 30): [opened(LEDGER_KJJ)],
        # Monday 6 Feb, the first working day after Sunday 5 Feb: 县交通局 has not reported.
        date(2023, 2, 6): [overdue(LC, "monthly-progress", "2023-01", "jtj")],
        date(2023, 2, 8): [opened(JAN_JTJ)],  # 6, 7, 8 February
        # Monday 6 Mar: 县投资促进中心's red targets get their 督办单 with the two 催报.
        date(2023, 3, 6): [
            opened(FEB_TZ_RED),
            overdue(LC, "monthly-progress", "2023-02", "jtj"),
            overdue(LC, "monthly-progress", "2023-02", "zjj"),
        ],
        # Wednesday 8 Mar: 县住建局 reported on the 7th (late once, no case); 县交通局 did not.
        date(2023, 3, 8): [opened(FEB_JTJ)],
    }
    calendar = WorkingCalendar.from_settings(settings)
    assert all(calendar.is_working_day(day) for day, run in runs.items() if run.sent)
    assert calendar.is_working_day(date(2023, 1, 28)) and not calendar.is_working_day(
        date(2023, 1, 27)
    )
    assert not any(runs[day].sent for day in days(date(2023, 1, 21), date(2023, 1, 27)))

    # Case events, each on the day its run wrote it (the office's own decisions not included).
    assert {day: run.events for day, run in runs.items() if run.events} == {
        date(2023, 1, 30): [(LEDGER_KJJ, "opened", "")],
        # Wednesday 1 Feb, the fifth working day: 县科技局's ledger came at 09:30.
        date(2023, 2, 1): [(LEDGER_KJJ, "resolved", "")],
        date(2023, 2, 8): [(JAN_JTJ, "opened", "")],
        # Past its 7-working-day clock (Friday 17 Feb): proposed for county supervision on the
        # next working day, Monday 20 Feb (nothing is proposed on a weekend). The office
        # refuses that afternoon, and it is never proposed again.
        date(2023, 2, 20): [(JAN_JTJ, "proposed", "supervision")],
        date(2023, 3, 6): [(FEB_TZ_RED, "opened", "")],
        date(2023, 3, 8): [(FEB_JTJ, "opened", "")],
        # 县交通局 missed two cycles in a row: its February case is proposed for 约谈 (the
        # January case, refused county supervision, is not asked about the same 约谈 again).
        date(2023, 3, 9): [(FEB_JTJ, "proposed", "interview")],
        # 县投资促进中心's solve clock ran out on Wednesday 15 Mar.
        date(2023, 3, 16): [(FEB_TZ_RED, "proposed", "supervision")],
    }
    missing = "逾期未报，经催报仍未报送"
    assert {day: run.summary.opened for day, run in runs.items() if run.summary.opened} == {
        date(2023, 1, 30): [
            f"陵专督〔2023〕1号 县科技局：2023年1月20日贯彻落实举措及任务清单台账{missing}"
        ],
        date(2023, 2, 8): [f"陵专督〔2023〕2号 县交通局：2023年1月进展情况报告{missing}"],
        date(2023, 3, 6): [
            "陵专督〔2023〕3号 县投资促进中心：2023年2月第21条措施的量化目标落后序时进度（红灯）"
        ],
        date(2023, 3, 8): [f"陵专督〔2023〕4号 县交通局：2023年2月进展情况报告{missing}"],
    }
    assert runs[date(2023, 2, 1)].summary.resolved == [LEDGER_KJJ]
    assert runs[date(2023, 3, 9)].summary.proposed == [f"{FEB_JTJ}：约谈（连续2期逾期或未报送）"]

    # The office's lists: a proposal waits (awaiting) until a person decides; only an approved
    # step puts the unit on the 报县政府督查 or 约谈 list.
    jtj, tz = "县交通局", "县投资促进中心"
    assert changes({day: lists(run.summary) for day, run in runs.items()}) == {
        date(2023, 1, 20): ((), (), ()),
        date(2023, 2, 20): (((jtj, "supervision"),), (), ()),
        date(2023, 2, 21): ((), (), ()),  # refused on the 20th at 15:00
        date(2023, 3, 9): (((jtj, "interview"),), (), ()),
        date(2023, 3, 11): ((), (), (jtj,)),  # approved on the 10th at 15:00
        date(2023, 3, 16): (((tz, "supervision"),), (), (jtj,)),
        date(2023, 3, 18): ((), (tz,), (jtj,)),  # approved on the 17th at 15:00
    }

    # 通报表扬: three clean monthly cycles. The first run after March's deadline (Wednesday
    # 5 April, 23:59, during 清明) is Thursday 6 April's. Not on the list: 县交通局 (missing),
    # 县住建局 (late), and the leads of measure 21 that was red in February. 县科技局's late
    # ledger is a one-off report, not a monthly cycle: it does not count against it.
    commended = changes({day: tuple(sorted(r.summary.commendations)) for day, r in runs.items()})
    assert list(commended) == [date(2023, 1, 20), date(2023, 4, 6)]
    assert commended[date(2023, 1, 20)] == ()
    listed = set(commended[date(2023, 4, 6)])
    assert {"县财政局", "县科技局", "县发改局"} <= listed and len(listed) == 26
    with session_scope(settings) as session:
        obligated = set(
            session.exec(
                select(t.Unit.name)
                .join(t.ObligationRecipient, col(t.ObligationRecipient.unit_id) == t.Unit.id)
                .join(t.Obligation, col(t.Obligation.id) == t.ObligationRecipient.obligation_id)
                .where(t.Obligation.code == "monthly-progress")
            )
        )
    assert obligated - listed == {"县交通局", "县住建局", tz, "示范区管委会", *TOWNSHIPS}

    # The cases with their 13710 clocks (deploy, 3-day feedback, 7-day solve, 1 month, 销号),
    # in working days from the day the case opened.
    assert clocks(settings, LC, date(2023, 4, 14)) == [
        # Opened Monday 30 Jan: 31 Jan, 1, 2 Feb; 3, 6, 7, 8 Feb; a month: 30 February is
        # 28 February.
        ("陵专督〔2023〕1号", LEDGER_KJJ, "closed", (),
         ["2023-01-30", "2023-02-02", "2023-02-08", "2023-02-28", None]),
        # Opened Wednesday 8 Feb: 9, 10, 13 Feb; 14–17 Feb. Refused, it stays open.
        ("陵专督〔2023〕2号", JAN_JTJ, "open", (),
         ["2023-02-08", "2023-02-13", "2023-02-17", "2023-03-08", None]),
        ("陵专督〔2023〕3号", FEB_TZ_RED, "escalated", ("supervision",),
         ["2023-03-06", "2023-03-09", "2023-03-15", "2023-04-06", None]),
        # A month from 8 March is Saturday 8 April: counting working days, the month clock
        # moves to the next working day, Monday 10 April.
        ("陵专督〔2023〕4号", FEB_JTJ, "escalated", ("interview",),
         ["2023-03-08", "2023-03-13", "2023-03-17", "2023-04-10", None]),
    ]  # fmt: skip

    # The mails: the 催报 to the unit, the 督办单 to its head with the clocks.
    with session_scope(settings) as session:
        mails = {
            n.idempotency_key: n
            for n in session.exec(
                select(t.Notification).where(
                    col(t.Notification.idempotency_key).in_(
                        [overdue(LC, "implementation-ledger", "2023", "kjj"), opened(LEDGER_KJJ)]
                    )
                )
            )
        }
    reminder = mails[overdue(LC, "implementation-ledger", "2023", "kjj")]
    assert reminder.kind == "overdue" and reminder.to == ["kjj@lingchuan.example.org"]
    order = mails[opened(LEDGER_KJJ)]
    assert order.kind == "escalation" and order.to == ["kjj-head@lingchuan.example.org"]
    assert order.cc == ["kjj@lingchuan.example.org", "taskforce-office@lingchuan.example.org"]
    order_text = mail_body(settings, order).text
    assert "陵专督〔2023〕1号" in order_text
    # Opened Monday 30 January: the unit deploys that same day, not "before" it.
    assert "1：当日（1月30日）内部署\n" in order_text
    assert "3：3个工作日内（2月2日前）反馈进展\n" in order_text
    assert "7：一般问题7个工作日内（2月8日前）办结\n" in order_text
    assert "1月30日前" not in order_text

    # Replaying any earlier day, at its hour or an earlier one, sends and writes nothing.
    earlier = [(date(2023, 1, 30), 9), (date(2023, 2, 1), 9), (date(2023, 2, 18), 9),
               (date(2023, 2, 20), 16), (date(2023, 3, 9), 9), (date(2023, 3, 16), 8)]  # fmt: skip
    assert_replays_write_nothing(settings, LC, [*((day, 10) for day in runs), *earlier])


def test_a_month_of_xinjiang(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """新绛's November 2022 summaries, due Saturday 10 December: the same rules.

    - 县文旅局 (wlj) misses the deadline: 催报 on Monday 12 Dec, 督办单 on Wednesday 14 Dec, its
      summary on Friday 16 Dec (the fifth working day) resolves the case;
    - 县市场监管局 (scjgj) is late: the 催报 on the 12th, its summary that afternoon;
    - 县交通运输局 (jtysj) is behind its target (red): its 督办单 waits for Monday 12 Dec,
      not Sunday 11 Dec; granted 8 working days' extension (延期), its clocks cross the
      New Year holiday (31 Dec – 2 Jan 2023);
    - measure 11 (创新农村寄递物流模式, “2022年底”) is a task deadline, Saturday 31 December, in
      that holiday: 县发改局 leads it and reported 推进中, its 督办单 opens Tuesday 3 January.
    October's summaries were all on time.
    """
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", ESCALATION_DATA)
    load_seeds(settings, XJ)
    load_month(settings, "xinjiang-2022-10")
    load_month(settings, "xinjiang-2022-11")
    wlj = f"{XJ}/monthly-summary/2022-11/wlj/missing"
    red = f"{XJ}/monthly-summary/2022-11/jtysj/red"
    m11 = f"{XJ}/measure-11/2022-12-31/fgj/deadline"
    office: Office = {date(2022, 12, 16): [(wlj, "close", {"note": "已补报"})]}
    runs = drive(settings, XJ, date(2022, 12, 8), date(2022, 12, 19), office)
    assert clocks(settings, XJ, date(2022, 12, 19)) == [
        # Opened Monday 12 Dec: 13, 14, 15 Dec; 16, 19, 20, 21 Dec; a month: 12 January.
        ("新服务业办督〔2022〕1号", red, "open", (),
         ["2022-12-12", "2022-12-15", "2022-12-21", "2023-01-12", None]),
        # Opened Wednesday 14 Dec; a month is Saturday 14 January: Monday 16 January.
        ("新服务业办督〔2022〕2号", wlj, "closed", (),
         ["2022-12-14", "2022-12-19", "2022-12-23", "2023-01-16", None]),
    ]  # fmt: skip
    # Tuesday 20 December, 15:00: 8 working days' extension; every clock moves.
    extend = {"days": 8, "note": "11月货运量数据待月底统计"}
    office = {date(2022, 12, 20): [(red, "extend", extend)]}
    runs |= drive(settings, XJ, date(2022, 12, 20), date(2023, 1, 6), office)

    # Nothing on Saturday 10 (before the 23:59 deadline) or Sunday 11 December.
    assert {day: run.sent for day, run in runs.items() if run.sent} == {
        date(2022, 12, 12): [
            opened(red),
            overdue(XJ, "monthly-summary", "2022-11", "scjgj"),
            overdue(XJ, "monthly-summary", "2022-11", "wlj"),
        ],
        date(2022, 12, 14): [opened(wlj)],  # 12, 13, 14 December
        # Measure 11 (“2022年底”, 县发改局 leading, 推进中) was due Saturday 31 December, in the
        # New Year holiday (31 Dec – 2 Jan): its 督办单 waits for Tuesday 3 January.
        date(2023, 1, 3): [opened(m11)],
    }
    assert {day: run.events for day, run in runs.items() if run.events} == {
        date(2022, 12, 12): [(red, "opened", "")],
        date(2022, 12, 14): [(wlj, "opened", "")],
        date(2022, 12, 16): [(wlj, "resolved", "")],  # its summary came at 09:30
        # Without the extension it would have been proposed on Thursday 22 December.
        date(2023, 1, 3): [(m11, "opened", "")],
        date(2023, 1, 4): [(red, "proposed", "supervision")],
    }
    assert runs[date(2022, 12, 12)].summary.opened == [
        "新服务业办督〔2022〕1号 县交通运输局：2022年11月第10条措施的量化目标落后序时进度（红灯）"
    ]
    assert runs[date(2023, 1, 3)].summary.opened == [
        "新服务业办督〔2023〕1号 县发改局：第11条措施“创新农村寄递物流模式”完成时限"
        "2022年12月31日（星期六）已过，截至1月3日报送进展为“推进中”"
    ]
    assert changes({day: lists(run.summary) for day, run in runs.items()}) == {
        date(2022, 12, 8): ((), (), ()),
        date(2023, 1, 4): ((("县交通运输局", "supervision"),), (), ()),
    }
    assert all(run.summary.commendations == [] for run in runs.values())  # two cycles only
    assert clocks(settings, XJ, date(2023, 1, 6)) == [
        # From 12 Dec + 8 working days = Thursday 22 Dec: 23, 26, 27 Dec; 28, 29, 30 Dec and,
        # after the New Year holiday (31 Dec – 2 Jan), 3 January. A calendar month lands on
        # Sunday 22 January 2023, in the Spring Festival holiday (21–27 January): it moves to
        # Saturday 28 January, a working day in lieu (调休).
        ("新服务业办督〔2022〕1号", red, "awaiting_approval", (),
         ["2022-12-22", "2022-12-27", "2023-01-03", "2023-01-28", None]),
        ("新服务业办督〔2022〕2号", wlj, "closed", (),
         ["2022-12-14", "2022-12-19", "2022-12-23", "2023-01-16", None]),
        # Opened Tuesday 3 January: 4, 5, 6 Jan; 9–12 Jan; a month: Friday 3 February.
        ("新服务业办督〔2023〕1号", m11, "open", (),
         ["2023-01-03", "2023-01-06", "2023-01-12", "2023-02-03", None]),
    ]  # fmt: skip
    assert {day: run.decided for day, run in runs.items() if run.decided} == {
        date(2022, 12, 16): [(wlj, "close", "closed")],
        date(2022, 12, 20): [(red, "extend", "open")],
    }
    assert_replays_write_nothing(
        settings, XJ, [*((day, 10) for day in runs), (date(2023, 1, 4), 9)]
    )
