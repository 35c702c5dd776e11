"""Paper register, submissions list and review from the command line, as the office uses them.

The commands run in this process (``invoke_cli``); a missing file is also tested as a subprocess,
for the exit status of the real entry point."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from config.settings import Settings
from models.db import get_engine
from tasks.demo.bureaus import fill_form
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.forms.keys import form_keys
from tasks.forms.layout import form_path
from tasks.forms.read import read_form_metadata
from tasks.reminders.steps import prepare_reminders
from tests.helpers import invoke_cli, run_cli
from tests.intake_helpers import XLSX, at, office_mailbox, reply

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

POLICY = "lingchuan-2023"


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var directory with the policies loaded by the CLI and February's forms issued (prepared,
    not mailed), made once for the module: each test works on a copy of its own (``office``)."""
    template = tmp_path_factory.mktemp("office")
    with pytest.MonkeyPatch.context() as env:  # as _clean_environment does for each test
        for name in [n for n in os.environ if n.startswith("TASKFORCE_")]:
            env.delenv(name)
        result = invoke_cli(template, "policy", "load", "config/policies/lingchuan-2023.yaml")
        assert result.returncode == 0, result.stderr
        settings = Settings(var_dir=template / "var")
        prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
    get_engine(settings).dispose()  # no connection left open on the file copied
    return template / "var"


@pytest.fixture
def office(tmp_path: Path, issued: Path) -> Path:
    """Policies loaded by the CLI; February's forms issued (prepared, not mailed)."""
    shutil.copytree(issued, tmp_path / "var")
    return tmp_path


def _submit(unit: str, path: str, received_at: str | None = None) -> tuple[str, ...]:
    """The arguments of `taskforce submit` for a unit's February 2023 report."""
    at = ("--received-at", received_at) if received_at else ()
    return ("submit", "--unit", unit, "--policy", POLICY, "--period", "2023-02", *at, path)


def _form(tmp_path: Path, unit: str) -> bytes:
    return form_path(
        Settings(var_dir=tmp_path / "var"), POLICY, "monthly-progress", "2023-02", unit
    ).read_bytes()


def test_paper_form_is_recorded_and_listed(office: Path) -> None:
    key = form_keys(Settings(var_dir=office / "var")).current
    filled = office / "rsj-2023-02.xlsx"
    filled.write_bytes(fill_form(_form(office, "rsj"), key))
    result = invoke_cli(office, *_submit("县人社局", str(filled), received_at="2023-03-06T10:00"))
    assert result.returncode == 0, result.stderr
    assert "已受理" in result.stdout and "1 个工作日" in result.stdout

    again = invoke_cli(
        office, "submit", "--unit", "rsj", "--policy", POLICY, "--period", "2023-02", str(filled)
    )
    assert again.returncode == 0 and "此前已登记过" in again.stdout

    listing = invoke_cli(office, "submissions", "--policy", POLICY, "--period", "2023-02", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    mine = [r for r in rows if r["unit_code"] == "rsj"]
    assert [(r["status"], r["channel"], r["version"], r["late_working_days"]) for r in mine] == [
        ("accepted", "paper", 1, 1)
    ]
    assert mine[0]["received_at"] == "2023-03-06T10:00:00+08:00"
    others = {r["status"] for r in rows if r["unit_code"] != "rsj"}
    assert others == {"missing"} and len(rows) > 30

    table = invoke_cli(office, "submissions", "--policy", POLICY, "--period", "2023-02")
    assert "县人社局" in table.stdout and "纸质件" in table.stdout and "未报送" in table.stdout


def test_paper_form_of_another_unit_is_refused(office: Path) -> None:
    key = form_keys(Settings(var_dir=office / "var")).current
    filled = office / "form.xlsx"
    filled.write_bytes(fill_form(_form(office, "rsj"), key))
    result = invoke_cli(office, *_submit("县发改局", str(filled)))
    assert result.returncode == 2
    assert "不符" in result.stderr and "Traceback" not in result.stderr
    listing = invoke_cli(office, "submissions", "--policy", POLICY, "--json")
    assert json.loads(listing.stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unit", "县不存在局", "--period", "2023-02"], "县不存在局"),
        (["--unit", "县人社局", "--period", "2031-02"], "2031-02"),
        (["--unit", "县人社局", "--period", "2023-02", "--received-at", "三月六日"], "三月六日"),
    ],
)
def test_paper_user_errors_exit_2(office: Path, args: list[str], message: str) -> None:
    scan = office / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned report")
    result = invoke_cli(office, "submit", "--policy", POLICY, *args, str(scan))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_file_exits_2(office: Path) -> None:
    # A subprocess: the real process must exit with 2.
    result = run_cli(office, *_submit("县人社局", str(office / "nowhere.pdf")))
    assert result.returncode == 2
    assert "nowhere.pdf" in result.stderr and "Traceback" not in result.stderr


