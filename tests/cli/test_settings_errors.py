"""A wrong setting is one Chinese line naming the variable and the problem, exit code 2 (issue 17
§4): no traceback, no pydantic ``input_value`` echo, never a password, whatever the command.

Each case is what an office's administrator might set by mistake; the secrets in them are
canaries that must not be printed back.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.helpers import free_port, invoke_cli, run_cli

SECRET = f"canary{secrets.token_hex(8)}"
NUMBER = secrets.randbelow(10**12) + 10**12  # a password as a JSON number


CASES: list[tuple[str, dict[str, str], str]] = [
    ("smtp-port-text", {"TASKFORCE_SMTP_PORT": "abc"},
     "设置有误：TASKFORCE_SMTP_PORT 应为整数（当前为 'abc'）"),
    ("smtp-concurrency-zero", {"TASKFORCE_SMTP_CONCURRENCY": "0"},
     "设置有误：TASKFORCE_SMTP_CONCURRENCY 应不小于1（当前为 '0'）"),
    ("ssl-and-starttls", {"TASKFORCE_SMTP_SSL": "true", "TASKFORCE_SMTP_STARTTLS": "true",
                          "TASKFORCE_SMTP_PASSWORD": SECRET},
     "设置有误：TASKFORCE_SMTP_SSL 与 TASKFORCE_SMTP_STARTTLS 不能同时为 true"
     "（端口465用 SSL，端口587用 STARTTLS）"),
    ("ssl-not-a-boolean", {"TASKFORCE_SMTP_SSL": "yes please"},
     "设置有误：TASKFORCE_SMTP_SSL 应为 true 或 false（当前为 'yes please'）"),
    ("intake-source", {"TASKFORCE_INTAKE_SOURCE": "pop3"},
     "设置有误：TASKFORCE_INTAKE_SOURCE 应为 'maildir'、'imap' 之一（当前为 'pop3'）"),
    # A port that is not a number: SQLAlchemy cannot parse the URL (it would echo all of it).
    ("database-url-malformed",
     {"TASKFORCE_DATABASE_URL": f"postgresql+psycopg://office:{SECRET}@db.example:port/tf"},
     "设置有误：TASKFORCE_DATABASE_URL：不是有效的数据库地址"
     "（应如 postgresql+psycopg://用户名:密码@主机:5432/库名 或 sqlite:///路径）"),
    ("database-url-unknown-kind",
     {"TASKFORCE_DATABASE_URL": f"oracle+nodriver://office:{SECRET}@db.example/tf"},
     "设置有误：TASKFORCE_DATABASE_URL：数据库类型 oracle+nodriver 不受支持或其驱动未安装"
     "（应如 postgresql+psycopg://用户名:密码@主机:5432/库名 或 sqlite:///路径）"),
    # A whole group as JSON: the password in it is never shown, the wrong port is named.
    ("imap-group-json", {"TASKFORCE_IMAP": f'{{"password": "{SECRET}", "port": "imap"}}'},
     "设置有误：TASKFORCE_IMAP_PORT 应为整数（当前为 'imap'）"),
    # A password of the wrong type: named, its value never shown.
    ("password-not-text", {"TASKFORCE_IMAP": f'{{"password": {NUMBER}}}'},
     "设置有误：TASKFORCE_IMAP_PASSWORD 应为文本"),
    ("smtp-group-a-string", {"TASKFORCE_SMTP": f'"{SECRET}"'},
     "设置有误：TASKFORCE_SMTP 应为 JSON 对象"),
    ("smtp-group-not-json", {"TASKFORCE_SMTP": f'{{"password": "{SECRET}", '},
     "设置有误：TASKFORCE_SMTP 应为 JSON"),
]  # fmt: skip


def single_error_line(result_stderr: str) -> str:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result_stderr
    return lines[0]


def assert_clean(stdout: str, stderr: str) -> None:
    for text in (stdout, stderr):
        assert SECRET not in text and str(NUMBER) not in text
        assert "Traceback" not in text and "input_value" not in text and "pydantic" not in text


@pytest.mark.parametrize(("env", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attack_a_wrong_setting_is_one_line_without_secrets(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = invoke_cli(tmp_path, "db", "init", env=env)

    assert result.returncode == 2, result.stderr
    assert single_error_line(result.stderr) == f"错误：{expected}"
    assert result.stdout == ""
    assert_clean(result.stdout, result.stderr)
    assert not (tmp_path / "var").exists()  # refused before anything was written


def test_a_flow_command_refuses_a_wrong_setting_before_prefect_starts(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "remind", "--policy", "lingchuan-2023",
                     env={"TASKFORCE_SMTP_PORT": "2x"})  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert single_error_line(result.stderr) == (
        "错误：设置有误：TASKFORCE_SMTP_PORT 应为整数（当前为 '2x'）"
    )
    assert_clean(result.stdout, result.stderr)


def test_attack_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    """PostgreSQL on a port nobody listens on: the real process, its real exit status."""
    port = free_port()
    url = f"postgresql+psycopg://office:{SECRET}@127.0.0.1:{port}/taskforce"

    result = run_cli(tmp_path, "db", "init", env={"TASKFORCE_DATABASE_URL": url})

    assert result.returncode == 2, result.stderr
    line = single_error_line(result.stderr)
    assert line.startswith(
        f"错误：数据库 postgresql+psycopg://office:***@127.0.0.1:{port}/taskforce 无法使用："
    ), line
    assert line.endswith("（请检查 TASKFORCE_DATABASE_URL 与数据库服务是否运行）")
    assert "Connection refused" in line  # the driver's own reason, its first line only
    assert_clean(result.stdout, result.stderr)


def test_db_init_shows_the_url_without_its_password(tmp_path: Path) -> None:
    """On PostgreSQL when the test server is given (a role with a password is not needed: the
    URL's password is what must not be printed); on SQLite a URL has none to hide."""
    admin = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL not set: PostgreSQL run not requested")
    from sqlalchemy.engine import make_url

    url = make_url(admin).set(password=SECRET)  # the test server trusts loopback

    result = invoke_cli(tmp_path, "db", "init",
                        env={"TASKFORCE_DATABASE_URL": url.render_as_string(False)})  # fmt: skip

    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]  # then the form key's line
    assert first == f"数据库已就绪：{url.render_as_string(hide_password=True)}"
    assert "***" in result.stdout
    assert_clean(result.stdout, result.stderr)


