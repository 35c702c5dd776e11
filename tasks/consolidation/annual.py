"""The annual roll-up (新绛 counts completion in the 年度考核): per unit, the year's record.

Built from the monthly consolidations of the year's cycles due by ``as_of`` (each consolidated
as of ``as_of``, so a report that came in late still counts as late), plus the 督办 cases opened
and closed in the year.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tasks.consolidation.consolidate import Consolidation


@dataclass(frozen=True)
class CaseCount:
    opened: int
    closed: int


@dataclass(frozen=True)
class AnnualRow:
    code: str
    name: str
    months: int  # cycles the unit had to report in
    on_time: int
    late: int
    missing: int
    rejected: int
    late_months: tuple[str, ...]  # period labels
    missing_months: tuple[str, ...]  # missing or rejected and never corrected
    targets_led: int  # targets of measures the unit leads
    targets_reached: int  # of those, reached (100 % or more) by the last month
    cases_opened: int
    cases_closed: int

    @property
    def on_time_rate(self) -> float:
        return self.on_time / self.months if self.months else 0.0


@dataclass(frozen=True)
class AnnualRollup:
    policy_code: str
    county: str
    office_name: str
    obligation_name: str
    year: str
    as_of: datetime
    periods: tuple[str, ...]  # period labels, in order
    rows: tuple[AnnualRow, ...]


def annual_rollup(
    months: Sequence[Consolidation], cases: Mapping[str, CaseCount], *, year: str, as_of: datetime
) -> AnnualRollup:
    """Add up the year's months unit by unit (units in the order of the last month)."""
    if not months:
        raise ValueError("an annual roll-up needs at least one consolidated month")
    last = months[-1]
    rows = []
    for unit in last.units:
        states = [
            (m.source.period_label, row)
            for m in months
            for row in m.units
            if row.code == unit.code
        ]  # fmt: skip
        led = [
            target
            for measure in last.measures
            if unit.name in measure.lead_units
            for target in measure.targets
        ]
        count = cases.get(unit.code, CaseCount(0, 0))
        rows.append(
            AnnualRow(
                code=unit.code,
                name=unit.name,
                months=len(states),
                on_time=sum(1 for _, r in states if r.state == "on_time"),
                late=sum(1 for _, r in states if r.state == "late"),
                missing=sum(1 for _, r in states if r.state == "missing"),
                rejected=sum(1 for _, r in states if r.state == "rejected"),
                late_months=tuple(label for label, r in states if r.state == "late"),
                missing_months=tuple(
                    label for label, r in states if r.state in ("missing", "rejected")
                ),
                targets_led=len(led),
                targets_reached=sum(1 for t in led if (t.done_share or 0) >= 1),
                cases_opened=count.opened,
                cases_closed=count.closed,
            )
        )
    return AnnualRollup(
        policy_code=last.source.policy_code,
        county=last.source.county,
        office_name=last.source.office_name,
        obligation_name=last.source.obligation_name,
        year=year,
        as_of=as_of,
        periods=tuple(m.source.period_label for m in months),
        rows=tuple(rows),
    )
