"""Unit notations of notices from other counties (issue 21 §2), read without a units directory.

Each excerpt is written for its test. Without a directory the importer must decide from the text
alone (unit-name suffixes, separators) whether a bracket is a unit list.
"""

from __future__ import annotations

import pytest

from config.schema import Role
from tasks.policy_import.units import UnitNames, find_bracket, parse_units

R, L, S = Role.responsible, Role.lead, Role.support
NONE = UnitNames()  # no directory: a new county


def units_and_text(text: str) -> tuple[list[tuple[str, Role]], str]:
    """The units found and the measure text left once their bracket is cut."""
    bracket = find_bracket(text, NONE)
    assert bracket is not None, text
    return parse_units(bracket.content), text[: bracket.start] + text[bracket.end :]


def test_bare_list_at_the_end_of_a_measure() -> None:
    text = (
        "加强沿海农业面源污染治理，防治农业废弃物入海。"
        "(区绿化市容局、区滨江委、区农业农村委、相关沿海街镇、各岸段使用或管理单位)"
    )
    units, rest = units_and_text(text)
    assert units == [
        ("区绿化市容局", R),
        ("区滨江委", R),
        ("区农业农村委", R),
        ("相关沿海街镇", R),
        ("各岸段使用或管理单位", R),
    ]
    assert rest == "加强沿海农业面源污染治理，防治农业废弃物入海。"


@pytest.mark.parametrize(
    "text",
    [
        # mixed pair ( … ）, a nested alias, a full stop after the list
        "做好入海排污口排查。(区水务局（区海洋局）、相关沿海街镇）",
        "做好入海排污口排查。（区水务局（区海洋局）、相关沿海街镇)。",
        "做好入海排污口排查。〔区水务局（区海洋局）、相关沿海街镇〕",
        # the list on its own line after the measure: the section parser joins the lines
        "做好入海排污口排查。" + "【区水务局(区海洋局)、相关沿海街镇】",
    ],
)
def test_nested_brackets_are_aliases_not_the_end_of_the_list(text: str) -> None:
    units, rest = units_and_text(text)
    assert [name for name, _ in units][1] == "相关沿海街镇"
    assert units[0][0].startswith("区水务局") and "区海洋局" in units[0][0]
    assert rest == "做好入海排污口排查。"


def test_a_list_glued_to_the_sentence_keeps_its_full_stop() -> None:
    units, rest = units_and_text("推进岸线整治（区水务局、各街道）。")
    assert units == [("区水务局", R), ("各街道", R)]
    assert rest == "推进岸线整治。"


def test_label_line_after_the_body_with_groups_separated_by_comma() -> None:
    units, rest = units_and_text("完善应急预案。责任单位：区应急局、区公安分局，各街道、各区属集团")
    assert units == [("区应急局", R), ("区公安分局", R), ("各街道", R), ("各区属集团", R)]
    assert rest == "完善应急预案。"


@pytest.mark.parametrize(
    "text",
    [
        "完善应急预案。牵头单位：区应急局；配合单位：区财政局、区公安分局。",
        "完善应急预案。牵头单位:区应急局;配合单位:区财政局,区公安分局",
        "完善应急预案。（牵头单位:区应急局;配合单位:区财政局、区公安分局）",
        "完善应急预案（区应急局牵头，区财政局、区公安分局配合）",
        "完善应急预案。(区应急局牵头,区财政局、区公安分局配合)",
    ],
)
def test_lead_and_support(text: str) -> None:
    units, rest = units_and_text(text)
    assert units == [("区应急局", L), ("区财政局", S), ("区公安分局", S)]
    assert rest.rstrip("。") == "完善应急预案"


def test_led_by_in_running_text_keeps_the_text() -> None:
    text = "建立联席会议制度，由县发改局牵头，县财政局、县人行配合落实，每季度召开一次。"
    units, rest = units_and_text(text)
    assert units == [("县发改局", L), ("县财政局", S), ("县人行", S)]
    assert rest == text


def test_by_duty_in_brackets() -> None:
    units, rest = units_and_text("加强执法检查。（县市场监管局、县公安局按职责分工负责）")
    assert units == [("县市场监管局", R), ("县公安局", R)]
    assert rest == "加强执法检查。"


def test_every_department_by_duty_in_running_text() -> None:
    text = "强化宣传引导，营造良好氛围。各有关部门按职责分工负责。"
    units, rest = units_and_text(text)
    assert units == [("各有关部门", R)]
    assert rest == text


