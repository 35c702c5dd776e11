"""Outbox message apart: notification.mime and mime_sources move to outboxmessage; an index
of the pending rows for the claim.

Revision ID: 4
Revises: 3
Create Date: 2026-12-06 17:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4"
down_revision: str | None = "3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outboxmessage",
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("mime", sa.LargeBinary(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    # Only the messages still to be sent were kept (a settled row had dropped its own).
    op.execute(
        "INSERT INTO outboxmessage (notification_id, mime, sources)"
        " SELECT id, mime, COALESCE(mime_sources, '[]') FROM notification"
        " WHERE mime IS NOT NULL"
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("mime_sources")
        batch_op.drop_column("mime")
    # The claim's way to a policy's pending rows (the table keeps every mail ever sent).
    op.create_index(
        "ix_notification_pending",
        "notification",
        ["policy_id", "id"],
        unique=False,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_notification_pending",
        table_name="notification",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mime", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("mime_sources", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE notification SET"
        " mime = (SELECT m.mime FROM outboxmessage m WHERE m.notification_id = notification.id),"
        " mime_sources = (SELECT m.sources FROM outboxmessage m"
        " WHERE m.notification_id = notification.id)"
    )
    op.drop_table("outboxmessage")
