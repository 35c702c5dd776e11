"""Pre-filled forms built from the real seed policies: layout, validation, locking, signature."""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import subprocess
import sys
import zipfile
from dataclasses import replace
from datetime import date, datetime
from functools import cache

import openpyxl
import pytest
from openpyxl.cell.cell import MergedCell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from config.errors import FormError, FormReadError, FormSignatureError, TaskforceError
from tasks.calendar import SHANGHAI
from tasks.forms.build import build_form, target_text
from tasks.forms.layout import (
    META_KEYS,
    META_SHEET,
    STATUS_CHOICES,
    FormSpec,
    form_filename,
    form_spec_from_context,
    layout_kind,
)
from tasks.forms.read import input_cells, read_form_metadata
from tests.helpers import FORM_AS_OF, FORM_KEY, ROOT, form_context, unit_measures

# (id, policy, obligation, unit, period, period label, due, layout kind, sheet, file name)
CASES = [
    ("lc-ledger", "lingchuan-2023", "implementation-ledger", "县人社局", "2023", "2023年1月20日",
     date(2023, 1, 20), "ledger", "任务清单台账", "贯彻落实举措及任务清单台账_县人社局.xlsx"),
    ("lc-setup", "lingchuan-2023", "taskforce-setup", "县人社局", "2023", "2023年1月20日",
     date(2023, 1, 20), "roster", "专班建立情况", "工作专班建立情况_县人社局.xlsx"),
    ("lc-monthly", "lingchuan-2023", "monthly-progress", "县人社局", "2023-02", "2023年2月",
     date(2023, 3, 5), "progress", "月度报告", "2023年2月进展情况报告_县人社局.xlsx"),
    ("xj-monthly", "xinjiang-2022", "monthly-summary", "县交通运输局", "2022-10", "2022年10月",
     date(2022, 11, 10), "progress", "月度报告", "2022年10月工作总结_县交通运输局.xlsx"),
]  # fmt: skip
CASE_IDS = [c[0] for c in CASES]
TABLE_CASES = [c for c in CASES if c[7] != "roster"]


def spec_for(case_id: str) -> FormSpec:
    case = next(c for c in CASES if c[0] == case_id)
    return form_spec_from_context(form_context(*case[1:7]))


@cache
def built(case_id: str) -> bytes:
    return build_form(spec_for(case_id), FORM_KEY)


