"""Shared test helpers: paths, seed loading, the clock, free ports and the command line.

Test modules import from here (or from the server modules ``tests/smtp_server.py`` and
``tests/imap_server.py``), never from ``conftest`` or from another test module.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from config.loading import PolicyBundle, load_policy_file
from config.schema import Role
from config.settings import CONFIG_DIR, Settings
from tasks.calendar import SHANGHAI

if TYPE_CHECKING:
    from models import tables as t
    from models.outbox import ClaimedRow

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SEEDS = DATA / "seeds"
POLICY_FILES = {
    "lingchuan-2023": CONFIG_DIR / "policies" / "lingchuan-2023.yaml",
    "xinjiang-2022": CONFIG_DIR / "policies" / "xinjiang-2022.yaml",
}
BIN = Path(sys.executable).parent / "taskforce"
UPDATE_GOLDEN = os.environ.get("TASKFORCE_UPDATE_GOLDEN") == "1"


def load_seeds(settings: Settings, *codes: str) -> Settings:
    """Create the tables and load the named seed policies (all when none named), as a CLI would."""
    from datetime import UTC

    from models.db import init_db, session_scope
    from models.policy_store import load_policy
    from tasks.calendar import WorkingCalendar
    from tasks.cycles import cycles_for_policy

    init_db(settings)
    calendar = WorkingCalendar()
    for code in codes or tuple(POLICY_FILES):
        bundle = load_policy_file(POLICY_FILES[code], settings)
        with session_scope(settings) as session:
            load_policy(
                session,
                bundle,
                cycles_for_policy(bundle.policy, calendar),
                now=datetime(2022, 10, 1, tzinfo=UTC),
            )
    return settings


def check_golden(golden: Path, actual: bytes) -> None:
    """Compare with a golden file; TASKFORCE_UPDATE_GOLDEN=1 rewrites a differing one and fails.

    The rewrite fails the test on purpose, so that an update run never passes: the new file is
    to be read (``git diff``) before the test is run again without the variable.
    """
    if UPDATE_GOLDEN and (not golden.exists() or golden.read_bytes() != actual):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(actual)
        pytest.fail(f"{golden} rewritten: read the diff, then run again without the variable")
    assert golden.exists(), f"{golden} missing: run with TASKFORCE_UPDATE_GOLDEN=1"
    assert actual == golden.read_bytes(), f"{golden} differs"


class MailBody(NamedTuple):
    text: str
    html: str


def mail_body(settings: Settings, row: t.Notification | ClaimedRow) -> MailBody:
    """The text and HTML bodies of a queued mail (an outbox row; kept in a table of their own)."""
    from models.db import session_scope
    from models.outbox import read_bodies

    with session_scope(settings) as session:
        assert row.id is not None
        return MailBody(*read_bodies(session, [row.id])[row.id])


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """That day at hour:minute, Beijing time."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for servers started by another process)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_cli(
    tmp_path: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m flows.cli ARGS`` as a user runs it, with its var directory under tmp_path
    (and the extra ``TASKFORCE_`` variables in ``env``)."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")},
        "TASKFORCE_VAR_DIR": str(tmp_path / "var"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class CliResult:
    """What :func:`invoke_cli` returns: the fields of ``run_cli``'s result that tests read."""

    returncode: int
    stdout: str
    stderr: str


def invoke_cli(tmp_path: Path, *args: str, env: Mapping[str, str] | None = None) -> CliResult:
    """``taskforce ARGS`` in this process: ``flows.cli.main`` with ``run_cli``'s environment.

    The entry point itself runs (a user error is one line on stderr and exit code 2, an
    unexpected exception a traceback and exit code 1), without the 2–3 s of starting Python and
    the CLI's imports, and, for a command that runs a flow, without starting Prefect's temporary
    server (7–14 s): a test that runs one requests the session's ``prefect_server`` fixture, and
    the command is pointed at that server through ``PREFECT_API_URL``, as ``taskforce up``
    points it at its own. Settings are read from the environment when the command runs
    (``TASKFORCE_VAR_DIR`` under tmp_path, no other ``TASKFORCE_`` variable but those in env);
    the process environment is restored afterwards, whatever the command set in it.

    Keep ``run_cli`` where the process is what is tested: its exit status, start-up imports,
    signals, ``up``/``down``, ``serve``. Call this from sync tests only: the commands that run
    flows call ``asyncio.run``.
    """
    # Prefect configures its logging when first imported, its console handler on the sys.stderr
    # of that moment: imported by a command, that would be the runner's, closed afterwards.
    import prefect.main  # noqa: F401  (already imported in a whole run: flow tests import it)
    from typer.testing import CliRunner

    from flows.cli import main
    from flows.cli.common import out

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("invoke_cli in an event loop: the command's asyncio.run would fail")
    overrides: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("TASKFORCE_")
    }
    overrides["TASKFORCE_VAR_DIR"] = str(tmp_path / "var")
    overrides.update(env or {})
    api_url = _harness_api_url()
    if api_url:
        overrides["PREFECT_API_URL"] = api_url
    noted = tmp_path / "var" / "run" / "temporary-server-noted"
    already_noted = noted.exists()
    saved = sys.argv, sys.excepthook, out._width
    saved_environ = dict(os.environ)
    returncode = 0
    with CliRunner().isolation(env=overrides) as (stdout, stderr, _):
        sys.argv = ["taskforce", *args]
        out.width = 120  # as piped (flows.cli.common), even when pytest -s runs in a terminal
        try:
            main()
        except SystemExit as exc:  # click's standalone mode ends every command with one
            if isinstance(exc.code, str):
                sys.stderr.write(exc.code + "\n")
            returncode = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except Exception:
            traceback.print_exc()  # as the interpreter prints it before exiting with 1
            returncode = 1
        finally:
            sys.argv, sys.excepthook, out._width = saved  # typer's app() installs its excepthook
            sys.stdout.flush()
            sys.stderr.flush()
        result = CliResult(
            returncode, stdout.getvalue().decode("utf-8"), stderr.getvalue().decode("utf-8")
        )
    for name in set(os.environ) - set(saved_environ):  # use_running_server may set some
        del os.environ[name]
    for name, value in saved_environ.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
    if noted.exists() and not already_noted:
        raise AssertionError(
            f"taskforce {' '.join(args)} ran a flow on a temporary Prefect server: "
            "request the prefect_server fixture"
        )
    return result


