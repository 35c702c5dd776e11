"""督办 on measure deadlines, on the seeds' real dates (issue 23).

陵川 measure 12 (着力扩大文旅消费, “2023年6月前”) is a task deadline, Friday 30 June 2023; its
lead units are 县文旅局, 县财政局, the eleven townships and 示范区管委会. 26(1), 31 and 32 end
policy windows (政策执行至…) and never open a case. 新绛 measure 11 (“2022年底”) is due Saturday
31 December 2022, inside the New Year holiday (31 Dec – 2 Jan): its case waits for Tuesday 3
January 2023.
"""

from __future__ import annotations

from datetime import date, datetime
from email.header import decode_header, make_header

import pytest
from sqlmodel import SQLModel, col, func, select

from config.settings import Settings, use_settings
from flows.escalation import escalation_flow
from models import tables as t
from models.db import session_scope
from models.deadline_store import extend_deadline
from tasks.calendar import WorkingCalendar
from tasks.deadlines import Extension, MeasureDeadline
from tasks.escalation.actions import OpenCase, ResolveCase
from tasks.escalation.cases import CaseState, Event, case_state
from tasks.escalation.deadline_cases import (
    LeadStatus,
    deadline_case_key,
    parse_deadline_key,
    plan_deadline_cases,
)
from tasks.escalation.steps import decide_case, run_escalation
from tests import consolidation_fixture
from tests.consolidation_fixture import load_month
from tests.deadline_fixture import report_measure
from tests.helpers import DATA, at, load_seeds
from tests.smtp_server import SmtpServer

ESCALATION_DATA = DATA / "escalation"
LC, XJ = "lingchuan-2023", "xinjiang-2022"
JUNE = ("monthly-progress", "2023-06")
M12_LEADS = ("wlj", "czj", "cwz", "lyz", "fcz", "xhdz", "pcz", "ycz", "lcz", "dhx", "mgdx",
             "gjx", "lqx", "sfq")  # fmt: skip
M12_REASON = (
    "第12条措施“着力扩大文旅消费”完成时限2023年6月30日（星期五）已过，截至7月3日报送进展为“推进中”"
)


def assert_replays_write_nothing(
    settings: Settings, policy: str, moments: list[tuple[date, int]]
) -> None:
    """Each moment's run again: nothing opened, resolved or proposed, no row in any table."""

    def counts() -> dict[str, int]:
        with session_scope(settings) as session:
            return {
                table.name: int(session.exec(select(func.count()).select_from(table)).one())
                for table in SQLModel.metadata.sorted_tables
            }

    before = counts()
    for day, hour in moments:
        replay = run_escalation(settings, policy, as_of=at(day, hour))
        assert (replay.overdue, replay.opened, replay.resolved, replay.proposed) == ([], [], [], [])
    assert counts() == before


def deadline_cases(settings: Settings, policy: str) -> dict[str, str]:
    """Every deadline case's key → its latest event kind."""
    with session_scope(settings) as session:
        rows = session.exec(
            select(t.SupervisionCase.case_key, t.CaseEvent.kind)
            .join(t.CaseEvent, col(t.CaseEvent.case_id) == t.SupervisionCase.id)
            .order_by(col(t.CaseEvent.id))
        ).all()
    latest: dict[str, str] = {}
    for key, kind in rows:
        if key.startswith(policy) and parse_deadline_key(key):
            latest[key] = kind
    return latest


def m12(unit: str, due: date = date(2023, 6, 30)) -> str:
    return deadline_case_key(LC, "12", due, unit)


# ------------------------------------------------------------------------------- the pure plan


def _deadline(kind: str = "task", *extensions: Extension) -> MeasureDeadline:
    return MeasureDeadline("12", "着力扩大文旅消费", kind, date(2023, 6, 30), "2023年6月前",  # type: ignore[arg-type]
                           extensions)  # fmt: skip


def _open_state(day: date) -> CaseState:
    opened = datetime(day.year, day.month, day.day, 10, tzinfo=at(day).tzinfo)
    return case_state([Event("opened", opened, "系统", {})], WorkingCalendar(), "working")


FRAME = ("monthly-progress", "2023-06")
OPEN_WLJ = {m12("wlj"): _open_state(date(2023, 7, 3))}
EXTENDED = Extension(date(2023, 6, 30), date(2023, 9, 30), "补贴资金待省级下达", "王杰",
                     at(date(2023, 7, 6), 15))  # fmt: skip