def open_form(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def form_sheet(wb: openpyxl.Workbook) -> Worksheet:
    ws = wb.worksheets[0]
    assert isinstance(ws, Worksheet)
    return ws


def saved(wb: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Layout


@pytest.mark.parametrize(
    ("case_id", "kind", "sheet", "filename"),
    [(c[0], c[7], c[8], c[9]) for c in CASES],
    ids=CASE_IDS,
)
def test_signature_verifies_and_names_unit_and_cycle(
    case_id: str, kind: str, sheet: str, filename: str
) -> None:
    spec = spec_for(case_id)
    meta = read_form_metadata(built(case_id), FORM_KEY)
    assert (meta.policy, meta.obligation, meta.period) == (
        spec.policy_code,
        spec.obligation_code,
        spec.period,
    )
    assert (meta.unit_code, meta.unit_name) == (spec.unit_code, spec.unit_name)
    assert meta.issued_at == FORM_AS_OF
    assert (meta.layout.kind, meta.layout.sheet) == (kind, sheet)
    wb = open_form(built(case_id))
    assert wb.sheetnames == [sheet, META_SHEET]
    assert form_filename(spec) == filename


@pytest.mark.parametrize(
    ("case_id", "title"),
    [
        ("lc-monthly", "陵川县2023年2月进展情况报告（县人社局）"),
        ("lc-ledger", "陵川县贯彻落实举措及任务清单台账（县人社局）"),
        ("lc-setup", "陵川县工作专班建立情况（县人社局）"),
        ("xj-monthly", "新绛县2022年10月工作总结（县交通运输局）"),
    ],
)
def test_title_and_header_rows(case_id: str, title: str) -> None:
    ws = form_sheet(open_form(built(case_id)))
    spec = spec_for(case_id)
    assert ws["A1"].value == title
    assert f"填报单位：{spec.unit_name}" in str(ws["A2"].value)
    assert "报送截止：" in str(ws["A2"].value)
    assert spec.doc_number in str(ws["A3"].value)
    assert spec.office_mailbox in str(ws["A4"].value)


@pytest.mark.parametrize("case_id", [c[0] for c in TABLE_CASES])
def test_table_rows_are_the_units_own_measures(case_id: str) -> None:
    case = next(c for c in CASES if c[0] == case_id)
    measures = unit_measures(case[1], case[3])
    assert measures, "the chosen units all have measures in the seed"
    meta = read_form_metadata(built(case_id), FORM_KEY)
    table = meta.layout.table
    assert table is not None
    ws = form_sheet(open_form(built(case_id)))

    numbers = list(dict.fromkeys(row.measure for row in table.rows))
    assert numbers == [m["number"] for m in measures]
    header = [ws.cell(table.header_row, i).value for i in range(1, 4)]
    assert header == ["措施编号", "措施名称", "角色"]
    per_row = {m["number"]: m for m in measures}
    for measure in measures:
        rows = [r for r in table.rows if r.measure == measure["number"]]
        first = rows[0].row
        assert ws.cell(first, 1).value == measure["number"]
        assert ws.cell(first, 2).value == measure["title"]
        assert ws.cell(first, 3).value == measure["role_label"]
        if meta.layout.kind == "progress":
            # one row per target, or one row for a measure without any
            expected_targets: list[int | None] = list(range(len(measure["targets"])))
            assert [r.target for r in rows] == (expected_targets or [None])
            for r in rows:
                expected = (
                    "（无量化目标）"
                    if r.target is None
                    else target_text(per_row[r.measure]["targets"][r.target])
                )
                # broken into lines by the form itself (wrap_cjk), so no line starts with ）
                assert str(ws.cell(r.row, 5).value).replace("\n", "") == expected
        else:
            assert len(rows) == 1


def test_ledger_prefills_expected_goal_with_quantified_targets() -> None:
    meta = read_form_metadata(built("lc-ledger"), FORM_KEY)
    assert meta.layout.table is not None
    columns = {c.part: c.column for c in meta.layout.table.columns}
    labels = [c.label for c in meta.layout.table.columns]
    assert labels == [
        "措施编号",
        "措施名称",
        "角色",
        "任务事项",
        "预期目标",
        "完成时限",
        "进展情况",
    ]
    ws = form_sheet(open_form(built("lc-ledger")))
    rows = {r.measure: r.row for r in meta.layout.table.rows}
    goal = str(ws[f"{columns['expected-goal']}{rows['20']}"].value)
    targets = [
        # as the notice mail gives them: the due day only, never the importer's notes
        "112个建设项目年度投资计划完成额：47亿元（2023年12月31日前）",
        "新建项目前期手续集中办理：65个（2023年12月31日前）",
        "政府投资决策程序履行：80个（2023年12月31日前）",
        "新建项目开工率：40%（2023年3月31日前）",
    ]
    # one target after another, each starting a line; long ones broken where the column wraps,
    # never before ：or （…） (LibreOffice would start a line with ）)
    assert goal.replace("\n", "") == "".join(targets)
    lines = goal.splitlines()
    metrics = [t.split("：")[0] for t in targets]
    assert [m for m in metrics if any(line.startswith(m) for line in lines)] == metrics
    assert lines[1] == "47亿元（2023年12月31日前）"
    assert all(line[0] not in "、；：，。）" for line in lines)
    assert ws[f"{columns['expected-goal']}{rows['19']}"].value is None  # 19 has no target
    assert ws[f"{columns['task-item']}{rows['20']}"].value is None
    # the 贯彻落实举措 text area comes first, as the obligation lists it
    text = [c for c in meta.layout.cells if c.field == "measures"]
    assert len(text) == 1
    assert text[0].type == "text"
    assert text[0].required
    assert int(text[0].cell[1:]) < meta.layout.table.header_row


def test_sections_follow_the_content_order_of_the_obligation() -> None:
    ws = form_sheet(open_form(built("xj-monthly")))
    sections = [
        str(ws.cell(row, 1).value)
        for row in range(1, ws.max_row + 1)
        if re.match(r"^[一二三四五]、", str(ws.cell(row, 1).value or ""))
    ]
    assert sections == [
        "一、上月工作任务完成情况（必填）",
        "二、各项任务完成情况（逐条措施）（必填）",
        "三、存在的问题（选填）",
        "四、下一步工作打算（选填）",
    ]
    ws = form_sheet(open_form(built("lc-monthly")))
    labels = [str(ws.cell(row, 1).value) for row in range(6, 13, 2)]
    assert labels == [
        "一、工作落实情况（必填）",
        "二、存在的问题困难（必填）",
        "三、下一步落实措施（必填）",
        "四、各项政策推进落实情况（逐条措施填写）（必填）",
    ]


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["text", "per_measure", "per_measure"], "ledger"),
        (["per_measure", "per_measure"], "ledger"),
        (["text", "text", "text", "per_measure"], "progress"),
        (["per_measure"], "progress"),
        (["text", "table"], "roster"),
        (["text"], "roster"),
    ],
)
def test_layout_follows_content_kinds(kinds: list[str], expected: str) -> None:
    content = [{"key": f"f{i}", "label": f"字段{i}", "kind": k} for i, k in enumerate(kinds)]
    assert layout_kind(content) == expected


