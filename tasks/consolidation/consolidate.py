"""A month consolidated: who reported how, how each measure and target stands, what is said.

Pure functions over plain data (``ConsolidationInput``, filled from the database by
``models/consolidation_store.py``); the same input gives the same ``Consolidation``, which the
bulletin, the workbook and the Prefect artifacts are rendered from.

Rules the office asked for:

- a unit's timeliness is that of its first report that counts (accepted, or received without our
  form and waiting for review); its content is that of its latest such report. A unit whose
  only reports were rejected is ``rejected``; one with nothing (or only quarantined mail) is
  ``missing``. Only what had arrived by ``as_of`` counts.
- a reply without our form whose sender was not authenticated (``unverified``) never counts, nor
  does the office's rejection of it: the unit is as if it had not sent it, flagged ``unverified``
  while that reply is its latest and waits for the office (accepted, it counts as it arrived).
- a measure's status and completion count its 牵头 / 负责 units only; 配合 units are listed but do
  not dilute it. Its status is the least advanced reported by a lead unit. A lead unit that is not
  obliged to report for the cycle (陵川's two companies) is 不需报送: it never counts as 未报 and
  never lowers a status; where no lead unit is obliged, the obliged 配合 units report instead.
- a reported value that cannot be true is 待核实 (``implausible``): negative, a rate over 100 %,
  above ``plausible_factor`` × the target, or below last month's figure on a cumulative target.
  It is shown with the figure, gets no light and is listed for the office.
- 序时进度: the share of a target's period (from its start, or the policy's, to its due day) that
  has elapsed at the end of the reported period. A target behind schedule by at least the yellow
  (red) threshold, in percentage points, is yellow (red). A target's reached value is the largest
  its lead units report: they report the same county-wide figure, which must not be summed.
- a measure's own deadline (``tasks/deadlines.py``, after the office's extensions) is read on the
  consolidation's ``as_of`` as a local (Asia/Shanghai) date, not at the end of the reported
  period: the bulletin tells the leaders what is due or overdue on the day they read it. A task
  deadline passed without 已完成 as the measure's status is red (逾期未完成) whatever its targets
  say; one due within ``deadline_window_days`` and not 已完成 is yellow (临期). A window end
  (政策执行至…) is listed when near but never turns a light.
- a measure's light is the worst of its targets' lights, 滞后 (yellow) and its deadline's.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

from tasks.calendar import SHANGHAI
from tasks.cycles import period_words
from tasks.deadlines import DeadlineStanding, MeasureDeadline, stand, worth_listing

UnitState = Literal["on_time", "late", "missing", "rejected"]
Light = Literal["green", "yellow", "red", "check", "none"]
STATUS_ORDER = ("未启动", "滞后", "推进中", "已完成")  # least advanced first
COUNTING = ("accepted", "unstructured")
UNVERIFIED = "unverified"  # sender not authenticated: kept for review, never counts by itself
LOADED = (*COUNTING, "rejected", UNVERIFIED)  # what the loaders read of a cycle's submissions
STATE_LABELS = {
    "on_time": "按时报送",
    "late": "逾期报送",
    "missing": "未报送",
    "rejected": "退回未改",
}
LIGHT_LABELS = {"green": "绿灯", "yellow": "黄灯", "red": "红灯", "check": "待核实", "none": "—"}
NOT_OBLIGED = "不需报送"
# "Nothing to report" in the words units use (无、暂无、暂未发现突出问题、
# 工作按计划推进，无突出困难、本月工作推进总体顺利，暂无需要协调解决的问题): not a problem to list.
NOTHING_SAID = re.compile(
    # an optional clause that says things go well (工作按计划推进，/ 本月工作推进总体顺利，) …
    r"^([^，,。；]{0,15}(按计划|顺利|正常)[^，,。；]{0,6}[，,])?"
    # … then "no problem" in its usual forms
    r"(本月|目前|暂)?(无|没有|未发现|暂未发现)(需要协调解决的|突出|明显|重大)?"
    r"(问题困难|问题|困难)?[。.！!]?$"
)
OTHER_GROUP = "其他（未明确推进组）"  # measures no group covers, units leading none of a group's
NOT_REPORTED = "未报"


# ---------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True)
class SubmissionFact:
    """One version a unit sent for the cycle (quarantined ones are left out by the loader)."""

    submission_id: int
    version: int
    status: str  # accepted / rejected / unstructured / unverified
    received_at: datetime
    late_working_days: int
    fields: Mapping[str, Any]
    # measure number → (status, value_reached, fields) of that version's progress entries
    progress: Mapping[str, tuple[str | None, float | None, Mapping[str, Any]]]


@dataclass(frozen=True)
class UnitFact:
    code: str
    name: str
    kind: str
    submissions: tuple[SubmissionFact, ...]  # by version


@dataclass(frozen=True)
class TargetFact:
    position: int
    metric: str
    value: float
    unit_of_measure: str
    direction: str
    starts: date
    due: date


@dataclass(frozen=True)
class MeasureFact:
    number: str
    title: str
    section_key: str
    lead_units: tuple[str, ...]  # unit codes with role lead or responsible, in notice order
    support_units: tuple[str, ...]
    targets: tuple[TargetFact, ...]
    deadline: MeasureDeadline | None = None  # the measure's own 完成时限 or 政策执行期, if dated


@dataclass(frozen=True)
class GroupFact:
    code: str
    name: str
    sections: tuple[str, ...]
    lead_units: tuple[str, ...] = ()  # unit names, as the notice names the group's leads
    # Where two groups share a section (陵川's 一 and 四), the measures each covers; a group that
    # lists its measures covers exactly those (a sub-measure follows its parent).
    measures: tuple[str, ...] = ()


@dataclass(frozen=True)
class LedgerFact:
    """The once-off 任务清单台账: each unit's latest counting version, as progress entries."""

    obligation_name: str
    per_measure_keys: tuple[str, ...]
    units: Mapping[str, SubmissionFact | None]  # unit code → its latest counting ledger