def test_an_unusable_data_directory_is_named(tmp_path: Path) -> None:
    """TASKFORCE_VAR_DIR beneath a file: not creatable, whoever runs the command (root too)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    var = blocker / "var"

    result = invoke_cli(tmp_path, "db", "init", env={"TASKFORCE_VAR_DIR": str(var)})

    assert result.returncode == 2, result.stderr
    assert single_error_line(result.stderr) == (
        f"错误：设置有误：TASKFORCE_VAR_DIR（数据目录 {var}）其中 {blocker} 不是目录"
    )
    assert_clean(result.stdout, result.stderr)


def test_a_data_directory_without_write_permission_is_named(tmp_path: Path) -> None:
    """A directory without write permission; for root, who may write anywhere that permissions
    govern, /proc, which refuses a new entry to everyone."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    var = Path("/proc/taskforce-var") if os.geteuid() == 0 else locked / "v"
    try:
        result = invoke_cli(tmp_path, "db", "init", env={"TASKFORCE_VAR_DIR": str(var)})
    finally:
        locked.chmod(0o755)

    assert result.returncode == 2, result.stderr
    assert single_error_line(result.stderr) == (
        f"错误：设置有误：TASKFORCE_VAR_DIR（数据目录 {var}）"
        "无法写入（没有写权限，或位于只读文件系统）"
    )
