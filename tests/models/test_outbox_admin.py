"""The outbox's office actions lose a race to a delivery: a row claimed between the command's read
and its update is left to the delivery, and the command changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.outbox import NewNotification, claim_pending, enqueue
from models.outbox_admin import OutboxRefusal, _set_status
from models.policy_store import get_policy
from tests.helpers import load_seeds

POLICY = "lingchuan-2023"


def test_a_row_claimed_after_it_was_read_is_not_withdrawn(db_settings: Settings) -> None:
    load_seeds(db_settings, POLICY)
    now = datetime.now(UTC)
    with session_scope(db_settings) as session:
        policy_id = get_policy(session, POLICY).id or 0
        enqueue(
            session,
            [
                NewNotification(
                    idempotency_key=f"{POLICY}/race/{n}", kind="reminder", policy_id=policy_id,
                    cycle_id=None, unit_id=None, to=[f"unit{n}@lingchuan.example.org"],
                    subject="提醒", body_text="……", body_html="",
                )
                for n in (1, 2)
            ],
            now=now,
        )  # fmt: skip
    with session_scope(db_settings) as session:
        read = list(session.exec(select(t.Notification).order_by(col(t.Notification.id))))
        assert [row.status for row in read] == ["pending", "pending"]
        with session_scope(db_settings) as delivery:  # a delivery claims both in between
            claimed = claim_pending(
                delivery, policy_id=policy_id, run_id="run-1:a", now=now,
                lease_until=now + timedelta(seconds=15), holder="zhuanban-01:4242",
            )  # fmt: skip
            assert len(claimed) == 2
        with pytest.raises(OutboxRefusal, match="刚被发送程序取走"):
            _set_status(session, read, ("pending", "failed"), "cancelled", "已撤回：误发", now)
    with session_scope(db_settings) as session:
        rows = session.exec(select(t.Notification)).all()
        assert {(row.status, row.claimed_by, row.last_error) for row in rows} == {
            ("sending", "run-1:a", "")
        }
