"""A flow command's console is the command's own Chinese summary (issue 20 §2): Prefect's English
INFO lines, its documentation links and the temporary server's "Failed to send telemetry" go to
the log file under the data directory, not the terminal; Prefect keeps its data there too, not in
~/.prefect. ``--verbose`` brings Prefect's lines back to the console.

Run as a user runs it, in a process of its own, with a fresh HOME and none of the PREFECT_
variables the Makefile exports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings
from flows.cli.common import prefect_environment
from tests.helpers import free_port, load_seeds

POLICY = "lingchuan-2023"
# What Prefect prints on the console of a flow run, in English: none of it may reach the office.
PREFECT_LINES = ("Beginning flow run", "Finished in state", "View at", "prefect.io", "INFO")


def taskforce_outside_make(
    tmp_path: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``python -m flows.cli ARGS`` with HOME under tmp_path and no PREFECT_ setting of ours."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TASKFORCE_", "PREFECT_")) and name != "DO_NOT_TRACK"
    }
    env |= {
        "HOME": str(tmp_path / "home"),
        "TASKFORCE_VAR_DIR": str(tmp_path / "var"),
        # The mail server is down, retried at once: the run is short and leaves mail pending.
        "TASKFORCE_SMTP_PORT": str(free_port()),
        "TASKFORCE_SMTP_BACKOFF_SECONDS": "0.01",
        **extra,
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip


def test_a_flow_command_prints_only_its_chinese_summary(tmp_path: Path) -> None:
    load_seeds(Settings(var_dir=tmp_path / "var"), POLICY)

    # Prefect's temporary server: the path a command takes without `taskforce up`.
    result = taskforce_outside_make(
        tmp_path, "remind", "--policy", POLICY, "--as-of", "2023-01-17T09:00"
    )

    assert result.returncode == 3, result.stderr  # the reminders wait for the mail server
    assert result.stdout.splitlines()[0].startswith("2023-01-17 09:00 报送提醒：新入发件箱 ")
    console = result.stdout + result.stderr
    for english in (*PREFECT_LINES, "telemetry", "Traceback", "tasks.mail"):
        assert english not in console, console
    assert result.stderr.splitlines()[-1].endswith(
        "命令以退出码 3 结束（问题解决后再次运行本命令即可发出）。"
    )
    # Prefect's data is under the data directory; the user's home is untouched.
    assert not (tmp_path / "home" / ".prefect").exists()
    assert (tmp_path / "var" / "prefect" / "prefect.db").is_file()
    log = (tmp_path / "var" / "logs" / "taskforce.log").read_text(encoding="utf-8")
    for line in ("Starting temporary server", "Beginning flow run", "Finished in state"):
        assert line in log
    assert "telemetry" not in log  # analytics off: nothing tried to send any


def test_verbose_shows_prefects_lines(tmp_path: Path, prefect_server: None) -> None:
    from prefect.settings import PREFECT_API_URL

    load_seeds(Settings(var_dir=tmp_path / "var"), POLICY)

    # On the session's server, as on the one `taskforce up` starts: no temporary server here.
    result = taskforce_outside_make(
        tmp_path, "--verbose", "remind", "--policy", POLICY, "--as-of", "2023-01-17T09:00",
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
    )  # fmt: skip

    assert result.returncode == 3, result.stderr
    assert "Beginning flow run" in result.stderr and "Finished in state" in result.stderr
    log = (tmp_path / "var" / "logs" / "taskforce.log").read_text(encoding="utf-8")
    assert "Beginning flow run" in log  # the file still has them
    assert not (tmp_path / "home" / ".prefect").exists()


NAMES = (
    "PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK",
    "PREFECT_LOGGING_SETTINGS_PATH", "PREFECT_LOGGING_HANDLERS_FILE_FILENAME",
    "PREFECT_LOGGING_ROOT_HANDLERS",
)  # fmt: skip


@pytest.fixture
def no_prefect_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)  # and restored after the test
    monkeypatch.setenv("TASKFORCE_VAR_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def test_the_data_directory_holds_prefects_home_and_log(no_prefect_environment: Path) -> None:
    prefect_environment(verbose=False)

    var = no_prefect_environment.absolute()
    assert os.environ["PREFECT_HOME"] == str(var / "prefect")
    assert os.environ["PREFECT_LOGGING_HANDLERS_FILE_FILENAME"] == str(
        var / "logs" / "taskforce.log"
    )
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "1"
    assert "PREFECT_LOGGING_ROOT_HANDLERS" not in os.environ  # the console gets none


def test_what_the_user_set_wins(
    no_prefect_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "their-prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")

    prefect_environment(verbose=True)

    assert os.environ["PREFECT_HOME"] == str(tmp_path / "their-prefect")
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert os.environ["PREFECT_LOGGING_ROOT_HANDLERS"] == "console,file"


def test_a_logging_config_of_the_users_own_is_left_alone(
    no_prefect_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    theirs = tmp_path / "logging.yml"
    monkeypatch.setenv("PREFECT_LOGGING_SETTINGS_PATH", str(theirs))

    prefect_environment(verbose=True)

    assert os.environ["PREFECT_LOGGING_SETTINGS_PATH"] == str(theirs)
    # Their config has no "file" handler to name: --verbose changes nothing in it.
    assert "PREFECT_LOGGING_ROOT_HANDLERS" not in os.environ
