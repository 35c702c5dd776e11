"""Attack: what an outsider writes is stored clean and shown inert (issue 17 §6).

A NUL in a subject or a file name crashed intake on PostgreSQL and lost a valid signed form; a
file name in markdown link syntax became a clickable link with a remote image in the Prefect UI;
Rich markup and terminal escapes in a reply reached the office's terminal as formatting.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from sqlmodel import col, select

from config.settings import Settings
from flows.cli.common import outside
from models import tables as t
from models.db import session_scope
from tasks.demo.bureaus import fill_form
from tasks.forms.keys import form_keys
from tasks.intake.report import intake_markdown
from tasks.intake.steps import take_in
from tasks.mail.outbox import deliver_outbox
from tasks.mail.sources import MaildirSource
from tasks.reminders.steps import prepare_reminders
from tasks.text import clean_line, clean_text
from tests.helpers import load_seeds, run_cli
from tests.intake_helpers import XLSX, at, caught, form_of, office_catcher, office_mailbox

POLICY = "lingchuan-2023"
RSJ = "rsj@lingchuan.example.org"  # 县人社局
HOSTILE_NAME = "[点此查看原件](http://evil.example.com)<img src=x>.xlsm"
MARKUP = "[bold red]请立即处理[/bold red]"
OSC8 = "\x1b]8;;http://evil.example.com\x1b\\点这里\x1b]8;;\x1b\\"


def test_attack_controls_are_removed_and_lines_kept() -> None:
    assert clean_line("月报\x00\x1b[31m.xlsx") == "月报[31m.xlsx"
    assert clean_line("报表\u202excod.xlsx") == "报表xcod.xlsx"  # no right-to-left override
    assert clean_line("第一行\r\n第二行\t完") == "第一行 第二行 完"
    assert clean_text("第一行\n\x00第二行\x85\x9b") == "第一行\n第二行"
    assert clean_text("普通文字，含【】（）和 emoji ✓") == "普通文字，含【】（）和 emoji ✓"


def _raw_reply(notice: EmailMessage, office: str, filename: str, form: bytes) -> bytes:
    """Byte for byte: a subject and an RFC 2231 file name that both decode to a NUL and an ESC."""
    subject = "=?utf-8?b?" + base64.b64encode("2月报表\x00\x1b[2J".encode()).decode() + "?="
    quoted = urllib.parse.quote(filename.encode(), safe="")
    boundary = "b-attack-controls"
    return (
        f"From: {RSJ}\r\nTo: {office}\r\nSubject: {subject}\r\n"
        f"Message-ID: <controls-1@lingchuan.example.org>\r\n"
        f"In-Reply-To: {notice['Message-ID']}\r\nDate: Wed, 1 Mar 2023 09:00:00 +0800\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary={boundary}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n请查收。\x00\r\n"
        f"--{boundary}\r\nContent-Type: {XLSX}\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{quoted}\r\n\r\n"
        + base64.encodebytes(form).decode().replace("\n", "\r\n")
        + f"\r\n--{boundary}--\r\n"
    ).encode()


async def test_attack_nul_in_subject_and_file_name_keeps_the_valid_form(
    db_settings: Settings,
) -> None:
    """On SQLite and PostgreSQL: the signed form is accepted, nothing stored holds a control."""
    settings = load_seeds(db_settings, POLICY)
    office = office_mailbox(settings, POLICY)
    key = form_keys(settings).current
    with office_catcher(settings) as (catcher, settings):
        prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
        await deliver_outbox(settings, POLICY, run_id="t", now=datetime.now(UTC))
        notice = caught(catcher.directory, RSJ)[-1]
        name, blank = form_of(notice)
        filled = fill_form(blank, key, status="推进中", value=12.0, text="按计划推进")
        hostile = name.removesuffix(".xlsx") + "\x00\x1b]8;;x\x07.xlsx"
        raw = _raw_reply(notice, office, hostile, filled)
        await aiosmtplib.send(
            raw, hostname=settings.smtp.host, port=settings.smtp.port,
            sender=RSJ, recipients=[office],
        )  # fmt: skip
        source = MaildirSource(settings.maildir_root / office)
        summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 1)))
    assert [(x["outcome"], x["unit"], x["period"]) for x in summary.lines] == [
        ("accepted", "县人社局", "2023-02")
    ]
    with session_scope(settings) as session:
        item = session.exec(select(t.InboundItem)).one()
        submission = session.exec(select(t.Submission)).one()
    assert item.status == "processed"
    assert item.subject == "2月报表[2J"
    assert submission.attachment == name.removesuffix(".xlsx") + "]8;;x.xlsx"
    for value in (item.subject, submission.attachment):
        assert not any(ord(ch) < 32 for ch in value), repr(value)


async def test_attack_a_file_name_in_link_syntax_is_plain_text_in_the_artifact(
    settings: Settings,
) -> None:
    """The intake artifact as a GFM renderer with linkify (what Prefect's UI does) renders it."""
    import markdown_it  # with rich, a Prefect dependency; linkify-it-py is a dev dependency

    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    message = EmailMessage()
    message["From"], message["To"] = "someone@evil.example.com", office
    message["Subject"] = "见 www.evil.example.com <script>alert(1)</script>"
    message.set_content("请查收")
    macro = "vnd.ms-excel.sheet.macroEnabled.12"
    message.add_attachment(
        b"PK\x03\x04", maintype="application", subtype=macro, filename=HOSTILE_NAME
    )
    with office_catcher(settings) as (_, settings):
        await aiosmtplib.send(message, hostname=settings.smtp.host, port=settings.smtp.port)
        source = MaildirSource(settings.maildir_root / office)
        summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 1)))
    summary.lines[0]["errors"].append({"problem": f"附件《{HOSTILE_NAME}》未予读取"})
    markdown = intake_markdown("收取报送", summary)
    page = markdown_it.MarkdownIt("gfm-like", {"html": True}).render(markdown)
    assert "<a " not in page and "<img" not in page and "<script" not in page, page
    assert "[点此查看原件](http://evil.example.com)" in page  # shown, as text


