"""The embedded mail catcher: real SMTP in, .eml files out, in-process and as a subprocess."""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from config.errors import MailCatcherError
from config.settings import MailCatcherSettings, SmtpSettings
from tasks.calendar import SHANGHAI
from tasks.demo.mailcatcher import DEMO_CLOCK_HEADER, CaughtMail, MailCatcher, summary_line
from tasks.mail.smtp import OutgoingMail, message_id_for, send_batch
from tasks.mail.sources import received_time
from tests.helpers import ROOT

SUBJECT = "关于报送《陵川县促进经济稳中求进若干措施》任务清单台账的通知"
ATTACHMENT = "2023年1月任务清单台账（县发改局）.xlsx"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def notice(
    n: int = 1, recipients: tuple[str, ...] = ("fgj@lingchuan.example.org",)
) -> OutgoingMail:
    key = f"lingchuan-2023|tasklist|2023-01|fgj|opening|{n}"
    message = EmailMessage()
    message["From"] = "县工作专班办公室 <zhuanban-office@example.org>"
    message["To"] = ", ".join(recipients)
    message["Subject"] = SUBJECT
    message["Message-ID"] = message_id_for(key, "example.org")
    message.set_content("县发改局：\n请于2023年1月20日（星期五）前报送任务清单台账。\n")
    message.add_alternative(
        "<p>县发改局：</p><p>请于<b>2023年1月20日</b>前报送。</p>", subtype="html"
    )
    message.add_attachment(
        b"PK\x03\x04 not really a workbook \x00\xff", maintype=XLSX[0], subtype=XLSX[1],
        filename=ATTACHMENT,
    )  # fmt: skip
    return OutgoingMail(key=key, message=message, recipients=recipients)


def smtp_for(catcher: MailCatcher, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": catcher.host,
        "port": catcher.port,
        "backoff_seconds": 0.01,
    }
    values.update(overrides)
    return SmtpSettings.model_validate(values)


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


