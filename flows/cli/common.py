"""What the command modules share: the console, settings, the Prefect server, JSON output, and
the options several commands declare.

Each option is declared once here. Where commands give the same flag a different help text or
make it required or optional, each variant is its own alias, named after what it does.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.text import Text

from config.errors import SettingsError, TaskforceError
from config.settings import CONFIG_DIR, Settings, read_settings
from tasks.text import clean_line

# Rich falls back to 80 columns when piped; Chinese tables need more to stay readable.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)

# A flow command's exit status when mail it had to send is still pending after its retries (the
# server down, a wrong setting): the summary says so, and a cron wrapper notices.
MAIL_PENDING_EXIT = 3

# Prefect's logging for the commands (config/logging.yml): its lines go to a file under the data
# directory and to the run's log in the UI, not to the console; --verbose adds the console.
LOGGING_CONFIG = CONFIG_DIR / "logging.yml"


def log_file(settings: Settings) -> Path:
    """Where Prefect's log lines (and the project's own) of the commands go, rotated."""
    return (settings.var_dir / "logs" / "taskforce.log").absolute()


def prefect_environment(*, verbose: bool) -> None:
    """Set Prefect's home, analytics and logging for this process and the servers it starts.

    Called before Prefect is imported (its settings and logging are read once, at import).
    Whatever the user set in the environment wins: PREFECT_HOME, the analytics switches, a
    logging config of their own. A bad TASKFORCE_ setting is left to the command to report.
    """
    try:
        settings = read_settings()
    except SettingsError:
        return
    home = (settings.var_dir / "prefect").absolute()
    defaults = {
        "PREFECT_HOME": str(home),  # not ~/.prefect: the data directory holds everything
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no "Failed to send telemetry" offline
        "DO_NOT_TRACK": "1",  # the client's own analytics
        "PREFECT_LOGGING_SETTINGS_PATH": str(LOGGING_CONFIG),
        "PREFECT_LOGGING_HANDLERS_FILE_FILENAME": str(log_file(settings)),
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    if verbose and os.environ["PREFECT_LOGGING_SETTINGS_PATH"] == str(LOGGING_CONFIG):
        # Only ours has the file handler; a config of the user's own decides for itself.
        os.environ["PREFECT_LOGGING_ROOT_HANDLERS"] = "console,file"


def showing_prefect_lines() -> bool:
    """Whether --verbose asked for Prefect's log lines on the console."""
    return "console" in os.environ.get("PREFECT_LOGGING_ROOT_HANDLERS", "")


@contextmanager
def progress(label: str) -> Iterator[None]:
    """A spinner with the elapsed time on the terminal while a flow runs (Prefect's temporary
    server alone takes 7–14 s); nothing when piped, or with --verbose, whose log lines would
    tear through it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, highlight=False)
    if not console.is_terminal or showing_prefect_lines():
        yield
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(label, total=None)
        yield


def end_with_mail(lines: Sequence[str], pending: int) -> None:
    """Print a flow command's mail lines; exit with MAIL_PENDING_EXIT when mail still waits."""
    print_mail(lines)
    if pending:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"{pending} 封邮件仍待发送，命令以退出码 {MAIL_PENDING_EXIT} 结束"
            "（问题解决后再次运行本命令即可发出）。",
            style="yellow",
        )
        raise typer.Exit(MAIL_PENDING_EXIT)


def outside(value: object) -> Text:
    """Text that came from a mail, a file or a server, for a table cell or a line: never read as
    Rich markup ([bold red]…), and without the controls (ESC, OSC 8) a terminal would obey."""
    return Text(clean_line(str(value)))


def load_settings() -> Settings:
    """The settings from the environment, read afresh (each command reads them once).

    A wrong value, or a data directory that cannot be written, is a :class:`SettingsError`: one
    line naming the variable, exit code 2, before anything is written or Prefect starts.
    """
    settings = read_settings()
    check_data_dir(settings.var_dir)
    return settings


def check_data_dir(path: Path) -> None:
    """Refuse a data directory that cannot be created or written; leave nothing behind.

    The nearest part of the path that exists must be a directory this process can make an
    entry in: access(2) first, then a real try (root passes access(2) everywhere, /proc and
    other special file systems refuse it all the same).
    """
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problem = f"其中 {existing} 不是目录" if existing != path.absolute() else "不是目录"
    elif not os.access(existing, os.W_OK | os.X_OK) or not _can_create_in(existing):
        problem = "无法写入（没有写权限，或位于只读文件系统）"
    else:
        return
    raise SettingsError(f"设置有误：TASKFORCE_VAR_DIR（数据目录 {path}）{problem}")


