"""Settings: one pydantic-settings object, env prefix ``TASKFORCE_``, passed explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CONFIG_DIR = Path(__file__).resolve().parent


class CalendarSettings(BaseModel):
    holidays_dir: Path = CONFIG_DIR / "holidays"
    # A year neither chinesecalendar nor a holiday file covers is an error unless this is set;
    # then weekends only are non-working days and every output marks the dates unofficial.
    allow_weekend_fallback: bool = False


class Settings(BaseSettings):
    """Everything configurable; ``TASKFORCE_DATABASE_URL``, ``TASKFORCE_CALENDAR__…``."""

    model_config = SettingsConfigDict(
        env_prefix="TASKFORCE_", env_nested_delimiter="__", extra="ignore"
    )

    var_dir: Path = Path("var")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in var_dir")
    policies_dir: Path = CONFIG_DIR / "policies"
    units_dir: Path = CONFIG_DIR / "units"
    calendar: CalendarSettings = CalendarSettings()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'taskforce.db'}"
