"""Notice structures beyond the seeds' (issue 21 §2): measure levels, annex task tables,
traditional characters. Each notation on a short excerpt written for the test."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.policy_import.annex import find_task_tables
from tasks.policy_import.importer import import_policy
from tasks.policy_import.sections import body_range, looks_like_units_text, parse_body
from tasks.policy_import.sections import carries_units as carries_units_in
from tasks.policy_import.text import read_document, text_paragraphs, to_simplified
from tasks.policy_import.units import UnitNames

NO_DIRECTORY = UnitNames()


def carries_units(text: str) -> bool:
    return carries_units_in(text, NO_DIRECTORY)


def front(body: str, title: str = "临海区测试实施方案") -> str:
    """A notice's front matter around ``body``, as the importer expects it."""
    return (
        "临海区人民政府办公室文件\n\n临政办发〔2024〕7号\n\n"
        f"临海区人民政府办公室关于印发{title}的通知\n\n各街道办事处，区政府各部门：\n\n"
        "现将《方案》印发给你们，请认真贯彻落实。\n\n临海区人民政府办公室\n\n2024年3月5日\n\n"
        f"{title}\n\n{body}"
    )


def draft(text: str) -> dict[str, Any]:
    """The draft policy (no obligations in these excerpts: it need not load)."""
    result = import_policy(
        text_paragraphs(front(text)), code="test-2024", directory=None, units_directory="linhai"
    )
    return result.policy


SUBPART_MEASURES = """一、总体要求

到2025年，基本建成美丽海湾。

二、重点任务

（一）加强入海排污口整治。完成排查。（区生态环境局、区水务局）

（二）防治农业废弃物入海。推进回收。(区农业农村委、相关沿海街镇)

（三）开展岸滩清理。

1. 每月清理一次。

2. 汛后加密。

（区绿化市容局、各岸段管理单位）

三、保障措施

（一）加强组织领导。

（二）强化资金保障。
"""


def test_subparts_with_units_are_the_measures_when_there_are_no_numbered_items() -> None:
    body = parse_body(text_paragraphs(SUBPART_MEASURES), carries_units)
    assert [(m.number, m.section, m.heading) for m in body.measures] == [
        ("1", "二", "（一）"),
        ("2", "二", "（二）"),
        ("3", "二", "（三）"),
    ]
    # the 1. items of a measure-level sub-part are its text, nothing lost
    assert body.measures[2].body == (
        "开展岸滩清理。1.每月清理一次。2.汛后加密。（区绿化市容局、各岸段管理单位）"
    )
    # sections without units stay sections
    assert [s.id for s in body.sections] == ["一", "二", "三", "三(一)", "三(二)"]
    assert not body.renumbered


def test_subpart_measures_in_the_draft_have_their_units() -> None:
    policy = draft(SUBPART_MEASURES)
    assert [(m["number"], m["section"], m["title"]) for m in policy["measures"]] == [
        ("1", "二", "加强入海排污口整治"),
        ("2", "二", "防治农业废弃物入海"),
        ("3", "二", "开展岸滩清理"),
    ]
    assert policy["measures"][0]["units"] == [
        {"unit": "区生态环境局", "role": "responsible"},
        {"unit": "区水务局", "role": "responsible"},
    ]
    assert policy["measures"][0]["text"] == "加强入海排污口整治。完成排查。"
    assert [s["id"] for s in policy["sections"]] == ["一", "二", "三", "三(一)", "三(二)"]
    assert (
        "第二部分的（一）（二）…各项载有责任单位，已作为措施，按全文顺序编号，请核对"
        in (policy["review"])
    )


def test_without_the_predicate_subparts_stay_sections() -> None:
    body = parse_body(text_paragraphs(SUBPART_MEASURES))
    assert [m.number for m in body.measures] == ["1", "2"]  # the 1. items under （三）


