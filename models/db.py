"""Engine and session factory: the one place that opens the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, create_engine

import models.issued_forms  # its table too
import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from config.settings import Settings


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per URL per process; SQLite gets foreign keys and a parent directory."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def get_engine(settings: Settings) -> Engine:
    return engine_for(settings.effective_database_url)


def init_db(settings: Settings) -> Engine:
    """Create every table that does not exist yet."""
    engine = get_engine(settings)
    SQLModel.metadata.create_all(engine)
    return engine


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(settings), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
