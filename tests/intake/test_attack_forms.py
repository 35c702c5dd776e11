"""Attack: forms signed with a public key, sent before their cycle opened, or re-signed over a
layout the office never issued (issue 17 §3); the install's own key, its file and its rotation.

Each forged form goes as real mail through the mail catcher into the office's Maildir and is
taken in. What the attacker has is named in each test: the old demo key printed in the code, or
this install's current key (leaked), plus the public policy YAML, from which the office's forms
are built byte for byte.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import col, select

from config.errors import FormSignatureError
from config.settings import MailCatcherSettings, Settings
from models import tables as t
from models.db import session_scope
from models.issued_forms import IssuedForm
from tasks.demo.bureaus import fill_form
from tasks.demo.mailcatcher import MailCatcher, office_maildirs
from tasks.forms.keys import form_keys, key_file, key_id
from tasks.forms.layout import META_KEYS, META_SHEET, sign
from tasks.forms.read import read_form_metadata
from tasks.intake.steps import open_source, take_in
from tasks.mail.outbox import deliver_outbox
from tasks.reminders.steps import prepare_reminders
from tests.helpers import ROOT, invoke_cli, load_seeds, run_cli
from tests.intake_helpers import XLSX, at, caught, form_of, office_mailbox, reply, send

POLICY = "lingchuan-2023"
RSJ = "rsj@lingchuan.example.org"  # 县人社局
GXJ = "gxj@lingchuan.example.org"  # 县工信局
OLD_DEMO_KEY = b"demo-only-form-signing-key-change-me"  # printed in the code until issue 17
FEBRUARY_OPENS = date(2023, 2, 23)


@contextmanager
def dated_catcher(settings: Settings) -> Iterator[tuple[MailCatcher, Settings]]:
    """The office's catcher on a free port, stamping each mail's arrival with its Date header
    (the demo clock), so a test can say the mail reached the office in January."""
    catcher = MailCatcher(
        MailCatcherSettings(port=0, directory=settings.var_dir / "mail"),
        None,
        maildirs=office_maildirs(settings.policies_dir, settings.maildir_root),
        demo_clock=True,
    )
    with catcher:
        smtp = settings.smtp.model_copy(
            update={"host": catcher.host, "port": catcher.port, "backoff_seconds": 0.01}
        )
        yield catcher, settings.model_copy(update={"smtp": smtp})


async def _issue(settings: Settings, day: date) -> None:
    """The office's reminder run on ``day``: forms built, recorded as issued and mailed."""
    prepare_reminders(settings, POLICY, at(day), "monthly")
    await deliver_outbox(settings, POLICY, run_id="test", now=datetime.now(UTC))