THROUGH_NUMBERED = """一、重点任务

（一）优化营商环境

1. 压减审批时限。（区政务服务办负责）

2. 推行告知承诺。（区司法局负责）

3. 规范涉企检查。（区市场监管局负责）

（二）扩大有效投资

4. 加快项目建设。（区发改委牵头，各街道配合）

5. 盘活存量资产。（区国资委负责）

二、保障措施

（一）压实责任。各单位要明确专人。
"""


def test_numbered_items_running_through_subparts_keep_their_numbers_and_nest() -> None:
    body = parse_body(text_paragraphs(THROUGH_NUMBERED), carries_units)
    assert [(m.number, m.section) for m in body.measures] == [
        ("1", "一(一)"),
        ("2", "一(一)"),
        ("3", "一(一)"),
        ("4", "一(二)"),
        ("5", "一(二)"),
    ]
    assert [(s.id, s.parent) for s in body.sections] == [
        ("一", None),
        ("一(一)", "一"),
        ("一(二)", "一"),
        ("二", None),
        ("二(一)", "二"),
    ]
    assert not body.renumbered


def test_subpart_measures_in_two_parts_are_numbered_on() -> None:
    text = (
        "一、产业发展\n\n（一）培育龙头。（区经委负责）\n\n（二）壮大集群。（区科委负责）\n\n"
        "二、城市更新\n\n（一）改造旧区。（区住建委负责）"
    )
    body = parse_body(text_paragraphs(text), carries_units)
    assert [(m.number, m.section, m.heading) for m in body.measures] == [
        ("1", "一", "（一）"),
        ("2", "一", "（二）"),
        ("3", "二", "（一）"),
    ]
    assert body.renumbered  # the office reads （一） of part 二 as measure 3


@pytest.mark.parametrize(
    ("content", "units"),
    [
        ("区绿化市容局、区滨江委、区农业农村委、相关沿海街镇、各岸段使用或管理单位", True),
        ("区水务局（区海洋局）、相关沿海街镇", True),
        ("牵头单位：县发改局；配合单位：各乡镇", True),
        ("区发改委牵头，各街道配合", True),
        ("区经委、区科委按职责分工负责", True),
        ("市教育局，市委农办，各县<市、区>人民政府，排名第一位为牵头单位，下同", True),
        ("市发展改革委、市统计局等负责,列第一位者为牵头单位,下同", True),
        ("市发展改革委牵头,市委组织部、国家统计局济宁调查队参加", True),
        ("市政府办公室牵头,市级各有关部门及各县市区政府按职责分工负责", True),
        ("2023—2025年", False),
        ("以下简称“三年行动”", False),
        ("含本数", False),
    ],
)
def test_unit_list_without_a_directory(content: str, units: bool) -> None:
    assert looks_like_units_text(content) is units


# An annex task table as a PDF converter flattens it: one cell per line. Row 2 holds two lines
# of task; row 3's 牵头单位 and 完成时限 span rows 2–3, so they are printed once, in row 2; row 3
# has its own 配合单位; row 4 has a category heading row before it.
TABLE_TXT = """一、总体要求

围绕建设目标，制定重点任务清单（见附件）。

二、保障措施

1. 加强组织领导。

2. 强化督促检查。

附件

临海区优化营商环境重点任务清单

序号

重点任务

牵头单位

配合单位

完成时限

1

压减企业开办时间至1个工作日以内。

区市场监管局

区公安分局、区税务局

2024年6月底前

2

推行“一业一证”改革，

年内覆盖20个行业。

区政务服务办

各街道

2024年12月

3

规范涉企行政检查。

区司法局

一、要素保障

4

盘活闲置低效用地。

区规划资源局

区发改委牵头，各街道配合

长期坚持
"""