@dataclass(frozen=True)
class PreviousCycle:
    """What this month is compared with: the month before, consolidated by the same rules."""

    period_label: str
    due_at: datetime
    obligated: int
    on_time: int
    states: Mapping[str, UnitState]  # unit code → its state that month
    reached: Mapping[tuple[str, int], float]  # (measure number, target index) → plausible value


@dataclass(frozen=True)
class ConsolidationInput:
    policy_code: str
    county: str
    policy_title: str
    doc_number: str
    office_name: str
    obligation_code: str
    obligation_name: str
    period: str
    period_label: str
    covers_end: date
    due_at: datetime
    as_of: datetime
    units: tuple[UnitFact, ...]  # the obligated units, directory order
    measures: tuple[MeasureFact, ...]  # notice order
    groups: tuple[GroupFact, ...]
    unit_names: Mapping[str, str]  # every unit code of the policy → name
    ledger: LedgerFact | None = None
    yellow_points: float = 10.0
    red_points: float = 30.0
    plausible_factor: float = 1.5  # a value above this × its target is 待核实
    previous: PreviousCycle | None = None  # the month before, for changes and cumulative checks
    frequency: str = "monthly"  # of the obligation: the bulletin says 上月 / 上季度 / 上周 …
    deadline_window_days: int = 30  # a task deadline this near and not 已完成: 临期 (yellow)


# ---------------------------------------------------------------------------------------------
# Output


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    state: UnitState
    late_working_days: int
    received_at: datetime | None  # of the first report that counts
    version: int | None  # of the report whose content is used
    submission_id: int | None
    needs_review: bool  # the content is a reply without our form, not yet reviewed
    groups: tuple[str, ...]  # the group names whose measures the unit leads
    # Its latest reply came without our form from a sender not authenticated: not counted, it
    # waits for the office to confirm the unit sent it.
    unverified: bool = False


@dataclass(frozen=True)
class TargetRow:
    metric: str
    target: float
    unit_of_measure: str
    due: date
    reached: float | None
    done_share: float | None  # reached / target, 0..1+
    schedule_share: float  # 序时进度, 0..1
    points_behind: float | None
    light: Light
    implausible: str = ""  # why the reported value cannot be taken as it is (待核实), else ""
    reported_by: tuple[str, ...] = ()  # the units that reported the value taken as reached


