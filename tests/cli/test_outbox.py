"""``taskforce outbox``: the office lists a policy's mail, re-queues failed mail and withdraws mail
that must not go.

Rows are queued with ``models.outbox.enqueue`` and moved with the delivery's own claim and
outcome functions into a real database (SQLite, and PostgreSQL when configured); the commands
run in this process (``invoke_cli``) against it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.outbox import NewNotification, Outcome, claim_pending, enqueue, record_outcomes
from models.policy_store import get_policy
from tests.helpers import CliResult, invoke_cli, load_seeds

POLICY = "lingchuan-2023"
OTHER = "xinjiang-2022"
QUEUED = datetime(2023, 2, 20, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
REFUSED = "550 5.1.1 <jtj@lingchuan.example.org>: Recipient address rejected: mailbox unavailable"
FULL = "452 4.2.2 <czj@lingchuan.example.org>: Mailbox full"
HOLDER = "zhuanban-01:4242"

# name → (policy, kind, unit code, obligation code, period); unit and cycle None for a bulletin
MAIL = {
    "jtj_reminder": (POLICY, "reminder", "jtj", "monthly-progress", "2023-02"),
    "kjj_reminder": (POLICY, "reminder", "kjj", "monthly-progress", "2023-02"),
    "jtj_overdue": (POLICY, "overdue", "jtj", "monthly-progress", "2023-01"),
    "bulletin": (POLICY, "bulletin", None, None, None),
    "czj_receipt": (POLICY, "receipt", "czj", "monthly-progress", "2023-02"),
    "xj_reminder": (OTHER, "reminder", "fgj", "monthly-summary", "2022-11"),
}


def _notification(session: Session, name: str) -> NewNotification:
    code, kind, unit_code, obligation, period = MAIL[name]
    policy = get_policy(session, code)
    unit = cycle = None
    if unit_code is not None:
        unit = session.exec(
            select(t.Unit).where(t.Unit.county == policy.county, t.Unit.code == unit_code)
        ).one()
        cycle = session.exec(
            select(t.Cycle)
            .join(t.Obligation)
            .where(t.Obligation.policy_id == policy.id, t.Obligation.code == obligation)
            .where(t.Cycle.period == period)
        ).one()
    return NewNotification(
        idempotency_key=f"{code}/{obligation or 'monthly-progress'}/{period or '2023-01'}"
        f"/{unit_code or 'bulletin'}/{kind}",
        kind=kind,
        policy_id=policy.id,
        cycle_id=cycle.id if cycle else None,
        unit_id=unit.id if unit else None,
        to=list(unit.mailboxes) if unit else ["xianzhang@lingchuan.example.org"],
        subject=f"{kind} {unit_code}",
        body_text="……",
        body_html="",
    )


@pytest.fixture
def outbox(db_settings: Settings) -> tuple[Settings, dict[str, int]]:
    """Both seed policies and their outbox as a delivery left it: 县交通局's February reminder
    refused for good (550), 县财政局's receipt failed after its last allowed attempt (452), the
    bulletin sent, 县科技局's reminder held by a delivery still running, January's 催报 pending
    (the server could not be reached); returns the settings and each mail's id."""
    load_seeds(db_settings)
    with session_scope(db_settings) as session:
        queued = {name: _notification(session, name) for name in MAIL}
        enqueue(session, list(queued.values()), now=QUEUED)
        by_key = {n.idempotency_key: n.id or 0 for n in session.exec(select(t.Notification))}
        ids = {name: by_key[n.idempotency_key] for name, n in queued.items()}
    now = datetime.now(UTC)
    with session_scope(db_settings) as session:
        policy_id = get_policy(session, POLICY).id or 0
        claimed = claim_pending(
            session, policy_id=policy_id, run_id="run-1:a", now=now,
            lease_until=now + timedelta(hours=1), holder=HOLDER,
        )  # fmt: skip
        assert {row.id for row in claimed} == {ids[n] for n in MAIL if n != "xj_reminder"}
        record_outcomes(
            session,
            [
                Outcome(ids["jtj_reminder"], 0, "failed", 1, REFUSED, "收件人地址被拒收"),
                Outcome(ids["bulletin"], 0, "sent", 1, "250 2.0.0 Ok: queued as 7F3A2", ""),
                Outcome(ids["jtj_overdue"], 0, "pending", 0, "", ""),  # not tried: server down
                Outcome(ids["czj_receipt"], 7, "failed", 1, FULL, "已尝试8次仍未送达：邮箱已满"),
            ],
            now=now,
        )
    return db_settings, ids


def _cli(settings: Settings, tmp_path: Path, *args: str) -> CliResult:
    env = {"TASKFORCE_DATABASE_URL": settings.effective_database_url}
    return invoke_cli(tmp_path, "outbox", *args, env=env)


