"""How the demo's county progresses on its quantified targets, month by month (pure).

A target's figure is county-wide: every unit leading it reports the same cumulative value, as
the consolidation expects (it takes the largest, never the sum). Each target gets a pace, a
multiple of 序时进度 drawn from a role: most keep near schedule, the target due soonest falls
well behind (a red light once its period is half gone), one lags (yellow) and one runs ahead.
Everything is drawn from a seed through SHA-256, so a replay reports the same figures each time
and another seed tells another story.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from tasks.consolidation.consolidate import schedule_share

Role = Literal["behind", "lagging", "ahead", "on_pace"]

# (low, high) multiples of 序时进度. The bounds keep each role's light whatever the period:
# "behind" stays red from two thirds of a quarter on; "lagging" is yellow, not red, both on a
# year's target after a quarter (22 points of schedule) and a half-year's (50 points).
PACES: Mapping[Role, tuple[float, float]] = {
    "behind": (0.30, 0.45),
    "lagging": (0.44, 0.50),
    "ahead": (1.30, 1.45),
    "on_pace": (0.93, 1.06),
}
WOBBLE = 0.02  # month-to-month variation of a pace, as a share of it
MOST_DONE = 1.2  # a figure never passes 1.2 times its target
COUNT_UNITS = frozenset("个座处家项户人次条所台辆场批")
STATUS_DONE, STATUS_GOING, STATUS_BEHIND, STATUS_NOT_STARTED = "已完成", "推进中", "滞后", "未启动"


def draw(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts`` (not Python's hash(), which changes per process)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class TargetSpec:
    """A measure's quantified target, as the consolidation reads it."""

    measure: str
    index: int  # position among the measure's live targets, as the form numbers its rows
    metric: str
    value: float
    unit: str
    direction: str  # at_least / at_most
    starts: date  # the target's own start, else the policy's
    due: date

    @property
    def key(self) -> str:
        return f"{self.measure}#{self.index}"

    @property
    def lumpy(self) -> bool:
        """A small count (2 座, 12 个): its figure moves in steps too coarse to show a pace."""
        return self.unit in COUNT_UNITS and self.value < 20


def assign_roles(targets: Sequence[TargetSpec], seed: str) -> dict[str, Role]:
    """Each target's role by key: the soonest due is behind, one lags, one is ahead."""
    roles: dict[str, Role] = {t.key: "on_pace" for t in targets}
    open_ended = [t for t in targets if t.direction != "at_most"]
    if not open_ended:
        return roles
    soonest = min(open_ended, key=lambda t: (t.due, draw(seed, "soonest", t.key)))
    roles[soonest.key] = "behind"
    steady = [t for t in open_ended if t is not soonest and not t.lumpy]
    steady.sort(key=lambda t: draw(seed, "pick", t.key))
    picked: tuple[Role, ...] = ("lagging", "ahead")
    for target, role in zip(steady, picked, strict=False):
        roles[target.key] = role
    return roles


def _month_ends(start: date, at: date) -> Iterator[date]:
    """The last day of each month from ``start``'s to the one before ``at``'s, then ``at``."""
    day = start
    while (day.year, day.month) < (at.year, at.month):
        following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        yield following - timedelta(days=1)
        day = following
    yield at


def decimals(target: TargetSpec) -> int:
    """How precisely a bureau writes the figure: whole counts, one decimal for % and large
    values, two for 亿元-sized ones."""
    if target.unit in COUNT_UNITS:
        return 0
    if target.unit == "%" or target.value >= 100:
        return 1
    return 2


def county_figure(target: TargetSpec, role: Role, seed: str, at: date) -> float:
    """The target's cumulative figure at the end of day ``at``: never lower than a month
    before, at most 1.2 times the target, a rate at most 100."""
    if at < target.starts:
        return 0.0
    low, high = PACES[role]
    pace = low + (high - low) * draw(seed, "pace", target.key)
    if target.direction == "at_most":  # a ceiling: the county stays under it
        return round(target.value * (0.8 + 0.15 * draw(seed, "ceiling", target.key, at)), 2)
    done = 0.0
    for day in _month_ends(target.starts, at):
        wobble = 1 + WOBBLE * (2 * draw(seed, "wobble", target.key, day) - 1)
        share = schedule_share(target.starts, target.due, day)
        done = max(done, min(share * pace * wobble, MOST_DONE))
    figure = round(target.value * done, decimals(target))
    return min(figure, 100.0) if target.unit == "%" else figure


def target_status(target: TargetSpec, figure: float, at: date, yellow_points: float) -> str:
    """The status a bureau writes beside the figure: 滞后 when it is as far behind schedule as
    a yellow light, 未启动 while nothing is done early in the period."""
    if target.direction == "at_most" or not target.value:
        return STATUS_GOING
    done = figure / target.value
    if done >= 1:
        return STATUS_DONE
    share = schedule_share(target.starts, target.due, at)
    if figure <= 0 and share < 0.1:
        return STATUS_NOT_STARTED
    if (share - done) * 100 >= yellow_points:
        return STATUS_BEHIND
    return STATUS_GOING


def measure_status(seed: str, unit: str, measure: str, month: int) -> str:
    """A measure without target, as one unit reports it in the ``month``-th month (0 first):
    mostly 推进中; a few units behind from the second month on, a few not started in the first,
    a few done from a month of their own on. The chances are small because a measure shows
    the least advanced status of its leads, and 陵川 names up to 40 units on one."""
    chance = draw(seed, "measure", unit, measure)
    if chance < 0.008:
        return STATUS_BEHIND if month >= 1 else STATUS_GOING
    if chance < 0.014:
        return STATUS_NOT_STARTED if month == 0 else STATUS_GOING
    if chance < 0.04:
        done_from = 1 + int(draw(seed, "done", unit, measure) * 4)
        return STATUS_DONE if month >= done_from else STATUS_GOING
    return STATUS_GOING
