"""Reading returned forms built from the seed policies: values read back, and each issue told."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

from config.errors import FormReadError
from tasks.demo.bureaus import fill_form
from tasks.forms.values import FormIssue, FormReading, MeasureReport, read_form
from tests.forms.blank_forms import blank, metadata
from tests.helpers import FORM_KEY

# id → (policy, obligation, unit, period, period label, due)
ENERGY = ["1", "2", "3", "4", "5", "6", "19", "20", "22", "34"]  # 县能源局's measures in 陵川
MONTHLY = "月度报告"


@cache
def filled(form: str) -> bytes:
    return fill_form(blank(form), FORM_KEY)


def read(form: str, **fill: Any) -> FormReading:
    """Fill the form (defaults everywhere unless told otherwise) and read it back."""
    return read_form(fill_form(blank(form), FORM_KEY, **fill), metadata(form))


def issues(form: str, **fill: Any) -> list[FormIssue]:
    return list(read(form, **fill).issues)


def edited(data: bytes, edit: Callable[[Worksheet], None]) -> bytes:
    """The workbook after ``edit`` on its form sheet, saved as a unit's Excel would."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    assert isinstance(ws, Worksheet)
    edit(ws)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def monthly_issue(cell: str, problem: str) -> FormIssue:
    return FormIssue(MONTHLY, cell, problem)


# ---------------------------------------------------------------------------------------------
# The layouts this file relies on: cell addresses below are literal, so check them once.


def test_layouts_are_where_these_tests_expect() -> None:
    monthly = metadata("monthly").layout
    assert monthly.table is not None
    assert [(r.row, r.measure, r.target) for r in monthly.table.rows][:4] == [
        (14, "1", 0),
        (15, "1", 1),
        (16, "1", 2),
        (17, "2", None),
    ]
    assert [(r.row, r.measure, r.target) for r in monthly.table.rows][-6:] == [
        (23, "20", 0),
        (24, "20", 1),
        (25, "20", 2),
        (26, "20", 3),
        (27, "22", None),
        (28, "34", None),
    ]
    assert [(c.cell, c.field, c.part) for c in monthly.cells] == [
        ("A7", "work-done", ""),
        ("A9", "problems", ""),
        ("A11", "next-steps", ""),
        ("B31", "footer", "filled_by"),
        ("E31", "footer", "phone"),
        ("G31", "footer", "head"),
    ]
    ledger = metadata("ledger").layout
    assert ledger.table is not None
    assert [(r.row, r.measure) for r in ledger.table.rows] == list(
        zip(range(10, 20), ENERGY, strict=True)
    )
    assert [c.cell for c in metadata("roster").layout.cells] == [
        "B7", "B8", "B10", "B11", "B12", "B13", "B14",
    ]  # fmt: skip
    summary = metadata("summary").layout
    assert summary.table is not None
    assert [(r.row, r.measure, r.target) for r in summary.table.rows][1:3] == [
        (11, "9", None),
        (12, "10", 0),
    ]


# ---------------------------------------------------------------------------------------------
# A fully filled form reads back exactly


