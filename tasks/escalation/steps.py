"""The steps of an escalation run, and the office's decisions on cases, as plain functions.

``run_escalation`` plans the day (``tasks/escalation.plan_escalation``) and applies the plan in
one transaction: overdue notices and 督办单 mails into the outbox (keyed: never twice), cases and
their events. Replaying the same ``as_of`` finds everything already done and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment
from sqlmodel import Session, col, select

from config.errors import NotFoundError
from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.escalation_store import (
    EscalationInputs,
    add_event,
    find_case,
    lag_rules,
    load_case_state,
    load_cases,
    load_escalation_inputs,
    next_case_number,
)
from models.notice_data import NoticeData, load_notice_data
from models.outbox import NewNotification, enqueue
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.cycles import report_title
from tasks.deadlines import date_with_weekday
from tasks.escalation.approval import Decision
from tasks.escalation.cases import STATUS_LABELS, STEP_LABELS, CaseState
from tasks.escalation.deadline_cases import measure_label, parse_deadline_key
from tasks.escalation.plan import (
    OpenCase,
    ProposeStep,
    ResolveCase,
    SendOverdue,
    commended,
    plan_escalation,
)
from tasks.forms.layout import form_filename, form_path, form_spec_from_context
from tasks.mail.notices import notice_context
from tasks.render import render_notice, shared_environment


@dataclass
class EscalationSummary:
    policy: str
    as_of: datetime
    overdue: list[str] = field(default_factory=list)  # "县交通局 2023-02"
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    proposed: list[str] = field(default_factory=list)
    awaiting: list[dict[str, Any]] = field(default_factory=list)  # cases waiting for a person
    supervision: list[dict[str, str]] = field(default_factory=list)  # approved 报县政府督查
    interview: list[dict[str, str]] = field(default_factory=list)  # approved 约谈
    commendations: list[str] = field(default_factory=list)  # unit names for 通报表扬
    policy_name: str = ""  # the notice's title, for the office's approval form
    decisions: list[str] = field(default_factory=list)  # answers given while the run waited
    mail: list[str] = field(default_factory=list)  # the run's mail outcome (tasks.mail.failures)
    mail_pending: int = 0  # mails still pending after the run's delivery


@dataclass
class _NoticeSource:
    """What every notice of a run shares, with its cycles and units looked up by code."""

    settings: Settings
    env: Environment
    data: NoticeData
    policy_code: str
    as_of: datetime
    cycles: dict[tuple[str, str], tuple[t.Obligation, t.Cycle]]  # (obligation, period) → rows
    units: dict[str, t.Unit]  # unit code → row


def _notice_source(
    settings: Settings, session: Session, policy_code: str, as_of: datetime
) -> _NoticeSource:
    data = load_notice_data(session, policy_code, None)
    env = shared_environment()  # compiled once per process: templates are the slow part
    cycles: dict[tuple[str, str], tuple[t.Obligation, t.Cycle]] = {}
    for obligation, cycle in data.cycles:
        cycles.setdefault((obligation.code, cycle.period), (obligation, cycle))
    units: dict[str, t.Unit] = {}
    for members in data.recipients.values():
        for unit in members:
            units.setdefault(unit.code, unit)  # a unit under several obligations: the first
    return _NoticeSource(settings, env, data, policy_code, as_of, cycles, units)


def _notice(
    source: _NoticeSource,
    kind: str,
    action: SendOverdue | OpenCase,
    key: str,
    case: dict[str, Any] | None = None,
) -> NewNotification:
    obligation, cycle = source.cycles[(action.obligation, action.period)]
    unit = source.units[action.unit]
    data = source.data
    context = notice_context(
        kind=kind, policy=data.policy, obligation=obligation, cycle=cycle, unit=unit,
        measures=data.measures_by_unit.get(unit.id or 0, []), as_of=source.as_of, days_left=0,
        attachment_name="",
    )  # fmt: skip
    attachments = []
    path = form_path(
        source.settings, source.policy_code, action.obligation, action.period, action.unit
    )
    # The unit's form again, so a late report needs nothing else; a deadline's 督办单 asks for
    # the work, not for that period's report, and goes without it.
    if path.exists() and (case is None or case["kind"] != "deadline"):
        name = form_filename(form_spec_from_context(context))
        context["reply"]["attachment_name"] = name
        attachments.append({"path": str(path), "filename": name})
    to, cc = list(unit.mailboxes), []
    office = data.policy.task_force_spec.office.mailbox
    if case is not None:
        context["case"] = case
        head = (unit.head or {}).get("mailbox")
        if head:  # the 督办单 is addressed to the unit's head, its contacts and the office copied
            to, cc = [str(head)], list(unit.mailboxes)
        cc.append(office)
    mail = render_notice(source.env, context)
    return NewNotification(
        idempotency_key=key, kind=kind, policy_id=data.policy.id, cycle_id=cycle.id,
        unit_id=unit.id, to=to, cc=cc, subject=mail.subject, body_text=mail.text,
        body_html=mail.html, attachments=attachments,
    )  # fmt: skip


@dataclass
class _Run:
    """One escalation run's transaction, the day's inputs, and what its actions write."""

    session: Session
    inputs: EscalationInputs
    calendar: WorkingCalendar
    as_of: datetime
    actor: str
    summary: EscalationSummary
    names: dict[str, str]  # unit code → name
    notices: _NoticeSource
    already_sent: set[str]  # overdue keys in the outbox before this run
    outgoing: list[NewNotification] = field(default_factory=list)


def run_escalation(
    settings: Settings, policy_code: str, *, as_of: datetime, actor: str = "系统"
) -> EscalationSummary:
    """Plan the day and apply the plan in one transaction (see the module docstring)."""
    calendar = WorkingCalendar.from_settings(settings)
    summary = EscalationSummary(policy_code, as_of)
    with session_scope(settings) as session:
        inputs = load_escalation_inputs(session, policy_code, as_of, calendar)
        names = {code: unit.name for code, unit in inputs.units.items()}
        summary.policy_name = inputs.policy.title
        actions = plan_escalation(inputs, as_of=as_of, calendar=calendar)
        notices = _notice_source(settings, session, policy_code, as_of)
        overdue_keys = [_overdue_key(policy_code, a) for a in actions if isinstance(a, SendOverdue)]
        already_sent = _keys_in_outbox(session, overdue_keys)
        run = _Run(session, inputs, calendar, as_of, actor, summary, names, notices, already_sent)
        for action in actions:
            key_of_case = getattr(action, "case_key", "")
            if key_of_case in inputs.last_event and inputs.last_event[key_of_case] > as_of:
                continue  # the case's later history is written: an earlier day's replay
            if isinstance(action, SendOverdue):
                _send_overdue(run, action)
            elif isinstance(action, OpenCase):
                _open_case(run, action)
            elif isinstance(action, ResolveCase):
                _resolve_case(run, action)
            elif isinstance(action, ProposeStep):
                _propose_step(run, action)
        enqueue(session, run.outgoing, now=as_of)
        session.flush()
        _lists(session, inputs.policy, calendar, summary, names, inputs.history, inputs.rules)
    return summary


def _overdue_key(policy_code: str, action: SendOverdue) -> str:
    return f"{policy_code}/{action.obligation}/{action.period}/{action.unit}/overdue/1"


def _keys_in_outbox(session: Session, keys: list[str]) -> set[str]:
    return set(
        session.exec(
            select(t.Notification.idempotency_key).where(
                col(t.Notification.idempotency_key).in_(keys)
            )
        )
    )


def _send_overdue(run: _Run, action: SendOverdue) -> None:
    key = _overdue_key(run.notices.policy_code, action)
    if key in run.already_sent:
        return  # one 催报 per unit and cycle: it went out on an earlier day
    run.outgoing.append(_notice(run.notices, "overdue", action, key))
    obligation, cycle = run.inputs.cycle_rows[(action.obligation, action.period)]
    report = report_title(cycle.period_label, obligation.name)  # not the key "2023" of a one-off
    run.summary.overdue.append(f"{run.names[action.unit]} {report}")


def _open_case(run: _Run, action: OpenCase) -> None:
    inputs, session, as_of = run.inputs, run.session, run.as_of
    if action.case_key in inputs.case_rows:
        return  # opened later than this as_of (a replay of an earlier day)
    unit = inputs.units[action.unit]
    _, cycle = inputs.cycle_rows[(action.obligation, action.period)]
    prefix = str(inputs.policy.escalation.get("case_prefix", "专督"))
    number = next_case_number(session, inputs.policy, prefix, as_of.astimezone(SHANGHAI).year)
    row = t.SupervisionCase(
        case_key=action.case_key, policy_id=inputs.policy.id or 0,
        unit_id=unit.id or 0, cycle_id=cycle.id, reason=action.reason, opened_at=as_of,
    )  # fmt: skip
    session.add(row)
    session.flush()
    add_event(session, row, "opened", as_of, run.actor, reason=action.reason, number=number)
    state = _state(session, inputs.policy, row, run.calendar)
    case = {
        # missing (a report not sent), red (targets behind 序时进度) or deadline (a measure's
        # task deadline passed without 已完成): the last part of the key
        "kind": action.case_key.rsplit("/", 1)[-1],
        "number": number, "reason": action.reason,
        "opened_at": as_of.astimezone(SHANGHAI),
        "clocks": list(state.clocks),
        "head_name": _head_name(unit),
        "measure": _deadline_measure(inputs, action.case_key),
    }  # fmt: skip
    key = f"case/{action.case_key}/opened"
    run.outgoing.append(_notice(run.notices, "escalation", action, key, case))
    run.summary.opened.append(f"{number} {run.names[action.unit]}：{action.reason}")


def _deadline_measure(inputs: EscalationInputs, case_key: str) -> dict[str, Any] | None:
    """A deadline case's measure, for the 督办单 (None for a cycle's case)."""
    parsed = parse_deadline_key(case_key)
    if parsed is None:
        return None
    number, due = parsed
    deadline = next(d for d in inputs.deadlines if d.number == number)
    return {
        "number": number, "title": deadline.title, "label": measure_label(deadline),
        "due": date_with_weekday(due), "phrase": deadline.phrase, "extended": deadline.extended,
    }  # fmt: skip


def _resolve_case(run: _Run, action: ResolveCase) -> None:
    add_event(run.session, run.inputs.case_rows[action.case_key], "resolved", run.as_of,
              run.actor, note=action.note)  # fmt: skip
    run.summary.resolved.append(action.case_key)


def _propose_step(run: _Run, action: ProposeStep) -> None:
    add_event(run.session, run.inputs.case_rows[action.case_key], "proposed", run.as_of,
              run.actor, step=action.step, reason=action.reason)  # fmt: skip
    run.summary.proposed.append(f"{action.case_key}：{STEP_LABELS[action.step]}（{action.reason}）")


def _head_name(unit: t.Unit) -> str:
    name = str((unit.head or {}).get("name", ""))
    return "" if name.startswith("（") else name  # （待填）: the directory does not know yet


def _state(
    session: Session, policy: t.Policy, row: t.SupervisionCase, calendar: WorkingCalendar
) -> CaseState:
    return load_case_state(session, row, calendar, lag_rules(policy).clock_days)


def _lists(
    session: Session,
    policy: t.Policy,
    calendar: WorkingCalendar,
    summary: EscalationSummary,
    names: dict[str, str],
    history: dict[str, Any],
    rules: Any,
) -> None:
    states, rows = load_cases(session, policy, calendar, rules.clock_days)
    summary.awaiting, summary.supervision, summary.interview = [], [], []
    for key, state in sorted(states.items()):
        unit = key.split("/")[3]
        entry = {
            "case": str(rows[key].id),
            "number": str(state.history[0].get("number", "")),
            "unit": names.get(unit, unit),
            "reason": rows[key].reason,
        }
        if state.status == "awaiting_approval":
            summary.awaiting.append({**entry, "step": state.pending_step})
        if "supervision" in state.approved_steps:
            summary.supervision.append(entry)
        if "interview" in state.approved_steps:
            summary.interview.append(entry)
    summary.commendations = [names.get(code, code) for code in commended(history, states, rules)]


def refresh_lists(settings: Settings, summary: EscalationSummary) -> EscalationSummary:
    """The waiting, 督查 and 约谈 lists again, after the office decided during the run."""
    calendar = WorkingCalendar.from_settings(settings)
    with session_scope(settings) as session:
        inputs = load_escalation_inputs(session, summary.policy, summary.as_of, calendar)
        names = {code: unit.name for code, unit in inputs.units.items()}
        _lists(session, inputs.policy, calendar, summary, names, inputs.history, inputs.rules)
    return summary


def apply_decisions(
    settings: Settings, decisions: list[Decision], *, by: str, note: str, at: datetime
) -> list[str]:
    """Record the office's answers; a case someone decided meanwhile (CLI) is left as it is."""
    done: list[str] = []
    for decision in decisions:
        try:
            state = decide_case(
                settings, decision.case_id, decision.action, by=by, note=note, at=at
            )
        except NotFoundError as error:
            done.append(f"督办事项 {decision.case_id}：未处理（{error}）")
            continue
        done.append(f"督办事项 {decision.case_id}：{state.label}")
    return done


