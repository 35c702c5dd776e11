"""Reading many policies' cycles for consolidation at once: a province's or the nation's month.

``load_consolidation_inputs`` gives, for each policy code, exactly what
``models.consolidation_store.load_consolidation_input`` gives for it, but with a fixed number of
set-based queries per chunk of policies (twelve, whatever the chunk's size) instead of about
eight per policy. ``iter_consolidation_inputs`` yields the inputs chunk by chunk, so a caller that
consolidates as it goes (the nation's month, ``iter_consolidations``) holds one chunk's rows at a
time; the progress
entries, the one large result, are streamed from the server.

Why every entry of the month is read, not only those the bulletin prints (the lead units'
entries and the notes of the 配合 units' latest reports, selected in SQL as
``models/consolidation_figures.py`` selects its figures): measured on the synthetic province
(issue 24), that selection reads 38 % fewer rows but costs more than it saves, 0.75 s against
0.61 s of CPU on SQLite (its join and ``json_extract`` per entry outweigh the rows not built in
Python) and 0.54 s against 0.49 s on PostgreSQL; one JSON aggregate per submission or per
measure instead of rows is no cheaper either. What a row costs here is the driver building its
Python values, so the two large results skip SQLAlchemy's rows (``_parts``).
"""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, ScalarSelect, Select, Text, case, cast, or_, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from config.errors import NotFoundError
from models import tables as t
from models.consolidation_store import (
    LEAD_ROLES,
    choose_cycle,
    deadline_of,
    extensions_by_policy,
    window_days,
)
from models.types import utc_from_driver
from tasks.consolidation.consolidate import (
    COUNTING,
    LOADED,
    Consolidation,
    ConsolidationInput,
    GroupFact,
    LedgerFact,
    MeasureFact,
    SubmissionFact,
    TargetFact,
    UnitFact,
    consolidate,
)
from tasks.deadlines import MeasureDeadline

CHUNK = 400  # policies per pass: a province (~120 counties) is one pass
STREAM_ROWS = 20_000  # progress entries fetched per round trip

_fast_loads: Callable[[str | bytes], Any] = json.loads
try:  # a dependency of Prefect's; JSON text parsed as the JSON column type would parse it
    from orjson import loads as _orjson_loads

    _fast_loads = _orjson_loads
except ImportError:  # pragma: no cover
    pass


def _all(connection: Connection, statement: Select[Any]) -> Sequence[Any]:
    """Every row at once (``fetchall``): iterating a result fetches row by row."""
    return connection.execute(statement).all()


def _parts(
    connection: Connection, statement: Select[Any], *, stream: bool = False
) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The rows of one of the two large results (the responsibilities, the progress entries),
    part by part, straight from the driver's cursor: their columns are plain ids, text and
    floats, and building SQLAlchemy rows for them cost about a sixth of the province's load.
    The statement's parameters are ids and constant statuses, rendered inline. ``stream``:
    fetched from the server as read (a server-side cursor on PostgreSQL; SQLite steps anyway)."""
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    raw: Any = connection.connection.dbapi_connection
    if stream and connection.dialect.name == "postgresql":
        cursor = raw.cursor(name="taskforce_consolidation_rows")
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql)
        while part := cursor.fetchmany(STREAM_ROWS):
            yield part
    finally:
        cursor.close()


def _select(*columns: Any) -> Select[Any]:
    """A Core select of any number of columns (sqlmodel's ``select`` types four at most)."""
    return sa_select(*columns)


def _loads(value: str | bytes | None) -> Any:
    """A JSON column read as text (``CAST(… AS TEXT)``): parsed here, faster than the column
    type's result processor (and psycopg's json loader) would."""
    if value is None:
        return None
    try:
        return _fast_loads(value)
    except ValueError:  # what only the standard library accepts (NaN, huge integers)
        return json.loads(value)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a chunk's rows become objects: they hold no cycles,
    and the collector would otherwise rescan the growing heap tens of times per chunk."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the pause allocated joins the oldest generation at once (freeze, then unfreeze):
        # left in the youngest, the first collection after it would walk all of it (a tenth of
        # a province's month), and the next generation's again.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def load_consolidation_inputs(
    session: Session,
    policy_codes: Sequence[str],
    *,
    period: str,
    as_of: datetime,
    obligation: str | None = None,
    yellow_points: float = 10.0,
    red_points: float = 30.0,
    chunk: int = CHUNK,
) -> list[ConsolidationInput]:
    """The consolidation inputs of ``policy_codes``' cycles of ``period``, in the given order."""
    return list(
        iter_consolidation_inputs(
            session, policy_codes, period=period, as_of=as_of, obligation=obligation,
            yellow_points=yellow_points, red_points=red_points, chunk=chunk,
        )
    )  # fmt: skip