def _can_create_in(directory: Path) -> bool:
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".taskforce-probe-", dir=directory))
    except OSError:
        return False
    return True


def database_problem(exc: BaseException) -> str | None:
    """The one line for a database that cannot be used (server down, login refused, file not
    openable), or None when ``exc`` is something else.

    A DB-API OperationalError is by definition about the database's operation, not the
    program: a user's to fix. The URL is shown without its password, and the driver's first
    line (libpq's, sqlite3's) has any occurrence of the password cut out too.
    """
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    from sqlalchemy.engine import make_url

    url = make_url(read_settings().effective_database_url)
    lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
    detail = lines[0].strip()
    if url.password:
        detail = detail.replace(str(url.password), "***")
    return (
        f"数据库 {url.render_as_string(hide_password=True)} 无法使用：{detail}"
        "（请检查 TASKFORCE_DATABASE_URL 与数据库服务是否运行）"
    )


class _NoUserErrorTraceback(logging.Filter):
    """Drops the traceback of a TaskforceError from a record the terminal shows. Prefect's API
    handler (on the run loggers, before the root's console handler) has already sent the record,
    traceback included, to the run's log in the UI."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], TaskforceError):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_user_error_tracebacks() -> None:
    """A flow that fails on a user's or an outside server's error (the IMAP server down) ends
    the command with one line, not Prefect's traceback on the terminal; call after importing
    Prefect, which sets up its console handler then."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _NoUserErrorTraceback) for f in handler.filters
        ):
            handler.addFilter(_NoUserErrorTraceback())


def prefect_server(settings: Settings) -> None:
    """Use the server `taskforce up` started; without one, say once that the temporary server
    (about 10 s to start, per command) is used."""
    from flows.cli.services import run_dir, use_running_server

    log_file(settings).parent.mkdir(parents=True, exist_ok=True)
    if use_running_server(settings):
        return
    marker = run_dir(settings) / "temporary-server-noted"
    if not marker.exists():
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            "提示：未运行 taskforce up，本命令使用 Prefect 临时服务器（每次启动约7–14秒）；"
            "先运行 taskforce up 可加快各命令。"
        )
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


class JsonRow(BaseModel):
    """One row of a command's ``--json`` output; the fields, in order, are the row's keys.

    Strict and closed: a row built elsewhere (a dict from models/ or tasks/) that gains, loses
    or changes the type of a key fails here instead of changing the documented output quietly.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def print_mail(lines: Sequence[str]) -> None:
    """A flow command's closing lines about its mail (tasks.mail.failures.mail_lines), verbatim:
    a server's reply such as "[Errno 111]" is not Rich markup."""
    for line in lines:
        out.print(line, markup=False, style="yellow" if line.startswith("邮件发送已停止") else None)


def print_json(data: Sequence[JsonRow] | Mapping[str, Any]) -> None:
    """Rows (or a document already shaped as JSON), indented, non-ASCII kept as is."""
    payload = dict(data) if isinstance(data, Mapping) else [row.model_dump() for row in data]
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


# --policy
PolicyOption = Annotated[str, typer.Option("--policy", help="政策代码")]
OptionalPolicyOption = Annotated[str | None, typer.Option("--policy", help="政策代码")]
ReplayPolicyOption = Annotated[str | None, typer.Option("--policy", help="只重放该政策的")]

ServePoliciesOption = Annotated[
    list[str] | None,
    typer.Option("--policy", help="只覆盖该政策（可重复；默认当日处于执行期的全部政策）"),
]

# --json
JsonOption = Annotated[bool, typer.Option("--json", help="输出 JSON（供脚本使用）")]

# --as-of: a moment in Beijing time (tasks.calendar.parse_as_of); repeatable where a command
# runs once per moment given.
RemindAsOfOption = Annotated[
    list[str] | None,
    typer.Option("--as-of", help="按该时刻计算（默认现在，北京时间）；可重复，依次运行"),
]
EscalateAsOfOption = Annotated[
    list[str] | None,
    typer.Option("--as-of", help="按该时刻运行（默认现在，北京时间）；可重复，依次运行"),
]
ConsolidateAsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="按该时刻汇总（默认现在，北京时间）")
]
CasesAsOfOption = Annotated[str | None, typer.Option("--as-of", help="按该日判断是否超时")]

# 督办 case decisions
CaseIds = Annotated[list[int], typer.Argument(help="督办事项编号（可多个）", metavar="督办编号")]
AtOption = Annotated[
    str | None, typer.Option("--at", help="记录的办理时刻（默认现在；补录或回放时使用）")
]
