"""What ``decide`` makes of each kind of attachment: a form in a format intake cannot read is a
退回 that says to save it as .xlsx; nothing a reply carries is dropped without a line on record."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from functools import cache

import openpyxl
import pytest

from tasks.calendar import SHANGHAI
from tasks.demo.bureaus import fill_form
from tasks.forms.build import build_form
from tasks.forms.layout import form_spec_from_context
from tasks.forms.read import read_form_metadata
from tasks.intake.decide import CycleInfo, Decision, IntakeContext, UnitInfo, decide
from tasks.mail.inbound import Attachment, ParsedMessage
from tests.helpers import FORM_KEY, form_context

RECEIVED = datetime(2023, 3, 1, 10, tzinfo=SHANGHAI)
ODS_TYPE = "application/vnd.oasis.opendocument.spreadsheet"
SAVE_AS = "请另存为 .xlsx 格式"


@cache
def form() -> bytes:
    context = form_context("lingchuan-2023", "monthly-progress", "县人社局", "2023-02",
                           "2023年2月", date(2023, 3, 5))  # fmt: skip
    return build_form(form_spec_from_context(context), FORM_KEY)


def context() -> IntakeContext:
    due = datetime(2023, 3, 5, 23, 59, tzinfo=SHANGHAI)
    cycle = CycleInfo("monthly-progress", "2023-02", date(2023, 2, 23), due.date(), due)
    measures = read_form_metadata(form(), FORM_KEY).layout.table
    assert measures is not None
    return IntakeContext(
        policy_code="lingchuan-2023",
        units={
            "rsj": UnitInfo(
                "rsj",
                "县人社局",
                frozenset({"rsj@x"}),
                frozenset(row.measure for row in measures.rows),
            )
        },
        unit_by_mailbox={"rsj@x": "rsj"},
        cycles={("monthly-progress", "2023-02"): cycle},
        unit_cycles={"rsj": (("monthly-progress", "2023-02"),)},
        notices={},
        submitted=(),
        issued=frozenset({read_form_metadata(form(), FORM_KEY).digest}),
    )


def ods_bytes() -> bytes:
    """An OpenDocument spreadsheet's zip as LibreOffice writes it (mimetype first, content.xml)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", ODS_TYPE)
        archive.writestr("content.xml", "<office:document-content/>")
        archive.writestr("META-INF/manifest.xml", "<manifest/>")
    return out.getvalue()


XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "Workbook".encode("utf-16-le") + bytes(64)


def take(*attachments: Attachment) -> Decision:
    """One reply from the unit's mailbox, as mail (content types) or paper (none) brings it."""
    message = ParsedMessage(
        sender="rsj@x", sender_name="县人社局", subject="2月报表", message_id="", references=(),
        auto_reply=False, text="", attachments=attachments,
    )  # fmt: skip
    return decide(
        message, context(), form_key=FORM_KEY, received_at=RECEIVED,
        cycle_hint=("monthly-progress", "2023-02"),
    )  # fmt: skip


def attachment(name: str, data: bytes, content_type: str = "") -> Attachment:
    return Attachment(name, content_type, data, False, len(data))


@pytest.mark.parametrize(
    ("name", "data", "content_type", "says"),
    [
        ("报表.ods", ods_bytes(), ODS_TYPE, "OpenDocument 表格（.ods）格式"),  # by mail
        ("报表.ods", ods_bytes(), "", "OpenDocument 表格（.ods）格式"),  # taskforce submit
        ("报表.ods", ods_bytes(), "application/octet-stream", "OpenDocument 表格（.ods）格式"),
        ("报表.xlsx", ods_bytes(), "", "OpenDocument 表格（.ods）格式"),  # renamed
        ("报表.fods", b"<?xml version='1.0'?><office:document/>", "", ".ods"),
        ("报表.xls", XLS, "application/vnd.ms-excel", "旧版 Excel 97-2003（.xls）格式"),
        ("报表.xls", XLS, "", "旧版 Excel 97-2003（.xls）格式"),
    ],
    ids=["ods-mail", "ods-paper", "ods-octet", "ods-renamed", "fods", "xls-mail", "xls-paper"],
)
def test_a_form_intake_cannot_read_is_returned_saying_save_as_xlsx(
    name: str, data: bytes, content_type: str, says: str
) -> None:
    decision = take(attachment(name, data, content_type))
    [draft] = decision.drafts
    [error] = draft.errors
    assert (decision.status, draft.status, draft.unit_code) == ("processed", "rejected", "rsj")
    assert error.problem.startswith(f"附件《{name}》") and says in error.problem
    assert SAVE_AS in error.problem, error.problem


def test_an_ods_beside_the_valid_form_is_noted_with_the_report() -> None:
    filled = fill_form(form(), FORM_KEY)
    decision = take(
        attachment("报表.xlsx", filled), attachment("报表副本.ods", ods_bytes(), ODS_TYPE)
    )
    [draft] = decision.drafts
    assert draft.status == "accepted"
    [note] = draft.fields["other_attachments"]
    assert note.startswith("附件《报表副本.ods》是 OpenDocument") and SAVE_AS in note


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("扫描件.tif", ""),
        ("扫描件.heic", ""),
        ("现场.mp4", "video/mp4"),
        ("说明", ""),
        ("录音.amr", "audio/amr"),
    ],
)
def test_no_attachment_is_dropped(name: str, content_type: str) -> None:
    """A file intake has no reader for is kept for review, named on the submission."""
    decision = take(attachment(name, b"\x00\x01 some bytes", content_type))
    [draft] = decision.drafts
    assert (draft.status, draft.attachment, draft.fields["attachments"]) == (
        "unstructured", name, [name]
    )  # fmt: skip


def test_a_workbook_without_our_metadata_is_kept_with_the_reason() -> None:
    """The unit's own table, or our form with _meta deleted or renamed: reviewed, and why."""
    out = io.BytesIO()
    openpyxl.Workbook().save(out)
    decision = take(attachment("自制表.xlsx", out.getvalue()))
    [draft] = decision.drafts
    assert draft.status == "unstructured" and draft.fields["problems"] == []
    [note] = draft.fields["notes"]
    assert note.startswith("附件《自制表.xlsx》未作为报表读取：表格中没有系统元数据工作表（_meta）")