CASE_ACTIONS = ("approve", "reject", "close", "extend", "feedback")


def decide_case(
    settings: Settings,
    case_id: int,
    action: str,
    *,
    by: str,
    note: str = "",
    days: int = 0,
    at: datetime,
) -> CaseState:
    """The office's decision on a case, recorded as an event; the new state is returned."""
    calendar = WorkingCalendar.from_settings(settings)
    with session_scope(settings) as session:
        row, policy = find_case(session, case_id)
        state = _state(session, policy, row, calendar)
        if state.status == "closed":
            raise NotFoundError(f"督办事项 {case_id} 已销号，不能再{_verb(action)}")
        if action in ("approve", "reject"):
            if not state.pending_step:
                raise NotFoundError(
                    f"督办事项 {case_id} 没有待审批的升级建议"
                    f"（当前：{STATUS_LABELS[state.status]}）"
                )
            add_event(session, row, "approved" if action == "approve" else "rejected", at, by,
                      step=state.pending_step, note=note)  # fmt: skip
        elif action == "extend":
            if days <= 0 or not note:
                raise NotFoundError("延期须用 --days 给出天数（大于0），并用 --reason 说明理由")
            add_event(session, row, "extended", at, by, days=days, reason=note)
        elif action == "close":
            add_event(session, row, "closed", at, by, note=note)
        elif action == "feedback":
            add_event(session, row, "feedback", at, by, note=note)
        else:
            raise NotFoundError(f"未知操作 {action!r}（可用：{'、'.join(CASE_ACTIONS)}）")
        session.flush()
        return _state(session, policy, row, calendar)


def _verb(action: str) -> str:
    return {"approve": "审批", "reject": "审批", "close": "销号", "extend": "延期"}.get(
        action, "办理"
    )
