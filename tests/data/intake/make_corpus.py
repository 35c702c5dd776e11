"""Regenerate the intake corpus: one raw message per case, as the office's Maildir receives it.

    .venv/bin/python -m tests.data.intake.make_corpus          # rewrite the .eml files
    .venv/bin/python tests/data/intake/make_corpus.py --check  # only compare, exit 1 on change

Every message is written byte by byte (CRLF line ends, fixed MIME boundaries, Message-IDs and
dates), then filed through ``tasks.demo.mailcatcher.deliver_to_maildir`` so that it carries the very
``Return-Path`` / ``Delivered-To`` / ``Received`` lines the office's server adds; the
``Received`` date is when intake considers the message received. The forms are the real ones:
the 陵川 policy is loaded into a throwaway SQLite database and each unit's form is built with
``tasks.forms.build.build_form`` from the notice context, as ``prepare_reminders`` builds it, signed
with the corpus's own key (``KEY``, which ``test_corpus`` installs as the office's key, recording
the ``ISSUED`` blank forms as issued); filled forms are saved with fixed zip times, so the same
policy and the same code give the same bytes. ``tests/intake/test_corpus.py`` checks that the
committed files are exactly what this script writes; ``expected.yaml`` (written by hand) says what
intake must make of each.

A policy or form-layout change makes the committed files stale: rerun this script, then check
``expected.yaml`` (cell addresses) against the new forms.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import sys
import tempfile
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import openpyxl

from config.settings import CONFIG_DIR, CalendarSettings, Settings
from tasks.calendar import SHANGHAI

HERE = Path(__file__).resolve().parent
POLICY = "lingchuan-2023"
OFFICE = "taskforce-office@lingchuan.example.org"
RSJ = "rsj@lingchuan.example.org"  # 县人社局
GXJ = "gxj@lingchuan.example.org"  # 县工信局
# The corpus's forms were first signed with the demo key the code once shipped; it is public, so
# here it is only the key of this test corpus (tests/intake/test_corpus.py sets it for the office).
KEY = b"demo-only-form-signing-key-change-me"
# (unit, obligation, period) of the blank forms the replies were made from: the office issued
# these, and only these.
ISSUED = (
    ("rsj", "monthly-progress", "2023-02"),
    ("gxj", "monthly-progress", "2023-02"),
    ("rsj", "implementation-ledger", "2023"),
)
CRLF = b"\r\n"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
# Zip entry times of every workbook saved here (forms are built with their issue time).
ZIP_STAMP = (2023, 2, 28, 16, 30, 0)
SAVED_AT = "2023-02-28T08:30:00Z"  # docProps/core.xml "modified" of a filled form
MB = 1_000_000


# ---------------------------------------------------------------------------------------------
# The real forms


@dataclass(frozen=True)
class Form:
    filename: str
    data: bytes


class Forms:
    """Blank forms of the seed policy as the notices carry them, and the same forms filled in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: dict[str, Form] = {}

    def blank(self, unit_code: str, obligation: str, period: str, *, key: bytes = KEY) -> Form:
        cache = repr(("blank", unit_code, obligation, period, key))
        if cache not in self._built:
            self._built[cache] = self._build(unit_code, obligation, period, key)
        return self._built[cache]

    def _build(self, unit_code: str, obligation: str, period: str, key: bytes) -> Form:
        from models.db import session_scope
        from models.notice_data import load_notice_data
        from tasks.forms.build import build_form
        from tasks.forms.layout import form_filename, form_spec_from_context
        from tasks.mail.notices import notice_context

        with session_scope(self.settings) as session:
            data = load_notice_data(session, POLICY, None)
            [(o, cycle)] = [
                (o, c) for o, c in data.cycles if (o.code, c.period) == (obligation, period)
            ]
            [unit] = [u for u in data.recipients[obligation] if u.code == unit_code]
            assert unit.id is not None
            # The opening notice, 09:00 on the day the cycle opens, builds the form.
            as_of = datetime(
                cycle.opens.year, cycle.opens.month, cycle.opens.day, 9, tzinfo=SHANGHAI
            )
            context = notice_context(
                kind="opening",
                policy=data.policy,
                obligation=o,
                cycle=cycle,
                unit=unit,
                measures=data.measures_by_unit.get(unit.id, []),
                as_of=as_of,
                days_left=0,
                attachment_name="",
            )
        spec = form_spec_from_context(context)
        return Form(form_filename(spec), build_form(spec, key))

    def filled(
        self,
        unit_code: str,
        obligation: str = "monthly-progress",
        period: str = "2023-02",
        *,
        key: bytes = KEY,
        **fill: Any,
    ) -> Form:
        """The unit's form filled as ``tasks.demo.bureaus.fill_form`` does, saved reproducibly."""
        from tasks.demo.bureaus import fill_form

        fill.setdefault("status", "推进中")
        fill.setdefault("text", "按计划推进")
        cache = repr(("filled", unit_code, obligation, period, key, sorted(fill.items())))
        if cache not in self._built:
            form = self.blank(unit_code, obligation, period, key=key)
            filled = reproducible(fill_form(form.data, key, **fill))
            self._built[cache] = Form(form.filename, filled)
        return self._built[cache]