def test_monthly_reads_back_every_cell_in_its_place() -> None:
    overrides = {
        "A7": "  完成煤炭保供任务。\n召开专题会议2次。 ",
        "A9": "部分煤矿复产手续尚未办结。",
        "A11": "加快手续办理。",
        "B31": "张三",
        "E31": 13812345678,
        "G31": "李四",
        # measure 1: three targets
        "D14": "已完成", "F14": 160, "G14": "全年产量已达目标",
        "D15": "滞后", "F15": "1", "G15": None,
        "D16": " 推进中 ", "F16": 2.5, "G16": "一处在建",
        # measure 20: four targets, the last in %
        "D23": "推进中", "F23": "１２", "D24": "推进中", "F24": "1,200",
        "D25": "已完成", "F25": -3, "D26": "推进中", "F26": "35%",
        "G17": "已对接电厂",
    }  # fmt: skip
    reading = read("monthly", status="已完成", text="按计划推进", overrides=overrides)
    assert reading.issues == ()
    assert reading.valid
    assert reading.fields == {
        "work-done": "完成煤炭保供任务。\n召开专题会议2次。",
        "problems": "部分煤矿复产手续尚未办结。",
        "next-steps": "加快手续办理。",
        "footer": {"filled_by": "张三", "phone": "13812345678", "head": "李四"},
    }
    by_number = {m.number: m for m in reading.measures}
    assert list(by_number) == ENERGY
    assert by_number["1"] == MeasureReport(
        "1",
        "滞后",
        None,
        {
            "targets": [
                {"index": 0, "status": "已完成", "value": 160.0, "note": "全年产量已达目标"},
                {"index": 1, "status": "滞后", "value": 1.0, "note": None},
                {"index": 2, "status": "推进中", "value": 2.5, "note": "一处在建"},
            ],
            "note": "全年产量已达目标\n一处在建",
        },
    )
    assert by_number["2"] == MeasureReport(
        "2", "已完成", None, {"targets": [], "note": "已对接电厂"}
    )
    assert by_number["20"].status == "推进中"
    assert [t["value"] for t in by_number["20"].fields["targets"]] == [12.0, 1200.0, -3.0, 35.0]
    assert by_number["34"] == MeasureReport(
        "34", "已完成", None, {"targets": [], "note": "按计划推进"}
    )
    json.dumps([reading.fields, [m.fields for m in reading.measures]])  # JSON-able


def test_summary_single_target_gives_value_reached_and_optional_fields_may_stay_empty() -> None:
    reading = read("summary", overrides={"F12": 7, "G12": "已完成7公里"}, skip={"A21", "A23"})
    assert reading.issues == ()
    assert reading.fields["problems"] is None
    assert reading.fields["next-steps"] is None
    assert reading.fields["last-month-completion"] == "……"
    ten = next(m for m in reading.measures if m.number == "10")
    assert ten == MeasureReport(
        "10",
        "推进中",
        7.0,
        {"targets": [{"index": 0, "status": "推进中", "value": 7.0, "note": "已完成7公里"}],
         "note": "已完成7公里"},
    )  # fmt: skip
    assert [m.number for m in reading.measures] == ["2", "9", "10", "18", "55", "56", "60",
                                                    "63", "64"]  # fmt: skip
    assert all(m.value_reached is None for m in reading.measures if m.number != "10")


def test_ledger_reads_per_measure_columns_and_keeps_the_prefilled_goals() -> None:
    reading = read(
        "ledger",
        text="按职责推进",
        overrides={"D10": "煤炭增产", "F10": date(2023, 6, 30), "G10": "已部署", "A7": "见台账"},
    )
    assert reading.issues == ()
    assert reading.fields == {
        "measures": "见台账",
        "footer": {"filled_by": "按职责推进", "phone": "按职责推进", "head": "按职责推进"},
    }
    assert [m.number for m in reading.measures] == ENERGY
    one = reading.measures[0]
    assert one == MeasureReport(
        "1",
        None,
        None,
        {
            "task-item": "煤炭增产",
            # pre-filled as the notice mail words the targets, broken into the column's lines
            "expected-goal": "全县煤炭全年产量：160万吨\n（2023年12月31日前）\n"
            "煤矿智能化矿井建设：2座\n（2023年12月31日前）\n"
            "智能化采掘工作面建设：4处\n（2023年12月31日前）",
            "deadline": "2023-06-30",  # Excel turned the typed date into a date
            "progress": "已部署",
        },
    )
    assert reading.measures[1].fields == dict.fromkeys(
        ("task-item", "expected-goal", "deadline", "progress"), "按职责推进"
    )


def test_roster_reads_choice_date_and_parts() -> None:
    reading = read(
        "roster", text="王五 局长", overrides={"B12": "甲\n乙\n丙", "B8": "2023年1月9日"}
    )
    assert reading.issues == ()
    assert reading.measures == ()
    assert reading.fields == {
        "established": {"value": "是", "date": "2023-01-09"},
        "members": {
            "leader": "王五 局长",
            "deputies": "王五 局长",
            "members": "甲\n乙\n丙",
            "contact": "王五 局长",
            "phone": "王五 局长",
        },
    }


