"""The contract between building a form and reading it back: what a form is built from, where
everything sits on its sheet, its file name, and the signature over its metadata.

``tasks/forms/build.py`` writes the workbook from a ``FormSpec`` and signs the ``FormLayout`` it
laid out; ``tasks/forms/read.py`` checks that signature on a returned form and hands the layout to
``tasks/forms/values.py``. Nothing here needs openpyxl, so naming a form costs no import.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from config.errors import FormError
from config.schema import Frequency
from config.settings import Settings
from tasks.calendar import SHANGHAI
from tasks.cycles import report_title

FORM_VERSION = 1  # bump when the layout metadata changes shape; intake refuses unknown versions
META_SHEET = "_meta"
META_KEYS = (
    "policy",
    "obligation",
    "period",
    "unit_code",
    "unit_name",
    "form_version",
    "issued_at",
    "layout",
)
STATUS_CHOICES = ("已完成", "推进中", "滞后", "未启动")
YES_NO = ("是", "否")

LayoutKind = Literal["ledger", "progress", "roster"]
CellType = Literal["text", "choice", "number", "date"]


# ---------------------------------------------------------------------------------------------
# What a form is built from, and the layout intake reads back


@dataclass(frozen=True)
class FormSpec:
    """Everything a unit's form shows, taken from a notice context."""

    policy_code: str
    policy_title: str
    doc_number: str
    county: str
    obligation_code: str
    obligation_name: str
    frequency: Frequency
    content: tuple[Mapping[str, Any], ...]  # {key, label, kind, required}
    period: str
    period_label: str
    due_date: date
    unit_code: str
    unit_name: str
    # {number, title, role_label, targets: [{metric, value, unit, due, due_phrase}]}
    measures: tuple[Mapping[str, Any], ...]
    office_mailbox: str
    issued_at: datetime  # the notice's as_of: stamped into metadata and file times
    # The due moment's local time when it is not the day's end (每周五17时前: "17:00"), else "".
    due_time: str = ""


@dataclass(frozen=True)
class InputCell:
    """A single fill-in cell (or the top-left of a merged fill-in area) outside the table."""

    cell: str  # "A7"
    field: str  # content key, or "footer" for 填报人/联系电话/单位负责人
    part: str  # "" for the field itself; "date", "leader", "phone" … for a field's sub-cells
    label: str
    type: CellType
    required: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableColumn:
    """A column of the per-measure table; ``input`` false means pre-filled and locked."""

    column: str  # "D"
    field: str  # content key of the per-measure field ("" for number, title, role)
    part: str  # number, title, role, status, target, value, note; the key for ledger columns
    label: str
    type: CellType
    input: bool
    required: bool
    choices: tuple[str, ...] = ()
    target_rows_only: bool = False  # fill-in only on rows that carry a target


@dataclass(frozen=True)
class TableRow:
    row: int
    measure: str  # measure number, "26(3)"
    target: int | None  # index into the measure's targets; None for a row without target


@dataclass(frozen=True)
class TableLayout:
    header_row: int
    columns: tuple[TableColumn, ...]
    rows: tuple[TableRow, ...]


@dataclass(frozen=True)
class FormLayout:
    """Where everything sits on the form's sheet: signed, so intake can rely on it."""

    kind: LayoutKind
    sheet: str
    cells: tuple[InputCell, ...]
    table: TableLayout | None

    def to_json(self) -> str:
        return _canonical(_plain(self))

    @classmethod
    def from_json(cls, text: str) -> FormLayout:
        raw = json.loads(text)
        table = raw["table"]
        return cls(
            kind=raw["kind"],
            sheet=raw["sheet"],
            cells=tuple(InputCell(**{**c, "choices": tuple(c["choices"])}) for c in raw["cells"]),
            table=None
            if table is None
            else TableLayout(
                header_row=table["header_row"],
                columns=tuple(
                    TableColumn(**{**c, "choices": tuple(c["choices"])}) for c in table["columns"]
                ),
                rows=tuple(TableRow(**r) for r in table["rows"]),
            ),
        )


@dataclass(frozen=True)
class FormMetadata:
    """The signed facts of a returned form: whose it is, for which cycle, and its layout."""

    policy: str
    obligation: str
    period: str
    unit_code: str
    unit_name: str
    form_version: int
    issued_at: datetime
    layout: FormLayout
    digest: str = ""  # of the signed fields (form_digest): which issued form this is
    key_id: str = ""  # the key that verified it (tasks.forms.keys.key_id)