def reproducible(data: bytes) -> bytes:
    """A saved workbook (or any zip) rewritten with fixed entry times and "modified" stamp."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + SAVED_AT.encode() + rb"\g<2>",
                    body,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0
            target.writestr(entry, body)
    return out.getvalue()


def rezip(
    data: bytes, change: Callable[[str, bytes], bytes | None], add: Mapping[str, bytes]
) -> bytes:
    """A zip with each entry passed through ``change`` (None drops it) and entries added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = [(i.filename, change(i.filename, source.read(i))) for i in source.infolist()]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, body in [*entries, *add.items()]:
            if body is None:
                continue
            entry = zipfile.ZipInfo(name, date_time=ZIP_STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0
            target.writestr(entry, body)
    return out.getvalue()


def with_meta_changed(form: Form, cell: str, value: str) -> Form:
    """The form with one cell of the very hidden _meta sheet rewritten, signature left as it was."""
    wb = openpyxl.load_workbook(io.BytesIO(form.data))
    wb["_meta"][cell].value = value
    out = io.BytesIO()
    wb.save(out)
    return Form(form.filename, reproducible(out.getvalue()))


def with_measure_number(form: Form, cell: str, value: str) -> Form:
    """Column A edited: sheet protection has no password, so a unit can lift it and type."""
    wb = openpyxl.load_workbook(io.BytesIO(form.data))
    wb.worksheets[0][cell].value = value
    out = io.BytesIO()
    wb.save(out)
    return Form(form.filename, reproducible(out.getvalue()))


def macro_workbook(form: Form) -> bytes:
    """The filled form as Excel saves it with a VBA module: .xlsm content type + vbaProject.bin."""

    def change(name: str, body: bytes) -> bytes:
        if name == "[Content_Types].xml":
            body = body.replace(
                b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
            )
            return body.replace(
                b"<Default ",
                b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                b"<Default ",
                1,
            )
        if name == "xl/_rels/workbook.xml.rels":
            return body.replace(
                b"</Relationships>",
                b'<Relationship Id="rIdVBA1" Type="http://schemas.microsoft.com/office/2006/'
                b'relationships/vbaProject" Target="vbaProject.bin"/></Relationships>',
            )
        return body

    # An OLE compound file header, then the module's source as the VBA project stores it
    # (uncompressed here; a harmless macro).
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    source = (
        b'Attribute VB_Name = "Module1"\r\n'
        b"Sub Auto_Open()\r\n"
        b'    MsgBox "\xc7\xeb\xb0\xb4\xca\xb1\xcc\xee\xb1\xa8"\r\n'  # 请按时填报, GBK
        b"End Sub\r\n"
    )
    vba = header.ljust(512, b"\xff") + source.ljust(1024, b"\x00")
    return rezip(form.data, change, {"xl/vbaProject.bin": vba})


def encrypted_workbook() -> bytes:
    """What Excel writes for a workbook with an open password: an OLE compound file, not a zip."""
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file signature
        + bytes(16)
        + b"\x3e\x00\x03\x00\xfe\xff\x09\x00\x06\x00"  # version 3, little endian, 512-byte sectors
    )
    directory = b"".join(
        name.encode("utf-16-le").ljust(64, b"\x00") + bytes(64)
        for name in ("Root Entry", "EncryptionInfo", "EncryptedPackage", "\x06DataSpaces")
    )
    noise = b"".join(hashlib.sha256(b"encrypted-%d" % i).digest() for i in range(96))
    return header.ljust(512, b"\xff") + directory + noise


