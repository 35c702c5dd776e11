"""The README's commands, as a newcomer pastes them into a shell at the root of the checkout.

A fenced block whose info string is ``bash runnable`` is run here, command by command, in bash
with ``.venv/bin`` first on the PATH (what ``source .venv/bin/activate`` does) and the data
directory, Prefect's home and the mail catcher's folder under the test's temp directory, on a
database holding the two seed policies (as after ``make demo``). Each command must exit 0, or the
code its line documents with a trailing ``# exit N``, and print no traceback. Mark only commands
that are quick and write nothing outside those directories: no flow runs, no ``make``.

Every ``taskforce …`` line of every shell block, and every inline ``taskforce …`` span, is also
checked against the command tree: its subcommands and ``--options`` must exist.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from config.settings import Settings
from tests.helpers import ROOT, load_seeds

README = ROOT / "README.md"
RUNNABLE = "bash runnable"
SHELL_INFOS = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(?<!`)`(taskforce [^`\n]+)`(?!`)")
EXPECTED_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SUBCOMMAND = re.compile(r"^\[?[a-z][a-z-]*(\|[a-z][a-z-]*)*\]?$")
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string, the README line of its first body line, its text."""

    info: str
    line: int
    body: str


@dataclass(frozen=True)
class Command:
    """One shell command of a block (continuation lines joined), with the exit code it expects."""

    line: int
    text: str
    expected_exit: int


def code_blocks(markdown: str) -> list[Block]:
    """Every fenced block of a markdown text, in order."""
    return [
        Block(
            m.group("info").strip(),
            markdown.count("\n", 0, m.start("body")) + 1,
            m.group("body"),
        )
        for m in FENCE.finditer(markdown)
    ]


def commands(block: Block) -> list[Command]:
    """The block's commands: blank and comment lines dropped, backslash continuations joined."""
    found: list[Command] = []
    pending: list[str] = []
    start = block.line
    for offset, raw in enumerate(block.body.splitlines()):
        if not pending:
            start = block.line + offset
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
        if raw.endswith("\\"):
            pending.append(raw[:-1])
            continue
        text = " ".join([*pending, raw]).strip()
        pending = []
        expected = EXPECTED_EXIT.search(text)
        found.append(Command(start, text, int(expected.group(1)) if expected else 0))
    return found


def runnable_commands(markdown: str) -> list[Command]:
    """The commands of the blocks marked ``bash runnable``, in README order."""
    return [c for b in code_blocks(markdown) if b.info == RUNNABLE for c in commands(b)]


def shell_environment(tmp_path: Path, database_url: str | None) -> dict[str, str]:
    """A fresh shell's environment after ``source .venv/bin/activate``, its state under tmp_path.

    No ``TASKFORCE_`` or ``PREFECT_`` variable of the developer's shell (or of a Prefect test
    harness) leaks in; PYTHONPATH is kept, so a worktree runs its own code.
    """
    bin_dir = Path(sys.executable).parent
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "PREFECT_"))
    }
    environment.update(
        PATH=f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}",
        VIRTUAL_ENV=str(bin_dir.parent),
        TASKFORCE_VAR_DIR=str(tmp_path / "var"),
        TASKFORCE_MAILCATCHER_DIRECTORY=str(tmp_path / "mail"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    if database_url:
        environment["TASKFORCE_DATABASE_URL"] = database_url
    return environment


def run_commands(found: list[Command], environment: dict[str, str]) -> list[str]:
    """Run each command in bash at the checkout's root; one line per command that went wrong."""
    problems: list[str] = []
    for command in found:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command.text],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = result.stdout + result.stderr
        where = f"README.md:{command.line}: {command.text}"
        if result.returncode != command.expected_exit:
            problems.append(
                f"{where}: exit {result.returncode}, expected {command.expected_exit}\n"
                f"{output[-1500:]}"
            )
        elif TRACEBACK in output:
            problems.append(f"{where}: printed a traceback\n{output[-1500:]}")
    return problems


def _command_tree() -> Any:
    """``taskforce``'s command tree (typer's click objects: groups have ``commands``)."""
    from flows.cli import app

    return typer.main.get_command(app)


def check_taskforce_line(line: str, root: Any) -> str | None:
    """Why a ``taskforce …`` line names a command or option that does not exist, else None.

    Synopsis notation is understood: ``[…]`` optional parts, ``a|b`` alternatives (the options
    that follow must belong to each), ``…`` repetition, a trailing ``# comment``.
    """
    words = line.split(" #", 1)[0].split()[1:]
    path = ["taskforce"]
    chosen = [root]
    while words and hasattr(chosen[0], "commands") and SUBCOMMAND.match(words[0]):
        names = words.pop(0).strip("[]").split("|")
        missing = [name for name in names if name not in chosen[0].commands]
        if missing:
            return f"{' '.join(path)} has no command {', '.join(missing)}"
        chosen = [chosen[0].commands[name] for name in names]
        path.append("|".join(names))
    for command in chosen:
        allowed = {"--help"} | {
            opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
        }
        unknown = [o for o in OPTION.findall(" ".join(words)) if o not in allowed]
        if unknown:
            return f"taskforce … {command.name} has no option {', '.join(unknown)}"
    return None


