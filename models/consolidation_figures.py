"""A month's bulletin figures aggregated in the database, for many policies at once.

``month_figures`` asks the database for what the bulletin prints of each policy's cycle of a
period, and brings into Python only that: each obligated unit's state (on time, late, missing,
rejected, from its first and latest report that counts), the latest report's problems and next
steps, the status each reporting unit gave each measure with the least advanced of them, and
each target's largest reported value. Three statements for any number of policies, on SQLite and
PostgreSQL alike (their JSON functions differ; nothing else does).

The rules are those of ``tasks.consolidation.consolidate`` (the reference, which the tests hold
these figures against on both seeds' months and the synthetic province); this is what the
province benchmark takes as its floor: the least any consolidation must read and aggregate.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from models.consolidation_batch import _loads
from models.types import UTCDateTime
from tasks.consolidation.consolidate import COUNTING, STATE_LABELS, UNVERIFIED, least_advanced


@dataclass(frozen=True)
class UnitFigures:
    """One obligated unit's line of the bulletin's 报送情况."""

    code: str
    state: str  # on_time / late / missing / rejected
    late_working_days: int
    version: int | None  # of the report whose content is used (or of the rejected one)
    needs_review: bool
    unverified: bool
    problems: str  # as the latest report that counts says them, unfiltered
    next_steps: str


@dataclass(frozen=True)
class MonthFigures:
    """One policy's month as the bulletin prints it, before any rendering."""

    policy_code: str
    counts: dict[str, int]  # on_time, late, missing, rejected, needs_review, unverified, obligated
    units: tuple[UnitFigures, ...]  # directory order
    # measure number → (unit code, status or None, whether its latest report has an entry)
    reports: dict[str, tuple[tuple[str, str | None, bool], ...]] = field(default_factory=dict)
    status: dict[str, str | None] = field(default_factory=dict)  # least advanced per measure
    reached: dict[tuple[str, int], float] = field(default_factory=dict)  # (number, index) → max


# The cycles of the period: a periodic obligation's, as ``choose_cycle`` picks for a period.
_CYCLES = """
WITH cyc AS (
  SELECT p.code AS code, p.id AS policy_id, o.id AS obligation_id, c.id AS cycle_id
  FROM policy p JOIN obligation o ON o.policy_id = p.id JOIN cycle c ON c.obligation_id = o.id
  WHERE p.code IN :codes AND c.period = :period AND o.frequency <> 'once'
    AND o.retired_at IS NULL AND c.retired_at IS NULL
)"""

# Every obligated unit with what it sent for the cycle (none: one row of nulls), by version.
_UNITS = (
    _CYCLES
    + """
SELECT cyc.code, u.code, s.id, s.status, CASE WHEN s.received_at <= :as_of THEN 1 ELSE 0 END,
       s.late_working_days, {review_of}, {problems}, {next_steps}, s.version
FROM cyc
JOIN obligationrecipient r ON r.obligation_id = cyc.obligation_id
JOIN unit u ON u.id = r.unit_id
LEFT JOIN submission s ON s.cycle_id = cyc.cycle_id AND s.unit_id = u.id
  AND s.status IN ('accepted', 'unstructured', 'rejected', 'unverified')
ORDER BY cyc.code, u.id, s.version"""
)

# The entries of the units that report on each measure (its obliged lead units, else its
# obliged 配合 units), from each of their reports that may count.
_ENTRIES = (
    _CYCLES
    + """,
led AS (
  SELECT DISTINCT r.measure_id
  FROM cyc
  JOIN measure m ON m.policy_id = cyc.policy_id
  JOIN responsibility r ON r.measure_id = m.id
  JOIN obligationrecipient o ON o.obligation_id = cyc.obligation_id AND o.unit_id = r.unit_id
  WHERE r.role IN ('lead', 'responsible')
)
SELECT cyc.code, m.number, u.code, s.id, pe.id IS NOT NULL, pe.status, pe.value_reached,
       {targets}
FROM cyc
JOIN measure m ON m.policy_id = cyc.policy_id AND m.retired_at IS NULL
JOIN responsibility r ON r.measure_id = m.id
JOIN obligationrecipient o ON o.obligation_id = cyc.obligation_id AND o.unit_id = r.unit_id
JOIN unit u ON u.id = r.unit_id
LEFT JOIN submission s ON s.cycle_id = cyc.cycle_id AND s.unit_id = r.unit_id
  AND s.status IN ('accepted', 'unstructured') AND s.received_at <= :as_of
LEFT JOIN progressentry pe ON pe.submission_id = s.id AND pe.measure_id = m.id
WHERE r.role IN ('lead', 'responsible') OR m.id NOT IN (SELECT measure_id FROM led)
ORDER BY cyc.code, m.sort_major, m.sort_minor, m.id, r.position, r.id, s.version"""
)

