"""Notice structures beyond the seeds' (issue 21 §2): measure levels, annex task tables,
traditional characters. Each notation on a short excerpt written for the test."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.policy_import.importer import import_policy
from tasks.policy_import.sections import carries_units as carries_units_in
from tasks.policy_import.sections import looks_like_units_text, parse_body
from tasks.policy_import.text import text_paragraphs
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
        ("2023—2025年", False),
        ("以下简称“三年行动”", False),
        ("含本数", False),
    ],
)
def test_unit_list_without_a_directory(content: str, units: bool) -> None:
    assert looks_like_units_text(content) is units
