"""Large bodies cut out of the parser (tasks/mail/lean.py): the message reads the same.

Each message is taken apart twice, with the large bodies cut out and whole (``CUT_BYTES`` set
above its size), and the two results must be equal; the cut one must really have been cut.
"""

from __future__ import annotations

import base64
import quopri
from email.message import EmailMessage

import pytest

from tasks.mail import lean as lean_module
from tasks.mail.inbound import ParsedMessage, parse_message
from tasks.mail.lean import lean

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 2400  # 614 KB of every byte value
SHEET = b"PK\x03\x04" + b"\x00\x17workbook" * 40_000  # 480 KB
LIMIT = 20_000_000


def _mixed(*parts: tuple[str, bytes, str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "rsj@lingchuan.example.org"
    message["To"] = "taskforce-office@lingchuan.example.org"
    message["Subject"] = "Re: 2023年2月进展情况报告"
    message["Message-ID"] = "<m1@lingchuan.example.org>"
    message.set_content("请查收。\n县人社局")
    for name, data, kind in parts:
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def _forwarded() -> bytes:
    inner = _mixed(("进展情况.pdf", PDF, "application/pdf"))
    outer = _mixed()
    outer.add_attachment(inner)  # message/rfc822, the form's mail inside
    return outer.as_bytes()


def _alternative() -> bytes:
    message = _mixed(("照片.zip", SHEET, "application/zip"))
    body = message.get_body(("plain",))
    assert body is not None
    body.add_alternative("<p>请查收。</p>", subtype="html")
    return message.as_bytes()


def _raw(body: bytes, headers: str) -> bytes:
    return (
        "From: rsj@lingchuan.example.org\r\nSubject: =?utf-8?b?5oql5ZGK?=\r\n"
        f"Message-ID: <r@x>\r\nMIME-Version: 1.0\r\n{headers}\r\n\r\n"
    ).encode() + body


def _boundary_lookalike() -> bytes:
    """A part whose data holds a line that begins like the boundary but is longer."""
    data = base64.encodebytes(PDF).replace(b"\n", b"\r\n")
    return _raw(
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n--b1x is not a boundary\r\n"
        b"--b1\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64"
        b"\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n" + data + b"--b1--\r\n",
        'Content-Type: multipart/mixed; boundary="b1"',
    )


CASES = {
    "base64-attachment": _mixed(("进展情况.pdf", PDF, "application/pdf")).as_bytes(),
    "two-attachments": _mixed(
        ("a.pdf", PDF, "application/pdf"), ("b.xlsx", SHEET, "application/octet-stream")
    ).as_bytes(),
    "forwarded-message": _forwarded(),
    "alternative-in-mixed": _alternative(),
    "huge-text-body": _raw(
        ("本月工作已完成。" * 60_000).encode(), "Content-Type: text/plain; charset=utf-8"
    ),
    "quoted-printable": _raw(
        quopri.encodestring(("说明：" * 90_000).encode("gb18030")),
        "Content-Type: application/octet-stream; name=x.txt\r\n"
        "Content-Transfer-Encoding: quoted-printable",
    ),
    "boundary-lookalike": _boundary_lookalike(),
    "missing-boundary": _raw(b"--b1\r\n" + PDF, "Content-Type: multipart/mixed"),
}


def _whole(content: bytes, monkeypatch: pytest.MonkeyPatch, limit: int) -> ParsedMessage:
    with monkeypatch.context() as patch:
        patch.setattr(lean_module, "CUT_BYTES", len(content) + 1)
        return parse_message(content, max_attachment_bytes=limit)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("limit", [LIMIT, 500_000], ids=["under-limit", "over-limit"])
def test_a_cut_message_reads_as_the_whole_one(
    name: str, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = CASES[name]
    parsed = parse_message(content, max_attachment_bytes=limit)
    assert parsed == _whole(content, monkeypatch, limit)
    seen, cuts = lean(content)
    if name == "missing-boundary":
        assert seen == content and not cuts.leaves  # not followed: parsed whole, as before
    else:
        assert len(seen) < 100_000 and cuts.leaves, len(seen)
    if name == "base64-attachment" and limit < len(PDF):
        [attachment] = parsed.attachments
        assert (attachment.too_large, attachment.size) == (True, len(PDF))  # measured exactly


def test_a_sender_cannot_name_a_cut() -> None:
    """A part that carries a marker of its own is read as it is, not as another part's body."""
    content = CASES["two-attachments"].replace(
        b'Content-Disposition: attachment; filename="b.xlsx"',
        b"X-Taskforce-Cut-0000000000000000: 0\r\nContent-Disposition: attachment; "
        b'filename="b.xlsx"',
    )
    parsed = parse_message(content, max_attachment_bytes=LIMIT)
    assert [(a.filename, a.data) for a in parsed.attachments] == [
        ("a.pdf", PDF),
        ("b.xlsx", SHEET),
    ]
