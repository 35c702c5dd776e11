"""Bad configuration gets one message naming the file, the YAML path and the value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.errors import ConfigError
from config.loading import load_policy_file
from config.settings import Settings

UNITS: dict[str, Any] = {
    "county": "测试县",
    "units": [
        {
            "code": "fgj",
            "name": "县发改局",
            "aliases": ["县发展改革局"],
            "kind": "department",
            "mailboxes": ["fgj@test.example.org"],
            "head": {"name": "（待填）", "title": "局长"},
        },
        {
            "code": "czj",
            "name": "县财政局",
            "kind": "department",
            "mailboxes": ["czj@test.example.org"],
            "head": {"name": "（待填）", "title": "局长"},
        },
        {
            "code": "zhen1",
            "name": "甲镇",
            "kind": "township",
            "mailboxes": ["zhen1@test.example.org"],
            "head": {"name": "（待填）", "title": "镇长"},
        },
    ],
    "collectives": [{"name": "各乡镇人民政府", "members": ["甲镇"]}],
}

POLICY: dict[str, Any] = {
    "code": "test-2023",
    "county": "测试县",
    "units_directory": "test",
    "document": {
        "issuer": "测试县人民政府办公室",
        "number": "测政办发〔2023〕1号",
        "title": "测试通知",
        "issued": "2023-01-12",
    },
    "active": {"start": "2023-01-12", "end": "2023-12-31"},
    "sections": [{"id": "一", "title": "第一部分"}],
    "measures": [
        {
            "number": "1",
            "section": "一",
            "title": "第一条",
            "text": "第一条。",
            "units": [
                {"unit": "县发改局", "role": "lead"},
                {"unit": "各乡镇人民政府", "role": "support"},
            ],
            "targets": [
                {
                    "metric": "产量",
                    "value": 160,
                    "unit": "万吨",
                    "due": "2023-12-31",
                    "due_phrase": "全年",
                }
            ],
        },
        {
            "number": "2",
            "section": "一",
            "title": "第二条",
            "text": "第二条。",
            "units": [{"unit": "县财政局", "role": "responsible"}],
        },
    ],
    "task_force": {
        "name": "工作专班",
        "office": {"name": "专班办公室", "unit": "县发改局", "mailbox": "office@test.example.org"},
    },
    "obligations": [
        {
            "code": "monthly-progress",
            "name": "月度进展情况报告",
            "frequency": "monthly",
            "recipients": ["各乡镇人民政府", "县财政局"],
            "due": {"day_of_month": 5},
            "covers_from": "2023-01",
            "covers_to": "2023-12",
            "content": [{"key": "progress", "label": "工作落实情况"}],
            "source_text": "于每月5日前报送。",
        },
    ],
}


def write(tmp_path: Path, policy: dict[str, Any], units: dict[str, Any] | None = None) -> Path:
    (tmp_path / "units").mkdir(exist_ok=True)
    (tmp_path / "units" / "test.yaml").write_text(
        yaml.safe_dump(units or UNITS, allow_unicode=True), encoding="utf-8"
    )
    file = tmp_path / "test-2023.yaml"
    file.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    return file


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path, units_dir=tmp_path / "units")


def test_the_fixture_policy_is_valid(tmp_path: Path, cfg: Settings) -> None:
    bundle = load_policy_file(write(tmp_path, POLICY), cfg)
    assert [u for u, _, _ in bundle.effective_units(bundle.measure("1"))] == ["县发改局", "甲镇"]
    assert bundle.recipients("monthly-progress") == ["县财政局", "甲镇"]


def mutate(path: str, value: Any) -> dict[str, Any]:
    """A copy of POLICY with one value replaced, addressed like ``measures.1.number``."""
    policy = copy.deepcopy(POLICY)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = policy
    for part in parents:
        node = node[part]
    node[last] = value
    return policy


CASES = [
    # (what, mutated policy, YAML path, value shown, words in the message)
    (
        "unknown unit",
        mutate("measures.1.units.0.unit", "县不存在局"),
        "measures[1].units[0].unit",
        "县不存在局",
        "未知单位",
    ),
    (
        "duplicate measure number",
        mutate("measures.1.number", "1"),
        "measures[1].number",
        "1",
        "重复",
    ),
    (
        "target date outside the policy period",
        mutate("measures.0.targets.0.due", "2024-06-30"),
        "measures[0].targets[0].due",
        "2024-06-30",
        "有效期",
    ),
    (
        "measure deadline outside the period",
        mutate("measures.1.deadline", "2022-12-31"),
        "measures[1].deadline",
        "2022-12-31",
        "有效期",
    ),
    (
        "malformed office mailbox",
        mutate("task_force.office.mailbox", "office@example"),
        "task_force.office.mailbox",
        "office@example",
        "邮箱",
    ),
    (
        "obligation with no recipients",
        mutate("obligations.0.recipients", []),
        "obligations[0].recipients",
        None,
        "不能为空",
    ),
    (
        "obligation recipient unknown",
        mutate("obligations.0.recipients", ["各部门"]),
        "obligations[0].recipients[0]",
        "各部门",
        "未知单位",
    ),
    ("unknown field", mutate("measures.0.titel", "x"), "measures[0].titel", "x", "未知字段"),
    (
        "bad date",
        mutate("document.issued", "2023-02-30"),
        "document.issued",
        "2023-02-30",
        "不是有效日期",
    ),
    (
        "bad role",
        mutate("measures.0.units.0.role", "主办"),
        "measures[0].units[0].role",
        "主办",
        "不是允许的取值",
    ),
    (
        "covers outside the period",
        mutate("obligations.0.covers_to", "2024-03"),
        "obligations[0].covers_to",
        "2024-03",
        "有效期",
    ),
    (
        "group listing a measure the policy does not have",
        mutate(
            "task_force.groups",
            [{"code": "energy", "name": "能源组", "sections": ["一"], "measures": ["1", "9"]}],
        ),
        "task_force.groups[0].measures[1]",
        "9",
        "措施编号不存在",
    ),
    (
        "monthly without covers",
        mutate("obligations.0.covers_from", None),
        "obligations[0].covers_from",
        None,
        "YYYY-MM",
    ),
]


@pytest.mark.parametrize(
    ("what", "policy", "path", "value", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_policy_errors(
    tmp_path: Path,
    cfg: Settings,
    what: str,
    policy: dict[str, Any],
    path: str,
    value: Any,
    words: str,
) -> None:
    file = write(tmp_path, policy)
    with pytest.raises(ConfigError) as caught:
        load_policy_file(file, cfg)
    error = caught.value
    assert (error.file, error.path, error.value) == (str(file), path, value), what
    assert words in error.message
    assert str(file) in str(error) and path in str(error)


def test_malformed_unit_mailbox(tmp_path: Path, cfg: Settings) -> None:
    units = copy.deepcopy(UNITS)
    units["units"][1]["mailboxes"] = ["czj@test.example.org", "czj at example.org"]
    write(tmp_path, POLICY, units)
    with pytest.raises(ConfigError) as caught:
        load_policy_file(tmp_path / "test-2023.yaml", cfg)
    assert caught.value.file == str(tmp_path / "units" / "test.yaml")
    assert caught.value.path == "units[1].mailboxes"
    assert "czj at example.org" in caught.value.message


def test_alias_used_twice_names_the_unit(tmp_path: Path, cfg: Settings) -> None:
    units = copy.deepcopy(UNITS)
    units["units"][1]["aliases"] = ["县发展改革局"]
    write(tmp_path, POLICY, units)
    with pytest.raises(ConfigError) as caught:
        load_policy_file(tmp_path / "test-2023.yaml", cfg)
    assert caught.value.path == "units[1]" and "县发展改革局" in caught.value.message


def test_missing_file(tmp_path: Path, cfg: Settings) -> None:
    with pytest.raises(ConfigError, match="文件不存在"):
        load_policy_file(tmp_path / "absent.yaml", cfg)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path, cfg: Settings) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("code: x\nmeasures: [\n  - a: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_policy_file(file, cfg)
    assert caught.value.path.startswith("第") and "YAML 语法错误" in caught.value.message


def test_empty_file(tmp_path: Path, cfg: Settings) -> None:
    file = tmp_path / "empty.yaml"
    file.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="应为映射"):
        load_policy_file(file, cfg)
