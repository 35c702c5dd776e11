"""Importing each seed notice reproduces its hand-checked config (issue 8).

Compared exactly: document metadata, county, units directory, active period, sections (id, title,
parent, 专班 name), every measure's number, section, title, text, units and roles, deadline dates,
the targets' value, unit, direction, due date and due phrase (and start, where the text dates the
target), obligations' frequency, due rule, covered months, paper copy and (陵川) name and
recipients, the task force's name, office, contacts, leader, deputies, members and group names.

Deliberate differences, each a judgement the hand-written config made beyond the text:

- targets in ``DIFFERENCES`` below (陵川 20 明年一季度, 新绛 27 a date phrase from another
  sentence); target ``metric`` wording; ``starts`` of undated count targets (新绛 gives them
  2022-01-01 because the plan is a "2022年行动计划");
- codes: group codes are numbered (group-N) where the configs use names; obligation codes and
  content keys likewise; 陵川's groups get no lead units or sections (six groups, five leads);
- obligation content: the importer lists what the text names; the configs add per-measure
  fields and shorten labels; 新绛's recipients are the text's "县直各相关单位" where the config
  adds the towns and the development zone, and its name is "月度总结报告" (config 月度工作总结);
- deadline phrases are the date expression, the configs quote a longer stretch;
- notes, example mailboxes of persons, and the configs' own review wording.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from config.loading import read_yaml
from config.schema import Policy
from config.settings import CONFIG_DIR
from tasks.policy_import.importer import ImportResult, import_file
from tests.helpers import POLICY_FILES, SEEDS

TargetKey = tuple[float, str, str, str, str]


def _target_key(t: dict[str, Any]) -> TargetKey:
    return (
        float(t["value"]),
        t["unit"],
        t.get("direction", "at_least"),
        str(t["due"]),
        t["due_phrase"],
    )


# Deliberate differences: (policy, measure) -> (targets the importer produces, why).
# The importer records what the text says; the hand-checked configs go further in these places.
DIFFERENCES: dict[tuple[str, str], tuple[list[TargetKey], str]] = {
    ("lingchuan-2023", "20"): (
        [
            (47.0, "亿元", "at_least", "2023-12-31", "年度"),
            (65.0, "个", "at_least", "2023-12-31", "（原文未写时限，按政策期末）"),
            (80.0, "个", "at_least", "2023-12-31", "（原文未写时限，按政策期末）"),
            (40.0, "%", "at_least", "2024-03-31", "明年一季度"),
        ],
        # "明年一季度" read literally against the issue date 2023-01-12 is 2024 Q1; the hand
        # config reads it as 2023 Q1 from context (drafted in late 2022). The importer resolves
        # literally and puts the out-of-period date on the review list for a person to decide.
        "明年 resolved literally",
    ),
    ("xinjiang-2022", "27"): (
        [
            (v, "家", "at_least", "2022-12-31", "（原文未写时限，按政策期末）")
            for v in (3.0, 4.0, 3.0)
        ],
        # The hand config borrows "2022年度" from the measure's previous sentence; the importer
        # only takes a date phrase from the target's own sentence. The due date is the same.
        "date phrase from another sentence",
    ),
}


@pytest.fixture(scope="module", params=sorted(POLICY_FILES))
def imported(request: pytest.FixtureRequest) -> tuple[str, ImportResult, dict[str, Any]]:
    code: str = request.param
    result = import_file(SEEDS / f"{code}.txt", code=code, units_dir=CONFIG_DIR / "units")
    return code, result, read_yaml(POLICY_FILES[code])


def test_draft_is_a_valid_policy(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    code, result, _ = imported
    assert result.valid, result.review
    policy = Policy.model_validate(result.policy)
    assert policy.code == code
    assert result.unknown_units == []


def test_metadata_and_period(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    _, result, want = imported
    got = result.policy
    for key in ("issuer", "number", "title"):
        assert got["document"][key] == want["document"][key]
    assert got["document"]["issued"] == date.fromisoformat(want["document"]["issued"])
    assert {k: str(v) for k, v in got["active"].items()} == want["active"]
    assert (got["county"], got["units_directory"]) == (want["county"], want["units_directory"])


def test_sections_and_groups(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    _, result, want = imported
    got = result.policy
    # Group codes differ (the importer numbers them, the configs use names): compare group names.
    got_groups = {g["code"]: g["name"] for g in got["task_force"]["groups"]}
    want_groups = {g["code"]: g["name"] for g in want["task_force"]["groups"]}

    def shape(sections: list[dict[str, Any]], groups: dict[str, str]) -> list[tuple[Any, ...]]:
        return [
            (s["id"], s["title"], s.get("parent"), groups.get(s.get("group") or ""))
            for s in sections
        ]

    assert shape(got["sections"], got_groups) == shape(want["sections"], want_groups)


def test_measures_units_and_roles(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    _, result, want = imported
    got = {m["number"]: m for m in result.policy["measures"]}
    assert list(got) == [m["number"] for m in want["measures"]]
    for expected in want["measures"]:
        measure = got[expected["number"]]
        for key in ("section", "title", "text"):
            assert measure[key] == expected[key], (expected["number"], key)
        assert measure["units"] == expected["units"], expected["number"]


def test_deadlines(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    _, result, want = imported
    got = {m["number"]: m for m in result.policy["measures"]}
    for expected in want["measures"]:
        measure = got[expected["number"]]
        assert str(measure.get("deadline")) == str(expected.get("deadline")), expected["number"]
        if "deadline" in expected:
            # The configs quote a longer stretch (政策执行至…); the importer the date phrase.
            assert measure["deadline_phrase"] in expected["deadline_phrase"]
            # The kind the seed settled on, or a review line that asks the office to decide it:
            # 陵川 31's 2%激励 and 12's 门票补贴 are support with a date, task or window by reading.
            kind_right = measure["deadline_kind"] == expected.get("deadline_kind", "task")
            asked = any(
                line.startswith(f"第{expected['number']}条：deadline_kind")
                for line in result.review
            )
            assert kind_right or asked, expected["number"]


def test_targets(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    code, result, want = imported
    got = {m["number"]: m for m in result.policy["measures"]}
    for expected in want["measures"]:
        number = expected["number"]
        keys = [_target_key(t) for t in got[number].get("targets", [])]
        if (code, number) in DIFFERENCES:
            assert keys == DIFFERENCES[code, number][0]
            continue
        assert keys == [_target_key(t) for t in expected.get("targets", [])], number
        # Targets with a dated phrase start where the configs say; the configs additionally give
        # undated count targets of 新绛's "2022年行动计划" a start of 2022-01-01, a judgement the
        # importer leaves to the office.
        pairs = zip(got[number].get("targets", []), expected.get("targets", []), strict=True)
        for mine, theirs in pairs:
            if not theirs["due_phrase"].startswith("（"):
                assert str(mine.get("starts")) == str(theirs.get("starts")), number


# Relative deadlines in the seeds and the day each means, read from the notices: 陵川's was
# issued on 12 January 2023, so its 明年一季度 ends on 31 March 2024; 新绛's 十四五 ends in 2025.
RELATIVE_DEADLINES = {
    "lingchuan-2023": {
        ("1", "全年", "2023-12-31"),
        ("20", "年度", "2023-12-31"),
        ("20", "明年一季度", "2024-03-31"),
        ("21", "今年上半年", "2023-06-30"),
    },
    "xinjiang-2022": {("20", "“十四五”期间", "2025-12-31")},
}


def test_relative_dates_record_their_resolution(
    imported: tuple[str, ImportResult, dict[str, Any]],
) -> None:
    code, result, _ = imported
    relative = [
        (measure["number"], target)
        for measure in result.policy["measures"]
        for target in measure.get("targets", [])
        if any(w in target["due_phrase"] for w in ("今年", "明年", "全年", "年度", "十四五"))
    ]
    found = {(number, t["due_phrase"], str(t["due"])) for number, t in relative}
    assert found >= RELATIVE_DEADLINES[code]
    for number, target in relative:
        assert target["resolution"], (number, target)


def _match_obligation(got: dict[str, Any], want: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        w
        for w in want
        if w["frequency"] == got["frequency"]
        and {k: str(v) for k, v in w["due"].items()} == {k: str(v) for k, v in got["due"].items()}
        and got["source_text"] in w["source_text"]
    )


def test_obligations(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    code, result, want = imported
    got = result.policy["obligations"]
    assert len(got) == len(want["obligations"])
    for obligation in got:
        expected = _match_obligation(obligation, want["obligations"])
        assert obligation.get("covers_from") == expected.get("covers_from")
        assert obligation.get("covers_to") == expected.get("covers_to")
        assert obligation.get("paper_copy", False) == expected.get("paper_copy", False)
        assert obligation["submit_to"] in expected["submit_to"]
        # Content: the importer lists what the sentence names; the configs add per-measure fields
        # and shorten labels (推进过程中存在的问题困难 → 存在的问题困难).
        labels = [c["label"] for c in expected["content"]]
        for field in obligation["content"]:
            if field["label"] != obligation["name"]:  # a placeholder the review list flags
                assert any(field["label"] in lb or lb in field["label"] for lb in labels)
        if code == "lingchuan-2023":
            assert obligation["recipients"] == expected["recipients"]
            assert obligation["name"] == expected["name"]
        else:
            # 新绛 writes "县直各相关单位" (an alias the directory knows); the config names the
            # collective canonically and adds the towns and the development zone by judgement.
            assert obligation["recipients"] == ["县直各相关单位"]


def test_task_force(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    _, result, want = imported
    got, expected = result.policy["task_force"], want["task_force"]
    assert got["name"] == expected["name"]
    for key in ("name", "unit", "room", "contacts", "phone", "documented_email"):
        assert got["office"].get(key) == expected["office"].get(key), key
    assert [g["name"] for g in got["groups"]] == [g["name"] for g in expected["groups"]]
    if expected.get("leader"):
        assert got["leader"] == {k: expected["leader"][k] for k in ("name", "title")}
        assert got["deputies"] == [
            {"name": d["name"], "title": d["title"]} for d in expected["deputies"]
        ]
        assert got["members"] == expected["members"]


EXPECTED_REVIEW = {
    # Items a person has to decide; each seed's hand config lists the same question.
    "lingchuan-2023": [
        "2023年6月前",
        "明年一季度",
        "县发改局（县能源局）",
        "1月20日前",
        "每月5日前",
    ],
    "xinjiang-2022": ["1-2家", "十四五", "每月10日前", "8.5%"],
}


def test_review_lists_what_a_person_decides(
    imported: tuple[str, ImportResult, dict[str, Any]],
) -> None:
    code, result, _ = imported
    text = "\n".join(result.review)
    for needle in EXPECTED_REVIEW[code]:
        assert needle in text, needle
    assert result.policy["review"] == result.review


def test_no_text_is_lost(imported: tuple[str, ImportResult, dict[str, Any]]) -> None:
    """Every character of the body is in a heading, a section's text or a measure."""
    _, result, _ = imported
    body = result.body
    pieces = [body.preamble]
    sections = {s.id: s for s in body.sections}
    seen: set[str] = set()
    for measure in body.measures:
        for section_id in (sections[measure.section].parent, measure.section):
            if section_id and section_id not in seen:
                seen.add(section_id)
                pieces += [sections[section_id].heading, sections[section_id].text]
        pieces += [measure.heading, measure.body]
    for section in body.sections:
        if section.id not in seen:
            pieces += [section.heading, section.text]
    assert sorted("".join(pieces)) == sorted(body.consumed.replace("〔责责任", "〔责任"))


