"""The corpus of real notices (tests/data/notices) and the scorer's rules (issue 21 §3).

The last test imports every corpus notice through the command line as a new county does: no
``--units`` and an empty units directory. It passes once the importer onboards a county from its
notice alone (issue 21 §1: a policy draft and a units draft written, exit 0).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import invoke_cli
from tests.policy_import.score import (
    EXPECTED,
    NOTICES,
    Expected,
    ExpectedMeasure,
    ExpectedObligation,
    ExpectedUnit,
    count_obligations,
    load_expected,
    match_measures,
    parse_expected,
    same_unit,
    squeeze,
)

CORPUS = load_expected()


def test_every_notice_has_its_expectations_and_its_source() -> None:
    files = sorted(p.name for p in NOTICES.glob("*.txt"))
    assert files == sorted(e.file.name for e in CORPUS)
    for expected in CORPUS:
        lines = expected.file.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# source: http"), expected.name
        assert lines[1].startswith("# title: ") and len(lines[1]) > len("# title: "), expected.name
        assert any(line.strip() for line in lines[2:]), expected.name


def test_the_corpus_is_as_wide_as_the_issue_asks() -> None:
    assert len(CORPUS) >= 12
    assert len({e.province for e in CORPUS}) >= 6
    assert sum(e.level in ("county", "district") for e in CORPUS) >= 9
    assert any("traditional" in e.notations for e in CORPUS)


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "file": "x.txt",
        "province": "某省",
        "place": "某县",
        "level": "county",
        "notations": ["responsible-line"],
        "count": 1,
        "measures": [{"number": "1", "starts": "做事"}],
        "sampled": [{"number": "1", "units": [{"name": "县财政局", "role": "responsible"}]}],
        "obligations": [],
    }
    return {**entry, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": 2}, "count 2 but 1 measures"),
        ({"notations": ["bare-bracket"]}, "unknown notations"),
        ({"sampled": [{"number": "2", "units": []}]}, "not in its measures"),
        (
            {"sampled": [{"number": "1", "units": [{"name": "县财政局", "role": "负责"}]}]},
            "role",
        ),
        (
            {"obligations": [{"what": "进展", "frequency": "biweekly", "due": "每两周"}]},
            "frequency",
        ),
    ],
)
def test_a_slip_in_the_hand_written_file_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_expected(_entry(**changes), EXPECTED.parent)


@pytest.mark.parametrize(
    ("imported", "unit", "same"),
    [
        ("县财政局", ExpectedUnit("县财政局", "lead"), True),
        (" 县财政局 ", ExpectedUnit("县财政局", "lead"), True),
        ("县财政", ExpectedUnit("县财政局", "lead"), False),
        ("区水务局（区海洋局）", ExpectedUnit("区水务局(区海洋局)", "lead"), True),
        ("区水务局", ExpectedUnit("区水务局（区海洋局）", "lead"), True),
        ("区海洋局", ExpectedUnit("区水务局（区海洋局）", "lead"), False),
        ("区水务局等部门", ExpectedUnit("区水务局", "support"), False),
        ("市政府办公室", ExpectedUnit("市政府辦公室", "lead", ("市政府办公室",)), True),
        ("各县(市、区)党委", ExpectedUnit("各县（市、区）党委", "lead"), True),
    ],
)
def test_unit_names_compare_after_brackets_and_whitespace(
    imported: str, unit: ExpectedUnit, same: bool
) -> None:
    assert same_unit(imported, unit) is same


def test_a_measure_that_swallowed_others_finds_only_one() -> None:
    expected = (
        ExpectedMeasure("1", "精简项目审批手续"),
        ExpectedMeasure("2", "提高土地审批效率"),
        ExpectedMeasure("3", "提高环评审批效率"),
    )
    merged = {"title": "精简项目审批手续", "text": "精简项目审批手续。提高土地审批效率。"}
    third = {"title": "提高环评审批效率", "text": "提高环评审批效率。"}
    found = match_measures(expected, [merged, third])
    assert found == {"1": merged, "3": third}


def test_measure_text_compares_across_full_width_punctuation_and_line_breaks() -> None:
    expected = (ExpectedMeasure("1", "完成省、市下达的节能减排（考核）目标"),)
    imported = [{"title": "", "text": "完成省、市下达的节能减排(考核)\n目标任务。"}]
    assert list(match_measures(expected, imported)) == ["1"]
    assert squeeze("（一） 地区\u3000生产总值") == "(一)地区生产总值"


def test_obligations_are_found_by_frequency_and_due_one_each() -> None:
    quarterly = ExpectedObligation("进展", "quarterly", "每季度最后一个月的30日前", day=30)
    once = ExpectedObligation("方案", "once", "2023年1月15日前", date=date(2023, 1, 15))
    quarterly_due: dict[str, Any] = {"frequency": "quarterly", "due": {"day_of_month": 30}}
    a_day_late: dict[str, Any] = {"frequency": "once", "due": {"fixed_date": "2023-01-16"}}
    on_the_day: dict[str, Any] = {"frequency": "once", "due": {"fixed_date": date(2023, 1, 15)}}
    assert count_obligations((quarterly, once), [quarterly_due, a_day_late]) == 1
    assert count_obligations((quarterly, quarterly), [quarterly_due, a_day_late]) == 1
    assert count_obligations((quarterly, once), [quarterly_due, on_the_day]) == 2


@pytest.mark.parametrize(
    ("due", "found"),
    [
        ({"day_of_month": 30, "lands": "in_period"}, True),  # 每季度最后一个月的30日前
        ({"day_of_month": 31, "lands": "in_period"}, False),  # 每季度末
        ({"days_after_end": 30}, False),  # 每季度结束后30日内: another deadline
        ({}, False),
    ],
)
def test_a_quarterly_day_is_the_rules_day_of_month(due: dict[str, Any], found: bool) -> None:
    """The schema's quarterly rule gives days_after_end or day_of_month with lands: an expected
    day of the month is matched by day_of_month only, a rule without one is another deadline."""
    want = ExpectedObligation("进展", "quarterly", "每季度最后一个月的30日前", day=30)
    assert count_obligations((want,), [{"frequency": "quarterly", "due": due}]) == int(found)


@pytest.mark.parametrize("notice", CORPUS, ids=lambda e: e.name)
def test_a_new_county_imports_its_notice_with_no_units_directory(
    tmp_path: Path, notice: Expected
) -> None:
    """``taskforce policy import NOTICE -o x.yaml`` with no --units and no directory for the
    county writes the policy draft and a draft units directory and exits 0 (issue 21 §1)."""
    units_dir = tmp_path / "units"
    units_dir.mkdir()
    output = tmp_path / "policies" / "x.yaml"
    result = invoke_cli(
        tmp_path,
        "policy",
        "import",
        str(notice.file),
        "-o",
        str(output),
        env={"TASKFORCE_UNITS_DIR": str(units_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8").strip()
    drafts = sorted(units_dir.glob("*.yaml"))
    assert drafts, f"no units draft in {units_dir}: {result.stdout[-400:]}"
    assert all(d.read_text(encoding="utf-8").strip() for d in drafts)
