"""``taskforce remind``: the day's notices and reminders."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from config.settings import use_settings
from flows.cli.common import (
    PolicyOption,
    RemindAsOfOption,
    end_with_mail,
    load_settings,
    out,
    prefect_server,
    print_mail,
    progress,
    quiet_user_error_tracebacks,
)
from models.db import init_db, session_scope
from models.policy_store import get_policy
from tasks.calendar import parse_as_of


def remind(
    policy: PolicyOption,
    as_of: RemindAsOfOption = None,
) -> None:
    """发送当日的报送开始通知和提醒（一次性报送与周、月、季度等定期报告），已报送单位不再提醒。

    邮件经重试后仍待发送（如邮件服务器无法连接）时，命令以退出码 3 结束。"""
    settings = load_settings()
    moments = [parse_as_of(value) for value in as_of] if as_of else [parse_as_of(None)]
    init_db(settings)
    with session_scope(settings) as session:
        get_policy(session, policy)  # fail fast, before Prefect starts
    prefect_server(settings)
    import gc

    # A short process whose modules live until it ends. Importing Prefect doubles what the
    # cyclic GC tracks (to ~170,000 objects) and the GC re-scans them over and over (10-20 % of
    # the import), then frees them one by one at exit (0.6-1 s here): freeze what is loaded
    # before and after the import, and collect less often in between.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    from flows.reminders import reminders_flow  # Prefect: imported only when needed

    quiet_user_error_tracebacks()

    gc.freeze()

    async def run_all() -> list[tuple[datetime, dict[str, Any]]]:
        # One flow run a day for the one-off and the monthly reports alike (see reminders_flow).
        return [(moment, await reminders_flow(policy, moment)) for moment in moments]

    with use_settings(settings), progress(f"{policy} 报送提醒：生成并发送通知"):
        results = asyncio.run(run_all())
    for number, (moment, counts) in enumerate(results, 1):
        out.print(
            f"{moment:%Y-%m-%d %H:%M} 报送提醒：新入发件箱 {counts['queued']}，"
            f"此前已入箱 {counts['already']}，已报送跳过 {counts['skipped']}"
        )
        if number < len(results):
            print_mail(counts["mail"])
        else:  # what the last run left pending is what still waits: the exit status says it
            end_with_mail(counts["mail"], counts["pending"])
