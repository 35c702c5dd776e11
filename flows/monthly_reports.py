"""Monthly report cycles: 陵川's report before the 5th, 新绛's summary before the 10th."""

from __future__ import annotations

from prefect import flow

from config.settings import Settings
from flows.reminders import run_reminders
from tasks.calendar import parse_as_of


@flow(name="monthly-report-reminders", log_prints=False)
async def monthly_reports_flow(
    policy_code: str, as_of: str | None = None, settings: Settings | None = None
) -> dict[str, int]:
    """Send today's opening notices and reminders for a policy's monthly reports."""
    moment = parse_as_of(as_of)
    title = f"{policy_code} 月度报告提醒 {moment:%Y-%m-%d %H:%M}"
    return await run_reminders(title, policy_code, moment, "monthly", settings or Settings())