def iter_consolidation_inputs(
    session: Session,
    policy_codes: Sequence[str],
    *,
    period: str,
    as_of: datetime,
    obligation: str | None = None,
    yellow_points: float = 10.0,
    red_points: float = 30.0,
    chunk: int = CHUNK,
) -> Iterator[ConsolidationInput]:
    """As ``load_consolidation_inputs``, yielded chunk by chunk of ``chunk`` policies."""
    for start in range(0, len(policy_codes), chunk):
        with _gc_paused():
            inputs = _load_chunk(
                session, list(policy_codes[start : start + chunk]), period, obligation, as_of,
                yellow_points, red_points,
            )  # fmt: skip
        yield from inputs


def iter_consolidations(
    session: Session,
    policy_codes: Sequence[str],
    *,
    period: str,
    as_of: datetime,
    obligation: str | None = None,
    yellow_points: float = 10.0,
    red_points: float = 30.0,
    chunk: int = CHUNK,
) -> Iterator[Consolidation]:
    """Each policy's month consolidated (``consolidate`` of ``iter_consolidation_inputs``), in
    order. A chunk is read and consolidated with the cyclic garbage collector paused: neither
    makes reference cycles, and re-enabled between the two the collector would walk the
    chunk's freshly read rows two or three times over (a tenth of the province's month)."""
    for start in range(0, len(policy_codes), chunk):
        with _gc_paused():
            inputs = _load_chunk(
                session, list(policy_codes[start : start + chunk]), period, obligation, as_of,
                yellow_points, red_points,
            )  # fmt: skip
            done = [consolidate(item) for item in inputs]
        yield from done


def _ledger_obligation(
    obligations: list[t.Obligation], first_cycle: dict[int, t.Cycle]
) -> tuple[t.Obligation, t.Cycle, tuple[str, ...]] | None:
    """The once-off ledger of ``consolidation_store._ledger``: its obligation, cycle, columns."""
    for candidate in obligations:
        per_measure = [c["key"] for c in candidate.content if c.get("kind") == "per_measure"]
        if candidate.frequency != "once" or len(per_measure) < 2:
            continue
        cycle = first_cycle.get(candidate.id or 0)
        if cycle is None or cycle.id is None:
            continue
        return candidate, cycle, tuple(per_measure)
    return None


_Chosen = tuple[t.Obligation, t.Cycle]
_Ledger = tuple[t.Obligation, t.Cycle, tuple[str, ...]]
_Progress = dict[str, tuple[str | None, float | None, dict[str, Any]]]


@dataclass(frozen=True)
class _ChunkRows:
    """A chunk's rows other than the policies and their cycles, indexed for assembly."""

    obligated: dict[int, list[tuple[int, str, str, str]]]  # obligation → (id, code, name, kind)
    county_units: dict[str, dict[int, tuple[str, str]]]  # county → unit id → (code, name)
    measures: dict[int, list[tuple[int, str, str, str]]]  # policy → (id, number, title, section)
    roles: dict[int, tuple[list[int], list[int]]]  # measure → (lead unit ids, others'), in order
    targets: dict[int, list[tuple[Any, ...]]]  # measure → its targets' columns
    groups: dict[int, list[GroupFact]]  # policy → its task-force groups
    facts: dict[tuple[int, int], list[SubmissionFact]]  # (cycle, unit) → by version
    deadlines: dict[int, MeasureDeadline]  # measure → its deadline with extensions, if dated


