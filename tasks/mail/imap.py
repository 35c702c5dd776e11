"""The office's mailbox over IMAP, read with the standard library's ``imaplib``.

``ImapSource`` implements ``MailSource`` (``tasks/mail/sources.py``). It never deletes: a
processed message is either flagged (``\\Seen`` and the keyword ``$TaskforceIntake``) where it is,
or moved to ``processed_folder`` (``UID MOVE``; created when missing). What counts as new:

* no ``processed_folder``: every message of the folder without the ``$TaskforceIntake`` keyword;
* a ``processed_folder``: every message still in the folder (processed ones were moved away),
  except those flagged ``\\Deleted`` (left by the COPY fallback for servers without MOVE).

Messages are read with ``BODY.PEEK[]``, which does not set ``\\Seen``: a message the intake read
but did not store stays unread for the people who use the mailbox. Sizes (``RFC822.SIZE``) are
fetched first, in batches: a message over the limit is read in ranges (``BODY.PEEK[]<offset.n>``)
into a temporary file, never whole into memory. ``source_key`` is
``"<UIDVALIDITY>:<UID>"``; a key from another UIDVALIDITY (the folder was recreated) or whose
message is gone (another run moved it) is logged and ignored, since whether a message was already
taken in is decided by the database, not by the source.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import logging
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from config.errors import TaskforceError
from config.settings import ImapSettings
from tasks.mail.sources import FetchedMessage, read_head

logger = logging.getLogger(__name__)

INTAKE_KEYWORD = "$TaskforceIntake"
SIZE_BATCH = 500  # UIDs per FETCH of RFC822.SIZE (a command line stays far under 64 KB)
SPOOL_CHUNK = 8 * 1024 * 1024  # bytes per ranged FETCH of an oversized message


class MailboxError(TaskforceError):
    """The IMAP mailbox cannot be used: no connection, login refused, folder missing or read-only.

    ``reply`` is the server's answer when there was one.
    """

    def __init__(self, message: str, *, reply: str = "") -> None:
        self.reply = reply
        super().__init__(message)


# --- folder names: IMAP's modified UTF-7 (RFC 3501 section 5.1.3) ---------------------------


def encode_folder_name(name: str) -> str:
    """``"已处理"`` → ``"&XfJZBHQG-"``: printable ASCII stays, ``&`` becomes ``&-``, the rest is
    UTF-16BE in base64 with ``,`` for ``/`` and no padding, between ``&`` and ``-``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            encoded = base64.b64encode(utf16).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{encoded}-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


_SHIFTED = re.compile(r"&([^-]*)-")


def decode_folder_name(encoded: str) -> str:
    """The inverse of ``encode_folder_name``: ``"&XfJZBHQG-"`` → ``"已处理"``."""

    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        if not body:
            return "&"
        padded = body.replace(",", "/") + "=" * (-len(body) % 4)
        return base64.b64decode(padded).decode("utf-16-be")

    return _SHIFTED.sub(replace, encoded)


def _quoted(encoded_name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + encoded_name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- parsing the server's answers -----------------------------------------------------------

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"'
)
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


def parse_internaldate(fetch_line: bytes) -> datetime | None:
    """``INTERNALDATE "05-Jan-2023 09:30:00 +0800"`` in a FETCH response → aware UTC datetime."""
    match = _INTERNALDATE.search(fetch_line)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    month_number = _MONTHS.get(month.decode("ascii").title())
    if month_number is None:
        return None
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    zone = timezone(-offset if sign == b"-" else offset)
    local = datetime(
        int(year), month_number, int(day), int(hour), int(minute), int(second), tzinfo=zone
    )
    return local.astimezone(UTC)