def test_roster_excel_date_and_optional_date_left_empty() -> None:
    assert read("roster").fields["established"] == {"value": "是", "date": "2023-01-18"}
    reading = read("roster", overrides={"B7": "否"}, skip={"B8", "B11", "B12"})
    assert reading.issues == ()
    assert reading.fields["established"] == {"value": "否", "date": None}
    assert reading.fields["members"]["deputies"] is None


def test_a_date_serial_in_a_general_cell_is_a_date() -> None:
    def general_serial(ws: Worksheet) -> None:
        ws["B8"] = 44944
        ws["B8"].number_format = "General"

    data = edited(filled("roster"), general_serial)
    reading = read_form(data, metadata("roster"))
    assert reading.fields["established"]["date"] == "2023-01-18"


# ---------------------------------------------------------------------------------------------
# Each check, with the exact issue


def test_blank_form_lists_every_required_cell() -> None:
    reading = read_form(blank("monthly"), metadata("monthly"))
    assert not reading.valid
    assert reading.issues[:5] == (
        monthly_issue("A7", "必填项“工作落实情况”未填写"),
        monthly_issue("A9", "必填项“存在的问题困难”未填写"),
        monthly_issue("A11", "必填项“下一步落实措施”未填写"),
        monthly_issue("D14", "措施1第1项目标的必填项“进展状态”未填写"),
        monthly_issue("F14", "措施1第1项目标的必填项“当前完成值”未填写"),
    )
    # every status cell, every value cell on a target row; no note, no footer
    cells = [i.cell for i in reading.issues]
    assert len(cells) == 3 + 15 + 7
    assert "F17" not in cells and not {"G14", "B31", "E31", "G31"} & set(cells)
    assert monthly_issue("D17", "措施2的必填项“进展状态”未填写") in reading.issues
    assert all(m.status is None for m in reading.measures)


@pytest.mark.parametrize("empty", [None, "   ", "\u3000\u3000", "\u200b", " \n\t "])
def test_whitespace_only_is_empty(empty: str | None) -> None:
    assert issues("monthly", overrides={"A9": empty, "D17": empty}) == [
        monthly_issue("A9", "必填项“存在的问题困难”未填写"),
        monthly_issue("D17", "措施2的必填项“进展状态”未填写"),
    ]


def test_roster_required_cells() -> None:
    assert issues("roster", skip={"B7", "B13"}) == [
        FormIssue("专班建立情况", "B7", "必填项“是否已建立专班”未填写"),
        FormIssue("专班建立情况", "B13", "必填项“联系人（姓名、职务）”未填写"),
    ]


def test_ledger_required_columns() -> None:
    assert issues("ledger", skip={"D16", "G19"}) == [
        FormIssue("任务清单台账", "D16", "措施19的必填项“任务事项”未填写"),
        FormIssue("任务清单台账", "G19", "措施34的必填项“进展情况”未填写"),
    ]


@pytest.mark.parametrize(
    ("cell", "given", "problem"),
    [
        ("D14", "进行中",
         "措施1第1项目标的进展状态“进行中”不在可选范围（已完成、推进中、滞后、未启动）内"),
        ("D17", "完成", "措施2的进展状态“完成”不在可选范围（已完成、推进中、滞后、未启动）内"),
        ("D17", "已完成。",
         "措施2的进展状态“已完成。”不在可选范围（已完成、推进中、滞后、未启动）内"),
        ("D27", 1, "措施22的进展状态“1”不在可选范围（已完成、推进中、滞后、未启动）内"),
    ],
)  # fmt: skip
def test_status_outside_the_list(cell: str, given: Any, problem: str) -> None:
    reading = read("monthly", overrides={cell: given})
    assert list(reading.issues) == [monthly_issue(cell, problem)]


def test_status_with_spaces_around_is_accepted() -> None:
    reading = read("monthly", overrides={"D17": " 已完成\u3000"})
    assert reading.valid
    assert reading.measures[1].status == "已完成"


def test_roster_choice_outside_the_list() -> None:
    assert issues("roster", overrides={"B7": "已建立"}) == [
        FormIssue("专班建立情况", "B7", "是否已建立专班“已建立”不在可选范围（是、否）内")
    ]


