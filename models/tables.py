"""SQLModel tables.

Configuration tables (policy … cycle) are upserted from the YAML files; history tables
(submission, progress entry, notification, supervision case and its events) are append-mostly:
a submission is never updated or deleted, a newer version supersedes it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from config.schema import TaskForce


def _json(factory: Callable[[], Any]) -> Any:
    return Field(default_factory=factory, sa_column=Column(JSON, nullable=False))


def _ts(nullable: bool = True, **kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable), **kwargs)


class Policy(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True)
    county: str
    units_directory: str
    title: str
    issuer: str
    doc_number: str
    issued: date
    active_start: date
    active_end: date
    task_force: dict[str, Any] = _json(dict)  # name, leader, deputies, members, office
    escalation: dict[str, Any] = _json(dict)  # lag rules (config.schema.Escalation)
    review: list[str] = _json(list)
    content_sha256: str
    loaded_at: datetime = _ts(nullable=False, default_factory=utcnow)

    @property
    def task_force_spec(self) -> TaskForce:
        """The stored task force, typed: the policy file's ``task_force`` without its groups
        (those are rows of their own; models.policy_store stores the rest here)."""
        from config.schema import TaskForce

        return TaskForce.model_validate(self.task_force)


class Unit(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("county", "name"),
        UniqueConstraint("county", "code"),
    )
    id: int | None = Field(default=None, primary_key=True)
    county: str = Field(index=True)
    code: str
    name: str
    full_name: str = ""
    aliases: list[str] = _json(list)
    kind: str
    mailboxes: list[str] = _json(list)
    head: dict[str, Any] = _json(dict)
    placeholder: bool = False
    note: str = ""
    retired_at: datetime | None = _ts(default=None)


class Section(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("policy_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    key: str
    title: str
    parent_key: str | None = None
    group_code: str | None = None
    position: int
    note: str = ""


class Measure(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("policy_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    number: str
    parent_number: str | None = None
    sort_major: int
    sort_minor: int
    section_key: str
    title: str
    text: str
    deadline: date | None = None
    deadline_phrase: str = ""
    deadline_kind: str = "task"  # task / window (config.schema.Measure)
    note: str = ""
    retired_at: datetime | None = _ts(default=None)


class DeadlineExtension(SQLModel, table=True):
    """The office moved a measure's task deadline (延期), with its reason; never edited or deleted.

    Kept by measure number, not measure row, so that reloading the policy file keeps them; the
    measure's deadline is the latest extension's, or the policy file's when there is none.
    """

    __table_args__ = (UniqueConstraint("policy_id", "measure_number", "new_deadline"),)
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    measure_number: str
    previous_deadline: date
    new_deadline: date
    reason: str
    by: str
    at: datetime = _ts(nullable=False)


class Responsibility(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("measure_id", "unit_id"),
        # A measure's units in notice order, as the consolidation reads them (revision 6).
        Index("ix_responsibility_order", "measure_id", "position", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str  # lead / support / responsible
    via: str | None = None  # the collective the unit was named through (各乡镇人民政府)
    position: int


class Target(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("measure_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id", index=True)
    position: int
    metric: str
    value: float
    unit_of_measure: str
    direction: str
    due: date
    due_phrase: str
    starts: date | None = None
    resolution: str = ""
    outside_period_reason: str = ""
    retired_at: datetime | None = _ts(default=None)


class TaskForceGroup(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("policy_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    code: str
    name: str
    lead_units: list[str] = _json(list)
    sections: list[str] = _json(list)
    measures: list[str] = _json(list)  # the measures it covers where it shares a section
    note: str = ""


class Obligation(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("policy_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    code: str
    name: str
    frequency: str
    due_rule: dict[str, Any] = _json(dict)
    covers_from: str | None = None
    covers_to: str | None = None
    on_non_working_day: str
    reminders: dict[str, Any] = _json(dict)
    content: list[dict[str, Any]] = _json(list)
    submit_to: str
    paper_copy: bool
    source_text: str
    retired_at: datetime | None = _ts(default=None)


class ObligationRecipient(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("obligation_id", "unit_id"),)
    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="obligation.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)


class Cycle(SQLModel, table=True):
    """One obligation for one period: when it opens, is due, and reminders go out."""

    __table_args__ = (UniqueConstraint("obligation_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="obligation.id", index=True)
    period: str
    period_label: str
    covers_start: date
    covers_end: date
    opens: date
    due_date: date
    due_at: datetime = _ts(nullable=False)
    reminders: list[str] = _json(list)  # ISO dates, ascending
    official: bool = True
    retired_at: datetime | None = _ts(default=None)


class InboundItem(SQLModel, table=True):
    """Everything taken in, stored raw before it is parsed: a mail, or a file handed in on paper.

    The sha256 of the raw bytes is unique: two intake runs that read the same message both try
    to insert it, one wins, and only the winner processes it.
    """

    id: int | None = Field(default=None, primary_key=True)
    raw_sha256: str = Field(unique=True, index=True)
    raw_path: str  # relative to the raw store
    size: int
    channel: str  # email / paper
    source: str  # maildir:…, imap://…, paper
    source_key: str = ""
    received_at: datetime = _ts(nullable=False)
    sender: str = ""
    subject: str = ""
    message_id: str = ""
    policy_code: str = ""  # the policy whose intake took it in (paper: the one named)
    # stored → processed | quarantined | ignored | error (a bug; replayed after a fix)
    status: str = "stored"
    reasons: list[str] = _json(list)  # why quarantined, ignored or failed (Chinese for people)
    details: dict[str, Any] = _json(dict)  # paper: the unit, obligation, period the office named
    attempts: int = 0  # times processed: a run processes the item only if no one has since
    # When stored, on the real clock (processed_at is on the run's, which a backfill sets in the
    # past): an item left ``stored`` is taken over once this is STALE_ITEM old.
    created_at: datetime = _ts(nullable=False, default_factory=utcnow)
    processed_at: datetime | None = _ts(default=None)
    # Quarantined: the key of the 【隔离】 digest that told the office ("" until one did).
    digest_key: str = ""


class Submission(SQLModel, table=True):
    """One version of what a unit sent for a cycle. Never updated: a newer version supersedes."""

    __table_args__ = (UniqueConstraint("cycle_id", "unit_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    version: int
    supersedes_id: int | None = Field(default=None, foreign_key="submission.id")
    inbound_id: int | None = Field(default=None, foreign_key="inbounditem.id", index=True)
    # accepted / rejected / unstructured (received, needs review) / quarantined
    status: str
    channel: str  # email / paper
    received_at: datetime = _ts(nullable=False)
    late_working_days: int = 0  # working days after the due moment; 0 on time
    attachment: str = ""  # the file name as the unit sent it
    raw_sha256: str | None = None
    fields: dict[str, Any] = _json(dict)
    errors: list[dict[str, Any]] = _json(list)  # [{sheet, cell, problem}]
    created_at: datetime = _ts(nullable=False, default_factory=utcnow)


class ProgressEntry(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("submission_id", "measure_id"),)
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    measure_id: int = Field(foreign_key="measure.id", index=True)
    status: str | None = None  # 已完成 / 推进中 / 滞后 / 未启动
    value_reached: float | None = None
    fields: dict[str, Any] = _json(dict)


class Notification(SQLModel, table=True):
    """The outbox: written before sending, keyed so that nothing is sent twice; the mail's
    bodies are a NotificationBody row, its serialised message an OutboxMessage row."""

    # What a delivery claims (a policy's pending rows, in order), found without reading
    # through every mail ever sent; sending and settling a row never touch this index.
    __table_args__ = (
        Index(
            "ix_notification_pending",
            "policy_id",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, index=True)
    kind: str
    policy_id: int | None = Field(default=None, foreign_key="policy.id")
    cycle_id: int | None = Field(default=None, foreign_key="cycle.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    to: list[str] = _json(list)
    cc: list[str] = _json(list)
    subject: str  # the bodies are in NotificationBody
    attachments: list[dict[str, Any]] = _json(list)
    status: str = "pending"  # pending / sending / sent / failed / cancelled
    claimed_by: str = ""  # the delivery that is sending it: "<flow run id>:<suffix>"
    claim_holder: str = ""  # where that delivery runs: "<host>:<pid>"
    lease_until: datetime | None = _ts(default=None)  # a claim past it is released by the next run
    # The first delivery attempt, on the delivery's clock (created_at is on the flow's, which a
    # replay sets in the past): the give-up age counts from it.
    first_tried_at: datetime | None = _ts(default=None)
    attempts: int = 0
    server_reply: str = ""
    last_error: str = ""
    created_at: datetime = _ts(nullable=False, default_factory=utcnow)
    updated_at: datetime = _ts(nullable=False, default_factory=utcnow)
    sent_at: datetime | None = _ts(default=None)


class NotificationBody(SQLModel, table=True):
    """A queued mail's text and HTML bodies: the office's record of what was sent, kept for good.

    Apart from its outbox row, which a delivery updates twice (claimed, settled) and SQLite
    rewrites whole each time: a reminder's ~2.2 kB of body in the row made the claim of 10,000
    rows take ~0.28 s instead of ~0.04 s, and their outcome commits twice as long."""

    notification_id: int = Field(primary_key=True, foreign_key="notification.id")
    body_text: str
    body_html: str = ""


class OutboxMessage(SQLModel, table=True):
    """A queued mail's message, serialised when it was queued, less From, Reply-To and
    Message-ID (which follow the settings of the day it goes out): delivery only streams it.

    Apart from its outbox row, which a delivery updates twice (claimed, settled): with the
    message and the body in it, a row of a reminder took two pages, and every update wrote
    both. No row here for mails queued before (or whose attachment was missing then): those
    are built from the outbox row and its bodies when sent. Deleted once its mail is settled."""

    notification_id: int = Field(primary_key=True, foreign_key="notification.id")
    mime: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # [size, mtime_ns] of each attachment file when ``mime`` was built: changed, it is rebuilt.
    sources: list[list[int]] = _json(list)


class SupervisionCase(SQLModel, table=True):
    """A 督办 case; its state is derived from its events."""

    id: int | None = Field(default=None, primary_key=True)
    case_key: str = Field(unique=True, index=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    cycle_id: int | None = Field(default=None, foreign_key="cycle.id")
    reason: str
    opened_at: datetime = _ts(nullable=False)


class CaseEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="supervisioncase.id", index=True)
    kind: str  # opened / feedback / approved / rejected / extended / closed …
    at: datetime = _ts(nullable=False)
    actor: str = ""
    payload: dict[str, Any] = _json(dict)


class Report(SQLModel, table=True):
    """One version of a consolidation's outputs (bulletin, workbook) for a period.

    Consolidating again with the same data and as_of finds the same content and adds nothing;
    a late report that changes the content adds a version, and the old files stay.
    """

    __table_args__ = (UniqueConstraint("policy_id", "kind", "period", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    kind: str  # monthly / annual
    obligation: str = ""
    period: str  # 2023-02, or 2023 for the annual roll-up
    version: int
    as_of: datetime = _ts(nullable=False)
    content_sha256: str
    directory: str
    files: list[str] = _json(list)
    summary: dict[str, Any] = _json(dict)  # counts and rates, for scripts and the roll-up
    created_at: datetime = _ts(nullable=False, default_factory=utcnow)
