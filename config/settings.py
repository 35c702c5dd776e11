"""Settings: one pydantic-settings object, env prefix ``TASKFORCE_``, passed explicitly.

A flow never takes them as a parameter: Prefect stores a flow run's parameters in its database
and shows them in its UI, and the settings hold passwords. A flow body reads them with
:func:`current_settings`: the environment's, or those an in-process caller (the CLI, the demo, a
test) handed over with :func:`use_settings`.

Tasks may still take them: Prefect 3 keeps a task's arguments in memory (a task run records only
references to upstream results in ``task_inputs``; it stores arguments only for deferred
``.delay()`` runs, which this project does not use), and every task here has
``cache_policy=NONE``, so no key or result is computed from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import pydantic_settings
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import SettingsError

CONFIG_DIR = Path(__file__).resolve().parent


class CalendarSettings(BaseModel):
    holidays_dir: Path = CONFIG_DIR / "holidays"
    # A year neither chinesecalendar nor a holiday file covers is an error unless this is set;
    # then weekends only are non-working days and every output marks the dates unofficial.
    allow_weekend_fallback: bool = False


class SmtpSettings(BaseModel):
    """Where outgoing mail goes: the local catcher by default, any relay in production."""

    host: str = "127.0.0.1"
    port: int = 8025
    username: str = ""
    password: SecretStr = SecretStr("")
    starttls: bool = False
    ssl: bool = False
    sender: str = "zhuanban-office@example.org"  # From: address (TASKFORCE_SMTP_SENDER)
    timeout: float = 30.0
    concurrency: int = Field(default=8, ge=1, le=64)  # parallel SMTP connections per batch
    max_attempts: int = Field(default=4, ge=1, le=20)  # per message, within one batch
    backoff_seconds: float = 0.5  # first retry delay; doubles each attempt
    # Across runs: a mail still not delivered after this many attempts in all, or this many
    # hours after it was queued, is failed with the server's last reply (never pending for ever).
    give_up_attempts: int = Field(default=8, ge=1, le=100)
    give_up_hours: float = Field(default=24.0, gt=0)
    # A claim's lease: a delivery renews it every lease_seconds / 3 while it sends; the next
    # run releases a claim whose lease has run out (its delivery died).
    lease_seconds: float = Field(default=15.0, ge=1.0, le=3600.0)

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpSettings:
        if self.ssl and self.starttls:
            raise ValueError(
                "TASKFORCE_SMTP_SSL 与 TASKFORCE_SMTP_STARTTLS 不能同时为 true"
                "（端口465用 SSL，端口587用 STARTTLS）"
            )
        return self


class MailCatcherSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8025
    directory: Path = Path("var/mail")


class ImapSettings(BaseModel):
    """The office's mailbox over IMAP (``TASKFORCE_IMAP_HOST`` …); used when intake.source=imap."""

    host: str = ""
    port: int = 143
    username: str = ""
    password: SecretStr = SecretStr("")
    ssl: bool = False  # IMAPS (usually port 993)
    folder: str = "INBOX"
    # Empty: a processed message stays where it is, flagged \Seen and $TaskforceIntake.
    # A folder name: it is moved there (created when missing). Never deleted either way.
    processed_folder: str = ""
    timeout: float = 30.0


class IntakeSettings(BaseModel):
    """Where replies are read from and what is refused before parsing."""

    source: Literal["maildir", "imap"] = "maildir"
    # Unset: under var_dir (``maildir/<office mailbox>/`` and ``raw/``).
    maildir_root: Path | None = None
    raw_dir: Path | None = None
    max_message_bytes: int = Field(default=40_000_000, ge=1)
    max_attachment_bytes: int = Field(default=20_000_000, ge=1)
    # The authserv-id of the office's own receiving server: only its Authentication-Results
    # headers are read (RFC 8601 §5). Empty: the reply's DKIM signature is checked against DNS.
    trusted_authserv_id: str = ""
    # A reply without our form whose sender is not authenticated: held for the office's review
    # (not counted as reported until accepted), or counted at once as before.
    unverified_replies: Literal["review", "count"] = "review"


