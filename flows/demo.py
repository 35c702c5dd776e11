"""``taskforce demo``: a quarter of 陵川 2023 replayed day by day in one process.

One process keeps one Prefect server (the temporary one, or ``taskforce up``'s) and one mail
catcher for the whole replay; a command per day would pay Prefect's start every time. Each step
is the flow the served tick runs (flows/serve.py), started as its own run so the office finds
the reminders, intake, escalation and consolidation runs side by side in the UI. The calendar
decisions are tasks/demo/replay.py's; the bureaus are tasks/demo/bureaus.py's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import select

from config.errors import NotFoundError, TaskforceError
from config.loading import load_policy_file
from config.settings import Settings, use_settings
from flows.consolidation import annual_flow, consolidation_flow
from flows.escalation import escalation_flow
from flows.intake import intake_flow
from flows.reminders import reminders_flow
from models import tables as t
from models.db import init_db, session_scope
from models.policy_store import get_policy, load_policy, policy_cycles
from models.submission_view import submission_rows
from tasks.calendar import WorkingCalendar, short_day
from tasks.cycles import cycles_for_policy
from tasks.demo.bureaus import mail_replies, plan_bureau_replies
from tasks.demo.mailcatcher import MailCatcher, office_maildirs
from tasks.demo.replay import (
    ANNUAL_AT,
    CONSOLIDATION_AT,
    DECISIONS_AT,
    INTAKE_AT,
    LOADED_AT,
    MAIL_LABELS,
    REMINDERS_AT,
    DayPlan,
    DayRecord,
    ReplyQueue,
    at,
    case_totals,
    has_new_mail,
    mail_counts,
    notice_days,
    period_summaries,
    periods_opening,
    plan_days,
)
from tasks.escalation.case_view import case_rows
from tasks.escalation.steps import decide_case
from tasks.intake.review import review_submission
from tasks.serving import periodic_cycles

OFFICE_CLERK = "专班办公室（演示）"  # who records the office's decisions in the replay


@dataclass
class ReplayResult:
    policy_code: str
    days: list[DayRecord] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)  # whose forms went out, in order
    # The latest files of each consolidation: "2023-01" → bulletin, workbook; "2023" → roll-up.
    reports: dict[str, tuple[Path, ...]] = field(default_factory=dict)


def quiet_prefect_console() -> None:
    """Keep Prefect's run logs off the terminal (the progress bar owns it), not off the UI: the
    console handler sits on the root logger, the API handler on the run loggers."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.WARNING)


def load_demo_policy(settings: Settings, policy_file: Path, loaded_at: datetime) -> str:
    """Load the policy into an empty database, as of ``loaded_at`` (the replay's clock, not the
    wall clock); a database with its mail already in it is refused, since the replay would mix
    with what is there."""
    bundle = load_policy_file(policy_file, settings)
    code = bundle.policy.code
    init_db(settings)
    with session_scope(settings) as session:
        try:
            policy: t.Policy | None = get_policy(session, code)
        except NotFoundError:
            policy = None
        if (
            policy is not None
            and session.exec(
                select(t.Notification.id).where(t.Notification.policy_id == policy.id).limit(1)
            ).first()
        ):
            raise TaskforceError(
                f"数据库 {settings.shown_database_url} 中已有 {code} 的发件记录；"
                "演示须从空库开始，请先删除该数据库（make demo 会自动清理 var/ 下的演示数据）"
            )
        calendar = WorkingCalendar.from_settings(settings)
        load_policy(session, bundle, cycles_for_policy(bundle.policy, calendar), now=loaded_at)
    return code


