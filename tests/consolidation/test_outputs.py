"""A consolidated month of each seed, end to end: golden bulletins, the workbook read back,
versions when late reports arrive, the leaders' mail, and the Prefect artifacts."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from sqlmodel import select

from config.settings import Settings, use_settings
from flows.consolidation import annual_flow, consolidation_flow
from models import tables as t
from models.db import session_scope
from tasks.consolidation.pdf import cjk_fonts
from tasks.consolidation.steps import run_consolidation
from tests.consolidation_fixture import consolidate_month, load_month
from tests.helpers import DATA, check_golden, load_seeds, mail_body
from tests.smtp_server import SmtpServer

GOLDEN = DATA / "golden" / "reports"
PRINTS_CHINESE = cjk_fonts() > 0
MONTHS = {"lingchuan-2023-02": "lingchuan-2023", "xinjiang-2022-11": "xinjiang-2022"}


def _golden(name: str, path: Path) -> None:
    check_golden(GOLDEN / name / path.name, path.read_bytes())


@pytest.mark.parametrize("name", sorted(MONTHS))
def test_bulletin_and_workbook_of_a_month(settings: Settings, name: str) -> None:
    load_seeds(settings, MONTHS[name])
    spec, result = consolidate_month(settings, name)
    assert result.version == 1 and result.new_version
    reports = settings.var_dir / "reports"
    assert result.directory == reports / spec["policy"] / str(spec["period"]) / "v1"
    html, markdown, workbook, *pdf = result.files
    # The PDF wherever a Chinese font is installed (make test's .ci/chromium.sh installs one);
    # without, none (tests/consolidation/test_pdf.py has that case).
    assert [p.suffix for p in pdf] == ([".pdf"] if PRINTS_CHINESE else [])
    assert all(p.read_bytes().startswith(b"%PDF-") for p in pdf)
    _golden(name, html)
    _golden(name, markdown)
    wb = openpyxl.load_workbook(io.BytesIO(workbook.read_bytes()))
    # 新绛's measure 11 is due on 31 December, 18 days after the November summary's as_of: its
    # 临期 row is printed next to 措施进展; 陵川's February has no deadline within 30 days.
    deadlines = ["临期和逾期事项"] if name == "xinjiang-2022-11" else []
    assert wb.sheetnames[: 4 + len(deadlines)] == [
        "报送情况", "措施进展", *deadlines, "问题困难", "下一步措施",
    ]  # fmt: skip
    matrix = wb["报送情况"]
    names = [row[0] for row in matrix.iter_rows(min_row=2, values_only=True) if row[0]]
    assert len(names) == result.consolidation.counts["obligated"]
    # The same data and as_of: the same content, the same version, no second mail.
    again = run_consolidation(
        settings, spec["policy"], period=str(spec["period"]), obligation=None,
        as_of=spec["as_of"], now=spec["as_of"],
    )  # fmt: skip
    assert (again.version, again.new_version) == (1, False)


def test_late_reports_make_a_new_version_and_keep_the_old(settings: Settings) -> None:
    load_seeds(settings, "lingchuan-2023")
    spec = load_month(settings, "lingchuan-2023-02")
    first = run_consolidation(settings, "lingchuan-2023", period="2023-02", obligation=None,
                              as_of=spec["as_of"], now=spec["as_of"])  # fmt: skip
    later = spec["as_of"] + timedelta(days=2)  # 县科技局's report of 9 March now counts
    second = run_consolidation(settings, "lingchuan-2023", period="2023-02", obligation=None,
                               as_of=later, now=later)  # fmt: skip
    assert (second.version, second.new_version) == (2, True)
    assert second.consolidation.counts["late"] == first.consolidation.counts["late"] + 1
    assert all(path.exists() for path in first.files + second.files)
    with session_scope(settings) as session:
        mails = session.exec(select(t.Notification).where(t.Notification.kind == "bulletin")).all()
    assert [m.idempotency_key.rsplit("/", 1)[1] for m in mails] == ["v1", "v2"]
    assert mails[0].to == ["taskforce-leader@lingchuan.example.org",
                           "taskforce-deputy1@lingchuan.example.org",
                           "taskforce-deputy2@lingchuan.example.org"]  # fmt: skip
    assert mails[0].cc == ["taskforce-office@lingchuan.example.org"]
    # The PDF to print and the workbook; the HTML bulletin stays in the report's directory.
    assert [a["filename"] for a in mails[0].attachments] == [
        first.files[-1 if PRINTS_CHINESE else 0].name,
        first.files[2].name,
    ]
    text = mail_body(settings, mails[0]).text
    assert "按时报送" in text
    assert ("（供打印）" in text) == PRINTS_CHINESE


async def test_flows_leave_artifacts(
    prefect_server: None, settings: Settings, smtp_server: SmtpServer
) -> None:
    load_seeds(settings, "lingchuan-2023")
    spec = load_month(settings, "lingchuan-2023-02")
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})
    with use_settings(settings):
        result = await consolidation_flow("lingchuan-2023", None, spec["as_of"])
        annual = await annual_flow("lingchuan-2023", "2023", spec["as_of"])
    assert result.consolidation.source.period == "2023-02"
    [row] = [r for r in annual.rollup.rows if r.code == "rsj"]
    # January's report was never sent in this fixture: missing; February's came late.
    assert (row.months, row.missing, row.late, row.late_months) == (2, 1, 1, ("2023年2月",))
    keys = [
        "consolidation-lingchuan-2023-matrix", "consolidation-lingchuan-2023-bulletin",
        "consolidation-lingchuan-2023-submitted", "annual-lingchuan-2023",
    ]  # fmt: skip
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)),
            sort=ArtifactSort.CREATED_DESC,
        )
    assert {a.key for a in artifacts} == set(keys)
    # Newest first: the test server is the session's, and an earlier test's runs may have left
    # artifacts under the same keys (a month with nothing submitted: 0).
    by_key = {}
    for artifact in artifacts:
        by_key.setdefault(artifact.key, artifact)
    assert "县能源局" in str(by_key["consolidation-lingchuan-2023-bulletin"].data)
    matrix = json.loads(str(by_key["consolidation-lingchuan-2023-matrix"].data))
    assert len(matrix) == 41 and {"县人社局", "县能源局"} <= {row["单位"] for row in matrix}
    # The leaders got the bulletin, with the PDF to print and the workbook attached (without a
    # Chinese font: the HTML bulletin and why, as tests/consolidation/test_pdf.py checks).
    [mail] = smtp_server.messages
    assert "taskforce-leader@lingchuan.example.org" in mail.rcpt_tos
    bulletin, workbook = mail.message.iter_attachments()
    assert workbook.get_filename() == result.files[2].name
    text = mail.message.get_body(("plain",))
    assert text is not None
    if PRINTS_CHINESE:
        assert bulletin.get_filename() == result.files[3].name == "2023年2月进展情况通报.pdf"
        assert bulletin.get_content_type() == "application/pdf"
        assert bulletin.get_content() == result.files[3].read_bytes()
        assert "1. 2023年2月进展情况通报.pdf（供打印）" in text.get_content()
    else:
        assert bulletin.get_filename() == result.files[0].name
        assert "通报PDF版本未能生成" in text.get_content()
    assert by_key["consolidation-lingchuan-2023-submitted"].data == pytest.approx(
        round(100 * result.consolidation.submitted_share, 1)
    )