@pytest.mark.parametrize(
    ("deadline", "lead", "cases", "today", "working", "expected"),
    [
        # The day of the deadline, and a passed deadline on a rest day: nothing yet.
        (_deadline(), LeadStatus("wlj", "推进中", FRAME), {}, date(2023, 6, 30), True, []),
        (_deadline(), LeadStatus("wlj", "推进中", FRAME), {}, date(2023, 7, 1), False, []),
        # The first working day after it: a case, naming what the unit reported.
        (_deadline(), LeadStatus("wlj", "推进中", FRAME), {}, date(2023, 7, 3), True,
         [OpenCase(m12("wlj"), "wlj", *FRAME, M12_REASON)]),
        (_deadline(), LeadStatus("wlj", None, FRAME), {}, date(2023, 7, 3), True,
         [OpenCase(m12("wlj"), "wlj", *FRAME, M12_REASON.replace("报送进展为“推进中”",
                                                                    "未报送该措施进展"))]),
        # 已完成: no case; a case open resolves.
        (_deadline(), LeadStatus("czj", "已完成", FRAME), {}, date(2023, 7, 3), True, []),
        (_deadline(), LeadStatus("wlj", "已完成", FRAME), OPEN_WLJ,
         date(2023, 7, 5), True,
         [ResolveCase(m12("wlj"), "已报送第12条措施“着力扩大文旅消费”进展为“已完成”")]),
        # Already open (a replay): nothing more.
        (_deadline(), LeadStatus("wlj", "推进中", FRAME), OPEN_WLJ,
         date(2023, 7, 4), True, []),
        # A window end never opens a case.
        (_deadline("window"), LeadStatus("wlj", "推进中", FRAME), {}, date(2023, 7, 3), True, []),
        # Extended: the old date's case resolves, naming the new date and the reason.
        (_deadline("task", EXTENDED), LeadStatus("wlj", "推进中", FRAME),
         OPEN_WLJ, date(2023, 7, 7), True,
         [ResolveCase(m12("wlj"), "办公室已将第12条措施“着力扩大文旅消费”完成时限延至"
                      "2023年9月30日（星期六）（理由：补贴资金待省级下达）")]),
    ],
)  # fmt: skip
def test_plan_deadline_cases(
    deadline: MeasureDeadline,
    lead: LeadStatus,
    cases: dict[str, CaseState],
    today: date,
    working: bool,
    expected: list[object],
) -> None:
    got = plan_deadline_cases(LC, [deadline], {"12": [lead]}, cases, today=today, working=working)
    assert got == expected


def test_deadline_case_keys_keep_the_shape_other_code_splits() -> None:
    key = m12("wlj")
    assert key == "lingchuan-2023/measure-12/2023-06-30/wlj/deadline"
    assert key.split("/")[3] == "wlj" and key.rsplit("/", 1)[-1] == "deadline"
    assert parse_deadline_key(deadline_case_key(LC, "26(1)", date(2023, 4, 30), "sfq")) == (
        "26(1)", date(2023, 4, 30))  # fmt: skip
    assert parse_deadline_key("lingchuan-2023/monthly-progress/2023-02/jtj/missing") is None


# ------------------------------------------------------------------------ 陵川, past 30 June 2023