async def replay(
    settings: Settings,
    policy_code: str,
    first: date,
    last: date,
    on_day: Callable[[DayPlan, DayRecord], None],
) -> ReplayResult:
    """Live through ``first``..``last`` as the served ticks would, calling ``on_day`` after each."""
    calendar = WorkingCalendar.from_settings(settings)
    with session_scope(settings) as session:
        monthly = periodic_cycles(session, policy_code)
        notices = notice_days(policy_cycles(session, policy_code))
        office = get_policy(session, policy_code).task_force_spec.office.mailbox
    result = ReplayResult(policy_code)
    replies = ReplyQueue()
    sent_before = Counter[str]()
    for plan in plan_days(first, last, calendar, monthly, notices):
        record = DayRecord(plan.day, plan.rest_reason)
        if plan.working:
            await _office_day_opens(settings, policy_code, plan, record, replies, result)
        for cycle in plan.consolidate:
            made = await consolidation_flow(
                policy_code, cycle.period, at(plan.day, CONSOLIDATION_AT), cycle.obligation
            )
            result.reports[cycle.period] = made.files
            record.consolidated.append(cycle.period)
        for year in plan.rollups:
            rollup = await annual_flow(policy_code, year, at(plan.day, ANNUAL_AT), None)
            result.reports[year] = rollup.files  # year to date: the last one stands
        if plan.working:
            record.approved = _office_decides(settings, policy_code, plan.day)
            record.senders_confirmed = _office_confirms_senders(settings, policy_code, plan.day)
        arriving = replies.arriving_by(at(plan.day, INTAKE_AT))
        if arriving:
            await mail_replies(settings, office, arriving)
        # Also for the office's own copies (督办单, alerts): served, the intake tick takes them
        # in the same day, and a replay of the day afterwards would otherwise find them new.
        if arriving or has_new_mail(settings.maildir_root / office):
            taken = await intake_flow(policy_code, None, at(plan.day, INTAKE_AT))
            record.replies = len(arriving)
            record.accepted = taken.count("accepted")
            record.rejected = taken.count("rejected")
        with session_scope(settings) as session:
            sent = mail_counts(session, policy_code)
        record.mails = sent - sent_before
        sent_before = sent
        result.days.append(record)
        on_day(plan, record)
    return result


async def _office_day_opens(
    settings: Settings,
    policy_code: str,
    plan: DayPlan,
    record: DayRecord,
    replies: ReplyQueue,
    result: ReplayResult,
) -> None:
    """09:00 on a working day: notices and reminders, then the escalation ladder; the forms
    that went out today are the ones the bureaus will answer.

    Served, the reminder tick runs every working day and finds nothing to send on most; the
    replay starts a reminder flow only on the days its calendar has notices for (a flow run
    costs about a second, and a quarter has some 60 working days).
    """
    moment = at(plan.day, REMINDERS_AT)
    if plan.notices:
        await reminders_flow(policy_code, moment)
    escalated = await escalation_flow(policy_code, moment)
    record.cases_opened = len(escalated.opened)
    record.proposals = len(escalated.proposed)
    with session_scope(settings) as session:
        opening = periods_opening(session, policy_code, plan.day)
    for period in opening:
        replies.add(plan_bureau_replies(settings, policy_code, period))
        result.periods.append(period)


def _office_decides(settings: Settings, policy_code: str, day: date) -> int:
    """15:00: the office approves the proposals waiting for it (the CLI's ``cases approve``)."""
    with session_scope(settings) as session:
        waiting = [
            r for r in case_rows(session, settings, policy_code, day)
            if r["state"] == "awaiting_approval"
        ]  # fmt: skip
    for row in waiting:
        decide_case(
            settings,
            int(row["id"]),
            "approve",
            by=OFFICE_CLERK,
            note="同意",
            at=at(day, DECISIONS_AT),
        )
    return len(waiting)


def demo_form_key(settings: Settings) -> Settings:
    """A random form key for this replay alone, never the install's key file: the replay starts
    from an empty database, so no form signed with an earlier key can be in play. It goes into
    this process's environment too, for the flows that read their settings from it."""
    key = secrets.token_urlsafe(32)
    os.environ["TASKFORCE_FORM_KEY"] = key
    os.environ.pop("TASKFORCE_FORM_PREVIOUS_KEYS", None)
    return settings.model_copy(update={"form_key": SecretStr(key), "form_previous_keys": None})