# ---------------------------------------------------------------------------------------------
# Validation lists and locking


def _sqref_cells(ws: Worksheet, kind: str) -> list[set[str]]:
    found = []
    for dv in ws.data_validations.dataValidation:
        if dv.type == kind:
            found.append({c for r in dv.sqref.ranges for row in r.cells for c in [_coord(row)]})
    return found


def _coord(rc: tuple[int, int]) -> str:
    return f"{openpyxl.utils.get_column_letter(rc[1])}{rc[0]}"


@pytest.mark.parametrize("case_id", [c[0] for c in TABLE_CASES if c[7] == "progress"])
def test_progress_validations_sit_on_status_and_value_cells(case_id: str) -> None:
    meta = read_form_metadata(built(case_id), FORM_KEY)
    table = meta.layout.table
    assert table is not None
    ws = form_sheet(open_form(built(case_id)))
    columns = {c.part: c for c in table.columns}
    assert columns["status"].choices == STATUS_CHOICES
    status_cells = {f"{columns['status'].column}{r.row}" for r in table.rows}
    value_cells = {f"{columns['value'].column}{r.row}" for r in table.rows if r.target is not None}

    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert len(lists) == 1
    assert lists[0].formula1 == '"已完成,推进中,滞后,未启动"'
    assert _sqref_cells(ws, "list") == [status_cells]
    assert _sqref_cells(ws, "decimal") == ([value_cells] if value_cells else [])
    # rows without a target have no value to fill in
    for r in table.rows:
        cell = ws[f"{columns['value'].column}{r.row}"]
        assert cell.protection.locked is (r.target is None)


def test_lingchuan_monthly_has_value_cells_for_measure_20s_four_targets() -> None:
    meta = read_form_metadata(built("lc-monthly"), FORM_KEY)
    assert meta.layout.table is not None
    targets = [r for r in meta.layout.table.rows if r.target is not None]
    assert [(r.measure, r.target) for r in targets] == [("20", 0), ("20", 1), ("20", 2), ("20", 3)]
    ws = form_sheet(open_form(built("lc-monthly")))
    dv = next(d for d in ws.data_validations.dataValidation if d.type == "decimal")
    assert dv.operator == "between"
    assert ws[f"F{targets[0].row}"].style == "填写数字"


