"""Outbox stored message: notification.mime and notification.mime_sources.

Revision ID: 3
Revises: 2
Create Date: 2026-12-06 10:21:30.997554
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3"
down_revision: str | None = "2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both nullable: rows queued before have no stored message and are built when sent.
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mime", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("mime_sources", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("mime_sources")
        batch_op.drop_column("mime")
