"""The project's own log lines are Chinese (issue 20 §2): the office reads the run logs in the
Prefect UI, and the log file under the data directory.

One flow run through Prefect, its run-log records read back as caplog captures them; and every
log call in flows/ and tasks/ checked for a Chinese message, so that a new English one fails here.
"""

from __future__ import annotations

import ast
import logging
import re
from datetime import date
from pathlib import Path

import pytest

from config.settings import Settings, use_settings
from flows.reminders import reminders_flow
from tests.helpers import at, load_seeds

ROOT = Path(__file__).resolve().parents[2]
CHINESE = re.compile(r"[\u4e00-\u9fff]")
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


async def test_a_reminder_runs_log_is_chinese(
    prefect_server: None, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    load_seeds(settings, "lingchuan-2023")
    caplog.set_level(logging.INFO)

    with use_settings(settings):  # mail server down (conftest): the mails wait
        result = await reminders_flow("lingchuan-2023", at(date(2023, 1, 17), 9))

    queued = result["queued"]
    ours = [
        r.getMessage()
        for r in caplog.records
        if r.name in ("prefect.task_runs", "prefect.flow_runs")
        and r.getMessage().startswith("lingchuan-2023：")
    ]
    # The task's count line and the delivery's outcome, both as the office reads them in the UI.
    assert ours[0] == f"lingchuan-2023：新入箱 {queued}，此前已入箱 0，跳过 0"
    assert ours[1].endswith(f"邮件：已发送 0，失败 0，待发送 {queued}（邮件服务器无法连接）")
    # The SMTP stop, logged by the sending code, counts the mail that stopped it too.
    [stop] = [r.getMessage() for r in caplog.records if r.name == "tasks.mail.smtp"
              and r.levelno == logging.ERROR]  # fmt: skip
    assert f"无法使用（邮件服务器无法连接），{queued} 封邮件仍待发送" in stop


def _log_calls() -> list[tuple[str, int, ast.expr]]:
    """(file, line, first argument) of every logger.<level>(...) call in flows/ and tasks/."""
    calls = []
    for path in sorted([*ROOT.glob("flows/**/*.py"), *ROOT.glob("tasks/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LEVELS
                and node.args
                and "log" in ast.unparse(node.func.value).lower()
            ):
                calls.append((str(path.relative_to(ROOT)), node.lineno, node.args[0]))
    return calls


def test_every_log_message_of_ours_is_chinese() -> None:
    calls = _log_calls()
    assert len(calls) > 40  # the walk found them (48 when written)
    english = [
        f"{file}:{line}: {ast.unparse(message)}"
        for file, line, message in calls
        if not (isinstance(message, ast.Constant) and CHINESE.search(str(message.value)))
        # "%s：%s" with Chinese arguments: the run's mail lines, a tick's reason
        and not (isinstance(message, ast.Constant) and "：" in str(message.value))
    ]
    assert english == []
