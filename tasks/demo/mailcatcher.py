"""The embedded mail catcher: an aiosmtpd server that keeps every message as an ``.eml`` file.

For the demo and for tests: ``taskforce mailcatcher`` runs it in the foreground, a test starts it
in-process (``with MailCatcher(settings): ...``) or as a subprocess. The server runs in a thread
of its own (``aiosmtpd.controller.Controller``), so it works the same beside a sync CLI and beside
the event loop of an async test, and a sender in the same loop cannot starve it.

Each message becomes ``<directory>/<UTC time>-<sha256[:12]>.eml``:

- the bytes exactly as received in DATA (CRLF line ends, transfer encodings untouched), preceded
  by two header lines the catcher adds, as an MTA adds ``Return-Path`` at delivery:
  ``X-Envelope-From: <sender>`` and ``X-Envelope-To: <a>, <b>``. The envelope is what the
  server was told, including Bcc recipients no header shows; ``email.message_from_bytes`` reads
  the file as one message.
- the hash is of the Message-ID (of the bytes when there is none), so the same notice delivered
  twice shows up as two files with the same suffix: a duplicate is visible with ``ls``. (Not of
  the bytes: MIME boundaries are drawn at random each time a message is serialised.)
- written to a hidden temporary name and renamed, so a reader never sees half a file.

Every recipient is accepted. A message addressed to a task force office's mailbox (the
``office.mailbox`` of each policy file) is also delivered into that office's Maildir,
``<maildir_root>/<mailbox>/new/``, with ``Return-Path``, ``Delivered-To`` and a ``Received`` line
stamped with the time of arrival, as a real mail server delivers it: intake reads it from there
(``tasks/mail/sources.py MaildirSource``), so the demo closes the loop without an outside server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import hashlib
import itertools
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from config.errors import MailCatcherError
from config.loading import read_yaml
from config.settings import MailCatcherSettings, Settings
from tasks.calendar import SHANGHAI

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaughtMail:
    """One stored message, as the catcher saw it."""

    path: Path
    received_at: datetime  # UTC
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str  # decoded from RFC 2047
    size: int  # bytes received in DATA


def summary_line(mail: CaughtMail) -> str:
    """One line per message for the console: local time, sender, recipients, subject, file."""
    local = mail.received_at.astimezone(SHANGHAI)
    to = ", ".join(mail.rcpt_tos)
    return (
        f"{local:%Y-%m-%d %H:%M:%S}  {mail.mail_from} → {to}  《{mail.subject}》  {mail.path.name}"
    )


def print_summary(mail: CaughtMail) -> None:
    """The default callback: print ``summary_line`` at once (a pipe would otherwise buffer it)."""
    print(summary_line(mail), flush=True)


def store_message(
    directory: Path,
    content: bytes,
    mail_from: str,
    rcpt_tos: tuple[str, ...],
    *,
    received_at: datetime,
) -> CaughtMail:
    """Write one received message as an ``.eml`` file, envelope lines first."""
    message_id, subject = _headers(content)
    # The hash names the message, not its bytes: MIME boundaries are random at every
    # serialisation, so a resent duplicate differs in bytes but keeps its Message-ID.
    named_by = message_id.encode("utf-8", "surrogateescape") if message_id else content
    digest = hashlib.sha256(named_by).hexdigest()[:12]
    stamp = received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    envelope = (
        f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: "
        + ", ".join(f"<{address}>" for address in rcpt_tos)
        + "\r\n"
    ).encode("utf-8", "surrogateescape")  # SMTPUTF8 addresses arrive surrogate-escaped
    path = directory / f"{stamp}-{digest}.eml"
    serial = 1
    while path.exists():  # the same message twice in the same microsecond: keep both
        serial += 1
        path = directory / f"{stamp}-{digest}-{serial}.eml"
    partial = directory / f".{path.name}.tmp"
    partial.write_bytes(envelope + content)
    os.replace(partial, path)
    return CaughtMail(
        path=path,
        received_at=received_at,
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        subject=subject,
        size=len(content),
    )


_delivery_serial = itertools.count(1)


def deliver_to_maildir(
    maildir: Path,
    content: bytes,
    mail_from: str,
    recipient: str,
    *,
    received_at: datetime,
    peer: str = "",
) -> Path:
    """File one message into a Maildir as a delivering mail server would: tmp/, then new/."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    stamp = email.utils.format_datetime(received_at.astimezone(SHANGHAI))
    trace = (
        f"Return-Path: <{mail_from}>\r\n"
        f"Delivered-To: {recipient}\r\n"
        f"Received: from [{peer or 'unknown'}]\r\n"
        f"\tby taskforce-mailcatcher with ESMTP\r\n"
        f"\tfor <{recipient}>; {stamp}\r\n"
    ).encode("utf-8", "surrogateescape")
    seconds = received_at.timestamp()
    name = (
        f"{int(seconds)}.M{int(seconds % 1 * 1e6):06d}P{os.getpid()}"
        f"Q{next(_delivery_serial)}.{socket.gethostname().replace('/', '_')}"
    )
    partial = maildir / "tmp" / name
    partial.write_bytes(trace + content)
    os.replace(partial, maildir / "new" / name)
    return maildir / "new" / name