@dataclass(frozen=True)
class MeasureRow:
    number: str
    title: str
    group: str
    lead_units: tuple[str, ...]  # names
    support_units: tuple[str, ...]
    reports: tuple[tuple[str, str], ...]  # (lead unit name, its status, 未报 or 不需报送)
    status: str | None  # least advanced of the lead units' reports; None: none reported
    lead_reported: int
    notes: tuple[tuple[str, str], ...]  # (unit name, note)
    targets: tuple[TargetRow, ...]
    light: Light
    deadline: DeadlineStanding | None = None  # on as_of's local date, with ``status``


@dataclass(frozen=True)
class GroupRow:
    code: str
    name: str
    units: int
    on_time: int
    late: int
    missing: int
    rejected: int
    measures: int
    by_status: tuple[tuple[str, int], ...]  # (status, count) in STATUS_ORDER, then 未报
    red: int
    yellow: int


@dataclass(frozen=True)
class TextItem:
    group: str
    unit: str
    text: str


@dataclass(frozen=True)
class LedgerRow:
    unit: str
    state: str  # 已报送 / 未报送
    rows: int
    complete: int

    @property
    def share(self) -> float:
        return self.complete / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Consolidation:
    source: ConsolidationInput
    units: tuple[UnitRow, ...]
    # on_time, late, missing, rejected, needs_review, unverified, obligated
    counts: Mapping[str, int]
    measures: tuple[MeasureRow, ...]
    groups: tuple[GroupRow, ...]
    problems: tuple[TextItem, ...]
    next_steps: tuple[TextItem, ...]
    ledger: tuple[LedgerRow, ...]
    supervision: tuple[Mapping[str, Any], ...] = field(default=())  # from escalation, later
    commendations: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def on_time_rate(self) -> float:
        obligated = self.counts["obligated"]
        return self.counts["on_time"] / obligated if obligated else 0.0

    @property
    def submitted_share(self) -> float:
        obligated = self.counts["obligated"]
        done = self.counts["on_time"] + self.counts["late"]
        return done / obligated if obligated else 0.0

    @property
    def deadline_items(self) -> tuple[MeasureRow, ...]:
        """临期和逾期事项: the measures whose deadline is worth listing; overdue first (longest
        overdue first), then due soon, then extended, then policy windows ending (nearest first)."""
        window = self.source.deadline_window_days
        listed = [m for m in self.measures if m.deadline and listed_deadline(m.deadline, window)]
        rank = {"overdue": 0, "due_soon": 1, "upcoming": 2, "window_open": 3}  # upcoming: extended

        def key(m: MeasureRow) -> tuple[int, int]:
            assert m.deadline is not None
            days = m.deadline.days
            return rank[m.deadline.state], -days if m.deadline.state == "overdue" else days

        return tuple(sorted(listed, key=key))  # stable: notice order among equals


# ---------------------------------------------------------------------------------------------
# Rules


def listed_deadline(standing: DeadlineStanding, window_days: int) -> bool:
    """Whether the 临期和逾期事项 table lists a deadline: as ``worth_listing`` says, and also an
    extended task deadline not yet 已完成 once its original date is within the window (or past):
    an extension must not make a measure that was due or overdue drop out of sight."""
    if worth_listing(standing, window_days):
        return True
    d = standing.deadline
    if standing.state != "upcoming" or not d.extended:
        return False
    return standing.days - (d.due - d.original).days <= window_days


def least_advanced(statuses: Sequence[str | None]) -> str | None:
    known = [s for s in statuses if s in STATUS_ORDER]
    if not known:
        return None
    return min(known, key=STATUS_ORDER.index)


def schedule_share(start: date, due: date, at: date) -> float:
    """序时进度: the elapsed share of [start, due] at the end of day ``at``, clamped to 0..1."""
    if at < start:
        return 0.0
    total = (due - start).days + 1
    if total <= 0 or at >= due:
        return 1.0
    return ((at - start).days + 1) / total


def light_for(points_behind: float | None, yellow: float, red: float) -> Light:
    if points_behind is None:
        return "none"
    if points_behind >= red:
        return "red"
    if points_behind >= yellow:
        return "yellow"
    return "green"