def _json(settings: Settings, tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    result = _cli(settings, tmp_path, "--policy", POLICY, "--json", *args)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _refused(result: CliResult, *named: str) -> None:
    """A user error: exit 2, one line on stderr naming each value."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for value in named:
        assert value in result.stderr, (value, result.stderr)


def test_list_shows_each_mail_with_its_unit_period_status_and_claim(
    outbox: tuple[Settings, dict[str, int]], tmp_path: Path
) -> None:
    settings, ids = outbox
    rows = _json(settings, tmp_path)
    assert [r["id"] for r in rows] == sorted(ids[n] for n in MAIL if n != "xj_reminder")
    by_id = {r["id"]: r for r in rows}
    failed = by_id[ids["jtj_reminder"]]
    assert failed["key"] == "lingchuan-2023/monthly-progress/2023-02/jtj/reminder"
    assert (failed["unit"], failed["unit_code"], failed["kind_label"]) == (
        "县交通局",
        "jtj",
        "提醒",
    )
    assert (failed["obligation_name"], failed["period"], failed["period_label"]) == (
        "月度进展情况报告", "2023-02", "2023年2月",
    )  # fmt: skip
    assert (failed["status"], failed["status_label"], failed["attempts"]) == (
        "failed", "发送失败", 1,
    )  # fmt: skip
    assert failed["server_reply"] == REFUSED and failed["last_error"] == "收件人地址被拒收"
    assert failed["created_at"] == "2023-02-20T09:00:00+08:00"  # queued at 09:00 Beijing time
    bulletin = by_id[ids["bulletin"]]
    assert (bulletin["unit"], bulletin["period"], bulletin["period_label"]) == ("", "", "")
    assert bulletin["to"] == ["xianzhang@lingchuan.example.org"]
    assert bulletin["status_label"] == "已发送" and bulletin["sent_at"].endswith("+08:00")
    sending = by_id[ids["kjj_reminder"]]
    assert (sending["status_label"], sending["claim_holder"]) == ("发送中", HOLDER)
    lease = datetime.fromisoformat(sending["lease_until"])
    assert lease.utcoffset() == timedelta(hours=8) and lease > datetime.now(UTC)

    def listed(*args: str) -> list[int]:
        return [r["id"] for r in _json(settings, tmp_path, *args)]

    assert listed("--status", "failed") == [ids["jtj_reminder"], ids["czj_receipt"]]
    assert listed("--status", "pending", "--status", "sending") == [
        ids["kjj_reminder"], ids["jtj_overdue"],
    ]  # fmt: skip
    # February's mail only: not January's 催报, not the bulletin (no cycle)
    assert listed("--period", "2023-02") == sorted(
        [ids["jtj_reminder"], ids["kjj_reminder"], ids["czj_receipt"]]
    )
    assert listed("--period", "2023-01", "--status", "pending") == [ids["jtj_overdue"]]

    table = _cli(settings, tmp_path, "--policy", POLICY)
    assert table.returncode == 0, table.stderr
    for text in ("县交通局", "2023年2月", "发送失败", "催报", "通报", HOLDER, "550 5.1.1"):
        assert text in table.stdout, text
    assert "共 5 封：待发送 1，发送中 1，已发送 1，发送失败 2。" in table.stdout
    assert "taskforce outbox retry" in table.stdout  # a failed row: the way out is shown
    none = _cli(settings, tmp_path, "--policy", OTHER, "--status", "failed")
    assert none.returncode == 0 and "没有符合条件的邮件" in none.stdout
    _refused(_cli(settings, tmp_path, "--policy", "nope-2023"), "nope-2023")
    bad_status = _cli(settings, tmp_path, "--policy", POLICY, "--status", "lost")
    assert bad_status.returncode == 2 and "lost" in bad_status.stderr


def test_retry_requeues_failed_mail_and_refuses_sent_or_unknown(
    outbox: tuple[Settings, dict[str, int]], tmp_path: Path
) -> None:
    settings, ids = outbox
    before = _json(settings, tmp_path)
    failed, sent = str(ids["jtj_reminder"]), str(ids["bulletin"])
    _refused(_cli(settings, tmp_path, "retry", failed, sent, "--policy", POLICY), sent, "已发送")
    _refused(
        _cli(settings, tmp_path, "retry", str(ids["kjj_reminder"]), "--policy", POLICY),
        str(ids["kjj_reminder"]), "正在发送", HOLDER,
    )  # fmt: skip
    _refused(_cli(settings, tmp_path, "retry", failed, "99999", "--policy", POLICY), "99999")
    foreign = str(ids["xj_reminder"])
    _refused(_cli(settings, tmp_path, "retry", foreign, "--policy", POLICY), foreign, OTHER)
    neither = _cli(settings, tmp_path, "retry", "--policy", POLICY)
    assert neither.returncode == 2
    assert _json(settings, tmp_path) == before  # every refusal changed nothing

    done = _cli(settings, tmp_path, "retry", "--failed", "--policy", POLICY, "--by", "王杰")
    assert done.returncode == 0, done.stderr
    assert "已重新排队 2 封" in done.stdout
    rows = {r["id"]: r for r in _json(settings, tmp_path)}
    full = rows[ids["czj_receipt"]]
    assert (full["status"], full["attempts"], full["server_reply"]) == ("pending", 8, FULL)
    row = rows[ids["jtj_reminder"]]
    assert (row["status"], row["status_label"], row["attempts"]) == ("pending", "待发送", 1)
    assert (row["claimed_by"], row["claim_holder"], row["lease_until"]) == ("", "", None)
    assert row["server_reply"] == REFUSED  # the server's last answer stays readable
    assert row["last_error"].startswith("已重新排队（王杰，")
    assert row["last_error"].endswith("；此前：收件人地址被拒收")
    again = _cli(settings, tmp_path, "retry", failed, "--policy", POLICY)
    assert again.returncode == 0 and "待发送，未改动" in again.stdout
    nothing = _cli(settings, tmp_path, "retry", "--failed", "--policy", POLICY)
    assert nothing.returncode == 0 and "没有发送失败的邮件" in nothing.stdout

    with session_scope(settings) as session:  # the next delivery takes them
        now = datetime.now(UTC)
        claimed = claim_pending(
            session, policy_id=get_policy(session, POLICY).id or 0, run_id="run-2:a", now=now,
            lease_until=now + timedelta(seconds=15), holder="zhuanban-01:5151",
        )  # fmt: skip
    assert {ids["jtj_reminder"], ids["czj_receipt"]} <= {row.id for row in claimed}


def test_cancel_withdraws_mail_with_its_reason_and_no_delivery_claims_it(
    outbox: tuple[Settings, dict[str, int]], tmp_path: Path
) -> None:
    settings, ids = outbox
    overdue, receipt = str(ids["jtj_overdue"]), str(ids["czj_receipt"])
    _refused(_cli(settings, tmp_path, "cancel", overdue, "--policy", POLICY), "--reason")
    sent = str(ids["bulletin"])
    _refused(
        _cli(settings, tmp_path, "cancel", overdue, sent, "--policy", POLICY, "--reason", "误发"),
        sent, "已发送",
    )  # fmt: skip
    sending = str(ids["kjj_reminder"])
    _refused(
        _cli(settings, tmp_path, "cancel", sending, "--policy", POLICY, "--reason", "误发"),
        sending, HOLDER,
    )  # fmt: skip
    _refused(
        _cli(settings, tmp_path, "cancel", "4242", "--policy", POLICY, "--reason", "误发"), "4242"
    )
    assert {r["id"]: r["status"] for r in _json(settings, tmp_path)}[ids["jtj_overdue"]] == (
        "pending"
    )

    reason = "县交通局已于2月17日书面报送，催报和回执不再发出"
    done = _cli(settings, tmp_path, "cancel", overdue, receipt, "--policy", POLICY,
                "--reason", reason, "--by", "李明")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"编号 {overdue}：待发送 → 已撤回" in done.stdout
    assert f"编号 {receipt}：发送失败 → 已撤回" in done.stdout
    cancelled = _json(settings, tmp_path, "--status", "cancelled")
    assert [r["id"] for r in cancelled] == [ids["jtj_overdue"], ids["czj_receipt"]]
    assert {r["status_label"] for r in cancelled} == {"已撤回"}
    assert cancelled[0]["last_error"].startswith(f"已撤回：{reason}（李明，")
    assert cancelled[1]["last_error"].endswith("；此前：已尝试8次仍未送达：邮箱已满")
    again = _cli(settings, tmp_path, "retry", "--failed", "--policy", POLICY)
    assert "已重新排队 1 封" in again.stdout  # 县交通局's reminder; not the withdrawn receipt

    with session_scope(settings) as session:
        now = datetime.now(UTC)
        claimed = claim_pending(
            session, policy_id=get_policy(session, POLICY).id or 0, run_id="run-2:a", now=now,
            lease_until=now + timedelta(seconds=15), holder="zhuanban-01:5151",
        )  # fmt: skip
    assert [row.id for row in claimed] == [ids["jtj_reminder"]]  # the withdrawn mail stays
    assert len(_json(settings, tmp_path, "--status", "cancelled")) == 2

    # withdrawn by mistake: re-queued by its id, both notes kept
    back = _cli(settings, tmp_path, "retry", overdue, "--policy", POLICY, "--by", "李明")
    assert back.returncode == 0 and f"编号 {overdue}：已撤回 → 待发送" in back.stdout
    [row] = [r for r in _json(settings, tmp_path) if r["id"] == ids["jtj_overdue"]]
    assert row["status"] == "pending"
    assert (
        row["last_error"].startswith("已重新排队（李明，")
        and f"此前：已撤回：{reason}" in (row["last_error"])
    )
