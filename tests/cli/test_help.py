"""The command line speaks Chinese, whole: every command's help, its options' help and typer's
frame around them (flows/cli/frame.py), and the usage errors a user meets at the keyboard.

English left in the output is found two ways: the frame words typer writes (Usage, Options, …),
and any Latin-letter word that is not ours to keep: an option or command name, a word of our own
help texts (Prefect, SMTP, JSON…) or a default value. A typer upgrade that adds or moves a string
frame.py replaces fails here, naming the command and the word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from flows.cli import app
from tests.helpers import invoke_cli, run_cli

FRAME_WORDS = [
    "Usage",
    "Options",
    "OPTIONS",
    "Commands",
    "COMMAND",
    "Arguments",
    "ARGS",
    "Show this message",
    "required",
    "default:",
    "Error",
    "Try",
    "Missing",
    "Invalid",
    "No such",
    "Did you mean",
    "Aborted",
]
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")


def _commands() -> Iterator[tuple[list[str], typer.core.TyperCommand | typer.core.TyperGroup]]:
    """Every command and group of ``taskforce`` with the words that invoke it (root: [])."""

    def walk(command: object, path: list[str]) -> Iterator[tuple[list[str], object]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])  # type: ignore[misc]


COMMANDS = list(_commands())


def _ours() -> set[str]:
    """The Latin-letter words the CLI's own texts and names may show: what we wrote."""
    # The program's name in the usage line: taskforce, or python -m flows.cli / pytest.
    words = {"taskforce", "python", "flows", "cli", "pytest", "help"}  # and --help, -h
    for path, command in COMMANDS:
        words.update(LATIN_WORD.findall(" ".join(path)))
        words.update(LATIN_WORD.findall(command.help or ""))
        for param in command.params:
            words.update(LATIN_WORD.findall(" ".join([*param.opts, *param.secondary_opts])))
            words.update(LATIN_WORD.findall(getattr(param, "help", None) or ""))
            words.update(LATIN_WORD.findall(str(param.default)))
    return words


OURS = _ours()


def english_left(text: str, typed: list[str] = []) -> list[str]:  # noqa: B006 (read only)
    """The frame words and the Latin-letter words in ``text`` neither ours nor ``typed`` by the
    user (a mistyped command said back).

    A word of ours may be folded at the end of a line (汇总（Prefec|t 部署): Chinese around it
    leaves rich no space to wrap at), so its two pieces are ours too.
    """
    found = [word for word in FRAME_WORDS if word in text]
    found += sorted(
        {
            word
            for word in LATIN_WORD.findall(text)
            if word not in LATIN_WORD.findall(" ".join(typed))
            and not any(ours.startswith(word) or ours.endswith(word) for ours in OURS)
        }
    )
    return found


def test_every_command_and_option_has_help() -> None:
    for path, command in COMMANDS:
        name = " ".join(["taskforce", *path])
        assert (command.help or "").strip(), f"{name}: no help"
        for param in command.params:
            assert (getattr(param, "help", None) or "").strip(), f"{name} {param.name}: no help"


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=" ".join)
def test_help_is_chinese_and_whole(tmp_path: Path, path: list[str]) -> None:
    result = invoke_cli(tmp_path, *path, "--help")
    assert result.returncode == 0, result.stderr
    assert "用法：" in result.stdout
    assert "╭─ 选项 ─" in result.stdout and "显示本说明后退出。" in result.stdout
    assert english_left(result.stdout) == [], result.stdout
    # Rich cuts a line of Chinese (no spaces to wrap at) with an ellipsis unless told to fold.
    assert "…" not in result.stdout, result.stdout


