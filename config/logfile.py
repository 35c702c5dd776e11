"""The log file handler of config/logging.yml: Prefect's log lines of the commands, rotated."""

from __future__ import annotations

from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path


class LogFile(RotatingFileHandler):
    """A rotating UTF-8 log file whose directory is made when the first line is written.

    Opened lazily: configuring logging (at Prefect's import, in every command and in the
    temporary server's process) writes nothing, and a command that logs nothing leaves no file.
    """

    def __init__(self, filename: str, max_bytes: int = 5_000_000, backup_count: int = 3) -> None:
        super().__init__(
            filename, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
        )

    def _open(self) -> TextIOWrapper:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()