def _harness_api_url() -> str | None:
    """The API URL of the Prefect server in use by this process (the test harness's), if any."""
    if "prefect.settings" not in sys.modules:
        return None  # nothing imported Prefect: no harness is running
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def taskforce(
    env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """The installed ``taskforce`` script with exactly the environment given."""
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


# Forms: a notice context as the reminder step builds it, from the real policy YAML.
FORM_KEY = b"test-form-key"
FORM_AS_OF = datetime(2023, 1, 12, 9, 30, tzinfo=SHANGHAI)


@cache
def policy_bundle(policy: str) -> PolicyBundle:
    return load_policy_file(CONFIG_DIR / "policies" / f"{policy}.yaml", Settings())


def unit_measures(policy: str, unit: str) -> list[dict[str, Any]]:
    """The unit's measures in policy order, shaped as the notice context carries them."""
    b = policy_bundle(policy)
    out = []
    for measure in b.policy.measures:
        roles = [role for name, role, _ in b.effective_units(measure) if name == unit]
        if roles:
            out.append(
                {
                    "number": measure.number,
                    "title": measure.title,
                    "role": roles[0],
                    "role_label": Role(roles[0]).label,
                    "targets": [
                        {
                            "metric": t.metric,
                            "value": t.value,
                            "unit": t.unit,
                            "due": t.due,
                            "due_phrase": t.due_phrase,
                        }
                        for t in measure.targets
                    ],
                }
            )
    return out


def form_context(
    policy: str, obligation: str, unit: str, period: str, label: str, due: date
) -> dict[str, Any]:
    """A notice context as the lead builds it, from the real YAML."""
    b = policy_bundle(policy)
    p = b.policy
    ob = next(o for o in p.obligations if o.code == obligation)
    entry = b.resolver.unit(unit)
    office = p.task_force.office
    return {
        "kind": "opening",
        "unit": {
            "code": entry.code,
            "name": entry.name,
            "full_name": entry.full_name,
            "kind": entry.kind.value,
        },
        "policy": {
            "code": p.code,
            "county": p.county,
            "doc_number": p.document.number,
            "title": p.document.title,
            "issuer": p.document.issuer,
        },
        "obligation": {
            "code": ob.code,
            "name": ob.name,
            "frequency": ob.frequency,
            "content": [f.model_dump() for f in ob.content],
            "submit_to": ob.submit_to,
            "paper_copy": ob.paper_copy,
            "source_text": ob.source_text,
        },
        "cycle": {"period": period, "period_label": label, "due_date": due},
        "measures": unit_measures(policy, unit),
        "office": {"name": office.name, "mailbox": office.mailbox},
        "reply": {"mailbox": office.mailbox, "attachment_name": ""},
        "as_of": FORM_AS_OF,
    }


def markdown_cells(row: str) -> list[str]:
    """The cells of a Markdown table row, splitting only on unescaped ``|``."""
    import re

    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def dkim_key_pair() -> tuple[bytes, bytes]:
    """A fresh DKIM key: (private key PEM, the TXT record a unit publishes at
    <selector>._domainkey.<its domain>)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def drop_everything(engine: Any) -> None:
    """Drop the tables of the models and of the migrations (``alembic_version``), for a test
    database that is used again (PostgreSQL): the next ``init_db`` starts from an empty one."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    from models.db import forget_schema_checks

    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    forget_schema_checks()