def test_setup_form_has_yes_no_list_and_date() -> None:
    meta = read_form_metadata(built("lc-setup"), FORM_KEY)
    assert meta.layout.table is None
    cells = {(c.field, c.part): c for c in meta.layout.cells}
    assert set(cells) == {
        ("established", ""),
        ("established", "date"),
        ("members", "leader"),
        ("members", "deputies"),
        ("members", "members"),
        ("members", "contact"),
        ("members", "phone"),
    }
    established = cells[("established", "")]
    assert (established.label, established.type, established.choices) == (
        "是否已建立专班",
        "choice",
        ("是", "否"),
    )
    ws = form_sheet(open_form(built("lc-setup")))
    labels = [ws.cell(int(c.cell[1:]), 1).value for c in meta.layout.cells]
    assert labels == [
        "是否已建立专班",
        "建立日期",
        "组长（姓名、职务）",
        "副组长（姓名、职务）",
        "成员（姓名、单位及职务，每人一行）",
        "联系人（姓名、职务）",
        "联系电话",
    ]
    assert _sqref_cells(ws, "list") == [{established.cell}]
    assert _sqref_cells(ws, "date") == [{cells[("established", "date")].cell}]
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert lists[0].formula1 == '"是,否"'


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_exactly_the_fill_in_cells_are_unlocked(case_id: str) -> None:
    data = built(case_id)
    meta = read_form_metadata(data, FORM_KEY)
    wb = open_form(data)
    ws = form_sheet(wb)
    expected = {cell for cell, _, _ in input_cells(meta.layout)}
    unlocked = {
        c.coordinate
        for row in ws.iter_rows()
        for c in row
        if not isinstance(c, MergedCell) and c.has_style and not c.protection.locked
    }
    assert unlocked == expected
    for coordinate in ("A1", "A2", "A3", "A4"):
        assert ws[coordinate].protection.locked
    assert ws.protection.sheet
    assert not ws.protection.password  # a UX guard only; the HMAC is the trust
    assert wb.security is not None and wb.security.lockStructure


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_meta_sheet_is_very_hidden_and_protected(case_id: str) -> None:
    wb = open_form(built(case_id))
    meta = wb[META_SHEET]
    assert meta.sheet_state == "veryHidden"
    assert meta.protection.sheet
    keys = [meta.cell(row, 1).value for row in range(1, meta.max_row + 1)]
    assert keys == [*META_KEYS, "signature"]
    assert wb.active is not None and wb.active.title == wb.sheetnames[0]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_print_setup_a4_one_page_wide_footer_clear(case_id: str) -> None:
    """What tests/forms/test_print.py checks in LibreOffice's PDF, as settings Excel reads too."""
    ws = form_sheet(open_form(built(case_id)))
    kind = next(c[7] for c in CASES if c[0] == case_id)
    # the roster is a one-page form to sign and stamp: portrait; the tables need the width
    assert ws.page_setup.orientation == ("portrait" if kind == "roster" else "landscape")
    assert str(ws.page_setup.paperSize) == str(ws.PAPERSIZE_A4)
    # a fixed zoom, not fit-to-page: Excel ignores manual page breaks under fit-to-page
    assert ws.sheet_properties.pageSetUpPr is not None
    assert not ws.sheet_properties.pageSetUpPr.fitToPage
    widths = [ws.column_dimensions[c].width for c in "ABCDEFG" if c in ws.column_dimensions]
    paper = (11.69 if kind != "roster" else 8.27) - 1.0  # inches less the side margins
    # LibreOffice makes a column character 7 pt wide when Calibri is missing (the widest case)
    assert sum(widths) * 7 * int(ws.page_setup.scale or 100) / 100 <= paper * 72
    assert int(ws.page_setup.scale or 100) >= 80  # still readable
    # the page breaks are computed from the row heights: every row has one of its own
    assert all(ws.row_dimensions[r].height for r in range(1, ws.max_row + 1))
    assert ws.row_breaks.brk or kind == "roster"  # the tables run over pages
    margins = ws.page_margins
    assert margins.bottom - margins.footer >= 0.4  # a 9-pt footer line with room to spare
    footer = ws.oddFooter
    assert footer is not None and footer.center.text == "第 &P 页，共 &N 页"
    assert ws.print_area is not None and f"$A$1:${get_column_letter(len(widths))}$" in str(
        ws.print_area
    )
    if kind != "roster":
        meta = read_form_metadata(built(case_id), FORM_KEY)
        assert meta.layout.table is not None
        header = meta.layout.table.header_row
        assert ws.print_title_rows == f"${header}:${header}"


# ---------------------------------------------------------------------------------------------
# Signature and trust


def test_filled_in_and_resaved_form_still_verifies() -> None:
    data = built("lc-monthly")
    meta = read_form_metadata(data, FORM_KEY)
    assert meta.layout.table is not None
    wb = open_form(data)
    ws = form_sheet(wb)
    for cell, _, part in input_cells(meta.layout):
        ws[cell] = 12.5 if part == "value" else "推进中" if part == "status" else "已按要求推进。"
    again = read_form_metadata(saved(wb), FORM_KEY)
    assert again == meta


