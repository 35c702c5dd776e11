"""督办 cases as rows for the CLI and scripts: unit, reason, opened, clocks and state."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from config.settings import Settings
from models import tables as t
from models.escalation_store import lag_rules, load_cases
from tasks.calendar import SHANGHAI, WorkingCalendar


def case_rows(
    session: Session, settings: Settings, policy_code: str | None, today: date
) -> list[dict[str, Any]]:
    calendar = WorkingCalendar.from_settings(settings)
    query = select(t.Policy)
    if policy_code:
        query = query.where(t.Policy.code == policy_code)
    units = {u.id: u for u in session.exec(select(t.Unit))}
    rows: list[dict[str, Any]] = []
    for policy in session.exec(query.order_by(col(t.Policy.code))):
        states, cases = load_cases(session, policy, calendar, lag_rules(policy).clock_days)
        for key, row in sorted(cases.items(), key=lambda kv: kv[1].id or 0):
            state = states[key]
            overdue = state.overdue_clocks(today)
            light = (
                "green" if state.status in ("resolved", "closed")
                else "red" if overdue else "yellow"
            )  # fmt: skip
            unit = units.get(row.unit_id)
            rows.append(
                {
                    "id": row.id,
                    "policy": policy.code,
                    "number": str(state.history[0].get("number", "")),
                    "key": key,
                    "unit_code": unit.code if unit else "",
                    "unit": unit.name if unit else "",
                    "reason": row.reason,
                    "opened": row.opened_at.astimezone(SHANGHAI).isoformat(),
                    "state": state.status,
                    "state_label": state.label,
                    "pending_step": state.pending_step,
                    "approved_steps": list(state.approved_steps),
                    "extension_days": state.extension_days,
                    "clocks": [
                        {
                            "code": c.code,
                            "label": c.label,
                            "deadline": c.deadline.isoformat() if c.deadline else None,
                        }
                        for c in state.clocks
                    ],
                    "overdue_clocks": [c.code for c in overdue],
                    "light": light,
                }
            )
    return rows