def _text(value: Any) -> str:
    """A server reply from imaplib (bytes, str, a list of them or an exception) as text."""
    if isinstance(value, BaseException):
        # imaplib's errors carry the server's line as bytes; OSError's str has errno and text.
        first = value.args[0] if value.args else None
        value = first if isinstance(first, bytes | str) else str(value)
    if isinstance(value, list | tuple):
        return " ".join(_text(item) for item in value if item is not None)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _Expunged(Exception):
    """The server refused a command because another session expunged (moved) the message."""


def _is_ascii(value: str) -> bool:
    return all(ord(char) < 0x80 for char in value)


def _body(data: list[Any], uid: int) -> tuple[bytes, bytes] | None:
    """The message bytes (or the range of them) a UID FETCH answered for ``uid``, and the line
    that announced them; None when the answer has none (the message is gone)."""
    # imaplib gives (b'7 (UID 12 INTERNALDATE "…" BODY[] {123}', content) then b')';
    # updates about other messages (another session's flags) may come in the same list.
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        head = item[0]
        tail = data[index + 1] if index + 1 < len(data) else b""
        line = head + (tail if isinstance(tail, bytes) else b"")
        found = _UID.search(line)
        if found is None or int(found.group(1)) != uid or b"BODY[]" not in head:
            continue
        return item[1], line
    return None