def form_spec_from_context(context: Mapping[str, Any]) -> FormSpec:
    """Take what a form needs from a notice context (the shape in templates/README.md)."""
    policy, obligation, cycle, unit = (
        context["policy"],
        context["obligation"],
        context["cycle"],
        context["unit"],
    )
    reply = context.get("reply") or {}
    mailbox = reply.get("mailbox") or context.get("office", {}).get("mailbox", "")
    due_at = cycle.get("due_at")
    due_time = ""
    if isinstance(due_at, datetime):
        local = due_at.astimezone(SHANGHAI)
        due_time = (
            "" if (local.hour, local.minute) == (23, 59) else f"{local.hour}:{local.minute:02d}"
        )
    return FormSpec(
        policy_code=policy["code"],
        policy_title=policy["title"],
        doc_number=policy["doc_number"],
        county=policy["county"],
        obligation_code=obligation["code"],
        obligation_name=obligation["name"],
        frequency=obligation["frequency"],
        content=tuple(
            {
                "key": f["key"],
                "label": f["label"],
                "kind": f.get("kind", "text"),
                "required": bool(f.get("required", True)),
            }
            for f in obligation["content"]
        ),
        period=cycle["period"],
        period_label=cycle["period_label"],
        due_date=as_date(cycle["due_date"]),
        unit_code=unit["code"],
        unit_name=unit["name"],
        measures=tuple(
            {
                "number": m["number"],
                "title": m["title"],
                "role_label": m["role_label"],
                "targets": tuple(
                    {
                        "metric": t["metric"],
                        "value": float(t["value"]),
                        "unit": t["unit"],
                        "due": as_date(t["due"]),
                        "due_phrase": t.get("due_phrase", ""),
                        "direction": t.get("direction", "at_least"),
                    }
                    for t in m.get("targets", ())
                ),
            }
            for m in context["measures"]
        ),
        office_mailbox=mailbox,
        issued_at=context["as_of"],
        due_time=due_time,
    )


def layout_kind(content: Sequence[Mapping[str, Any]]) -> LayoutKind:
    """Which layout an obligation's content fields call for."""
    per_measure = sum(1 for f in content if f.get("kind") == "per_measure")
    if per_measure >= 2:
        return "ledger"
    return "progress" if per_measure == 1 else "roster"


def report_name(spec: FormSpec) -> str:
    """2023年2月进展情况报告, 2023年第一季度工作进展情况报告; a one-off report goes by its name (its
    form gives the due day)."""
    if spec.frequency != "once":
        return report_title(spec.period_label, spec.obligation_name)
    return spec.obligation_name


def form_title(spec: FormSpec) -> str:
    """陵川县2023年2月进展情况报告（县人社局）."""
    return f"{spec.county}{report_name(spec)}（{spec.unit_name}）"


_ILLEGAL_IN_FILENAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in "123456789"
}


def form_filename(spec: FormSpec) -> str:
    """2023年2月进展情况报告_县人社局.xlsx: safe on Windows, short enough for mail clients."""
    stem = _ILLEGAL_IN_FILENAME.sub("_", f"{report_name(spec)}_{spec.unit_name}")
    stem = stem.strip(" .")[:80].rstrip(" .") or "报表"
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    return f"{stem}.xlsx"


# ---------------------------------------------------------------------------------------------
# The signature over a form's metadata


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` for the layout's frozen dataclasses and tuples, without its deep
    copies (a tenth of a form's build time): JSON writes tuples and lists alike."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sign(fields: Mapping[str, str], key: bytes) -> str:
    return hmac.new(key, _canonical(dict(fields)).encode("utf-8"), hashlib.sha256).hexdigest()


def form_digest(fields: Mapping[str, str]) -> str:
    """The sha256 of exactly what a form's signature covers; the same under every key, so a
    form keeps its digest across key rotation."""
    return hashlib.sha256(_canonical(dict(fields)).encode("utf-8")).hexdigest()


def check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or not key:
        raise FormError("表格签名密钥为空：请设置 TASKFORCE_FORM_KEY")


def as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def form_path(settings: Settings, policy: str, obligation: str, period: str, unit: str) -> Path:
    """The path of a unit's form for one obligation and period, under the var directory."""
    return settings.var_dir / "forms" / policy / obligation / period / f"{unit}.xlsx"
