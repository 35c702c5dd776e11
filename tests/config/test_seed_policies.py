"""The two hand-checked seed policies: counts, and every unit the documents name resolves."""

from __future__ import annotations

import re

import pytest

from config.loading import PolicyBundle, load_policy_file
from config.settings import Settings
from tests.helpers import POLICY_FILES, SEEDS


@pytest.fixture(scope="module")
def bundles() -> dict[str, PolicyBundle]:
    settings = Settings()
    return {code: load_policy_file(file, settings) for code, file in POLICY_FILES.items()}


def joined(code: str) -> str:
    """The seed text with page-break artifacts removed (blank lines splitting words/brackets)."""
    text = (SEEDS / f"{code}.txt").read_text(encoding="utf-8")
    text = re.sub(r"\s*\n\s*", "", text)
    return text.replace("〔责责任单位", "〔责任单位").replace("]", "〕")


def named_units_lingchuan() -> set[str]:
    text = joined("lingchuan-2023")
    names: set[str] = set()
    for bracket in re.findall(r"〔责任单位：([^〕]*)〕", text):
        for name in re.split(r"[、，,]", bracket):
            names.add(re.sub(r"等相关(单位|部门)$", "", name.strip()))
    members = re.search(r"成\s*员：(.*?)的分管负责同志", text)
    assert members is not None
    names.update(n.strip() for n in members.group(1).split("、"))
    names.update(re.findall(r"由(县\w+?局)、", text))  # group leads
    names.add("县发改局")  # 专班办公室设在县发改局
    return {n for n in names if n}


ROLE_SUFFIX = re.compile(r"(牵头|配合|负责)$")


def named_units_xinjiang() -> set[str]:
    text = joined("xinjiang-2022")
    names: set[str] = set()
    for bracket in re.findall(r"（([^（）]*?(?:负责|配合|牵头|成员单位))）", text):
        if "专班" in bracket:
            continue  # a section's 专班, not a unit
        for part in re.split(r"[，、,]", bracket):
            names.add(ROLE_SUFFIX.sub("", part.strip()))
    names.add("县发改局")  # the office: 县发改局 329 室
    return {n for n in names if n}


@pytest.mark.parametrize(
    ("code", "extract"),
    [("lingchuan-2023", named_units_lingchuan), ("xinjiang-2022", named_units_xinjiang)],
)
def test_every_unit_named_in_the_document_resolves(
    bundles: dict[str, PolicyBundle], code: str, extract: object
) -> None:
    names = extract()  # type: ignore[operator]
    assert len(names) > 20  # the extraction itself works
    resolver = bundles[code].resolver

    def resolves(name: str) -> bool:
        # "县发改局（县能源局）" names two units unless the directory knows it as one alias.
        parts = re.fullmatch(r"(.+)（(.+)）", name)
        return resolver.knows(name) or bool(parts and all(map(resolver.knows, parts.groups())))

    assert sorted(n for n in names if not resolves(n)) == []


def test_lingchuan_has_37_measures_and_10_sub_measures(bundles: dict[str, PolicyBundle]) -> None:
    measures = bundles["lingchuan-2023"].policy.measures
    top = [m.number for m in measures if m.parent_number is None]
    subs = [m.number for m in measures if m.parent_number is not None]
    assert top == [str(n) for n in range(1, 38)]
    assert subs == [f"26({n})" for n in range(1, 11)]


def test_xinjiang_has_64_measures(bundles: dict[str, PolicyBundle]) -> None:
    measures = bundles["xinjiang-2022"].policy.measures
    assert [m.number for m in measures] == [str(n) for n in range(1, 65)]


def test_measure_titles_appear_in_the_seed(bundles: dict[str, PolicyBundle]) -> None:
    for code, bundle in bundles.items():
        text = re.sub(r"\s", "", joined(code))
        for measure in bundle.policy.measures:
            assert re.sub(r"\s", "", measure.title) in text, (code, measure.number)


def test_sub_measures_inherit_the_bracket_of_26(bundles: dict[str, PolicyBundle]) -> None:
    bundle = bundles["lingchuan-2023"]
    units = bundle.effective_units(bundle.measure("26(4)"))
    assert [(name, role) for name, role, _ in units] == [
        ("县人社局", "responsible"),
        ("县财政局", "responsible"),
    ]


def test_xinjiang_roles(bundles: dict[str, PolicyBundle]) -> None:
    bundle = bundles["xinjiang-2022"]
    roles = {name: role for name, role, _ in bundle.effective_units(bundle.measure("12"))}
    assert roles["县发改局"] == "lead"
    assert roles["县住建局"] == "support"
    via = {via for _, _, via in bundle.effective_units(bundle.measure("11"))}
    assert any(v and "镇" in v for v in via)  # 各镇人民政府 expanded to the townships


def test_documented_targets(bundles: dict[str, PolicyBundle]) -> None:
    def targets(code: str, number: str) -> list[tuple[float, str, str]]:
        m = bundles[code].measure(number)
        return [(t.value, t.unit, t.due.isoformat()) for t in m.targets]

    assert (160, "万吨", "2023-12-31") in targets("lingchuan-2023", "1")
    assert (40, "%", "2023-03-31") in targets("lingchuan-2023", "20")
    assert (200, "个", "2022-12-31") in targets("xinjiang-2022", "17")
    resolution = next(t for t in bundles["lingchuan-2023"].measure("20").targets if t.unit == "%")
    assert "2023" in resolution.resolution


def test_obligations_as_the_seeds_word_them(bundles: dict[str, PolicyBundle]) -> None:
    lingchuan = {o.code: o for o in bundles["lingchuan-2023"].policy.obligations}
    assert {o.due.fixed_date.isoformat() for o in lingchuan.values() if o.due.fixed_date} == {
        "2023-01-20"
    }
    monthly = [o for o in lingchuan.values() if o.frequency == "monthly"]
    assert [o.due.day_of_month for o in monthly] == [5]
    labels = {c.label for c in monthly[0].content}
    assert {"工作落实情况", "下一步落实措施"} <= labels
    xinjiang = bundles["xinjiang-2022"].policy.obligations
    assert [(o.frequency, o.due.day_of_month, o.paper_copy) for o in xinjiang] == [
        ("monthly", 10, True)
    ]
    assert "329" in xinjiang[0].submit_to


def test_task_force_groups(bundles: dict[str, PolicyBundle]) -> None:
    assert len(bundles["lingchuan-2023"].policy.task_force.groups) == 6
    assert len(bundles["xinjiang-2022"].policy.task_force.groups) == 8
