"""The forms as a bureau fills them in LibreOffice Calc, taken in by mail and ``taskforce submit``.

Calc (one headless soffice for the module, driven over UNO by tests/lo_driver.py) opens the form
the office mailed, picks statuses from the drop-down lists and types numbers, dates and text into
the fill-in cells the signed layout names, and saves as .xlsx, .xls or .ods. What it saves goes
back through both ways in: a reply over SMTP to the catcher → the office's Maildir → intake, and
the paper register on the command line.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import col, select

from config.errors import FormNotOursError, FormSignatureError
from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.forms.build import build_form
from tasks.forms.layout import FormLayout, form_spec_from_context
from tasks.forms.read import input_cells, read_form_metadata
from tasks.forms.values import read_form
from tasks.intake.steps import take_in
from tasks.mail.outbox import deliver_outbox
from tasks.mail.sources import MaildirSource
from tasks.reminders.steps import prepare_reminders
from tests.helpers import FORM_KEY, form_context, invoke_cli, load_seeds, mail_body
from tests.intake_helpers import XLSX, at, caught, office_catcher, office_mailbox, reply, send
from tests.libreoffice import ODS_FILTER, XLS_FILTER, XLSX_FILTER, Calc, calc

ODS = "application/vnd.oasis.opendocument.spreadsheet"
XLS = "application/vnd.ms-excel"
NAME_ERROR = "显示 #NAME?（公式错误）：请去掉开头的等号，直接填写文字"


@dataclass(frozen=True)
class Case:
    """One form of one seed: whose notice, when it goes out, when the reply is taken in."""

    id: str
    policy: str
    obligation: str
    frequency: str
    unit: str  # code
    period: str
    notice_day: date
    intake_day: date


CASES = [
    Case("lc-monthly", "lingchuan-2023", "monthly-progress", "monthly", "rsj", "2023-02",
         date(2023, 2, 23), date(2023, 3, 1)),
    Case("lc-setup", "lingchuan-2023", "taskforce-setup", "once", "rsj", "2023",
         date(2023, 1, 12), date(2023, 1, 16)),
    Case("lc-ledger", "lingchuan-2023", "implementation-ledger", "once", "rsj", "2023",
         date(2023, 1, 12), date(2023, 1, 16)),
    Case("xj-monthly", "xinjiang-2022", "monthly-summary", "monthly", "jtysj", "2022-10",
         date(2022, 11, 1), date(2022, 11, 7)),
]  # fmt: skip
MONTHLY = CASES[0]


@pytest.fixture(scope="module")
def office_calc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Calc]:
    """One LibreOffice for the module's tests (its start is most of the cost)."""
    with calc(tmp_path_factory.mktemp("calc")) as driver:
        yield driver


# ---------------------------------------------------------------------------------------------
# What a person types


def _cell_kinds(layout: FormLayout) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """cell → (type, part, choices) of every fill-in cell."""
    kinds = {c.cell: (c.type, c.part, c.choices) for c in layout.cells}
    if layout.table is not None:
        for row in layout.table.rows:
            for column in layout.table.columns:
                kinds[f"{column.column}{row.row}"] = (column.type, column.part, column.choices)
    return kinds


def typing_plan(form: bytes, key: Any) -> tuple[list[tuple[str, str, str, str]], dict[str, Any]]:
    """The edits a bureau makes in every fill-in cell, and what intake must read from each.

    Statuses are picked from the drop-down, a different one row after row; numbers, dates, a
    mobile number and text are typed. Pre-filled cells (a ledger's 预期目标) are left as issued.
    """
    layout = read_form_metadata(form, key).layout
    wb = openpyxl.load_workbook(io.BytesIO(form))
    prefilled = {c.coordinate for row in wb[layout.sheet].iter_rows() for c in row if c.value}
    edits: list[tuple[str, str, str, str]] = []
    expected: dict[str, Any] = {}
    kinds = _cell_kinds(layout)
    for n, (cell, _, part) in enumerate(input_cells(layout)):
        cell_type, _, choices = kinds[cell]
        if cell in prefilled:
            continue  # a ledger's 预期目标 from the policy's targets: a bureau leaves it
        if cell_type == "choice":
            value: Any = choices[n % len(choices)]
            edits.append((layout.sheet, cell, "pick", value))
        elif cell_type == "number":
            value = [42.0, 1200.0, 0.5, 7.0][n % 4]
            edits.append((layout.sheet, cell, "type", f"{value:g}"))
        elif cell_type == "date":
            value = "2023-01-10"
            edits.append((layout.sheet, cell, "type", value))
        elif part == "phone":
            value = "13903561234"  # typed, Calc makes it a number; read back as the digits
            edits.append((layout.sheet, cell, "type", value))
        else:
            value = f"第{n + 1}项：按计划推进，完成率约90%"
            edits.append((layout.sheet, cell, "type", value))
        expected[cell] = value
    return edits, expected