def test_scan_is_reviewed_from_the_cli(office: Path) -> None:
    scan = office / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned report")
    result = invoke_cli(office, *_submit("县人社局", str(scan), received_at="2023-03-03T16:00"))
    assert result.returncode == 0, result.stderr
    pending = invoke_cli(office, "review", "--policy", POLICY)
    assert "县人社局" in pending.stdout and "scan.pdf" in pending.stdout
    rows = json.loads(invoke_cli(office, "submissions", "--policy", POLICY, "--json").stdout)
    [row] = [r for r in rows if r["unit_code"] == "rsj"]
    assert (row["status"], row["late_working_days"]) == ("unstructured", 0)

    wrong = invoke_cli(
        office, "review", "accept", str(row["submission_id"]), "--progress", "19=进行中"
    )
    assert wrong.returncode == 2 and "进行中" in wrong.stderr

    measure = _rsj_measure(office)
    ok = invoke_cli(
        office,
        "review",
        "accept",
        str(row["submission_id"]),
        "--progress",
        f"{measure}=推进中:12",
        "--by",
        "王杰",
    )
    assert ok.returncode == 0, ok.stderr
    assert "第 2 版" in ok.stdout
    rows = json.loads(invoke_cli(office, "submissions", "--policy", POLICY, "--json").stdout)
    [row2] = [r for r in rows if r["unit_code"] == "rsj"]
    assert (row2["status"], row2["version"], row2["received_at"]) == (
        "accepted",
        2,
        row["received_at"],
    )
    twice = invoke_cli(office, "review", "reject", str(row["submission_id"]), "--reason", "不清楚")
    assert twice.returncode == 2 and "更新的版本" in twice.stderr
    assert "没有待审核" in invoke_cli(office, "review").stdout


def _rsj_measure(office: Path) -> str:
    doc = json.loads(invoke_cli(office, "policy", "show", POLICY, "--json").stdout)
    return next(
        m["number"] for m in doc["measures"] if any(u["name"] == "县人社局" for u in m["units"])
    )


def test_intake_as_of_dates_receipts_and_rejections(
    office: Path, prefect_server: None, smtp_server: SmtpServer
) -> None:
    """`taskforce intake --as-of`: a replayed day's intake records, dates and judges its
    receipts and rejections at that moment, not at the wall clock's (a rejection taken in
    before the deadline must not say the deadline has passed)."""
    settings = Settings(var_dir=office / "var")
    key = form_keys(settings).current
    mailbox = office_mailbox(settings, POLICY)
    arrived = at(date(2023, 3, 1), 10, 5)  # Wednesday; February is due Sunday 5 March
    for unit, overrides in (("rsj", {}), ("fgj", None)):
        blank = _form(office, unit)
        filled = fill_form(blank, key) if overrides is not None else _broken(blank, key)
        message = reply(None, sender=f"{unit}@lingchuan.example.org", office=mailbox,
                        attachments=[(f"{unit}.xlsx", filled, XLSX)])  # fmt: skip
        deliver_to_maildir(settings.maildir_root / mailbox, bytes(message), message["From"],
                           mailbox, received_at=arrived)  # fmt: skip
    mail = {"TASKFORCE_SMTP_HOST": smtp_server.host, "TASKFORCE_SMTP_PORT": str(smtp_server.port)}
    result = invoke_cli(office, "intake", "--policy", POLICY, "--as-of", "2023-03-01T18:00",
                        env=mail)  # fmt: skip
    assert result.returncode == 0, result.stderr
    mails = [email.message_from_bytes(r.raw, policy=email.policy.default)
             for r in smtp_server.messages]  # fmt: skip
    # The outbox also held February's opening notices, prepared and never sent before.
    sent = {
        str(m["Subject"])[:4]: m for m in mails if str(m["Subject"])[:4] in ("【回执】", "【退回】")
    }
    assert sorted(sent) == ["【回执】", "【退回】"]
    for message in sent.values():
        assert message["Date"] == "Wed, 01 Mar 2023 18:00:00 +0800"
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert text.rstrip().endswith("2023年3月1日")
        assert "2023年3月1日（星期三）10:05" in text  # when it reached the office
    rejection = sent["【退回】"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "请于2023年3月5日（星期日）23:59前修改并重新报送" in rejection
    assert "已过" not in rejection
    bad = invoke_cli(office, "intake", "--policy", POLICY, "--as-of", "三月一日")
    assert bad.returncode == 2 and "三月一日" in bad.stderr


def _broken(blank: bytes, key: bytes) -> bytes:
    """The form filled with a status that is not one of the choices: rejected."""
    table = read_form_metadata(blank, key).layout.table
    assert table is not None
    [column] = [c for c in table.columns if c.part == "status"]
    return fill_form(blank, key, overrides={f"{column.column}{table.rows[0].row}": "进行中"})
