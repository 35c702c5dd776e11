"""`taskforce up` starts a Prefect server and the mail catcher; commands then use them; `down`
stops both. Real processes, real ports."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx

from tests.helpers import POLICY_FILES, free_port, taskforce

POLICY_FILE = POLICY_FILES["lingchuan-2023"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_serves_the_commands_and_down_stops_it(tmp_path: Path) -> None:
    smtp_port, api_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "PREFECT_"))},
        "TASKFORCE_VAR_DIR": str(tmp_path / "var"),
        "TASKFORCE_SMTP_PORT": str(smtp_port),
        "TASKFORCE_MAILCATCHER_PORT": str(smtp_port),
        "TASKFORCE_MAILCATCHER_DIRECTORY": str(tmp_path / "var" / "mail"),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    assert taskforce(env, "policy", "load", str(POLICY_FILE)).returncode == 0
    started = taskforce(env, "up", "--port", str(api_port))
    assert started.returncode == 0, started.stderr
    state = json.loads((tmp_path / "var" / "run" / "services.json").read_text())
    try:
        assert state["api_url"] == f"http://127.0.0.1:{api_port}/api"
        assert alive(state["server_pid"]) and alive(state["catcher_pid"])
        assert taskforce(env, "up", "--port", str(api_port)).returncode == 0  # already up: same

        remind = taskforce(env, "remind", "--policy", "lingchuan-2023",
                           "--as-of", "2023-01-12T09:00")  # fmt: skip
        assert remind.returncode == 0, remind.stderr
        assert "临时服务器" not in remind.stderr
        assert "新入发件箱 82" in remind.stdout  # through the catcher `up` started
        assert "邮件：已发送 82，失败 0，待发送 0" in remind.stdout
        runs = httpx.post(f"{state['api_url']}/flow_runs/filter", json={}, timeout=10).json()
        assert {r["state_type"] for r in runs} == {"COMPLETED"} and len(runs) == 1  # `reminders`
        assert len(list((tmp_path / "var" / "mail").glob("*.eml"))) == 82
    finally:
        stopped = taskforce(env, "down")
    assert stopped.returncode == 0 and "已停止" in stopped.stdout
    assert not alive(state["server_pid"]) and not alive(state["catcher_pid"])
    assert not (tmp_path / "var" / "run" / "services.json").exists()

    # Nothing up: the temporary server is used, and the CLI says so once.
    first = taskforce(env, "remind", "--policy", "lingchuan-2023", "--as-of", "2023-01-13T09:00")
    second = taskforce(env, "remind", "--policy", "lingchuan-2023", "--as-of", "2023-01-14T09:00")
    assert first.returncode == 0 and second.returncode == 0
    assert "临时服务器" in first.stderr and "临时服务器" not in second.stderr


def test_a_busy_port_is_a_user_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "TASKFORCE_VAR_DIR": str(tmp_path / "var")}
        result = taskforce(env, "up", "--port", str(port))
    assert result.returncode == 2
    assert f"端口 {port} 已被占用" in result.stderr and "Traceback" not in result.stderr
