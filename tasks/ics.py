"""iCalendar files of a policy's reporting deadlines, for bureaus to import into their calendars.

Two scopes: the office's whole calendar (``taskforce calendar --ics``) and one unit's calendar of
one obligation, attached to that unit's opening notice (``unit_calendar``).

Choices, for what Outlook, Thunderbird and phone calendars show:

- Each deadline is one timed event at its due moment (23:59, ``TZID=Asia/Shanghai``) with no
  DTEND: a zero-length event (RFC 5545 §3.6.1), which is what a deadline is. Every client shows
  "23:59" on the due day and converts it for a reader in another zone. An all-day event only
  says the day (the moment lived in the description), and an all-day event plus a timed one
  puts every deadline twice into a phone's agenda; the alarms bring the event forward instead.
- Alarms trigger relative to that start (``-P3DT14H59M``), not at an absolute UTC moment:
  Android's calendar provider and Outlook store a reminder only as "minutes before the start",
  so they drop absolute triggers, while relative ones work everywhere. Asia/Shanghai has no
  daylight saving, so "09:00 on the reminder day" is an exact offset from the due moment.
  Outlook keeps one reminder per appointment (the first VALARM): the earliest comes first.
- A VTIMEZONE for Asia/Shanghai (one STANDARD +08:00 block) travels with the file: Outlook
  needs it to read ``TZID=`` times, and ``X-WR-TIMEZONE`` alone is a Google extension.
- UIDs name policy, obligation, period (and unit), never a run: re-importing the file of a later
  month's notice updates the events instead of duplicating them. DTSTAMP is the moment given
  (the notice's send moment; the policy's issue date for the office's file), so the same data
  gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from functools import cache
from pathlib import Path

from icalendar import Alarm, Calendar, Event, Timezone, vCalAddress

from config.settings import Settings
from models import tables as t
from tasks.calendar import SHANGHAI, format_day
from tasks.cycles import report_title

ICS_FILENAME = "报送日历.ics"  # the opening notice's attachment, named in the mail
ALARM_TIME = time(9, 0)  # local time of day of a reminder alarm
TZID = "Asia/Shanghai"


@cache
def _shanghai_vtimezone() -> bytes:
    """Asia/Shanghai as a VTIMEZONE, from zoneinfo via icalendar.

    From 1992, after China's last daylight-saving summer (1991): a single STANDARD +08:00
    block, which Outlook matches to its "China Standard Time" zone.
    """
    zone = Timezone.from_tzid(TZID, first_date=date(1992, 1, 1), last_date=date(2038, 1, 1))
    zone.pop("COMMENT", None)  # "only works from … to …": true of any zone, noise here
    return zone.to_ical()


def calendar_path(settings: Settings, policy: str, obligation: str, period: str, unit: str) -> Path:
    """Where a unit's calendar attached to one opening notice is kept (beside ``var/forms``)."""
    return settings.var_dir / "calendars" / policy / obligation / period / f"{unit}.ics"


def alarm_moments(cycle: t.Cycle) -> list[datetime]:
    """09:00 Beijing time on each reminder day of a cycle, earliest first."""
    return [
        datetime.combine(date.fromisoformat(day), ALARM_TIME, tzinfo=SHANGHAI)
        for day in sorted(cycle.reminders)
    ]


def event_summary(policy: t.Policy, obligation: t.Obligation, cycle: t.Cycle) -> str:
    """【报送截止】陵川县月度进展情况报告（2023年2月）: a one-off's due day is the event's own day,
    so it is not said again."""
    period = f"（{cycle.period_label}）" if obligation.frequency != "once" else ""
    return f"【报送截止】{policy.county}{obligation.name}{period}"


