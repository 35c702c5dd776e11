"""``taskforce measures deadlines`` and ``measures extend`` on 陵川's real deadlines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.settings import Settings
from tests import consolidation_fixture
from tests.consolidation_fixture import load_month
from tests.helpers import DATA, invoke_cli, load_seeds, run_cli

POLICY = "lingchuan-2023"


@pytest.fixture
def lingchuan_june(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """陵川 loaded, with its June 2023 reports (measure 12 推进中 but at 县财政局)."""
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", DATA / "escalation")
    settings = Settings(var_dir=tmp_path / "var")
    load_seeds(settings, POLICY)
    load_month(settings, "lingchuan-2023-06")
    return tmp_path


def deadlines(tmp_path: Path, as_of: str) -> dict[str, dict[str, object]]:
    result = invoke_cli(tmp_path, "measures", "deadlines", "--policy", POLICY, "--json",
                        "--as-of", as_of)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {row["number"]: row for row in json.loads(result.stdout)}


def test_deadlines_then_an_extension(lingchuan_june: Path) -> None:
    tmp_path = lingchuan_june
    # Monday 3 July, after the reports: 12 is overdue (推进中 is its least advanced lead
    # status), 26(1) ended in April, 31 and 32 ended on 30 June; no window turns a light.
    rows = deadlines(tmp_path, "2023-07-03T12:00")
    assert list(rows) == ["12", "26(1)", "26(2)", "26(9)", "31", "32"]
    twelve = rows["12"]
    assert (twelve["kind"], twelve["due_text"], twelve["state_label"], twelve["days_text"],
            twelve["status"], twelve["light"]) == (
        "task", "2023年6月30日（星期五）", "逾期未完成", "逾期3天", "推进中", "red")  # fmt: skip
    assert (rows["26(1)"]["kind"], rows["26(1)"]["state_label"], rows["26(1)"]["light"]) == (
        "window", "政策执行期已结束", None)  # fmt: skip
    assert rows["31"]["light"] is None and rows["32"]["days_text"] == "已结束3天"
    # A month before, 12 is 临期 (yellow): within the 30 days.
    assert deadlines(tmp_path, "2023-06-10")["12"]["state_label"] == "临期"

    table = invoke_cli(tmp_path, "measures", "deadlines", "--policy", POLICY,
                       "--as-of", "2023-07-03T12:00")  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "第12条 着力扩大文旅消费" in table.stdout and "政策执行至2023年4月30日" in table.stdout

    extended = invoke_cli(tmp_path, "measures", "extend", "12", "--policy", POLICY,
                          "--to", "2023-09-30", "--reason", "省级补贴资金尚未下达",
                          "--by", "王杰", "--at", "2023-07-06T15:00")  # fmt: skip
    assert extended.returncode == 0, extended.stderr
    assert extended.stdout.splitlines()[0] == (
        "第12条措施“着力扩大文旅消费”完成时限已由2023年6月30日（星期五）延至2023年9月30日（星期六）"
        "（理由：省级补贴资金尚未下达）。"
    )
    again = invoke_cli(tmp_path, "measures", "extend", "12", "--policy", POLICY,
                       "--to", "2023-09-30", "--reason", "省级补贴资金尚未下达")  # fmt: skip
    assert again.returncode == 0 and "未重复登记" in again.stdout
    twelve = deadlines(tmp_path, "2023-07-07")["12"]
    assert (twelve["due"], twelve["state_label"], twelve["light"]) == (
        "2023-09-30", "未到期", None)  # fmt: skip
    assert twelve["extensions"] == [
        {"previous": "2023-06-30", "new": "2023-09-30", "reason": "省级补贴资金尚未下达",
         "by": "王杰", "at": "2023-07-06T15:00:00+08:00"}
    ]  # fmt: skip
    # Before the extension was granted, the listing shows the notice's date.
    assert deadlines(tmp_path, "2023-07-05")["12"]["due"] == "2023-06-30"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["26(1)", "--to", "2023-09-30", "--reason", "延续"],
         "第26(1)条的“政策执行至2023年4月30日”是政策执行期，不是工作完成时限，不能延期"),
        (["12", "--to", "2023-06-01", "--reason", "因故"],
         "新的完成时限 2023年6月1日（星期四） 须晚于现行时限 2023年6月30日（星期五）"),
        (["12", "--to", "九月底", "--reason", "因故"],
         "日期格式不正确：'九月底'（应为 2023-09-30）"),
        (["12", "--to", "2023-09-30", "--reason", " "], "延期须用 --reason 说明理由"),
        (["99", "--to", "2023-09-30", "--reason", "因故"], "第99条措施没有完成时限，无法延期"),
    ],
)  # fmt: skip
def test_bad_extensions_exit_2_with_the_reason(
    lingchuan_june: Path, args: list[str], said: str
) -> None:
    result = invoke_cli(lingchuan_june, "measures", "extend", *args, "--policy", POLICY)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


def test_unknown_policy_exits_2_from_the_real_entry_point(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "measures", "deadlines", "--policy", "nowhere-2023")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("错误：")