def test_seed_file_round_trips_through_yaml(
    imported: tuple[str, ImportResult, dict[str, Any]], tmp_path: Path
) -> None:
    code, result, _ = imported
    file = tmp_path / f"{code}.yaml"
    file.write_text(result.to_yaml(), encoding="utf-8")
    Policy.model_validate(read_yaml(file))


def test_draft_loads_once_the_office_decides_the_out_of_period_targets(
    imported: tuple[str, ImportResult, dict[str, Any]], tmp_path: Path
) -> None:
    """The cross-check against the units directory passes except where review asks a person."""
    from config.loading import load_policy_file
    from config.settings import Settings

    code, result, _ = imported
    policy = copy.deepcopy(result.policy)  # the fixture is shared by the module's tests
    end = policy["active"]["end"]
    decided = 0
    for measure in policy["measures"]:
        for target in measure.get("targets", []):
            if target["due"] > end:
                assert any(str(target["due"]) in item for item in result.review)
                target["outside_period_reason"] = "办公室确认"
                decided += 1
    assert decided == 1  # 陵川 20 明年一季度, 新绛 20 十四五
    file = tmp_path / f"{code}.yaml"
    file.write_text(dataclasses.replace(result, policy=policy).to_yaml(), encoding="utf-8")
    bundle = load_policy_file(file, Settings(var_dir=tmp_path / "var"))
    assert len(bundle.policy.measures) == len(policy["measures"])
