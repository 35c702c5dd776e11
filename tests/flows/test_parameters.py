"""What Prefect makes of the flows' parameters, without a server: ``as_of`` given as text (a
deployment run's ``--param``) becomes a datetime, and what it stores of a Settings keeps the
secrets out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from prefect import Flow
from pydantic import SecretStr

from config.settings import Settings
from flows.consolidation import annual_flow, consolidation_flow
from flows.escalation import escalation_flow
from flows.reminders import reminders_flow
from flows.serve import annual_tick, consolidation_tick, escalation_tick, reminders_tick
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
]


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
    validated = flow.validate_parameters({"policy_code": "p", "as_of": text, **extra})
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
    assert flow.validate_parameters({"policy_code": "p", **extra})["as_of"] is None


def test_stored_parameters_hold_no_secret() -> None:
    """Prefect stores a flow run's parameters as ``jsonable_encoder`` makes them and shows them
    in the UI; ``settings`` is one of them wherever a flow gets it from its caller."""
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
    stored = escalation_flow.serialize_parameters(
        {"policy_code": "p", "as_of": at(date(2023, 4, 11)), "settings": settings}
    )
    text = str(stored)
    assert not any(s in text for s in ("db-secret", "form-secret", "smtp-secret", "imap-secret"))
    assert stored["settings"]["database_url"] == (
        "postgresql+psycopg://office:***@db.example/taskforce"
    )
    assert stored["as_of"] == "2023-04-11T09:00:00+08:00"
    # Only the stored copy is masked: the object the flow works with keeps its URL.
    assert "db-secret" in settings.effective_database_url
