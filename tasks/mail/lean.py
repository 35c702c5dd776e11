"""Large MIME bodies kept out of the email package's parser, so that reading a message costs
about its own size in memory, not ten times it.

The email package holds a message as lines of text: parsing a 39 MB message took 340 MB.
``lean(content)`` scans the MIME structure on the raw bytes (header blocks, boundaries,
``message/rfc822`` bodies) and cuts the large leaf bodies out of what the parser is given: each
such part keeps its headers plus a marker header naming the cut (with a random name per message,
so a sender cannot forge one), and its body is empty. ``Cuts`` then gives a cut body's size
without decoding it and decodes it straight from the raw bytes when it is wanted.

Nothing is cut from a message whose structure the scan does not follow (no boundary, a broken
header block): the parser then sees it whole, as before, and reports what is wrong with it.
"""

from __future__ import annotations

import binascii
import email.parser
import email.policy
import itertools
import secrets
from dataclasses import dataclass, field
from email.message import Message

CUT_BYTES = 256 * 1024  # a leaf body above this is cut out
KEEP_BYTES = 4 * 1024 * 1024  # the parser is given at most about this; smaller bodies cut to fit
MAX_DEPTH = 20
_WHITESPACE = b"\r\n \t"


@dataclass(frozen=True)
class _Leaf:
    start: int  # where the part's header block begins
    body: int  # where its body begins
    end: int  # where its body ends

    @property
    def size(self) -> int:
        return self.end - self.body


@dataclass(frozen=True)
class Cuts:
    """The bodies cut out of a message, by the number its part's marker header gives."""

    content: bytes
    marker: str = ""
    leaves: tuple[_Leaf, ...] = field(default=())

    def leaf(self, part: Message) -> _Leaf | None:
        """The cut body of a part, or None when the part kept its body."""
        if not self.marker:
            return None
        try:
            return self.leaves[int(str(part.get(self.marker, "")).strip())]
        except (ValueError, IndexError):
            return None

    def size(self, part: Message, leaf: _Leaf) -> int | None:
        """Its decoded size counted without decoding; None when only decoding tells
        (quoted-printable, which is never larger decoded)."""
        encoding = _encoding(part)
        if encoding == "base64":
            skipped = sum(self.content.count(bytes([c]), leaf.body, leaf.end) for c in b"\r\n \t=")
            return (leaf.size - skipped) * 3 // 4
        return None if encoding == "quoted-printable" else leaf.size

    def decode(self, part: Message, leaf: _Leaf, limit: int | None = None) -> bytes:
        """Its body decoded (the first ``limit`` raw bytes of it only, when given)."""
        end = leaf.end if limit is None else min(leaf.end, leaf.body + limit)
        view = memoryview(self.content)[leaf.body : end]
        encoding = _encoding(part)
        try:
            if encoding == "base64":
                if limit is None:
                    return binascii.a2b_base64(view)  # line breaks are skipped
                clean = bytes(view).translate(None, _WHITESPACE)
                return binascii.a2b_base64(clean[: len(clean) // 4 * 4])
            if encoding == "quoted-printable":
                return binascii.a2b_qp(view)
        except binascii.Error:
            pass  # as the email package does: a body that does not decode is given as it is
        return bytes(view)


def _encoding(part: Message) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def _header_end(content: bytes, start: int, end: int) -> int | None:
    """Where the body of the entity at ``start`` begins (after the blank line), or None."""
    for blank in (b"\r\n", b"\n"):
        if content.startswith(blank, start):
            return start + len(blank)  # no headers at all
    found = [i + len(s) for s in (b"\r\n\r\n", b"\n\n") if (i := content.find(s, start, end)) >= 0]
    return min(found) if found else None


def _delimiters(content: bytes, body: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """(line start, line end) of each delimiter line of a multipart body, the closing one last."""
    marker = b"--" + boundary
    lines: list[tuple[int, int]] = []
    position = body
    while (found := content.find(marker, position, end)) >= 0:
        position = found + len(marker)
        if found != body and content[found - 1 : found] != b"\n":
            continue  # not at the start of a line: data
        line_end = content.find(b"\n", position, end)
        line_end = end if line_end < 0 else line_end + 1
        closing = content.startswith(b"--", position)
        rest = content[position + (2 if closing else 0) : line_end]
        if rest.strip(_WHITESPACE):
            continue  # "--boundaryX": a longer line that only begins like it
        lines.append((found, line_end))
        if closing:
            break
    return lines


def _scan(content: bytes, start: int, end: int, depth: int, leaves: list[_Leaf]) -> bool:
    """Collect the leaves of the entity content[start:end]; False if its structure is not
    followed (the message is then parsed whole)."""
    body = _header_end(content, start, end)
    if body is None or depth > MAX_DEPTH:
        return False
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        content[start:body]
    )
    kind = headers.get_content_type()
    if kind.startswith("multipart/"):
        boundary = headers.get_boundary()
        if not boundary:
            return False
        lines = _delimiters(content, body, end, boundary.encode("ascii", "surrogateescape"))
        if not lines:
            return False
        for (_, part_start), (next_line, _) in itertools.pairwise(lines):
            # The line break before a delimiter belongs to the delimiter (RFC 2046).
            part_end = next_line - (2 if content[next_line - 2 : next_line] == b"\r\n" else 1)
            if not _scan(content, part_start, max(part_start, part_end), depth + 1, leaves):
                return False
        return True
    if kind == "message/rfc822":
        return _scan(content, body, end, depth + 1, leaves)
    leaves.append(_Leaf(start, body, end))
    return True


def lean(content: bytes) -> tuple[bytes, Cuts]:
    """The message as the parser is to see it (large bodies cut out), and the cuts."""
    leaves: list[_Leaf] = []
    if len(content) <= CUT_BYTES or not _scan(content, 0, len(content), 0, leaves):
        return content, Cuts(content)
    cut = {leaf for leaf in leaves if leaf.size > CUT_BYTES}
    kept = len(content) - sum(leaf.size for leaf in cut)
    for leaf in sorted(set(leaves) - cut, key=lambda x: x.size, reverse=True):
        if kept <= KEEP_BYTES:
            break
        cut.add(leaf)
        kept -= leaf.size
    if not cut:
        return content, Cuts(content)
    ordered = tuple(sorted(cut, key=lambda x: x.start))
    marker = f"X-Taskforce-Cut-{secrets.token_hex(8)}"
    newline = b"\r\n" if b"\r\n" in content[: ordered[0].body] else b"\n"
    pieces: list[bytes] = []
    position = 0
    for number, leaf in enumerate(ordered):
        pieces += [content[position : leaf.start], f"{marker}: {number}".encode() + newline]
        pieces.append(content[leaf.start : leaf.body])
        position = leaf.end
    pieces.append(content[position:])
    return b"".join(pieces), Cuts(content, marker, ordered)