def _policies(session: Session, codes: list[str]) -> dict[str, t.Policy]:
    """1. The policies by code; one not loaded is the user's error."""
    policies = {
        p.code: p for p in session.exec(select(t.Policy).where(col(t.Policy.code).in_(codes)))
    }
    missing = [c for c in codes if c not in policies]
    if missing:
        known = session.exec(select(t.Policy.code).order_by(t.Policy.code)).all()
        hint = f"已载入：{'、'.join(known[:20])}" if known else "数据库中尚无政策"
        raise NotFoundError(
            f"政策 {missing[0]!r} 尚未载入（{hint}）；请先运行 taskforce policy load"
        )
    return policies


def _chosen_cycles(
    session: Session,
    codes: list[str],
    policies: dict[str, t.Policy],
    policy_ids: list[int],
    period: str | None,
    obligation: str | None,
    as_of: datetime,
    every_cycle: bool = False,
) -> tuple[dict[str, _Chosen], dict[str, _Ledger]]:
    """2–3. Each policy's cycle to consolidate and its ledger, from every obligation (retired
    too: the ledger looks at them all) and their cycles: for a named period only that period's
    and the once-off obligations' (the ledger's), unless ``every_cycle`` (to name the periods
    there are when the period is not found)."""
    obligations: dict[int, list[t.Obligation]] = defaultdict(list)
    for o in session.exec(
        select(t.Obligation)
        .where(col(t.Obligation.policy_id).in_(policy_ids))
        .order_by(col(t.Obligation.id))
    ):
        obligations[o.policy_id].append(o)
    cycles_of: dict[int, list[t.Cycle]] = defaultdict(list)
    statement = (
        select(t.Cycle)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .where(col(t.Obligation.policy_id).in_(policy_ids))
        .order_by(col(t.Cycle.obligation_id), col(t.Cycle.id))
    )
    if period is not None and not every_cycle:
        statement = statement.where(
            or_(col(t.Cycle.period) == period, col(t.Obligation.frequency) == "once")
        )
    for c in session.exec(statement):
        cycles_of[c.obligation_id].append(c)

    chosen: dict[str, _Chosen] = {}
    ledgers: dict[str, _Ledger] = {}
    for code in codes:
        policy = policies[code]
        own = obligations.get(policy.id or 0, [])
        rows = [
            (o, c)
            for o in own
            if o.retired_at is None
            for c in cycles_of.get(o.id or 0, [])
            if c.retired_at is None
        ]
        chosen[code] = choose_cycle(policy.code, rows, period, obligation, as_of)
        first = {o.id or 0: cycles_of[o.id or 0][0] for o in own if cycles_of.get(o.id or 0)}
        found = _ledger_obligation(own, first)
        if found is not None:
            ledgers[code] = found
    return chosen, ledgers


def _obligated_units(
    connection: Connection, obligation_ids: list[int]
) -> dict[int, list[tuple[int, str, str, str]]]:
    """4. The obligated units of the chosen obligations."""
    obligated: dict[int, list[tuple[int, str, str, str]]] = defaultdict(list)
    for obligation_id, unit_id, ucode, name, kind in _all(
        connection,
        _select(
            t.ObligationRecipient.obligation_id, t.Unit.id, t.Unit.code, t.Unit.name, t.Unit.kind
        )
        .join(t.Unit, col(t.Unit.id) == t.ObligationRecipient.unit_id)
        .where(col(t.ObligationRecipient.obligation_id).in_(obligation_ids))
        .order_by(col(t.ObligationRecipient.obligation_id), col(t.Unit.id)),
    ):
        obligated[obligation_id].append((unit_id, ucode, name, kind))
    return obligated