def _office_confirms_senders(settings: Settings, policy_code: str, day: date) -> int:
    """15:00: the office phones the units whose plain replies wait unverified (the demo's catcher
    stamps no Authentication-Results) and confirms them (``taskforce review accept`` without
    progress): they count as of their arrival; their content still waits for review."""
    with session_scope(settings) as session:
        waiting = [
            int(r["submission_id"]) for r in submission_rows(session, policy_code, None)
            if r["status"] == "unverified"
        ]  # fmt: skip
    for submission_id in waiting:
        review_submission(
            settings, submission_id, accept=True, progress=[], note="已电话核实，确系该单位发送",
            reviewer=OFFICE_CLERK, now=at(day, DECISIONS_AT),
        )  # fmt: skip
    return len(waiting)


def run_demo(
    settings: Settings, policy_file: Path, first: date, last: date, console: Console
) -> ReplayResult:
    """Load the policy, start a catcher that keeps the bureaus' simulated arrival times, replay
    with a progress bar, and print what the quarter added up to."""
    settings = demo_form_key(settings)
    code = load_demo_policy(settings, policy_file, at(first, LOADED_AT))
    # A catcher of the demo's own on a free port: one already on the SMTP port (taskforce up's)
    # would stamp replies with today's date, and every 2023 reply would be years late.
    catcher = MailCatcher(
        settings.mailcatcher.model_copy(update={"port": 0}),
        on_message=None,
        maildirs=office_maildirs(settings.policies_dir, settings.maildir_root),
        demo_clock=True,
    )
    quiet_prefect_console()
    with catcher:
        demo = settings.model_copy(
            update={"smtp": settings.smtp.model_copy(update={"port": catcher.port})}
        )
        total = (last - first).days + 1
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task(f"回放 {code} {first}～{last}", total=total)

            def on_day(plan: DayPlan, record: DayRecord) -> None:
                line = record.line()
                if line not in ("休息日", "无事项"):
                    progress.console.print(f"{short_day(plan.day)}  {line}")
                progress.update(bar, advance=1, description=f"回放 {code} {short_day(plan.day)}")

            # The flows read the demo's settings (its catcher's port) from the context: never
            # a flow parameter, which Prefect would store and show.
            with use_settings(demo):
                result = asyncio.run(replay(demo, code, first, last, on_day))
    print_summary(console, settings, result, last, mails_caught=catcher.count)
    return result


def print_summary(
    console: Console, settings: Settings, result: ReplayResult, last: date, mails_caught: int
) -> None:
    """The quarter in three tables, then where its outputs are."""
    code = result.policy_code
    with session_scope(settings) as session:
        periods = period_summaries(session, code, result.periods)
        sent = mail_counts(session, code)
        cases = case_rows(session, settings, code, last)
    table = Table("报告期", "应报", "按时", "逾期", "退回未改", "待审核", "未报",
                  "通知提醒", "催报", "督办单", title=f"{code} 各期报送情况")  # fmt: skip
    for p in periods:
        notices = sum(p.mails.get(k, 0) for k in ("opening", "reminder", "last_day"))
        table.add_row(
            p.label, str(p.obligated), str(p.on_time), str(p.late), str(p.rejected),
            str(p.pending_review), str(p.missing), str(notices),
            str(p.mails.get("overdue", 0)), str(p.mails.get("escalation", 0)),
        )  # fmt: skip
    console.print(table)
    mails = Table("邮件", "封数", title="发出邮件（按类别）")
    for kind, label in MAIL_LABELS.items():
        if sent.get(kind):
            mails.add_row(label, str(sent[kind]))
    mails.add_row("合计", str(sum(sent.values())))
    console.print(mails)
    states = case_totals(cases)
    console.print(
        f"督办事项 {len(cases)} 件：" + "，".join(f"{k} {v}" for k, v in sorted(states.items()))
        if cases
        else "没有督办事项。"
    )
    console.print(f"收信服务器共收到邮件 {mails_caught} 封（含各单位回复）。")
    console.print("产出文件：")
    for _, files in sorted(result.reports.items()):
        for path in sorted(p for p in files if p.suffix in (".html", ".pdf", ".xlsx")):
            console.print(f"  {path}")
    console.print(f"  邮件：{settings.mailcatcher.directory}/（每封一个 .eml 文件）")
    console.print(f"  办公室收件箱：{settings.maildir_root}/")
    console.print(f"  数据库：{settings.shown_database_url}")
