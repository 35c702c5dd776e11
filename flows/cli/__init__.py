"""The ``taskforce`` command line.

User errors (a missing file, bad YAML, an unknown policy) print one line and exit with code 2;
anything else is a bug and keeps its traceback. Prefect is imported only by commands that run
flows, so configuration commands start fast: the command modules import it (and openpyxl, the
forms …) inside the commands that need it, never at the top.

The commands live in one module per group (policy, reminders, intake, escalation,
consolidation, outbox, ops); :mod:`flows.cli.common` holds what they share. They are registered
here, in the order ``taskforce --help`` lists them.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from config.errors import TaskforceError
from flows.cli import (
    consolidation,
    escalation,
    frame,
    intake,
    keys,
    measures,
    ops,
    outbox,
    policy,
    reminders,
)
from flows.cli.common import database_problem, prefect_environment

frame.install()  # typer's own words (Usage, Options, its error messages) in Chinese

app = typer.Typer(
    help="县级工作专班报送期限管理：政策载入、报送日历、提醒与汇总。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# `taskforce --help` lists the commands, then the groups, each in the order registered here.
for name, command in (
    ("calendar", policy.calendar),
    ("remind", reminders.remind),
    ("mailcatcher", ops.mailcatcher),
    ("up", ops.up),
    ("down", ops.down),
    ("submit", intake.submit),
    ("submissions", intake.submissions),
    ("consolidate", consolidation.consolidate_command),
    ("escalate", escalation.escalate_command),
    ("serve", ops.serve_command),
    ("demo", ops.demo),
    ("simulate-replies", ops.simulate_replies),
):
    app.command(name)(command)


@app.callback()
def _global_options(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="在终端显示 Prefect 的运行日志（英文原文）"),
    ] = False,
) -> None:
    # Before any command imports Prefect, which reads its settings and logging once.
    prefect_environment(verbose=verbose)


for name, group in (
    ("db", policy.db_app),
    ("policy", policy.policy_app),
    ("measures", measures.measures_app),
    ("intake", intake.intake_app),
    ("review", intake.review_app),
    ("cases", escalation.cases_app),
    ("outbox", outbox.outbox_app),
    ("keys", keys.keys_app),
):
    app.add_typer(group, name=name)


def main() -> None:
    """Console entry: user errors become one line and exit code 2."""
    try:
        app()  # standalone: click handles usage errors (exit 2) and raises SystemExit
    except TaskforceError as exc:
        _fail(str(exc))
    except Exception as exc:
        problem = database_problem(exc)  # the database is down or refuses us: not a bug
        if problem is None:
            raise
        _fail(problem)


def _fail(message: str) -> None:
    # markup=False: a message may quote a file name or a server's reply with [brackets].
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print("错误：", style="red", end="")
    console.print(message, markup=False)
    raise SystemExit(2) from None