def truncated_sheet(form: Form) -> bytes:
    """The form sheet's XML cut off in the middle of its rows, the zip itself sound, as a tool
    that died while saving leaves it: the signed _meta sheet still reads fine."""

    def change(name: str, body: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return body
        cut = body.index(b'<row r="20"')
        return body[: cut + 40]

    return rezip(form.data, change, {})


def zip_bomb() -> bytes:
    """About 52 KB that claim to be a workbook and unpack to 52 MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, body in (
            ("[Content_Types].xml", b'<?xml version="1.0"?><Types/>'),
            ("xl/workbook.xml", b'<?xml version="1.0"?><workbook/>'),
            ("xl/worksheets/sheet1.xml", bytes(52 * MB)),
        ):
            entry = zipfile.ZipInfo(name, date_time=ZIP_STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0
            archive.writestr(entry, body, compresslevel=9)
    return out.getvalue()


def own_spreadsheet() -> bytes:
    """A unit's own table: an ordinary workbook without our _meta sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "2月进展"
    ws.append(["措施编号", "进展状态", "情况说明"])
    ws.append(["19", "推进中", "已完成摸底"])
    ws.append(["20", "推进中", "4个项目已开工"])
    wb.properties.creator = "县人社局"
    wb.properties.created = datetime(2023, 2, 28, 8, 0)  # else the time of building
    out = io.BytesIO()
    wb.save(out)
    return reproducible(out.getvalue())


def word_document(paragraphs: list[str], table: list[list[str]]) -> bytes:
    """A minimal but valid .docx (python-docx reads it), with fixed zip times."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    def run(text: str) -> str:
        return f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'

    rows = "".join(
        "<w:tr>" + "".join(f"<w:tc>{run(cell)}</w:tc>" for cell in row) + "</w:tr>" for row in table
    )
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{w}"><w:body>'
        + "".join(run(p) for p in paragraphs)
        + f"<w:tbl>{rows}</w:tbl><w:sectPr/></w:body></w:document>"
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": document,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            entry = zipfile.ZipInfo(name, date_time=ZIP_STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0
            archive.writestr(entry, body.encode("utf-8"))
    return out.getvalue()


def pdf_document() -> bytes:
    """A one-page PDF (a scan or a 'print to PDF' of the report), cross-reference table exact."""
    stream = b"BT /F1 14 Tf 72 720 Td (Lingchuan rsj monthly report 2023-02) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Raw messages


def b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"".join(text[i : i + 76] + CRLF for i in range(0, len(text), 76))


def words(text: str, charset: str = "utf-8", codec: str | None = None) -> str:
    """RFC 2047 B-words of at most 75 characters, split between characters, space separated."""
    out: list[str] = []
    chunk = ""
    for ch in text:
        candidate = chunk + ch
        if len(base64.b64encode(candidate.encode(codec or charset))) + len(charset) + 7 > 75:
            out.append(chunk)
            candidate = ch
        chunk = candidate
    out.append(chunk)
    return " ".join(
        f"=?{charset}?B?{base64.b64encode(c.encode(codec or charset)).decode()}?=" for c in out
    )


def subject(text: str) -> bytes:
    """A Subject header value as Python's mail clients write it (folded RFC 2047 words)."""
    return Header(text, "utf-8", header_name="Subject").encode(linesep="\r\n").encode("ascii")


@dataclass(frozen=True)
class Part:
    """One body part: its header lines (without the blank line) and its encoded body."""

    headers: bytes
    body: bytes


def text_part(text: str, charset: str = "utf-8", codec: str | None = None) -> Part:
    return Part(
        b"Content-Type: text/plain; charset=" + charset.encode() + CRLF
        + b"Content-Transfer-Encoding: base64",
        b64(text.encode(codec or charset)),
    )  # fmt: skip


def html_part(markup: str) -> Part:
    return Part(
        b"Content-Type: text/html; charset=utf-8" + CRLF + b"Content-Transfer-Encoding: base64",
        b64(markup.encode("utf-8")),
    )


def file_part(
    data: bytes,
    content_type: str,
    *,
    filename: str = "",
    raw_name: bytes | None = None,
    name_param: bytes | None = None,
) -> Part:
    """An attachment. The file name is written as most Chinese clients write it: RFC 2047 words
    inside the quoted parameter (against the RFC); ``raw_name`` gives the parameter's exact bytes
    instead (raw GBK, RFC 2231)."""
    name = raw_name if raw_name is not None else b'filename="' + words(filename).encode() + b'"'
    type_name = name_param if name_param is not None else name.replace(b"filename", b"name", 1)
    return Part(
        b"Content-Type: " + content_type.encode() + b";" + CRLF + b"\t" + type_name + CRLF
        + b"Content-Transfer-Encoding: base64" + CRLF
        + b"Content-Disposition: attachment;" + CRLF + b"\t" + name,
        b64(data),
    )  # fmt: skip


def message(
    number: int,
    *,
    sender: bytes,
    subject_header: bytes,
    parts: list[Part],
    extra: bytes = b"",
    content_type: bytes | None = None,
    minute: int | None = None,
) -> bytes:
    """A reply to the office as its client sends it: fixed Date, Message-ID and boundary."""
    minute = number if minute is None else minute
    boundary = b"----=_NextPart_corpus_%02d_5F3A9C" % number
    head = (
        b"From: " + sender + CRLF
        + b"To: " + words("县工作专班办公室").encode() + b" <" + OFFICE.encode() + b">" + CRLF
        + b"Subject: " + subject_header + CRLF
        + b"Date: Wed, 1 Mar 2023 10:%02d:05 +0800" % minute + CRLF
        + b"Message-ID: <20230301-corpus-%02d@mail.lingchuan.example.org>" % number + CRLF
        + extra
        + b"X-Mailer: Foxmail 7.2.25.228[cn]" + CRLF
        + b"MIME-Version: 1.0" + CRLF
    )  # fmt: skip
    if len(parts) == 1 and content_type is None:
        [part] = parts
        return head + part.headers + CRLF + CRLF + part.body
    head += b"Content-Type: " + (
        content_type
        if content_type is not None
        else b"multipart/mixed;" + CRLF + b'\tboundary="' + boundary + b'"'
    ) + CRLF + CRLF  # fmt: skip
    body = b"This is a multi-part message in MIME format." + CRLF + CRLF
    for part in parts:
        body += b"--" + boundary + CRLF + part.headers + CRLF + CRLF + part.body + CRLF
    return head + body + b"--" + boundary + b"--" + CRLF


def delivered(content: bytes, *, envelope_from: str, minute: int) -> bytes:
    """The message as the office's server files it: through the catcher's own Maildir delivery."""
    from tasks.demo.mailcatcher import deliver_to_maildir

    received_at = datetime(2023, 3, 1, 10, minute, 30, tzinfo=SHANGHAI)
    with tempfile.TemporaryDirectory() as directory:
        path = deliver_to_maildir(
            Path(directory),
            content,
            envelope_from,
            OFFICE,
            received_at=received_at,
            peer="10.20.0.15",
        )
        return path.read_bytes()


def named(name: str, address: str) -> bytes:
    return words(name).encode() + b" <" + address.encode() + b">"


# ---------------------------------------------------------------------------------------------
# The cases

Case = Callable[[Forms], tuple[bytes, str]]  # → (message, envelope sender)
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(build: Case) -> Case:
        CASES[name] = build
        return build

    return register


def reply_to_february(number: int, form: Form, **kwargs: Any) -> bytes:
    return message(
        number,
        sender=kwargs.pop("sender", named("县人社局", RSJ)),
        subject_header=kwargs.pop(
            "subject_header", subject("Re: 【通知】请报送2023年2月月度进展情况报告")
        ),
        parts=[
            text_part(
                kwargs.pop("body", "专班办公室：\r\n附件为我局2月份进展情况报告，请查收。\r\n")
            ),
            file_part(form.data, XLSX, filename=form.filename),
        ],
        **kwargs,
    )


@case("01-valid-monthly-form.eml")
def _valid(forms: Forms) -> tuple[bytes, str]:
    return reply_to_february(1, forms.filled("rsj")), RSJ


@case("02-required-cells-empty.eml")
def _required_empty(forms: Forms) -> tuple[bytes, str]:
    # 存在的问题困难, 措施25's 进展状态, 措施20's second target value.
    form = forms.filled("rsj", skip=("A9", "D19", "F16"))
    return reply_to_february(2, form), RSJ


@case("03-bad-values.eml")
def _bad_values(forms: Forms) -> tuple[bytes, str]:
    form = forms.filled("rsj", overrides={"D14": "进行中", "F15": "约一百", "F17": "65个"})
    return reply_to_february(3, form), RSJ


@case("04-measure-number-altered.eml")
def _measure_altered(forms: Forms) -> tuple[bytes, str]:
    return reply_to_february(4, with_measure_number(forms.filled("rsj"), "A19", "52")), RSJ


@case("05-form-of-other-unit.eml")
def _other_unit(forms: Forms) -> tuple[bytes, str]:
    # 县人社局 forwards 县工信局's filled form from its own mailbox.
    return reply_to_february(5, forms.filled("gxj")), RSJ


@case("06-meta-period-altered.eml")
def _meta_altered(forms: Forms) -> tuple[bytes, str]:
    # _meta row 3 is the period: 2023-02 → 2023-01, the signature (row 9) left alone.
    return reply_to_february(6, with_meta_changed(forms.filled("rsj"), "B3", "2023-01")), RSJ


@case("07-signed-with-other-key.eml")
def _other_key(forms: Forms) -> tuple[bytes, str]:
    form = forms.filled("rsj", key=b"another-office-form-signing-key")
    return reply_to_february(7, form), RSJ


@case("08-macro-workbook.eml")
def _macro(forms: Forms) -> tuple[bytes, str]:
    form = forms.filled("rsj")
    name = form.filename.replace(".xlsx", ".xlsm")
    return message(
        8,
        sender=named("县人社局", RSJ),
        subject_header=subject("Re: 【通知】请报送2023年2月月度进展情况报告"),
        parts=[
            text_part("附件为我局2月份报告（带自动汇总宏），请查收。"),
            file_part(macro_workbook(form), XLSM, filename=name),
        ],
    ), RSJ


@case("09-password-protected.eml")
def _encrypted(forms: Forms) -> tuple[bytes, str]:
    form = forms.blank("rsj", "monthly-progress", "2023-02")
    return reply_to_february(9, Form(form.filename, encrypted_workbook())), RSJ


@case("10-corrupt-zip.eml")
def _corrupt(forms: Forms) -> tuple[bytes, str]:
    form = forms.filled("rsj")
    return reply_to_february(10, Form(form.filename, form.data[: len(form.data) // 2])), RSJ


@case("11-zip-bomb.eml")
def _bomb(forms: Forms) -> tuple[bytes, str]:
    form = forms.blank("rsj", "monthly-progress", "2023-02")
    return reply_to_february(11, Form(form.filename, zip_bomb())), RSJ


@case("12-oversize-attachment.eml")
def _oversize(forms: Forms) -> tuple[bytes, str]:
    # A normal filled form; expected.yaml lowers max_attachment_bytes for this case.
    return reply_to_february(12, forms.filled("rsj")), RSJ


@case("13-word-reply.eml")
def _word(forms: Forms) -> tuple[bytes, str]:
    document = word_document(
        ["县人社局2023年2月工作进展：人力资源产业园已完成选址。", "存在问题：用工缺口较大。"],
        [["措施", "进展"], ["19", "推进中"]],
    )
    return message(
        13,
        sender=named("县人社局", RSJ),
        subject_header=subject("县人社局2月份工作进展"),
        parts=[text_part("请查收。"), file_part(document, DOCX, filename="2月进展.docx")],
    ), RSJ


@case("14-pdf-reply.eml")
def _pdf(forms: Forms) -> tuple[bytes, str]:
    return message(
        14,
        sender=named("县工信局", GXJ),
        subject_header=subject("县工信局2月份进展情况（盖章扫描件）"),
        parts=[
            text_part("专班办公室：盖章扫描件见附件。"),
            file_part(pdf_document(), "application/pdf", filename="县工信局2月进展（盖章）.pdf"),
        ],
    ), GXJ


@case("15-plain-text-reply.eml")
def _plain(forms: Forms) -> tuple[bytes, str]:
    text = "专班办公室：\r\n我局2月份各项措施均按计划推进，无新增问题。\r\n县人社局 张敏\r\n"
    return message(
        15,
        sender=named("县人社局", RSJ),
        subject_header=subject("Re: 【通知】请报送2023年2月月度进展情况报告"),
        parts=[text_part(text, "gbk")],
    ), RSJ


@case("16-unknown-sender.eml")
def _unknown(forms: Forms) -> tuple[bytes, str]:
    return message(
        16,
        sender=named("张三", "zhangsan1987@163.example.com"),
        subject_header=subject("咨询：服务业提振政策申报"),
        parts=[text_part("您好，请问第26条的补贴怎么申报？")],
    ), "zhangsan1987@163.example.com"


@case("17-auto-reply.eml")
def _auto(forms: Forms) -> tuple[bytes, str]:
    return message(
        17,
        sender=named("县人社局", RSJ),
        subject_header=subject("自动回复: 【通知】请报送2023年2月月度进展情况报告"),
        parts=[text_part("您好，我已休假，3月6日返回，期间邮件不能及时回复。")],
        extra=b"Auto-Submitted: auto-replied" + CRLF,
    ), RSJ


@case("18-raw-gbk-headers.eml")
def _raw_gbk(forms: Forms) -> tuple[bytes, str]:
    # Old Foxmail / Outlook: 8-bit GBK in From, Subject and the file name, no RFC 2047 at all.
    form = forms.filled("rsj")
    raw = b'filename="' + form.filename.encode("gbk") + b'"'
    return message(
        18,
        sender="县人社局 <rsj@lingchuan.example.org>".encode("gbk"),
        subject_header="回复：2月份月度进展情况报告（县人社局）".encode("gbk"),
        parts=[
            text_part("附件为我局2月份报告。", "gbk"),
            file_part(
                form.data,
                XLSX,
                raw_name=raw,
                name_param=b'name="' + form.filename.encode("gbk") + b'"',
            ),
        ],
    ), RSJ


@case("19-gb2312-declared-gbk-chars.eml")
def _gb2312(forms: Forms) -> tuple[bytes, str]:
    # 報、縣、镕 are GBK characters outside GB2312, under a gb2312 label.
    form = forms.filled("rsj")
    return message(
        19,
        sender=words("县人社局", "gb2312", "gbk").encode() + b" <" + RSJ.encode() + b">",
        subject_header=words("縣人社局2月進展報告（朱镕基路项目）", "gb2312", "gbk").encode(),
        parts=[
            text_part("附件为我局2月份报告。", "gb2312", "gbk"),
            file_part(
                form.data,
                XLSX,
                raw_name=b'filename="' + words(form.filename, "gb2312", "gbk").encode() + b'"',
            ),
        ],
    ), RSJ


@case("20-rfc2231-gb18030-filename.eml")
def _rfc2231(forms: Forms) -> tuple[bytes, str]:
    form = forms.filled("rsj")
    quoted = urllib.parse.quote(form.filename.encode("gb18030"), safe="").encode()
    return message(
        20,
        sender=named("县人社局", RSJ),
        subject_header=subject("Re: 【通知】请报送2023年2月月度进展情况报告"),
        parts=[
            text_part("附件为我局2月份报告。"),
            file_part(
                form.data,
                XLSX,
                raw_name=b"filename*=gb18030''" + quoted,
                name_param=b"name*=gb18030''" + quoted,
            ),
        ],
    ), RSJ


@case("21-broken-from.eml")
def _broken_from(forms: Forms) -> tuple[bytes, str]:
    # An unbalanced quote: no address can be read from the header (the envelope is 县人社局's).
    form = forms.filled("rsj")
    return reply_to_february(
        21, form, sender=b'"' + words("县人社局").encode() + b" <" + RSJ.encode() + b">"
    ), RSJ


@case("22-missing-boundary.eml")
def _no_boundary(forms: Forms) -> tuple[bytes, str]:
    # multipart/mixed without its boundary parameter: the parts cannot be found.
    form = forms.filled("rsj")
    return message(
        22,
        sender=named("县人社局", RSJ),
        subject_header=subject("Re: 【通知】请报送2023年2月月度进展情况报告"),
        parts=[
            text_part("附件为我局2月份报告。"),
            file_part(form.data, XLSX, filename=form.filename),
        ],
        content_type=b"multipart/mixed",
    ), RSJ


@case("23-two-forms.eml")
def _two_forms(forms: Forms) -> tuple[bytes, str]:
    # February's monthly report and, late, the one-off 任务清单台账 of the same bureau.
    monthly = forms.filled("rsj")
    ledger = forms.filled("rsj", "implementation-ledger", "2023")
    return message(
        23,
        sender=named("县人社局", RSJ),
        subject_header=subject("县人社局：2月月度进展报告及任务清单台账（补报）"),
        parts=[
            text_part("两份报表见附件，台账为补报。"),
            file_part(monthly.data, XLSX, filename=monthly.filename),
            file_part(ledger.data, XLSX, filename=ledger.filename),
        ],
    ), RSJ


@case("24-truncated-sheet.eml")
def _truncated_sheet(forms: Forms) -> tuple[bytes, str]:
    form = forms.filled("rsj")
    return reply_to_february(24, Form(form.filename, truncated_sheet(form))), RSJ


@case("25-own-spreadsheet.eml")
def _own_table(forms: Forms) -> tuple[bytes, str]:
    return message(
        25,
        sender=named("县人社局", RSJ),
        subject_header=subject("县人社局2月进展（自制表）"),
        parts=[
            text_part("用我局自己的表报送，请查收。"),
            file_part(own_spreadsheet(), XLSX, filename="2月进展表.xlsx"),
        ],
    ), RSJ


@case("26-message-too-large.eml")
def _too_large(forms: Forms) -> tuple[bytes, str]:
    # A normal reply; expected.yaml lowers max_message_bytes for this case.
    return reply_to_february(26, forms.filled("rsj")), RSJ


@case("27-html-only-reply.eml")
def _html(forms: Forms) -> tuple[bytes, str]:
    markup = (
        "<html><head><style>p{color:red}</style></head><body>"
        "<p>专班办公室：</p><p>我局2月份工作&ldquo;稳步推进&rdquo;，详见下周书面报告。</p>"
        "</body></html>"
    )
    return message(
        27,
        sender=named("县工信局", GXJ),
        subject_header=subject("县工信局2月份进展"),
        parts=[html_part(markup)],
    ), GXJ


@case("28-raw-utf8-headers.eml")
def _raw_utf8(forms: Forms) -> tuple[bytes, str]:
    # Webmail that sends 8-bit UTF-8 headers (SMTPUTF8 style) without RFC 2047.
    form = forms.filled("gxj")
    name = form.filename.encode("utf-8")
    return message(
        28,
        sender="县工信局 <gxj@lingchuan.example.org>".encode(),
        subject_header="回复：2月份月度进展情况报告（县工信局）".encode(),
        parts=[
            text_part("附件为我局2月份报告。"),
            file_part(
                form.data,
                XLSX,
                raw_name=b'filename="' + name + b'"',
                name_param=b'name="' + name + b'"',
            ),
        ],
    ), GXJ


@case("29-controls-in-subject-and-filename.eml")
def _controls(forms: Forms) -> tuple[bytes, str]:
    # A NUL and an ESC sequence inside an encoded subject and an RFC 2231 file name: PostgreSQL
    # refused them, and the valid form they came with was lost (issue 17 §6).
    form = forms.filled("rsj")
    hostile = form.filename.removesuffix(".xlsx") + "\x00\x1b[2J.xlsx"
    quoted = urllib.parse.quote(hostile.encode("utf-8"), safe="").encode()
    return message(
        29,
        sender=named("县人社局", RSJ),
        subject_header=b"=?utf-8?b?"
        + base64.b64encode("Re: 2月报告\x00\x1b]8;;http://evil.example.com\x07".encode())
        + b"?=",
        parts=[
            text_part("附件为我局2月份报告。\x00"),
            file_part(
                form.data,
                XLSX,
                raw_name=b"filename*=utf-8''" + quoted,
                name_param=b"name*=utf-8''" + quoted,
            ),
        ],
    ), RSJ


@case("30-link-syntax-filename.eml")
def _link_name(forms: Forms) -> tuple[bytes, str]:
    # A stranger's file named in markdown link and HTML syntax: stored as it is, shown as text.
    return message(
        30,
        sender=b"someone <someone@evil.example.com>",
        subject_header=subject("请查看"),
        parts=[
            text_part("见附件。"),
            file_part(
                b"PK\x03\x04",
                XLSX,
                filename="[点此查看原件](http://evil.example.com)<img src=x>.xlsx",
            ),
        ],
    ), "someone@evil.example.com"


# ---------------------------------------------------------------------------------------------
# Building and writing


@contextmanager
def _policy_loaded() -> Iterator[Settings]:
    from config.loading import load_policy_file
    from models.db import init_db, session_scope
    from models.policy_store import load_policy
    from tasks.calendar import WorkingCalendar
    from tasks.cycles import cycles_for_policy

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        settings = Settings(
            var_dir=root / "var",
            database_url=f"sqlite:///{root / 'corpus.db'}",
            calendar=CalendarSettings(holidays_dir=root / "no-holiday-files"),
        )
        init_db(settings)
        bundle = load_policy_file(CONFIG_DIR / "policies" / f"{POLICY}.yaml", settings)
        with session_scope(settings) as session:
            load_policy(
                session,
                bundle,
                cycles_for_policy(bundle.policy, WorkingCalendar()),
                now=datetime(2022, 10, 1, tzinfo=UTC),
            )
        yield settings


def issued_blanks() -> list[bytes]:
    """The ``ISSUED`` blank forms, as the office sent them."""
    with _policy_loaded() as settings:
        forms = Forms(settings)
        return [forms.blank(*issued).data for issued in ISSUED]


def build_corpus() -> dict[str, bytes]:
    """Every case's file name → the bytes the office's Maildir holds for it."""
    corpus: dict[str, bytes] = {}
    with _policy_loaded() as settings:
        forms = Forms(settings)
        for name, build in CASES.items():
            content, envelope_from = build(forms)
            number = int(name.split("-", 1)[0])
            corpus[name] = delivered(content, envelope_from=envelope_from, minute=number)
    return corpus


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    corpus = build_corpus()
    stale = sorted(p.name for p in HERE.glob("*.eml") if p.name not in corpus)
    changed = [
        n
        for n, data in corpus.items()
        if not (HERE / n).is_file() or (HERE / n).read_bytes() != data
    ]
    if check:
        for name in changed + stale:
            print(f"differs: {name}")
        return 1 if changed or stale else 0
    for name in stale:
        (HERE / name).unlink()
        print(f"removed {name}")
    for name in changed:
        (HERE / name).write_bytes(corpus[name])
        print(f"wrote {name} ({len(corpus[name]):,} bytes)")
    print(f"{len(corpus)} cases, {len(changed)} written, {len(stale)} removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
