"""iCalendar export of a policy's reporting cycles, for bureaus to import into their calendars."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from icalendar import Alarm, Calendar, Event

from models import tables as t
from tasks.calendar import SHANGHAI
from tasks.cycles import report_title


def cycles_to_ics(policy: t.Policy, rows: list[tuple[t.Obligation, t.Cycle]]) -> bytes:
    """One all-day event per cycle on its due day, with an alarm per reminder day.

    Deterministic: the stamp is the policy's issue date, so the same data gives the same bytes.
    """
    cal = Calendar()
    cal.add("prodid", "-//taskforce//county task force deadlines//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{policy.county}报送日历（{policy.code}）")
    cal.add("x-wr-timezone", "Asia/Shanghai")
    stamp = datetime.combine(policy.issued, time(9, 0), tzinfo=SHANGHAI)
    for obligation, cycle in rows:
        title = report_title(cycle.period_label, obligation.name)
        event = Event()
        event.add("uid", f"{policy.code}.{obligation.code}.{cycle.period}@taskforce")
        event.add("dtstamp", stamp)
        event.add("summary", f"【截止】{title}")
        event.add("dtstart", cycle.due_date)
        event.add("dtend", cycle.due_date + timedelta(days=1))
        due_local = cycle.due_at.astimezone(SHANGHAI)
        lines = [
            f"报送截止：{due_local:%Y-%m-%d %H:%M}（北京时间）",
            f"报送至：{obligation.submit_to}",
            f"依据：{obligation.source_text}",
        ]
        if not cycle.official:
            lines.append("注意：该日期按周末推算，非官方节假日安排。")
        event.add("description", "\n".join(lines))
        for reminder in cycle.reminders:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"提醒：{title}即将截止")
            days_before = (cycle.due_date - datetime.fromisoformat(reminder).date()).days
            # An all-day event starts at 00:00 of the due day; remind at 09:00 of the reminder day.
            alarm.add("trigger", timedelta(days=-days_before, hours=9))
            event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()