def test_annex_task_table_in_text_rows_become_measures() -> None:
    policy = draft(TABLE_TXT)
    measures = {m["number"]: m for m in policy["measures"]}
    # the body's 1. items carry no units: with a task table they are section text
    assert list(measures) == ["1", "2", "3", "4"]
    assert [(m["section"], m["text"]) for m in measures.values()] == [
        ("附件", "压减企业开办时间至1个工作日以内。"),
        ("附件", "推行“一业一证”改革，年内覆盖20个行业。"),
        ("附件", "规范涉企行政检查。"),
        ("附件(一)", "盘活闲置低效用地。"),
    ]
    assert measures["1"]["units"] == [
        {"unit": "区市场监管局", "role": "lead"},
        {"unit": "区公安分局", "role": "support"},
        {"unit": "区税务局", "role": "support"},
    ]
    # 牵头单位 and 完成时限 of row 3 follow the row above (merged cells printed once)
    assert measures["3"]["units"] == [
        {"unit": "区政务服务办", "role": "lead"},
        {"unit": "区司法局", "role": "support"},
    ]
    assert (measures["1"]["deadline"], measures["1"]["deadline_phrase"]) == (
        date(2024, 6, 30),
        "2024年6月底前",
    )
    assert (measures["2"]["deadline"], measures["2"]["deadline_phrase"]) == (
        date(2024, 12, 31),
        "2024年12月",
    )
    assert measures["3"]["deadline"] == date(2024, 12, 31)
    assert "deadline" not in measures["4"]
    assert measures["4"]["note"] == "完成时限：长期坚持"
    assert [u["role"] for u in measures["4"]["units"]] == ["lead", "lead", "support"]
    sections = {s["id"]: s for s in policy["sections"]}
    assert sections["附件"]["title"] == "临海区优化营商环境重点任务清单"
    assert (sections["附件(一)"]["title"], sections["附件(一)"]["parent"]) == ("要素保障", "附件")
    assert "加强组织领导" in sections["二"]["note"]
    assert (
        "第3条（临海区优化营商环境重点任务清单序号3）：牵头单位、完成时限原文此行空缺，"
        "按上一行（合并单元格）填写，请核对"
    ) in policy["review"]


def _docx_notice(path: Path) -> None:
    """A notice in Word: body paragraphs, then the annex table with merged cells."""
    document = docx.Document()
    for line in front(
        "一、总体要求\n\n到年底，营商环境明显改善。\n\n附件\n\n临海区重点任务清单"
    ).split("\n\n"):
        document.add_paragraph(line)
    table = document.add_table(rows=6, cols=5)
    rows = [
        ["序号", "工作任务", "牵头单位", "配合单位", "完成时限"],
        ["1", "压减企业开办时间。", "区市场监管局", "区税务局", "2024年6月底前"],
        ["2", "推行“一业一证”改革。", "区政务服务办", "各街道", "2024年底前"],
        ["3", "规范涉企行政检查。", "", "区司法局", ""],
        ["一、要素保障", "", "", "", ""],
        ["4", "盘活闲置低效用地。", "区规划资源局", "", "长期坚持"],
    ]
    for cells, row in zip(rows, table.rows, strict=True):
        for text, cell in zip(cells, row.cells, strict=True):
            cell.text = text
    table.cell(2, 2).merge(table.cell(3, 2))  # 牵头单位 spans rows 2–3
    table.cell(2, 4).merge(table.cell(3, 4))  # and so does 完成时限
    table.cell(4, 0).merge(table.cell(4, 4))  # a category row across the table
    table.cell(2, 1).paragraphs[0].add_run("年内覆盖20个行业。")
    table.cell(1, 1).add_paragraph("实现全程网办。")  # a cell of two paragraphs
    document.add_paragraph("抄送：区委办公室。")
    document.save(str(path))