_DIALECT = {
    "sqlite": {
        "review_of": "CAST(json_extract(s.fields, '$.review.of') AS TEXT)",
        "problems": "json_extract(s.fields, '$.problems')",
        "next_steps": "json_extract(s.fields, '$.\"next-steps\"')",
        "targets": "json_extract(pe.fields, '$.targets')",
    },
    "postgresql": {
        "review_of": "(s.fields -> 'review' ->> 'of')",
        "problems": "(s.fields ->> 'problems')",
        "next_steps": "(s.fields ->> 'next-steps')",
        "targets": "(pe.fields -> 'targets')::text",
    },
}


def _statement(template: str, dialect: str) -> Any:
    parts = _DIALECT["postgresql" if dialect == "postgresql" else "sqlite"]
    return text(template.format(**parts)).bindparams(
        bindparam("codes", expanding=True), bindparam("as_of", type_=UTCDateTime())
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _unit(ucode: str, sent: list[tuple[Any, ...]]) -> tuple[UnitFigures, int | None]:
    """A unit's line from its versions (id, status, arrived, late, review of, problems, next
    steps, version), by ``consolidate``'s rules; and the id of its latest report that counts."""
    arrived = [s for s in sent if s[2]]
    overruled = {s[4] for s in arrived if s[1] == "rejected" and s[4] is not None}
    counting = [s for s in arrived if s[1] in COUNTING and str(s[0]) not in overruled]
    waits = bool(arrived) and arrived[-1][1] == UNVERIFIED
    if counting:
        first, latest = counting[0], counting[-1]
        return UnitFigures(
            ucode, "late" if first[3] > 0 else "on_time", first[3], latest[7],
            latest[1] == "unstructured", waits, _text(latest[5]), _text(latest[6]),
        ), latest[0]  # fmt: skip
    held = {str(s[0]) for s in sent if s[1] == UNVERIFIED}
    answered = [
        s for s in arrived if s[1] != UNVERIFIED and not (s[1] == "rejected" and s[4] in held)
    ]
    if answered and answered[-1][1] == "rejected":
        return UnitFigures(ucode, "rejected", 0, answered[-1][7], False, waits, "", ""), None
    return UnitFigures(ucode, "missing", 0, None, False, waits, "", ""), None


def month_figures(
    connection: Connection, policy_codes: Sequence[str], *, period: str, as_of: datetime
) -> dict[str, MonthFigures]:
    """Each policy's figures for its cycle of ``period`` as of ``as_of``, by policy code (a
    policy without such a cycle is left out)."""
    dialect = connection.dialect.name
    params = {"codes": list(policy_codes), "period": period, "as_of": as_of}
    sent: dict[str, dict[str, list[tuple[Any, ...]]]] = defaultdict(dict)
    for code, ucode, sid, *version in connection.execute(_statement(_UNITS, dialect), params):
        versions = sent[code].setdefault(ucode, [])
        if sid is not None:
            versions.append((sid, *version))
    units: dict[str, tuple[UnitFigures, ...]] = {}
    latest: dict[tuple[str, str], int] = {}
    for code, by_unit in sent.items():
        lines = []
        for ucode, versions in by_unit.items():
            line, sid = _unit(ucode, versions)
            lines.append(line)
            if sid is not None:
                latest[(code, ucode)] = sid
        units[code] = tuple(lines)
    reports: dict[str, dict[str, dict[str, tuple[str | None, bool]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    reached: dict[str, dict[tuple[str, int], float]] = defaultdict(dict)
    for code, number, ucode, sid, has_entry, status, value, targets in connection.execute(
        _statement(_ENTRIES, dialect), params
    ):
        shown = reports[code][number]
        if sid is None or sid != latest.get((code, ucode)):
            shown.setdefault(ucode, (None, False))
            continue
        shown[ucode] = (status, bool(has_entry))
        if not has_entry:
            continue
        values = _loads(targets) if targets is not None else None
        found = reached[code]
        for index, reached_value in _values(values, value):
            key = (number, index)
            if key not in found or reached_value > found[key]:
                found[key] = reached_value
    out: dict[str, MonthFigures] = {}
    for code, shown_units in units.items():
        counted = Counter(u.state for u in shown_units)
        counts = {state: counted[state] for state in STATE_LABELS}
        counts["needs_review"] = sum(1 for u in shown_units if u.needs_review)
        counts["unverified"] = sum(1 for u in shown_units if u.unverified)
        counts["obligated"] = len(shown_units)
        by_measure = {
            n: tuple((u, s, has) for u, (s, has) in r.items()) for n, r in reports[code].items()
        }
        out[code] = MonthFigures(
            code, counts, shown_units, by_measure,
            {n: least_advanced([s for _, s, has in r if has]) for n, r in by_measure.items()},
            reached[code],
        )  # fmt: skip
    return out


def _values(targets: Any, value: float | None) -> list[tuple[int, float]]:
    """An entry's reached values by target index, as ``consolidate`` reads them."""
    found = [
        (int(t.get("index", 0)), float(t["value"]))
        for t in targets or []
        if isinstance(t.get("value"), int | float)
    ]
    if value is not None and not targets:
        found.append((0, value))
    return found
