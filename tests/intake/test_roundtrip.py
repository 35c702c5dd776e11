"""The loop closed: a notice goes out, the bureau fills the form and mails it back over SMTP, the
catcher files it into the office's Maildir, intake records it and the receipt goes out."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from tasks.calendar import SHANGHAI
from tasks.demo.bureaus import fill_form
from tasks.forms.keys import form_keys
from tasks.forms.read import read_form_metadata
from tasks.intake.steps import take_in
from tasks.mail.outbox import deliver_outbox
from tasks.mail.sources import MaildirSource
from tasks.reminders.steps import prepare_reminders
from tests.helpers import load_seeds
from tests.intake_helpers import (
    XLSX,
    at,
    caught,
    form_of,
    office_catcher,
    office_mailbox,
    reply,
    send,
)

POLICY = "lingchuan-2023"
RSJ = "rsj@lingchuan.example.org"


@pytest.fixture
def loaded(db_settings: Settings) -> Settings:
    return load_seeds(db_settings, POLICY)


def first_status_cell(form: bytes, key: bytes) -> str:
    layout = read_form_metadata(form, key).layout
    assert layout.table is not None
    [column] = [c for c in layout.table.columns if c.part == "status"]
    return f"{column.column}{layout.table.rows[0].row}"


async def _notices(settings: Settings, day: date) -> None:
    prepare_reminders(settings, POLICY, at(day), "monthly")
    await deliver_outbox(settings, POLICY, run_id="test", now=datetime.now(UTC))


async def test_filled_form_round_trip(loaded: Settings) -> None:
    key = form_keys(loaded).current
    office = office_mailbox(loaded, POLICY)
    with office_catcher(loaded) as (catcher, settings):
        await _notices(settings, date(2023, 2, 23))  # February's report opens
        notice = caught(catcher.directory, RSJ)[-1]
        name, blank = form_of(notice)
        filled = fill_form(blank, key, status="推进中", value=42.0, text="按计划推进")
        sent_at = datetime.now(UTC)
        await send(settings, reply(notice, sender=RSJ, office=office,
                                   attachments=[(name, filled, XLSX)]))  # fmt: skip
        source = MaildirSource(settings.maildir_root / office)
        summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 1)))
        assert [(x["outcome"], x["unit"], x["period"], x["version"]) for x in summary.lines] == [
            ("accepted", "县人社局", "2023-02", 1)
        ]
        await deliver_outbox(settings, POLICY, run_id="test-2", now=datetime.now(UTC))
        receipt = caught(catcher.directory, RSJ)[-1]
    assert str(receipt["Subject"]).startswith("【回执】县人社局：已收到2023年2月")
    assert "第1版，电子邮件" in receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with session_scope(loaded) as session:
        submission = session.exec(select(t.Submission)).one()
        entries = session.exec(
            select(t.ProgressEntry, t.Measure.number)
            .join(t.Measure)
            .where(t.ProgressEntry.submission_id == submission.id)
        ).all()
        own = session.exec(
            select(t.Measure.number)
            .join(t.Responsibility)
            .join(t.Unit)
            .where(t.Unit.code == "rsj", t.Measure.policy_id == t.Measure.policy_id)
        ).all()
        item = session.exec(select(t.InboundItem)).one()
    # received_at is when the catcher took the reply in, not the sender's Date header (2023-01-01).
    assert sent_at.replace(microsecond=0) <= submission.received_at <= datetime.now(UTC)
    assert (submission.status, submission.channel, submission.version) == ("accepted", "email", 1)
    assert submission.attachment == name
    assert sorted(n for _, n in entries) == sorted(own)
    assert {e.status for e, _ in entries} == {"推进中"}
    assert item.status == "processed" and item.sender == RSJ
    assert (
        (loaded.raw_dir / item.raw_path).read_bytes().startswith(b"Return-Path: <" + RSJ.encode())
    )
    # The Maildir message is marked read (moved to cur/ with S), never deleted.
    assert not list((loaded.maildir_root / office / "new").iterdir())
    assert [p.name.endswith(":2,S") for p in (loaded.maildir_root / office / "cur").iterdir()] == [
        True
    ]


async def test_invalid_then_corrected_makes_two_versions(loaded: Settings) -> None:
    key = form_keys(loaded).current
    office = office_mailbox(loaded, POLICY)
    with office_catcher(loaded) as (catcher, settings):
        await _notices(settings, date(2023, 2, 23))
        notice = caught(catcher.directory, RSJ)[-1]
        name, blank = form_of(notice)
        cell = first_status_cell(blank, key)
        bad = fill_form(blank, key, overrides={cell: "进行中"})  # not an allowed status
        await send(settings, reply(notice, sender=RSJ, office=office,
                                   attachments=[(name, bad, XLSX)]))  # fmt: skip
        source = MaildirSource(settings.maildir_root / office)
        first = take_in(settings, POLICY, source, now=at(date(2023, 3, 1)))
        assert [x["outcome"] for x in first.lines] == ["rejected"]
        assert [(e["cell"], "进行中" in e["problem"]) for e in first.lines[0]["errors"]] == [
            (cell, True)
        ]
        await deliver_outbox(settings, POLICY, run_id="t", now=datetime.now(UTC))
        rejection = caught(catcher.directory, RSJ)[-1]
        assert str(rejection["Subject"]).startswith("【退回】县人社局")
        text = rejection.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"单元格{cell}：" in text
        # Taken in on Wednesday 1 March 2023, 09:00: dated then, and the deadline (Sunday
        # 5 March, 23:59) still ahead, whatever day the test runs on.
        assert "请于2023年3月5日（星期日）23:59前修改并重新报送" in text and "已过" not in text
        assert text.rstrip().endswith("2023年3月1日")
        assert rejection["Date"] == "Wed, 01 Mar 2023 09:00:00 +0800"
        # The blank form rides along for a unit whose copy is beyond repair.
        assert form_of(rejection)[0] == name

        good = fill_form(blank, key)
        await send(settings, reply(rejection, sender=RSJ, office=office,
                                   attachments=[(name, good, XLSX)]))  # fmt: skip
        second = take_in(settings, POLICY, source, now=at(date(2023, 3, 2)))
    assert [(x["outcome"], x["version"]) for x in second.lines] == [("accepted", 2)]
    with session_scope(loaded) as session:
        rows = session.exec(select(t.Submission).order_by(col(t.Submission.version))).all()
    assert [(r.version, r.status) for r in rows] == [(1, "rejected"), (2, "accepted")]
    assert rows[1].supersedes_id == rows[0].id
    assert rows[0].errors and not rows[1].errors


async def test_late_reply_counts_working_days(loaded: Settings) -> None:
    """Due Sunday 5 March 23:59; in on Tuesday the 7th: Monday and Tuesday, 2 working days."""
    key = form_keys(loaded).current
    office = office_mailbox(loaded, POLICY)
    with office_catcher(loaded) as (catcher, settings):
        await _notices(settings, date(2023, 2, 23))
        notice = caught(catcher.directory, RSJ)[-1]
        name, blank = form_of(notice)
        await send(settings, reply(notice, sender=RSJ, office=office,
                                   attachments=[(name, fill_form(blank, key), XLSX)]))  # fmt: skip
    # The catcher stamped the real time; a Maildir written on 7 March 2023 is what we replay.
    maildir = loaded.maildir_root / office
    [path] = list((maildir / "new").iterdir())
    content = path.read_bytes()
    stamp = content.split(b"; ", 1)[1].split(b"\r\n", 1)[0]
    path.write_bytes(content.replace(stamp, b"Tue, 07 Mar 2023 10:15:00 +0800", 1))
    summary = take_in(settings, POLICY, MaildirSource(maildir), now=at(date(2023, 3, 7), 11))
    assert [(x["outcome"], x["late_working_days"]) for x in summary.lines] == [("accepted", 2)]
    with session_scope(loaded) as session:
        submission = session.exec(select(t.Submission)).one()
    assert submission.received_at == datetime(2023, 3, 7, 10, 15, tzinfo=SHANGHAI)


async def test_word_reply_is_held_unverified_and_reviewed(loaded: Settings) -> None:
    """No mail server vouched for the sender: the Word reply waits for the office's review."""
    import io

    import docx

    from tasks.intake.review import ProgressInput, review_submission

    office = office_mailbox(loaded, POLICY)
    document = docx.Document()
    document.add_paragraph("县人社局2023年2月工作进展：人力资源产业园已完成选址。")
    buffer = io.BytesIO()
    document.save(buffer)
    with office_catcher(loaded) as (catcher, settings):
        await _notices(settings, date(2023, 2, 23))
        notice = caught(catcher.directory, RSJ)[-1]
        word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        attachment = ("2月进展.docx", buffer.getvalue(), word)
        await send(settings, reply(notice, sender=RSJ, office=office, attachments=[attachment]))
        source = MaildirSource(settings.maildir_root / office)
        summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 1)))
        assert [(x["outcome"], x["period"]) for x in summary.lines] == [("unverified", "2023-02")]
        await deliver_outbox(settings, POLICY, run_id="t", now=datetime.now(UTC))
        receipt = caught(catcher.directory, RSJ)[-1]
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "无法确认其确由贵单位邮箱发出" in text and "待办公室核实" in text
    with session_scope(loaded) as session:
        first = session.exec(select(t.Submission)).one()
        own = session.exec(
            select(t.Measure.number).join(t.Responsibility).join(t.Unit).where(t.Unit.code == "rsj")
        ).first()
    assert first.fields["attachment_texts"] == {
        "2月进展.docx": "县人社局2023年2月工作进展：人力资源产业园已完成选址。"
    }
    assert own is not None
    accepted = review_submission(
        loaded, first.id or 0, accept=True,
        progress=[ProgressInput(own, "推进中", None)], note="已核", reviewer="王杰",
        now=datetime.now(UTC),
    )  # fmt: skip
    assert (accepted.version, accepted.status, accepted.received_at) == (
        2, "accepted", first.received_at
    )  # fmt: skip
    with session_scope(loaded) as session:
        entries = session.exec(
            select(t.ProgressEntry).where(t.ProgressEntry.submission_id == accepted.id)
        ).all()
    assert [e.status for e in entries] == ["推进中"]


async def test_other_files_beside_a_valid_form_are_noted(loaded: Settings) -> None:
    key = form_keys(loaded).current
    office = office_mailbox(loaded, POLICY)
    with office_catcher(loaded) as (catcher, settings):
        await _notices(settings, date(2023, 2, 23))
        notice = caught(catcher.directory, RSJ)[-1]
        name, blank = form_of(notice)
        macro = "application/vnd.ms-excel.sheet.macroEnabled.12"
        attachments = [(name, fill_form(blank, key), XLSX), ("宏.xlsm", b"PK\x03\x04", macro),
                       ("说明.pdf", b"%PDF-1.4", "application/pdf")]  # fmt: skip
        await send(settings, reply(notice, sender=RSJ, office=office, attachments=attachments))
        summary = take_in(
            settings,
            POLICY,
            MaildirSource(settings.maildir_root / office),
            now=at(date(2023, 3, 1)),
        )
    assert [x["outcome"] for x in summary.lines] == ["accepted"]
    with session_scope(loaded) as session:
        submission = session.exec(select(t.Submission)).one()
    others = submission.fields["other_attachments"]
    assert others[0] == "附件《说明.pdf》未作为报表读取"
    assert "《宏.xlsm》是含宏的文件" in others[1]