def test_annex_task_table_in_a_word_file(tmp_path: Path) -> None:
    path = tmp_path / "notice.docx"
    _docx_notice(path)
    paragraphs = read_document(path)
    # the table sits where it is in the document, between the annex title and 抄送
    at = paragraphs.index("临海区重点任务清单")
    header = ["序号", "工作任务", "牵头单位", "配合单位", "完成时限"]
    assert paragraphs[at + 1 : at + 7] == [*header, "1"]
    assert paragraphs[-1] == "抄送：区委办公室。"
    result = import_policy(paragraphs, code="test-2024", directory=None, units_directory="linhai")
    measures = {m["number"]: m for m in result.policy["measures"]}
    assert [(n, m["section"], m["text"]) for n, m in measures.items()] == [
        ("1", "附件", "压减企业开办时间。实现全程网办。"),
        ("2", "附件", "推行“一业一证”改革。年内覆盖20个行业。"),
        ("3", "附件", "规范涉企行政检查。"),
        ("4", "附件(一)", "盘活闲置低效用地。"),
    ]
    assert measures["3"]["units"] == [
        {"unit": "区政务服务办", "role": "lead"},
        {"unit": "区司法局", "role": "support"},
    ]
    assert measures["3"]["deadline"] == date(2024, 12, 31)
    assert measures["4"]["units"] == [{"unit": "区规划资源局", "role": "lead"}]
    assert measures["4"]["note"] == "完成时限：长期坚持"


TRADITIONAL = """臨海縣人民政府辦公室文件

臨政辦發〔2024〕9號

臨海縣人民政府辦公室關於印發臨海縣數字經濟發展實施方案的通知

各鄉鎮人民政府，縣直各單位：

現將《臨海縣數字經濟發展實施方案》印發給你們，請認真貫徹落實。

臨海縣人民政府辦公室

2024年3月5日

臨海縣數字經濟發展實施方案

一、重點任務

1. 推進數字基礎設施建設。2024年底前建成5G基站300個。（縣工信局牽頭，縣發改局、各鄉鎮人民政府配合）

2. 發展數字產業。〔責任單位：縣商務局、縣財政局〕

二、保障措施

3. 強化調度。各責任單位於每月5日前將工作進展報送縣工信局。（縣工信局負責）
"""


def test_traditional_script_is_matched_in_simplified_and_kept_as_printed() -> None:
    result = import_policy(
        text_paragraphs(TRADITIONAL), code="test-2024", directory=None, units_directory="linhai"
    )
    policy = result.policy
    measures = {m["number"]: m for m in policy["measures"]}
    assert list(measures) == ["1", "2", "3"]
    # units are matched (牽頭 → lead, 責任單位 → responsible) and named in simplified
    assert measures["1"]["units"] == [
        {"unit": "县工信局", "role": "lead"},
        {"unit": "县发改局", "role": "support"},
        {"unit": "各乡镇人民政府", "role": "support"},
    ]
    assert [u["unit"] for u in measures["2"]["units"]] == ["县商务局", "县财政局"]
    # the text and titles stay as printed
    assert measures["1"]["text"] == "推進數字基礎設施建設。2024年底前建成5G基站300個。"
    assert measures["1"]["title"] == "推進數字基礎設施建設"
    assert [t["value"] for t in measures["1"]["targets"]] == [300]
    assert measures["2"]["text"] == "發展數字產業。"
    assert [s["title"] for s in policy["sections"]] == ["重點任務", "保障措施"]
    assert policy["document"]["title"] == (
        "臨海縣人民政府辦公室關於印發臨海縣數字經濟發展實施方案的通知"
    )
    assert (policy["document"]["issuer"], policy["document"]["number"]) == (
        "臨海縣人民政府辦公室",
        "臨政辦發〔2024〕9號",
    )
    assert policy["county"] == "临海县"  # matched against the units directory
    [obligation] = policy["obligations"]
    assert (obligation["frequency"], obligation["due"]) == ("monthly", {"day_of_month": 5})
    assert any("繁体" in line for line in result.review)


def test_simplified_notice_is_not_converted() -> None:
    # 著力 would become 着力 under conversion: a simplified notice must come back unchanged
    paragraphs = text_paragraphs(front("一、重点任务\n\n1. 著力推进乾坤湾开发。（县文旅局负责）"))
    assert to_simplified(paragraphs) == (paragraphs, None)


# A PDF's text layer: a row per line, cells separated by spaces, a word broken by a space
# (保 护), two spaces where a merged 类别 cell is empty, a row's text wrapped onto the next line.
SPACED_TABLE = """附件

平川市河长制主要任务分解表

序号 类别 主要任务 细化措施 牵头单位 参与单位

1 加强水资源保 护 严守用水总量红线 实施总量和强度双控行动。 市水利局 市发展改革委、市农业局等

2  严守用水效率红线 落实用水效率评估体系，

纳入政绩考核。 市水利局 市工信局
"""