def _description(
    policy: t.Policy, obligation: t.Obligation, cycle: t.Cycle, unit: t.Unit | None
) -> str:
    """What to submit, by when and to whom, as the event's notes."""
    due = cycle.due_at.astimezone(SHANGHAI)
    office = policy.task_force_spec.office
    lines = []
    if unit is not None:
        lines.append(f"报送单位：{unit.name}")
    report = (
        report_title(cycle.period_label, obligation.name)
        if obligation.frequency != "once"
        else obligation.name  # a one-off's label is its due day, said on the next line
    )
    # Where and how, as the notice mail says it (wording.office_place): the configured
    # submit_to text can quote the document's own mailbox, which is not the one that receives.
    place = office.name
    if office.room:
        place += f"（{office.unit}{office.room.replace(' ', '')}）"
    content = sorted(obligation.content, key=lambda item: item.get("kind") == "per_measure")
    lines += [
        f"报送事项：{report}",
        f"截止时间：{format_day(due.date())}{due:%H:%M}（北京时间）",
        "报送内容："
        + "；".join(
            f"{item['label']}{'' if item.get('required', True) else '（选填）'}" for item in content
        ),
        f"报送至：{place}",
        f"报送方式：填写开始通知邮件所附报表，直接回复该邮件或发送至 {office.mailbox}",
    ]
    if obligation.paper_copy:
        lines.append(f"纸质件：报送材料须加盖单位公章，盖章纸质件请报送{place}")
    reminders = "、".join(f"{m.month}月{m.day}日" for m in alarm_moments(cycle))
    if reminders:
        lines.append(f"日历提醒：{reminders}上午9:00")
    lines.append(f"依据：《{policy.title}》（{policy.doc_number}）")
    if not cycle.official:
        lines.append("注意：该日期按周末推算，非官方节假日安排。")
    return "\n".join(lines)


def _event(
    policy: t.Policy,
    obligation: t.Obligation,
    cycle: t.Cycle,
    unit: t.Unit | None,
    stamp: datetime,
) -> Event:
    due = cycle.due_at.astimezone(SHANGHAI)
    summary = event_summary(policy, obligation, cycle)
    uid = f"{policy.code}.{obligation.code}.{cycle.period}"
    office = policy.task_force_spec.office
    organizer = vCalAddress(f"mailto:{office.mailbox}")
    organizer.params["cn"] = office.name
    event = Event()
    event.add("uid", f"{uid}.{unit.code}@taskforce" if unit else f"{uid}@taskforce")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", due)  # no DTEND: a moment (see the module docstring)
    event.add("summary", summary)
    event.add("description", _description(policy, obligation, cycle, unit))
    event.add("organizer", organizer)  # RFC 5546 requires it in a PUBLISH
    event.add("transp", "TRANSPARENT")  # a deadline does not make anyone busy at 23:59
    for moment in alarm_moments(cycle):
        if moment >= due:
            continue  # never an alarm after the deadline
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"{summary}：{format_day(due.date())}{due:%H:%M}截止")
        alarm.add("trigger", moment - due)
        event.add_component(alarm)
    return event


def cycles_to_ics(
    policy: t.Policy,
    rows: Sequence[tuple[t.Obligation, t.Cycle]],
    *,
    unit: t.Unit | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """One timed event per cycle at its due moment, with an alarm at 09:00 per reminder day.

    ``unit`` makes it that unit's calendar (named in the calendar, each event and its UID);
    ``stamp`` (aware) defaults to 09:00 of the policy's issue day, so the file is deterministic.
    """
    stamp = stamp or datetime.combine(policy.issued, ALARM_TIME, tzinfo=SHANGHAI)
    cal = Calendar()
    cal.add("prodid", "-//taskforce//county task force deadlines//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")  # matches the attachment's Content-Type (RFC 6047)
    name = f"{policy.county}报送日历"
    if unit is not None:
        names = "、".join(dict.fromkeys(o.name for o, _ in rows))
        name += f"（{unit.name}：{names}）" if names else f"（{unit.name}）"
    else:
        name += f"（{policy.code}）"
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", TZID)  # Google Calendar's hint; the VTIMEZONE is what others read
    cal.add_component(Timezone.from_ical(_shanghai_vtimezone()))
    for obligation, cycle in rows:
        cal.add_component(_event(policy, obligation, cycle, unit, stamp))
    return cal.to_ical()


def unit_calendar(
    policy: t.Policy,
    obligation: t.Obligation,
    cycle: t.Cycle,
    cycles: Sequence[tuple[t.Obligation, t.Cycle]],
    unit: t.Unit,
    stamp: datetime,
) -> bytes:
    """A unit's calendar for the opening notice of ``cycle``: that cycle and the later ones of
    the same obligation (earlier deadlines are past), nothing of other obligations or units."""
    rows = [(o, c) for o, c in cycles if o.id == obligation.id and c.due_at >= cycle.due_at]
    rows.sort(key=lambda row: row[1].due_at)
    return cycles_to_ics(policy, rows, unit=unit, stamp=stamp)
