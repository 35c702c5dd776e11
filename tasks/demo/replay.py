"""The demo's quarter, replayed day by day: what happens on each day, and what it added up to.

``taskforce demo`` (flows/demo.py) walks the calendar as ``taskforce serve`` would live through
it: on a working day the 09:00 reminders and escalation, on the first working day after a
monthly deadline the 09:30 consolidation and the 10:00 year-to-date roll-up; the simulated
bureaus' replies arrive during the day and intake takes them in at the end of it; the office
decides the day's escalation proposals in the afternoon. The decisions about days live here as
plain functions; the replies come from tasks/demo/bureaus.py.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from models import tables as t
from models.policy_store import get_policy, policy_cycles
from models.submission_view import submission_rows
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.demo.bureaus import BureauReply
from tasks.mail.labels import KIND_LABELS
from tasks.serving import DueCycle, cycles_to_consolidate, non_working_reason, rollup_years

# The clock of a replayed day: the served ticks' times (tasks/serving.py), intake once the
# day's replies are in, the office's decisions in the afternoon. Every flow of the replay runs
# at one of these moments (its as_of), never at the wall clock's: what it writes and mails is
# dated on the replayed day. The policy is loaded before the first day's ticks.
LOADED_AT = time(8, 0)
REMINDERS_AT = time(9, 0)
CONSOLIDATION_AT = time(9, 30)
ANNUAL_AT = time(10, 0)
DECISIONS_AT = time(15, 0)
INTAKE_AT = time(18, 0)

# Mail kinds (Notification.kind) in the order the summary shows them, with their labels.
MAIL_LABELS = KIND_LABELS


def at(day: date, moment: time) -> datetime:
    """``day`` at ``moment``, Beijing time."""
    return datetime.combine(day, moment, SHANGHAI)


@dataclass(frozen=True)
class DayPlan:
    """What the served ticks would run on one day."""

    day: date
    rest_reason: str | None  # why the 09:00 ticks skip it; None on a working day
    notices: tuple[str, ...]  # obligation frequencies (once, monthly) with notices due today
    consolidate: tuple[DueCycle, ...]  # monthly cycles consolidated today
    rollups: tuple[str, ...]  # years whose roll-up gains a month today

    @property
    def working(self) -> bool:
        return self.rest_reason is None


@dataclass(frozen=True)
class NoticeDays:
    """A cycle's days with notices (tasks/reminders.notice_kind: the opening, the reminders)."""

    frequency: str
    days: frozenset[date]


def notice_days(cycles: Iterable[tuple[t.Obligation, t.Cycle]]) -> list[NoticeDays]:
    return [
        NoticeDays(o.frequency, frozenset({c.opens, *map(date.fromisoformat, c.reminders)}))
        for o, c in cycles
    ]


def plan_days(
    first: date,
    last: date,
    calendar: WorkingCalendar,
    monthly: Sequence[DueCycle],
    notices: Sequence[NoticeDays] = (),
) -> list[DayPlan]:
    """Every day from ``first`` to ``last`` inclusive, with the ticks that act on it."""
    plans = []
    day = first
    while day <= last:
        due = tuple(cycles_to_consolidate(monthly, day, calendar))
        frequencies = tuple(sorted({n.frequency for n in notices if day in n.days}))
        rest = non_working_reason(day, calendar)
        plans.append(DayPlan(day, rest, frequencies if rest is None else (), due,
                             tuple(rollup_years(due))))  # fmt: skip
        day += timedelta(days=1)
    return plans


def periods_opening(session: Session, policy_code: str, day: date) -> list[str]:
    """The report periods whose cycles open on ``day``: their forms go out with today's notices,
    so the bureaus' replies to them can be planned."""
    return sorted({c.period for _, c in policy_cycles(session, policy_code) if c.opens == day})


def has_new_mail(maildir: Path) -> bool:
    """Whether a Maildir holds a message no intake has taken yet (``new/``, not hidden)."""
    new = maildir / "new"
    return new.is_dir() and any(not name.startswith(".") for name in os.listdir(new))