@pytest.mark.parametrize("field", [*META_KEYS, "signature"])
def test_altering_any_metadata_cell_fails(field: str) -> None:
    wb = open_form(built("lc-monthly"))
    meta = wb[META_SHEET]
    row = [*META_KEYS, "signature"].index(field) + 1
    value = str(meta.cell(row, 2).value)
    altered = {
        "unit_code": "fgj",
        "unit_name": "县发改局",
        "period": "2023-03",
        "issued_at": "2023-01-13T09:30:00+08:00",
        "layout": value.replace('"26(3)"', '"27"'),
        "signature": "0" * 64,
    }.get(field, value + "x")
    assert altered != value
    meta.cell(row, 2).value = altered
    with pytest.raises(FormSignatureError, match="签名校验失败"):
        read_form_metadata(saved(wb), FORM_KEY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("delete-sheet", "没有系统元数据工作表"),
        ("rename-sheet", "没有系统元数据工作表"),
        ("delete-row", "缺少字段：unit_name"),
        ("extra-row", "未知字段：extra"),
        ("duplicate-row", "重复"),
    ],
)
def test_structural_changes_to_metadata_fail(change: str, message: str) -> None:
    wb = open_form(built("lc-monthly"))
    meta = wb[META_SHEET]
    if change == "delete-sheet":
        del wb[META_SHEET]
    elif change == "rename-sheet":
        meta.title = "meta"
    elif change == "delete-row":
        meta.delete_rows(META_KEYS.index("unit_name") + 1)
    elif change == "extra-row":
        meta.append(["extra", "1"])
    elif change == "duplicate-row":
        meta.append(["policy", "lingchuan-2023"])
    with pytest.raises(FormSignatureError, match=message):
        read_form_metadata(saved(wb), FORM_KEY)


def test_a_copy_into_a_new_workbook_fails() -> None:
    wb = openpyxl.Workbook()
    wb.active["A1"] = "陵川县2023年2月进展情况报告（县人社局）"  # type: ignore[index]
    with pytest.raises(FormSignatureError, match="不要把内容复制到新建的表格"):
        read_form_metadata(saved(wb), FORM_KEY)