UNIT_SUFFIX = "，请只填数字（单位见“目标”栏）"
NOT_PERCENT = "是百分数，但该目标不以%计，请只填数字（单位见“目标”栏）"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (120, 120.0),
        (12.5, 12.5),
        ("12.5", 12.5),
        ("1,200", 1200.0),
        ("1,234,567.5", 1234567.5),
        ("１２０", 120.0),  # full-width digits
        ("１，２００．５", 1200.5),
        ("-3", -3.0),
        ("－3", -3.0),
        ("−3", -3.0),  # U+2212
        ("+4", 4.0),
        (" 0 ", 0.0),
        (".5", 0.5),
        ("47.", 47.0),
    ],
)
def test_number_cells_accept(given: Any, expected: float) -> None:
    reading = read("monthly", overrides={"F14": given})
    assert reading.issues == ()
    assert reading.measures[0].fields["targets"][0]["value"] == expected


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("约一百", "“约一百”不是数字"),
        ("一百", "“一百”不是数字"),
        ("120万", f"“120万”带有单位或文字“万”{UNIT_SUFFIX}"),
        ("160 万吨", f"“160 万吨”带有单位或文字“万吨”{UNIT_SUFFIX}"),
        ("100左右", f"“100左右”带有单位或文字“左右”{UNIT_SUFFIX}"),
        ("85%", f"“85%”{NOT_PERCENT}"),
        ("85％", f"“85％”{NOT_PERCENT}"),
        ("1,2", "“1,2”不是数字"),
        ("12 500", "“12 500”不是数字"),
        ("1e3", "“1e3”不是数字"),
        ("nan", "“nan”不是数字"),
        ("inf", "“inf”不是数字"),
        ("1" * 400, f"“{'1' * 40}…”数值过大"),
        (True, "“TRUE”不是数字"),
        (datetime(2023, 2, 1), "“2023-02-01”不是数字"),
        ("#N/A", "显示 #N/A（公式错误）：请直接填写数字，不要使用公式"),
    ],
)
def test_number_cells_refuse(given: Any, problem: str) -> None:
    reading = read("monthly", overrides={"F14": given})
    assert list(reading.issues) == [monthly_issue("F14", f"措施1第1项目标的当前完成值{problem}")]
    assert reading.measures[0].fields["targets"][0]["value"] is None


def test_percent_is_read_in_points_on_a_target_counted_in_percent() -> None:
    # F26 is measure 20's 新建项目开工率：40%; F14 is 全县煤炭全年产量：160万吨
    reading = read("monthly", overrides={"F26": "35%"})
    assert reading.valid
    assert reading.measures[7].fields["targets"][3]["value"] == 35.0

    def percent_cells(ws: Worksheet) -> None:
        for cell in ("F26", "F14"):
            ws[cell] = 0.35
            ws[cell].number_format = "0%"  # what Excel does when "35%" is typed

    data = edited(filled("monthly"), percent_cells)
    reading = read_form(data, metadata("monthly"))
    assert reading.measures[7].fields["targets"][3]["value"] == 35.0
    assert list(reading.issues) == [
        monthly_issue("F14", f"措施1第1项目标的当前完成值“35%”{NOT_PERCENT}")
    ]


@pytest.mark.parametrize(
    ("given", "expected", "problem"),
    [
        ("2023-01-18", "2023-01-18", None),
        ("2023/1/8", "2023-01-08", None),
        ("2023.01.18", "2023-01-18", None),
        ("２０２３年１月１８日", "2023-01-18", None),
        ("20230118", "2023-01-18", None),
        (datetime(2023, 1, 18, 15, 30), "2023-01-18", None),
        ("2023-02-30", None, "建立日期“2023-02-30”不是有效日期（该日不存在）"),
        ("上周", None, "建立日期“上周”不是有效日期，请按“2023-01-18”的格式填写"),
        ("1999-12-31", None, "建立日期“1999-12-31”不在2000年至2099年之间，请检查年份"),
        (True, None, "建立日期“TRUE”不是有效日期，请按“2023-01-18”的格式填写"),
    ],
)
def test_date_cells(given: Any, expected: str | None, problem: str | None) -> None:
    reading = read("roster", overrides={"B8": given})
    assert reading.fields["established"]["date"] == expected
    assert list(reading.issues) == ([] if problem is None else [
        FormIssue("专班建立情况", "B8", problem)
    ])  # fmt: skip