@dataclass
class ReplyQueue:
    """The bureaus' planned replies, released in order of arrival as the replay's clock moves."""

    _heap: list[tuple[datetime, int, BureauReply]] = field(default_factory=list)
    _added: int = 0

    def add(self, replies: Iterable[BureauReply]) -> None:
        for reply in replies:
            heapq.heappush(self._heap, (reply.arrives, self._added, reply))
            self._added += 1

    def arriving_by(self, moment: datetime) -> list[BureauReply]:
        """The replies that arrive at or before ``moment``, taken off the queue."""
        out = []
        while self._heap and self._heap[0][0] <= moment:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def __len__(self) -> int:
        return len(self._heap)


@dataclass
class DayRecord:
    """What one replayed day did, for the progress line."""

    day: date
    rest_reason: str | None = None
    mails: Counter[str] = field(default_factory=Counter)  # by kind, sent today
    replies: int = 0
    accepted: int = 0
    rejected: int = 0
    cases_opened: int = 0
    proposals: int = 0
    approved: int = 0
    senders_confirmed: int = 0  # plain replies whose sender the office confirmed by phone
    consolidated: list[str] = field(default_factory=list)

    def line(self) -> str:
        """A short Chinese line: 2023-02-06 周一 催报6 回复12 立案2."""
        if self.rest_reason and not self.replies:
            return "休息日"
        parts = []
        if self.replies:
            parts.append(f"收到回复{self.replies}（受理{self.accepted}、退回{self.rejected}）")
        parts += [f"{MAIL_LABELS[k]}{n}" for k, n in self.mails.items() if n and k in MAIL_LABELS]
        if self.cases_opened:
            parts.append(f"立督办{self.cases_opened}")
        if self.proposals:
            parts.append(f"提请升级{self.proposals}")
        if self.approved:
            parts.append(f"审批同意{self.approved}")
        if self.senders_confirmed:
            parts.append(f"核实发件人{self.senders_confirmed}")
        if self.consolidated:
            parts.append("汇总" + "、".join(self.consolidated))
        return "，".join(parts) or "无事项"


@dataclass(frozen=True)
class PeriodSummary:
    """One report period at the end of the replay: who reported how, and the mail it took."""

    period: str
    label: str
    obligated: int
    on_time: int
    late: int
    rejected: int  # the latest version is a rejected one
    # Replied without the form (e.g. Word): a person must review it; one whose sender is not
    # authenticated (the demo's catcher stamps no Authentication-Results) is not yet counted.
    pending_review: int
    missing: int
    mails: dict[str, int]  # kind → sent


def period_summaries(
    session: Session, policy_code: str, periods: Sequence[str]
) -> list[PeriodSummary]:
    """Per period, from the database as the replay left it (not from what the runs said)."""
    policy = get_policy(session, policy_code)
    labels = {c.period: c.period_label for _, c in policy_cycles(session, policy_code)}
    mails: dict[str, Counter[str]] = {p: Counter() for p in periods}
    for kind, period in session.exec(
        select(t.Notification.kind, t.Cycle.period)
        .join(t.Cycle, col(t.Cycle.id) == t.Notification.cycle_id)
        .where(t.Notification.policy_id == policy.id, t.Notification.status == "sent")
    ):
        if period in mails:
            mails[period][kind] += 1
    summaries = []
    for period in periods:
        rows = [r for r in submission_rows(session, policy_code, period) if r.get("unit_code")]
        status = Counter(r["status"] for r in rows)
        accepted = [r for r in rows if r["status"] == "accepted"]
        summaries.append(
            PeriodSummary(
                period=period,
                label=labels.get(period, period),
                obligated=len(rows),
                on_time=sum(1 for r in accepted if not r["late_working_days"]),
                late=sum(1 for r in accepted if r["late_working_days"]),
                rejected=status["rejected"],
                pending_review=status["unstructured"] + status["unverified"],
                missing=status["missing"],
                mails=dict(mails[period]),
            )
        )
    return summaries


def mail_counts(session: Session, policy_code: str) -> Counter[str]:
    """Sent mails of a policy by kind, whatever cycle (or none) they belong to."""
    policy = get_policy(session, policy_code)
    return Counter(
        session.exec(
            select(t.Notification.kind).where(
                t.Notification.policy_id == policy.id, t.Notification.status == "sent"
            )
        ).all()
    )


def case_totals(rows: Iterable[dict[str, Any]]) -> Counter[str]:
    """督办 cases by state label (rows as ``tasks.escalation.case_view.case_rows`` gives them)."""
    return Counter(str(r["state_label"]) for r in rows)
