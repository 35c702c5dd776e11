"""陵川's 1月20日 checklist (专班建立情况, 贯彻落实举措及任务清单台账): one-off obligations."""

from __future__ import annotations

from prefect import flow

from config.settings import Settings
from flows.reminders import run_reminders
from tasks.calendar import parse_as_of


@flow(name="checklist-reminders", log_prints=False)
async def checklist_flow(
    policy_code: str, as_of: str | None = None, settings: Settings | None = None
) -> dict[str, int]:
    """Send today's opening notices and reminders for a policy's one-off reports."""
    moment = parse_as_of(as_of)
    title = f"{policy_code} 一次性报送提醒 {moment:%Y-%m-%d %H:%M}"
    return await run_reminders(title, policy_code, moment, "once", settings or Settings())
