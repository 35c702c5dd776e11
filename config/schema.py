"""Pydantic schema of the policy and units YAML files.

A policy file (``config/policies/CODE.yaml``) holds one county notice as data: its metadata,
section tree, measures with responsible units and targets, the task force and the reporting
obligations. A units file (``config/units/COUNTY.yaml``) is the county's directory: every unit
with its aliases, kind, mailboxes and head, plus collective addressees (各乡镇人民政府 …) that
expand to the units they stand for.

The models validate shape and self-consistency of one file. Checks that need both files
(every unit a policy names resolves in the directory) live in ``config.loading``.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A measure number: "12" or a sub-item "26(3)".
MEASURE_NUMBER = re.compile(r"^(?P<parent>[1-9][0-9]*)(?:\((?P<item>[1-9][0-9]*)\))?$")
# Deliberately strict: a mailbox is local@domain with a dotted domain, no display name.
MAILBOX = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
ASCII_CODE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

AsciiCode = Annotated[str, Field(pattern=ASCII_CODE.pattern, max_length=60)]
NonEmpty = Annotated[str, Field(min_length=1)]


class AtPath(ValueError):
    """A model-level check's error that knows the YAML path below the model it concerns."""

    def __init__(self, path: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class Strict(BaseModel):
    """Base for config models: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_mailbox(value: str) -> str:
    if not MAILBOX.match(value):
        raise ValueError(f"不是有效的邮箱地址：{value!r}")
    return value


class Role(StrEnum):
    """A unit's role on a measure, as the notices word it."""

    lead = "lead"  # 牵头
    support = "support"  # 配合
    responsible = "responsible"  # 负责, and every unit of a 〔责任单位：…〕 list

    @property
    def label(self) -> str:
        return {"lead": "牵头", "support": "配合", "responsible": "负责"}[self.value]


class UnitKind(StrEnum):
    department = "department"  # 县直部门、事业单位
    township = "township"  # 乡镇人民政府、开发区/示范区管委会
    company = "company"  # 国有企业
    external = "external"  # 垂直管理或上级派驻机构（人行、银保监、市生态环境局分局…）


# ---------------------------------------------------------------------------------------------
# Units directory


class Person(Strict):
    name: NonEmpty
    title: str = ""
    mailbox: str | None = None

    @field_validator("mailbox")
    @classmethod
    def _mailbox_valid(cls, value: str | None) -> str | None:
        return None if value is None else _check_mailbox(value)


class UnitEntry(Strict):
    code: AsciiCode
    name: NonEmpty  # canonical short name as the notice writes it, e.g. 县工信局
    full_name: str = ""
    aliases: list[NonEmpty] = []
    kind: UnitKind
    mailboxes: list[str] = Field(min_length=1)
    head: Person
    placeholder: bool = False  # a name we could not verify from the documents
    note: str = ""

    @field_validator("mailboxes")
    @classmethod
    def _mailboxes_valid(cls, value: list[str]) -> list[str]:
        return [_check_mailbox(v) for v in value]


class Collective(Strict):
    """A collective addressee such as 各乡镇人民政府 and the units it stands for."""

    name: NonEmpty
    aliases: list[NonEmpty] = []
    # Empty in a draft made from a notice (各岸段使用或管理单位): the office fills it in, and a
    # policy that names a collective without members is refused at load (config.loading).
    members: list[NonEmpty] = []
    note: str = ""


class UnitsDirectory(Strict):
    county: NonEmpty
    note: str = ""
    units: list[UnitEntry] = Field(min_length=1)
    collectives: list[Collective] = []

    @model_validator(mode="after")
    def _names_unique_and_members_known(self) -> UnitsDirectory:
        seen: dict[str, str] = {}
        codes: set[str] = set()
        for index, unit in enumerate(self.units):
            if unit.code in codes:
                raise AtPath(("units", index, "code"), f"单位代码重复：{unit.code!r}")
            codes.add(unit.code)
            for label in (unit.name, *unit.aliases):
                if label in seen and seen[label] != unit.name:
                    raise AtPath(("units", index), f"名称或别名 {label!r} 已用于 {seen[label]!r}")
                seen[label] = unit.name
        for index, collective in enumerate(self.collectives):
            for label in (collective.name, *collective.aliases):
                if label in seen:
                    raise AtPath(("collectives", index), f"名称 {label!r} 与单位名称冲突")
            for position, member in enumerate(collective.members):
                if member not in seen:
                    raise AtPath(
                        ("collectives", index, "members", position),
                        f"不是目录中的单位：{member!r}",
                    )
        return self


# ---------------------------------------------------------------------------------------------
# Policy


class DocumentMeta(Strict):
    issuer: NonEmpty
    number: NonEmpty  # 陵政办发〔2023〕1号
    title: NonEmpty
    issued: date
    source: str = ""  # where the text came from


class ActivePeriod(Strict):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ActivePeriod:
        if self.end < self.start:
            raise AtPath(("end",), f"{self.end} 早于开始日期 {self.start}")
        return self


class Section(Strict):
    id: NonEmpty  # "一", "三(一)": unique within the policy
    title: NonEmpty  # heading without its numbering
    parent: str | None = None
    group: AsciiCode | None = None  # task-force group the heading names, e.g. 金融业专班
    note: str = ""


class UnitRef(Strict):
    unit: NonEmpty  # a unit name, alias or collective from the directory
    role: Role


class Target(Strict):
    """A quantified target: value and unit of measure, due by a date."""

    metric: NonEmpty  # what is counted, e.g. 全县煤炭产量
    value: float
    unit: NonEmpty  # 万吨, %, 个, 亿元 …
    direction: Literal["at_least", "at_most"] = "at_least"
    due: date
    due_phrase: NonEmpty  # the text's own words: 全年, 2022年底, 明年一季度 …
    starts: date | None = None  # start of the target's period, for 序时进度; default active.start
    resolution: str = ""  # how a relative date phrase was resolved, and why
    outside_period_reason: str = ""  # required when due lies outside the policy's active period


class Measure(Strict):
    number: Annotated[str, Field(pattern=MEASURE_NUMBER.pattern)]
    section: NonEmpty
    title: NonEmpty  # the title sentence
    text: NonEmpty  # the full text of the measure as printed (page-break artifacts repaired)
    units: list[UnitRef] = []  # empty on a sub-measure means: the parent's units
    targets: list[Target] = []
    deadline: date | None = None  # a dated deadline for the measure itself (执行至、…前)
    deadline_phrase: str = ""
    # task: the work must be done by then (lights and 督办 follow it); window: the date ends a
    # policy's period of validity (政策执行至…), shown to readers but never a light.
    deadline_kind: Literal["task", "window"] = "task"
    note: str = ""

    @model_validator(mode="after")
    def _kind_needs_deadline(self) -> Measure:
        if self.deadline is None and "deadline_kind" in self.model_fields_set:
            raise AtPath(("deadline_kind",), "没有 deadline 的措施不能给出 deadline_kind")
        return self

    @property
    def parent_number(self) -> str | None:
        match = MEASURE_NUMBER.match(self.number)
        assert match is not None
        return match["parent"] if match["item"] else None

    @property
    def sort_key(self) -> tuple[int, int]:
        match = MEASURE_NUMBER.match(self.number)
        assert match is not None
        return int(match["parent"]), int(match["item"] or 0)


class Contact(Strict):
    name: NonEmpty
    phone: str = ""


class Office(Strict):
    """The task force's office, where reports go."""

    name: NonEmpty  # 县工作专班办公室
    unit: NonEmpty  # the unit hosting it, 县发改局
    room: str = ""  # 329 室
    contacts: list[Contact] = []
    phone: str = ""
    documented_email: str = ""  # the mailbox printed in the notice, for the record only
    mailbox: str  # where the system receives reports (example.org until the office sets it)

    @field_validator("mailbox")
    @classmethod
    def _mailbox_valid(cls, value: str) -> str:
        return _check_mailbox(value)


class Group(Strict):
    code: AsciiCode
    name: NonEmpty  # 能源安全保供专项推进组, 金融业专班
    lead_units: list[NonEmpty] = []
    sections: list[NonEmpty] = []  # ids of the sections the group covers
    # Where groups share a section (陵川: 能源 and 工业 share 一), the numbers of the measures this
    # group covers; a group that lists measures covers exactly those (sub-measures follow).
    measures: list[NonEmpty] = []
    note: str = ""


class TaskForce(Strict):
    name: NonEmpty
    leader: Person | None = None
    deputies: list[Person] = []
    members: list[NonEmpty] = []
    office: Office
    groups: list[Group] = []
    note: str = ""


Frequency = Literal["once", "weekly", "monthly", "quarterly", "half_yearly", "yearly"]
FREQUENCY_LABELS: dict[str, str] = {
    "once": "一次性",
    "weekly": "每周",
    "monthly": "每月",
    "quarterly": "每季度",
    "half_yearly": "每半年",
    "yearly": "每年",
}
# covers_from / covers_to (and a cycle's stored period key) per frequency: ISO weeks for weekly.
PERIOD_NOTATION: dict[str, tuple[str, re.Pattern[str]]] = {
    "weekly": ("YYYY-Www（ISO 周，如 2023-W05）", re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")),
    "monthly": ("YYYY-MM（如 2023-02）", re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")),
    "quarterly": ("YYYY-Qn（如 2023-Q1）", re.compile(r"^\d{4}-Q[1-4]$")),
    "half_yearly": ("YYYY-Hn（H1 上半年，H2 下半年）", re.compile(r"^\d{4}-H[12]$")),
    "yearly": ("YYYY（如 2023）", re.compile(r"^\d{4}$")),
}


class DueRule(Strict):
    """When a cycle's report is due; which fields apply depends on the obligation's frequency.

    - once: ``fixed_date``.
    - monthly: ``day_of_month`` (1–28) of the month after the covered month.
    - quarterly / half_yearly: ``days_after_end`` (每季度结束后N日内, 每季度首月N日前: N days
      after the period's last day), or ``day_of_month`` with ``lands: in_period`` (day N of
      the period's last month: 每季度最后一个月的N日前; 31 means the month's last day, 每季度末)
      or ``lands: after_period`` (day N of the month after the period).
    - yearly: ``month`` and ``day_of_month``, ``lands: after_period`` for a report on the
      previous year (每年1月10日前报送上年) or ``in_period`` for the current one.
    - weekly: ``weekday`` (1 = Monday … 7 = Sunday), ``lands: in_period`` for a day of the
      covered week (每周五前) or ``after_period`` for the week after it (每周一报送上周).
    """

    fixed_date: date | None = None
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    month: int | None = Field(default=None, ge=1, le=12)
    days_after_end: int | None = Field(default=None, ge=0, le=92)
    weekday: int | None = Field(default=None, ge=1, le=7)
    lands: Literal["in_period", "after_period"] | None = None
    time: str = "23:59"  # local time the due day ends for this obligation

    @model_validator(mode="after")
    def _time_valid(self) -> DueRule:
        if not re.match(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", self.time):
            raise AtPath(("time",), f"不是 HH:MM：{self.time!r}")
        return self

    def given(self) -> set[str]:
        """Names of the date fields this rule sets (time aside)."""
        names = ("fixed_date", "day_of_month", "month", "days_after_end", "weekday", "lands")
        return {name for name in names if getattr(self, name) is not None}


# Per frequency: the due fields allowed, and the sets of them that make a complete rule.
_DUE_SHAPES: dict[str, list[set[str]]] = {
    "once": [{"fixed_date"}],
    "monthly": [{"day_of_month"}],
    "quarterly": [{"days_after_end"}, {"day_of_month", "lands"}],
    "half_yearly": [{"days_after_end"}, {"day_of_month", "lands"}],
    "yearly": [{"month", "day_of_month", "lands"}],
    "weekly": [{"weekday", "lands"}],
}
_DUE_HINTS: dict[str, str] = {
    "fixed_date": "截止日期（YYYY-MM-DD）",
    "day_of_month": "截止日（每月第几日）",
    "month": "截止月份（1–12）",
    "days_after_end": "报告期结束后第几日",
    "weekday": "星期几（1 为周一，7 为周日）",
    "lands": "截止日所在（in_period：报告期内；after_period：报告期结束后）",
}


class ContentField(Strict):
    key: AsciiCode
    label: NonEmpty  # 工作落实情况
    kind: Literal["text", "table", "per_measure"] = "text"
    required: bool = True


class Reminders(Strict):
    opens_working_days_before: int = Field(default=7, ge=0, le=60)
    working_days_before: list[int] = Field(default=[3, 0])

    @field_validator("working_days_before")
    @classmethod
    def _non_negative(cls, value: list[int]) -> list[int]:
        if any(v < 0 for v in value):
            raise ValueError(f"working_days_before 不能为负：{value}")
        return sorted(set(value), reverse=True)


class Obligation(Strict):
    code: AsciiCode
    name: NonEmpty  # 月度进展情况报告
    frequency: Frequency
    recipients: list[NonEmpty] = Field(min_length=1)  # units or collectives that must report
    due: DueRule
    # For periodic reports: the first and last period a report covers, in the frequency's
    # notation (PERIOD_NOTATION): 2023-02, 2023-Q1, 2023-H1, 2023, 2023-W05.
    covers_from: str | None = None
    covers_to: str | None = None
    on_non_working_day: Literal["stay", "next_working_day", "previous_working_day"] = "stay"
    reminders: Reminders = Reminders()
    content: list[ContentField] = Field(min_length=1)
    submit_to: NonEmpty = "office"  # informational: 县工作专班办公室 / 县发改局329室
    paper_copy: bool = False  # a stamped paper copy is required besides the electronic one
    source_text: NonEmpty  # the sentence of the notice that creates the obligation

    @model_validator(mode="after")
    def _frequency_matches_due(self) -> Obligation:
        label = FREQUENCY_LABELS[self.frequency]
        shapes = _DUE_SHAPES[self.frequency]
        given = self.due.given()
        allowed = set().union(*shapes)
        for name in sorted(given - allowed):
            usable = "、".join(sorted(allowed))
            raise AtPath(("due", name), f"{label}报送不使用 {name}（可用：{usable}）")
        if given not in shapes:
            if covered := [shape for shape in shapes if shape < given]:
                name = sorted(given - covered[0])[0]
                others = "、".join(sorted(covered[0]))
                raise AtPath(("due", name), f"{label}报送给出 {others} 时不用 {name}，请删去其一")
            # The shape the given fields start (day_of_month → its lands), else the shortest.
            shape = min(shapes, key=lambda shape: (not shape & given, len(shape - given)))
            missing = shape - given
            name = sorted(missing)[0]
            raise AtPath(("due", name), f"{label}报送须给出 {name}：{_DUE_HINTS[name]}")
        if self.frequency == "monthly" and self.due.day_of_month and self.due.day_of_month > 28:
            raise AtPath(("due", "day_of_month"), "按月报送的截止日须在 1–28 之间（每月都有）")
        if self.frequency == "once":
            for name in ("covers_from", "covers_to"):
                if getattr(self, name) is not None:
                    raise AtPath((name,), "一次性报送不使用 covers_from / covers_to")
            return self
        notation, pattern = PERIOD_NOTATION[self.frequency]
        for name in ("covers_from", "covers_to"):
            value = getattr(self, name)
            if value is None or not pattern.match(value):
                raise AtPath((name,), f"{label}报送的报告期须为 {notation}：{value!r}")
        assert self.covers_from and self.covers_to
        if self.covers_to < self.covers_from:  # each notation sorts as text in time order
            raise AtPath(("covers_to",), f"{self.covers_to} 早于 covers_from {self.covers_from}")
        return self


class Escalation(Strict):
    """Lag rules and the escalation ladder's timing (tasks/escalation/rules.py LagRules)."""

    grace_hours: int = Field(default=0, ge=0, le=240)
    case_after_working_days: int = Field(default=3, ge=1, le=30)
    yellow_points: float = Field(default=10.0, ge=0, le=100)
    red_points: float = Field(default=30.0, ge=0, le=100)
    repeat_cycles: int = Field(default=2, ge=1, le=12)
    commend_cycles: int = Field(default=3, ge=1, le=12)
    clock_days: Literal["natural", "working"] = "working"
    case_prefix: str = "专督"  # 督办单 numbers: 陵专督〔2023〕3号
    # A measure's task deadline this many days ahead (or less) and not 已完成: yellow (临期).
    deadline_window_days: int = Field(default=30, ge=0, le=366)

    @model_validator(mode="after")
    def _red_beyond_yellow(self) -> Escalation:
        if self.red_points < self.yellow_points:
            raise AtPath(
                ("red_points",), f"红灯阈值 {self.red_points} 小于黄灯阈值 {self.yellow_points}"
            )
        return self


class Policy(Strict):
    code: AsciiCode
    county: NonEmpty  # 陵川县; 新绛县 is Xinjiang County in Shanxi (not 新疆)
    units_directory: AsciiCode  # name of config/units/<name>.yaml
    document: DocumentMeta
    active: ActivePeriod
    sections: list[Section] = Field(min_length=1)
    measures: list[Measure] = Field(min_length=1)
    task_force: TaskForce
    obligations: list[Obligation] = Field(min_length=1)
    escalation: Escalation = Escalation()
    review: list[str] = []  # decisions a person made or should check


# ---------------------------------------------------------------------------------------------
# Holidays (config/holidays/YYYY.yaml): extends chinesecalendar for years it does not cover yet


class HolidaySpan(Strict):
    name: NonEmpty  # 春节
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> HolidaySpan:
        if self.end < self.start:
            raise AtPath(("end",), f"{self.end} 早于 start {self.start}")
        return self


class HolidayYear(Strict):
    """One year's holidays and 调休 working days, as the State Council's notice lists them."""

    year: int = Field(ge=2000, le=2100)
    source: NonEmpty  # the notice: 国务院办公厅关于YYYY年部分节假日安排的通知（文号）
    holidays: list[HolidaySpan] = Field(min_length=1)
    working_days: list[date] = []  # weekend days that are working days (调休上班)

    @model_validator(mode="after")
    def _dates_in_year(self) -> HolidayYear:
        for index, span in enumerate(self.holidays):
            for value in (span.start, span.end):
                if value.year != self.year:
                    raise AtPath(("holidays", index), f"日期 {value} 不在 {self.year} 年")
        for index, day in enumerate(self.working_days):
            if day.year != self.year:
                raise AtPath(("working_days", index), f"日期 {day} 不在 {self.year} 年")
        return self