def office_maildirs(policies_dir: Path, maildir_root: Path) -> dict[str, Path]:
    """Each policy's office mailbox (lower case) → its Maildir under ``maildir_root``."""
    found: dict[str, Path] = {}
    for file in sorted(policies_dir.glob("*.yaml")):
        try:
            mailbox = str(read_yaml(file)["task_force"]["office"]["mailbox"]).strip().lower()
        except Exception as exc:  # a broken policy file is the loader's to report
            logger.warning("未能从 %s 读出办公室邮箱：%s", file, exc)
            continue
        if mailbox:
            found[mailbox] = maildir_root / mailbox
    return found


DEMO_CLOCK_HEADER = "X-Taskforce-Demo-Received"


def demo_arrival(content: bytes) -> datetime | None:
    """When a demo catcher says a message arrived: the simulated arrival time a demo bureau puts
    on its reply, else the message's own Date (the system dates its mail at the replayed moment
    it was written); None when neither can be read.

    Only a demo catcher reads these: the demo replays 2023 in minutes, lateness is measured
    against the arrival time, and the stored files then sort and read as the quarter went.
    """
    try:
        parsed = email.message_from_bytes(content, policy=email.policy.compat32)
        value = parsed.get(DEMO_CLOCK_HEADER) or parsed.get("Date")
        moment = email.utils.parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment is not None and moment.tzinfo else None


def _headers(content: bytes) -> tuple[str, str]:
    """Message-ID and decoded Subject; blank when the sender's headers cannot be read."""
    try:
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        return str(parsed.get("Message-ID", "")).strip(), str(parsed.get("Subject", ""))
    except Exception as exc:  # the email package can trip over a malformed header
        # Storing the message matters more than naming it well.
        logger.warning("收到的邮件信头无法解读：%r", exc)
        return "", ""


class _StoringHandler:
    """aiosmtpd handler: store, report, answer 250; a disk that refuses makes the sender retry."""

    def __init__(
        self,
        directory: Path,
        on_message: Callable[[CaughtMail], None] | None,
        maildirs: Mapping[str, Path],
        demo_clock: bool = False,
    ) -> None:
        self.directory = directory
        self.demo_clock = demo_clock
        self.on_message = on_message
        self.maildirs = {address.lower(): path for address, path in maildirs.items()}
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        received_at = datetime.now(UTC)
        if self.demo_clock:
            received_at = demo_arrival(content) or received_at
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        try:
            caught = store_message(
                self.directory,
                content,
                envelope.mail_from or "",
                tuple(envelope.rcpt_tos),
                received_at=received_at,
            )
            for recipient in dict.fromkeys(r.lower() for r in envelope.rcpt_tos):
                if recipient in self.maildirs:
                    deliver_to_maildir(
                        self.maildirs[recipient],
                        content,
                        envelope.mail_from or "",
                        recipient,
                        received_at=received_at,
                        peer=peer,
                    )
        except OSError as exc:
            logger.error("来自 %s 的邮件无法保存：%s", envelope.mail_from, exc)
            # 4xx: the sender keeps the message and tries again, nothing is lost.
            return "451 4.3.0 Could not store the message, try again later"
        self.count += 1
        if self.on_message is not None:
            try:
                self.on_message(caught)
            except Exception:
                # The message is stored: a failing printer must not make the sender resend it.
                logger.exception("邮件接收器处理 %s 的回调出错", caught.path)
        return f"250 OK stored as {caught.path.name}"


