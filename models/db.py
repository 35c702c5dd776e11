"""Engine and session factory: the one place that opens the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session, create_engine

import models.issued_forms  # its table too
import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from config.errors import SchemaError
from config.settings import Settings
from models import migrations


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


# What relax_commits changed, kept with the DBAPI connection so restore_commits can undo it.
_RELAXED = "taskforce_relaxed_from"


def relax_commits(connection: Connection, *, lock_wait: float) -> None:
    """Until ``restore_commits``: the connection's commits return without waiting for the disk,
    and a statement waits at most ``lock_wait`` seconds for a lock held elsewhere (then fails
    with OperationalError), for writes made in an event loop, which must not stall it.

    A killed process loses none of these commits (they are with the OS or the server); a power
    cut of the database host can lose the last ones, never leave a transaction half done: the
    caller bounds how many with ``relaxed_transaction(flush=True)`` now and then.
    SQLite in WAL mode: ``synchronous=NORMAL`` (FULL otherwise) and ``busy_timeout``;
    PostgreSQL: ``synchronous_commit`` off and ``lock_timeout``."""
    dialect = connection.dialect.name
    wait_ms = max(1, round(lock_wait * 1000))
    if dialect == "sqlite":
        previous = (
            connection.exec_driver_sql("PRAGMA synchronous").scalar(),
            connection.exec_driver_sql("PRAGMA busy_timeout").scalar(),
        )
        connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
        connection.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
    elif dialect == "postgresql":
        previous = (
            connection.exec_driver_sql("SHOW synchronous_commit").scalar(),
            connection.exec_driver_sql("SHOW lock_timeout").scalar(),
        )
        connection.exec_driver_sql("SET synchronous_commit TO off")
        connection.exec_driver_sql(f"SET lock_timeout = {wait_ms}")
    else:
        return
    connection.commit()
    connection.info[_RELAXED] = previous


@contextmanager
def relaxed_transaction(connection: Connection, *, flush: bool) -> Iterator[None]:
    """A transaction on a connection given to ``relax_commits``; with ``flush``, its commit
    waits for the disk as usual, and so every commit before it is on disk too."""
    sqlite = connection.dialect.name == "sqlite"
    if flush and sqlite:  # (SQLite refuses the change inside a transaction)
        connection.exec_driver_sql("PRAGMA synchronous=FULL")
        connection.commit()
    try:
        with connection.begin():
            if flush and not sqlite:
                connection.exec_driver_sql("SET LOCAL synchronous_commit TO on")
            yield
    finally:
        if flush and sqlite and not connection.invalidated:
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
            connection.commit()


def restore_commits(connection: Connection) -> None:
    """Undo ``relax_commits`` before the connection goes back to the pool, once what its commits
    left unflushed is on disk; a connection that cannot be restored (broken) is discarded."""
    previous = connection.info.pop(_RELAXED, None)
    if previous is None:
        return
    synchronous, lock_wait = previous
    try:
        if connection.dialect.name == "sqlite":
            # Checkpointing syncs the log first. (PostgreSQL's WAL writer flushes the last
            # commits within three wal_writer_delay, 0.6 s by default, on its own.)
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            connection.exec_driver_sql(f"PRAGMA synchronous={int(synchronous)}")
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(lock_wait)}")
        else:
            connection.exec_driver_sql(
                "SELECT set_config('synchronous_commit', %(sync)s, false),"
                " set_config('lock_timeout', %(wait)s, false)",
                {"sync": synchronous, "wait": lock_wait},
            )
        connection.commit()
    except Exception:
        connection.invalidate()


# The URLs whose schema this process found current: checked once, not on every session.
_current: set[str] = set()


def get_engine(settings: Settings) -> Engine:
    """The engine, once its database is known to be at the program's schema version.

    A database that needs ``taskforce db upgrade`` (or is newer than the program, or not ours)
    is a :class:`SchemaError` here, so that a flow run by a worker stops with that sentence
    instead of failing on a missing column halfway through. Nothing is created or changed: an
    empty database is left to ``init_db``.
    """
    url = settings.effective_database_url
    engine = engine_for(url)
    if url not in _current:
        with engine.connect() as connection:
            state = migrations.schema_state(connection)
        if not state.usable:
            raise SchemaError(state.message())
        if state.kind == "current":
            _current.add(url)
    return engine


def init_db(settings: Settings) -> Engine:
    """Make the tables of an empty database (by running the migrations); refuse an old one.

    Every command calls this before its work: a new database comes out at the newest schema
    version, exactly as ``taskforce db upgrade`` leaves an old one; an old one is not upgraded
    behind the user's back (``db init`` and ``db upgrade`` do that, after a backup).
    """
    url = settings.effective_database_url
    engine = engine_for(url)
    with engine.connect() as connection:
        state = migrations.schema_state(connection)
    if state.kind == "empty":
        migrations.upgrade(engine)
    elif not state.usable:
        raise SchemaError(state.message())
    elif state.kind == "unversioned":  # today's tables made by create_all: same schema
        migrations.stamp(engine, migrations.head())
    _current.add(url)
    return engine


@dataclass(frozen=True)
class Upgraded:
    """What :func:`upgrade_db` did: the version before (None: empty), after, and whether an
    unversioned database was recognised (``stamped`` is the version it was found at)."""

    before: str | None
    after: str
    stamped: str | None = None


def upgrade_db(settings: Settings) -> Upgraded:
    """Bring the database to the newest schema version in place: ``db init`` and ``db upgrade``.

    An empty database gets every table; one made before migrations is stamped with the version
    its tables match, then upgraded; one that matches no version, or is newer, is refused.
    """
    url = settings.effective_database_url
    engine = engine_for(url)
    _current.discard(url)
    with engine.connect() as connection:
        state = migrations.schema_state(connection)
    stamped = None
    if state.kind == "unversioned":
        assert state.revision is not None
        migrations.stamp(engine, state.revision)
        stamped = state.revision
    elif state.kind in ("ahead", "unknown"):
        raise SchemaError(state.message())
    migrations.upgrade(engine)
    _current.add(url)
    return Upgraded(before=state.revision, after=migrations.head(), stamped=stamped)


def forget_schema_checks() -> None:
    """Check every database again on its next ``get_engine`` (a test that changed one behind
    the program's back, by migrating it down or replacing its file)."""
    _current.clear()


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