def stored_values(
    layout: FormLayout, fields: dict[str, Any], entries: dict[str, t.ProgressEntry]
) -> dict[str, Any]:
    """cell → the value intake recorded for it (submission fields, progress entries)."""
    found: dict[str, Any] = {}
    for cell in layout.cells:
        value = fields[cell.field]
        found[cell.cell] = value[cell.part or "value"] if isinstance(value, dict) else value
    if layout.table is None:
        return found
    for row in layout.table.rows:
        entry = entries[row.measure]
        for column in layout.table.columns:
            if not column.input or (column.target_rows_only and row.target is None):
                continue
            cell = f"{column.column}{row.row}"
            if layout.kind == "ledger":
                found[cell] = entry.fields[column.part]
            elif row.target is not None:
                [target] = [x for x in entry.fields["targets"] if x["index"] == row.target]
                found[cell] = target[column.part]
            elif column.part == "status":
                found[cell] = entry.status
            else:
                found[cell] = entry.fields[column.part]
    return found


# ---------------------------------------------------------------------------------------------
# The office's side


def issue_form(settings: Settings, case: Case, workdir: Path) -> tuple[Path, EmailMessage]:
    """Mail the case's notices to the catcher; the form the unit received, saved as it names it,
    and the notice it came with (the unit replies to it)."""
    prepare_reminders(settings, case.policy, at(case.notice_day), case.frequency)
    asyncio.run(deliver_outbox(settings, case.policy, run_id="t", now=datetime.now(UTC)))
    for message in caught(settings.var_dir / "mail", mailbox(settings, case)):
        for part in message.iter_attachments():
            data = part.get_payload(decode=True)
            if part.get_content_type() != XLSX or not isinstance(data, bytes):
                continue
            if read_form_metadata(data, _keys(settings)).obligation == case.obligation:
                path = workdir / "received" / str(part.get_filename())
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                return path, message
    raise AssertionError(f"no {case.obligation} form mailed to {case.unit}")


def _keys(settings: Settings) -> Any:
    from tasks.forms.keys import form_keys

    return form_keys(settings)


def mailbox(settings: Settings, case: Case) -> str:
    with session_scope(settings) as session:
        intake = load_policy_intake(session, case.policy)
    return intake.units[case.unit].mailboxes[0]


def by_mail(
    settings: Settings, case: Case, notice: EmailMessage, files: list[tuple[Path, str]]
) -> list[dict[str, Any]]:
    """The unit replies to the notice with the files; intake takes the office's Maildir in."""
    office = office_mailbox(settings, case.policy)
    attachments = [(path.name, path.read_bytes(), kind) for path, kind in files]
    message = reply(notice, sender=mailbox(settings, case), office=office, attachments=attachments)
    asyncio.run(send(settings, message))
    source = MaildirSource(settings.maildir_root / office)
    return take_in(settings, case.policy, source, now=at(case.intake_day, 10)).lines


