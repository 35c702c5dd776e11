"""The units' standing in each monthly cycle, read from its consolidation (pure).

The escalation plan needs two things from a month's consolidation: who answers for a red target
(a 督办单 each) and every unit's record for the lag rules (repeat offenders, 通报表扬).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from tasks.consolidation.consolidate import Consolidation, ConsolidationInput, consolidate
from tasks.escalation.rules import CycleRecord

# cycle (obligation, period) → (unit code, numbers of the measures it leads first with a red target)
RedUnits = dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]]


def monthly_standing(
    cycles: Sequence[tuple[str, str, ConsolidationInput]],  # (obligation, period, its input)
    unit_codes: Mapping[str, str],  # unit name → code, for the policy's obligated units
) -> tuple[RedUnits, dict[str, list[CycleRecord]]]:
    """Per cycle, the units with a red target to answer for; per unit, its records in order."""
    red_units: RedUnits = {}
    history: dict[str, list[CycleRecord]] = defaultdict(list)
    for obligation, period, source in cycles:
        red, records = cycle_standing(consolidate(source), period, unit_codes)
        red_units[(obligation, period)] = red
        for code, record in records:
            history[code].append(record)
    return red_units, dict(history)


def cycle_standing(
    c: Consolidation, period: str, unit_codes: Mapping[str, str]
) -> tuple[list[tuple[str, tuple[str, ...]]], list[tuple[str, CycleRecord]]]:
    """One cycle's red-target units, and each consolidated unit's record, by unit code."""
    red: dict[str, list[str]] = defaultdict(list)
    lights: dict[str, list[str]] = defaultdict(list)
    statuses: dict[str, list[str]] = defaultdict(list)
    for measure in c.measures:
        for name in measure.lead_units:
            if name in unit_codes:
                lights[unit_codes[name]].append(measure.light)
        # A red target is the first-named unit's to answer for: 陵川 names up to 40
        # units on one measure, and one 督办单 each would drown the one that leads.
        first = unit_codes.get(measure.lead_units[0]) if measure.lead_units else None
        if first and any(target.light == "red" for target in measure.targets):
            red[first].append(measure.number)
        for name, status in measure.reports:
            if name in unit_codes:
                statuses[unit_codes[name]].append(status)
    records = [
        (row.code, CycleRecord(period, row.state, tuple(lights[row.code]),
                               tuple(statuses[row.code])))
        for row in c.units
    ]  # fmt: skip
    return [(code, tuple(numbers)) for code, numbers in red.items()], records