class ReportSettings(BaseModel):
    """Traffic lights of the monthly consolidation: points behind 序时进度 (county practice)."""

    yellow_points: float = Field(default=10.0, ge=0)
    red_points: float = Field(default=30.0, ge=0)
    # A reported value above this many times its target is 待核实, not a green light.
    plausible_factor: float = Field(default=1.5, gt=1)


class EscalationSettings(BaseModel):
    """How long a daily escalation run waits, paused, for the office to decide on proposals.

    0 (the default for the CLI and the demo) does not pause: proposals wait in the database
    for ``taskforce cases approve|reject`` or the next run. A served deployment pauses for a
    working day, answerable in the Prefect UI.
    """

    approval_wait_seconds: int = Field(default=0, ge=0)
    approval_poll_seconds: int = Field(default=10, ge=1)


class ServeSettings(BaseModel):
    """``taskforce serve``: which late runs to skip, how long escalation waits for the office.

    After downtime Prefect runs every missed scheduled run, oldest first (PrefectHQ/prefect#15886);
    a run later than ``max_lateness_minutes`` is skipped. 360 keeps a 09:00 tick delayed by a
    morning's outage (it still runs the same working day) and drops the ticks of earlier days.
    """

    max_lateness_minutes: int = Field(default=360, ge=1)
    # A working day (09:00 to 17:00) for the office to answer in the Prefect UI.
    approval_wait_seconds: int = Field(default=8 * 3600, ge=0)


# A form key set by hand shorter than this is refused in production (the generated one has 43).
MIN_FORM_KEY_CHARS = 32


class Settings(BaseSettings):
    """Everything configurable; ``TASKFORCE_DATABASE_URL``, ``TASKFORCE_CALENDAR_…``."""

    model_config = SettingsConfigDict(
        env_prefix="TASKFORCE_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    var_dir: Path = Path("var")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in var_dir")
    policies_dir: Path = CONFIG_DIR / "policies"
    units_dir: Path = CONFIG_DIR / "units"
    calendar: CalendarSettings = CalendarSettings()
    smtp: SmtpSettings = SmtpSettings()
    mailcatcher: MailCatcherSettings = MailCatcherSettings()
    imap: ImapSettings = ImapSettings()
    intake: IntakeSettings = IntakeSettings()
    reports: ReportSettings = ReportSettings()
    escalation: EscalationSettings = EscalationSettings()
    serve: ServeSettings = ServeSettings()
    # A tick works on this many policies at once, across all ticks and workers (a Prefect global
    # concurrency limit); a served tick also splits its policies into this many sub-runs.
    policy_concurrency: int = Field(default=4, ge=1, le=64)
    # Unset: the key file under var_dir, made on first need (tasks/forms/keys.py).
    form_key: SecretStr | None = None
    form_previous_keys: SecretStr | None = None  # comma-separated; verify only, never sign
    production: bool = False

    @model_validator(mode="after")
    def _no_weak_form_key_in_production(self) -> Settings:
        key = "" if self.form_key is None else self.form_key.get_secret_value().strip()
        if self.production and self.form_key is not None and len(key) < MIN_FORM_KEY_CHARS:
            raise ValueError(
                f"正式运行时 TASKFORCE_FORM_KEY 至少应有 {MIN_FORM_KEY_CHARS} 个字符"
                "（或不设置，使用系统生成的密钥文件）"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, url: str) -> str:
        """A URL SQLAlchemy cannot read is refused here, without echoing it (its password)."""
        if url:
            _check_database_url(url)
        return url

    @field_serializer("database_url", when_used="json")
    def _database_url_without_password(self, url: str) -> str:
        """A JSON dump of the settings (a diagnostic, a log) keeps the URL's password out, as
        the SecretStr values are kept out."""
        return masked_url(url) if url else url

    @property
    def maildir_root(self) -> Path:
        """One Maildir per office mailbox beneath: the catcher files replies there."""
        return self.intake.maildir_root or self.var_dir / "maildir"

    @property
    def raw_dir(self) -> Path:
        """The content-addressed store of every message and file taken in."""
        return self.intake.raw_dir or self.var_dir / "raw"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'taskforce.db'}"

    @property
    def shown_database_url(self) -> str:
        """The database URL for messages: its password as ***."""
        return masked_url(self.effective_database_url)