@pytest.mark.parametrize(
    "text",
    [
        "推进农贸（集贸）市场建设",
        "落实好《管理办法（试行）》。",
        "给予奖励（最高不超过5万元）。",
        "提升服务水平（含线上、线下渠道）",
        "由企业自主选择，政府给予支持。",
        "各地按实际情况推进。",
    ],
)
def test_remarks_are_not_unit_lists_without_a_directory(text: str) -> None:
    assert find_bracket(text, NONE) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 及 joins two units when both sides read as units
        (
            "优化审批服务。（市政府办公室牵头，市级各有关部门及各县市区政府按职责分工负责）",
            [("市政府办公室", L), ("市级各有关部门", R), ("各县市区政府", R)],
        ),
        # "等" closes a list without naming the rest; 各县、市、区政府 is one addressee
        (
            "落实财税支持。(市经信局、市财政局等，各县、市、区政府，咸宁高新区管委会)",
            [
                ("市经信局", R),
                ("市财政局", R),
                ("各县、市、区政府", R),
                ("咸宁高新区管委会", R),
            ],
        ),
        # 参加 for the supporting units
        (
            "推进就业创业。(市人社局牵头,市教育局、国家统计局济宁调查队参加)",
            [("市人社局", L), ("市教育局", S), ("国家统计局济宁调查队", S)],
        ),
        # a bracketed note inside a name
        (
            "严守用水红线。(市水利局，各县(市、区)党委和人民政府)",
            [("市水利局", R), ("各县(市、区)党委和人民政府", R)],
        ),
    ],
)
def test_conjunctions_and_collectives_inside_lists(
    text: str, expected: list[tuple[str, Role]]
) -> None:
    assert units_and_text(text)[0] == expected


def test_measures_take_the_units_of_their_section_heading() -> None:
    from tasks.policy_import.importer import import_policy
    from tasks.policy_import.text import text_paragraphs

    notice = """某某区人民政府办公室

2025年3月1日

一、强化科技创新（区科技局牵头）

（一）加强科创平台建设。推进校企结对合作。

1. 建设联合研发中心。

2. 做好成果转化。（区经信局负责）

二、扩大有效投资

3. 加快项目建设。
"""
    result = import_policy(
        text_paragraphs(notice), code="x-2025", directory=None, units_directory="x"
    )
    units = {m["number"]: m["units"] for m in result.policy["measures"]}
    assert units["1"] == [{"unit": "区科技局", "role": "lead"}]
    assert units["2"] == [{"unit": "区经信局", "role": "responsible"}]
    assert units["3"] == []
    assert "第1条：原文未单列责任单位，按所在章节标题中的单位列出，请核对" in result.review
    assert "第3条：未找到责任单位，请补填" in result.review


def test_a_label_after_the_leaders_inside_the_bracket() -> None:
    text = (
        "城乡居民收入增长与经济增长基本同步。(责任领导:张三、李四;牵头单位:区发改局、区农业农村局)"
    )
    units, rest = units_and_text(text)
    assert units == [("区发改局", L), ("区农业农村局", L)]  # leaders are people, not units
    assert rest == "城乡居民收入增长与经济增长基本同步。"


def test_label_lines_joined_without_a_separator() -> None:
    # "牵头单位:…" and "责任单位:…" each on its own line after the measure
    text = (
        "努力实现地区生产总值增长6%左右。牵头单位:区发改局"
        "责任单位:立山经济开发区,各街道、区直各部门"
    )
    units, rest = units_and_text(text)
    assert units == [("区发改局", L), ("立山经济开发区", R), ("各街道", R), ("区直各部门", R)]
    assert rest == "努力实现地区生产总值增长6%左右。"


def test_the_first_named_unit_leads_when_the_list_says_so_and_later_lists_follow() -> None:
    from tasks.policy_import.importer import import_policy
    from tasks.policy_import.text import text_paragraphs

    notice = """某某市人民政府办公室

2019年6月1日

一、完善体制机制

（一）健全管理体制。落实各级政府责任。（市教育局，市委农办，各县<市、区>人民政府，排名第一位为牵头单位，下同）

（二）加强规划布局。科学规划幼儿园布局。（市发展改革委、市自然资源局等负责）

二、扩大资源供给

（三）新建改扩建幼儿园。（市住房城乡建设局牵头，市财政局配合）
"""
    result = import_policy(
        text_paragraphs(notice), code="x-2019", directory=None, units_directory="x"
    )
    units = {m["number"]: m["units"] for m in result.policy["measures"]}
    assert units["1"] == [
        {"unit": "市教育局", "role": "lead"},
        {"unit": "市委农办", "role": "responsible"},
        {"unit": "各县<市、区>人民政府", "role": "responsible"},  # one name, not 各县< and 区>…
    ]
    assert units["2"] == [  # 下同: the rule holds for the lists after it
        {"unit": "市发展改革委", "role": "lead"},
        {"unit": "市自然资源局", "role": "responsible"},
    ]
    assert units["3"] == [  # a list that names its roles keeps them
        {"unit": "市住房城乡建设局", "role": "lead"},
        {"unit": "市财政局", "role": "support"},
    ]
    assert any(line.startswith("第1条：原文“排名第一位为牵头单位，下同”") for line in result.review)