# Parts of the checkout's var/ that other tests write while this one runs (make test runs two
# pytest processes): Prefect's home for the whole run (the commands here get one of their own),
# the browser test's screenshots, the tiny benchmarks' synthetic databases. Not where a command
# that ignored TASKFORCE_VAR_DIR would write (taskforce.db, forms, raw, reports, run, …).
SHARED_BY_TESTS = ("prefect", "screenshots", "bench")


def _files(directory: Path) -> set[Path]:
    if not directory.exists():
        return set()
    return {
        path
        for path in directory.rglob("*")
        if path.relative_to(directory).parts[0] not in SHARED_BY_TESTS
    }


def taskforce_lines(markdown: str) -> list[tuple[int, str]]:
    """Every ``taskforce …`` line of the shell blocks and every inline ``taskforce …`` span."""
    found = [
        (c.line, c.text)
        for b in code_blocks(markdown)
        if b.info.split(" ", 1)[0] in SHELL_INFOS
        for c in commands(b)
        if c.text.startswith("taskforce ")
    ]
    for match in INLINE.finditer(markdown):
        found.append((markdown.count("\n", 0, match.start()) + 1, match.group(1)))
    return found


def test_the_walkthrough_commands_are_marked_runnable() -> None:
    """Dropping a marker must not silence this test: the walkthrough's commands stay covered."""
    texts = [c.text for c in runnable_commands(README.read_text(encoding="utf-8"))]
    for command in (
        "taskforce submissions --policy lingchuan-2023 --period 2023-02",
        "taskforce review --policy lingchuan-2023",
        "taskforce policy list",
        "taskforce down",
    ):
        assert command in texts, f"{command!r} is no longer in a ```{RUNNABLE} block"


def test_the_readme_runnable_commands_run(db_settings: Settings, tmp_path: Path) -> None:
    """Each marked command exits as documented and prints no traceback, on the seed policies."""
    load_seeds(db_settings)
    sqlite = db_settings.database_url.startswith("sqlite")
    environment = shell_environment(tmp_path, None if sqlite else db_settings.database_url)
    found = runnable_commands(README.read_text(encoding="utf-8"))
    before = _files(ROOT / "var")
    problems = run_commands(found, environment)
    assert not problems, "\n\n".join(problems)
    assert _files(ROOT / "var") == before, "a runnable command wrote into the checkout's var/"
    # Each runnable command is quick: none ran a flow on Prefect's temporary server (7-14 s).
    assert not (tmp_path / "var" / "run" / "temporary-server-noted").exists()


def test_every_taskforce_command_in_the_readme_exists() -> None:
    """Synopses and inline examples name real subcommands and options."""
    root = _command_tree()
    found = taskforce_lines(README.read_text(encoding="utf-8"))
    assert len(found) > 40, found
    problems = [
        f"README.md:{line}: {text}: {why}"
        for line, text in found
        if (why := check_taskforce_line(text, root))
    ]
    assert not problems, "\n".join(problems)


def test_a_misspelled_command_fails_these_checks(tmp_path: Path) -> None:
    """The checks can fail: a misspelled command or option, an undocumented exit code."""
    readme = (
        "Text.\n\n```bash runnable\n"
        "taskforce submission --policy lingchuan-2023\n"
        "taskforce policy show no-such-policy  # exit 2\n"
        "taskforce policy show no-such-policy\n"
        "```\n"
    )
    found = runnable_commands(readme)
    assert [(c.line, c.expected_exit) for c in found] == [(4, 0), (5, 2), (6, 0)]
    problems = run_commands(found, shell_environment(tmp_path, None))
    assert [p.split(":", 2)[1] for p in problems] == ["4", "6"], problems
    assert "exit 2, expected 0" in problems[0] and "submission" in problems[0]
    root = _command_tree()
    assert "no command submission" in str(check_taskforce_line(found[0].text, root))
    assert "no option --jsn" in str(check_taskforce_line("taskforce policy list --jsn", root))
    assert check_taskforce_line("taskforce cases approve|reject|close ID… [--by]", root) is None
    assert "approve has no option --days" in str(
        check_taskforce_line("taskforce cases extend|approve ID… --days 3", root)
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a\n\n# note\nb \\\n  --x\n", [(1, "a"), (4, "b    --x")]),
        ("taskforce down  # exit 0\n", [(1, "taskforce down  # exit 0")]),
        ("", []),
    ],
)
def test_commands_of_a_block(body: str, expected: list[tuple[int, str]]) -> None:
    assert [(c.line, c.text) for c in commands(Block(RUNNABLE, 1, body))] == expected
