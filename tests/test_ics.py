"""Calendar files: every event of ``calendar --ics`` against ``calendar --json``, for both seeds,
and the unit's own calendar on the opening notice, as the SMTP server received it."""

from __future__ import annotations

import email.policy
import json
import re
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event
from sqlmodel import select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.policy_store import policy_cycles
from tasks.mail.outbox import deliver_outbox
from tasks.reminders.steps import prepare_reminders
from tests.helpers import POLICY_FILES, at, invoke_cli, load_seeds
from tests.smtp_server import SmtpServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEEDS = {"lingchuan-2023": "陵川县", "xinjiang-2022": "新绛县"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[Any], bytes]]:
    """Both seeds loaded through the CLI; per seed, ``calendar --json`` and the ``--ics`` bytes
    of the same run."""
    root = tmp_path_factory.mktemp("calendar")
    loaded = invoke_cli(root, "policy", "load", *map(str, POLICY_FILES.values()))
    assert loaded.returncode == 0, loaded.stderr
    result = {}
    for policy in SEEDS:
        ics = root / f"{policy}.ics"
        run = invoke_cli(root, "calendar", "--policy", policy, "--json", "--ics", str(ics))
        assert run.returncode == 0, run.stderr
        result[policy] = (json.loads(run.stdout), ics.read_bytes())
    return result


def nine_am(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(9), tzinfo=SHANGHAI)


def check_event(event: Event, row: dict[str, Any]) -> None:
    """One event says what ``calendar --json`` says of its cycle."""
    due = datetime.fromisoformat(row["due"])
    start = event.decoded("dtstart")
    assert start == due and start.utcoffset() == timedelta(hours=8)
    assert str(event["dtstart"].params["TZID"]) == "Asia/Shanghai"
    assert start.astimezone(SHANGHAI).time() == time(23, 59), "the due moment, not midnight"
    assert "DTEND" not in event and "DURATION" not in event  # a moment (tasks/ics.py)
    assert row["obligation_name"] in str(event["summary"])
    assert str(event["summary"]).startswith("【报送截止】")
    local = due.astimezone(SHANGHAI)
    assert f"{local.year}年{local.month}月{local.day}日" in str(event["description"])
    assert f"{local:%H:%M}（北京时间）" in str(event["description"])
    alarms = event.walk("VALARM")
    # Relative triggers (tasks/ics.py says why), each landing on 09:00 of a reminder day.
    triggers = [alarm.decoded("trigger") for alarm in alarms]
    assert all(isinstance(trigger, timedelta) for trigger in triggers)
    fired = [start + trigger for trigger in triggers]
    assert fired == [nine_am(day) for day in sorted(row["reminders"])]
    assert all(moment < due for moment in fired)
    assert event.decoded("dtstamp").utcoffset() == timedelta(0)  # DTSTAMP is in UTC


@pytest.mark.parametrize("policy", SEEDS)
def test_every_event_matches_the_calendar_json(
    exported: dict[str, tuple[list[Any], bytes]], policy: str
) -> None:
    rows, data = exported[policy]
    calendar = Calendar.from_ical(data)
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Asia/Shanghai"
    assert zone.to_tz().utcoffset(datetime(2023, 3, 5, 23, 59)) == timedelta(hours=8)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert len(events) == len(rows) == len(calendar.walk("VEVENT")) > 0  # UIDs unique
    for row in rows:
        check_event(events[f"{policy}.{row['obligation']}.{row['period']}@taskforce"], row)
    assert SEEDS[policy] in str(calendar["x-wr-calname"])
    # On the wire: every start names the zone the file defines.
    starts = re.findall(rb"^DTSTART[;:][^\r\n]*", data, flags=re.M)
    assert [s for s in starts if not s.startswith(b"DTSTART;TZID=Asia/Shanghai:")] == [
        b"DTSTART:19920101T000000"  # the VTIMEZONE's own
    ]
    assert data.count(b"BEGIN:VEVENT") == len(rows)
    assert b"\r\nMETHOD:PUBLISH\r\n" in data


