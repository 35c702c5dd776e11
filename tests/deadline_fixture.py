"""Records one unit's report of a measure's status, for the measure-deadline tests.

``load_month`` (tests/consolidation_fixture.py) records a whole month with one status per unit;
a deadline test needs one unit to report 已完成 on one measure, later, as a new version of its
report, exactly as intake records it.
"""

from __future__ import annotations

from datetime import datetime

from config.settings import Settings
from models.db import session_scope
from models.intake_store import load_policy_intake, record_draft
from tasks.calendar import WorkingCalendar
from tasks.forms.values import MeasureReport
from tasks.intake.decide import Draft, late_working_days


def report_measure(
    settings: Settings,
    policy: str,
    unit: str,
    cycle: tuple[str, str],  # (obligation, period)
    number: str,
    status: str,
    received: datetime,
) -> None:
    """A new version of the unit's report for ``cycle``: ``status`` for measure ``number``,
    推进中 for its other measures."""
    calendar = WorkingCalendar.from_settings(settings)
    obligation, period = cycle
    with session_scope(settings) as session:
        intake = load_policy_intake(session, policy)
        due_at = intake.cycles[cycle].due_at
        measures = tuple(
            MeasureReport(
                n, status if n == number else "推进中", None,
                {"targets": [{"index": 0, "status": status if n == number else "推进中",
                              "value": None, "note": ""}]},
            )
            for n in sorted(intake.context.units[unit].measures)
        )  # fmt: skip
        draft = Draft(policy, unit, obligation, period, "accepted", "报表.xlsx",
                      {"work-done": "按照任务分工推进各项措施落实。"}, measures)  # fmt: skip
        record_draft(
            session, intake, draft, inbound_id=None, channel="email", received_at=received,
            late_working_days=late_working_days(received, due_at, calendar),
            raw_sha256=None, now=received,
        )  # fmt: skip