def test_a_different_key_fails() -> None:
    with pytest.raises(FormSignatureError, match="不是本办公室下发的表格"):
        read_form_metadata(built("lc-monthly"), b"another-office-key")


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(FormError, match="TASKFORCE_FORM_KEY"):
        build_form(spec_for("lc-monthly"), b"")
    with pytest.raises(FormError, match="TASKFORCE_FORM_KEY"):
        read_form_metadata(built("lc-monthly"), b"")


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _unreadable_inputs() -> list[tuple[str, bytes, str]]:
    form = built("lc-monthly")
    with zipfile.ZipFile(io.BytesIO(form)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    broken_xml = dict(parts, **{"xl/workbook.xml": b"<workbook><sheets><sheet"})
    return [
        ("empty", b"", "文件为空"),
        ("text", "这不是表格".encode(), "已损坏或不是 Excel"),
        ("random", random.Random(7).randbytes(5000), "已损坏或不是 Excel"),
        ("truncated", form[: len(form) // 2], "已损坏或不是 Excel"),
        ("encrypted-or-xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "打开密码"),
        ("docx-like zip", _zip({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<x/>"}),
         "不是 Excel"),
        ("broken workbook xml", _zip(broken_xml), "无法读取"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [(d, m) for _, d, m in _unreadable_inputs()],
    ids=[i for i, _, _ in _unreadable_inputs()],
)
def test_unreadable_files_give_a_clean_error(data: bytes, message: str) -> None:
    with pytest.raises(FormReadError, match=message):
        read_form_metadata(data, FORM_KEY)


def test_oversized_unpacked_content_is_refused_before_parsing() -> None:
    bomb = _zip({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b" " * 2_000_000})
    assert len(bomb) < 20_000
    with pytest.raises(FormReadError, match="解压后过大"):
        read_form_metadata(bomb, FORM_KEY, max_unpacked=1_000_000)


def test_random_corruption_never_escapes_as_another_exception() -> None:
    data = built("xj-monthly")
    original = read_form_metadata(data, FORM_KEY)
    rng = random.Random(20230120)
    outcomes: dict[str, int] = {}
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            meta = read_form_metadata(bytes(mutated), FORM_KEY)
        except TaskforceError as exc:
            assert isinstance(exc, FormError)
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        else:
            assert meta == original  # the flip hit bytes nobody reads (a zip header field)
    assert outcomes.get("FormReadError", 0) > 100


# ---------------------------------------------------------------------------------------------
# Determinism and names


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_same_spec_and_key_give_identical_bytes(case_id: str) -> None:
    spec = spec_for(case_id)
    assert build_form(spec, FORM_KEY) == build_form(spec, FORM_KEY)
    assert build_form(spec, FORM_KEY) != build_form(
        replace(spec, issued_at=datetime(2023, 1, 13, tzinfo=SHANGHAI)), FORM_KEY
    )


def test_bytes_do_not_depend_on_the_process_or_hash_seed() -> None:
    script = (
        "import hashlib, sys\n"
        "from tests.forms.test_forms import spec_for\n"
        "from tests.helpers import FORM_KEY\n"
        "from tasks.forms.build import build_form\n"
        "form = build_form(spec_for('lc-monthly'), FORM_KEY)\n"
        "sys.stdout.write(hashlib.sha256(form).hexdigest())\n"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")}
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**env, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(result.stdout)
    assert digests == {hashlib.sha256(built("lc-monthly")).hexdigest()}


@pytest.mark.parametrize(
    ("unit", "obligation", "frequency", "expected"),
    [
        ("县人社局", "月度进展情况报告", "monthly", "2023年2月进展情况报告_县人社局.xlsx"),
        ("县发改局（县能源局）", "总结", "monthly", "2023年2月总结_县发改局（县能源局）.xlsx"),
        ("A/B:C*D?", "报告<1>", "once", "报告_1__A_B_C_D_.xlsx"),
        ("CON", "", "once", "_CON.xlsx"),
        ("县" * 100, "月度工作总结", "monthly", None),
    ],
)  # fmt: skip
def test_filenames_are_legal_on_windows(
    unit: str, obligation: str, frequency: str, expected: str | None
) -> None:
    spec = replace(
        spec_for("lc-monthly"),
        unit_name=unit,
        obligation_name=obligation,
        frequency=frequency,  # type: ignore[arg-type]
    )
    name = form_filename(spec)
    assert not re.search(r'[<>:"/\\|?*\x00-\x1f]', name)
    assert name.endswith(".xlsx")
    assert not name.removesuffix(".xlsx").endswith((" ", "."))
    assert len(name) <= 90
    if expected is not None:
        assert name == expected


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_filenames_are_legal(case_id: str) -> None:
    name = form_filename(spec_for(case_id))
    assert not re.search(r'[<>:"/\\|?*\x00-\x1f]', name)


def test_policy_text_is_never_a_formula() -> None:
    spec = spec_for("lc-monthly")
    measures = (dict(spec.measures[0], title='=HYPERLINK("http://x")'), *spec.measures[1:])
    data = build_form(replace(spec, measures=measures), FORM_KEY)
    meta = read_form_metadata(data, FORM_KEY)
    assert meta.layout.table is not None
    ws = form_sheet(open_form(data))
    cell = ws.cell(meta.layout.table.rows[0].row, 2)
    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://x")'


def test_file_times_come_from_the_spec_not_the_clock() -> None:
    with zipfile.ZipFile(io.BytesIO(built("lc-monthly"))) as archive:
        stamps = {info.date_time for info in archive.infolist()}
        core = archive.read("docProps/core.xml").decode()
    assert stamps == {(2023, 1, 12, 9, 30, 0)}  # FORM_AS_OF, local time
    assert core.count("2023-01-12T01:30:00Z") == 2  # created and modified, in UTC


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_a_unit_without_measures_still_gets_a_valid_form(case_id: str) -> None:
    data = build_form(replace(spec_for(case_id), measures=()), FORM_KEY)
    meta = read_form_metadata(data, FORM_KEY)
    if meta.layout.table is not None:
        assert meta.layout.table.rows == ()
    ws = form_sheet(open_form(data))
    assert any("没有具名承担的措施" in str(c.value) for row in ws.iter_rows() for c in row) is (
        meta.layout.table is not None
    )