def _county_units(
    connection: Connection, policies: dict[str, t.Policy]
) -> dict[str, dict[int, tuple[str, str]]]:
    """5. Every unit of the policies' counties (codes and names)."""
    counties = sorted({p.county for p in policies.values()})
    county_units: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)
    for unit_id, county, ucode, name in _all(
        connection,
        _select(t.Unit.id, t.Unit.county, t.Unit.code, t.Unit.name).where(
            col(t.Unit.county).in_(counties)
        ),
    ):
        county_units[county][unit_id] = (ucode, name)
    return county_units


def _measures(
    connection: Connection, policy_ids: list[int]
) -> tuple[
    dict[int, list[tuple[int, str, str, str]]],
    dict[int, tuple[int, str]],
    dict[int, tuple[Any, ...]],
]:
    """6. The live measures per policy in notice order, each one's (policy, number), and the
    dated ones' (number, title, deadline, phrase, kind)."""
    measures: dict[int, list[tuple[int, str, str, str]]] = defaultdict(list)
    measure_policy: dict[int, tuple[int, str]] = {}
    dated: dict[int, tuple[Any, ...]] = {}
    for measure_id, policy_id, number, title, section_key, deadline, phrase, kind in _all(
        connection,
        _select(t.Measure.id, t.Measure.policy_id, t.Measure.number, t.Measure.title,
               t.Measure.section_key, t.Measure.deadline, t.Measure.deadline_phrase,
               t.Measure.deadline_kind)
        .where(col(t.Measure.policy_id).in_(policy_ids), col(t.Measure.retired_at).is_(None))
        .order_by(col(t.Measure.policy_id), col(t.Measure.sort_major),
                  col(t.Measure.sort_minor), col(t.Measure.id))
    ):  # fmt: skip
        assert measure_id is not None
        measures[policy_id].append((measure_id, number, title, section_key))
        measure_policy[measure_id] = (policy_id, number)
        if deadline is not None:
            dated[measure_id] = (number, title, deadline, phrase, kind)
    return measures, measure_policy, dated


def _deadlines(
    session: Session,
    policy_ids: list[int],
    dated: dict[int, tuple[Any, ...]],
    measure_policy: dict[int, tuple[int, str]],
) -> dict[int, MeasureDeadline]:
    """12. The office's extensions of the dated measures, applied."""
    extensions = extensions_by_policy(session, policy_ids) if dated else {}
    out: dict[int, MeasureDeadline] = {}
    for measure_id, (number, title, deadline, phrase, kind) in dated.items():
        granted = extensions.get(measure_policy[measure_id][0], {})
        found = deadline_of(number, title, deadline, phrase, kind, granted)
        if found is not None:
            out[measure_id] = found
    return out


def _live_measures(policy_ids: list[int]) -> ScalarSelect[Any]:
    """The ids of the measures ``_measures`` reads, as a subquery."""
    return (
        select(t.Measure.id)
        .where(col(t.Measure.policy_id).in_(policy_ids), col(t.Measure.retired_at).is_(None))
        .scalar_subquery()
    )


def _roles(
    connection: Connection, live_measures: ScalarSelect[Any]
) -> dict[int, tuple[list[int], list[int]]]:
    """7. The responsibilities of the live measures: (lead units, the others), in notice order.
    The role comes as the unit id's sign (a lead's positive): a role read as text is a string
    built per row, a third of this read's cost."""
    roles: dict[int, tuple[list[int], list[int]]] = {}
    signed = case(
        (col(t.Responsibility.role).in_(LEAD_ROLES), t.Responsibility.unit_id),
        else_=-col(t.Responsibility.unit_id),
    )
    statement = (
        _select(t.Responsibility.measure_id, signed)
        .where(col(t.Responsibility.measure_id).in_(live_measures))
        .order_by(col(t.Responsibility.measure_id), col(t.Responsibility.position),
                  col(t.Responsibility.id))
    )  # fmt: skip
    for part in _parts(connection, statement):
        for measure_id, unit_id in part:
            split = roles.get(measure_id)
            if split is None:
                split = roles[measure_id] = ([], [])
            if unit_id > 0:
                split[0].append(unit_id)
            else:
                split[1].append(-unit_id)
    return roles