def test_task_table_with_cells_separated_by_spaces() -> None:
    policy = draft(f"一、总体要求\n\n全面推行河长制。\n\n{SPACED_TABLE}")
    measures = policy["measures"]
    assert [(m["section"], m["title"], m["text"]) for m in measures] == [
        ("附件(一)", "严守用水总量红线", "严守用水总量红线。实施总量和强度双控行动。"),
        ("附件(一)", "严守用水效率红线", "严守用水效率红线。落实用水效率评估体系，纳入政绩考核。"),
    ]
    assert [(u["unit"], u["role"]) for u in measures[1]["units"]] == [
        ("市水利局", "lead"),
        ("市工信局", "support"),
    ]
    assert policy["sections"][-1] == {"id": "附件(一)", "title": "加强水资源保护", "parent": "附件"}


SIGNED_THEN_PLAN = """一、各责任单位要高度重视，对照目标任务制订工作方案。

二、各责任单位每月25日前将进展情况报送区政府办公室。

临海区人民政府办公室

2024年1月3日

2024年区政府工作报告目标任务责任分解方案

一、主要预期目标

（一）地区生产总值增长7%以上

责任单位:区发展和改革局

（二）规上工业增加值增长12%以上

责任单位:区科技和经信局
"""


def test_plan_after_the_signature_is_the_body_and_a_label_line_carries_units() -> None:
    paragraphs = text_paragraphs(SIGNED_THEN_PLAN)
    start, end = body_range(paragraphs)
    assert (paragraphs[start], end) == ("一、主要预期目标", len(paragraphs))
    body = parse_body(paragraphs[start:end], carries_units)
    assert [(m.number, m.section, m.body) for m in body.measures] == [
        ("1", "一", "地区生产总值增长7%以上责任单位:区发展和改革局"),
        ("2", "一", "规上工业增加值增长12%以上责任单位:区科技和经信局"),
    ]


def test_units_of_a_part_heading_go_to_its_subpart_measures() -> None:
    text = (
        "一、强化科技创新(区科技局牵头)\n\n推进创新链产业链深度融合。\n\n"
        "（一）加强科创平台建设。鼓励科研机构做好成果转化。\n\n"
        "（二）培育科技企业。支持企业加大研发投入。（区经信局负责）\n\n"
        "二、保障措施\n\n（一）加强组织领导。"
    )
    policy = draft(text)
    assert [(m["number"], m["text"], m["units"]) for m in policy["measures"]] == [
        (
            "1",
            "加强科创平台建设。鼓励科研机构做好成果转化。",
            [{"unit": "区科技局", "role": "lead"}],
        ),
        (
            "2",
            "培育科技企业。支持企业加大研发投入。",
            [{"unit": "区经信局", "role": "responsible"}],
        ),
    ]
    assert [s["id"] for s in policy["sections"]] == ["一", "二", "二(一)"]


def test_reporting_duty_in_the_notice_before_the_signed_plan_is_found() -> None:
    notice = "临海区人民政府办公室关于印发目标任务责任分解方案的通知\n\n各街道：\n\n"
    result = import_policy(
        text_paragraphs(notice + SIGNED_THEN_PLAN),
        code="test-2024",
        directory=None,
        units_directory="linhai",
    )
    assert [m["number"] for m in result.policy["measures"]] == ["1", "2"]
    [obligation] = result.policy["obligations"]
    assert (obligation["frequency"], obligation["due"]) == ("monthly", {"day_of_month": 25})


