"""Settings: one pydantic-settings object, env prefix ``TASKFORCE_``, passed explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_serializer, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
            raise ValueError("TASKFORCE_SMTP_SSL and TASKFORCE_SMTP_STARTTLS exclude each other")
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
    # Unset: the key file under var_dir, made on first need (tasks/forms/keys.py).
    form_key: SecretStr | None = None
    form_previous_keys: SecretStr | None = None  # comma-separated; verify only, never sign
    production: bool = False

    @model_validator(mode="after")
    def _no_weak_form_key_in_production(self) -> Settings:
        key = "" if self.form_key is None else self.form_key.get_secret_value().strip()
        if self.production and self.form_key is not None and len(key) < MIN_FORM_KEY_CHARS:
            raise ValueError(
                f"TASKFORCE_FORM_KEY must have at least {MIN_FORM_KEY_CHARS} characters in "
                "production (or leave it unset to use the generated key file)"
            )
        return self

    @field_serializer("database_url", when_used="json")
    def _database_url_without_password(self, url: str) -> str:
        """Prefect stores a flow's parameters, this object among them, as JSON and shows them in
        its UI: the URL's password stays out of them, as the SecretStr values do."""
        if not url:
            return url
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return make_url(url).render_as_string(hide_password=True)
        except ArgumentError:
            return "**********"

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