def _targets(
    connection: Connection, live_measures: ScalarSelect[Any]
) -> dict[int, list[tuple[Any, ...]]]:
    """8. The live targets of the live measures, by position."""
    targets: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in _all(connection,
        _select(t.Target.measure_id, t.Target.position, t.Target.metric, t.Target.value,
               t.Target.unit_of_measure, t.Target.direction, t.Target.starts, t.Target.due)
        .where(col(t.Target.measure_id).in_(live_measures), col(t.Target.retired_at).is_(None))
        .order_by(col(t.Target.measure_id), col(t.Target.position), col(t.Target.id))
    ):  # fmt: skip
        targets[row[0]].append(tuple(row[1:]))
    return targets


def _groups(connection: Connection, policy_ids: list[int]) -> dict[int, list[GroupFact]]:
    """9. The task-force groups."""
    groups: dict[int, list[GroupFact]] = defaultdict(list)
    for policy_id, gcode, name, sections, lead_units, measures in _all(connection,
        _select(t.TaskForceGroup.policy_id, t.TaskForceGroup.code, t.TaskForceGroup.name,
               t.TaskForceGroup.sections, t.TaskForceGroup.lead_units, t.TaskForceGroup.measures)
        .where(col(t.TaskForceGroup.policy_id).in_(policy_ids))
        .order_by(col(t.TaskForceGroup.id))
    ):  # fmt: skip
        groups[policy_id].append(
            GroupFact(gcode, name, tuple(sections), tuple(lead_units), tuple(measures))
        )
    return groups


def _cycle_policy(
    codes: list[str],
    policies: dict[str, t.Policy],
    chosen: dict[str, _Chosen],
    ledgers: dict[str, _Ledger],
) -> dict[int, int]:
    """The policy id of each cycle read: the chosen cycles and the ledgers' cycles."""
    cycle_policy: dict[int, int] = {}
    for code in codes:
        pid = policies[code].id or 0
        cycle_policy[chosen[code][1].id or 0] = pid
        if code in ledgers:
            cycle_policy[ledgers[code][1].id or 0] = pid
    return cycle_policy


def _submissions(connection: Connection, cycle_ids: list[int]) -> list[tuple[Any, ...]]:
    """10. The submissions of the cycles that count, were rejected or wait unverified, parsed
    (read from the driver's cursor: SQLAlchemy's rows and timestamp type cost half of it)."""
    statement = (
        _select(t.Submission.id, t.Submission.cycle_id, t.Submission.unit_id,
               t.Submission.version, t.Submission.status, t.Submission.received_at,
               t.Submission.late_working_days, cast(t.Submission.fields, Text))
        .where(col(t.Submission.cycle_id).in_(cycle_ids), col(t.Submission.status).in_(LOADED))
        .order_by(col(t.Submission.cycle_id), col(t.Submission.unit_id),
                  col(t.Submission.version))
    )  # fmt: skip
    return [
        (sid, cycle_id, unit_id, version, status, utc_from_driver(received), late, _loads(fields))
        for part in _parts(connection, statement)
        for sid, cycle_id, unit_id, version, status, received, late, fields in part
    ]