def test_lingchuan_february_reads_as_the_issue_asks(
    exported: dict[str, tuple[list[Any], bytes]],
) -> None:
    _, data = exported["lingchuan-2023"]
    event = next(
        e
        for e in Calendar.from_ical(data).walk("VEVENT")
        if e["uid"] == "lingchuan-2023.monthly-progress.2023-02@taskforce"
    )
    assert event["summary"] == "【报送截止】陵川县月度进展情况报告（2023年2月）"
    description = str(event["description"])
    assert "报送事项：2023年2月进展情况报告" in description
    assert "截止时间：2023年3月5日（星期日）23:59（北京时间）" in description
    assert "报送至：县工作专班办公室\n" in description
    assert "直接回复该邮件或发送至 taskforce-office@lingchuan.example.org\n" in description
    assert "工作落实情况；存在的问题困难" in description
    # 3 and 0 working days before Sunday 5 March: Wednesday 1 and Friday 3 March, at 09:00.
    assert "日历提醒：3月1日、3月3日上午9:00" in description
    assert [str(a["trigger"].to_ical(), "ascii") for a in event.walk("VALARM")] == [
        "-P4DT14H59M",
        "-P2DT14H59M",
    ]


@pytest.mark.parametrize("policy", SEEDS)
def test_the_file_round_trips_and_is_the_same_every_run(
    exported: dict[str, tuple[list[Any], bytes]], policy: str, tmp_path: Path
) -> None:
    """icalendar reads back what it wrote, byte for byte (the cheap offline validator), every
    content line is folded within 75 octets, and a second run gives the same bytes: same UIDs,
    so a re-import updates the events."""
    _, data = exported[policy]
    assert Calendar.from_ical(data).to_ical() == data
    assert max(len(line) for line in data.split(b"\r\n")) <= 75
    assert data.endswith(b"END:VCALENDAR\r\n")
    again = invoke_cli(tmp_path, "policy", "load", str(POLICY_FILES[policy]))
    assert again.returncode == 0, again.stderr
    path = tmp_path / "again.ics"
    assert invoke_cli(tmp_path, "calendar", "--policy", policy, "--ics", str(path)).returncode == 0
    assert path.read_bytes() == data


# ---------------------------------------------------------------------------------------------
# The unit's calendar on the opening notice


@pytest.fixture
def loaded(db_settings: Settings, smtp_server: SmtpServer) -> Settings:
    load_seeds(db_settings)
    return db_settings.model_copy(
        update={"smtp": smtp_server.smtp_settings(backoff_seconds=0.01, max_attempts=3)}
    )


def cycle_of(settings: Settings, policy: str, obligation: str, period: str) -> t.Cycle:
    with session_scope(settings) as session:
        return next(
            c
            for o, c in policy_cycles(session, policy)
            if o.code == obligation and c.period == period
        )


def mails_to(server: SmtpServer, mailbox: str, since: int = 0) -> list[EmailMessage]:
    return [
        email.message_from_bytes(m.raw, policy=email.policy.default)  # type: ignore[misc]
        for m in server.messages[since:]
        if mailbox in m.rcpt_tos
    ]


def calendar_part(message: EmailMessage) -> EmailMessage:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert isinstance(part, EmailMessage)
    return part


