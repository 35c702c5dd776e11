"""Attack (issue 17 §4): no password leaves the process.

Canary secrets (distinct random strings) go in the SMTP and IMAP passwords, the form key and, on
PostgreSQL, the database URL of a role created for the test; the mail servers are down (ports
nobody listens on). ``remind``, ``intake`` (IMAP), ``consolidate`` and ``escalate`` then run as a
user runs them, as processes against the Prefect server ``taskforce up`` started under the test's
temp directory. Afterwards every byte the commands printed, every file under the temp directory
(var/, the SQLite database, the raw store, the Prefect server's database and logs) and, on
PostgreSQL, every row of the project's tables are searched for each canary: none may be found.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from config.settings import Settings
from models.db import engine_for
from tests.consolidation_fixture import load_month
from tests.helpers import BIN, free_port, load_seeds

POLICY = "lingchuan-2023"


def canary(what: str) -> str:
    # Hex only: a URL or a JSON document would store it as is, never escaped into another form.
    return f"canary{what}{secrets.token_hex(12)}"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """The database URL the commands use, and the canaries it holds.

    PostgreSQL when the test server is given (CI): a role with a canary password and its own
    database (other tests drop the shared database's tables), both dropped afterwards. The test
    server trusts loopback, so the password is not checked, but it is in the URL every command
    is given. Without it, SQLite, whose URL holds no password: one run, not both, as the
    PostgreSQL run covers all the SQLite one does (it takes half a minute).
    """
    admin_url = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")
    if not admin_url:
        yield f"sqlite:///{tmp_path / 'var' / 'taskforce.db'}", []
        return
    name = f"canary_{secrets.token_hex(6)}"
    password = canary("db")
    admin = engine_for(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
        connection.execute(text(f"CREATE DATABASE {name} OWNER {name}"))
    url = make_url(admin_url).set(username=name, password=password, database=name)
    try:
        yield url.render_as_string(hide_password=False), [password]
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"DROP ROLE IF EXISTS {name}"))
        admin.dispose()


def taskforce(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """The installed command, its output kept as bytes: every byte is searched."""
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, timeout=300)


def files_under(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def postgres_rows(url: str) -> str:
    """Every row of every table in the database, as PostgreSQL prints it (text, json, bytea)."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            return "\n".join(
                str(row)
                for table in list(tables)
                for row in connection.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
            )
    finally:
        engine.dispose()


def test_attack_canary_passwords_appear_nowhere(
    tmp_path: Path, database: tuple[str, list[str]]
) -> None:
    url, database_canaries = database
    canaries = [canary("smtp"), canary("imap"), canary("formkey"), *database_canaries]
    settings = Settings(var_dir=tmp_path / "var", database_url=url)
    load_seeds(settings, POLICY)
    spec = load_month(settings, "lingchuan-2023-02")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "PREFECT_"))},
        "TASKFORCE_VAR_DIR": str(tmp_path / "var"),
        "TASKFORCE_DATABASE_URL": url,
        "TASKFORCE_SMTP_PORT": str(free_port()),  # down
        "TASKFORCE_SMTP_USERNAME": "zhuanban-office",
        "TASKFORCE_SMTP_PASSWORD": canaries[0],
        "TASKFORCE_SMTP_BACKOFF_SECONDS": "0.01",
        "TASKFORCE_IMAP_HOST": "127.0.0.1",
        "TASKFORCE_IMAP_PORT": str(free_port()),  # down
        "TASKFORCE_IMAP_USERNAME": "zhuanban-office",
        "TASKFORCE_IMAP_PASSWORD": canaries[1],
        "TASKFORCE_FORM_KEY": canaries[2],
        # `up` starts its catcher on another port: the commands' SMTP server stays down.
        "TASKFORCE_MAILCATCHER_PORT": str(free_port()),
        "TASKFORCE_MAILCATCHER_DIRECTORY": str(tmp_path / "var" / "mail"),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    commands = {
        "remind": ("--as-of", "2023-01-17T09:00"),
        "intake": ("--source", "imap", "--as-of", "2023-03-06T18:00"),
        "consolidate": ("--as-of", spec["as_of"].isoformat()),
        "escalate": ("--as-of", "2023-03-06T10:00"),
    }
    up = taskforce(env, "up", "--port", str(free_port()))
    assert up.returncode == 0, up.stderr.decode()
    try:
        runs = {c: taskforce(env, c, "--policy", POLICY, *args) for c, args in commands.items()}
    finally:
        down = taskforce(env, "down")
    assert down.returncode == 0, down.stderr.decode()

    # The commands end as a user expects with the servers down: mail waits, said in Chinese, and
    # exit status 3 says so to a cron wrapper (issue 20 §4; it was 0).
    for command in ("remind", "consolidate", "escalate"):
        result = runs[command]
        stdout = result.stdout.decode()
        assert result.returncode == 3, (command, result.stderr.decode())
        assert f"邮件服务器 127.0.0.1:{env['TASKFORCE_SMTP_PORT']} 无法连接" in stdout, stdout
        assert stdout.splitlines()[-1].endswith("（邮件服务器无法连接）"), (command, stdout)
        assert "Traceback" not in result.stderr.decode(), command
    intake = runs["intake"]
    assert intake.returncode == 2, intake.stderr.decode()
    assert "错误：无法连接收件邮箱服务器 127.0.0.1:" in intake.stderr.decode()
    assert "Traceback" not in intake.stderr.decode()  # the UI's run log keeps it

    places: dict[str, bytes] = {}
    for command, result in runs.items():
        places[f"{command} stdout"] = result.stdout
        places[f"{command} stderr"] = result.stderr
    for path in files_under(tmp_path):
        places[str(path.relative_to(tmp_path))] = path.read_bytes()
    prefect_db = tmp_path / "var" / "prefect-server" / "prefect.db"
    assert prefect_db.is_file() and "var/prefect-server/prefect.db" in places
    if database_canaries:
        places["postgres rows"] = postgres_rows(url).encode()
    found = [
        (where, secret[:14])
        for secret in canaries
        for where, content in places.items()
        if secret.encode() in content
    ]
    assert found == []

    # What the server stores and shows as a run's parameters is what a user typed, no settings
    # (a masked copy of them would still show the servers, user names and paths).
    with sqlite3.connect(prefect_db) as connection:
        stored = connection.execute("SELECT parameters FROM flow_run").fetchall()
    assert len(stored) == 4  # one run per command: no sub-runs
    keys = {key for (parameters,) in stored for key in json.loads(parameters)}
    assert keys <= {"policy_code", "source", "as_of", "period", "obligation"}, stored
