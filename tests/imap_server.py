"""A real Dovecot IMAP server on a free loopback port for tests, with helpers to fill and read it.

Use the fixtures from any test module (``tests.imap_server`` is listed in conftest.py)::

    def test_x(imap_mailbox: DovecotServer) -> None:   # DovecotServer imported under TYPE_CHECKING
        uid = imap_mailbox.append(raw_bytes, datetime(2023, 1, 5, 9, tzinfo=SHANGHAI))
        source = ImapSource(imap_mailbox.imap_settings(processed_folder="已处理"))
        ...
        assert imap_mailbox.flags() == {uid: {"\\\\Seen", "$TaskforceIntake"}}
        assert imap_mailbox.count("已处理") == 1

``dovecot`` (session) starts Debian's Dovecot (``.ci/dovecot.sh`` installs it) as
``dovecot -F -c CONF`` in a process group of its own; ``imap_mailbox`` (function) empties every
folder first. Configuration, state and log live under pytest's temporary directory
(``…/dovecot0/dovecot.log`` is kept for post-mortems); the sockets and the mail (a Maildir per
user, owned by ``nobody``) live under a ``/tmp/taskforce-dovecot-*`` directory removed at the end,
because pytest's own directory is private to its user and Dovecot's mail processes run as
``nobody``. Run as a normal user, Dovecot runs entirely as that user instead.

Without a ``dovecot`` binary the tests are skipped with a visible reason, unless
``TASKFORCE_REQUIRE_IMAP=1`` (set by CI), which turns that into a failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from config.settings import ImapSettings
from tasks.mail.imap import decode_folder_name, encode_folder_name
from tests.helpers import free_port
from tests.smtp_server import wait_for_port

USERNAME = "office@lingchuan.example.org"
PASSWORD = "test-secret"
# A second account whose password is not ASCII (LOGIN cannot carry it; AUTHENTICATE PLAIN can).
UTF8_USERNAME = "zhuanban@xinjiang.example.org"
UTF8_PASSWORD = "专班密码2023"

_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def dovecot_binary() -> str | None:
    """The ``dovecot`` master binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("dovecot", path=_SBIN_PATH)


