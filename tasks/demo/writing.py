"""What a simulated bureau writes on the form it was sent, cell by cell (pure).

``form_cells`` takes the form's signed metadata and the county as the demo sees it (``County``)
and returns cell address → value, which ``tasks/demo/bureaus.py`` writes into the workbook. The
monthly report carries the county-wide figure of each target the unit has on its form, the
statuses that go with it, and texts from ``tasks/demo/phrases.py``; the once-off ledger and
roster get plausible entries instead of a placeholder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tasks.demo import phrases
from tasks.demo.progress import (
    STATUS_BEHIND,
    Role,
    TargetSpec,
    county_figure,
    decimals,
    draw,
    measure_status,
    target_status,
)
from tasks.forms.layout import FormLayout, FormMetadata

LEDGER_DEADLINES = ("2023年6月底前", "2023年12月底前", "长期坚持")
LEDGER_STATES = ("已制定工作方案，正在推进", "已安排部署，按计划推进", "已启动实施")
MOST_EXPLAINED = 2  # a unit explains at most this many lagging targets in one report
SURNAMES = "王李张刘陈杨赵郭牛申秦常崔宋"
GIVEN = ("建国", "志强", "海燕", "晓东", "丽娟", "文斌", "卫东", "红梅", "俊峰", "雪芳", "国庆",
         "晋峰", "慧敏", "永刚", "鹏飞", "亚琴")  # fmt: skip


@dataclass(frozen=True)
class County:
    """The policy as the demo's bureaus know it, and the month they report on."""

    seed: str  # already combined with the policy code
    titles: Mapping[str, str]  # measure number → title
    targets: Mapping[tuple[str, int], TargetSpec]  # (measure, index) → target
    roles: Mapping[str, Role]  # target key → role (``assign_roles``)
    # measure → unit codes named on it directly, in the notice's order: all, and the leads
    # among them (the first lead answers for its targets, as escalation holds it to them)
    named: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    covers_end: date = date(2023, 1, 31)
    month: int = 0  # months since the policy's first
    yellow_points: float = 10.0

    def figure(self, target: TargetSpec) -> float:
        return county_figure(target, self.roles[target.key], self.seed, self.covers_end)


def number_text(value: float, places: int) -> str:
    """A figure as a report prints it: 12, 9.8, 11.64."""
    return f"{value:.{places}f}" if places else str(round(value))


def person(seed: str, *where: object) -> str:
    surname = phrases.pick(SURNAMES, seed, "surname", *where)
    return surname + phrases.pick(GIVEN, seed, "given", *where)


def head_title(unit_name: str) -> str:
    for suffix, title in (("镇", "镇长"), ("乡", "乡长"), ("局", "局长"), ("中心", "主任"),
                          ("公司", "总经理"), ("支行", "行长"), ("组", "组长")):  # fmt: skip
        if unit_name.endswith(suffix):
            return title
    return "主任"


def phone(seed: str, *where: object) -> str:
    return f"0356-62{int(draw(seed, 'phone', *where) * 100000):05d}"  # 陵川's area code


def _cell(layout: FormLayout, field_key: str, part: str = "") -> str | None:
    return next((c.cell for c in layout.cells if c.field == field_key and c.part == part), None)


def _column(layout: FormLayout, part: str) -> str | None:
    if layout.table is None:
        return None
    return next((c.column for c in layout.table.columns if c.part == part and c.input), None)


def _footer(layout: FormLayout, meta: FormMetadata, seed: str) -> dict[str, Any]:
    values = {
        "filled_by": person(seed, meta.unit_code, "clerk"),
        "phone": phone(seed, meta.unit_code),
        "head": person(seed, meta.unit_code, "head") + head_title(meta.unit_name),
    }
    footer = [c for c in layout.cells if c.field == "footer" and c.part in values]
    return {c.cell: values[c.part] for c in footer}


