"""The bulletin as the office prints it and the leaders look at it: the PDF of 陵川's February
(A4, 第 N 页 共 M 页 on every page, no table row cut by a page break, header rows repeated),
the SVG chart's bars against the figures the fixture's submissions give, and no PDF at all where no
Chinese font is installed, with the reason in the leaders' mail, the command's output and the
run's artifact.

Page 1 and 2 of the PDF are kept under ./var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from prefect.settings import PREFECT_API_URL
from sqlmodel import select

from config.settings import CalendarSettings, Settings, SmtpSettings
from models.db import session_scope
from models.tables import Notification
from tasks.consolidation.bulletin import bulletin_context
from tasks.consolidation.consolidate import LIGHT_LABELS, OTHER_GROUP
from tasks.consolidation.pdf import FONT_REMEDY, NO_CJK_FONT, cjk_fonts
from tasks.consolidation.steps import ConsolidationResult
from tests.consolidation_fixture import FIXTURES, consolidate_month, load_month
from tests.helpers import ROOT, free_port, load_seeds, mail_body, run_cli
from tests.libreoffice import first_page_png, page_png, pdf_pages, pdf_raw_pages
from tests.smtp_server import SmtpServer

SCREENSHOTS = ROOT / "var" / "screenshots"
MONTH = "lingchuan-2023-02"
SVG = "{http://www.w3.org/2000/svg}"


def _require_cjk_font() -> None:
    """Without a Chinese font there is no PDF to test (the last test covers that case)."""
    if cjk_fonts() > 0:
        return
    reason = "no Chinese font: .ci/fonts.sh (or .ci/chromium.sh) installs fonts-noto-cjk"
    if os.environ.get("TASKFORCE_REQUIRE_LIBREOFFICE") == "1":
        pytest.fail(f"the print tests need a Chinese font: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Made:
    result: ConsolidationResult
    spec: dict[str, Any]
    pdf: Path
    html: str


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """陵川's February consolidated once for the module (as conftest's ``settings`` does)."""
    _require_cjk_font()
    tmp = tmp_path_factory.mktemp("bulletin-pdf")
    settings = Settings(
        var_dir=tmp / "var",
        database_url=f"sqlite:///{tmp / 'var' / 'taskforce.db'}",
        calendar=CalendarSettings(holidays_dir=tmp / "no-holiday-files"),
        smtp=SmtpSettings(port=free_port(), backoff_seconds=0.01),
    )
    load_seeds(settings, "lingchuan-2023")
    spec, result = consolidate_month(settings, MONTH)
    assert result.pdf_missing == ""
    [pdf] = [f for f in result.files if f.suffix == ".pdf"]
    return Made(result, spec, pdf, result.files[0].read_text(encoding="utf-8"))


def _squash(text: str) -> str:
    return "".join(text.split())


def test_the_pdf_is_a4_with_the_page_number_on_every_page(made: Made) -> None:
    info = subprocess.run(["pdfinfo", str(made.pdf)], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info), info
    pages = pdf_pages(made.pdf)
    count = re.search(r"Pages:\s+(\d+)", info)
    assert count is not None and int(count.group(1)) == len(pages) > 1
    for number, text in enumerate(pages, start=1):
        footers = re.findall(r"第\s*(\d+)\s*页\s*共\s*(\d+)\s*页", text)
        assert footers == [(str(number), str(len(pages)))], (number, text[-200:])
    # The red-headed title opens page 1, the signature closes the last page.
    assert "陵川县工作专班 2023年2月进展情况通报" in pages[0]
    assert "县工作专班办公室" in pages[-1] and "2023年3月8日" in pages[-1]
    first_page_png(made.pdf, SCREENSHOTS / "bulletin-pdf-page1.png", dpi=100)
    page_png(made.pdf, SCREENSHOTS / "bulletin-pdf-page2.png", 2, dpi=100)


def test_no_table_row_is_cut_by_a_page_break_and_headers_repeat(made: Made) -> None:
    """Each row's cells, in the order they are drawn, stand whole on exactly one page."""
    pages = [_squash(p) for p in pdf_raw_pages(made.pdf)]
    context = bulletin_context(made.result.consolidation)

    def one_page(row: str) -> int:
        found = [i for i, page in enumerate(pages) if row in page]
        assert len(found) == 1, (row, found)
        return found[0]

    measure_header = _squash(
        "编号 措施 牵头/负责单位 进展状态 量化目标 完成值 序时进度 落后百分点 灯 配合单位"
    )
    measure_pages = set()
    assert len(context["measures"]) == 47
    for m in context["measures"]:
        cells = [m["number"], m["title"], m["leads"], m["status"]]
        for i, t in enumerate(m["targets"]):
            cells += [t["target"], t["reached"], t["schedule"], t["behind"], t["light_label"]]
            if i == 0:
                cells.append(m["support"])
        measure_pages.add(one_page(_squash("".join(cells))))
    assert len(measure_pages) > 1  # the table runs over pages: its header row goes with it
    for index in measure_pages:
        assert measure_header in pages[index], index + 1
    for g in context["groups"]:
        cells = [g["name"], g["units"], g["on_time"], g["late"], g["missing"], g["rejected"],
                 g["measures"], g["statuses"], g["red"], g["yellow"]]  # fmt: skip
        one_page(_squash("".join(map(str, cells))))
    ledger = context["quality"]["ledger"]["rows"]
    assert len(ledger) == 41
    for r in ledger:
        one_page(_squash(f"{r['unit']}{r['state']}{r['rows']}{r['complete']}{r['share']}"))


