"""Schema migrations: Alembic, configured here in code (no alembic.ini).

Revisions are numbered "1", "2", … in ``versions/``: "1" is the schema of the release before
migrations (b80ff0a), each later schema change adds the next number, its ``down_revision`` the
previous head. A new database is made by running every revision, so a new database and an
upgraded one go through the same steps; ``tests/models/test_migrations.py`` checks that the
models and the head revision agree.

A database made before migrations (tables, no ``alembic_version``) is recognised by its tables
and columns: the newest revision whose tables and columns it has exactly is stamped, then the
rest run. Anything else is refused with the differences named. Tables that no revision has
ever had are not ours and are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlmodel import SQLModel

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"

# Table name → its column names: what recognising an unversioned database compares.
Tables = dict[str, frozenset[str]]


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, pointed at this package; env.py runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision."""
    revision = _script().get_current_head()
    assert revision is not None, "models/migrations/versions has no revision"
    return revision


def revisions() -> list[str]:
    """Every revision, oldest first."""
    return [s.revision for s in reversed(list(_script().walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    """The revision the database is stamped with, or None (no ``alembic_version`` row)."""
    return MigrationContext.configure(connection).get_current_revision()


def table_columns(connection: Connection) -> Tables:
    """The database's tables and their columns, without Alembic's own table."""
    inspector = inspect(connection)
    return {
        name: frozenset(column["name"] for column in inspector.get_columns(name))
        for name in inspector.get_table_names()
        if name != VERSION_TABLE
    }


def model_tables() -> Tables:
    """The tables and columns the models declare (the head revision's, as the test checks)."""
    return {
        name: frozenset(column.name for column in table.columns)
        for name, table in SQLModel.metadata.tables.items()
    }


@cache
def revision_tables() -> dict[str, Tables]:
    """Each revision's tables and columns, by running the revisions on an in-memory SQLite."""
    engine = create_engine("sqlite://")
    found: dict[str, Tables] = {}
    with engine.connect() as connection:
        for revision in revisions():
            command.upgrade(alembic_config(connection), revision)
            found[revision] = table_columns(connection)
    engine.dispose()
    return found


def known_tables() -> frozenset[str]:
    """Every table a revision or the models have."""
    names = set(model_tables())
    for tables in revision_tables().values():
        names |= tables.keys()
    return frozenset(names)


def differences(actual: Tables, expected: Tables) -> list[str]:
    """What ``actual`` lacks or has beyond ``expected``, in Chinese, tables then columns."""
    lines = [f"缺少表 {name}" for name in sorted(expected.keys() - actual.keys())]
    lines += [f"多出表 {name}" for name in sorted(actual.keys() - expected.keys())]
    for name in sorted(expected.keys() & actual.keys()):
        missing = sorted(expected[name] - actual[name])
        extra = sorted(actual[name] - expected[name])
        if missing:
            lines.append(f"表 {name} 缺少列 {'、'.join(missing)}")
        if extra:
            lines.append(f"表 {name} 多出列 {'、'.join(extra)}")
    return lines


StateKind = Literal["empty", "current", "behind", "ahead", "unversioned", "unknown"]


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against the migrations.

    ``revision``: the stamped one (current, behind, ahead) or, for an unversioned database, the
    revision its tables match. ``differences``: for ``unknown``, how it differs from the nearest
    revision.
    """

    kind: StateKind
    revision: str | None = None
    differences: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """Whether the program can work on it as it is: at the newest version (stamped, or made
        by ``create_all`` of today's models), or empty (``init_db`` makes its tables)."""
        return self.kind in ("current", "empty") or (
            self.kind == "unversioned" and self.revision == head()
        )

    def message(self) -> str:
        """What to tell the user about a database the program cannot work on as it is."""
        latest = head()
        if self.kind == "behind":
            return (
                f"数据库表结构为版本 {self.revision}，本程序需要版本 {latest}：请先备份数据库"
                "（见 README 的 Backups 一节），再运行 taskforce db upgrade。"
            )
        if self.kind == "unversioned":
            return (
                f"数据库建于启用表结构版本管理之前，表结构与版本 {self.revision} 一致，"
                f"本程序需要版本 {latest}：请先备份数据库（见 README 的 Backups 一节），"
                "再运行 taskforce db upgrade。"
            )
        if self.kind == "ahead":
            return (
                f"数据库表结构为版本 {self.revision}，比本程序所知的最新版本 {latest} 还新："
                "请使用与之相符的新版 taskforce，不要用旧版程序操作这个数据库。"
            )
        if self.kind == "unknown":
            shown = "；".join(self.differences[:8])
            more = f"等 {len(self.differences)} 处" if len(self.differences) > 8 else ""
            return (
                f"数据库中的表与本系统任何一个表结构版本都对不上（{shown}{more}），无法自动升级："
                "请核对 TASKFORCE_DATABASE_URL 是否指向本系统的数据库；确属本系统的，"
                "请联系维护人员处理，不要删表重建。"
            )
        return f"数据库表结构为版本 {self.revision or '（空库）'}，无需升级。"


def schema_state(connection: Connection) -> SchemaState:
    """Compare the database with the migrations.

    An unversioned database is compared with the models (the head revision), then with every
    older revision (built in memory once per process, ~0.1 s).
    """
    stamped = current_revision(connection)
    if stamped is not None:
        if stamped == head():
            return SchemaState("current", stamped)
        if stamped in revisions():
            return SchemaState("behind", stamped)
        return SchemaState("ahead", stamped)
    # Tables no revision ever had are someone else's (a Prefect server's in the same database,
    # a bench's bookkeeping, a county's own report table): the migrations leave them alone.
    actual = table_columns(connection)
    if actual.keys() - model_tables().keys():
        actual = {name: columns for name, columns in actual.items() if name in known_tables()}
    if not actual:
        return SchemaState("empty")
    if actual == model_tables():
        return SchemaState("unversioned", head())
    by_revision = revision_tables()
    for revision in reversed(list(by_revision)):
        if actual == by_revision[revision]:
            return SchemaState("unversioned", revision)
    nearest = min(by_revision, key=lambda r: len(differences(actual, by_revision[r])))
    return SchemaState("unknown", None, tuple(differences(actual, by_revision[nearest])))


# Two processes that find the same database empty (two commands, or workers, on a new
# database) both migrate it: the second waits for the first, then finds nothing left to do.
_PG_LOCK = 0x7461736B  # pg_advisory_xact_lock key ("task")


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection to run revisions on, in one transaction that holds the database's lock.

    On SQLite, foreign keys are off meanwhile: batch mode copies a table and drops the old one,
    which with them on would delete or refuse the rows that point at it. ``BEGIN IMMEDIATE``
    takes the write lock at once and makes the DDL transactional (the driver would otherwise
    commit each CREATE on its own, and another process could see half a schema).
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        try:
            yield connection
            connection.commit()
        finally:
            if connection.in_transaction():
                connection.rollback()
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the revisions up to ``revision`` on a database that is stamped or empty."""
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def stamp(engine: Engine, revision: str) -> None:
    """Record ``revision`` as the database's without running anything."""
    with _migrating(engine) as connection:
        command.stamp(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo the revisions after ``revision`` (for a developer; an office restores a backup)."""
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)
