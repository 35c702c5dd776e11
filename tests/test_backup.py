"""The README's backup and restore commands, run as written, on SQLite and PostgreSQL.

A day as the demo has it (policies loaded, February's notices with their forms out, one bureau's
reply taken in), then the README's backup block, the data directory wiped (and the PostgreSQL
tables dropped), the README's restore block, and the next day: no mail goes out a second time,
and a form signed before the backup is still accepted when it comes back.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections import Counter
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from models.db import engine_for
from tasks.demo.bureaus import fill_form
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.forms.keys import form_keys
from tests.helpers import ROOT, drop_everything, invoke_cli, load_seeds
from tests.intake_helpers import XLSX, at, form_of, office_mailbox, reply

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

POLICY = "lingchuan-2023"
README = ROOT / "README.md"


def readme_block(info: str) -> str:
    """The body of the README's one fenced block with this info string."""
    found = re.findall(rf"^```{re.escape(info)}\n(.*?)^```", README.read_text("utf-8"), re.M | re.S)
    assert len(found) == 1, f"README.md has no ```{info} block (or more than one): {len(found)}"
    return str(found[0])


def run_block(info: str, checkout: Path, database_url: str | None) -> None:
    """Run a README block in bash at the checkout's root, as the office would paste it."""
    bin_dir = Path(sys.executable).parent
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "PREFECT_"))
    }
    environment.update(
        PATH=f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}",
        PREFECT_HOME=str(checkout / "var" / "prefect"),
    )
    if database_url:
        environment["TASKFORCE_DATABASE_URL"] = database_url
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_block(info)],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"```{info}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr


def keys_sent(smtp_server: SmtpServer) -> Counter[str]:
    return Counter(str(m.message["X-Taskforce-Key"]) for m in smtp_server.messages)


def notice_to(smtp_server: SmtpServer, unit: str) -> EmailMessage:
    """February's opening notice to a unit, as the mail server received it."""
    key = f"{POLICY}/monthly-progress/2023-02/{unit}/opening/open"
    [found] = [m.raw for m in smtp_server.messages if m.message["X-Taskforce-Key"] == key]
    message = email.message_from_bytes(found, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def return_form(settings: Settings, notice: EmailMessage, unit: str, day: date) -> None:
    """The unit fills the form its notice carried and replies; the reply lands in the Maildir."""
    mailbox = office_mailbox(settings, POLICY)
    name, blank = form_of(notice)
    filled = fill_form(blank, form_keys(settings).current, day=day)
    message = reply(notice, sender=f"{unit}@lingchuan.example.org", office=mailbox,
                    attachments=[(name, filled, XLSX)])  # fmt: skip
    deliver_to_maildir(settings.maildir_root / mailbox, bytes(message), message["From"], mailbox,
                       received_at=at(day, 10))  # fmt: skip


def submissions(checkout: Path, env: dict[str, str]) -> dict[str, Any]:
    result = invoke_cli(checkout, "submissions", "--policy", POLICY, "--period", "2023-02",
                        "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return {row["unit_code"]: row for row in rows if row["status"] != "missing"}


def test_restore_from_the_readme_backup_sends_nothing_twice(
    tmp_path: Path, db_settings: Settings, prefect_server: None, smtp_server: SmtpServer
) -> None:
    checkout = tmp_path / "checkout"  # the commands run at a checkout's root: .venv and var/
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.executable).parent.parent)
    sqlite = db_settings.database_url.startswith("sqlite")
    database_url = None if sqlite else db_settings.database_url
    settings = db_settings.model_copy(
        update={"var_dir": checkout / "var", "database_url": database_url or ""}
    )
    env = {"TASKFORCE_SMTP_HOST": smtp_server.host, "TASKFORCE_SMTP_PORT": str(smtp_server.port)}
    if database_url:
        env["TASKFORCE_DATABASE_URL"] = database_url

    # The day before the backup: notices and forms out, the 人社局's reply taken in.
    load_seeds(settings)
    opened = invoke_cli(checkout, "remind", "--policy", POLICY, "--as-of", "2023-02-23T09:30",
                        env=env)  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    return_form(settings, notice_to(smtp_server, "rsj"), "rsj", date(2023, 2, 27))
    taken = invoke_cli(checkout, "intake", "--policy", POLICY, "--as-of", "2023-02-27T18:00",
                       env=env)  # fmt: skip
    assert taken.returncode == 0, taken.stderr
    assert submissions(checkout, env)["rsj"]["status"] == "accepted"
    sent_before = keys_sent(smtp_server)
    assert len(sent_before) > 30 and max(sent_before.values()) == 1

    backend = "sqlite" if sqlite else "postgresql"
    run_block(f"bash backup-{backend}", checkout, database_url)
    backups = sorted(p.name for p in (checkout / "backup").iterdir())
    assert len(backups) == 3, backups
    [secrets] = (checkout / "backup").glob("secrets-*.tar")
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600

    # The machine is lost: the data directory and the database's tables are gone.
    maildir = settings.maildir_root  # the office's mailbox lives on the mail server, not in var/
    shutil.move(maildir, tmp_path / "maildir")
    shutil.rmtree(checkout / "var")
    if database_url:
        drop_everything(engine_for(database_url))
    else:
        engine_for(settings.effective_database_url).dispose()

    run_block(f"bash restore-{backend}", checkout, database_url)
    shutil.move(tmp_path / "maildir", maildir)
    key_file = checkout / "var" / "secrets" / "form-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # The next day: the reminders of 1 March go to those who have not reported, the 交通局
    # returns the form it was sent before the backup, and nothing goes out twice.
    again = invoke_cli(checkout, "remind", "--policy", POLICY, "--as-of", "2023-02-23T09:30",
                       "--as-of", "2023-03-01T09:00", env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    return_form(settings, notice_to(smtp_server, "jtj"), "jtj", date(2023, 3, 1))
    taken = invoke_cli(checkout, "intake", "--policy", POLICY, "--as-of", "2023-03-01T18:00",
                       env=env)  # fmt: skip
    assert taken.returncode == 0, taken.stderr
    reported = submissions(checkout, env)
    assert reported["rsj"]["status"] == "accepted"  # restored
    assert reported["jtj"]["status"] == "accepted"  # signed before the backup, verified after
    sent_after = keys_sent(smtp_server)
    assert max(sent_after.values()) == 1, [k for k, n in sent_after.items() if n > 1]
    reminded = [k for k in sent_after if k.endswith("/2023-03-01")]
    assert reminded and not any("/rsj/" in k for k in reminded)
    assert len(sent_after) > len(sent_before)
