"""The project's exceptions, as one small tree.

    TaskforceError                 anything the project raises on purpose
    ├── ConfigError                a policy, units or holiday file is wrong: names file, path, value
    ├── CalendarError              a date the calendar cannot answer for (year not covered)
    └── NotFoundError              an unknown policy, unit, obligation or period asked for by a user

The CLI turns every ``TaskforceError`` into one line on stderr and exit code 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TaskforceError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(TaskforceError):
    """A configuration file is missing, unreadable or invalid."""

    def __init__(self, file: Path | str, path: str, message: str, value: Any = None) -> None:
        self.file = str(file)
        self.path = path
        self.message = message
        self.value = value
        where = f"{self.file}: {path}" if path else self.file
        shown = "" if value is None else f"（值：{value!r}）"
        super().__init__(f"{where}: {message}{shown}")


class CalendarError(TaskforceError):
    """The working-day calendar has no data for a date."""


class NotFoundError(TaskforceError):
    """Something a user named does not exist."""
