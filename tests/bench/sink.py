"""An SMTP sink in its own process that stores every message it accepts, optionally with faults.

    python -m tests.bench.sink --port P --store DIR [--faults]

Each accepted message becomes a row of ``DIR/sink.db`` (SQLite, WAL) before its 250 is sent:
Message-ID, the ``X-Taskforce-Key`` header, envelope recipients, size, the raw bytes and the
wall-clock time of arrival. The benchmarks read that file to count what arrived, how often
(duplicates share a Message-ID, derived from the outbox key) and when. The sink is never
killed: it is the receiving MTA that outlives the sender's crashes.

With ``--faults`` the recipient's local part picks what the server does (everything else is
accepted normally):

- ``rcpt451-…`` 451 to every RCPT; ``rcpt451once-…`` 451 to the first RCPT only;
- ``rcpt550-…`` 550 to every RCPT;
- ``dropdata-…`` the line is cut after the first line of DATA, every time;
- ``lost250-…`` the message is stored, then the line is closed instead of the 250 (the client
  cannot know it arrived), every time; ``lost250once-…`` only the first time;
- ``tarpit-…`` RCPT is answered after ``--tarpit`` seconds (longer than the client's timeout);

and the greeting is ``421`` for the first ``--greet-421`` connections and every
``--greet-421-every``-th one after them.
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import logging
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

SCHEMA = """
CREATE TABLE IF NOT EXISTS mail (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    key TEXT NOT NULL,
    rcpt TEXT NOT NULL,
    size INTEGER NOT NULL,
    received REAL NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS mail_message_id ON mail (message_id);
"""

_headers = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def open_store(directory: Path) -> sqlite3.Connection:
    directory.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(directory / "sink.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # the sink is not killed: a process crash is enough
    db.executescript(SCHEMA)
    return db


def _kind(address: str) -> str:
    """The fault a recipient asks for: its local part up to the first dash."""
    local = address.split("@", 1)[0].lower()
    return local.split("-", 1)[0]


class SinkHandler:
    """Stores each message, then answers; with ``faults``, misbehaves as the module says."""

    def __init__(self, db: sqlite3.Connection, *, faults: bool, tarpit: float) -> None:
        self.db = db
        self.faults = faults
        self.tarpit = tarpit
        self.seen: Counter[tuple[str, str]] = Counter()  # (fault, recipient) -> times met

    def _first(self, fault: str, address: str) -> bool:
        self.seen[fault, address.lower()] += 1
        return self.seen[fault, address.lower()] == 1

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        kind = _kind(address) if self.faults else "ok"
        if kind == "rcpt451" or (kind == "rcpt451once" and self._first(kind, address)):
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        if kind == "rcpt550":
            return "550 5.1.1 User unknown"
        if kind == "tarpit":
            await asyncio.sleep(self.tarpit)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def drop_data(self, envelope: Envelope) -> bool:
        return self.faults and any(_kind(a) == "dropdata" for a in envelope.rcpt_tos)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        headers = _headers.parsebytes(raw)
        rcpt = ", ".join(envelope.rcpt_tos)
        self.db.execute(
            "INSERT INTO mail (message_id, key, rcpt, size, received, raw)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                str(headers.get("Message-ID", "")).strip(),
                str(headers.get("X-Taskforce-Key", "")).strip(),
                rcpt,
                len(raw),
                time.time(),
                raw,
            ),
        )
        (number,) = self.db.execute("SELECT last_insert_rowid()").fetchone()
        kinds = {_kind(a) for a in envelope.rcpt_tos} if self.faults else set()
        lost = "lost250" in kinds or (
            "lost250once" in kinds and self._first("lost250once", envelope.rcpt_tos[0])
        )
        if lost and server.transport is not None:
            server.transport.close()  # stored, but the client never hears the 250
        return f"250 OK queued as sink-{number}"


class SinkSMTP(SMTP):
    """aiosmtpd's SMTP with the connection-level faults: 421 greetings, a cut during DATA."""

    connections = 0

    def __init__(self, handler: SinkHandler, *, greet_421: int, greet_421_every: int) -> None:
        super().__init__(handler, hostname="sink.bench", ident="bench sink")
        self.sink = handler
        self.greet_421 = greet_421
        self.greet_421_every = greet_421_every

    def _refuse_greeting(self) -> bool:
        SinkSMTP.connections += 1
        n = SinkSMTP.connections
        if n <= self.greet_421:
            return True
        return bool(self.greet_421_every) and (n - self.greet_421) % self.greet_421_every == 0

    async def _handle_client(self) -> None:
        if self.sink.faults and self._refuse_greeting():
            await self.push("421 4.3.2 Service not available, closing transmission channel")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        if envelope is not None and envelope.rcpt_tos and not arg and self.sink.drop_data(envelope):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readline()
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_DATA(arg)


async def serve(args: argparse.Namespace) -> None:
    db = open_store(args.store)
    handler = SinkHandler(db, faults=args.faults, tarpit=args.tarpit)
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        return SinkSMTP(handler, greet_421=args.greet_421, greet_421_every=args.greet_421_every)

    server = await loop.create_server(factory, args.host, args.port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"sink listening on {args.host}:{args.port}, store {args.store}", flush=True)
    async with server:
        await stop.wait()
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--tarpit", type=float, default=3.0)
    parser.add_argument("--greet-421", type=int, default=2)
    parser.add_argument("--greet-421-every", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
