"""Where replies come from: a local Maildir (the embedded default) or an IMAP mailbox.

Both give ``FetchedMessage`` items and are told afterwards that an item is safely stored
(``mark_processed``). A source never deletes: a Maildir message moves from ``new/`` to ``cur/``
with the Seen flag; an IMAP message is flagged or moved to a folder (``tasks/mail/imap.py``).
Whether a message was already taken in is decided by the database (the raw bytes' sha256 is
unique), not by the source, so two intake runs over the same mailbox cannot both take one in.

A message over the size limit (``max_bytes``) is never read whole: the source measures it first
(``stat``, IMAP ``RFC822.SIZE``), gives only its header block in ``content`` and the whole of it as
a file (``spool``) that intake copies into the raw store in chunks.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

logger = logging.getLogger(__name__)

HEADER_LIMIT = 64 * 1024  # of an oversized message only this much is read, up to the blank line


@dataclass(frozen=True)
class FetchedMessage:
    """One message as the office's server holds it."""

    source: str  # "maildir:/path" or "imap://user@host:port/INBOX": where it was read
    source_key: str  # the Maildir key, or "<uidvalidity>:<uid>"
    content: bytes  # the whole message; only its header block when it is spooled
    # When it reached the office's server (INTERNALDATE, or the catcher's Received line);
    # never the sender's Date header, which the sender controls. Aware, UTC.
    received_at: datetime
    # A message over the size limit: the file holding all of it (the Maildir's own file, or the
    # IMAP source's temporary copy, valid until the next message is fetched), and its size.
    spool: Path | None = None
    spool_size: int = 0

    @property
    def size(self) -> int:
        """The whole message's size in bytes."""
        return self.spool_size if self.spool is not None else len(self.content)


class MailSource(Protocol):
    """A mailbox intake reads: unprocessed messages in arrival order, then marks them."""

    name: str

    def fetch_new(
        self, limit: int | None = None, *, max_bytes: int | None = None
    ) -> Iterator[FetchedMessage]: ...

    def mark_processed(self, source_key: str) -> None: ...

    def close(self) -> None: ...


def header_block(head: bytes) -> bytes:
    """The header block of a message's first bytes: up to and with the blank line that ends it
    (all of ``head`` when there is none, cut after its last complete line)."""
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := head.find(sep)) >= 0]
    if ends:
        return head[: min(ends)]
    last = head.rfind(b"\n")
    return head if last < 0 else head[: last + 1]


def read_header_block(file: BinaryIO, limit: int = HEADER_LIMIT) -> bytes:
    """The header block of an open message file, reading at most ``limit`` bytes."""
    return header_block(file.read(limit))


def read_head(path: Path, limit: int = HEADER_LIMIT) -> bytes:
    """The header block of a message file, reading at most ``limit`` bytes of it."""
    with path.open("rb") as file:
        return read_header_block(file, limit)


_RECEIVED_DATE = re.compile(rb";\s*([^;]+?)\s*$")


def received_time(content: bytes) -> datetime | None:
    """The date of the topmost ``Received:`` header: when the receiving server took the message."""
    header_end = content.find(b"\r\n\r\n")
    if header_end < 0:
        header_end = content.find(b"\n\n")
    head = content if header_end < 0 else content[:header_end]
    # Unfold, then take the first Received line: servers prepend, so it is the last hop's.
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    for line in unfolded.splitlines():
        if line[:9].lower() == b"received:":
            match = _RECEIVED_DATE.search(line)
            if match is None:
                return None
            try:
                parsed = email.utils.parsedate_to_datetime(match.group(1).decode("ascii"))
            except (ValueError, TypeError, UnicodeDecodeError):
                return None
            return parsed.astimezone(UTC) if parsed.tzinfo else None
    return None


class MaildirSource:
    """A Maildir (``new/``, ``cur/``, ``tmp/``) as the mail catcher files it, read without a server.

    ``fetch_new`` reads ``new/`` oldest first; ``mark_processed`` renames the file into ``cur/``
    with the ``S`` flag, as a mail client does when it reads a message. A concurrent run that
    renamed it first is not an error.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = f"maildir:{directory}"
        for sub in ("new", "cur", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)

    def fetch_new(
        self, limit: int | None = None, *, max_bytes: int | None = None
    ) -> Iterator[FetchedMessage]:
        """Messages in ``new/``, oldest first; one over ``max_bytes`` as its header block."""
        new = self.directory / "new"
        names = sorted(n for n in os.listdir(new) if not n.startswith("."))
        for name in names[:limit]:
            path = new / name
            try:
                stat = path.stat()
                # Measured before reading: a file over the limit is never read whole.
                oversized = max_bytes is not None and stat.st_size > max_bytes
                content = read_head(path) if oversized else path.read_bytes()
            except FileNotFoundError:
                continue  # another run took it meanwhile
            received = received_time(content) or datetime.fromtimestamp(stat.st_mtime, UTC)
            if oversized:
                yield FetchedMessage(self.name, name, content, received, path, stat.st_size)
            else:
                yield FetchedMessage(self.name, name, content, received)

    def mark_processed(self, source_key: str) -> None:
        base = source_key.split(":2,", 1)[0]
        try:
            os.rename(self.directory / "new" / source_key, self.directory / "cur" / f"{base}:2,S")
        except FileNotFoundError:
            logger.debug("maildir 邮件 %s 已被另一次运行移走", source_key)

    def close(self) -> None:
        return None
