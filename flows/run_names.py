"""The ``flow_run_name`` callables: each flow run is named by the policy, what it does and its day.

Prefect calls these as a run starts, inside the run's context: the parameters are the run's own
(``prefect.runtime.flow_run.parameters``), and without an ``as_of`` the day is the run's
scheduled start (a served tick's slot, or now for a run started by hand).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect.runtime import flow_run
from sqlalchemy.exc import SQLAlchemyError

from config.errors import NotFoundError
from config.settings import current_settings
from models.consolidation_store import pick_cycle
from models.db import session_scope
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI, local_moment
from tasks.run_names import policy_short_name, run_name


def _moment(parameters: dict[str, Any]) -> datetime:
    """The run's ``as_of`` (a deployment's may still be text), else its scheduled start."""
    value = parameters.get("as_of")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:  # the run refuses it with its own message; its name must not fail
            value = None
    if isinstance(value, datetime):
        return local_moment(value).astimezone(SHANGHAI)
    scheduled = flow_run.scheduled_start_time
    return datetime.fromtimestamp(scheduled.timestamp(), UTC).astimezone(SHANGHAI)


def policy_short(code: str) -> str:
    """陵川2023 for lingchuan-2023, from the county and year stored with the policy.

    A policy not (yet) in the database is named by its code: the run then fails with its own
    message, and its name or title must not be what breaks it.
    """
    try:
        with session_scope(current_settings()) as session:
            policy = get_policy(session, code)
            return policy_short_name(policy.county, policy.issued)
    except (NotFoundError, SQLAlchemyError):
        return code


def _period(parameters: dict[str, Any], moment: datetime) -> str:
    """The month a consolidation works on (2023年2月), its default chosen as the run will."""
    code = str(parameters.get("policy_code", ""))
    try:
        with session_scope(current_settings()) as session:
            obligation, cycle = pick_cycle(
                session, get_policy(session, code), parameters.get("period"),
                parameters.get("obligation"), moment,
            )  # fmt: skip
    except (NotFoundError, SQLAlchemyError):
        return str(parameters.get("period") or "")
    if obligation.frequency == "once":  # a one-off report consolidated: say which
        return obligation.name
    return cycle.period_label


def named(verb: str, *, time: bool = False, monthly: bool = False) -> Callable[[], str]:
    """A ``flow_run_name`` for runs that ``verb``: 陵川2023 报送提醒 2023-04-10."""

    def name() -> str:
        parameters = dict(flow_run.parameters)
        moment = _moment(parameters)
        what = _period(parameters, moment) if monthly else ""
        if "year" in parameters:
            what = f"{parameters['year']}年"
        short = policy_short(str(parameters.get("policy_code", "")))
        return run_name(short, verb, moment, what=what, time=time)

    name.__name__ = f"run_name_{verb}"
    return name


def tick_named(verb: str) -> Callable[[], str]:
    """A ``flow_run_name`` for a tick over policies: 全部政策 定时报送提醒 2023-01-28 09:00, or
    the one policy it was given (陵川2023 …), or the first of several (陵川2023等3项政策 …)."""

    def name() -> str:
        parameters = dict(flow_run.parameters)
        codes = parameters.get("policy_codes")
        if not codes:
            short = "全部政策"
        elif len(codes) == 1:
            short = policy_short(str(codes[0]))
        else:
            short = f"{policy_short(str(codes[0]))}等{len(codes)}项政策"
        return run_name(short, verb, _moment(parameters), time=True)

    name.__name__ = f"tick_name_{verb}"
    return name