def _worst(lights: Sequence[Light]) -> Light:
    """The measure's light: its worst lit target; 待核实 only when nothing else is lit."""
    for light in ("red", "yellow", "green", "check"):
        if light in lights:
            return light
    return "none"


def counting_reports(
    unit: UnitFact, as_of: datetime
) -> tuple[SubmissionFact | None, SubmissionFact | None]:
    """(first, latest) of the unit's reports that count and had arrived by as_of."""
    arrived = [s for s in unit.submissions if s.received_at <= as_of]
    # A reply the office reviewed and rejected no longer counts (its review names it in "of");
    # a later broken resend does not undo an earlier good report.
    overruled = {
        s.fields.get("review", {}).get("of")
        for s in arrived
        if s.status == "rejected" and isinstance(s.fields.get("review"), dict)
    }
    counting = [s for s in arrived if s.status in COUNTING and s.submission_id not in overruled]
    if not counting:
        return None, None
    # A review adds a version with the original received_at: order by version, not by time.
    return counting[0], counting[-1]


def _answered(unit: UnitFact, as_of: datetime) -> list[SubmissionFact]:
    """What arrived by as_of, less unverified replies and the office's rejections of them."""
    held = {s.submission_id for s in unit.submissions if s.status == UNVERIFIED}
    return [
        s
        for s in unit.submissions
        if s.received_at <= as_of
        and s.status != UNVERIFIED
        and not (s.status == "rejected" and _review_of(s) in held)
    ]


def _review_of(s: SubmissionFact) -> Any:
    review = s.fields.get("review")
    return review.get("of") if isinstance(review, dict) else None


def _waits_unverified(unit: UnitFact, as_of: datetime) -> bool:
    arrived = [s for s in unit.submissions if s.received_at <= as_of]
    return bool(arrived) and arrived[-1].status == UNVERIFIED


def _unit_row(
    unit: UnitFact,
    as_of: datetime,
    groups: tuple[str, ...],
    reports: tuple[SubmissionFact | None, SubmissionFact | None],
) -> UnitRow:
    """A unit's line, from its (first, latest) reports that count (``counting_reports``)."""
    first, latest = reports
    waiting = _waits_unverified(unit, as_of)
    if first is None or latest is None:
        arrived = _answered(unit, as_of)
        rejected = bool(arrived) and arrived[-1].status == "rejected"
        return UnitRow(unit.code, unit.name, "rejected" if rejected else "missing", 0, None,
                       arrived[-1].version if rejected else None,
                       arrived[-1].submission_id if rejected else None, False, groups,
                       waiting)  # fmt: skip
    state: UnitState = "late" if first.late_working_days > 0 else "on_time"
    return UnitRow(
        unit.code, unit.name, state, first.late_working_days, first.received_at,
        latest.version, latest.submission_id, latest.status == "unstructured", groups, waiting,
    )  # fmt: skip


def group_of(
    section_key: str,
    groups: Sequence[GroupFact],
    lead_names: Sequence[str] = (),
    number: str = "",
) -> GroupFact | None:
    """The group a measure belongs to. A group that lists its measures covers exactly those (a
    sub-measure such as 26(3) follows 26); the others cover their sections (“三(一)” covers
    “三(一)2”): the most specific section wins, and where two such groups share a section the one
    whose lead unit is named first among the measure's units."""
    parent = number.split("(")[0]
    for group in groups:
        if number and (number in group.measures or parent in group.measures):
            return group
    candidates: list[tuple[int, int, int, GroupFact]] = []
    for order, group in enumerate(groups):
        if group.measures:
            continue
        for section in group.sections:
            if section_key == section or section_key.startswith(section):
                places = [lead_names.index(u) for u in group.lead_units if u in lead_names]
                rank = -min(places) if places else -len(lead_names) - 1
                candidates.append((len(section), rank, -order, group))
    if not candidates:
        return None
    return max(candidates, key=lambda c: c[:3])[3]


def is_rate(target: TargetFact) -> bool:
    return target.unit_of_measure.strip() in ("%", "％")


