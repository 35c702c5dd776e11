"""Responsibility order: an index on (measure_id, position, id), the order the consolidation
reads a measure's units in.

Revision ID: 6
Revises: 5
Create Date: 2026-12-06 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "6"
down_revision: str | None = "5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The consolidation reads every responsibility of a month's measures in notice order; by
    # measure alone, the database sorts them first (a fifth of that read on the synthetic
    # province, both backends).
    op.create_index(
        "ix_responsibility_order", "responsibility", ["measure_id", "position", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_responsibility_order", table_name="responsibility")
