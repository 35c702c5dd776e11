"""The outbox: ``outbox`` lists a policy's mail and how its delivery stands, ``outbox retry``
puts failed or withdrawn mail back in the queue, ``outbox cancel`` withdraws mail that must not go
(models.outbox_admin says what each does to a row and why)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import (
    JsonOption,
    JsonRow,
    OptionalPolicyOption,
    PolicyOption,
    load_settings,
    out,
    outside,
    print_json,
)
from flows.cli.tables import whole
from models.db import init_db, session_scope
from models.outbox_admin import StatusChange, cancel, outbox_records, requeue
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI
from tasks.mail.labels import STATUS_LABELS, kind_label, status_label

outbox_app = typer.Typer(
    help="发件箱：不带子命令时列出邮件投递情况（须 --policy）；retry 重新排队发送失败的邮件，"
    "cancel 撤回不应发出的邮件",
    invoke_without_command=True,
)

MailIds = Annotated[
    list[int], typer.Argument(help="邮件编号（可多个，见 taskforce outbox）", metavar="邮件编号")
]
ByOption = Annotated[str, typer.Option("--by", help="经办人")]
NEXT_RUN = "该政策下次运行任一流程（remind、intake、consolidate、escalate）时发出"


class OutboxRow(JsonRow):
    """One mail in ``outbox --json`` (models.outbox_admin.outbox_records); times are ISO,
    Beijing time; unit, obligation and period are "" for mail to no unit or of no cycle."""

    id: int
    policy: str
    key: str
    kind: str
    kind_label: str
    unit_code: str
    unit: str
    to: list[str]
    cc: list[str]
    subject: str
    obligation: str
    obligation_name: str
    period: str
    period_label: str
    status: str
    status_label: str
    attempts: int
    server_reply: str  # the SMTP server's last answer
    last_error: str  # why it failed, or who re-queued or withdrew it, and why
    claimed_by: str  # while sending: the delivery holding it
    claim_holder: str  # while sending: "host:pid" of that delivery
    lease_until: str | None  # while sending: the claim lapses then unless renewed
    created_at: str
    updated_at: str
    sent_at: str | None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def _rows(policy: str, statuses: list[str], period: str | None) -> list[OutboxRow]:
    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        policy_id = get_policy(session, policy).id or 0
        records = outbox_records(session, policy_id=policy_id, statuses=statuses, period=period)
    rows = []
    for r in records:
        n = r.row
        rows.append(
            OutboxRow(
                id=n.id or 0, policy=policy, key=n.idempotency_key, kind=n.kind,
                kind_label=kind_label(n.kind), unit_code=r.unit_code, unit=r.unit,
                to=list(n.to), cc=list(n.cc), subject=n.subject, obligation=r.obligation,
                obligation_name=r.obligation_name, period=r.period, period_label=r.period_label,
                status=n.status, status_label=status_label(n.status), attempts=n.attempts,
                server_reply=n.server_reply, last_error=n.last_error, claimed_by=n.claimed_by,
                claim_holder=n.claim_holder, lease_until=_iso(n.lease_until),
                created_at=_iso(n.created_at) or "", updated_at=_iso(n.updated_at) or "",
                sent_at=_iso(n.sent_at),
            )
        )  # fmt: skip
    return rows


def _claim(row: OutboxRow, now: datetime) -> str:
    """Who holds a mail being sent, and until when (a lapsed lease is said so)."""
    if row.status != "sending":
        return ""
    holder = row.claim_holder or row.claimed_by
    if row.lease_until is None:
        return holder
    until = datetime.fromisoformat(row.lease_until)
    lapsed = "（已过期）" if until < now else ""
    return f"{holder} 至 {until:%m-%d %H:%M:%S}{lapsed}"


def _print_table(rows: list[OutboxRow], title: str) -> None:
    now = datetime.now(UTC)
    table = Table(
        "编号", "类别", "单位 / 收件人", "报告期", "状态", "次数", "更新时间", title=title
    )
    table.add_column("最近回复 / 占用", overflow="fold", ratio=2)
    table.add_column("标识")  # an id to grep for: whole, on one line, when piped
    for r in rows:
        status = r.status_label
        if r.status == "failed":
            status = f"[red]{status}[/red]"
        note = _claim(r, now) or "；".join(x for x in (r.server_reply, r.last_error) if x)
        table.add_row(
            str(r.id), r.kind_label, outside(r.unit or "、".join(r.to)), r.period_label, status,
            str(r.attempts), r.updated_at[:16].replace("T", " "), outside(note), r.key,
        )  # fmt: skip
    out.print(whole(table))


def _change_line(change: StatusChange) -> str:
    before = status_label(change.before)
    if change.after == change.before:
        return f"编号 {change.id}：{before}，未改动"
    return f"编号 {change.id}：{before} → {status_label(change.after)}"


@outbox_app.callback()
def outbox(
    ctx: typer.Context,
    policy: OptionalPolicyOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="只列该状态的（可重复）：pending 待发送、sending 发送中、failed 发送失败、"
            "sent 已发送、cancelled 已撤回",
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="只列该报告期的，如 2023-02（通报等不属报告期的不列）"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """列出政策发件箱中的邮件：类别、单位、报告期、状态、发送次数、最近回复和发送占用。"""
    if ctx.invoked_subcommand is not None:
        return
    if policy is None:
        raise typer.BadParameter("请用 --policy 指明政策代码", param_hint="--policy")
    statuses = status or []
    for value in statuses:
        if value not in STATUS_LABELS:
            raise typer.BadParameter(
                f"{value!r} 应为 {'、'.join(STATUS_LABELS)} 之一", param_hint="--status"
            )
    rows = _rows(policy, statuses, period)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("没有符合条件的邮件。")
        return
    shown = "、".join(status_label(s) for s in statuses)
    scope = "；".join(x for x in (f"报告期 {period}" if period else "", shown) if x)
    _print_table(rows, f"{policy} 发件箱" + (f"（{scope}）" if scope else ""))
    counts = {s: sum(r.status == s for r in rows) for s in STATUS_LABELS}
    out.print(
        f"共 {len(rows)} 封："
        + "，".join(f"{label} {counts[s]}" for s, label in STATUS_LABELS.items() if counts[s])
        + "。"
    )
    if counts["failed"]:
        out.print(
            f"重新排队：taskforce outbox retry 编号… --policy {policy}（或 --failed 全部）；"
            f"撤回：taskforce outbox cancel 编号… --policy {policy} --reason 原因"
        )


@outbox_app.command("retry")
def outbox_retry(
    policy: PolicyOption,
    ids: Annotated[
        list[int] | None,
        typer.Argument(help="邮件编号（可多个）；或用 --failed", metavar="邮件编号"),
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="该政策全部发送失败的邮件")] = False,
    by: ByOption = "办公室",
) -> None:
    """把发送失败（或已撤回）的邮件放回待发送，下次运行流程时发出；发送尝试次数照旧累计。"""
    if bool(ids) == failed:
        raise typer.BadParameter("请给出邮件编号，或用 --failed 重发全部发送失败的邮件（二者选一）")
    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        changes = requeue(
            session, policy=get_policy(session, policy), ids=None if failed else ids, by=by,
            now=datetime.now(UTC),
        )  # fmt: skip
    moved = [c for c in changes if c.after != c.before]
    if not failed:
        for c in changes:
            out.print(_change_line(c))
    if moved:
        out.print(f"已重新排队 {len(moved)} 封，{NEXT_RUN}。")
    elif failed:
        out.print(f"政策 {policy} 没有发送失败的邮件。")


@outbox_app.command("cancel")
def outbox_cancel(
    ids: MailIds,
    policy: PolicyOption,
    reason: Annotated[str, typer.Option("--reason", help="撤回原因（记录在案）")] = "",
    by: ByOption = "办公室",
) -> None:
    """撤回尚未发出的邮件（待发送或发送失败的），不再发送；原因、经办人和时间记录在案。"""
    settings = load_settings()
    init_db(settings)
    with session_scope(settings) as session:
        changes = cancel(
            session, policy=get_policy(session, policy), ids=ids, reason=reason, by=by,
            now=datetime.now(UTC),
        )  # fmt: skip
    for c in changes:
        out.print(_change_line(c))
    moved = sum(c.after != c.before for c in changes)
    if moved:
        out.print(f"已撤回 {moved} 封，不再发送；原因已记录。")
