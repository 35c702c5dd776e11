"""Shared fixtures: settings built from explicit values, a real SQLite file per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import CalendarSettings, Settings, SmtpSettings
from tests.helpers import drop_everything, free_port

pytest_plugins = ["tests.smtp_server", "tests.imap_server"]  # real aiosmtpd and Dovecot servers


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test``), each worker process its own PostgreSQL database:
    ``db_settings`` empties its database before and after each test, so two workers sharing one
    would drop each other's tables mid-test."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")
    if worker and url:
        os.environ["TASKFORCE_TEST_POSTGRES_URL"] = worker_database(url, worker)


def worker_database(url: str, worker: str) -> str:
    """``url`` with its database renamed ``<name>_<worker>``, created when missing."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TASKFORCE_ variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("TASKFORCE_") and name not in (
            "TASKFORCE_TEST_POSTGRES_URL",
            "TASKFORCE_REQUIRE_POSTGRES",
            "TASKFORCE_REQUIRE_IMAP",
            "TASKFORCE_REQUIRE_BROWSER",
            "TASKFORCE_REQUIRE_LIBREOFFICE",
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Real config files, a fresh SQLite file under the test's temp directory.

    Mail goes to a port nobody listens on, retried at once: a test that checks what was sent
    gives its own server (``smtp_server``); the others would otherwise wait 3.5 s per delivery
    for the default backoff, or send to a developer's own mail catcher on port 8025.
    """
    return Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'var' / 'taskforce.db'}",
        calendar=CalendarSettings(holidays_dir=tmp_path / "no-holiday-files"),
        smtp=SmtpSettings(port=free_port(), backoff_seconds=0.01),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def db_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """The same test on SQLite, and on PostgreSQL when TASKFORCE_TEST_POSTGRES_URL is given."""
    if request.param == "sqlite":
        yield settings
        return
    url = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL not set: PostgreSQL run not requested")
    from models.db import engine_for

    engine = engine_for(url)
    drop_everything(engine)
    yield settings.model_copy(update={"database_url": url})
    drop_everything(engine)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server and database for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
