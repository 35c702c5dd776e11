"""A real aiosmtpd server on a free port for tests, with server-side failure injection.

Use the fixture from any test module::

    pytest_plugins = ["tests.smtp_server"]  # registers the fixtures; or list it in conftest.py

    async def test_x(smtp_server: SmtpServer) -> None:   # SmtpServer imported under TYPE_CHECKING
        smtp_server.fail_next_data(1)                       # 451 to the next DATA
        smtp_server.refuse_recipient("b@example.org")       # 550 to RCPT TO:<b@…>
        smtp_server.refuse_sender("office@example.org")     # 553 to MAIL FROM:<office@…>
        smtp_server.drop_next_data(1)                       # cut the line in the middle of DATA
        outcomes = await send_batch(mails, smtp_server.smtp_settings())
        assert smtp_server.message_ids() == [...]
        smtp_server.stop(); ...; smtp_server.start()        # server down, then back

Modelled on aiosmtplib's own tests: the server is aiosmtpd (in a thread of its own, so it answers
while the test's event loop sends), a recording handler keeps what was accepted, and every
failure is produced by the server, not by mocking the client.

``sink_process(port)`` starts aiosmtpd's ``Sink`` handler in another process, for throughput
measurements (a sink sharing the sender's interpreter halves the rate).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, cast

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session, syntax

from config.settings import SmtpSettings
from tasks.demo.mailcatcher import BoundController, bind_listener
from tests.helpers import free_port


@dataclass(frozen=True)
class ReceivedMail:
    """One message the server accepted (answered 250 to)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # DATA as received
    message: EmailMessage


class RecordingHandler:
    """aiosmtpd handler: records accepted messages; answers what the test told it to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[ReceivedMail] = []
        self.data_replies: deque[str] = deque()  # replies to the next DATA commands, instead of 250
        self.refused: dict[str, str] = {}  # lower-cased recipient -> reply to its RCPT
        self.senders_refused: dict[str, str] = {}  # lower-cased sender -> reply to MAIL FROM
        self.drops = 0  # DATA transfers still to cut in the middle
        self.data_delay = 0.0  # seconds each DATA waits before its 250: a slow relay
        self.data_commands = 0  # DATA transactions seen, whatever their end
        self.connections = 0

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            reply = self.senders_refused.get(address.lower())
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            reply = self.refused.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            self.data_commands += 1
            if self.data_replies:
                return self.data_replies.popleft()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            self.received.append(
                ReceivedMail(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    message=message,
                )
            )
            number = len(self.received)
        return f"250 OK queued as test-{number}"

    def take_drop(self) -> bool:
        with self.lock:
            if self.drops:
                self.drops -= 1
                self.data_commands += 1
                return True
            return False


class FaultySMTP(SMTP):
    """aiosmtpd's SMTP, able to cut the connection in the middle of a DATA transfer."""

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        handler = cast(RecordingHandler, self.event_handler)
        envelope = self.envelope
        if envelope is not None and envelope.rcpt_tos and not arg and handler.take_drop():
            # As aiosmtplib's tests do: accept DATA, read one line of the message, hang up.
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readline()
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class _FaultyController(BoundController):
    def factory(self) -> SMTP:
        return FaultySMTP(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """A recording aiosmtpd server on 127.0.0.1 and a free port; restartable on the same port."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, login: tuple[str, str] | None = None
    ) -> None:
        self.handler = RecordingHandler()
        self.host = host
        self.port = port
        # With a (username, password), AUTH is offered and checked against it.
        self.login = login
        self._controller: _FaultyController | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.login is not None
        given = (data.login.decode(), data.password.decode())
        return AuthResult(success=given == self.login, handled=False)

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Listen (again) on the same port: a restart after ``stop()`` keeps the address."""
        if self._controller is not None:
            return
        sock = bind_listener(self.host, self.port)
        self.port = sock.getsockname()[1]
        auth: dict[str, Any] = {}
        if self.login is not None:
            # Offered without TLS (loopback); not *required*, which aiosmtpd would warn about.
            auth = {"auth_require_tls": False, "authenticator": self._authenticate}
        controller = _FaultyController(self.handler, sock, server_hostname="smtp.test", **auth)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Server down: the port refuses connections and open ones are cut."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    # --- failure injection --------------------------------------------------------------

    def fail_next_data(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer ``reply`` instead of 250 to the next ``count`` messages (after their data)."""
        with self.handler.lock:
            self.handler.data_replies.extend([reply] * count)

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 User unknown") -> None:
        """Answer ``reply`` to every RCPT TO for this address."""
        with self.handler.lock:
            self.handler.refused[address.lower()] = reply

    def refuse_sender(
        self, address: str, reply: str = "553 5.7.1 Sender address rejected: not owned by user"
    ) -> None:
        """Answer ``reply`` to every MAIL FROM with this address (our sender, misconfigured)."""
        with self.handler.lock:
            self.handler.senders_refused[address.lower()] = reply

    def delay_data(self, seconds: float) -> None:
        """Answer every DATA ``seconds`` late, as a slow relay does (0: at once again); the
        message counts as accepted once answered."""
        with self.handler.lock:
            self.handler.data_delay = seconds

    def drop_next_data(self, count: int = 1) -> None:
        """Close the connection in the middle of the next ``count`` DATA transfers."""
        with self.handler.lock:
            self.handler.drops += count

    # --- what arrived -------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        """Accepted messages, in order of acceptance."""
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def data_commands(self) -> int:
        """DATA transactions seen, accepted or not: the number of delivery attempts that got far."""
        with self.handler.lock:
            return self.handler.data_commands

    @property
    def connections(self) -> int:
        """EHLO greetings seen: one per client connection."""
        with self.handler.lock:
            return self.handler.connections

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        return Counter(str(m.message["Message-ID"]) for m in self.messages)

    def smtp_settings(self, **overrides: Any) -> SmtpSettings:
        """Client settings for this server: short timeout, tiny backoff, unless overridden."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "timeout": 5.0,
            "backoff_seconds": 0.01,
            "concurrency": 4,
            "max_attempts": 4,
        }
        values.update(overrides)
        return SmtpSettings(**values)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running recording SMTP server, stopped after the test."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """More servers: ``make_smtp_server(login=("user", "pw"))``; all stopped after the test."""
    servers: list[SmtpServer] = []

    def make(**options: Any) -> SmtpServer:
        server = SmtpServer(**options)
        server.start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def sink_process(port: int | None = None, host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    """aiosmtpd's Sink (accepts and forgets every message) in a separate process."""
    port = port or free_port(host)
    command = ["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"{host}:{port}"]
    process = subprocess.Popen(
        [sys.executable, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(host, port)
        yield host, port
    finally:
        process.terminate()
        process.wait(timeout=10)