def resign(data: bytes, key: bytes, **changes: str) -> bytes:
    """The workbook with its metadata changed as given and signed again with ``key``, as an
    attacker with that key and openpyxl would do it."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[META_SHEET]
    rows = {str(ws.cell(row, 1).value): row for row in range(1, ws.max_row + 1)}
    fields = {name: str(ws.cell(rows[name], 2).value) for name in META_KEYS}
    fields.update(changes)
    for name, value in fields.items():
        ws.cell(rows[name], 2).value = value
    ws.cell(rows["signature"], 2).value = sign(fields, key)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def meta_field(data: bytes, name: str) -> str:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        for row_name, value in wb[META_SHEET].iter_rows(max_col=2, values_only=True):
            if row_name == name:
                return str(value)
    finally:
        wb.close()
    raise AssertionError(f"no {name} in the form's metadata")


def _take_in(settings: Settings, day: date) -> None:
    with closing(open_source(settings, POLICY, "maildir")) as source:
        take_in(settings, POLICY, source, now=at(day, 18))


def _outcome(settings: Settings, unit: str, period: str) -> tuple[list[str], list[str], bool]:
    """(statuses of the mails taken in, of the unit's submissions for the period, whether the
    office was told of a quarantine)."""
    with session_scope(settings) as session:
        items = session.exec(select(t.InboundItem).order_by(col(t.InboundItem.id))).all()
        statuses = session.exec(
            select(t.Submission.status)
            .join(t.Unit, col(t.Unit.id) == t.Submission.unit_id)
            .join(t.Cycle, col(t.Cycle.id) == t.Submission.cycle_id)
            .where(t.Unit.code == unit, t.Cycle.period == period)
            .order_by(col(t.Submission.id))
        ).all()
        told = session.exec(
            select(t.Notification).where(col(t.Notification.subject).contains("隔离"))
        ).all()
        office = office_mailbox(settings, POLICY)
        return [i.status for i in items], list(statuses), any(office in n.to for n in told)


def _reasons(settings: Settings) -> list[str]:
    with session_scope(settings) as session:
        return [r for i in session.exec(select(t.InboundItem)).all() for r in i.reasons]


async def test_attack_form_signed_with_the_old_public_demo_key_is_quarantined(
    settings: Settings,
) -> None:
    """(a) The office's real February form, every signed field unchanged (so its digest is one
    the office issued), signed again with the demo key the code used to ship: quarantined."""
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with dated_catcher(settings) as (catcher, settings):
        await _issue(settings, FEBRUARY_OPENS)
        _, blank = form_of(caught(catcher.directory, RSJ)[-1])
        forged = resign(fill_form(blank, form_keys(settings)), OLD_DEMO_KEY)
        with pytest.raises(FormSignatureError):
            read_form_metadata(forged, form_keys(settings))
        await send(settings, _dated(reply(None, sender=RSJ, office=office,
                   attachments=[("报表.xlsx", forged, XLSX)]), date(2023, 3, 1)))  # fmt: skip
        _take_in(settings, date(2023, 3, 1))
    items, submissions, told = _outcome(settings, "rsj", "2023-02")
    assert items == ["quarantined"] and "accepted" not in submissions and told
    assert any("签名校验失败" in r for r in _reasons(settings)), _reasons(settings)


def _dated(message: EmailMessage, day: date, hour: int = 10) -> EmailMessage:
    """The reply dated ``day`` (the dated catcher takes it as the arrival time)."""
    del message["Date"]
    message["Date"] = format_datetime(at(day, hour))
    return message


async def test_attack_february_form_arriving_in_january_is_quarantined(
    settings: Settings,
) -> None:
    """(b) With this install's key and the public YAML an attacker builds February's form byte
    for byte as the office will build it on 23 February, fills it and mails it on 31 January.
    Intake runs after the office has issued February's forms, so the form's digest is one the
    office issued: it is still quarantined, for it reached the office before its cycle opened."""
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with dated_catcher(settings) as (catcher, settings):
        await _issue(settings, FEBRUARY_OPENS)
        _, blank = form_of(caught(catcher.directory, RSJ)[-1])
        assert meta_field(blank, "period") == "2023-02"
        forged = fill_form(blank, form_keys(settings))  # valid: this install's key signed it
        await send(settings, _dated(reply(None, sender=RSJ, office=office,
                   attachments=[("报表.xlsx", forged, XLSX)]), date(2023, 1, 31)))  # fmt: skip
        _take_in(settings, date(2023, 2, 24))
    items, submissions, told = _outcome(settings, "rsj", "2023-02")
    assert items == ["quarantined"] and submissions == ["quarantined"] and told
    [reason] = _reasons(settings)
    assert "2023年2月23日" in reason and "才开始报送" in reason and "2023年1月31日" in reason


async def test_attack_form_resigned_with_the_current_key_over_another_units_layout(
    db_settings: Settings,
) -> None:
    """(c) An attacker with this install's key takes 县工信局's February form (its measures and
    layout), names 县人社局 in the metadata and signs it again: the signature verifies, the
    sender is 县人社局's address, yet no form with this metadata was ever issued."""
    settings = load_seeds(db_settings, POLICY)
    office = office_mailbox(settings, POLICY)
    key = form_keys(settings).current
    with dated_catcher(settings) as (catcher, settings):
        await _issue(settings, FEBRUARY_OPENS)
        _, theirs = form_of(caught(catcher.directory, GXJ)[-1])
        _, ours = form_of(caught(catcher.directory, RSJ)[-1])
        assert meta_field(theirs, "layout") != meta_field(ours, "layout")
        forged = resign(
            fill_form(theirs, key), key, unit_code="rsj",
            unit_name=meta_field(ours, "unit_name"),
        )  # fmt: skip
        assert read_form_metadata(forged, form_keys(settings)).unit_code == "rsj"
        await send(settings, _dated(reply(None, sender=RSJ, office=office,
                   attachments=[("报表.xlsx", forged, XLSX)]), date(2023, 3, 1)))  # fmt: skip
        _take_in(settings, date(2023, 3, 1))
    items, submissions, told = _outcome(settings, "rsj", "2023-02")
    assert items == ["quarantined"] and submissions == ["quarantined"] and told
    [reason] = _reasons(settings)
    assert "签名有效" in reason and "不一致" in reason


async def test_attack_control_the_issued_form_itself_is_accepted(settings: Settings) -> None:
    """The form the office issued, filled and returned in time by its unit: accepted (the
    checks above refuse forgeries, not the office's own forms)."""
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with dated_catcher(settings) as (catcher, settings):
        await _issue(settings, FEBRUARY_OPENS)
        _, blank = form_of(caught(catcher.directory, RSJ)[-1])
        filled = fill_form(blank, form_keys(settings))
        await send(settings, _dated(reply(None, sender=RSJ, office=office,
                   attachments=[("报表.xlsx", filled, XLSX)]), date(2023, 3, 1)))  # fmt: skip
        _take_in(settings, date(2023, 3, 1))
    assert _outcome(settings, "rsj", "2023-02")[:2] == (["processed"], ["accepted"])


