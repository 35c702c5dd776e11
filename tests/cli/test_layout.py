"""The command line's layout: every command registered from its group's module, in the order
``taskforce --help`` has always listed them, and no slow import at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

from flows.cli import app
from tests.helpers import invoke_cli

# What `taskforce --help` listed before flows/cli.py became a package: top-level commands, then
# the groups, each group with its own subcommands. Name → module that defines it.
COMMANDS = {
    "calendar": "policy",
    "remind": "reminders",
    "mailcatcher": "ops",
    "up": "ops",
    "down": "ops",
    "submit": "intake",
    "submissions": "intake",
    "consolidate": "consolidation",
    "escalate": "escalation",
    "serve": "ops",
    "demo": "ops",
    "simulate-replies": "ops",
}
GROUPS = {
    "db": ("policy", ["init", "upgrade"]),
    "policy": ("policy", ["load", "list", "show", "import"]),
    "measures": ("measures", ["deadlines", "extend"]),
    "intake": ("intake", ["replay"]),
    "review": ("intake", ["accept", "reject"]),
    "cases": ("escalation", ["approve", "reject", "close", "extend"]),
    "outbox": ("outbox", ["retry", "cancel"]),
    "keys": ("keys", ["rotate"]),
}


def _module(command: object) -> str:
    """The flows.cli module that defines a command's function."""
    callback = getattr(command, "callback", None)
    assert callback is not None, command
    return str(callback.__module__).removeprefix("flows.cli.")


def test_every_command_is_registered_from_its_group_module() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    ctx = typer.Context(root)
    assert root.list_commands(ctx) == [*COMMANDS, *GROUPS]
    for name, module in COMMANDS.items():
        assert _module(root.commands[name]) == module, name
    for name, (module, subcommands) in GROUPS.items():
        group = root.commands[name]
        assert isinstance(group, TyperGroup), name
        assert group.list_commands(ctx) == subcommands, name
        for sub in subcommands:
            assert _module(group.commands[sub]) == module, f"{name} {sub}"


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = invoke_cli(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")]
    assert [name for name in listed if name in COMMANDS or name in GROUPS] == [
        *COMMANDS,
        *GROUPS,
    ]
    for name, (_, subcommands) in GROUPS.items():
        sub_help = invoke_cli(tmp_path, name, "--help")
        assert sub_help.returncode == 0, sub_help.stderr
        for sub in subcommands:
            assert f"│ {sub} " in sub_help.stdout, f"{name} {sub}"


def test_start_up_imports_no_prefect_nor_forms() -> None:
    """Configuration commands start fast: the CLI's modules import the heavy libraries inside
    the commands that need them."""
    code = (
        "import sys, flows.cli\n"
        "heavy = ('prefect', 'openpyxl', 'tasks.forms', 'flows.')\n"  # flows.*: the Prefect flows
        "print(sorted(m for m in sys.modules if m.startswith(heavy)"
        " and not m.startswith('flows.cli')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
