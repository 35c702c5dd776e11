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