async def test_attack_rotation_keeps_sent_forms_valid_and_signs_new_ones_with_the_new_key(
    db_settings: Settings, tmp_path: Path
) -> None:
    """(d) February's forms go out; the office runs `taskforce keys rotate`; 县人社局 returns
    February's form afterwards (accepted: the old key still verifies it), and March's form is
    signed with the new key alone."""
    settings = load_seeds(db_settings, POLICY)
    office = office_mailbox(settings, POLICY)
    old = form_keys(settings).current
    with dated_catcher(settings) as (catcher, settings):
        await _issue(settings, FEBRUARY_OPENS)
        _, february = form_of(caught(catcher.directory, RSJ)[-1])

        env = {"TASKFORCE_DATABASE_URL": settings.effective_database_url}
        rotated = run_cli(tmp_path, "keys", "rotate", env=env)  # the office's own process
        assert rotated.returncode == 0, rotated.stderr
        new = form_keys(settings).current
        assert new != old and form_keys(settings).previous == (old,)
        assert key_id(new) in rotated.stdout and key_id(old) in rotated.stdout
        assert old.decode() not in rotated.stdout and new.decode() not in rotated.stdout

        await send(settings, _dated(reply(None, sender=RSJ, office=office,
                   attachments=[("报表.xlsx", fill_form(february, old), XLSX)]),
                   date(2023, 3, 1)))  # fmt: skip
        _take_in(settings, date(2023, 3, 1))
        assert _outcome(settings, "rsj", "2023-02")[:2] == (["processed"], ["accepted"])

        with session_scope(settings) as session:
            [march] = session.exec(
                select(t.Cycle)
                .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
                .where(t.Obligation.code == "monthly-progress", t.Cycle.period == "2023-03")
            ).all()
        await _issue(settings, march.opens)
        _, march_form = form_of(caught(catcher.directory, RSJ)[-1])
    assert meta_field(march_form, "period") == "2023-03"
    assert read_form_metadata(march_form, new).key_id == key_id(new)
    with pytest.raises(FormSignatureError):  # signed anew, not with the key rotated out
        read_form_metadata(march_form, old)
    with session_scope(settings) as session:
        signed_by = {
            (period, row.key_id)
            for row, period in session.exec(
                select(IssuedForm, t.Cycle.period).join(
                    t.Cycle, col(t.Cycle.id) == IssuedForm.cycle_id
                )
            )
        }
    assert {p for p, _ in signed_by} == {"2023-02", "2023-03"}
    assert {k for p, k in signed_by if p == "2023-02"} == {key_id(old)}
    assert {k for p, k in signed_by if p == "2023-03"} == {key_id(new)}


def test_attack_key_file_is_private_and_outside_the_checkout(tmp_path: Path) -> None:
    """(e) `taskforce db init` makes the key: 0600 in a 0700 directory under the data
    directory, not in the checkout; the default data directory (var/) is ignored by git."""
    result = invoke_cli(tmp_path, "db", "init")
    assert result.returncode == 0, result.stderr
    settings = Settings(var_dir=tmp_path / "var")
    path = key_file(settings)
    key = path.read_bytes().strip()
    assert len(key) >= 32 and key.decode() not in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.resolve().is_relative_to(ROOT)
    assert form_keys(settings).current == key
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "var/secrets/form-key"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "var/ must stay out of git"
    again = invoke_cli(tmp_path, "db", "init")
    assert again.returncode == 0 and path.read_bytes().strip() == key


def test_attack_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    """A key file someone made group- or world-readable is not used: one line, exit 2."""
    settings = Settings(var_dir=tmp_path / "var")
    form_keys(settings)
    os.chmod(key_file(settings), 0o644)
    result = invoke_cli(tmp_path, "keys", "rotate")
    assert result.returncode == 2 and "chmod 600" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


_RACER = """
import sys, time
from config.settings import Settings
from tasks.forms.keys import form_keys, key_id
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
print(key_id(form_keys(Settings()).current))
"""


def test_attack_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    """(e) Eight processes that all need a key at the same moment end with one key file, the
    key every one of them uses, and no half-written or temporary file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")}
    env.update(TASKFORCE_VAR_DIR=str(tmp_path / "var"), PYTHONPATH=str(ROOT))
    start = time.time() + 4.0  # every process has imported by then
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER, str(start)], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]  # fmt: skip
    results = [racer.communicate(timeout=60) for racer in racers]
    assert all(r.returncode == 0 for r in racers), [err for _, err in results]
    ids = {out.strip() for out, _ in results}
    settings = Settings(var_dir=tmp_path / "var")
    assert ids == {key_id(form_keys(settings).current)}
    assert sorted(p.name for p in key_file(settings).parent.iterdir()) == ["form-key"]


def test_attack_no_signing_key_in_the_code() -> None:
    """The old demo key appears nowhere but in the tests' attack data."""
    tracked = subprocess.run(
        ["git", "grep", "-l", "demo-only-form-signing"], cwd=ROOT, capture_output=True,
        text=True, check=False,
    ).stdout.split()  # fmt: skip
    assert tracked and all(path.startswith("tests/") for path in tracked), tracked
