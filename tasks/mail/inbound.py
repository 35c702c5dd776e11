"""A received mail taken apart: who sent it, what it answers, its text and its attachments.

Mail from county offices comes from every client there is: Foxmail and old Outlook put raw GBK
bytes in headers and file names, charsets are declared as gb2312 and hold GBK characters, and a
header can be plain broken. Parsing never raises on such input: what cannot be decoded is decoded
with replacement characters, and what matters for the decision (an attachment too large, a
message too large) is recorded as a problem, not an exception.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import html
import io
import re
import zipfile
from dataclasses import dataclass, field
from email.message import Message
from pathlib import PurePosixPath
from typing import Any

from tasks.mail.lean import Cuts, lean
from tasks.text import clean_line, clean_text

# Declared charsets that lie: gb2312 mail often holds GBK characters, and GB18030 covers both.
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030"}
_AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress")
MAX_TEXT_CHARS = 20_000  # extracted text kept for the reviewer; the raw mail keeps everything
MAX_DOCX_UNPACKED = 50_000_000


@dataclass(frozen=True)
class Attachment:
    filename: str  # as the sender named it, decoded; "" when unnamed
    content_type: str
    data: bytes
    too_large: bool = False  # over the configured limit: data is empty, size says how large
    size: int = 0

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.filename.lower()).suffix


@dataclass(frozen=True)
class ParsedMessage:
    sender: str  # the From address, lower case; "" when there is none
    sender_name: str
    subject: str
    message_id: str
    references: tuple[str, ...]  # In-Reply-To first, then References, newest first
    auto_reply: bool
    text: str  # the plain-text body (or the HTML body's text), trimmed to MAX_TEXT_CHARS
    attachments: tuple[Attachment, ...]
    problems: tuple[str, ...] = field(default=())  # whole-message problems, in Chinese
    # The X-Taskforce-Key of a mail this system sent (an alert to the office lands in the
    # office's own mailbox): intake must not take its own mail in, or it would loop.
    system_key: str = ""


class _RawHeaders(email.policy.Compat32):
    """compat32, except that a header with raw 8-bit bytes stays a (surrogate-escaped) string:
    compat32 turns it into a Header of U+FFFD, losing the GBK bytes ``fix_text`` can decode."""

    def _sanitize_header(self, name: str, value: Any) -> Any:
        return value


RAW_HEADERS = _RawHeaders()
_ADDRESS = re.compile(r"^[^@\s<>\"\x00-\x1f\x7f-\x9f]+@[^@\s<>\"\x00-\x1f\x7f-\x9f]+$")


def size_text(size: int) -> str:
    """A file size as an office reads it: 1.5 MB, 12.3 KB."""
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} KB"


def fix_text(value: str) -> str:
    """Undo the surrogate escapes the email package leaves for raw 8-bit header bytes."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def _decode_words(value: str) -> str:
    """RFC 2047 words, in a header or (against the RFC, but common) in a quoted file name;
    control characters (an encoded NUL, ESC) removed before anything stores or shows them."""
    return clean_line(_decoded_words(value))


def _decoded_words(value: str) -> str:
    if "=?" not in value:
        return fix_text(value)
    try:
        parts = email.header.decode_header(value)
    except (ValueError, LookupError):
        return fix_text(value)
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        codec = _CHARSET_ALIASES.get((charset or "ascii").lower(), charset or "utf-8")
        try:
            out.append(chunk.decode(codec, "replace"))
        except LookupError:
            out.append(chunk.decode("utf-8", "replace"))
    return fix_text("".join(out))


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a malformed header the parser could not model
        return ""
    if value is None:
        return ""
    return _decode_words(str(value)).strip()


def _decode_payload(part: Message, payload: Any = None) -> str:
    payload = part.get_payload(decode=True) if payload is None else payload
    if not isinstance(payload, bytes):
        return ""
    return clean_text(_decoded_payload(part, payload))


def _decoded_payload(part: Message, payload: bytes) -> str:
    declared = (part.get_content_charset() or "utf-8").lower()
    codec = _CHARSET_ALIASES.get(declared, declared)
    try:
        return payload.decode(codec, "replace")
    except LookupError:  # a charset Python does not know
        for fallback in ("utf-8", "gb18030"):
            try:
                return payload.decode(fallback)
            except UnicodeDecodeError:
                continue
        return payload.decode("utf-8", "replace")


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        # Content-Type's name= parameter, used by some clients instead of Content-Disposition.
        try:
            name = part.get_param("name")  # type: ignore[assignment]
        except Exception:
            name = None
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
    return _decode_words(str(name)).strip() if name else ""


def _address_list(value: str) -> list[str]:
    return [a.strip().lower() for _, a in email.utils.getaddresses([value]) if a.strip()]


def _message_ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value)


@dataclass(frozen=True)
class Headers:
    sender: str
    subject: str
    message_id: str


