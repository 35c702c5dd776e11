"""Alembic's environment: run by ``models.migrations`` on a connection it opens itself.

There is no alembic.ini and no ``alembic`` command to learn: ``taskforce db upgrade`` runs the
migrations, and a new revision is written with ``python -m models.migrations revision -m "…"``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import models.db  # noqa: F401  (registers every table on SQLModel.metadata)
from models.migrations.rendering import CONTEXT_OPTIONS


def run_migrations_online() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("models.migrations passes the connection; run it through that module")
    options: dict[str, Any] = dict(CONTEXT_OPTIONS)
    context.configure(connection=connection, target_metadata=SQLModel.metadata, **options)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
