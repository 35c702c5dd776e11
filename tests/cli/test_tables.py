"""Tables piped to a file or a script keep every unit's name whole, on its row's one line.

Rich cut a column narrower than its text with "…", and Chinese has no spaces to wrap at: piped,
``taskforce submissions`` printed ``人行陵川县支…`` (flows/cli/tables.py). The commands run as a
subprocess, their stdout a pipe, as a script or ``| grep`` runs them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from rich.cells import cell_len

from config.settings import Settings
from models.db import get_engine
from tasks.demo.bureaus import fill_form
from tasks.forms.keys import form_keys
from tasks.forms.layout import form_path
from tasks.forms.read import read_form_metadata
from tasks.reminders.steps import prepare_reminders
from tests.helpers import invoke_cli, run_cli
from tests.intake_helpers import at

POLICY = "lingchuan-2023"
# The longest unit names of the Lingchuan directory, and the one the issue saw cut.
UNITS = {
    "zxqyzx": "县中小企业发展促进中心",
    "sthjfj": "市生态环境局陵川分局",
    "ybjjgz": "晋城银保监陵川监管组",
    "rhzh": "人行陵川县支行",
}


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """February's forms issued, and those of UNITS handed in on paper, filled wrong: the status
    of the first measure is 进行中, not one of the list's choices, so each row has a problem."""
    home = tmp_path_factory.mktemp("office")
    with pytest.MonkeyPatch.context() as env:  # as _clean_environment does for each test
        for name in [n for n in os.environ if n.startswith("TASKFORCE_")]:
            env.delenv(name)
        result = invoke_cli(home, "policy", "load", f"config/policies/{POLICY}.yaml")
        assert result.returncode == 0, result.stderr
        settings = Settings(var_dir=home / "var")
        prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
        key = form_keys(settings).current
        for code in UNITS:
            blank = form_path(settings, POLICY, "monthly-progress", "2023-02", code).read_bytes()
            table = read_form_metadata(blank, key).layout.table
            assert table is not None
            [status] = [c for c in table.columns if c.part == "status"]
            filled = home / f"{code}.xlsx"
            cell = f"{status.column}{table.rows[0].row}"
            filled.write_bytes(fill_form(blank, key, overrides={cell: "进行中"}))
            result = invoke_cli(
                home, "submit", "--unit", code, "--policy", POLICY, "--period", "2023-02",
                "--received-at", "2023-03-08T10:00", "--as-of", "2023-03-08T10:00", str(filled),
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert "退回" in result.stdout
        scan = home / "人行陵川县支行2023年3月份工作专班月度进展情况报告（盖章扫描件）.pdf"
        scan.write_bytes(b"%PDF-1.4 scanned report")
        result = invoke_cli(
            home, "submit", "--unit", "rhzh", "--policy", POLICY, "--period", "2023-03",
            "--received-at", "2023-04-06T10:00", "--as-of", "2023-04-06T10:00", str(scan),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    get_engine(settings).dispose()
    return home


def _row_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("│")]


def test_submissions_piped_show_each_unit_whole_on_its_row(office: Path) -> None:
    result = run_cli(office, "submissions", "--policy", POLICY, "--period", "2023-02")
    assert result.returncode == 0, result.stderr
    rows = _row_lines(result.stdout)
    assert not any("…" in row for row in rows), result.stdout
    for name in UNITS.values():
        [line] = [row for row in rows if f"│ {name} " in row]
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        assert cells[:4] == ["月度进展情况报告", "2023-02", name, "退回"], line
        assert "进行中" in cells[-1], line  # the problem, on the same line
    # Units that did not report are listed by name too, each on one line.
    assert any("│ 县人社局 " in row and "未报送" in row for row in rows)


def test_review_piped_shows_the_unit_and_the_file_whole(office: Path) -> None:
    result = run_cli(office, "review", "--policy", POLICY)
    assert result.returncode == 0, result.stderr
    rows = _row_lines(result.stdout)
    assert not any("…" in row for row in rows), result.stdout
    [line] = [row for row in rows if "人行陵川县支行" in row]
    assert "人行陵川县支行2023年3月份工作专班月度进展情况报告（盖章扫描件）.pdf" in line


def test_policy_show_piped_keeps_every_responsible_unit_whole(office: Path) -> None:
    result = run_cli(office, "policy", "show", POLICY)
    assert result.returncode == 0, result.stderr
    rows = _row_lines(result.stdout)
    assert not any("…" in row for row in rows), result.stdout
    cells = {cell.strip() for row in rows for cell in row.strip("│").split("│")}
    for name in ("市生态环境局陵川分局", "高新高速公路管理公司", "县投资促进中心"):
        assert f"{name}（负责）" in cells or f"{name}（牵头）" in cells, name


def _in_terminal(tmp_path: Path, columns: int, *args: str) -> str:
    """``taskforce ARGS`` with its output on a pseudo-terminal ``columns`` wide, as typed."""
    master, terminal = os.openpty()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")},
        "TASKFORCE_VAR_DIR": str(tmp_path / "var"),
        "COLUMNS": str(columns),
        "NO_COLOR": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args],
        stdout=terminal,
        stderr=terminal,
        env=environment,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert process.wait(timeout=120) == 0, output.decode()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode())


@pytest.mark.parametrize("columns", [160, 90])
def test_submissions_in_a_terminal_fold_rather_than_cut(office: Path, columns: int) -> None:
    """Wide enough, the names are whole on their rows; too narrow, they fold onto more lines."""
    shown = _in_terminal(office, columns, "submissions", "--policy", POLICY, "--period", "2023-02")
    rows = _row_lines(shown.replace("\r\n", "\n"))
    assert rows and not any("…" in row for row in rows), shown
    assert all(cell_len(row) <= columns for row in rows), shown
    if columns == 160:
        assert all(any(f"│ {name} " in row for row in rows) for name in UNITS.values()), shown