def _sender(message: Message) -> tuple[str, str]:
    """(display name, address) of the From header; the address "" when it names no one.

    The raw header is parsed first and only the display name is decoded afterwards: decoding
    first let an RFC 2047 word that spells a unit's address (=?utf-8?b?…?= <attacker@…>)
    become the sender. A From with several addresses, or none, names no one either.
    """
    try:
        raw = message.get("From")
    except Exception:  # a malformed header the parser could not model
        return "", ""
    if raw is None:
        return "", ""
    found = email.utils.getaddresses([str(raw)])
    if len(found) != 1:
        return "", ""
    name, address = found[0]
    if not _ADDRESS.match(address.strip()):
        return _decode_words(name), ""  # lenient parsers return junk for an unparsable From
    return _decode_words(name).strip(), address.strip().lower()


def parse_headers(content: bytes) -> Headers:
    """Sender, subject and Message-ID without reading the body (for a message too large)."""
    message = email.parser.BytesHeaderParser(policy=RAW_HEADERS).parsebytes(content)
    return Headers(_sender(message)[1], _header(message, "Subject"), _header(message, "Message-ID"))


def _attachment(
    part: Message, cuts: Cuts, filename: str, content_type: str, max_bytes: int
) -> Attachment:
    """An attachment's bytes; a cut body over ``max_bytes`` is measured, never decoded."""
    leaf = cuts.leaf(part)
    size = None if leaf is None else cuts.size(part, leaf)
    if size is not None and size > max_bytes:
        return Attachment(filename, content_type, b"", True, size)
    data = part.get_payload(decode=True) if leaf is None else cuts.decode(part, leaf)
    data = data if isinstance(data, bytes) else b""
    if len(data) > max_bytes:
        return Attachment(filename, content_type, b"", True, len(data))
    return Attachment(filename, content_type, data, False, len(data))


def _text_payload(part: Message, cuts: Cuts) -> bytes | None:
    """A cut text body's first bytes (enough for MAX_TEXT_CHARS); None for a kept body."""
    leaf = cuts.leaf(part)
    return None if leaf is None else cuts.decode(part, leaf, limit=MAX_TEXT_CHARS * 8)


def parse_message(content: bytes, *, max_attachment_bytes: int) -> ParsedMessage:
    """Take a raw RFC 5322 message apart; never raises for malformed input."""
    # Large bodies are cut out of what the email package parses (tasks/mail/lean.py).
    seen, cuts = lean(content)
    message = email.message_from_bytes(seen, policy=RAW_HEADERS)
    name, address = _sender(message)
    problems = []
    if any(
        isinstance(
            defect,
            email.errors.NoBoundaryInMultipartDefect | email.errors.StartBoundaryNotFoundDefect,
        )
        for part in message.walk()
        for defect in part.defects
    ):
        problems.append("邮件格式损坏（多部分邮件缺少分隔符），正文和附件无法读取")
    auto = _header(message, "Auto-Submitted").lower()
    auto_reply = (auto not in ("", "no")) or any(_header(message, h) for h in _AUTO_REPLY_HEADERS)
    references = _message_ids(_header(message, "In-Reply-To"))
    references += [
        m for m in reversed(_message_ids(_header(message, "References"))) if m not in references
    ]
    plain: list[str] = []
    markup: list[str] = []
    attachments: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() == "multipart":
            continue  # a multipart without parts (broken boundary) is reported above
        content_type = part.get_content_type()
        filename = _filename(part)
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        if filename or disposition == "attachment" or not content_type.startswith("text/"):
            if content_type == "message/delivery-status":
                continue
            attachments.append(
                _attachment(part, cuts, filename, content_type, max_attachment_bytes)
            )
        elif content_type == "text/html":
            markup.append(_decode_payload(part, _text_payload(part, cuts)))
        else:
            plain.append(_decode_payload(part, _text_payload(part, cuts)))
    text = "\n".join(plain) if plain else html_to_text("\n".join(markup))
    return ParsedMessage(
        sender=address,
        sender_name=name,
        subject=_header(message, "Subject"),
        message_id=_header(message, "Message-ID"),
        references=tuple(references),
        auto_reply=auto_reply,
        text=text.strip()[:MAX_TEXT_CHARS],
        attachments=tuple(attachments),
        problems=tuple(problems),
        system_key=_header(message, "X-Taskforce-Key"),
    )


def docx_text(data: bytes) -> str:
    """The paragraphs and table cells of a Word .docx, or "" when it cannot be read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_DOCX_UNPACKED:
                return ""
        import docx  # python-docx; imported here: only Word replies need it

        document = docx.Document(io.BytesIO(data))
    except Exception:  # corrupt, encrypted, not a .docx: the reviewer opens the raw file
        return ""
    lines = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
    return clean_text("\n".join(lines))[:MAX_TEXT_CHARS]


def plain_text_file(data: bytes) -> str:
    for codec in ("utf-8-sig", "gb18030"):
        try:
            return clean_text(data.decode(codec))[:MAX_TEXT_CHARS]
        except UnicodeDecodeError:
            continue
    return clean_text(data.decode("utf-8", "replace"))[:MAX_TEXT_CHARS]


def recipients(content: bytes) -> list[str]:
    """To and Cc addresses of a raw message (for reports), lower case."""
    message = email.message_from_bytes(content, policy=RAW_HEADERS)
    return _address_list(_header(message, "To")) + _address_list(_header(message, "Cc"))
