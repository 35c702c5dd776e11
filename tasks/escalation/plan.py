"""The escalation ladder for one day, as a pure plan: what to send, open, resolve and propose.

Given the cycles due by ``as_of``, who has reported, the units' recent records and the cases
already open, ``plan_escalation`` returns actions; ``tasks/escalation/steps.py`` applies them
(outbox rows and case events, each keyed so that replaying the same ``as_of`` changes nothing).

1. 催报: from the first working day after the due day, a unit still without a report that
   counts gets one overdue notice per cycle.
2. 督办单: still missing ``case_after_working_days`` working days after the due day, or a red
   light on a measure the unit leads (from the first working day after the due day): a case
   opens, with the 13710 clocks.
3. A case past its 7-day clock is proposed for county supervision (报县政府督查); a repeat
   offender's case of the cycle that made it one, for an interview (约谈) — one proposal per
   offence, never again on its older cases. A person approves or rejects each proposal. A case
   is proposed from the working day after it opened, never on its first day: the run that opens
   it plans before it exists, and a second run of that day (a retry, a replay) must plan the
   same. A step is proposed once per case, ever (``proposal_key``, like the outbox keys).
4. A measure's task deadline passed without 已完成 from a lead unit: a case on that unit
   (``tasks/escalation/deadline_cases.py``), resolved when it reports 已完成 or the office
   extends the deadline.
A case whose missing report arrives is resolved (the office closes it: 销号).
Nothing is sent, no case opens and nothing is proposed on a non-working day: those wait for the
next working day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.cycles import report_title
from tasks.escalation.actions import Action, OpenCase, ProposeStep, ResolveCase, SendOverdue
from tasks.escalation.cases import CaseState
from tasks.escalation.deadline_cases import plan_deadline_cases
from tasks.escalation.rules import (
    CycleRecord,
    LagRules,
    deserves_commendation,
    is_repeat_offender,
)

if TYPE_CHECKING:  # the store imports this module (DueCycle): the type only, not the module
    from models.escalation_store import EscalationInputs


@dataclass(frozen=True)
class DueCycle:
    obligation: str
    obligation_name: str
    period: str
    period_label: str
    due_date: date
    due_at: datetime


STEP_NAMES: tuple[Literal["supervision", "interview"], ...] = ("supervision", "interview")


def working_days_after(due: date, today: date, calendar: WorkingCalendar) -> int:
    """Working days from the day after ``due`` through ``today``."""
    count, day = 0, due + timedelta(days=1)
    while day <= today:
        if calendar.is_working_day(day):
            count += 1
        day += timedelta(days=1)
    return count


def missing_case_key(policy: str, obligation: str, period: str, unit: str) -> str:
    return f"{policy}/{obligation}/{period}/{unit}/missing"


def red_case_key(policy: str, obligation: str, period: str, unit: str) -> str:
    return f"{policy}/{obligation}/{period}/{unit}/red"


def proposal_key(case_key: str, step: str) -> str:
    """One proposal of a step on a case, ever: a retry or replay finds it and proposes nothing."""
    return f"{case_key}/proposed/{step}"


def plan_escalation(
    inputs: EscalationInputs, *, as_of: datetime, calendar: WorkingCalendar
) -> list[Action]:
    """Today's actions, in a stable order (cycle by cycle, units in directory order)."""
    policy, rules, cases = inputs.policy.code, inputs.rules, inputs.cases
    today = as_of.astimezone(SHANGHAI).date()
    working = calendar.is_working_day(today)  # notices and 督办单 go out on working days only
    actions: list[Action] = []
    for cycle in inputs.due_cycles:
        if as_of < cycle.due_at + timedelta(hours=rules.grace_hours):
            continue
        late_days = working_days_after(cycle.due_date, today, calendar)
        title = report_title(cycle.period_label, cycle.obligation_name)
        for unit in inputs.obligated.get(cycle.obligation, ()):
            key = missing_case_key(policy, cycle.obligation, cycle.period, unit)
            done = (cycle.obligation, cycle.period, unit) in inputs.reported
            state = cases.get(key)
            if done:
                if state is not None and state.status not in ("resolved", "closed"):
                    actions.append(ResolveCase(key, f"已于督办后补报{title}"))
                continue
            if late_days >= 1 and working:
                actions.append(SendOverdue(unit, cycle.obligation, cycle.period))
            if late_days >= rules.case_after_working_days and state is None and working:
                actions.append(
                    OpenCase(key, unit, cycle.obligation, cycle.period,
                             f"{title}逾期未报，经催报仍未报送")
                )  # fmt: skip
        for unit, measures in inputs.red_units.get((cycle.obligation, cycle.period), ()):
            key = red_case_key(policy, cycle.obligation, cycle.period, unit)
            if key not in cases and late_days >= 1 and working:
                actions.append(
                    OpenCase(key, unit, cycle.obligation, cycle.period,
                             f"{cycle.period_label}第{'、'.join(measures)}条措施的量化目标"
                             "落后序时进度（红灯）")
                )  # fmt: skip
    actions.extend(
        plan_deadline_cases(
            policy, inputs.deadlines, inputs.deadline_leads, cases, today=today, working=working
        )
    )
    resolving = {a.case_key for a in actions if isinstance(a, ResolveCase)}
    for key, state in sorted(cases.items()):
        if not working:
            break  # proposals, like notices, wait for a working day
        if state.status != "open" or state.pending_step or key in resolving:
            continue
        if state.opened >= today:
            continue  # its first day: the 督办单 has just gone out (see the module docstring)
        period, unit = key.split("/")[2:4]
        records = inputs.history.get(unit, ())
        # Whatever became of an earlier proposal (waiting, approved, refused), it is not made
        # again; the keys are every proposal's, at any time, so a replay sees them too.
        proposed = {step for step in STEP_NAMES if proposal_key(key, step) in inputs.proposals}
        if "solve" in {c.code for c in state.overdue_clocks(today)} and (
            "supervision" not in proposed
        ):
            actions.append(ProposeStep(key, "supervision", "超过“13710”办结时限仍未办结"))
        elif (
            # Only the case of the cycle that made the unit a repeat offender: its older cases
            # would propose the same 约谈 again, and wait for the office for ever.
            records
            and records[-1].period == period
            and is_repeat_offender(records, rules)
            and "interview" not in proposed
        ):
            runs = rules.repeat_cycles
            actions.append(ProposeStep(key, "interview", f"连续{runs}期逾期或未报送"))
    return actions


def commended(
    history: Mapping[str, Sequence[CycleRecord]],
    cases: Mapping[str, CaseState],
    rules: LagRules,
    units: Sequence[str] | None = None,
) -> list[str]:
    """Units for 通报表扬: clean for the last cycles, and no 督办 case of theirs left open
    (a unit under supervision for a one-off report is not praised in the same bulletin)."""
    under_case = {key.split("/")[3] for key, state in cases.items() if state.status != "closed"}
    return [
        code for code in (units if units is not None else list(history))
        if code not in under_case and deserves_commendation(history.get(code, ()), rules)
    ]  # fmt: skip