def implausibility(
    target: TargetFact, reached: float, previous: float | None, factor: float, last: str = "上月"
) -> str:
    """Why a reported value cannot be true as it stands, in the office's words; "" when it can."""
    unit = target.unit_of_measure
    if reached < 0:
        return "报送值为负数"
    if is_rate(target) and reached > 100:
        return "比率超过100%"
    if target.direction == "at_least" and target.value > 0 and reached > factor * target.value:
        return f"超过目标值的{factor:g}倍"
    cumulative = target.direction == "at_least" and not is_rate(target)
    if cumulative and previous is not None and reached < previous:
        return f"低于{last}报送的{previous:g}{unit}（累计值不应减少）"
    return ""


def _target_row(
    target: TargetFact,
    reported: Sequence[tuple[float, str]],
    previous: float | None,
    data: ConsolidationInput,
) -> TargetRow:
    reached = max(v for v, _ in reported) if reported else None
    by = tuple(dict.fromkeys(name for v, name in reported if v == reached))
    share = schedule_share(target.starts, target.due, data.covers_end)
    done: float | None = None
    behind: float | None = None
    doubt = ""
    if reached is not None:
        doubt = implausibility(
            target, reached, previous, data.plausible_factor, period_words(data.frequency).last
        )
    if reached is not None and target.value:
        done = reached / target.value
        if target.direction == "at_most":  # a ceiling: at or under it is on schedule
            done = 1.0 if reached <= target.value else target.value / reached
        behind = round((share - min(done, 1.0)) * 100, 1)
    light: Light = "check" if doubt else light_for(behind, data.yellow_points, data.red_points)
    if doubt:  # a figure nobody can vouch for says nothing about the schedule
        done, behind = None, None
    return TargetRow(target.metric, target.value, target.unit_of_measure, target.due, reached,
                     done, share, behind, light, doubt, by)  # fmt: skip


def _led_groups(
    measures: Sequence[MeasureFact],
    measure_group: Mapping[str, GroupFact | None],
    reporting: Mapping[str, tuple[str, ...]],
) -> dict[str, list[str]]:
    """Unit code → the names of the groups whose measures it reports on, in measure order."""
    led_groups: dict[str, list[str]] = {}
    for measure in measures:
        group = measure_group[measure.number]
        for code in reporting[measure.number]:
            if group is not None and group.name not in led_groups.setdefault(code, []):
                led_groups[code].append(group.name)
    return led_groups


@dataclass
class _LeadReports:
    """What a measure's lead units reported on it."""

    reports: list[tuple[str, str]] = field(default_factory=list)  # (unit name, status or 未报)
    statuses: list[str | None] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (unit name, note)
    values: dict[int, list[float]] = field(default_factory=dict)  # target index → reached
    sources: dict[int, list[str]] = field(default_factory=dict)  # target index → unit names


def reporting_units(measure: MeasureFact, obliged: Collection[str]) -> tuple[str, ...]:
    """The units whose reports make a measure's status: its obliged lead units, or where none
    of them is obliged to report, its obliged 配合 units."""
    leads = tuple(c for c in measure.lead_units if c in obliged)
    return leads or tuple(c for c in measure.support_units if c in obliged)


def _lead_reports(
    measure: MeasureFact,
    latest: Mapping[str, SubmissionFact | None],
    names: Mapping[str, str],
    reporting: tuple[str, ...],
    notes: Mapping[str, str],
) -> _LeadReports:
    """The reporting units' (``reporting_units``) statuses, notes (``notes``: the measure's, by
    unit code) and reached values for one measure; a lead unit not obliged to report is listed
    as 不需报送 and counts for nothing."""
    found = _LeadReports()
    number = measure.number
    for code in dict.fromkeys((*measure.lead_units, *reporting)):
        name = names.get(code, code)
        if code not in reporting:
            found.reports.append((name, NOT_OBLIGED))
            continue
        report = latest.get(code)
        entry = report.progress.get(number) if report is not None else None
        if entry is None:
            found.reports.append((name, NOT_REPORTED))
            continue
        status, value, fields = entry
        found.reports.append((name, status or "未填"))
        found.statuses.append(status)
        given = fields.get("targets")
        for target in given or ():
            if isinstance(target.get("value"), (int, float)):
                index = int(target.get("index", 0))
                found.values.setdefault(index, []).append(float(target["value"]))
                found.sources.setdefault(index, []).append(name)
        if value is not None and not given:
            found.values.setdefault(0, []).append(value)
            found.sources.setdefault(0, []).append(name)
        if code in notes:
            found.notes.append((name, notes[code]))
    return found


