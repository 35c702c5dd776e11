"""Measure deadlines (12de061): measure.deadline_kind and the deadlineextension table.

Revision ID: 2
Revises: 1
Create Date: 2026-12-06 07:37:35.640055
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2"
down_revision: str | None = "1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deadlineextension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("measure_number", sa.String(), nullable=False),
        sa.Column("previous_deadline", sa.Date(), nullable=False),
        sa.Column("new_deadline", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["policy.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("policy_id", "measure_number", "new_deadline"),
    )
    with op.batch_alter_table("deadlineextension", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deadlineextension_policy_id"), ["policy_id"], unique=False
        )

    with op.batch_alter_table("measure", schema=None) as batch_op:
        # The measures already there were all task deadlines (the only kind before); the
        # server default fills them and stays, so that an older program's insert still works.
        batch_op.add_column(
            sa.Column("deadline_kind", sa.String(), nullable=False, server_default="task")
        )


def downgrade() -> None:
    with op.batch_alter_table("measure", schema=None) as batch_op:
        batch_op.drop_column("deadline_kind")

    with op.batch_alter_table("deadlineextension", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadlineextension_policy_id"))

    op.drop_table("deadlineextension")