def json_rows(settings: Settings, policy: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``calendar --json``'s rows, from the same database, by (obligation, period)."""
    from flows.cli.policy import CycleRow

    with session_scope(settings) as session:
        rows = [CycleRow.of(policy, o, c).model_dump() for o, c in policy_cycles(session, policy)]
    return {(r["obligation"], r["period"]): r for r in rows}


@pytest.mark.parametrize(
    ("policy", "obligation", "period", "unit", "mailbox"),
    [
        ("lingchuan-2023", "monthly-progress", "2023-02", "rsj", "rsj@lingchuan.example.org"),
        ("xinjiang-2022", "monthly-summary", "2022-11", "jtysj", "jtysj@xinjiang.example.org"),
    ],
)
async def test_opening_notice_carries_the_units_own_calendar(
    loaded: Settings,
    smtp_server: SmtpServer,
    policy: str,
    obligation: str,
    period: str,
    unit: str,
    mailbox: str,
) -> None:
    cycle = cycle_of(loaded, policy, obligation, period)
    prepare_reminders(loaded, policy, at(cycle.opens), "monthly")
    await deliver_outbox(loaded, policy, run_id="ics", now=at(cycle.opens))
    (message,) = mails_to(smtp_server, mailbox)
    body = message.get_body(("plain",))
    assert body is not None
    assert "另附《报送日历.ics》" in body.get_content()
    assert "可导入手机或电脑日历" in body.get_content()
    attachments = list(message.iter_attachments())
    assert attachments[0].get_filename().endswith(".xlsx")  # the form stays first
    part = calendar_part(message)
    assert part.get_filename() == "报送日历.ics"
    assert part.get_param("method") == "PUBLISH"
    assert part.get_content_charset() == "utf-8"
    raw = next(m.raw for m in smtp_server.messages if mailbox in m.rcpt_tos)
    assert b"filename*=utf-8''%E6%8A%A5%E9%80%81%E6%97%A5%E5%8E%86.ics" in raw  # RFC 2231
    calendar = Calendar.from_ical(part.get_content())
    assert str(calendar["method"]) == "PUBLISH"
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    events = calendar.walk("VEVENT")
    rows = json_rows(loaded, policy)
    later = sorted(p for (o, p) in rows if o == obligation and p >= period)
    assert [str(e["uid"]) for e in events] == [
        f"{policy}.{obligation}.{p}.{unit}@taskforce" for p in later
    ]  # this unit's, this obligation's, this period on: nothing of other units or obligations
    with session_scope(loaded) as session:
        names = {u.code: u.name for u in session.exec(select(t.Unit))}
    for event, p in zip(events, later, strict=True):
        check_event(event, rows[(obligation, p)])
        description = str(event["description"])
        assert description.startswith(f"报送单位：{names[unit]}\n")
        assert event.decoded("dtstamp") == at(cycle.opens)  # the notice's moment, in UTC


async def test_each_one_off_opening_carries_only_its_own_deadline(
    loaded: Settings, smtp_server: SmtpServer
) -> None:
    """陵川's two one-off reports open on 12 January: each notice's calendar has its own one
    event; the reminder of 17 January carries no calendar (it was sent with the opening)."""
    prepare_reminders(loaded, "lingchuan-2023", at(date(2023, 1, 12)), "once")
    await deliver_outbox(loaded, "lingchuan-2023", run_id="once", now=at(date(2023, 1, 12)))
    rsj = mails_to(smtp_server, "rsj@lingchuan.example.org")
    assert len(rsj) == 2
    uids = set()
    for message in rsj:
        (event,) = Calendar.from_ical(calendar_part(message).get_content()).walk("VEVENT")
        uids.add(str(event["uid"]))
        assert event.decoded("dtstart") == datetime(2023, 1, 20, 23, 59, tzinfo=SHANGHAI)
        name = {
            "taskforce-setup": "工作专班建立情况",
            "implementation-ledger": "贯彻落实举措及任务清单台账",
        }
        report = name[str(event["uid"]).split(".")[1]]
        assert event["summary"] == f"【报送截止】陵川县{report}"
        assert message["Subject"].endswith(f"前报送{report}")  # the notice's own obligation
    assert uids == {
        "lingchuan-2023.taskforce-setup.2023.rsj@taskforce",
        "lingchuan-2023.implementation-ledger.2023.rsj@taskforce",
    }
    sent = len(smtp_server.messages)
    prepare_reminders(loaded, "lingchuan-2023", at(date(2023, 1, 17)), "once")
    await deliver_outbox(loaded, "lingchuan-2023", run_id="once-17", now=at(date(2023, 1, 17)))
    reminders = mails_to(smtp_server, "rsj@lingchuan.example.org", since=sent)
    assert len(reminders) == 2
    for message in reminders:
        types = [p.get_content_type() for p in message.iter_attachments()]
        assert "text/calendar" not in types and len(types) == 1
        assert "报送日历" not in message.get_body(("plain",)).get_content()


async def test_next_months_calendar_updates_the_same_events(
    loaded: Settings, smtp_server: SmtpServer
) -> None:
    """A unit that imported February's file and then March's has each deadline once: March's
    events carry February's UIDs for the same cycles, with a later DTSTAMP, so a calendar
    updates them in place."""
    files = []
    for period in ("2023-02", "2023-03"):
        cycle = cycle_of(loaded, "lingchuan-2023", "monthly-progress", period)
        since = len(smtp_server.messages)
        prepare_reminders(loaded, "lingchuan-2023", at(cycle.opens), "monthly")
        await deliver_outbox(loaded, "lingchuan-2023", run_id=period, now=at(cycle.opens))
        (message,) = mails_to(smtp_server, "rsj@lingchuan.example.org", since=since)
        calendar = Calendar.from_ical(calendar_part(message).get_content())
        assert calendar["x-wr-calname"] == "陵川县报送日历（县人社局：月度进展情况报告）"
        files.append({str(e["uid"]): e for e in calendar.walk("VEVENT")})
    february, march = files
    assert set(february) - set(march) == {"lingchuan-2023.monthly-progress.2023-02.rsj@taskforce"}
    assert set(march) < set(february)
    for uid, event in march.items():
        assert event.decoded("dtstart") == february[uid].decoded("dtstart")
        assert event.decoded("dtstamp") > february[uid].decoded("dtstamp")