def test_retyped_measure_number_names_the_row() -> None:
    assert issues("monthly", overrides={"A22": "99"}) == [
        monthly_issue(
            "A22", "第22行措施编号被改为“99”，应为“19”（请勿改动预填内容或增删、移动表格行）"
        )
    ]
    # typing the same number again (Excel stores it as a number) is no change
    assert issues("monthly", overrides={"A22": 19, "A14": " 1 "}) == []


def test_inserted_row_between_measures_is_told_row_by_row() -> None:
    def insert(ws: Worksheet) -> None:
        ws.insert_rows(20)  # a blank row above measure 5
        ws["B20"] = "自行增加的事项"

    reading = read_form(edited(filled("monthly"), insert), metadata("monthly"))
    problems = {(i.cell, i.problem) for i in reading.issues}
    assert ("A20", "第20行应为措施“5”，措施编号却是空白（表格行可能被增删或移动）") in problems
    assert (
        "A21",
        "第21行措施编号被改为“5”，应为“6”（请勿改动预填内容或增删、移动表格行）",
    ) in problems
    assert (
        "A29",
        "表格行被增删：最后一项措施之后的第29行出现措施编号“34”，"
        "表格行可能被插入或移动，请使用原表填报，不要增删表格行",
    ) in problems
    assert not reading.valid


def test_deleted_row_is_told() -> None:
    reading = read_form(
        edited(filled("monthly"), lambda ws: ws.delete_rows(17)), metadata("monthly")
    )
    assert reading.issues[0] == monthly_issue(
        "A17", "第17行措施编号被改为“3”，应为“2”（请勿改动预填内容或增删、移动表格行）"
    )
    assert monthly_issue("D28", "措施34的必填项“进展状态”未填写") in reading.issues


def test_text_added_below_the_table_is_told() -> None:
    assert issues("monthly", overrides={"G29": "另：完成其他工作"}) == [
        monthly_issue(
            "G29",
            "表格行被增删：最后一项措施之后的第29行填有内容“另：完成其他工作”，"
            "请不要在表格中增加行，补充内容请写在相应措施的行内",
        )
    ]
    assert issues("ledger", overrides={"A20": "35", "D20": "新增事项"}) == [
        FormIssue(
            "任务清单台账",
            "A20",
            "表格行被增删：最后一项措施之后的第20行出现措施编号“35”，"
            "表格行可能被插入或移动，请使用原表填报，不要增删表格行",
        )
    ]


def test_continuation_row_with_a_measure_number_is_told() -> None:
    def unmerge(ws: Worksheet) -> None:
        ws.unmerge_cells("A14:A16")
        ws["A15"] = "1-2"

    reading = read_form(edited(filled("monthly"), unmerge), metadata("monthly"))
    assert list(reading.issues) == [
        monthly_issue("A15", "第15行应属措施“1”，却填有措施编号“1-2”（表格行可能被增删或移动）")
    ]


def test_measures_no_longer_the_units_are_told() -> None:
    current = [n for n in ENERGY if n != "19"] + ["7"]
    reading = read_form(filled("monthly"), metadata("monthly"), unit_measures=current)
    assert list(reading.issues) == [
        monthly_issue(
            "A22",
            "措施19已不属于本单位承担的措施（表格下发后政策已调整），请向专班办公室索取新表重新填报",
        ),
        monthly_issue(
            "",
            "措施7为表格下发后新增由本单位承担的措施，本表中没有该项，请向专班办公室索取新表重新填报",
        ),
    ]
    # the values are still read: the caller decides what to keep
    assert [m.number for m in reading.measures] == ENERGY
    assert read_form(filled("monthly"), metadata("monthly"), unit_measures=ENERGY).valid
    ledger = read_form(filled("ledger"), metadata("ledger"), unit_measures=ENERGY[1:])
    assert [(i.cell, i.problem[:6]) for i in ledger.issues] == [("A10", "措施1已不属")]
    # a roster has no measures to disagree about
    assert read_form(filled("roster"), metadata("roster"), unit_measures=["1"]).valid


