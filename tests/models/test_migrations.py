"""Schema migrations, on SQLite and PostgreSQL.

The models agree with the head revision (what CI checks for every schema change). A database
the last release before migrations (b80ff0a) filled through its own command line, made at
revision 1 or by that release's ``create_all`` alone, upgrades in place with every row kept, and
the flows run on it afterwards without sending anything twice. A database that needs an upgrade
is refused by every other command and by the flows' engine, with the command to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, text
from sqlmodel import SQLModel

from config.errors import SchemaError
from config.settings import Settings
from models import migrations
from models.db import engine_for, forget_schema_checks, get_engine, init_db
from models.migrations.rendering import CONTEXT_OPTIONS
from tasks.demo.bureaus import fill_form
from tasks.forms.keys import form_keys
from tasks.forms.layout import form_path
from tests.helpers import ROOT, invoke_cli

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

OLD_RELEASE = "b80ff0a"  # the last release before migrations: revision 1 is its schema
POLICY = "lingchuan-2023"
LINGCHUAN = "config/policies/lingchuan-2023.yaml"  # relative to either checkout
OPENING = "2023-02-23T09:30"  # February's monthly report opens: notices with forms
ESCALATION_DAYS = ("2023-03-06T10:00", "2023-03-08T10:00", "2023-03-09T10:00")


@pytest.fixture(scope="session")
def old_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The old release's code, from the repository's history: it fills the old databases."""
    target = tmp_path_factory.mktemp(f"release-{OLD_RELEASE}")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD_RELEASE], capture_output=True, check=False
    )
    if archive.returncode != 0:
        pytest.fail(
            f"git archive {OLD_RELEASE} failed ({archive.stderr.decode().strip()}): the migration "
            "tests need the release's commit, so a clone with its history, not a shallow one"
        )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def old_cli(
    release: Path, tmp_path: Path, settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``taskforce ARGS`` of the old release, on the test's database and var directory."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")},
        "PYTHONPATH": str(release),  # its packages, not this checkout's
        "TASKFORCE_VAR_DIR": str(tmp_path / "var"),
        "TASKFORCE_DATABASE_URL": settings.effective_database_url,
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=release,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"old taskforce {' '.join(args)}: {result.stderr}"
    return result


def new_cli(tmp_path: Path, settings: Settings, *args: str, **env: str) -> Any:
    """``taskforce ARGS`` of this checkout (in this process), on the same database."""
    return invoke_cli(
        tmp_path, *args, env={"TASKFORCE_DATABASE_URL": settings.effective_database_url, **env}
    )


# Columns a later revision moved to a table of its own: table → (that table, its column
# holding the row's id, the columns moved).
MOVED = {"notification": ("notificationbody", "notification_id", {"body_text", "body_html"})}


def dump(settings: Settings, tables: migrations.Tables) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given tables, only their given columns, in a stable order; a column
    moved since (``MOVED``) read where it is now, joined by the row's id."""
    with engine_for(settings.effective_database_url).connect() as connection:
        present = migrations.table_columns(connection)
        found = {}
        for name, columns in sorted(tables.items()):
            source, names = f'"{name}"', []
            for column in sorted(columns):
                if column in present[name]:
                    names.append(f'"{name}"."{column}"')
                    continue
                moved_to, key, _ = MOVED[name]
                names.append(f'"{moved_to}"."{column}"')
                if moved_to not in source:
                    source += f' LEFT JOIN "{moved_to}" ON "{moved_to}"."{key}" = "{name}".id'
            result = connection.execute(text(f"SELECT {', '.join(names)} FROM {source}"))
            found[name] = sorted(map(tuple, result), key=repr)
        return found


def stamped(settings: Settings) -> str | None:
    with engine_for(settings.effective_database_url).connect() as connection:
        return migrations.current_revision(connection)


def mail_env(smtp_server: SmtpServer) -> dict[str, str]:
    return {"TASKFORCE_SMTP_HOST": smtp_server.host, "TASKFORCE_SMTP_PORT": str(smtp_server.port)}


def keys_sent(smtp_server: SmtpServer) -> Counter[str]:
    """How many times each outbox key arrived at the mail server."""
    return Counter(str(m.message["X-Taskforce-Key"]) for m in smtp_server.messages)


def test_models_and_migrations_agree(db_settings: Settings) -> None:
    """Autogenerate against a database made by the migrations finds nothing to do."""
    init_db(db_settings)
    assert stamped(db_settings) == migrations.head()
    with get_engine(db_settings).connect() as connection:
        context = MigrationContext.configure(connection, opts=dict(CONTEXT_OPTIONS))
        assert compare_metadata(context, SQLModel.metadata) == []
        # And the comparison does see a column the models have and the migrations lack.
        changed = MetaData()
        for table in SQLModel.metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["unit"].append_column(Column("nickname", String(), nullable=True))
        diff = compare_metadata(context, changed)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "unit", "nickname")]