# ---------------------------------------------------------------------------------------------
# The chart against the fixture


def _percent(part: int, whole: int) -> str:
    share = Decimal(part) * 100 / Decimal(whole)
    return f"{share.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _on_time_in_fixture(made: Made) -> dict[str, bool]:
    """Unit code → reported on time, from tests/data/consolidation/lingchuan-2023-02.yaml alone:
    a listed unit's state and arrival, else the default (on time, well before the deadline)."""
    spec = yaml.safe_load((FIXTURES / f"{MONTH}.yaml").read_text(encoding="utf-8"))
    due = made.result.consolidation.source.due_at
    as_of = datetime.fromisoformat(str(spec["as_of"]))
    out = {}
    for unit in made.result.consolidation.units:  # the obligated units
        own = {**spec["default"], **(spec["units"].get(unit.code) or {})}
        received = datetime.fromisoformat(str(own["received"]))
        counted = own.get("state", "accepted") not in ("missing", "rejected")
        out[unit.code] = counted and received <= due and received <= as_of
    return out


def _figures(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", html, flags=re.S)]


def _bars(svg: ET.Element) -> dict[str, ET.Element]:
    return {r.attrib["data-label"]: r for r in svg.iter(f"{SVG}rect") if "data-value" in r.attrib}


def _texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def test_the_chart_draws_the_months_and_groups_the_submissions_give(made: Made) -> None:
    on_time = _on_time_in_fixture(made)
    assert sum(on_time.values()) == 36  # 41 less 2 late, 1 missing, 1 rejected, 1 after as_of
    c = made.result.consolidation
    months, groups = _figures(made.html)
    assert "图1 各月按时报送率" in made.html and "图2 各组按时报送率与措施灯色" in made.html

    # 图1: January (no report in the fixture) and February, the column heights to scale.
    bars = _bars(months)
    expected = {"1月": _percent(0, len(on_time)), "2月": _percent(sum(on_time.values()), 41)}
    assert {label: bar.attrib["data-value"] for label, bar in bars.items()} == expected
    assert float(bars["2月"].attrib["height"]) == pytest.approx(120 * 36 / 41, abs=0.06)
    assert {"0.0%", "87.8%", "2月（本月）"} <= set(_texts(months))

    # 图2: each group's members' share on time this month (January: none), to scale.
    bars = _bars(groups)
    texts = _texts(groups)
    names = [g.name for g in c.groups if g.units or g.measures] + [OTHER_GROUP]
    for name in names:
        members = [
            u.code for u in c.units if (name in u.groups or (name == OTHER_GROUP and not u.groups))
        ]
        now = bars[f"{name}本月"]
        if not members:
            assert now.attrib["data-value"] == "—" and float(now.attrib["width"]) == 0
            continue
        share = sum(on_time[code] for code in members)
        assert now.attrib["data-value"] == _percent(share, len(members)), name
        assert float(now.attrib["width"]) == pytest.approx(150 * share / len(members), abs=0.06)
        assert bars[f"{name}上月"].attrib["data-value"] == "0.0%"
        assert _percent(share, len(members)) in texts
    # ... and its measures by light, each segment with its count.
    lights = Counter((m.group or OTHER_GROUP, m.light) for m in c.measures)
    drawn = {label: int(bar.attrib["data-value"]) for label, bar in bars.items()
             if not label.endswith(("本月", "上月"))}  # fmt: skip
    shown = {"none": "无灯", **{k: v for k, v in LIGHT_LABELS.items() if k != "none"}}
    assert drawn == {f"{group}{shown[light]}": n for (group, light), n in lights.items()}
    assert lights[("项目谋划建设专项推进组", "red")] == 1 == drawn["项目谋划建设专项推进组红灯"]
    for label, count in drawn.items():
        assert str(count) in texts, label


# ---------------------------------------------------------------------------------------------
# Without a Chinese font


def test_without_a_chinese_font_no_pdf_and_the_leaders_and_the_office_are_told(
    tmp_path: Path, prefect_server: None, smtp_server: SmtpServer
) -> None:
    """``taskforce consolidate`` where fontconfig knows only an empty font directory, as on a
    fresh machine without fonts: the leaders' mail (over SMTP) says why there is no PDF and
    carries the HTML bulletin; the command's output and the run's artifact tell the office."""
    settings = Settings(var_dir=tmp_path / "var")
    load_seeds(settings, "lingchuan-2023")
    spec = load_month(settings, MONTH)
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    conf = tmp_path / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?>\n<fontconfig><dir>{fonts}</dir>'
                    f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>\n")  # fmt: skip
    env = {
        "FONTCONFIG_FILE": str(conf),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the session's server
        "TASKFORCE_SMTP_HOST": smtp_server.host,
        "TASKFORCE_SMTP_PORT": str(smtp_server.port),
    }

    done = run_cli(tmp_path, "consolidate", "--policy", "lingchuan-2023",
                   "--as-of", spec["as_of"].isoformat(), env=env)  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"通报PDF未生成：{NO_CJK_FONT}。{FONT_REMEDY}" in done.stdout, done.stdout
    reports = settings.var_dir / "reports" / "lingchuan-2023" / "2023-02" / "v1"
    assert sorted(p.suffix for p in reports.iterdir()) == [".html", ".md", ".xlsx"]
    [mail] = smtp_server.messages
    names = [a.get_filename() for a in mail.message.iter_attachments()]
    assert names == ["2023年2月进展情况通报.html", "2023年2月进展情况报告报送情况汇总表.xlsx"]
    body = mail.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert (
        "通报PDF版本未能生成（本机未安装中文字体），现附网页版通报，可用浏览器打开后打印。" in text
    )
    assert "供打印" not in text
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["consolidation-lingchuan-2023-bulletin"])
            ),
            limit=1,
            sort=ArtifactSort.UPDATED_DESC,
        )
    # Under the run's mail line, which every run's artifact opens with (issue 20 §4).
    assert str(artifact.data).startswith(
        f"> 邮件：已发送 1，失败 0，待发送 0\n\n> **通报PDF未生成**：{NO_CJK_FONT}。"
    )


def test_a_layout_crash_drops_only_the_pdf(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault injection: WeasyPrint raising inside ``write_pdf`` (a layout bug on some month's
    data cannot be provoked on purpose) still gives the bulletin, the workbook and the leaders'
    mail, which says the PDF is missing; the error is in the run log for the maintainers."""
    import weasyprint

    def crash(*_args: Any, **_kwargs: Any) -> bytes:
        raise RecursionError("layout loop")

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", crash)
    load_seeds(settings, "lingchuan-2023")

    _, result = consolidate_month(settings, MONTH)

    assert result.pdf_missing == "PDF排版出错"
    assert "RecursionError" in result.pdf_remedy
    assert sorted(f.suffix for f in result.files) == [".html", ".md", ".xlsx"]
    assert "WeasyPrint 生成通报PDF出错" in caplog.text and "layout loop" in caplog.text
    with session_scope(settings) as session:
        [mail] = session.exec(select(Notification).where(Notification.kind == "bulletin")).all()
    assert "通报PDF版本未能生成（PDF排版出错）" in mail_body(settings, mail).text