async def test_stores_each_message_as_a_readable_eml_file(tmp_path: Path) -> None:
    caught: list[CaughtMail] = []
    directory = tmp_path / "mail"
    recipients = ("fgj@lingchuan.example.org", "office@lingchuan.example.org")
    with MailCatcher(MailCatcherSettings(port=0, directory=directory), caught.append) as catcher:
        [outcome] = await send_batch([notice(1, recipients)], smtp_for(catcher))

    assert outcome.status == "sent"
    [path] = eml_files(directory)
    assert outcome.reply == f"250 OK stored as {path.name}"
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{12}\.eml", path.name)
    assert not list(directory.glob(".*"))  # no temporary file left behind

    stored = path.read_bytes()
    envelope, _, received = stored.partition(b"\r\n")
    second, _, received = received.partition(b"\r\n")
    assert envelope == b"X-Envelope-From: <zhuanban-office@example.org>"
    assert second == b"X-Envelope-To: <fgj@lingchuan.example.org>, <office@lingchuan.example.org>"
    # The rest is the DATA exactly as sent; the name carries the hash of its Message-ID.
    message_id = message_id_for("lingchuan-2023|tasklist|2023-01|fgj|opening|1", "example.org")
    assert f"Message-ID: {message_id}\r\n".encode() in received
    assert path.stem.endswith(hashlib.sha256(message_id.encode()).hexdigest()[:12])
    # The attachment name went out per RFC 2231 (in continuations, it is long).
    assert re.search(rb"filename\*0\*=utf-8''2023%E5%B9%B41%E6%9C%88", received)

    message = email.message_from_bytes(stored, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == SUBJECT
    assert message["X-Envelope-To"] == (
        "<fgj@lingchuan.example.org>, <office@lingchuan.example.org>"
    )
    assert message["Message-ID"] == message_id
    body = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert body is not None and "2023年1月20日（星期五）" in body.get_content()
    assert html is not None and "<b>2023年1月20日</b>" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == ATTACHMENT
    assert attachment.get_content() == b"PK\x03\x04 not really a workbook \x00\xff"

    [mail] = caught
    assert mail.path == path
    assert mail.subject == SUBJECT
    assert mail.rcpt_tos == recipients
    line = summary_line(mail)
    assert "zhuanban-office@example.org → fgj@lingchuan.example.org, office@" in line
    assert f"《{SUBJECT}》" in line and path.name in line
    assert catcher.count == 1


async def test_the_same_notice_twice_gives_two_files_with_one_hash(tmp_path: Path) -> None:
    settings = MailCatcherSettings(port=0, directory=tmp_path / "mail")
    with MailCatcher(settings, on_message=None) as catcher:
        outcomes = await send_batch([notice(1), notice(1)], smtp_for(catcher, concurrency=1))
    assert [o.status for o in outcomes] == ["sent", "sent"]
    first, second = eml_files(settings.directory)
    assert first.read_bytes() != second.read_bytes()  # other MIME boundaries
    assert first.stem.split("-")[-1] == second.stem.split("-")[-1]
    other = MailCatcherSettings(port=0, directory=tmp_path / "other")
    with MailCatcher(other, on_message=None) as catcher:
        await send_batch([notice(2)], smtp_for(catcher))
    [third] = eml_files(other.directory)
    assert third.stem.split("-")[-1] != first.stem.split("-")[-1]


async def test_a_disk_that_refuses_makes_the_sender_retry(tmp_path: Path) -> None:
    directory = tmp_path / "mail"
    with MailCatcher(MailCatcherSettings(port=0, directory=directory), None) as catcher:
        shutil.rmtree(directory)
        directory.write_text("a file where the folder was")  # every write now fails
        [outcome] = await send_batch([notice()], smtp_for(catcher, max_attempts=2))
        assert (outcome.status, outcome.attempts) == ("pending", 2)
        assert outcome.reply.startswith("451 4.3.0")

        directory.unlink()
        directory.mkdir()
        [outcome] = await send_batch([notice()], smtp_for(catcher))
    assert outcome.status == "sent"
    assert len(eml_files(directory)) == 1


def test_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        catcher = MailCatcher(MailCatcherSettings(port=port, directory=tmp_path), None)
        with pytest.raises(MailCatcherError, match=f"无法监听 127.0.0.1:{port}"):
            catcher.start()


def test_restart_on_the_same_port(tmp_path: Path) -> None:
    catcher = MailCatcher(MailCatcherSettings(port=0, directory=tmp_path), None)
    catcher.start()
    port = catcher.port
    catcher.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    catcher.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as client:
            assert client.recv(100).startswith(b"220 taskforce-mailcatcher")
    finally:
        catcher.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_serve_forever_as_a_process(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "TASKFORCE_MAILCATCHER_PORT": str(port),
        "TASKFORCE_MAILCATCHER_DIRECTORY": str(tmp_path / "mail"),
        "PYTHONUNBUFFERED": "1",
    }
    code = "from config.settings import Settings; "
    code += "from tasks.demo.mailcatcher import serve_forever; serve_forever(Settings())"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline()
        assert started.startswith(
            f"收信服务已启动：127.0.0.1:{port}，邮件存入 {tmp_path / 'mail'}/"
        )
        # One line per office mailbox the policy files name: mail to it is also filed there.
        offices = {process.stdout.readline().split()[1] for _ in range(2)}
        assert offices == {
            "taskforce-office@lingchuan.example.org",
            "fwy-office@xinjiang.example.org",
        }

        smtp = SmtpSettings(host="127.0.0.1", port=port)
        [outcome] = await send_batch([notice()], smtp)
        assert outcome.status == "sent"
        line = process.stdout.readline()
        assert f"zhuanban-office@example.org → fgj@lingchuan.example.org  《{SUBJECT}》" in line

        process.send_signal(stop_signal)
        rest, errors = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors
    assert rest.strip() == "收信服务已停止，共收到 1 封邮件。"
    assert "Traceback" not in errors
    [path] = eml_files(tmp_path / "mail")
    stored = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert stored["Subject"] == SUBJECT


async def test_mail_to_an_office_is_filed_into_its_maildir(tmp_path: Path) -> None:
    office = "office@lingchuan.example.org"
    maildir = tmp_path / "maildir" / office
    settings = MailCatcherSettings(port=0, directory=tmp_path / "mail")
    with MailCatcher(settings, None, maildirs={office.upper(): maildir}) as catcher:
        before = datetime.now(UTC).replace(microsecond=0)
        outcomes = await send_batch(
            [notice(1, ("fgj@lingchuan.example.org",)), notice(2, (office,))], smtp_for(catcher)
        )
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert len(eml_files(tmp_path / "mail")) == 2  # everything is still kept as .eml
    [filed] = list((maildir / "new").iterdir())  # only the office's mail is filed
    assert not list((maildir / "tmp").iterdir())
    content = filed.read_bytes()
    assert content.startswith(
        f"Return-Path: <zhuanban-office@example.org>\r\nDelivered-To: {office}\r\n".encode()
    )
    arrived = received_time(content)
    assert arrived is not None and before <= arrived <= datetime.now(UTC)
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert message["Subject"] == SUBJECT


async def test_a_demo_catcher_keeps_the_replayed_days(tmp_path: Path) -> None:
    """The demo's catcher files a bureau's reply at its simulated arrival and the office's own
    mail at its Date (the replayed moment it was written), not at the wall clock's time."""
    office = "office@lingchuan.example.org"
    maildir = tmp_path / "maildir" / office
    mails = {name: notice(n, (office,) if name == "reply" else ("fgj@lingchuan.example.org",))
             for n, name in enumerate(("receipt", "reply", "undated"))}  # fmt: skip
    for name, mail in mails.items():
        mail.message.replace_header("Subject", name)
    mails["receipt"].message["Date"] = "Fri, 13 Jan 2023 18:00:00 +0800"  # the replayed day
    mails["reply"].message["Date"] = "Sun, 01 Jan 2023 08:00:00 +0800"  # the sender's: untrusted
    mails["reply"].message[DEMO_CLOCK_HEADER] = "Fri, 13 Jan 2023 09:14:00 +0800"
    settings = MailCatcherSettings(port=0, directory=tmp_path / "mail")
    caught: list[CaughtMail] = []
    with MailCatcher(settings, caught.append, {office: maildir}, demo_clock=True) as catcher:
        outcomes = await send_batch(list(mails.values()), smtp_for(catcher))
    assert [o.status for o in outcomes] == ["sent"] * 3
    stamps = {m.subject: m.received_at.astimezone(SHANGHAI) for m in caught}
    assert stamps["receipt"] == datetime(2023, 1, 13, 18, tzinfo=SHANGHAI)
    assert stamps["reply"] == datetime(2023, 1, 13, 9, 14, tzinfo=SHANGHAI)
    assert stamps["undated"].year > 2023  # neither: the wall clock, as any catcher's
    names = sorted(p.name[:15] for p in eml_files(tmp_path / "mail"))
    assert names[:2] == ["20230113T011400", "20230113T100000"]  # named in UTC
    [filed] = list((maildir / "new").iterdir())
    assert received_time(filed.read_bytes()) == datetime(2023, 1, 13, 1, 14, tzinfo=UTC)