def test_revision_1_is_the_old_release_schema(
    old_release: Path, tmp_path: Path, db_settings: Settings
) -> None:
    """The old release's own create_all makes exactly revision 1's tables and columns."""
    old_cli(old_release, tmp_path, db_settings, "db", "init")
    with engine_for(db_settings.effective_database_url).connect() as connection:
        assert migrations.table_columns(connection) == migrations.revision_tables()["1"]
    assert migrations.revisions() == ["1", "2", "3", "4", "5", "6"]
    assert migrations.revision_tables()["6"] == migrations.model_tables()


def test_filled_revision_1_database_upgrades_and_the_flows_go_on(
    old_release: Path,
    tmp_path: Path,
    db_settings: Settings,
    prefect_server: None,
    smtp_server: SmtpServer,
) -> None:
    from prefect.settings import PREFECT_API_URL

    settings = db_settings.model_copy(update={"var_dir": tmp_path / "var"})
    migrations.upgrade(engine_for(settings.effective_database_url), "1")
    assert stamped(settings) == "1"

    # The old release fills it as its schema allows: policy, cycles, notices and forms out, a
    # paper submission, 催报 and 督办 cases.
    env = {**mail_env(smtp_server), "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    old = (old_release, tmp_path, settings)
    old_cli(*old, "policy", "load", LINGCHUAN, env=env)
    old_cli(*old, "remind", "--policy", POLICY, "--as-of", OPENING, env=env)
    form = form_path(settings, POLICY, "monthly-progress", "2023-02", "rsj").read_bytes()
    filled = tmp_path / "rsj-2023-02.xlsx"
    filled.write_bytes(fill_form(form, form_keys(settings).current, day=date(2023, 3, 6)))
    old_cli(*old, "submit", "--unit", "rsj", "--policy", POLICY, "--period", "2023-02",
            "--received-at", "2023-03-06T10:00", str(filled), env=env)  # fmt: skip
    escalate = [f"--as-of={day}" for day in ESCALATION_DAYS]
    old_cli(*old, "escalate", "--policy", POLICY, *escalate, env=env)

    revision_1 = migrations.revision_tables()["1"]
    before = dump(settings, revision_1)
    counts = {name: len(rows) for name, rows in before.items()}
    for table in ("policy", "measure", "cycle", "notification", "issuedform", "submission",
                  "progressentry", "inbounditem", "supervisioncase", "caseevent"):  # fmt: skip
        assert counts[table] > 0, f"the old release wrote no {table} row: {counts}"
    sent_before = keys_sent(smtp_server)
    assert sent_before and max(sent_before.values()) == 1

    # This checkout refuses it until it is upgraded, then upgrades it in place.
    refused = new_cli(tmp_path, settings, "cases", "--policy", POLICY)
    assert refused.returncode == 2 and "taskforce db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr
    upgraded = new_cli(tmp_path, settings, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"已从版本 1 升级到 {migrations.head()}" in upgraded.stdout
    assert stamped(settings) == migrations.head()
    assert dump(settings, revision_1) == before  # every row, every old column, unchanged
    with engine_for(settings.effective_database_url).connect() as connection:
        kinds = connection.execute(text("SELECT DISTINCT deadline_kind FROM measure")).all()
        extensions = connection.execute(text("SELECT COUNT(*) FROM deadlineextension")).scalar()
    assert kinds == [("task",)] and extensions == 0

    # The same days again on the new code: nothing already sent is planned or sent again.
    notifications = counts["notification"]
    again = new_cli(tmp_path, settings, "remind", "--policy", POLICY, "--as-of", OPENING, **env)
    assert again.returncode == 0, again.stderr
    again = new_cli(tmp_path, settings, "escalate", "--policy", POLICY, *escalate, **env)
    assert again.returncode == 0, again.stderr
    assert len(dump(settings, {"notification": revision_1["notification"]})["notification"]) == (
        notifications
    )
    assert keys_sent(smtp_server) == sent_before
    # And March's report opens as it would have: its notices go out, each once.
    later = new_cli(tmp_path, settings, "remind", "--policy", POLICY, "--as-of", "2023-03-27T09:30",
                    **env)  # fmt: skip
    assert later.returncode == 0, later.stderr
    sent_after = keys_sent(smtp_server)
    assert max(sent_after.values()) == 1
    assert len(sent_after) > len(sent_before)


def test_database_from_before_migrations_is_recognised_and_upgraded(
    old_release: Path, tmp_path: Path, db_settings: Settings
) -> None:
    """Every county's database today: the old release's tables, no alembic_version."""
    settings = db_settings.model_copy(update={"var_dir": tmp_path / "var"})
    old_cli(old_release, tmp_path, settings, "policy", "load", LINGCHUAN)
    assert stamped(settings) is None
    before = dump(settings, migrations.revision_tables()["1"])

    listed = new_cli(tmp_path, settings, "policy", "list")
    assert listed.returncode == 2 and "Traceback" not in listed.stderr
    assert "启用表结构版本管理之前" in listed.stderr and "taskforce db upgrade" in listed.stderr
    forget_schema_checks()
    with pytest.raises(SchemaError, match="taskforce db upgrade"):
        get_engine(settings)  # a flow on a worker stops here, before its first query

    upgraded = new_cli(tmp_path, settings, "db", "init")  # db init upgrades too
    assert upgraded.returncode == 0, upgraded.stderr
    assert "与版本 1 一致" in upgraded.stdout and f"升级到 {migrations.head()}" in upgraded.stdout
    assert stamped(settings) == migrations.head()
    assert dump(settings, migrations.revision_tables()["1"]) == before
    listed = new_cli(tmp_path, settings, "policy", "list")
    assert listed.returncode == 0 and POLICY in listed.stdout
    again = new_cli(tmp_path, settings, "db", "upgrade")
    assert again.returncode == 0 and f"已是最新版本 {migrations.head()}" in again.stdout


def test_database_that_matches_no_revision_is_refused(
    old_release: Path, tmp_path: Path, db_settings: Settings
) -> None:
    settings = db_settings.model_copy(update={"var_dir": tmp_path / "var"})
    old_cli(old_release, tmp_path, settings, "db", "init")
    with engine_for(settings.effective_database_url).begin() as connection:
        connection.execute(text("ALTER TABLE unit ADD COLUMN nickname VARCHAR"))
    result = new_cli(tmp_path, settings, "db", "upgrade")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "表 unit 多出列 nickname" in result.stderr and "对不上" in result.stderr
    assert stamped(settings) is None  # nothing written


def test_newer_database_is_refused(tmp_path: Path, db_settings: Settings) -> None:
    init_db(db_settings)
    with get_engine(db_settings).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '99'"))
    forget_schema_checks()
    with pytest.raises(SchemaError, match="版本 99"):
        init_db(db_settings)
    result = new_cli(tmp_path, db_settings, "db", "upgrade")
    assert result.returncode == 2 and "新版 taskforce" in result.stderr


def test_processes_that_find_a_new_database_empty_make_it_once(
    tmp_path: Path, db_settings: Settings
) -> None:
    """Three commands started together on a new database: one makes the tables, the others
    wait for it and find nothing to do (without the lock, two of three failed on SQLite)."""
    start = time.time() + 3  # after the three interpreters have started
    script = (
        "import sys, time\n"
        "from config.settings import Settings\n"
        "from models.db import init_db\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "init_db(Settings(database_url=sys.argv[1]))\n"
    )
    url = db_settings.effective_database_url
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")}
    environment["PYTHONPATH"] = str(ROOT)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(start)],
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], errors
    assert stamped(db_settings) == migrations.head()
    with engine_for(url).connect() as connection:
        assert migrations.table_columns(connection) == migrations.model_tables()


