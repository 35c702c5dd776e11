"""What Prefect makes of the flows' parameters, without a server: ``as_of`` given as text (a
deployment run's ``--param``) becomes a datetime, and no flow takes the settings (Prefect stores
a run's parameters and shows them in its UI; the settings hold the passwords)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest
from prefect import Flow
from pydantic import SecretStr

from config.settings import Settings
from flows.consolidation import annual_flow, consolidation_flow
from flows.escalation import escalation_flow, office_approval
from flows.intake import intake_flow
from flows.reminders import reminders_flow
from flows.serve import (
    TICKS,
    annual_tick,
    consolidation_tick,
    escalation_tick,
    intake_tick,
    reminders_tick,
)
from tasks.calendar import SHANGHAI, local_moment, parse_as_of
from tests.helpers import at

TAKING_AS_OF: list[tuple[Flow[Any, Any], dict[str, Any]]] = [
    (reminders_flow, {}),
    (escalation_flow, {}),
    (consolidation_flow, {}),
    (annual_flow, {"year": "2023"}),
    (reminders_tick, {}),
    (escalation_tick, {}),
    (consolidation_tick, {}),
    (annual_tick, {}),
    (intake_tick, {}),
]


def policy(flow: Flow[Any, Any]) -> dict[str, Any]:
    """The policy parameter: one code for a flow, a list of codes for a tick."""
    return {"policy_codes": ["p"]} if flow in TICKS.values() else {"policy_code": "p"}


@pytest.mark.parametrize(("flow", "extra"), TAKING_AS_OF, ids=lambda f: getattr(f, "name", ""))
@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2023-04-11T09:00", at(date(2023, 4, 11), 9)),
        ("2023-04-11", at(date(2023, 4, 11), 0)),
        ("2023-04-11T01:00+00:00", at(date(2023, 4, 11), 9)),
    ],
)
def test_as_of_text_becomes_the_moment_parse_as_of_reads(
    flow: Flow[Any, Any], extra: dict[str, Any], text: str, moment: datetime
) -> None:
    validated = flow.validate_parameters({**policy(flow), "as_of": text, **extra})
    assert isinstance(validated["as_of"], datetime)
    assert local_moment(validated["as_of"]) == parse_as_of(text) == moment


def test_local_moment() -> None:
    assert local_moment(datetime(2023, 4, 11, 9)) == at(date(2023, 4, 11), 9)
    assert local_moment(datetime(2023, 4, 11, 9)).tzinfo is SHANGHAI
    aware = at(date(2023, 4, 11), 9)
    assert local_moment(aware) is aware
    assert local_moment(None).tzinfo is SHANGHAI


@pytest.mark.parametrize(("flow", "extra"), TAKING_AS_OF, ids=lambda f: getattr(f, "name", ""))
def test_as_of_defaults_to_none(flow: Flow[Any, Any], extra: dict[str, Any]) -> None:
    assert flow.validate_parameters({**policy(flow), **extra})["as_of"] is None


# What a user or a deployment gives a run: Prefect stores these and shows them in its UI.
PLAIN = {"policy_code", "policy_codes", "as_of", "source", "period", "obligation", "year"}
ALL_FLOWS = [reminders_flow, escalation_flow, consolidation_flow, annual_flow, intake_flow,
             *TICKS.values()]  # fmt: skip


@pytest.mark.parametrize("flow", ALL_FLOWS, ids=lambda f: f.name)
def test_attack_no_flow_takes_the_settings_as_a_parameter(flow: Flow[Any, Any]) -> None:
    """The settings hold the passwords: a flow reads them in its run (current_settings)."""
    assert set(flow.parameters.properties) <= PLAIN


def test_attack_the_approval_sub_run_takes_the_cases_and_no_settings() -> None:
    assert set(office_approval.parameters.properties) == {
        "policy_code",
        "policy_name",
        "awaiting",
        "as_of",
    }


def test_a_json_dump_of_the_settings_holds_no_secret() -> None:
    """Defence in depth: whatever serialises the settings (a log, a diagnostic) shows no
    password, the database URL's included."""
    settings = Settings(
        database_url="postgresql+psycopg://office:db-secret@db.example/taskforce",
        form_key=SecretStr("form-secret"),
    )
    settings = settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"password": SecretStr("smtp-secret")}),
            "imap": settings.imap.model_copy(update={"password": SecretStr("imap-secret")}),
        }
    )
    dumped = settings.model_dump_json()
    assert not any(s in dumped for s in ("db-secret", "form-secret", "smtp-secret", "imap-secret"))
    assert json.loads(dumped)["database_url"] == (
        "postgresql+psycopg://office:***@db.example/taskforce"
    )
    assert settings.shown_database_url == "postgresql+psycopg://office:***@db.example/taskforce"
    # Only what is shown is masked: the object the flows work with keeps its URL.
    assert "db-secret" in settings.effective_database_url