def notes_by_measure(latest: Mapping[str, SubmissionFact | None]) -> dict[str, dict[str, str]]:
    """Measure number → unit code → the note the unit's latest report gives it, where it says
    something: read once per month, for the reporting units' notes and the 配合 units' alike."""
    notes: dict[str, dict[str, str]] = {}
    for code, report in latest.items():
        if report is None:
            continue
        for number, (_, _, fields) in report.progress.items():
            note = fields.get("note")
            if note and (note := str(note).strip()):
                notes.setdefault(number, {})[code] = note
    return notes


def _support_notes(
    measure: MeasureFact,
    notes: Mapping[str, str],
    names: Mapping[str, str],
    reporting: tuple[str, ...],
) -> list[tuple[str, str]]:
    """The notes of a measure's 配合 units (``notes``: the measure's, by unit code): shown,
    never counted; a reporting unit's note is already listed with its report."""
    return [
        (names.get(code, code), notes[code])
        for code in measure.support_units
        if code in notes and code not in reporting
    ]


def _measure_row(
    measure: MeasureFact,
    group: GroupFact | None,
    latest: Mapping[str, SubmissionFact | None],
    data: ConsolidationInput,
    reporting: tuple[str, ...],
    notes: Mapping[str, str],
) -> MeasureRow:
    """One measure's row: its lead units' reports, its targets against schedule, its light;
    ``reporting``: the units whose reports make its status (``reporting_units``); ``notes``:
    the units' notes on it (``notes_by_measure``)."""
    names = data.unit_names
    lead = _lead_reports(measure, latest, names, reporting, notes)
    before = data.previous.reached if data.previous else {}
    targets = tuple(
        _target_row(
            t,
            list(zip(lead.values.get(i, []), lead.sources.get(i, []), strict=True)),
            before.get((measure.number, i)),
            data,
        )
        for i, t in enumerate(measure.targets)
    )
    status = least_advanced(lead.statuses)
    lights = [t.light for t in targets]
    if status == "滞后":
        lights.append("yellow")
    deadline = None
    if measure.deadline is not None:
        deadline = stand(
            measure.deadline, today=data.as_of.astimezone(SHANGHAI).date(), lead_status=status,
            window_days=data.deadline_window_days,
        )  # fmt: skip
        if deadline.light is not None:
            lights.append(deadline.light)
    return MeasureRow(
        number=measure.number,
        title=measure.title,
        group=group.name if group else "",
        lead_units=tuple(map(names.get, measure.lead_units, measure.lead_units)),
        support_units=tuple(map(names.get, measure.support_units, measure.support_units)),
        reports=tuple(lead.reports),
        status=status,
        lead_reported=sum(1 for _, s in lead.reports if s not in (NOT_REPORTED, NOT_OBLIGED)),
        notes=tuple(lead.notes + _support_notes(measure, notes, names, reporting)),
        targets=targets,
        light=_worst(lights),
        deadline=deadline,
    )


def _group_row(
    group: GroupFact, measures: Sequence[MeasureRow], units: Sequence[UnitRow]
) -> GroupRow:
    """A group's units by timeliness and its measures by status and light."""
    in_group = [m for m in measures if m.group == group.name]
    members = [u for u in units if group.name in u.groups]
    by_status = [(s, sum(1 for m in in_group if m.status == s)) for s in STATUS_ORDER]
    by_status.append(("未报", sum(1 for m in in_group if m.status is None)))
    return GroupRow(
        code=group.code, name=group.name, units=len(members),
        on_time=sum(1 for u in members if u.state == "on_time"),
        late=sum(1 for u in members if u.state == "late"),
        missing=sum(1 for u in members if u.state == "missing"),
        rejected=sum(1 for u in members if u.state == "rejected"),
        measures=len(in_group), by_status=tuple(by_status),
        red=sum(1 for m in in_group if m.light == "red"),
        yellow=sum(1 for m in in_group if m.light == "yellow"),
    )  # fmt: skip


