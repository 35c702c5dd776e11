"""Task tables as a web page's HTML flattens them to text (issue 21, held-out notices).

Each excerpt is written for its test: one cell per line with blank lines between the cells,
cells ending in " |", "|" lines between the cells ("||" around empty cells), a person column
(责任领导 / 牵头领导) that holds no units, and ★ marking the lead unit in a 责任单位 cell.
"""

from __future__ import annotations

from datetime import date

from tasks.policy_import.annex import Column, find_task_tables, unit_cell
from tasks.policy_import.importer import import_policy
from tasks.policy_import.text import pipe_cells, text_paragraphs

BLANK_LINES = """附件1

2024年主要预期目标任务分解表

序号

2024年预期目标

责任单位

1

粮食产量稳定在12万吨以上

县农业农村局

2

城镇新增就业1500人

县人力社保局
"""


def test_cells_between_blank_lines_with_a_year_in_the_header() -> None:
    [table] = find_task_tables(text_paragraphs(BLANK_LINES))
    assert table.columns == [Column.number, Column.task, Column.responsible]
    assert table.title == "2024年主要预期目标任务分解表"
    assert [(r.number, r.task, r.units) for r in table.rows] == [
        ("1", "粮食产量稳定在12万吨以上", "责任单位：县农业农村局"),
        ("2", "城镇新增就业1500人", "责任单位：县人力社保局"),
    ]


TRAILING_PIPES = """园区重点工作清单
序号 |
重点工作 |
责任领导 |
责任单位 |
完成时限 |
1 |
推进标准化厂房建设,新建厂房 5万平方米。 |
李明 |
规划建设部、财政金融部 |
全年 |
2 |
完成园区污水管网改造。 |
王强 |
规划建设部 |
2025年10月 |
"""


def test_cells_ending_in_a_pipe_and_a_person_column() -> None:
    lines = text_paragraphs(TRAILING_PIPES)
    assert lines[:3] == ["园区重点工作清单", "序号", "重点工作"]
    [table] = find_task_tables(lines)
    # 责任领导 is its own column of persons: not joined with 责任单位, not read as units.
    assert table.headers == ["序号", "重点工作", "责任领导", "责任单位", "完成时限"]
    assert [(r.task, r.units, r.deadline, r.other) for r in table.rows] == [
        (
            "推进标准化厂房建设,新建厂房5万平方米。",
            "责任单位：规划建设部、财政金融部",
            "全年",
            ["责任领导：李明"],
        ),
        ("完成园区污水管网改造。", "责任单位：规划建设部", "2025年10月", ["责任领导：王强"]),
    ]


def test_a_single_line_ending_in_a_pipe_is_text() -> None:
    # Only a run of such lines is a table's cells; one line keeps what it says.
    assert pipe_cells(["见附表 |", "正文。"]) == ["见附表 |", "正文。"]
    assert pipe_cells(["|", "a", "||||", "b"]) == ["a", "b"]


PIPE_LINES = """县政府2024年重点工作任务分解
县各部门:
现将分解方案印发给你们,请认真贯彻落实。
某某县人民政府
2024年2月1日
县政府2024年重点工作任务分解落实方案
(共3项)
序号
|
项目
|
重点工作目标任务
|
牵头领导
|
责任单位
|
一、主要预期目标
|
||||
1
|
预期目标
|
1.地区生产总值增长6%左右。
|
张 三
|
★县发改委、统计局
|
2.一般公共预算收入增长5%。
|
|
☆县财政局、税务局、县人民银行
|
||
3.城乡居民收入稳步增长。
|
李 四
王 五
|
★县人社局
"""


def test_pipe_lines_between_cells_with_lead_stars_and_leader_persons() -> None:
    [table] = find_task_tables(text_paragraphs(PIPE_LINES))
    assert table.title == "县政府2024年重点工作任务分解落实方案"
    assert [(r.number, r.task, r.category, r.units, r.other) for r in table.rows] == [
        (
            "1",
            "地区生产总值增长6%左右。",
            "主要预期目标",
            "牵头单位：县发改委；责任单位：统计局",
            ["牵头领导：张三"],
        ),
        (
            "2",
            "一般公共预算收入增长5%。",
            "主要预期目标",
            "牵头单位：县财政局；责任单位：税务局、县人民银行",
            [],
        ),
        (
            "3",
            "城乡居民收入稳步增长。",
            "主要预期目标",
            "牵头单位：县人社局",
            ["牵头领导：李四、王五"],
        ),
    ]