class BoundController(Controller):
    """A Controller that serves on a socket bound beforehand (port 0 works, errors surface here)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As asyncio does: a port left in TIME_WAIT by a previous run can be bound again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class MailCatcher:
    """An SMTP server on ``settings.host:settings.port`` that stores every message it receives."""

    def __init__(
        self,
        settings: MailCatcherSettings,
        on_message: Callable[[CaughtMail], None] | None = print_summary,
        maildirs: Mapping[str, Path] | None = None,
        demo_clock: bool = False,
    ) -> None:
        self.settings = settings
        self.directory = settings.directory
        self._handler = _StoringHandler(settings.directory, on_message, maildirs or {}, demo_clock)
        self._controller: BoundController | None = None
        self.host = settings.host
        self.port = settings.port  # the real one once started, when settings ask for port 0

    @property
    def count(self) -> int:
        """Messages stored since this catcher was created."""
        return self._handler.count

    def start(self) -> None:
        """Bind and serve in a background thread; ``MailCatcherError`` if the port is taken."""
        if self._controller is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailCatcherError(f"无法建立邮件存放目录 {self.directory}：{exc}") from exc
        try:
            # self.port: after a stop, a restart keeps the port even when settings said 0.
            sock = bind_listener(self.host, self.port)
        except OSError as exc:
            raise MailCatcherError(
                f"收信服务无法监听 {self.host}:{self.port}：{exc.strerror or exc}"
                "（端口可能已被占用，可用 TASKFORCE_MAILCATCHER_PORT 另选端口）"
            ) from exc
        self.host, self.port = sock.getsockname()[:2]
        controller = BoundController(
            self._handler, sock, server_hostname="taskforce-mailcatcher", ready_timeout=10.0
        )
        try:
            controller.start()
        except BaseException:
            sock.close()
            raise
        self._controller = controller
        logger.info("邮件接收器监听 %s:%d，邮件存入 %s", self.host, self.port, self.directory)

    def stop(self) -> None:
        """Stop serving; open connections are cut, stored files stay."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    def __enter__(self) -> MailCatcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(settings: Settings, *, demo_clock: bool = False) -> None:
    """Run the catcher in the foreground until Ctrl-C or SIGTERM (for ``taskforce mailcatcher``)."""
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    # Ctrl-C too goes through the handler: a KeyboardInterrupt could land anywhere (inside the
    # catcher's start or stop) and leave the process hanging; CI saw one not exit on SIGINT.
    in_main_thread = threading.current_thread() is threading.main_thread()
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, on_signal) for s in stop_signals} if in_main_thread else {}
    maildirs = office_maildirs(settings.policies_dir, settings.maildir_root)
    catcher = MailCatcher(settings.mailcatcher, maildirs=maildirs, demo_clock=demo_clock)
    try:
        with catcher:
            print(
                f"收信服务已启动：{catcher.host}:{catcher.port}，"
                f"邮件存入 {catcher.directory}/（Ctrl-C 停止）",
                flush=True,
            )
            for address, path in maildirs.items():
                print(f"发往 {address} 的邮件另投递到 {path}/", flush=True)
            try:
                while not done.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    print(f"收信服务已停止，共收到 {catcher.count} 封邮件。", flush=True)
