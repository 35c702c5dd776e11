"""What is read of a message too large to read: its header block, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.mail.sources import header_block, read_head


@pytest.mark.parametrize(
    ("head", "block"),
    [
        (b"From: a@b\r\nSubject: x\r\n\r\nbody", b"From: a@b\r\nSubject: x\r\n\r\n"),
        (b"From: a@b\nSubject: x\n\nbody\n\nmore", b"From: a@b\nSubject: x\n\n"),
        (b"From: a@b\r\nSubject: x\r\nX-Long: abc", b"From: a@b\r\nSubject: x\r\n"),  # cut: no end
        (b"no line break at all", b"no line break at all"),
    ],
    ids=["crlf", "lf", "unterminated", "one-line"],
)
def test_header_block(head: bytes, block: bytes) -> None:
    assert header_block(head) == block


def test_read_head_reads_at_most_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(b"From: a@b\r\nX-Pad: " + b"x" * 200_000 + b"\r\n\r\nbody")
    assert read_head(path, limit=1000) == b"From: a@b\r\n"
