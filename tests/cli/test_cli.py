"""The taskforce command line with its own environment: its entry point in this process
(``invoke_cli``), and as a subprocess where the process's exit status is what is tested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from icalendar import Calendar

from tests.helpers import POLICY_FILES, invoke_cli, run_cli


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    result = invoke_cli(tmp_path, "policy", "load", *map(str, POLICY_FILES.values()))
    assert result.returncode == 0, result.stderr
    assert "已载入 lingchuan-2023" in result.stdout and "已载入 xinjiang-2022" in result.stdout
    return tmp_path


def test_second_load_reports_no_change(loaded: Path) -> None:
    result = invoke_cli(loaded, "policy", "load", str(POLICY_FILES["lingchuan-2023"]))
    assert result.returncode == 0
    assert "无变化" in result.stdout


def test_calendar_json_is_the_documented_interface(loaded: Path) -> None:
    result = invoke_cli(loaded, "calendar", "--policy", "xinjiang-2022", "--year", "2022", "--json")
    assert result.returncode == 0, result.stderr
    cycles = json.loads(result.stdout)
    assert [c["period"] for c in cycles] == ["2022-10", "2022-11", "2022-12"]
    first = cycles[0]
    assert set(first) >= {"policy", "obligation", "period", "opens", "due", "reminders"}
    assert first["policy"] == "xinjiang-2022"
    assert first["due"] == "2022-11-10T23:59:00+08:00"
    assert all(r < "2022-11-11" for r in first["reminders"])


def test_calendar_table_and_ics(loaded: Path) -> None:
    ics = loaded / "out" / "lingchuan.ics"
    result = invoke_cli(
        loaded, "calendar", "--policy", "lingchuan-2023", "--year", "2023", "--ics", str(ics)
    )
    assert result.returncode == 0, result.stderr
    assert "2023-01-20 周五" in result.stdout and "月度进展情况报告" in result.stdout
    events = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    assert len(events) == 14
    first = events[0]
    assert str(first["uid"]).startswith("lingchuan-2023.")
    assert first.decoded("dtstart").isoformat() == "2023-01-20T23:59:00+08:00"  # tests/test_ics.py
    assert len(first.walk("VALARM")) == 2
    again = loaded / "out" / "again.ics"
    invoke_cli(
        loaded, "calendar", "--policy", "lingchuan-2023", "--year", "2023", "--ics", str(again)
    )
    assert again.read_bytes() == ics.read_bytes()  # deterministic


def test_policy_show_and_list(loaded: Path) -> None:
    shown = invoke_cli(loaded, "policy", "show", "lingchuan-2023", "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert len(doc["measures"]) == 47 and doc["measures"][25]["number"] == "26"
    table = invoke_cli(loaded, "policy", "show", "xinjiang-2022")
    assert table.returncode == 0 and "县交通运输局" in table.stdout
    listing = invoke_cli(loaded, "policy", "list")
    assert "陵政办发〔2023〕1号" in listing.stdout and "新政办发〔2022〕26号" in listing.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("calendar", "--policy", "nope"), "政策 'nope' 尚未载入"),
        (("policy", "show", "nope"), "尚未载入"),
        (("policy", "load", "missing.yaml"), "missing.yaml: 文件不存在"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    result = run_cli(tmp_path, *args)  # the process: one line on stderr, exit status 2
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("code: [unclosed\n", encoding="utf-8")
    result = invoke_cli(tmp_path, "policy", "load", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "YAML 语法错误" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    result = invoke_cli(tmp_path, "calendar")
    assert result.returncode == 2
    assert "--policy" in result.stderr
