"""Escalation driven day by day through as_of on 陵川's synthetic February."""

from __future__ import annotations

from datetime import date

from sqlmodel import func, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from tasks.escalation.steps import decide_case, run_escalation
from tests.consolidation_fixture import load_month
from tests.helpers import at, load_seeds, mail_body

POLICY = "lingchuan-2023"


def feb(items: list[str]) -> list[str]:
    return sorted(x for x in items if "2023年2月" in x)


def outbox(settings: Settings) -> int:
    with session_scope(settings) as session:
        return int(session.exec(select(func.count()).select_from(t.Notification)).one())


def case_events(settings: Settings) -> int:
    with session_scope(settings) as session:
        return int(session.exec(select(func.count()).select_from(t.CaseEvent)).one())


def test_february_ladder(settings: Settings) -> None:
    load_seeds(settings, POLICY)
    load_month(settings, "lingchuan-2023-02")
    # Friday 3 March: before the deadline (Sunday 5 March 23:59), nothing for February.
    assert feb(run_escalation(settings, POLICY, as_of=at(date(2023, 3, 3), 10)).overdue) == []
    # Monday 6 March, 10:00: the first working day after the deadline: 催报 to who is missing
    # (县住建局 reports at 16:40 that day, 县人社局 on the 7th, 县科技局 on the 9th).
    monday = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 6), 10))
    assert feb(monday.overdue) == sorted(
        f"{u} 2023年2月进展情况报告"
        for u in ("县交通局", "县文旅局", "县人社局", "县住建局", "县科技局")
    )
    assert not [x for x in monday.opened if "2023年2月" in x and "逾期未报" in x]
    sent = outbox(settings)
    again = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 6), 10))  # replay: no change
    assert outbox(settings) == sent and again.opened == [] and again.resolved == []
    # Wednesday 8 March: three working days on, the still-missing get a 督办单.
    wednesday = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 8), 10))
    opened = [x for x in wednesday.opened if "2023年2月进展情况报告逾期未报" in x]
    assert sorted(x.split(" ")[1].split("：")[0] for x in opened) == [
        "县交通局",
        "县文旅局",
        "县科技局",
    ]
    assert all(x.startswith("陵专督〔2023〕") for x in opened)
    # Thursday 9 March, 10:00: 县科技局's report of 09:30 resolves its case.
    thursday = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 9), 10))
    assert thursday.resolved == ["lingchuan-2023/monthly-progress/2023-02/kjj/missing"]
    with session_scope(settings) as session:
        mail = session.exec(
            select(t.Notification).where(
                t.Notification.idempotency_key
                == "case/lingchuan-2023/monthly-progress/2023-02/jtj/missing/opened"
            )
        ).one()
        case_id = session.exec(
            select(t.SupervisionCase.id).where(
                t.SupervisionCase.case_key == "lingchuan-2023/monthly-progress/2023-02/jtj/missing"
            )
        ).one()
    assert mail.kind == "escalation" and mail.to == ["jtj-head@lingchuan.example.org"]
    assert "taskforce-office@lingchuan.example.org" in mail.cc
    # Opened Wednesday 8 March: deployed that day, feedback by the third working day after it.
    assert "1：当日（3月8日）内部署\n3：3个工作日内（3月13日前）反馈进展\n" in (
        mail_body(settings, mail).text
    )
    # 县交通局 sent nothing for January either (the fixture has February only): a repeat
    # offender, proposed for an interview (约谈) — which waits for the office.
    assert "lingchuan-2023/monthly-progress/2023-02/jtj/missing：约谈（连续2期逾期或未报送）" in (
        thursday.proposed
    )
    # 县发改局's red target (新建项目开工率) has had a 督办单 since the 6th; past its
    # 7-working-day clock (15 March) unresolved, it is proposed for county supervision.
    late = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 20), 10))
    assert (
        "lingchuan-2023/monthly-progress/2023-02/fgj/red：报县政府督查（超过“13710”办结时限仍未办结）"
        in (late.proposed)
    )
    assert any(a["unit"] == "县交通局" and a["step"] == "interview" for a in late.awaiting)
    assert case_id is not None
    state = decide_case(settings, case_id, "approve", by="王杰", at=at(date(2023, 3, 20), 15))
    assert state.status == "escalated" and state.approved_steps == ("interview",)
    lists = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 21), 10))
    assert any(x["unit"] == "县交通局" for x in lists.interview)
    assert not any(x["unit"] == "县交通局" for x in lists.supervision)
    closed = decide_case(
        settings, case_id, "close", by="王杰", note="已补报", at=at(date(2023, 3, 22), 10)
    )
    assert closed.status == "closed"
    # The month's bulletin lists the open cases, with the steps the office approved.
    from tasks.consolidation.steps import run_consolidation

    day = at(date(2023, 3, 21), 10)
    bulletin = run_consolidation(
        settings, POLICY, period="2023-02", obligation=None, as_of=day, now=day
    )
    # Replaying an earlier day after all this reopens nothing and sends nothing new.
    sent, events = outbox(settings), case_events(settings)
    replay = run_escalation(settings, POLICY, as_of=at(date(2023, 3, 7), 10))
    assert replay.opened == [] and outbox(settings) == sent and case_events(settings) == events
    listed = [x["reason"] for x in bulletin.consolidation.supervision if x["unit"] == "县交通局"]
    assert any("2023年2月" in r and "已升级，约谈" in r for r in listed)
    assert "县交通局" in bulletin.markdown.split("督办事项")[1]
