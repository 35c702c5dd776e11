"""Notification body apart: notification.body_text and body_html move to notificationbody.

Revision ID: 5
Revises: 4
Create Date: 2026-12-06 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "5"
down_revision: str | None = "4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Batch mode on SQLite copies the table: the partial index is dropped and made again around it
# rather than trusted to the copy (its WHERE is what makes the claim use it).
PENDING_INDEX: dict[str, Any] = {
    "sqlite_where": sa.text("status = 'pending'"),
    "postgresql_where": sa.text("status = 'pending'"),
}


def upgrade() -> None:
    op.create_table(
        "notificationbody",
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("body_text", sa.String(), nullable=False),
        sa.Column("body_html", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    # Every row's, sent or not: the bodies are the record of what the office sent.
    op.execute(
        "INSERT INTO notificationbody (notification_id, body_text, body_html)"
        " SELECT id, body_text, body_html FROM notification"
    )
    op.drop_index("ix_notification_pending", table_name="notification", **PENDING_INDEX)
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("body_html")
        batch_op.drop_column("body_text")
    op.create_index(
        "ix_notification_pending", "notification", ["policy_id", "id"], unique=False,
        **PENDING_INDEX,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_notification_pending", table_name="notification", **PENDING_INDEX)
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_text", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("body_html", sa.String(), nullable=True))
    op.execute(
        "UPDATE notification SET"
        " body_text = COALESCE((SELECT b.body_text FROM notificationbody b"
        " WHERE b.notification_id = notification.id), ''),"
        " body_html = COALESCE((SELECT b.body_html FROM notificationbody b"
        " WHERE b.notification_id = notification.id), '')"
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.alter_column("body_text", existing_type=sa.String(), nullable=False)
        batch_op.alter_column("body_html", existing_type=sa.String(), nullable=False)
    op.create_index(
        "ix_notification_pending", "notification", ["policy_id", "id"], unique=False,
        **PENDING_INDEX,
    )  # fmt: skip
    op.drop_table("notificationbody")