def _word_reply(office: str, notice: EmailMessage) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = RSJ, office
    message["Subject"] = "Re: " + str(notice["Subject"])
    message["In-Reply-To"] = str(notice["Message-ID"])
    message.set_content(f"本月进展见下。{MARKUP}{OSC8}")
    return message


async def test_attack_markup_and_escapes_in_a_reply_reach_the_terminal_as_text(
    settings: Settings, tmp_path: Path
) -> None:
    """`taskforce review` prints the excerpt as the unit wrote it: markup literal, no escapes."""
    settings = load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with office_catcher(settings) as (catcher, settings):
        prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
        await deliver_outbox(settings, POLICY, run_id="t", now=datetime.now(UTC))
        notice = caught(catcher.directory, RSJ)[-1]
        await aiosmtplib.send(
            _word_reply(office, notice), hostname=settings.smtp.host, port=settings.smtp.port
        )
        source = MaildirSource(settings.maildir_root / office)
        take_in(settings, POLICY, source, now=at(date(2023, 3, 1)))
    with session_scope(settings) as session:
        [pending] = session.exec(
            select(t.Submission).where(col(t.Submission.status) != "accepted")
        ).all()
    assert "\x1b" not in pending.fields["body"]
    result = run_cli(tmp_path, "review", "--policy", POLICY)
    assert result.returncode == 0, result.stderr
    unwrapped = re.sub(r"[\s│]", "", result.stdout)  # the table wraps the excerpt
    assert MARKUP.replace(" ", "") in unwrapped, result.stdout
    assert "\x1b" not in result.stdout


def test_attack_outside_text_in_a_table_is_not_markup() -> None:
    """What was stored before cleaning (or reaches the CLI another way) is still shown inert."""
    from rich.console import Console

    console = Console(record=True, width=200, force_terminal=True, color_system="truecolor")
    console.print(outside(f"{MARKUP}{OSC8}"))
    shown = console.export_text(styles=False)
    assert MARKUP in shown and "\x1b" not in shown
    assert "\x1b]8" not in console.export_text(styles=True)