def test_plan_in_an_annex_after_the_signature_and_a_lead_named_by_the_part_heading() -> None:
    text = (
        "临海县人民政府办公室关于印发任务分解的通知\n\n各乡镇人民政府：\n\n"
        "一、责任到人。各牵头单位要细化措施。\n\n二、节点管控。各单位要紧盯进度。\n\n"
        "附件：2024年县政府工作报告任务清单\n\n临海县人民政府办公室\n\n2024年5月18日\n\n"
        "附件1\n\n2024年县政府工作报告任务清单\n\n"
        "一、县示范区管委会牵头工作（2项）\n\n1. 建设循环水养殖基地。\n\n"
        "2. 打造食用菌生产基地。\n\n"
        "二、朱伟县长牵头重点工作\n\n3. 财政收入与经济增长基本同步。\n\n责任单位：县财政局。"
    )
    paragraphs = text_paragraphs(text)
    start, _ = body_range(paragraphs)
    assert paragraphs[start] == "一、县示范区管委会牵头工作（2项）"
    body = parse_body(paragraphs[start:], carries_units)
    assert [m.body for m in body.measures] == [
        "建设循环水养殖基地。",
        "打造食用菌生产基地。",
        "财政收入与经济增长基本同步。责任单位：县财政局。",
    ]
    # The part heading's lead is each of its measures' lead, with a line for the office; a
    # leader (朱伟县长) is no unit: measure 3 keeps its own.
    result = import_policy(paragraphs, code="test-2024", directory=None, units_directory="linhai")
    units = {m["number"]: m["units"] for m in result.policy["measures"]}
    assert units == {
        "1": [{"unit": "县示范区管委会", "role": "lead"}],
        "2": [{"unit": "县示范区管委会", "role": "lead"}],
        "3": [{"unit": "县财政局", "role": "responsible"}],
    }
    assert "第1条：原文未单列责任单位，按所在章节标题中的单位列出，请核对" in result.review


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        # the words the importer matches on, and the suffixes of unit names
        ("責任單位：縣發改局、區財政局", "责任单位：县发改局、区财政局"),
        ("牽頭單位；配合單位；協辦單位", "牵头单位；配合单位；协办单位"),
        ("（縣工信局牽頭，各鄉鎮人民政府配合）", "（县工信局牵头，各乡镇人民政府配合）"),
        (
            "街道辦事處、管委會、委員會、服務中心、集團公司",
            "街道办事处、管委会、委员会、服务中心、集团公司",
        ),
        ("每月5日前將上月進展報送縣政府辦公室", "每月5日前将上月进展报送县政府办公室"),
        ("每季度最後一個月、每半年、每週一", "每季度最后一个月、每半年、每周一"),
        ("2024年底前完成；長期堅持", "2024年底前完成；长期坚持"),
        ("附件：重點任務清單 序號 完成時限", "附件：重点任务清单 序号 完成时限"),
    ],
)
def test_traditional_keywords_convert(traditional: str, simplified: str) -> None:
    paragraphs = ["臨海縣人民政府辦公室關於印發實施方案的通知", traditional]
    converted, script = to_simplified(paragraphs)
    assert converted[1] == simplified
    assert script is not None and script.original_of(simplified) == traditional


def test_last_table_row_ends_where_its_cells_stop_fitting() -> None:
    lines = [
        *["序号", "重点任务", "牵头单位", "配合单位", "完成时限"],
        *["1", "推进老旧小区改造，", "年内完成10个。", "区住建委", "区财政局", "2024年底前"],
        "临海区人民政府办公室秘书科",
        "联系人：张明，电话：0571-12345678。",
    ]
    [table] = find_task_tables(lines)
    [row] = table.rows
    assert (row.task, row.units, row.deadline) == (
        "推进老旧小区改造，年内完成10个。",
        "牵头单位：区住建委；配合单位：区财政局",
        "2024年底前",
    )
    assert table.end == 11  # the office's line and the contact stay the document's text


_TASK_CHARS = st.sampled_from(list("推进建设完善服务体系加强工作落实政策发展企业项目，、“”"))
_TASK = st.lists(_TASK_CHARS, min_size=4, max_size=30).map(
    lambda c: "".join(c).strip("，、") + "。"
)
_POOL = ["县发改局", "县财政局", "县住建局", "各乡镇人民政府", "县中小企业发展促进中心", "县税务局"]
_UNIT_LIST = st.lists(st.sampled_from(_POOL), min_size=1, max_size=3, unique=True).map("、".join)
_DUE = st.sampled_from(["2024年6月底前", "2024年底前", "2025年3月", "长期坚持", "每季度"])