def test_each_revision_goes_down_and_up_again(db_settings: Settings) -> None:
    engine = init_db(db_settings)
    for revision in reversed(migrations.revisions()[:-1]):
        migrations.downgrade(engine, revision)
        with engine.connect() as connection:
            assert migrations.table_columns(connection) == migrations.revision_tables()[revision]
    migrations.downgrade(engine, "base")
    with engine.connect() as connection:
        assert migrations.table_columns(connection) == {}
    migrations.upgrade(engine)
    forget_schema_checks()
    with engine.connect() as connection:
        assert migrations.schema_state(connection).kind == "current"
        assert migrations.table_columns(connection) == migrations.model_tables()


def test_tables_that_are_not_ours_are_left_alone(db_settings: Settings) -> None:
    """A database shared with something else (a Prefect server, a county's own table)."""
    engine = engine_for(db_settings.effective_database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE county_notes (id INTEGER PRIMARY KEY, note TEXT)"))
        connection.execute(text("INSERT INTO county_notes VALUES (1, '汛期')"))
    try:
        init_db(db_settings)  # still an empty database, as far as taskforce is concerned
        assert stamped(db_settings) == migrations.head()
        forget_schema_checks()
        with get_engine(db_settings).connect() as connection:
            assert migrations.schema_state(connection).kind == "current"
            assert connection.execute(text("SELECT note FROM county_notes")).all() == [("汛期",)]
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE county_notes"))


def test_revision_4_moves_the_stored_messages_out_of_the_outbox_rows_and_back(
    db_settings: Settings,
) -> None:
    """Revision 3 kept a queued mail's message in its outbox row; 4 keeps it in outboxmessage.
    A pending row's message moves with its bytes and attachment stamps, a sent row (which had
    dropped its own) gets none, and going down puts the message back in the row."""
    engine = engine_for(db_settings.effective_database_url)
    migrations.upgrade(engine, "3")
    message = b"Subject: =?utf-8?b?5o+Q6YaS?=\r\n\r\n\xe8\xaf\xb7\xe6\x8a\xa5\xe9\x80\x81\r\n"
    insert = text(
        'INSERT INTO notification (id, idempotency_key, kind, "to", cc, subject, body_text,'
        " body_html, attachments, status, claimed_by, claim_holder, attempts, server_reply,"
        " last_error, created_at, updated_at, mime, mime_sources) VALUES (:id, :key, 'reminder',"
        " '[\"a@example.org\"]', '[]', '提醒', '请报送', '', '[]', :status, '', '', 0, '', '',"
        " :at, :at, :mime, :sources)"
    )
    at = "2023-01-12 01:00:00.000000"
    with engine.begin() as connection:
        connection.execute(
            insert, {"id": 1, "key": "k1", "status": "pending", "at": at, "mime": message,
                     "sources": "[[9140, 1673485200000000000]]"},
        )  # fmt: skip
        connection.execute(
            insert,
            {"id": 2, "key": "k2", "status": "sent", "at": at, "mime": None, "sources": None},
        )
    migrations.upgrade(engine)
    with engine.connect() as connection:
        moved = connection.execute(
            text("SELECT notification_id, mime, sources FROM outboxmessage")
        ).all()
        assert "mime" not in migrations.table_columns(connection)["notification"]
    assert [(row_id, bytes(mime)) for row_id, mime, _ in moved] == [(1, message)]
    sources = moved[0][2]
    assert (json.loads(sources) if isinstance(sources, str) else sources) == [
        [9140, 1673485200000000000]
    ]
    migrations.downgrade(engine, "3")
    with engine.connect() as connection:
        back = connection.execute(text("SELECT id, mime FROM notification ORDER BY id")).all()
    assert [(row_id, mime and bytes(mime)) for row_id, mime in back] == [(1, message), (2, None)]


def test_revision_5_moves_the_bodies_out_of_the_outbox_rows_and_back(
    db_settings: Settings,
) -> None:
    """Revision 4 kept a mail's bodies in its outbox row; 5 keeps them in notificationbody, for
    every row (a sent mail's bodies are the office's record of it). Going down puts them back;
    the claim's partial index survives both ways (SQLite copies the table)."""
    engine = engine_for(db_settings.effective_database_url)
    migrations.upgrade(engine, "4")
    insert = text(
        'INSERT INTO notification (id, idempotency_key, kind, policy_id, "to", cc, subject,'
        " body_text, body_html, attachments, status, claimed_by, claim_holder, attempts,"
        " server_reply, last_error, created_at, updated_at) VALUES (:id, :key, 'reminder', NULL,"
        " '[\"a@example.org\"]', '[]', '提醒', :text, :html, '[]', :status, '', '', 0, '', '',"
        " :at, :at)"
    )
    at = "2023-01-12 01:00:00.000000"
    rows = [
        {"id": 1, "key": "k1", "text": "县人社局：\n请报送。\n" * 40, "html": "<p>请报送。</p>",
         "status": "pending", "at": at},
        {"id": 2, "key": "k2", "text": "请报送。", "html": "", "status": "sent", "at": at},
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert, rows)
    migrations.upgrade(engine)
    bodies = [(row["id"], row["text"], row["html"]) for row in rows]
    with engine.connect() as connection:
        moved = connection.execute(
            text("SELECT notification_id, body_text, body_html FROM notificationbody ORDER BY 1")
        ).all()
        assert {"body_text", "body_html"}.isdisjoint(
            migrations.table_columns(connection)["notification"]
        )
        assert _pending_index(connection)
    assert [tuple(row) for row in moved] == bodies
    migrations.downgrade(engine, "4")
    with engine.connect() as connection:
        back = connection.execute(
            text("SELECT id, body_text, body_html FROM notification ORDER BY id")
        ).all()
        assert "notificationbody" not in migrations.table_columns(connection)
        assert _pending_index(connection)
    assert [tuple(row) for row in back] == bodies


def _pending_index(connection: Any) -> bool:
    """Whether the claim's partial index of the pending rows is there, its WHERE with it."""
    if connection.dialect.name == "sqlite":
        sql = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'ix_notification_pending'")
        ).scalar()
    else:
        sql = connection.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_notification_pending'")
        ).scalar()
    return sql is not None and "pending" in sql.split("WHERE", 1)[-1]
