"""Per unit and cycle, the latest submission: what ``taskforce submissions`` and review show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from models import tables as t
from models.consolidation_store import load_consolidation_input
from models.intake_store import latest_submissions
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI
from tasks.consolidation.consolidate import consolidate

STATUS_LABELS = {
    "accepted": "已受理",
    "rejected": "退回",
    "unstructured": "已收到·待审核",
    "unverified": "已收到·发件人未经验证·待审核",
    "quarantined": "隔离",
    "missing": "未报送",
}
CHANNEL_LABELS = {"email": "电子邮件", "paper": "纸质件", "": ""}


def _excerpt(fields: dict[str, Any]) -> str:
    texts = [str(fields.get("body", ""))] + [
        str(v) for v in fields.get("attachment_texts", {}).values()
    ]
    text = " ".join(" ".join(x.split()) for x in texts if x.strip())
    return text[:80] + ("…" if len(text) > 80 else "")


def _sender_check(fields: dict[str, Any]) -> str:
    """Why a reply without our form was (not) taken as its unit's (tasks.mail.authentication)."""
    verdict = fields.get("sender_authentication")
    return str(verdict.get("detail", "")) if isinstance(verdict, dict) else ""


def values_to_verify(
    session: Session, policy_code: str, obligation: t.Obligation, cycle: t.Cycle
) -> dict[str, list[str]]:
    """Unit name → the reported values of a periodic cycle the bulletin shows as 待核实, worded as
    there (the consolidation decides, so the view and the bulletin never disagree)."""
    if obligation.frequency == "once":
        return {}
    everything = datetime(9999, 1, 1, tzinfo=UTC)  # the view shows all that has arrived
    c = consolidate(
        load_consolidation_input(
            session, policy_code, period=cycle.period, obligation=obligation.code, as_of=everything
        )
    )
    found: dict[str, list[str]] = {}
    for m in c.measures:
        for target in m.targets:
            if target.implausible:
                for unit in target.reported_by:
                    found.setdefault(unit, []).append(
                        f"第{m.number}条{target.metric}报送{target.reached:g}"
                        f"{target.unit_of_measure}：{target.implausible}"
                    )
    return found


def submission_rows(session: Session, policy_code: str, period: str | None) -> list[dict[str, Any]]:
    """One row per obligated unit and cycle, with the latest submission or ``missing``.

    Without a period: the cycles that have at least one submission. With one: every cycle of
    that period, every obligated unit listed.
    """
    policy = get_policy(session, policy_code)
    latest = latest_submissions(session, policy_code, period)
    by_key = {(s.cycle_id, s.unit_id): (s, u) for s, u, _, _ in latest}
    cycle_query = (
        select(t.Cycle, t.Obligation)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .where(t.Obligation.policy_id == policy.id, col(t.Cycle.retired_at).is_(None))
    )
    if period:
        cycle_query = cycle_query.where(t.Cycle.period == period)
    else:
        cycle_query = cycle_query.where(col(t.Cycle.id).in_({s.cycle_id for s, *_ in latest}))
    cycles = sorted(session.exec(cycle_query).all(), key=lambda r: (r[0].due_date, r[1].code))
    recipients: dict[int, list[t.Unit]] = {}
    for obligation_id, unit in session.exec(
        select(t.ObligationRecipient.obligation_id, t.Unit).join(
            t.Unit, col(t.Unit.id) == t.ObligationRecipient.unit_id
        )
    ):
        recipients.setdefault(obligation_id, []).append(unit)
    rows: list[dict[str, Any]] = []
    for cycle, obligation in cycles:
        units = sorted(recipients.get(obligation.id or 0, []), key=lambda u: u.code)
        to_verify = values_to_verify(session, policy_code, obligation, cycle)
        for unit in units:
            found = by_key.get((cycle.id or 0, unit.id or 0))
            submission = found[0] if found else None
            status = submission.status if submission else "missing"
            received = submission.received_at.astimezone(SHANGHAI) if submission else None
            rows.append(
                {
                    "policy": policy_code,
                    "obligation": obligation.code,
                    "obligation_name": obligation.name,
                    "period": cycle.period,
                    "due": cycle.due_at.astimezone(SHANGHAI).isoformat(),
                    "unit_code": unit.code,
                    "unit": unit.name,
                    "status": status,
                    "status_label": STATUS_LABELS.get(status, status),
                    "submission_id": submission.id if submission else None,
                    "version": submission.version if submission else None,
                    "channel": submission.channel if submission else "",
                    "channel_label": CHANNEL_LABELS.get(submission.channel, submission.channel)
                    if submission
                    else "",
                    "received_at": received.isoformat() if received else None,
                    "received_at_local": f"{received:%Y-%m-%d %H:%M}" if received else "",
                    "late_working_days": submission.late_working_days if submission else 0,
                    "attachment": submission.attachment if submission else "",
                    "errors": list(submission.errors) if submission else [],
                    "to_verify": to_verify.get(unit.name, []),
                    "excerpt": _excerpt(submission.fields) if submission else "",
                    "sender_check": _sender_check(submission.fields) if submission else "",
                    "item_id": submission.inbound_id if submission else None,
                }
            )
    rows += set_aside_rows(session, policy_code)
    return rows


def set_aside_rows(session: Session, policy_code: str) -> list[dict[str, Any]]:
    """Mail intake quarantined or failed on that names no unit and cycle (unknown sender, a
    forged form …): listed after the units so the office sees it; the raw copy is kept."""
    attributed = select(t.Submission.inbound_id).where(col(t.Submission.inbound_id).is_not(None))
    items = session.exec(
        select(t.InboundItem)
        .where(t.InboundItem.policy_code == policy_code)
        .where(col(t.InboundItem.status).in_(("quarantined", "error")))
        .where(col(t.InboundItem.id).not_in(attributed))
        .order_by(col(t.InboundItem.received_at))
    ).all()
    rows = []
    for item in items:
        received = item.received_at.astimezone(SHANGHAI)
        rows.append(
            {
                "policy": policy_code, "obligation": "", "obligation_name": "", "period": "",
                "due": None, "unit_code": "", "unit": item.sender or "（未知发件人）",
                "status": item.status,
                "status_label": STATUS_LABELS.get(item.status, "处理出错（待重放）"),
                "submission_id": None, "version": None, "channel": item.channel,
                "channel_label": CHANNEL_LABELS.get(item.channel, item.channel),
                "received_at": received.isoformat(),
                "received_at_local": f"{received:%Y-%m-%d %H:%M}",
                "late_working_days": 0, "attachment": "",
                "errors": [{"problem": reason} for reason in item.reasons], "to_verify": [],
                "excerpt": item.subject, "item_id": item.id,
            }
        )  # fmt: skip
    return rows
