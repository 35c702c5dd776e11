"""A quarterly and a weekly obligation end to end, on a small county (tests/data/cycles/):
the calendar, the opening notice with its pre-filled form, intake of the filled form, the
quarter's bulletin, and 催报 for a missed week. Real SMTP (the mail catcher), real SQLite (and
PostgreSQL with TASKFORCE_TEST_POSTGRES_URL)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
from icalendar import Calendar

from config.loading import load_policy_file
from config.settings import Settings
from models.db import init_db, session_scope
from models.policy_store import load_policy
from tasks.calendar import WorkingCalendar
from tasks.consolidation.steps import run_consolidation
from tasks.cycles import cycles_for_policy
from tasks.demo.bureaus import fill_form
from tasks.escalation.steps import run_escalation
from tasks.forms.keys import form_keys
from tasks.intake.steps import take_in
from tasks.mail.outbox import deliver_outbox
from tasks.mail.sources import MaildirSource
from tasks.reminders.steps import prepare_reminders
from tasks.serving import DueCycle, cycles_to_consolidate, periodic_cycles
from tests.helpers import DATA, invoke_cli
from tests.intake_helpers import XLSX, at, caught, form_of, office_catcher, reply, send

POLICY = "qingshi-2023"
CYCLES = DATA / "cycles"
POLICY_FILE = CYCLES / "policies" / f"{POLICY}.yaml"
OFFICE = "office@qingshi.example.org"
GXJ, NYNCJ, QSZ, YJJ = (f"{c}@qingshi.example.org" for c in ("gxj", "nyncj", "qsz", "yjj"))
LEADER = "leader@qingshi.example.org"
DIRS = {
    "TASKFORCE_POLICIES_DIR": str(CYCLES / "policies"),
    "TASKFORCE_UNITS_DIR": str(CYCLES / "units"),
}


@pytest.fixture
def loaded(db_settings: Settings) -> Settings:
    settings = db_settings.model_copy(
        update={"policies_dir": CYCLES / "policies", "units_dir": CYCLES / "units"}
    )
    init_db(settings)
    bundle = load_policy_file(POLICY_FILE, settings)
    with session_scope(settings) as session:
        load_policy(
            session,
            bundle,
            cycles_for_policy(bundle.policy, WorkingCalendar()),
            now=datetime(2023, 1, 9, tzinfo=UTC),
        )
    return settings


def _subject(message: EmailMessage) -> str:
    return str(message["Subject"])


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def test_calendar_names_quarters_and_weeks(tmp_path: Path) -> None:
    """``taskforce calendar`` as the office reads it, and its ICS."""
    loaded = invoke_cli(tmp_path, "policy", "load", str(POLICY_FILE), env=DIRS)
    assert loaded.returncode == 0, loaded.stderr
    run = invoke_cli(tmp_path, "calendar", "--policy", POLICY, "--json", env=DIRS)
    assert run.returncode == 0, run.stderr
    rows = {(r["obligation"], r["period"]): r for r in json.loads(run.stdout)}
    q1 = rows[("quarterly-progress", "2023-Q1")]
    assert q1["period_label"] == "2023年第一季度"
    assert q1["due"].startswith("2023-04-10T23:59")  # 每季度结束后10日内
    w5 = rows[("weekly-safety", "2023-W05")]
    assert w5["period_label"] == "2023年第5周（1月30日—2月5日）"
    assert w5["due"].startswith("2023-02-03T17:00")  # 每周五17时前
    assert len([k for k in rows if k[0] == "weekly-safety"]) == 48  # weeks 5–52
    assert len([k for k in rows if k[0] == "quarterly-progress"]) == 4

    ics = tmp_path / "qingshi.ics"
    text = invoke_cli(tmp_path, "calendar", "--policy", POLICY, "--ics", str(ics), env=DIRS)
    assert text.returncode == 0, text.stderr
    flat = "".join(text.stdout.split())  # Rich wraps the table's cells
    assert "2023年第一季度" in flat and "2023年第5周（1月30日—2月5日）" in flat
    events = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    summaries = {str(e["summary"]) for e in events}
    assert "【报送截止】青石县季度工作进展情况报告（2023年第一季度）" in summaries
    assert "【报送截止】青石县每周安全生产工作情况（2023年第5周（1月30日—2月5日））" in summaries
    q1_event = next(e for e in events if "2023年第一季度" in str(e["summary"]))
    assert "2023年第一季度工作进展情况报告" in str(q1_event["description"])


async def test_quarter_from_notice_to_bulletin(loaded: Settings) -> None:
    """Q1: the opening notice and its form say the quarter; two of three units report through
    the form; the bulletin on the first working day after 10 April names the quarter."""
    key = form_keys(loaded).current
    with office_catcher(loaded, demo_clock=True) as (catcher, settings):
        prepare_reminders(settings, POLICY, at(date(2023, 3, 29)), None)  # Q1 opens
        await deliver_outbox(settings, POLICY, run_id="open", now=datetime.now(UTC))
        notices = {to: caught(catcher.directory, to) for to in (GXJ, NYNCJ, QSZ, YJJ)}
        assert notices[YJJ] == []  # not a recipient of the quarterly report
        notice = notices[GXJ][-1]
        assert "2023年第一季度工作进展情况报告" in _subject(notice)
        assert "季度季度" not in _subject(notice)
        body = _text(notice)
        assert "2023年第一季度工作进展情况报告" in body and "2023年4月10日" in body
        name, blank = form_of(notice)
        assert "2023年第一季度" in name
        sheet = openpyxl.load_workbook(io.BytesIO(blank))["季度报告"]
        header = [str(c.value) for row in sheet.iter_rows(max_row=3) for c in row if c.value]
        assert "青石县2023年第一季度工作进展情况报告（县工信局）" in header
        assert any("报告期：2023年第一季度" in h for h in header), header

        for to, value in ((GXJ, 3.0), (NYNCJ, 31.0)):
            notice = caught(catcher.directory, to)[-1]
            name, blank = form_of(notice)
            filled = fill_form(blank, key, status="推进中", value=value, text="按计划推进")
            message = reply(notice, sender=to, office=OFFICE, attachments=[(name, filled, XLSX)],
                            sent_at=at(date(2023, 4, 7), 16))  # fmt: skip
            await send(settings, message)
        source = MaildirSource(settings.maildir_root / OFFICE)
        summary = take_in(settings, POLICY, source, now=at(date(2023, 4, 7), 17))
        assert sorted((x["outcome"], x["unit"], x["period"]) for x in summary.lines) == [
            ("accepted", "县农业农村局", "2023-Q1"),
            ("accepted", "县工信局", "2023-Q1"),
        ]
        await deliver_outbox(settings, POLICY, run_id="receipts", now=datetime.now(UTC))
        receipt = caught(catcher.directory, GXJ)[-1]
        assert _subject(receipt).startswith(
            "【回执】县工信局：已收到2023年第一季度工作进展情况报告"
        )

        consolidation_day = at(date(2023, 4, 11), 9, 30)  # the first working day after 04-10
        result = run_consolidation(
            settings, POLICY, period=None, obligation=None, as_of=consolidation_day,
            now=consolidation_day,
        )  # fmt: skip
        await deliver_outbox(settings, POLICY, run_id="bulletin", now=datetime.now(UTC))
        leaders_mail = caught(catcher.directory, LEADER)
    c = result.consolidation
    assert (c.source.period, c.source.period_label) == ("2023-Q1", "2023年第一季度")
    assert c.counts["obligated"] == 3 and c.counts["on_time"] == 2 and c.counts["missing"] == 1
    markdown = result.files[1].read_text(encoding="utf-8")
    html = result.files[0].read_text(encoding="utf-8")
    assert "2023年第一季度工作进展情况报告" in markdown
    assert "青山镇" in markdown  # the unit that did not report is named
    # A quarter's bulletin never speaks of months: no 本月/上月, the chart is 各季度.
    for word in ("本月", "上月", "各月", "月度", "季度季度"):
        assert word not in markdown and word not in html, word
    assert "图1 各季度按时报送率" in html
    assert result.files[2].name.startswith("2023年第一季度工作进展情况报告")
    assert leaders_mail and "2023年第一季度工作进展情况报告" in _subject(leaders_mail[-1])


async def test_missed_week_gets_a_reminder_naming_the_week(loaded: Settings) -> None:
    """Week 5 of 2023: both units get the opening notice on Tuesday 31 January; 青山镇 reports
    by Friday 17:00, 县应急局 does not and gets 催报 on Monday 6 February."""
    key = form_keys(loaded).current
    with office_catcher(loaded, demo_clock=True) as (catcher, settings):
        prepare_reminders(settings, POLICY, at(date(2023, 1, 31)), None)
        await deliver_outbox(settings, POLICY, run_id="open", now=datetime.now(UTC))
        [opening] = caught(catcher.directory, YJJ)
        week = "2023年第5周（1月30日—2月5日）"
        assert f"{week}安全生产工作情况" in _subject(opening)
        assert "2023年2月3日（星期五）17:00" in _text(opening)
        name, blank = form_of(opening)
        sheet = openpyxl.load_workbook(io.BytesIO(blank)).worksheets[0]
        header = [str(c.value) for row in sheet.iter_rows(max_row=3) for c in row if c.value]
        # The narrow form puts the unit on a line of its own, and the header one item a line,
        # with the due time the notice gives (17:00, not the day's end).
        assert f"青石县{week}安全生产工作情况\n（县应急局）" in header, header
        due = "报送截止：2023年2月3日（星期五）17:00"
        assert f"填报单位：县应急局\n报告期：{week}\n{due}" in header

        notice = caught(catcher.directory, QSZ)[-1]
        name, blank = form_of(notice)
        filled = fill_form(blank, key, text="排查企业12家，整改隐患3处")
        await send(settings, reply(notice, sender=QSZ, office=OFFICE,
                                   attachments=[(name, filled, XLSX)],
                                   sent_at=at(date(2023, 2, 3), 15)))  # fmt: skip
        source = MaildirSource(settings.maildir_root / OFFICE)
        summary = take_in(settings, POLICY, source, now=at(date(2023, 2, 3), 16))
        assert [(x["outcome"], x["period"]) for x in summary.lines] == [("accepted", "2023-W05")]

        monday = at(date(2023, 2, 6), 10)
        escalation = run_escalation(settings, POLICY, as_of=monday)
        await deliver_outbox(settings, POLICY, run_id="escalation", now=datetime.now(UTC))
        chased = [m for m in caught(catcher.directory, YJJ) if "催报" in _subject(m)]
        assert not [m for m in caught(catcher.directory, QSZ) if "催报" in _subject(m)]
    assert escalation.overdue == [f"县应急局 {week}安全生产工作情况"]
    [overdue] = chased
    assert _subject(overdue) == f"【催报】县应急局：{week}安全生产工作情况已逾期，请立即报送"
    assert "2023年2月3日（星期五）17:00" in _text(overdue)

    # Week 6: nobody reports. The consolidation tick's day for it is Monday 13 February, and its
    # bulletin compares with week 5 and names the unit missing both weeks.
    with session_scope(settings) as session:
        periodic = periodic_cycles(session, POLICY)
    calendar = WorkingCalendar.from_settings(settings)
    assert cycles_to_consolidate(periodic, date(2023, 2, 13), calendar) == [
        DueCycle("weekly-safety", "2023-W06", date(2023, 2, 10), "weekly")
    ]
    tick = at(date(2023, 2, 13), 9, 30)
    result = run_consolidation(
        settings, POLICY, period="2023-W06", obligation=None, as_of=tick, now=tick
    )
    markdown = result.files[1].read_text(encoding="utf-8")
    html = result.files[0].read_text(encoding="utf-8")
    assert f"较上周（{week}，50.0%）下降50.0个百分点" in markdown
    assert "连续两周未按时报送的单位1个：县应急局（上周未报送，本周未报送）" in markdown
    assert "图1 各周按时报送率" in html and "第6周（本周）" in html
    for word in ("本月", "上月", "各月", "月度"):
        assert word not in markdown and word not in html, word
