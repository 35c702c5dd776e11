"""The project's exceptions, as one small tree.

    TaskforceError                 anything the project raises on purpose
    ├── ConfigError                a policy, units or holiday file is wrong: names file, path, value
    ├── SettingsError              a TASKFORCE_ variable is wrong, the database or data directory
    │   │                          unusable: names the variable, never a secret's value
    │   └── SchemaError            the database's tables are not the version this program needs
    ├── CalendarError              a date the calendar cannot answer for (year not covered)
    ├── NotFoundError              an unknown policy, unit, obligation or period asked for by a user
    ├── RenderError                a mail template failed on a notice context: names template, line
    ├── DeliveryError              a mail was not handed over to the SMTP server (code, reply)
    │   ├── TransientDeliveryError worth retrying: refused/lost connection, timeout, 4xx reply
    │   └── PermanentDeliveryError not worth retrying: 5xx reply, bad address, TLS/auth refused
    ├── MailCatcherError           the local mail catcher could not start (port taken, no folder)
    └── FormError                  a pre-filled form cannot be built or read back
        ├── FormReadError          not a readable .xlsx: corrupt, encrypted, not Excel, too large
        └── FormSignatureError     metadata sheet missing or altered, or signed with another key

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


class SettingsError(TaskforceError):
    """A setting from the environment is invalid, or what it points at cannot be used."""


class SchemaError(SettingsError):
    """The database needs ``taskforce db upgrade``, is newer than the program, or is not ours."""


class CalendarError(TaskforceError):
    """The working-day calendar has no data for a date."""


class NotFoundError(TaskforceError):
    """Something a user named does not exist."""


class RenderError(TaskforceError):
    """A notice template failed: a missing context key, a syntax error, a value it cannot show."""

    def __init__(self, template: str, problem: str, line: int | None = None) -> None:
        self.template = template
        self.problem = problem
        self.line = line
        where = f"{template}:{line}" if line else template
        super().__init__(f"模板 {where} 渲染失败：{problem}")


class DeliveryError(TaskforceError):
    """A mail was not handed over to the SMTP server.

    ``code`` and ``reply`` carry the server's answer when there was one (``reply`` is
    "550 5.1.1 …"); ``connection`` is true when the failure concerns the connection (connect,
    greeting, STARTTLS, login) rather than this message, so that retrying other mails is pointless.
    """

    def __init__(
        self, message: str, *, code: int | None = None, reply: str = "", connection: bool = False
    ) -> None:
        self.code = code
        self.reply = reply
        self.connection = connection
        super().__init__(message)


class RecordingFailed(TaskforceError):
    """Outcomes of a batch being sent cannot be stored: the batch stops sending.

    Mail that went on regardless could go twice after a crash."""


class TransientDeliveryError(DeliveryError):
    """A failure that may pass: the same mail can be tried again later."""


class PermanentDeliveryError(DeliveryError):
    """A failure that will not pass by retrying: the server refused the mail for good."""


class MailCatcherError(TaskforceError):
    """The local mail catcher could not start."""


class FormError(TaskforceError):
    """A pre-filled form cannot be built, or a returned one cannot be trusted or read."""


class FormReadError(FormError):
    """A returned file is not a readable .xlsx: corrupt, encrypted, not Excel, too large."""


class FormSignatureError(FormError):
    """A returned form's metadata sheet is missing, was altered, or carries a foreign signature."""


class FormNotOursError(FormSignatureError):
    """A workbook without our metadata sheet: the unit's own table, not a form we issued."""
