"""The benchmark table: each benchmark records its rows (now beside its floor, the share and the
target), and ``make bench`` prints them together once every benchmark has run.

``TASKFORCE_BENCH_TINY=1`` runs every benchmark once at a tiny scale (a few units, one
repetition): ``make test`` does so through tests/test_bench_tiny.py so that no benchmark rots
unnoticed. A tiny run's figures are printed, marked as such, and mean nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

TINY = os.environ.get("TASKFORCE_BENCH_TINY") == "1"

Kind = Literal["rate", "time", "overhead"]


def size(name: str, default: int, tiny: int) -> int:
    """A benchmark's size: ``tiny`` in a tiny run, else the variable ``name`` or ``default``."""
    return tiny if TINY else int(os.environ.get(name, str(default)))


@dataclass(frozen=True)
class Row:
    """One line of the table.

    ``rate``: now and floor are throughputs, the share is now / floor, met when ≥ target.
    ``time``: now and floor are durations, the share is now / floor (×), met when ≤ target.
    ``overhead``: now is a run with the overhead, floor the same work without; the share is
    (now − floor) / now, met when < target.
    """

    what: str
    now: float
    floor: float
    unit: str
    kind: Kind
    target: float
    floor_what: str = ""

    @property
    def share(self) -> float:
        if self.kind == "rate":
            return self.now / self.floor if self.floor else 0.0
        if self.kind == "time":
            return self.now / self.floor if self.floor else float("inf")
        return (self.now - self.floor) / self.now if self.now else 0.0

    @property
    def met(self) -> bool:
        if self.kind == "rate":
            return self.share >= self.target
        if self.kind == "time":
            return self.share <= self.target
        return self.share < self.target

    def share_text(self) -> str:
        return f"{self.share:.2f}×" if self.kind == "time" else f"{100 * self.share:.1f} %"

    def target_text(self) -> str:
        if self.kind == "rate":
            return f"≥ {100 * self.target:.0f} %"
        if self.kind == "time":
            return f"≤ {self.target:g}×"
        return f"< {100 * self.target:.0f} %"


ROWS: list[Row] = []


def record(
    what: str,
    now: float,
    floor: float,
    unit: str,
    *,
    kind: Kind,
    target: float,
    floor_what: str = "",
) -> Row:
    """Keep a row for the closing table (and return it, for the benchmark's own line)."""
    row = Row(what, now, floor, unit, kind, target, floor_what)
    ROWS.append(row)
    return row


def table(rows: list[Row]) -> str:
    """The closing table, one line per row: what, now, floor, share, target, met."""
    head = f"{'what':<58} {'now':>14} {'floor':>14} {'share':>8} {'target':>8}  met"
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row.what:<58} {row.now:>9.2f} {row.unit:<4} {row.floor:>9.2f} {row.unit:<4}"
            f" {row.share_text():>8} {row.target_text():>8}  {'yes' if row.met else 'NO'}"
        )
        if row.floor_what:
            lines.append(f"{'':<4}floor: {row.floor_what}")
    if TINY:
        lines.append(
            "(TASKFORCE_BENCH_TINY=1: a tiny run to keep the benchmarks working; not a measurement)"
        )
    return "\n".join(lines)


def save(rows: list[Row], path: Path) -> None:
    """The rows as JSON, for the figures quoted in notes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [asdict(r) | {"share": r.share, "met": r.met} for r in rows]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