@lru_cache(maxsize=4096)
def says_something(text: str) -> bool:
    """Whether a unit's text is more than "nothing to report" (``NOTHING_SAID``); units send
    the same few sentences month after month."""
    return not NOTHING_SAID.match(re.sub(r"\s", "", text))


def _texts(
    units: Sequence[UnitRow],
    latest: Mapping[str, SubmissionFact | None],
    groups: Sequence[GroupFact],
) -> tuple[list[TextItem], list[TextItem]]:
    """The units' own words on problems and next steps. The monthly report is per unit, so a
    unit's text goes under every group whose measures it leads (a group leader reads all of
    its units), else under 其他; groups in directory order, units in directory order."""
    problems: list[TextItem] = []
    next_steps: list[TextItem] = []
    for unit in units:
        report = latest.get(unit.code)
        if report is None:
            continue
        for key, bucket in (("problems", problems), ("next-steps", next_steps)):
            text = str(report.fields.get(key) or "").strip()
            if text and says_something(text):
                bucket.extend(TextItem(g, unit.name, text) for g in unit.groups or (OTHER_GROUP,))
    order = {g.name: i for i, g in enumerate(groups)}
    problems.sort(key=lambda x: order.get(x.group, len(order)))  # stable: directory order within
    next_steps.sort(key=lambda x: order.get(x.group, len(order)))
    return problems, next_steps


def consolidate(data: ConsolidationInput) -> Consolidation:
    """The month's consolidation; see the module docstring for the rules."""
    as_of = data.as_of
    names = data.unit_names
    measure_group = {
        m.number: group_of(
            m.section_key, data.groups, [names.get(c, c) for c in m.lead_units], m.number
        )
        for m in data.measures
    }
    obliged = {u.code for u in data.units}
    reporting = {m.number: reporting_units(m, obliged) for m in data.measures}
    led_groups = _led_groups(data.measures, measure_group, reporting)
    reports = {u.code: counting_reports(u, as_of) for u in data.units}
    units = tuple(
        _unit_row(u, as_of, tuple(led_groups.get(u.code, [])), reports[u.code]) for u in data.units
    )
    latest = {code: pair[1] for code, pair in reports.items()}
    counts = {state: sum(1 for u in units if u.state == state) for state in STATE_LABELS}
    counts["needs_review"] = sum(1 for u in units if u.needs_review)
    counts["unverified"] = sum(1 for u in units if u.unverified)
    counts["obligated"] = len(units)
    notes = notes_by_measure(latest)
    none: dict[str, str] = {}
    measures = [
        _measure_row(
            m, measure_group[m.number], latest, data, reporting[m.number], notes.get(m.number, none)
        )
        for m in data.measures
    ]
    problems, next_steps = _texts(units, latest, data.groups)
    return Consolidation(
        source=data,
        units=units,
        counts=counts,
        measures=tuple(measures),
        groups=tuple(_group_row(group, measures, units) for group in data.groups),
        problems=tuple(problems),
        next_steps=tuple(next_steps),
        ledger=ledger_quality(data),
    )


def ledger_quality(data: ConsolidationInput) -> tuple[LedgerRow, ...]:
    """台账报送质量: per unit, how many of its ledger rows have every column filled."""
    if data.ledger is None:
        return ()
    rows: list[LedgerRow] = []
    for unit in data.units:
        report = data.ledger.units.get(unit.code)
        if report is None:
            rows.append(LedgerRow(unit.name, "未报送", 0, 0))
            continue
        complete = 0
        for _, _, fields in report.progress.values():
            keys = [k for k in data.ledger.per_measure_keys if k != "number"]
            if all(str(fields.get(k) or "").strip() for k in keys):
                complete += 1
        rows.append(LedgerRow(unit.name, "已报送", len(report.progress), complete))
    return tuple(rows)


def as_previous(c: Consolidation) -> PreviousCycle:
    """A month's consolidation as the next month compares with it: only plausible values."""
    reached = {
        (m.number, i): t.reached
        for m in c.measures
        for i, t in enumerate(m.targets)
        if t.reached is not None and not t.implausible
    }
    return PreviousCycle(
        period_label=c.source.period_label,
        due_at=c.source.due_at,
        obligated=c.counts["obligated"],
        on_time=c.counts["on_time"],
        states={u.code: u.state for u in c.units},
        reached=reached,
    )
