"""The bulletin figures of a consolidation made by the pure-Python rules (the reference), in the
shape ``models.consolidation_figures.month_figures`` gives them from the database."""

from __future__ import annotations

from models.consolidation_figures import MonthFigures, UnitFigures
from tasks.consolidation.consolidate import (
    NOT_OBLIGED,
    NOT_REPORTED,
    Consolidation,
    counting_reports,
)


def figures_of(c: Consolidation) -> MonthFigures:
    """What ``month_figures`` should say of ``c``'s policy and month."""
    data = c.source
    code_of = {name: code for code, name in data.unit_names.items()}
    latest = {u.code: counting_reports(u, data.as_of)[1] for u in data.units}
    units = []
    for row in c.units:
        report = latest[row.code]
        fields = report.fields if report is not None else {}
        units.append(
            UnitFigures(
                row.code,
                row.state,
                row.late_working_days,
                row.version,
                row.needs_review,
                row.unverified,
                str(fields.get("problems") or ""),
                str(fields.get("next-steps") or ""),
            )
        )
    reports: dict[str, tuple[tuple[str, str | None, bool], ...]] = {}
    for m in c.measures:
        shown = tuple(
            (code_of.get(name, name), None if status == "未填" else status,
             status != NOT_REPORTED)
            for name, status in m.reports
            if status != NOT_OBLIGED
        )  # fmt: skip
        if shown:
            reports[m.number] = tuple(
                (code, None if not has else status, has) for code, status, has in shown
            )
    return MonthFigures(
        data.policy_code,
        dict(c.counts),
        tuple(units),
        reports,
        {m.number: m.status for m in c.measures if m.number in reports},
        {
            (m.number, i): t.reached
            for m in c.measures
            for i, t in enumerate(m.targets)
            if t.reached is not None
        },
    )


def comparable(figures: MonthFigures, c: Consolidation) -> MonthFigures:
    """``figures`` less the values the consolidation has no target for (an index past the
    measure's targets, a value for a measure without any): the bulletin prints none of them."""
    count = {m.number: len(m.targets) for m in c.measures}
    reached = {k: v for k, v in figures.reached.items() if k[1] < count.get(k[0], 0)}
    return MonthFigures(
        figures.policy_code, figures.counts, figures.units, figures.reports, figures.status,
        reached,
    )  # fmt: skip
