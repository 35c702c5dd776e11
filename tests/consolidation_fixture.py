"""Loads a synthetic month of reports (tests/data/consolidation/*.yaml) into the database.

Each unit's report is recorded as intake records one (versioned submissions, progress entries),
so the consolidation reads exactly what it reads in production.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import yaml
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake, record_draft
from tasks.calendar import WorkingCalendar
from tasks.consolidation.steps import ConsolidationResult, run_consolidation
from tasks.forms.values import FormIssue, MeasureReport
from tasks.intake.decide import Draft, late_working_days
from tests.helpers import DATA

FIXTURES = DATA / "consolidation"


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def load_month(settings: Settings, name: str) -> dict[str, Any]:
    """Record the fixture's reports; returns the fixture (with as_of as a datetime)."""
    spec = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text(encoding="utf-8"))
    return record_month(settings, spec)


def record_month(settings: Settings, spec: dict[str, Any]) -> dict[str, Any]:
    """Record a month given as a fixture's mapping (policy, obligation, period, as_of, default,
    units), for a test that varies a month in code; returns it with as_of as a datetime."""
    spec = {**spec, "as_of": _moment(spec["as_of"])}
    calendar = WorkingCalendar.from_settings(settings)
    default = spec["default"]
    with session_scope(settings) as session:
        intake = load_policy_intake(session, spec["policy"])
        cycle = intake.cycles[(spec["obligation"], str(spec["period"]))]
        policy_id = intake.policy.id
        targets: dict[str, list[t.Target]] = {}
        for target, number in session.exec(
            select(t.Target, t.Measure.number)
            .join(t.Measure, col(t.Measure.id) == t.Target.measure_id)
            .where(t.Measure.policy_id == policy_id)
            .order_by(col(t.Target.position))
        ):
            targets.setdefault(number, []).append(target)
        units = sorted(intake.units.values(), key=lambda u: u.id or 0)
        for index, unit in enumerate(units):
            own = {**default, **(spec["units"].get(unit.code) or {})}
            state = own.get("state", "accepted")
            if state == "missing":
                continue
            received = _moment(own["received"])
            if unit.code not in spec["units"] or "received" not in spec["units"][unit.code]:
                received = received.replace(minute=index % 60)
            measures = tuple(
                _report(number, own, targets.get(number, []))
                for number in sorted(intake.context.units[unit.code].measures)
            )
            fields: dict[str, Any] = {}
            for key in ("work-done", "last-month-completion", "problems", "next-steps"):
                if own.get(key):
                    fields[key] = own[key]
            if state == "unstructured":
                measures, fields = (), {"body": own.get("body", ""), "attachments": ["进展.docx"]}
            draft = Draft(
                spec["policy"], unit.code, spec["obligation"], str(spec["period"]),
                "accepted" if state == "accepted" else state, "报表.xlsx", fields, measures,
                (FormIssue("月度报告", "D12", "进展状态“进行中”不在可选范围内"),)
                if state == "rejected" else (),
            )  # fmt: skip
            record_draft(
                session, intake, draft, inbound_id=None, channel="email", received_at=received,
                late_working_days=late_working_days(received, cycle.due_at, calendar),
                raw_sha256=None, now=received,
            )  # fmt: skip
    return spec


def consolidate_month(settings: Settings, name: str) -> tuple[dict[str, Any], ConsolidationResult]:
    """Record the fixture's reports (its policy loaded) and consolidate its period at its as_of."""
    spec = load_month(settings, name)
    result = run_consolidation(
        settings, spec["policy"], period=str(spec["period"]), obligation=None,
        as_of=spec["as_of"], now=spec["as_of"],
    )  # fmt: skip
    return spec, result


def _report(number: str, own: dict[str, Any], targets: list[t.Target]) -> MeasureReport:
    status = str(own["status"])
    note = str((own.get("notes") or {}).get(number, ""))
    rows = [
        {"index": i, "status": status, "value": round(g.value * float(own["share"]), 2),
         "note": ""}
        for i, g in enumerate(targets)
    ]  # fmt: skip
    value = rows[0]["value"] if len(rows) == 1 else None
    fields: dict[str, Any] = {"targets": rows or [{"index": 0, "status": status, "value": None,
                                                   "note": note}], "note": note}  # fmt: skip
    return MeasureReport(number, status, value, fields)