@pytest.mark.parametrize(
    ("statuses", "combined"),
    [
        (("已完成", "已完成", "已完成"), "已完成"),
        (("已完成", "推进中", "已完成"), "推进中"),
        (("推进中", "滞后", "已完成"), "滞后"),
        (("滞后", "未启动", "推进中"), "未启动"),
        (("已完成", None, "已完成"), None),
        (("已完成", "完成了", "已完成"), None),
    ],
)
def test_measure_status_is_its_least_advanced_target(
    statuses: tuple[str | None, ...], combined: str | None
) -> None:
    reading = read("monthly", overrides=dict(zip(("D14", "D15", "D16"), statuses, strict=True)))
    assert reading.measures[0].status == combined
    assert [t["status"] for t in reading.measures[0].fields["targets"]] == [
        s if s in ("已完成", "推进中", "滞后", "未启动") else None for s in statuses
    ]


# ---------------------------------------------------------------------------------------------
# Whole-file problems


def test_renamed_sheet_is_a_whole_file_issue() -> None:
    def rename(ws: Worksheet) -> None:
        ws.title = "Sheet1"

    reading = read_form(edited(filled("monthly"), rename), metadata("monthly"))
    assert reading == FormReading(
        {},
        (),
        (
            FormIssue(
                "",
                "",
                "表格中找不到工作表“月度报告”（现有工作表：“Sheet1”）："
                "请使用通知所附的原表填报，不要更改工作表名称",
            ),
        ),
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "文件为空"),
        ("不是表格".encode(), "已损坏或不是 Excel"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "打开密码"),
    ],
)
def test_unreadable_files_raise(data: bytes, message: str) -> None:
    with pytest.raises(FormReadError, match=message):
        read_form(data, metadata("monthly"))


def test_broken_sheet_xml_raises_form_read_error() -> None:
    source = filled("monthly")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            body = old.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body[: len(body) // 2]
            new.writestr(info, body)
    with pytest.raises(FormReadError, match="无法读取"):
        read_form(out.getvalue(), metadata("monthly"))


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(FormReadError, match="解压后过大"):
        read_form(filled("monthly"), metadata("monthly"), max_unpacked=10_000)


# ---------------------------------------------------------------------------------------------
# Arbitrary input never raises


_VALUES = st.one_of(
    st.none(),
    st.text(max_size=60).map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s)),
    st.from_regex(r"[ 　]?[-+－]?[0-9０-９,，.．]{1,12}[%％万亿个]?[ 　]?", fullmatch=True),
    st.sampled_from(["已完成", "推进中", "滞后", "未启动", "是", "否", "=1+1", "#DIV/0!"]),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 1, 1)),
)


@cache
def _fuzz_cells(form: str) -> list[str]:
    from tasks.forms.read import input_cells

    layout = metadata(form).layout
    extra = ["A14", "A22", "A29", "G29"] if form == "monthly" else []
    return [cell for cell, _, _ in input_cells(layout)] + extra


@pytest.mark.filterwarnings("ignore:Cell .* is marked as a date:UserWarning")
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(form=st.sampled_from(["monthly", "ledger", "roster"]), data=st.data())
def test_arbitrary_cell_contents_never_raise(form: str, data: st.DataObject) -> None:
    cells = _fuzz_cells(form)
    chosen = data.draw(st.lists(st.sampled_from(cells), max_size=len(cells), unique=True))
    overrides: Mapping[str, Any] = {cell: data.draw(_VALUES, label=cell) for cell in chosen}
    reading = read_form(fill_form(blank(form), FORM_KEY, overrides=overrides), metadata(form))
    sheet = metadata(form).layout.sheet
    assert all(i.sheet == sheet and i.problem for i in reading.issues)
    json.dumps([reading.fields, [m.fields for m in reading.measures]], allow_nan=False)
    if not overrides:
        assert reading.valid