def test_groups_list_their_commands_under_a_chinese_title(tmp_path: Path) -> None:
    result = invoke_cli(tmp_path, "cases", "-h")
    assert result.returncode == 0, result.stderr
    assert " cases [选项] 命令 [参数]..." in result.stdout
    assert "╭─ 命令 ─" in result.stdout and "│ extend " in result.stdout
    extend = invoke_cli(tmp_path, "cases", "extend", "--help").stdout
    assert "╭─ 参数 ─" in extend and "{督办编号}..." in extend
    assert "--days" in extend and "<整数>" in extend and "[必填]" in extend
    accept = invoke_cli(tmp_path, "review", "accept", "--help").stdout
    assert "[默认：办公室]" in accept


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["sumbit"], "没有 sumbit 这个命令。是否要用 submit？"),
        (["cases", "extend", "--days", "3", "--reason", "因故"], "缺少参数 督办编号"),
        (["calendar"], "缺少选项 --policy：政策代码。"),
        (
            ["cases", "extend", "7", "--days", "三天", "--reason", "因故"],
            "--days：“三天”应为整数。",
        ),
        (["escalate", "--policy", "p", "--wait-approval", "-5"], "“-5”不得小于 0。"),
        (["calendar", "--polcy", "p"], "没有 --polcy 这个选项。是否要用 --policy？"),
        (["calendar", "--policy"], "选项 --policy 后面要跟一个值。"),
        (["policy", "list", "多余"], "多余的参数：多余。"),
        (["review", "accept", "x"], "报送编号：“x”应为整数。"),
    ],
    ids=lambda value: value if isinstance(value, str) else " ".join(value),
)
def test_usage_errors_are_chinese_and_exit_2(tmp_path: Path, args: list[str], said: str) -> None:
    result = invoke_cli(tmp_path, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert said in result.stderr, result.stderr
    assert "╭─ 错误 ─" in result.stderr
    assert english_left(result.stderr, args) == [], result.stderr
    assert "Traceback" not in result.stderr


def test_the_installed_command_speaks_chinese(tmp_path: Path) -> None:
    """The entry point as a user runs it, in its own process (frame.install runs at import)."""
    help_ = run_cli(tmp_path, "--help")
    assert help_.returncode == 0, help_.stderr
    assert "用法：" in help_.stdout and english_left(help_.stdout) == [], help_.stdout
    wrong = run_cli(tmp_path, "outbox", "cancel", "--policy", "p")
    assert wrong.returncode == 2
    assert "缺少参数 邮件编号" in wrong.stderr and english_left(wrong.stderr) == [], wrong.stderr


@pytest.mark.parametrize("command", ["remind", "intake", "consolidate", "escalate"])
def test_flow_commands_name_exit_code_3_in_their_help(tmp_path: Path, command: str) -> None:
    """A cron wrapper's author reads --help, not the README: pending mail exits 3."""
    shown = invoke_cli(tmp_path, command, "--help").stdout
    joined = "".join(line.strip() for line in shown.splitlines()).replace(" ", "")
    assert "仍待发送（如邮件服务器无法连接）时，命令以退出码3结束。" in joined, shown


def test_a_docstring_line_break_does_not_split_a_chinese_sentence(tmp_path: Path) -> None:
    """The source wraps long docstrings; the reader's terminal wraps the help on its own."""
    consolidate = invoke_cli(tmp_path, "consolidate", "--help").stdout
    lines = [line.strip() for line in consolidate.splitlines()]
    assert "逾期和未报月份" in "".join(lines)  # broken by the 80-column terminal only, if at all
    assert not any(line.endswith("逾期和") for line in lines), consolidate


def test_help_lines_break_between_chinese_characters_not_inside_words(tmp_path: Path) -> None:
    """Rich wraps at spaces only: Chinese around an option name broke at the option, leaving
    （须 at a line's end, and a Latin word it had to fold was cut in two (Prefec|t)."""
    shown = invoke_cli(tmp_path, "--help").stdout  # 80 columns, as piped
    lines = [line.strip(" │") for line in shown.splitlines()]
    assert any(line.endswith("（须 --policy），") for line in lines), shown
    assert "Prefect" in shown and not any(line.endswith("Prefec") for line in lines), shown
    assert not any(line.startswith(("，", "。", "）", "；")) for line in lines), shown