def test_lingchuan_measure_12_past_its_deadline(
    db_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = db_settings
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", ESCALATION_DATA)
    load_seeds(settings, LC)
    load_month(settings, "lingchuan-2023-06")

    # Friday 30 June (the deadline itself), then the weekend: no deadline case.
    for day in (date(2023, 6, 30), date(2023, 7, 1), date(2023, 7, 2)):
        run_escalation(settings, LC, as_of=at(day, 10))
    assert deadline_cases(settings, LC) == {}

    # Monday 3 July: a case on each lead unit that did not report 已完成 (县财政局 did); none
    # on a window measure (26(1), 31, 32), none on a unit that only supports.
    monday = run_escalation(settings, LC, as_of=at(date(2023, 7, 3), 10))
    assert deadline_cases(settings, LC) == {m12(u): "opened" for u in M12_LEADS if u != "czj"}
    wlj = next(x for x in monday.opened if "县文旅局：第12条" in x)
    assert wlj.split(" ", 1)[1] == f"县文旅局：{M12_REASON}"
    assert_replays_write_nothing(settings, LC, [(date(2023, 7, 3), 10)])

    # Wednesday 5 July: 县文旅局 reports 已完成 (a second version of its June report).
    report_measure(settings, LC, "wlj", JUNE, "12", "已完成", at(date(2023, 7, 5), 9))
    wednesday = run_escalation(settings, LC, as_of=at(date(2023, 7, 5), 10))
    assert [k for k in wednesday.resolved if parse_deadline_key(k)] == [m12("wlj")]
    note = _notes(settings, m12("wlj"))
    assert note == ["已报送第12条措施“着力扩大文旅消费”进展为“已完成”"]

    # Thursday 6 July, 15:00: the office extends measure 12 to 30 September; the next run
    # (Friday 7 July) resolves every case still open on 30 June, with the reason.
    with session_scope(settings) as session:
        extend_deadline(session, LC, "12", date(2023, 9, 30), reason="省级补贴资金尚未下达",
                        by="王杰", at=at(date(2023, 7, 6), 15))  # fmt: skip
    friday = run_escalation(settings, LC, as_of=at(date(2023, 7, 7), 10))
    still = [u for u in M12_LEADS if u not in ("czj", "wlj")]
    assert sorted(k for k in friday.resolved if parse_deadline_key(k)) == sorted(map(m12, still))
    assert _notes(settings, m12("sfq")) == [
        "办公室已将第12条措施“着力扩大文旅消费”完成时限延至2023年9月30日（星期六）"
        "（理由：省级补贴资金尚未下达）"
    ]
    assert [x for x in friday.opened if "第12条" in x] == []
    # Replaying Monday after all this writes nothing (the cases' later history is written).
    assert_replays_write_nothing(settings, LC, [(date(2023, 7, 3), 10), (date(2023, 7, 7), 10)])

    # 30 September is a Saturday in the National Day holiday (29 Sep – 6 Oct); Saturday 7
    # October is a working day in lieu (调休): the new cases open then, on the new date.
    for day in (date(2023, 9, 30), date(2023, 10, 6)):
        run_escalation(settings, LC, as_of=at(day, 10))
    assert not any("2023-09-30" in k for k in deadline_cases(settings, LC))
    october = run_escalation(settings, LC, as_of=at(date(2023, 10, 7), 10))
    new = {k: v for k, v in deadline_cases(settings, LC).items() if "2023-09-30" in k}
    assert new == {m12(u, date(2023, 9, 30)): "opened" for u in still}
    sfq = next(x for x in october.opened if "示范区管委会：第12条" in x)
    assert sfq.endswith(
        "第12条措施“着力扩大文旅消费”完成时限（延期后）2023年9月30日（星期六）已过，"
        "截至10月7日报送进展为“推进中”"
    )
    assert_replays_write_nothing(settings, LC, [(date(2023, 10, 7), 10)])


def _notes(settings: Settings, key: str) -> list[str]:
    with session_scope(settings) as session:
        return [
            str(e.payload.get("note"))
            for e in session.exec(
                select(t.CaseEvent)
                .join(t.SupervisionCase, col(t.SupervisionCase.id) == t.CaseEvent.case_id)
                .where(t.SupervisionCase.case_key == key, t.CaseEvent.kind == "resolved")
            )
        ]


def test_replay_after_the_office_decides_opens_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The office closes (销号) a deadline case; replaying the day that opened it, and the next,
    opens nothing again."""
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", ESCALATION_DATA)
    load_seeds(settings, LC)
    load_month(settings, "lingchuan-2023-06")
    run_escalation(settings, LC, as_of=at(date(2023, 7, 3), 10))
    with session_scope(settings) as session:
        case = session.exec(
            select(t.SupervisionCase).where(t.SupervisionCase.case_key == m12("sfq"))
        ).one()
    decide_case(settings, case.id or 0, "close", by="王杰", note="已当面核实，门票补贴已兑付",
                at=at(date(2023, 7, 3), 15))  # fmt: skip
    assert_replays_write_nothing(settings, LC, [(date(2023, 7, 3), 10), (date(2023, 7, 3), 16)])
    assert deadline_cases(settings, LC)[m12("sfq")] == "closed"


# --------------------------------------------------------------- the 督办单, through the flow


async def test_the_flow_sends_the_deadline_orders(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Monday 3 July through ``escalation_flow`` and a real SMTP server: each lead unit's 督办单
    names the measure, the deadline with its weekday and the status it reported."""
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", ESCALATION_DATA)
    load_seeds(settings, LC)
    load_month(settings, "lingchuan-2023-06")
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    with use_settings(settings):
        summary = await escalation_flow(LC, at(date(2023, 7, 3), 10))
    assert summary.mail_pending == 0
    orders = {
        str(make_header(decode_header(str(m.message["Subject"])))): m
        for m in smtp_server.messages
        if "逾期未完成" in str(make_header(decode_header(str(m.message["Subject"]))))
    }
    assert len(orders) == len(M12_LEADS) - 1  # not 县财政局, which reported 已完成
    [(subject, wlj)] = [(s, m) for s, m in orders.items() if "县文旅局" in s]
    assert subject.startswith("【督办单】陵专督〔2023〕") and subject.endswith(
        "号：县文旅局第12条措施逾期未完成"
    )
    assert wlj.message["To"] == "wlj-head@lingchuan.example.org"
    assert "wlj@lingchuan.example.org" in wlj.message["Cc"]
    text = wlj.message.get_body(("plain",)).get_content()
    for line in (
        "督办事项：第12条措施“着力扩大文旅消费”逾期未完成\n",
        f"督办事由：{M12_REASON}",
        "1：当日（7月3日）内部署",
        "3：3个工作日内（7月6日前）反馈进展",
        "请贵单位主要负责人亲自过问，按上述时限办理，抓紧完成该项措施，并将办理情况和完成时间安排"
        "报送县工作专班办公室。",
        "该措施完成后，请在按月报送的月度进展情况报告中将其进展填报为“已完成”；确需延期的，"
        "请书面说明理由，报县工作专班办公室",
    ):
        assert line in text, text
    # The order asks for the work, not for June's report: no form goes with it.
    assert [p.get_filename() for p in wlj.message.iter_attachments()] == []
    assert "请填写本邮件附件" not in text