def _quoted(folder: str) -> str:
    return '"' + encode_folder_name(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class DovecotServer:
    """A running Dovecot: where it listens, who may log in, and helpers that talk IMAP to it."""

    host: str
    port: int
    username: str
    password: str
    process: subprocess.Popen[bytes]
    config_path: Path
    log_path: Path
    mail_root: Path  # homes: <mail_root>/<user>/Maildir
    startup_seconds: float = 0.0
    extra_users: dict[str, str] = field(default_factory=dict)

    # --- for the code under test --------------------------------------------------------

    def imap_settings(self, **overrides: Any) -> ImapSettings:
        """Client settings for this server and its user: plain IMAP, a short timeout."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "ssl": False,
            "folder": "INBOX",
            "processed_folder": "",
            "timeout": 5.0,
        }
        values.update(overrides)
        return ImapSettings(**values)

    # --- helpers (plain imaplib, independent of tasks.mail.imap except folder names) ----

    def connect(self) -> imaplib.IMAP4:
        """A logged-in imaplib connection as the test user; the caller logs out."""
        connection = imaplib.IMAP4(self.host, self.port, timeout=5)
        connection.login(self.username, self.password)
        return connection

    def append(self, content: bytes, internaldate: datetime, folder: str = "INBOX") -> int:
        """APPEND a message with this INTERNALDATE (aware); creates the folder; returns its UID."""
        if internaldate.tzinfo is None:
            raise ValueError("internaldate must be timezone-aware")
        connection = self.connect()
        try:
            if folder.upper() != "INBOX":
                connection.create(_quoted(folder))  # NO [ALREADYEXISTS] when there: fine
            typ, data = connection.append(
                _quoted(folder), None, imaplib.Time2Internaldate(internaldate), content
            )
            assert typ == "OK", data
            # Dovecot has UIDPLUS: "[APPENDUID <uidvalidity> <uid>] Append completed."
            _, appenduid = connection.response("APPENDUID")
            return int(appenduid[-1].split()[-1])
        finally:
            connection.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """Each message's flags and keywords by UID (``\\Recent`` left out: it is per session)."""
        connection = self.connect()
        try:
            typ, data = connection.select(_quoted(folder), readonly=True)
            assert typ == "OK", data
            typ, data = connection.uid("FETCH", "1:*", "(UID FLAGS)")
            assert typ == "OK", data
            result: dict[int, set[str]] = {}
            for item in data:
                if not isinstance(item, bytes):
                    continue
                uid = re.search(rb"UID (\d+)", item)
                flags = re.search(rb"FLAGS \(([^)]*)\)", item)
                if uid and flags:
                    names = set(flags.group(1).decode().split()) - {"\\Recent"}
                    result[int(uid.group(1))] = names
            return result
        finally:
            connection.logout()

    def count(self, folder: str = "INBOX") -> int:
        """How many messages the folder holds (``\\Deleted`` ones included until expunged)."""
        connection = self.connect()
        try:
            typ, data = connection.status(_quoted(folder), "(MESSAGES)")
            assert typ == "OK", data
            found = re.search(rb"MESSAGES (\d+)", data[0] or b"")
            assert found is not None, data
            return int(found.group(1))
        finally:
            connection.logout()

    def uidvalidity(self, folder: str = "INBOX") -> int:
        connection = self.connect()
        try:
            typ, data = connection.status(_quoted(folder), "(UIDVALIDITY)")
            assert typ == "OK", data
            found = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            assert found is not None, data
            return int(found.group(1))
        finally:
            connection.logout()

    def folders(self) -> list[str]:
        """Every folder's name, decoded from modified UTF-7."""
        connection = self.connect()
        try:
            return self._folders(connection)
        finally:
            connection.logout()

    @staticmethod
    def _folders(connection: imaplib.IMAP4) -> list[str]:
        typ, data = connection.list()
        assert typ == "OK", data
        names = []
        for line in data:
            if not isinstance(line, bytes):
                continue
            # (\HasNoChildren) "." "&XfJZBHQG-"   or   … "." INBOX
            match = re.match(rb'\([^)]*\) (?:"[^"]*"|NIL) (?:"((?:[^"\\]|\\.)*)"|(\S+))$', line)
            assert match is not None, line
            raw = (match.group(1) or match.group(2)).decode("ascii")
            names.append(decode_folder_name(re.sub(r"\\(.)", r"\1", raw)))
        return names

    def clear(self) -> None:
        """Expunge every message of every folder; delete every folder but INBOX."""
        connection = self.connect()
        try:
            for folder in self._folders(connection):
                typ, data = connection.select(_quoted(folder))
                assert typ == "OK", data
                if int(data[0] or 0):
                    connection.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                    connection.expunge()
                connection.close()
                if folder.upper() != "INBOX":
                    connection.unsubscribe(_quoted(folder))
                    typ, data = connection.delete(_quoted(folder))
                    assert typ == "OK", data
        finally:
            connection.logout()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- life cycle ---------------------------------------------------------------------

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the whole process group, then wait until none of it is left.

        The master alone takes about 2 s to wind its children down; signalled together, they all
        end at once (each logs "Killed with signal 15") and the master reaps them before it exits.
        """
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        # A zombie still belongs to the group, so an empty group also means none was left
        # unreaped (orphans go to PID 1, which in a container may be slow to reap or never do).
        deadline = time.monotonic() + timeout
        while _group_alive(process.pid):
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                raise AssertionError(f"Dovecot processes left in process group {process.pid}")
            time.sleep(0.02)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when pytest dies without its teardown (kill -9), so
    no stray Dovecot keeps running as root. Linux only; elsewhere nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _config(
    *,
    port: int,
    base_dir: Path,
    state_dir: Path,
    log_path: Path,
    passwd_file: Path,
    mail_root: Path,
    uid: int,
    gid: int,
    as_user: str | None,
    as_group: str | None = None,
) -> str:
    """A self-contained dovecot.conf (Debian's /etc/dovecot is not read)."""
    unprivileged = ""
    if as_user is not None:
        # Everything as the calling user: no chroots, no privilege changes.
        unprivileged = f"""
default_internal_user = {as_user}
default_internal_group = {as_group}
default_login_user = {as_user}
service imap-login {{
  chroot =
}}
"""
    return f"""# written by tests/imap_server.py
protocols = imap
listen = 127.0.0.1
base_dir = {base_dir}
state_dir = {state_dir}
log_path = {log_path}
info_log_path = {log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in with wrong passwords on purpose: no 2 s delay per failure (0.5 s remain, built
# in); and no penalty for the next logins from 127.0.0.1 (see service anvil below).
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
first_valid_uid = 1
protocol imap {{
  mail_max_userip_connections = 100
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd_file}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail_root}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # Dovecot's documented switch-off of the auth penalty (2 s, 4 s … for an IP after failures).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{unprivileged}"""


def start_dovecot(directory: Path, attempts: int = 3) -> DovecotServer:
    """Write a configuration under ``directory`` and start Dovecot; fails with its log."""
    binary = dovecot_binary()
    assert binary is not None
    root = os.geteuid() == 0
    if root:
        uid = gid = 65534  # nobody / nogroup
        as_user = as_group = None
    else:
        uid, gid = os.getuid(), os.getgid()
        as_user, as_group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    # Sockets and mail under /tmp: reachable by nobody (pytest's directory is 0700), short
    # enough for unix socket paths.
    runtime = Path(tempfile.mkdtemp(prefix="taskforce-dovecot-"))
    runtime.chmod(0o755)
    base_dir, mail_root = runtime / "run", runtime / "mail"
    base_dir.mkdir()
    mail_root.mkdir()
    if root:
        os.chown(mail_root, uid, gid)
    mail_root.chmod(0o700)
    state_dir = directory / "state"
    state_dir.mkdir(exist_ok=True)
    log_path = directory / "dovecot.log"
    # Read by the auth process, which runs as the "dovecot" user: beside the sockets.
    passwd_file = runtime / "users"
    users = {USERNAME: PASSWORD, UTF8_USERNAME: UTF8_PASSWORD}
    passwd_file.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))
    passwd_file.chmod(0o644)
    config_path = directory / "dovecot.conf"
    problem = ""
    for _ in range(attempts):
        port = free_port()
        config_path.write_text(
            _config(
                port=port,
                base_dir=base_dir,
                state_dir=state_dir,
                log_path=log_path,
                passwd_file=passwd_file,
                mail_root=mail_root,
                uid=uid,
                gid=gid,
                as_user=as_user,
                as_group=as_group,
            )
        )
        started = time.monotonic()
        with (directory / "dovecot.stderr").open("ab") as stderr:
            process = subprocess.Popen(
                [binary, "-F", "-c", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group: stop() signals all of it
                preexec_fn=_die_with_parent,
            )
        server = DovecotServer(
            host="127.0.0.1",
            port=port,
            username=USERNAME,
            password=PASSWORD,
            process=process,
            config_path=config_path,
            log_path=log_path,
            mail_root=mail_root,
            extra_users={UTF8_USERNAME: UTF8_PASSWORD},
        )
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            try:
                wait_for_port(server.host, port, timeout=0.2)
                server.connect().logout()  # listening is not enough: auth must be up too
            except (OSError, imaplib.IMAP4.error):
                time.sleep(0.02)
                continue
            server.startup_seconds = time.monotonic() - started
            return server
        server.stop()
        stderr_text = (directory / "dovecot.stderr").read_text(errors="replace")
        problem = f"{stderr_text}\n{server.log()}".strip()
        if "Address already in use" not in problem:
            break  # not a port race: retrying will not help
    shutil.rmtree(runtime, ignore_errors=True)
    raise RuntimeError(f"Dovecot did not start ({config_path}):\n{problem[-3000:]}")


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """A running Dovecot for the whole session; skipped (or failed under CI) when not installed."""
    if dovecot_binary() is None:
        reason = "Dovecot not installed: run .ci/dovecot.sh"
        if os.environ.get("TASKFORCE_REQUIRE_IMAP") == "1":
            pytest.fail(f"{reason} (TASKFORCE_REQUIRE_IMAP=1: the IMAP tests must run)", False)
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("dovecot")
    try:
        server = start_dovecot(directory)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.mail_root.parent, ignore_errors=True)


@pytest.fixture
def imap_mailbox(dovecot: DovecotServer) -> DovecotServer:
    """The session's Dovecot with every folder emptied (and every folder but INBOX deleted)."""
    dovecot.clear()
    return dovecot