@st.composite
def _flattened_table(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """A task table flattened one cell per line, with cells of several lines and rows whose
    牵头单位 or 完成时限 is merged with the row above (printed once)."""
    lines = ["序号", "重点任务", "牵头单位", "配合单位", "完成时限"]
    rows: list[tuple[str, str, str, str]] = []
    for number in range(1, draw(st.integers(1, 6)) + 1):
        task = "".join(draw(st.lists(_TASK, min_size=1, max_size=2)))
        lead, support, due = draw(_UNIT_LIST), draw(_UNIT_LIST), draw(_DUE)
        merged = number > 1 and draw(st.booleans())
        if merged:
            lead = rows[-1][1]
        due_merged = number > 1 and draw(st.booleans())
        if due_merged:
            due = rows[-1][3]
        # a cell of several lines: the task cut after its sentences
        task_lines = [s + "。" for s in task.split("。") if s]
        lines += [str(number), *task_lines, *([] if merged else [lead]), support]
        lines += [] if due_merged else [due]
        rows.append((task, lead, support, due))
    return lines, rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_flattened_table())
def test_flattened_tables_give_back_every_cell(
    table: tuple[list[str], list[tuple[str, str, str, str]]],
) -> None:
    lines, rows = table
    [found] = find_task_tables(lines)
    assert found.end == len(lines)
    assert [(r.task, r.units, r.deadline) for r in found.rows] == [
        (task, f"牵头单位：{lead}；配合单位：{support}", due) for task, lead, support, due in rows
    ]


def test_header_cells_broken_over_two_lines() -> None:
    lines = ["序号", "重点", "任务", "牵头", "单位", "完成", "时限", "备注"]
    lines += ["1", "建成污水管网10公里。", "县住建局", "2024年底前", "新建"]
    [table] = find_task_tables(lines)
    assert table.headers == ["序号", "重点任务", "牵头单位", "完成时限", "备注"]
    [row] = table.rows
    assert (row.task, row.units, row.deadline, row.other) == (
        "建成污水管网10公里。",
        "牵头单位：县住建局",
        "2024年底前",
        ["备注：新建"],
    )


# A table with no 序号 column: the task cells carry their own numbering; a 重点工作 cell (一、)
# and a 主要任务 cell (（一）) are printed once for the rows under them; the first row has no
# 工作措施 cell, so its （一） cell is its task.
UNNUMBERED_TABLE = """附件

若干政策措施责任分工

重点工作

主要

任务

工作措施

责任单位

备注

一、加大财政金融支持力度

（一）加强对重点企业财税支持

县税务局、县财政局

2024年12月

2.对纳入支持的企业给予设备购置补贴。

县经信局、各乡镇人民政府

3.全部由政府兜底采购收储。

县财政局

二、稳定就业

1.落实援企稳岗政策。

县人社局
"""


def test_task_table_without_a_number_column() -> None:
    lines = text_paragraphs(UNNUMBERED_TABLE)
    [table] = find_task_tables(lines)
    assert table.headers == ["重点工作", "主要任务", "工作措施", "责任单位", "备注"]
    assert [(r.category, r.task, r.units, r.other) for r in table.rows] == [
        (
            "加大财政金融支持力度",
            "加强对重点企业财税支持",
            "责任单位：县税务局、县财政局",
            ["备注：2024年12月"],
        ),
        (
            "加大财政金融支持力度",
            "对纳入支持的企业给予设备购置补贴。",
            "责任单位：县经信局、各乡镇人民政府",
            [],
        ),
        ("加大财政金融支持力度", "全部由政府兜底采购收储。", "责任单位：县财政局", []),
        ("稳定就业", "落实援企稳岗政策。", "责任单位：县人社局", []),
    ]
    assert table.end == len(lines)