def monthly_cells(meta: FormMetadata, county: County) -> dict[str, Any]:
    """The monthly report: each row's status, figure and note, then the three texts."""
    layout, unit, seed = meta.layout, meta.unit_code, county.seed
    where = (unit, meta.period)
    cells: dict[str, Any] = _footer(layout, meta, seed)
    status_col, value_col, note_col = (_column(layout, p) for p in ("status", "value", "note"))
    titles: list[str] = []  # of all its measures
    own: list[str] = []  # of the measures it is named on itself: what it writes about
    facts: list[str] = []
    behind: list[str] = []
    plans: list[str] = []
    month = county.covers_end.month
    for row in layout.table.rows if layout.table else ():
        title = county.titles.get(row.measure, "")
        titles.append(title)
        if unit in county.named.get(row.measure, ()):
            own.append(title)
        target = county.targets.get((row.measure, row.target)) if row.target is not None else None
        leads = county.owners.get(row.measure, ())
        owner = unit in leads
        note: str | None = None
        if target is None:
            status = measure_status(seed, unit, row.measure, county.month)
            if status == STATUS_BEHIND:
                kind = phrases.kind_of(title)
                note = phrases.pick(phrases.BANKS[kind].reasons, seed, "row", *where, row.measure)
        else:
            figure = county.figure(target)
            status = target_status(target, figure, county.covers_end, county.yellow_points)
            shown = number_text(figure, decimals(target)) + target.unit
            if value_col:
                cells[f"{value_col}{row.row}"] = figure
            if owner:
                share = figure / target.value * 100 if target.value else 0.0
                note = f"截至{month}月底累计{shown}，完成目标的{share:.1f}%"
                facts.append(f"截至{month}月底，{target.metric}累计{shown}。")
                if status == STATUS_BEHIND and leads[0] == unit and len(behind) < MOST_EXPLAINED:
                    behind.append(phrases.lag_explanation(
                        target.metric, shown, month, title, seed, *where, target.key))  # fmt: skip
                    plans.append(phrases.catch_up(target.metric, title))
        if status_col:
            cells[f"{status_col}{row.row}"] = status
        if note_col:
            cells[f"{note_col}{row.row}"] = note  # None: left empty, as most units leave it
    about = own or titles
    texts = {
        "work-done": phrases.work_done(about, facts[:2], seed, *where),
        "problems": phrases.problems(about, behind, seed, *where),
        "next-steps": phrases.next_steps(about, plans, seed, *where),
    }
    for key, text in texts.items():
        address = _cell(layout, key)
        if address:
            cells[address] = text
    return cells


def ledger_cells(meta: FormMetadata, county: County) -> dict[str, Any]:
    """The once-off 任务清单台账: a task per measure from its kind's work, a deadline, a state."""
    layout, seed = meta.layout, county.seed
    cells: dict[str, Any] = _footer(layout, meta, seed)
    columns = {c.part: c.column for c in layout.table.columns if c.input} if layout.table else {}
    titles = []
    for row in layout.table.rows if layout.table else ():
        title = county.titles.get(row.measure, "")
        titles.append(title)
        bank = phrases.BANKS[phrases.kind_of(title)]
        where = (meta.unit_code, row.measure)
        values = {
            "task-item": phrases.pick(bank.work, seed, "task", *where),
            "deadline": phrases.pick(LEDGER_DEADLINES, seed, "deadline", *where),
            "progress": phrases.pick(LEDGER_STATES, seed, "state", *where),
        }
        for part, value in values.items():
            if part in columns:
                cells[f"{columns[part]}{row.row}"] = value
    address = _cell(layout, "measures")
    if address:
        cells[address] = phrases.work_done(titles, (), seed, meta.unit_code, "ledger")
    return cells


def roster_cells(meta: FormMetadata, county: County) -> dict[str, Any]:
    """The once-off 专班建立情况: who leads the unit's task force and whom to call."""
    seed, unit = county.seed, meta.unit_code
    head = person(seed, unit, "head")
    values = {
        ("members", "leader"): f"{head}（{head_title(meta.unit_name)}）",
        ("members", "deputies"): f"{person(seed, unit, 'deputy')}（副职）",
        ("members", "members"): "\n".join(
            f"{person(seed, unit, 'member', i)}（{meta.unit_name}）" for i in range(3)
        ),
        ("members", "contact"): f"{person(seed, unit, 'clerk')}（办公室）",
        ("members", "phone"): phone(seed, unit),
    }
    cells = _footer(meta.layout, meta, seed)
    for c in meta.layout.cells:
        if (c.field, c.part) in values:
            cells[c.cell] = values[(c.field, c.part)]
    return cells


def form_cells(meta: FormMetadata, county: County) -> dict[str, Any]:
    """What the unit writes on its form, by the form's kind."""
    if meta.layout.kind == "progress":
        return monthly_cells(meta, county)
    if meta.layout.kind == "ledger":
        return ledger_cells(meta, county)
    return roster_cells(meta, county)