def masked_url(url: str) -> str:
    """A database URL with its password replaced by ***, for anything a person reads."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "（无法解析的数据库地址）"


def _check_database_url(url: str) -> None:
    """Raise ValueError (a Chinese message, not the URL) unless SQLAlchemy can use the URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "应如 postgresql+psycopg://用户名:密码@主机:5432/库名 或 sqlite:///路径"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(f"不是有效的数据库地址（{example}）") from None
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError):
        raise ValueError(
            f"数据库类型 {parsed.drivername} 不受支持或其驱动未安装（{example}）"
        ) from None


# --- handing settings to a flow run ------------------------------------------------------------

_handed_over: ContextVar[Settings | None] = ContextVar("taskforce_settings", default=None)


@contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Flows run inside this block (in this thread, or in tasks and threads started from it,
    which copy the context) read these settings instead of the environment's."""
    token = _handed_over.set(settings)
    try:
        yield settings
    finally:
        _handed_over.reset(token)


def current_settings() -> Settings:
    """The settings a flow run works with: those handed over, else read from the environment."""
    return _handed_over.get() or read_settings()


def read_settings() -> Settings:
    """The settings from the environment; an invalid one is a :class:`SettingsError` naming the
    variables and their problems, never a value of a secret."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(settings_problems(exc)) from None
    except pydantic_settings.SettingsError as exc:
        # A group given whole (TASKFORCE_SMTP='{…}') that is not JSON; the cause holds the value.
        field = re.search(r'field "(\w+)"', str(exc))
        name = env_name((field.group(1),)) if field else "TASKFORCE_ 设置"
        raise SettingsError(f"设置有误：{name} 应为 JSON") from None


# --- what a ValidationError says, for a person ------------------------------------------------

# Fields whose value is never shown in a message (a URL may hold a password).
SECRET_PARTS = ("password", "key", "secret", "token", "url")

# pydantic error type → the problem in Chinese; {…} are filled from the error's ctx.
PROBLEMS: dict[str, str] = {
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "greater_than_equal": "应不小于{ge}",
    "greater_than": "应大于{gt}",
    "less_than_equal": "应不大于{le}",
    "less_than": "应小于{lt}",
    "literal_error": "应为 {expected} 之一",
    "enum": "应为 {expected} 之一",
    "json_invalid": "应为 JSON",
    "json_type": "应为 JSON",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "string_type": "应为文本",
    "string_too_short": "不能为空",
    "path_type": "应为路径",
    "missing": "未设置",
}


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable of an error location: ('smtp', 'port') → TASKFORCE_SMTP_PORT."""
    parts = [str(part).upper() for part in loc if isinstance(part, str)]
    return "_".join(["TASKFORCE", *parts]) if parts else "TASKFORCE_ 设置"


def settings_problems(exc: ValidationError) -> str:
    """One line for all the settings' errors, e.g. 设置有误：TASKFORCE_SMTP_PORT 应为整数."""
    problems = [_problem(error) for error in exc.errors(include_url=False)]
    return "设置有误：" + "；".join(dict.fromkeys(problems))


def _problem(error: ErrorDetails) -> str:
    loc, kind = tuple(error["loc"]), error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "value_error":  # our own validators say which variable, in Chinese
        message = str(ctx.get("error", "")).strip()
        return message if message.startswith("TASKFORCE_") else f"{env_name(loc)}：{message}"
    name = env_name(loc)
    template = PROBLEMS.get(kind)
    if kind == "literal_error":
        ctx = {**ctx, "expected": str(ctx.get("expected", "")).replace(" or ", "、")}
    problem = template.format(**ctx) if template else "取值无效"
    # A whole group (TASKFORCE_SMTP='…') may hold its password: shown by name only.
    field = Settings.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    whole_group = field is not None and _is_group(field.annotation)
    secret = whole_group or any(part in name.lower() for part in SECRET_PARTS)
    value = error.get("input")
    if secret or not isinstance(value, str | int | float | bool) or len(str(value)) > 80:
        return f"{name} {problem}"
    return f"{name} {problem}（当前为 {value!r}）"