class ImapSource:
    """One folder of an IMAP mailbox; connects, logs in and selects the folder when created."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.folder = settings.folder or "INBOX"
        self.processed_folder = settings.processed_folder
        self.address = f"{settings.host}:{settings.port}"
        self.name = f"imap://{settings.username}@{self.address}/{self.folder}"
        if self.processed_folder and self.processed_folder == self.folder:
            raise MailboxError(
                "收件邮箱设置有误：已处理文件夹（processed_folder）"
                f"不能就是收件文件夹 {self.folder}"
            )
        self._processed_created = False
        self._spool_dir: Path | None = None
        self._connection = self._connect()
        try:
            self._login()
            self.capabilities = self._capabilities()
            self.uidvalidity = self._select()
        except BaseException:
            self._abandon()
            raise

    # --- connection ---------------------------------------------------------------------

    def _connect(self) -> imaplib.IMAP4:
        settings = self.settings
        try:
            if settings.ssl:
                return imaplib.IMAP4_SSL(
                    settings.host,
                    settings.port,
                    ssl_context=ssl.create_default_context(),
                    timeout=settings.timeout,
                )
            return imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:  # refused, timeout, TLS, bad greeting
            raise MailboxError(
                f"无法连接收件邮箱服务器 {self.address}：{_text(exc) or type(exc).__name__}",
                reply=_text(exc),
            ) from exc

    def _login(self) -> None:
        settings = self.settings
        username = settings.username
        password = settings.password.get_secret_value()
        try:
            if _is_ascii(username) and _is_ascii(password):
                self._connection.login(username, password)
            else:
                # LOGIN is ASCII-only in imaplib; SASL PLAIN carries UTF-8.
                token = f"\0{username}\0{password}".encode()
                self._connection.authenticate("PLAIN", lambda _challenge: token)
        except imaplib.IMAP4.abort as exc:
            raise self._lost("登录", exc) from exc
        except imaplib.IMAP4.error as exc:
            reply = _text(exc)
            raise MailboxError(
                f"无法登录收件邮箱 {username}（{self.address}）：服务器答复 {reply}", reply=reply
            ) from exc
        except OSError as exc:
            raise self._lost("登录", exc) from exc

    def _capabilities(self) -> frozenset[str]:
        # Servers announce more after login (MOVE, UIDPLUS) than in the greeting imaplib kept.
        _, data = self._command("查询服务器能力", "capability")
        words = _text(data).upper().split()
        return frozenset(words) | frozenset(self._connection.capabilities)

    def _select(self) -> int:
        folder = encode_folder_name(self.folder)
        try:
            typ, data = self._connection.select(_quoted(folder))
        except imaplib.IMAP4.readonly as exc:
            raise MailboxError(
                f"收件邮箱 {self.name} 的文件夹只读，无法标记已处理的邮件：{_text(exc)}",
                reply=_text(exc),
            ) from exc
        except (imaplib.IMAP4.error, OSError) as exc:
            raise self._lost("打开文件夹", exc) from exc
        if typ != "OK":
            raise MailboxError(
                f"收件邮箱 {self.settings.username}（{self.address}）里打不开文件夹 {self.folder}："
                f"服务器答复 {_text(data)}",
                reply=_text(data),
            )
        _, values = self._connection.response("UIDVALIDITY")
        if not values or values[0] is None:
            typ, status = self._command(
                "查询 UIDVALIDITY", "status", _quoted(folder), "(UIDVALIDITY)"
            )
            match = re.search(rb"UIDVALIDITY (\d+)", status[0] if status[0] else b"")
            if match is None:
                raise MailboxError(f"收件邮箱 {self.name} 的服务器没有给出 UIDVALIDITY")
            return int(match.group(1))
        permanent = _text(self._connection.response("PERMANENTFLAGS")[1])
        if not self.processed_folder and permanent and "\\*" not in permanent:
            logger.warning(
                "%s：服务器可能不保存标记 %s（PERMANENTFLAGS %s）；"
                "请设置 processed_folder，把已处理的邮件移入该文件夹",
                self.name,
                INTAKE_KEYWORD,
                permanent,
            )
        return int(_text(values[0]))

    def _lost(self, doing: str, exc: BaseException) -> MailboxError:
        reply = _text(exc) or type(exc).__name__
        return MailboxError(
            f"收件邮箱 {self.settings.username}（{self.address}）{doing}时出错：{reply}",
            reply=reply,
        )

    def _command(self, doing: str, name: str, *args: str) -> tuple[str, list[Any]]:
        """Run ``imaplib.IMAP4.<name>(*args)``; a refusal or a lost connection → MailboxError."""
        try:
            typ, data = getattr(self._connection, name)(*args)
        except (imaplib.IMAP4.error, OSError) as exc:  # abort and readonly are errors too
            raise self._lost(doing, exc) from exc
        if typ == "NO" and "EXPUNGEISSUED" in _text(data).upper():
            # RFC 5530: "NO [EXPUNGEISSUED]": another session expunged it (moved it away) and
            # this one has not been told yet.
            raise _Expunged(_text(data))
        if typ != "OK":
            raise MailboxError(
                f"收件邮箱 {self.settings.username}（{self.address}）{doing}被拒绝："
                f"服务器答复 {_text(data)}",
                reply=_text(data),
            )
        return typ, list(data)

    def _forget_unsolicited(self) -> None:
        """Drop what the server reported about other sessions' changes (EXPUNGE, EXISTS …)."""
        for kind in ("EXPUNGE", "EXISTS", "RECENT", "FETCH", "VANISHED", "FLAGS", "COPYUID"):
            self._connection.response(kind)

    # --- MailSource ---------------------------------------------------------------------

    def fetch_new(
        self, limit: int | None = None, *, max_bytes: int | None = None
    ) -> Iterator[FetchedMessage]:
        """Unprocessed messages in UID (arrival) order, at most ``limit``; one FETCH per message
        (sizes first, in batches, when there is a ``max_bytes`` limit)."""
        criteria = ["UNDELETED"] if self.processed_folder else ["UNKEYWORD", INTAKE_KEYWORD]
        self._forget_unsolicited()
        _, data = self._command("查找新邮件", "uid", "SEARCH", *criteria)
        uids = sorted(int(uid) for uid in _text(data).split())[:limit]
        sizes = self._sizes(uids) if max_bytes is not None else {}
        for uid in uids:
            if max_bytes is None:
                message = self._fetch(uid)
            elif uid not in sizes:
                logger.info("%s：UID %s 已不在（可能已被另一次运行移走）", self.name, uid)
                continue
            elif sizes[uid] > max_bytes:
                message = self._fetch_spooled(uid)
            else:
                message = self._fetch(uid)
            if message is not None:
                yield message

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        """UID → RFC822.SIZE for the messages still there."""
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), SIZE_BATCH):
            batch = ",".join(str(uid) for uid in uids[start : start + SIZE_BATCH])
            self._forget_unsolicited()
            try:
                _, data = self._command("查询邮件大小", "uid", "FETCH", batch, "(UID RFC822.SIZE)")
            except _Expunged:  # one of them moved away meanwhile: ask one by one
                data = []
                for uid in uids[start : start + SIZE_BATCH]:
                    with contextlib.suppress(_Expunged):
                        data += self._command(
                            "查询邮件大小", "uid", "FETCH", str(uid), "(UID RFC822.SIZE)"
                        )[1]
            for item in data:
                line = item[0] if isinstance(item, tuple) else item
                uid_match = _UID.search(line) if isinstance(line, bytes) else None
                size_match = _SIZE.search(line) if isinstance(line, bytes) else None
                if uid_match and size_match:
                    sizes[int(uid_match.group(1))] = int(size_match.group(1))
        return sizes

    def _fetch(self, uid: int) -> FetchedMessage | None:
        self._forget_unsolicited()
        try:
            _, data = self._command(
                "读取邮件", "uid", "FETCH", str(uid), "(UID INTERNALDATE BODY.PEEK[])"
            )
        except _Expunged:
            data = []
        found = _body(data, uid)
        if found is None:
            logger.info("%s：UID %s 已不在（可能已被另一次运行移走）", self.name, uid)
            return None
        content, line = found
        key = f"{self.uidvalidity}:{uid}"
        return FetchedMessage(self.name, key, content, self._received(line, uid))

    def _fetch_spooled(self, uid: int) -> FetchedMessage | None:
        """An oversized message, copied range by range into the spool file; its header block."""
        if self._spool_dir is None:
            self._spool_dir = Path(tempfile.mkdtemp(prefix="taskforce-imap-"))
        spool = self._spool_dir / "message.eml"
        offset, line = 0, b""
        with spool.open("wb") as out:
            while True:
                self._forget_unsolicited()
                try:
                    part = f"(UID INTERNALDATE BODY.PEEK[]<{offset}.{SPOOL_CHUNK}>)"
                    _, data = self._command("读取邮件", "uid", "FETCH", str(uid), part)
                except _Expunged:
                    data = []
                found = _body(data, uid)
                if found is None and offset == 0:
                    logger.info("%s：UID %s 已不在（可能已被另一次运行移走）", self.name, uid)
                    return None
                if found is None:
                    break  # past the end: an empty range
                out.write(found[0])
                offset += len(found[0])
                line = line or found[1]
                if len(found[0]) < SPOOL_CHUNK:
                    break
        key, head = f"{self.uidvalidity}:{uid}", read_head(spool)
        return FetchedMessage(self.name, key, head, self._received(line, uid), spool, offset)

    def _received(self, line: bytes, uid: int) -> datetime:
        received = parse_internaldate(line)
        if received is None:
            logger.warning("%s：UID %s 没有 INTERNALDATE，按当前时间记录", self.name, uid)
            received = datetime.now(UTC)
        return received

    def mark_processed(self, source_key: str) -> None:
        """Flag the message, or move it to ``processed_folder``; a stale key is only logged."""
        try:
            validity_text, uid_text = source_key.split(":")
            validity, uid = int(validity_text), int(uid_text)
        except ValueError:
            raise ValueError(
                f"not an IMAP source key (<uidvalidity>:<uid>): {source_key!r}"
            ) from None
        if validity != self.uidvalidity:
            logger.warning(
                "%s：键 %s 属于 UIDVALIDITY %s，文件夹现为 %s，已忽略",
                self.name,
                source_key,
                validity,
                self.uidvalidity,
            )
            return
        self._forget_unsolicited()
        try:
            done = self._move(uid) if self.processed_folder else self._flag(uid)
        except _Expunged:
            done = False
        if not done:
            logger.info("%s：UID %s 已不在（可能已被另一次运行处理），无需标记", self.name, uid)

    def _flag(self, uid: int) -> bool:
        """Flag one message processed; false when it was no longer there."""
        flags = f"(\\Seen {INTAKE_KEYWORD})"
        _, data = self._command("标记已处理", "uid", "STORE", str(uid), "+FLAGS", flags)
        # The answer is "* 3 FETCH (UID 7 FLAGS (…))" for it, nothing when it is gone (and maybe
        # flag updates about other messages).
        for item in data:
            found = _UID.search(_text(item).encode()) if item else None
            if found is not None and int(found.group(1)) == uid:
                return True
        return False

    def _move(self, uid: int) -> bool:
        """Move one message to the processed folder; false when it was no longer there."""
        target = _quoted(encode_folder_name(self.processed_folder))
        self._ensure_processed_folder(target)
        uidplus = "UIDPLUS" in self.capabilities
        if not uidplus and not self._still_there(uid):
            return False
        self._connection.response("COPYUID")  # drop a stale one
        if "MOVE" in self.capabilities:
            self._command("移动已处理的邮件", "uid", "MOVE", str(uid), target)
            # With UIDPLUS the server names what it moved (COPYUID); nothing named: it was gone.
            return self._copied() if uidplus else True
        self._command("复制已处理的邮件", "uid", "COPY", str(uid), target)
        if uidplus and not self._copied():
            return False
        self._command("标记已复制的邮件", "uid", "STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        if uidplus:
            self._command("清除已复制的邮件", "uid", "EXPUNGE", str(uid))
        # Without UIDPLUS the original stays, flagged \Deleted, which fetch_new skips: a plain
        # EXPUNGE would also remove what the mailbox's users flagged \Deleted themselves.
        return True

    def _copied(self) -> bool:
        """Whether the last COPY/MOVE answered with COPYUID (RFC 4315): something was copied."""
        _, copyuid = self._connection.response("COPYUID")
        return bool(copyuid and copyuid[0] is not None)

    def _still_there(self, uid: int) -> bool:
        """Whether the message is still to be moved (one flagged \\Deleted was copied already)."""
        _, data = self._command("查找邮件", "uid", "SEARCH", "UID", str(uid), "UNDELETED")
        return str(uid) in _text(data).split()

    def _ensure_processed_folder(self, target: str) -> None:
        if self._processed_created:
            return
        try:
            typ, data = self._connection.create(target)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise self._lost("创建已处理文件夹", exc) from exc
        reply = _text(data)
        if typ == "OK":
            logger.info("%s：已新建文件夹 %s", self.name, self.processed_folder)
            try:  # so that mail clients show it; not needed for the intake
                self._connection.subscribe(target)
            except (imaplib.IMAP4.error, OSError):
                logger.debug("%s：无法订阅文件夹 %s", self.name, self.processed_folder)
        elif "ALREADYEXISTS" not in reply.upper() and "ALREADY EXISTS" not in reply.upper():
            raise MailboxError(
                f"收件邮箱 {self.settings.username}（{self.address}）无法创建已处理文件夹 "
                f"{self.processed_folder}：服务器答复 {reply}",
                reply=reply,
            )
        self._processed_created = True

    def close(self) -> None:
        """Log out (closing the folder does not expunge anything: LOGOUT, not CLOSE)."""
        if self._spool_dir is not None:
            shutil.rmtree(self._spool_dir, ignore_errors=True)
            self._spool_dir = None
        try:
            self._connection.logout()
        except (imaplib.IMAP4.error, OSError) as exc:
            logger.debug("%s：退出登录失败：%s", self.name, exc)
            self._abandon()

    def _abandon(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self._connection.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "INTAKE_KEYWORD",
    "ImapSource",
    "MailboxError",
    "decode_folder_name",
    "encode_folder_name",
    "parse_internaldate",
]