def test_the_starred_unit_leads_in_the_imported_measures() -> None:
    result = import_policy(
        text_paragraphs(PIPE_LINES), code="t-2024", directory=None, units_directory="none"
    )
    # The line before the body is a header cell (责任单位): the title is the table's.
    assert result.policy["document"]["title"] == "县政府2024年重点工作任务分解落实方案"
    measures = result.policy["measures"]
    assert [m["text"] for m in measures] == [
        "地区生产总值增长6%左右。",
        "一般公共预算收入增长5%。",
        "城乡居民收入稳步增长。",
    ]
    assert measures[0]["units"] == [
        {"unit": "县发改委", "role": "lead"},
        {"unit": "统计局", "role": "responsible"},
    ]
    # A person's name is no unit and stays out of the text; no cell border is left anywhere.
    assert measures[0]["note"] == "牵头领导：张三"
    assert not any("张" in str(m["units"]) or "|" in str(m) for m in measures)


def test_unit_cell_labels() -> None:
    assert unit_cell(Column.responsible, "县水利局、县林业局") == "责任单位：县水利局、县林业局"
    assert unit_cell(Column.responsible, "县水利局、★县林业局") == (
        "牵头单位：县林业局；责任单位：县水利局"
    )
    assert unit_cell(Column.support, "☆县水利局、县林业局") == (
        "牵头单位：县水利局；配合单位：县林业局"
    )


def test_no_issue_date_and_a_year_in_the_title() -> None:
    lines = [line for line in text_paragraphs(BLANK_LINES) if line != "附件1"]
    result = import_policy(
        ["关于印发2024年主要预期目标任务分解表的通知", *lines],
        code="t-2024",
        directory=None,
        units_directory="none",
        today=date(2026, 12, 6),
    )
    active = result.policy["active"]
    assert (active["start"], active["end"]) == (date(2024, 1, 1), date(2024, 12, 31))
    line = next(r for r in result.review if r.startswith("有效期"))
    assert "2024-01-01～2024-12-31" in line and "未识别印发日期" in line


ONE_LINE_ROWS = """县2024年河湖治理任务清单
| 序号 | 重点任务 | 责任单位 | 完成时限 |
|---|---|---|---|
| 1 | 完成县城段河道清淤8公里。 | 县水利局 | 2024年6月 |
| 2 | 建成农村污水处理设施20处。 | 县生态环境局、★县住建局 |  |
"""


def test_rows_on_one_line_between_pipes() -> None:
    [table] = find_task_tables(text_paragraphs(ONE_LINE_ROWS))
    assert [(r.task, r.units, r.deadline) for r in table.rows] == [
        ("完成县城段河道清淤8公里。", "责任单位：县水利局", "2024年6月"),
        ("建成农村污水处理设施20处。", "牵头单位：县住建局；责任单位：县生态环境局", "2024年6月"),
    ]
    # An empty cell is read as one merged with the row above (a page drops rowspan cells the
    # same way), and the review list says so.
    assert table.rows[1].followed == ["完成时限"]


def test_a_garbled_issue_date_is_quoted() -> None:
    text = "关于印发2022年目标任务的通知\n\n县人民政府办公室\n\n2022121日\n" + BLANK_LINES
    result = import_policy(
        text_paragraphs(text),
        code="t",
        directory=None,
        units_directory="none",
        today=date(2026, 12, 6),
    )
    assert "未识别印发日期（原文“2022121日”不是完整日期），请补填" in result.review


def test_a_page_of_only_a_table_takes_its_heading_year() -> None:
    text = TRAILING_PIPES.replace("园区重点工作清单", "2025年园区重点工作清单")
    result = import_policy(
        text_paragraphs(text),
        code="t",
        directory=None,
        units_directory="none",
        today=date(2026, 12, 6),
    )
    active = result.policy["active"]
    assert (active["start"], active["end"]) == (date(2025, 1, 1), date(2025, 12, 31))
    # Without the year the caller's today stands in, and the review line says so.
    result = import_policy(
        text_paragraphs(TRAILING_PIPES),
        code="t",
        directory=None,
        units_directory="none",
        today=date(2026, 12, 6),
    )
    assert result.policy["active"]["start"] == date(2026, 12, 6)
    assert (
        "有效期推定为2026-12-06（原文未识别印发日期，按导入当日）至当年年底，请确认"
        in result.review
    )