def _progress(
    connection: Connection,
    submissions: list[tuple[Any, ...]],
    cycle_policy: dict[int, int],
    measure_policy: dict[int, tuple[int, str]],
) -> dict[int, _Progress]:
    """11. The progress entries of the counting submissions, streamed, by measure number; an
    entry for another policy's measure is left out.

    The entries are asked for by the submissions' ids, not through a join on the cycles, so
    that they are read by the submission index whatever the planner makes of the join: planned
    for a client-side cursor, PostgreSQL hash-joins the whole ``progressentry`` table, every
    month ever reported (104 ms on the synthetic province's year against 18 ms by the index;
    through the server-side cursor used here, 77 ms against 69 ms)."""
    numbers_of: dict[int, dict[int, str]] = {}  # policy id → its measures' numbers by id
    for measure_id, (policy_id, number) in measure_policy.items():
        numbers_of.setdefault(policy_id, {})[measure_id] = number
    numbers_by_submission = {
        s[0]: numbers_of.get(cycle_policy[s[1]], {}) for s in submissions if s[4] in COUNTING
    }
    progress: dict[int, _Progress] = {}
    if not numbers_by_submission:
        return progress
    # Ids from our own query, ints, written into the statement as SQLAlchemy would write them:
    # its per-value literal rendering took 5-18 ms for a province's 5,800 ids.
    ids = ", ".join(map(str, sorted(numbers_by_submission)))
    statement = _select(
        t.ProgressEntry.submission_id, t.ProgressEntry.measure_id, t.ProgressEntry.status,
        t.ProgressEntry.value_reached, cast(t.ProgressEntry.fields, Text),
    ).where(text(f"progressentry.submission_id IN ({ids})"))  # fmt: skip
    fast = _fast_loads  # the column is never NULL: _loads only for what orjson refuses
    last: int | None = None
    numbers: dict[int, str] = {}
    entries: _Progress = {}
    for part in _parts(connection, statement, stream=True):
        for submission_id, measure_id, status, value, fields in part:
            if submission_id != last:  # a submission's rows come together: one lookup for all
                last = submission_id
                numbers = numbers_by_submission[submission_id]
                entries = progress.setdefault(submission_id, {})
            found = numbers.get(measure_id)
            if found is not None:
                try:
                    parsed = fast(fields)
                except ValueError:
                    parsed = _loads(fields)
                entries[found] = (status, value, parsed)
    return progress


def _submission_facts(
    submissions: list[tuple[Any, ...]], progress: dict[int, _Progress]
) -> dict[tuple[int, int], list[SubmissionFact]]:
    """The submissions as facts with their progress, by (cycle, unit)."""
    facts: dict[tuple[int, int], list[SubmissionFact]] = defaultdict(list)
    for sid, cycle_id, unit_id, version, status, received_at, late, fields in submissions:
        facts[(cycle_id, unit_id)].append(
            SubmissionFact(sid, version, status, received_at, late, fields, progress.get(sid, {}))
        )
    return facts


def _ledger_fact(
    ledger: _Ledger,
    units: list[tuple[int, str, str, str]],
    facts: dict[tuple[int, int], list[SubmissionFact]],
    as_of: datetime,
) -> LedgerFact:
    """The ledger with each obligated unit's latest counting version by ``as_of``."""
    ledger_obligation, ledger_cycle, per_measure = ledger
    latest: dict[str, SubmissionFact | None] = {}
    for unit_id, ucode, _, _ in units:
        counting = [
            s for s in facts.get((ledger_cycle.id or 0, unit_id), [])
            if s.status in COUNTING and s.received_at <= as_of
        ]  # fmt: skip
        latest[ucode] = counting[-1] if counting else None
    return LedgerFact(ledger_obligation.name, per_measure, latest)


def _measure_facts(
    policy: t.Policy, rows: _ChunkRows, all_units: dict[int, tuple[str, str]]
) -> tuple[MeasureFact, ...]:
    """The policy's measures with their units (by code) and targets."""

    codes = {unit_id: code for unit_id, (code, _) in all_units.items()}
    none: tuple[list[int], list[int]] = ([], [])

    def unit_codes(unit_ids: list[int]) -> tuple[str, ...]:
        return tuple([codes[u] if u in codes else str(u) for u in unit_ids])

    return tuple(
        MeasureFact(
            number=number,
            title=title,
            section_key=section_key,
            lead_units=unit_codes(rows.roles.get(mid, none)[0]),
            support_units=unit_codes(rows.roles.get(mid, none)[1]),
            targets=tuple(
                TargetFact(
                    position, metric, value, uom, direction, starts or policy.active_start, due
                )
                for position, metric, value, uom, direction, starts, due in rows.targets.get(
                    mid, []
                )
            ),
            deadline=rows.deadlines.get(mid),
        )
        for mid, number, title, section_key in rows.measures.get(policy.id or 0, [])
    )