def by_submit(settings: Settings, case: Case, file: Path) -> tuple[int, str]:
    """``taskforce submit`` of the file, as the office registers a form handed in."""
    result = invoke_cli(
        settings.var_dir.parent,
        "submit", "--unit", case.unit, "--policy", case.policy, "--period", case.period,
        "--obligation", case.obligation, "--as-of", f"{case.intake_day}T11:00",
        "--received-at", f"{case.intake_day}T11:00", str(file),
        env={"TASKFORCE_DATABASE_URL": settings.database_url},
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


def latest(settings: Settings, case: Case) -> tuple[t.Submission, dict[str, t.ProgressEntry]]:
    with session_scope(settings) as session:
        submission = session.exec(
            select(t.Submission).order_by(col(t.Submission.id).desc())
        ).first()
        assert submission is not None
        rows = session.exec(
            select(t.ProgressEntry, t.Measure.number)
            .join(t.Measure)
            .where(t.ProgressEntry.submission_id == submission.id)
        ).all()
        session.expunge_all()
    return submission, {number: entry for entry, number in rows}


def rejection_text(settings: Settings, case: Case) -> str:
    """The plain text of the newest 退回 in the outbox for the case's unit."""
    with session_scope(settings) as session:
        notices = session.exec(
            select(t.Notification)
            .where(t.Notification.kind == "rejection")
            .order_by(col(t.Notification.id).desc())
        ).all()
    return mail_body(settings, notices[0]).text if notices else ""


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.fixture
def office(db_settings: Settings) -> Iterator[Settings]:
    """Both seeds loaded; the office's mail goes through the catcher into its Maildirs."""
    load_seeds(db_settings)
    with office_catcher(db_settings) as (_, settings):
        yield settings


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_filled_in_calc_is_accepted_by_mail_and_submit(
    office: Settings, office_calc: Calc, case: Case, tmp_path: Path
) -> None:
    received, notice = issue_form(office, case, tmp_path)
    layout = read_form_metadata(received.read_bytes(), _keys(office)).layout
    edits, expected = typing_plan(received.read_bytes(), _keys(office))
    filled = tmp_path / "calc" / received.name
    office_calc.edit(received, [(filled, XLSX_FILTER)], edits)

    lines = by_mail(office, case, notice, [(filled, XLSX)])
    assert [(x["outcome"], x["errors"]) for x in lines] == [("accepted", [])]
    submission, entries = latest(office, case)
    assert (submission.channel, submission.status) == ("email", "accepted")
    got = stored_values(layout, submission.fields, entries)
    assert {cell: got[cell] for cell in expected} == expected

    code, out = by_submit(office, case, filled)
    assert code == 0 and "已受理" in out, out
    paper, paper_entries = latest(office, case)
    assert (paper.channel, paper.status, paper.version) == ("paper", "accepted", 2)
    assert stored_values(layout, paper.fields, paper_entries) == got


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_resaved_unchanged_reads_as_the_blank_form(
    office_calc: Calc, case: Case, tmp_path: Path
) -> None:
    """Opened and saved in Calc without a change: the blank form's required-field errors."""
    spec = form_spec_from_context(
        form_context(case.policy, case.obligation, _unit_name(case), case.period, "",
                     date(2023, 1, 20))
    )  # fmt: skip
    blank = tmp_path / "blank.xlsx"
    blank.write_bytes(build_form(spec, FORM_KEY))
    resaved = tmp_path / "resaved.xlsx"
    office_calc.edit(blank, [(resaved, XLSX_FILTER)])
    meta = read_form_metadata(resaved.read_bytes(), FORM_KEY)
    assert meta == read_form_metadata(blank.read_bytes(), FORM_KEY)
    issues = read_form(resaved.read_bytes(), meta).issues
    assert issues == read_form(blank.read_bytes(), meta).issues
    assert issues and all("必填项" in i.problem and "未填写" in i.problem for i in issues)


def _unit_name(case: Case) -> str:
    return {"rsj": "县人社局", "jtysj": "县交通运输局"}[case.unit]


def test_xls_and_ods_are_refused_on_both_paths(
    office: Settings, office_calc: Calc, tmp_path: Path
) -> None:
    received, notice = issue_form(office, MONTHLY, tmp_path)
    edits, _ = typing_plan(received.read_bytes(), _keys(office))
    stem = tmp_path / "calc" / received.stem
    xls, ods = stem.with_suffix(".xls"), stem.with_suffix(".ods")
    office_calc.edit(received, [(xls, XLS_FILTER), (ods, ODS_FILTER)], edits)
    for file, kind in ((ods, ODS), (xls, XLS)):
        [line] = by_mail(office, MONTHLY, notice, [(file, kind)])
        assert line["outcome"] == "rejected", line
        [error] = line["errors"]
        assert (
            f"附件《{file.name}》" in error["problem"] and "请另存为 .xlsx 格式" in error["problem"]
        )
        assert error["problem"] in rejection_text(office, MONTHLY)

        code, out = by_submit(office, MONTHLY, file)
        assert code == 0 and "退回" in out, out
        paper, _ = latest(office, MONTHLY)
        assert (paper.channel, paper.status) == ("paper", "rejected")
        assert [e["problem"] for e in paper.errors] == [error["problem"]]


def test_a_formula_typed_into_a_text_cell_is_refused_on_both_paths(
    office: Settings, office_calc: Calc, tmp_path: Path
) -> None:
    received, notice = issue_form(office, MONTHLY, tmp_path)
    layout = read_form_metadata(received.read_bytes(), _keys(office)).layout
    edits, _ = typing_plan(received.read_bytes(), _keys(office))
    text_cell = next(c for c in layout.cells if c.type == "text" and c.required)
    edits = [e for e in edits if e[1] != text_cell.cell]
    edits.append((layout.sheet, text_cell.cell, "type", "=资金缺口较大"))
    filled = tmp_path / "calc" / received.name
    office_calc.edit(received, [(filled, XLSX_FILTER)], edits)

    [line] = by_mail(office, MONTHLY, notice, [(filled, XLSX)])
    assert line["outcome"] == "rejected"
    [error] = line["errors"]
    assert (error["sheet"], error["cell"]) == (layout.sheet, text_cell.cell)
    assert error["problem"] == f"{text_cell.label}{NAME_ERROR}"
    text = rejection_text(office, MONTHLY)
    assert f"工作表「{layout.sheet}」单元格{text_cell.cell}：{text_cell.label}{NAME_ERROR}" in text
    submission, _ = latest(office, MONTHLY)
    assert "#NAME?" not in repr(submission.fields)

    code, out = by_submit(office, MONTHLY, filled)
    assert code == 0 and "退回" in out
    paper, _ = latest(office, MONTHLY)
    assert (paper.channel, paper.status, paper.errors) == ("paper", "rejected", [error])


# ---------------------------------------------------------------------------------------------
# The _meta sheet after LibreOffice


def test_meta_sheet_after_calc_signature_still_guards_it(office_calc: Calc, tmp_path: Path) -> None:
    """Calc saves _meta hidden, not very hidden, and drops the structure lock: a person can show
    it, rename, move or delete it. Its signature still decides: an edited value is refused; a
    renamed or deleted sheet is the same missing metadata; a moved one still verifies."""
    case = MONTHLY
    spec = form_spec_from_context(
        form_context(case.policy, case.obligation, "县人社局", case.period, "2023年2月",
                     date(2023, 3, 5))
    )  # fmt: skip
    blank = tmp_path / "blank.xlsx"
    blank.write_bytes(build_form(spec, FORM_KEY))
    edits, _ = typing_plan(blank.read_bytes(), FORM_KEY)
    variants = {
        "plain": [],
        "edited": [["show"], ["set", "unit_code", "fgj"]],
        "renamed": [["rename", "元数据"]],
        "moved": [["move", 0]],
        "deleted": [["delete"]],
    }
    saved: dict[str, bytes] = {}
    for name, changes in variants.items():
        out = tmp_path / f"{name}.xlsx"
        office_calc.edit(blank, [(out, XLSX_FILTER)], edits, meta=changes)
        saved[name] = out.read_bytes()

    plain = openpyxl.load_workbook(tmp_path / "plain.xlsx")
    assert plain["_meta"].sheet_state == "hidden"  # was veryHidden
    assert plain.security is None or not plain.security.lockStructure  # the lock is gone
    meta = read_form_metadata(saved["plain"], FORM_KEY)
    assert read_form(saved["plain"], meta).valid

    with pytest.raises(FormSignatureError, match="表格签名校验失败"):
        read_form_metadata(saved["edited"], FORM_KEY)
    messages = []
    for name in ("renamed", "deleted"):
        with pytest.raises(FormNotOursError) as caught_error:
            read_form_metadata(saved[name], FORM_KEY)
        messages.append(str(caught_error.value))
    assert messages[0] == messages[1] and "没有系统元数据工作表（_meta）" in messages[0]
    moved = read_form_metadata(saved["moved"], FORM_KEY)
    assert moved == meta and read_form(saved["moved"], moved).valid


def test_meta_changed_in_calc_through_intake(
    office: Settings, office_calc: Calc, tmp_path: Path
) -> None:
    """Edited by mail: quarantined, never recorded as the unit's report. Renamed or deleted,
    through ``taskforce submit``: held for review (not our form), the same reason on record."""
    received, notice = issue_form(office, MONTHLY, tmp_path)
    edits, _ = typing_plan(received.read_bytes(), _keys(office))
    edited = tmp_path / "edited" / received.name
    change = [["show"], ["set", "unit_name", "县发改局"]]
    office_calc.edit(received, [(edited, XLSX_FILTER)], edits, meta=change)
    [line] = by_mail(office, MONTHLY, notice, [(edited, XLSX)])
    assert line["outcome"] == "quarantined" and "签名校验失败" in line["errors"][0]["problem"]
    with session_scope(office) as session:
        assert (
            session.exec(select(t.Submission).where(t.Submission.status != "quarantined")).all()
            == []
        )

    reasons = []
    for name, change in (("renamed", ["rename", "元数据"]), ("deleted", ["delete"])):
        out = tmp_path / name / received.name
        out.parent.mkdir()
        office_calc.edit(received, [(out, XLSX_FILTER)], edits, meta=[change])
        code, _ = by_submit(office, MONTHLY, out)
        submission, _ = latest(office, MONTHLY)
        assert (code, submission.status, submission.attachment) == (0, "unstructured", out.name)
        reasons.append(submission.fields["notes"])
    assert reasons[0] == reasons[1]
    assert len(reasons[0]) == 1 and "没有系统元数据工作表（_meta）" in reasons[0][0]


def test_a_file_of_unknown_kind_is_kept_not_dropped(office: Settings, tmp_path: Path) -> None:
    """``taskforce submit`` of a file intake has no reader for: on record, for review."""
    shutil.copy(Path(__file__), tmp_path / "扫描件.heic")
    code, _ = by_submit(office, MONTHLY, tmp_path / "扫描件.heic")
    submission, _ = latest(office, MONTHLY)
    assert (code, submission.status, submission.attachment) == (0, "unstructured", "扫描件.heic")
    assert submission.fields["attachments"] == ["扫描件.heic"]