def _input(
    policy: t.Policy,
    chosen: _Chosen,
    ledger: _Ledger | None,
    rows: _ChunkRows,
    as_of: datetime,
    yellow_points: float,
    red_points: float,
) -> ConsolidationInput:
    """One policy's consolidation input from the chunk's rows."""
    pid = policy.id or 0
    chosen_obligation, cycle = chosen
    cycle_id = cycle.id or 0
    units = rows.obligated.get(chosen_obligation.id or 0, [])
    all_units = rows.county_units.get(policy.county, {})
    return ConsolidationInput(
        policy_code=policy.code,
        county=policy.county,
        policy_title=policy.title,
        doc_number=policy.doc_number,
        office_name=policy.task_force_spec.office.name,
        obligation_code=chosen_obligation.code,
        obligation_name=chosen_obligation.name,
        period=cycle.period,
        period_label=cycle.period_label,
        frequency=chosen_obligation.frequency,
        covers_end=cycle.covers_end,
        due_at=cycle.due_at,
        as_of=as_of,
        units=tuple(
            UnitFact(ucode, name, kind, tuple(rows.facts.get((cycle_id, unit_id), [])))
            for unit_id, ucode, name, kind in units
        ),
        measures=_measure_facts(policy, rows, all_units),
        groups=tuple(rows.groups.get(pid, [])),
        unit_names={ucode: name for ucode, name in all_units.values()},
        ledger=None if ledger is None else _ledger_fact(ledger, units, rows.facts, as_of),
        yellow_points=yellow_points,
        red_points=red_points,
        deadline_window_days=window_days(policy),
    )


def _load_chunk(
    session: Session,
    codes: list[str],
    period: str | None,
    obligation: str | None,
    as_of: datetime,
    yellow_points: float,
    red_points: float,
) -> list[ConsolidationInput]:
    """The inputs of ``codes``, in order, from twelve set-based queries (numbered below); the
    twelfth, the deadlines' extensions, only when a measure is dated."""
    if not codes:
        return []
    policies = _policies(session, codes)
    policy_ids = [p.id for p in policies.values() if p.id is not None]
    connection = session.connection()  # column queries run on Core: plain rows, no ORM work
    try:
        chosen, ledgers = _chosen_cycles(
            session, codes, policies, policy_ids, period, obligation, as_of
        )
    except NotFoundError:  # said with every period the policy has
        chosen, ledgers = _chosen_cycles(
            session, codes, policies, policy_ids, period, obligation, as_of, every_cycle=True
        )
    obligation_ids = sorted({o.id for o, _ in chosen.values() if o.id is not None})
    obligated = _obligated_units(connection, obligation_ids)
    county_units = _county_units(connection, policies)
    measures, measure_policy, dated = _measures(connection, policy_ids)
    live_measures = _live_measures(policy_ids)
    roles = _roles(connection, live_measures)
    targets = _targets(connection, live_measures)
    groups = _groups(connection, policy_ids)
    cycle_policy = _cycle_policy(codes, policies, chosen, ledgers)
    cycle_ids = sorted(cycle_policy)
    submissions = _submissions(connection, cycle_ids)
    progress = _progress(connection, submissions, cycle_policy, measure_policy)
    rows = _ChunkRows(
        obligated, county_units, measures, roles, targets, groups,
        _submission_facts(submissions, progress),
        _deadlines(session, policy_ids, dated, measure_policy),
    )  # fmt: skip
    return [
        _input(policies[code], chosen[code], ledgers.get(code), rows, as_of,
               yellow_points, red_points)
        for code in codes
    ]  # fmt: skip
