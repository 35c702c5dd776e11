"""The forms the office issued: one row per signed form, by the digest of its signed metadata.

A returned form is trusted only if its signature verifies *and* its digest is one recorded here,
so a valid key alone (leaked, or an old key kept for rotation) cannot sign a layout the office
never sent. Its table is made by the migrations like the others (models/migrations).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from models import tables as t
from models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from tasks.forms.layout import FormMetadata


class IssuedForm(SQLModel, table=True):
    """A form built for a unit's notice: whose, for which cycle, its digest and signing key."""

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(unique=True, index=True)  # tasks.forms.layout.form_digest
    policy_id: int = Field(foreign_key="policy.id", index=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)  # the obligation and period
    unit_id: int = Field(foreign_key="unit.id")
    key_id: str  # tasks.forms.keys.key_id of the key that signed it
    issued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    recorded_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


def record_issued_form(
    session: Session,
    *,
    digest: str,
    policy_id: int,
    cycle_id: int,
    unit_id: int,
    key_id: str,
    issued_at: datetime,
) -> None:
    """Record a form as issued; the same form recorded again (same digest) changes nothing."""
    dialect = session.get_bind().dialect.name
    table = IssuedForm.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        stmt: Any = pg_insert(table).on_conflict_do_nothing(index_elements=["digest"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["digest"])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(table)
    session.execute(
        stmt.values(
            digest=digest, policy_id=policy_id, cycle_id=cycle_id, unit_id=unit_id,
            key_id=key_id, issued_at=issued_at, recorded_at=utcnow(),
        )
    )  # fmt: skip


def issued_digests(session: Session, policy_id: int) -> frozenset[str]:
    """The digest of every form issued under a policy."""
    return frozenset(
        session.exec(select(IssuedForm.digest).where(IssuedForm.policy_id == policy_id)).all()
    )


def issued_pairs(session: Session, cycle_ids: Collection[int]) -> set[tuple[int, int]]:
    """(cycle id, unit id) of the given cycles that have a form recorded as issued."""
    if not cycle_ids:
        return set()
    return {
        (cycle_id, unit_id)
        for cycle_id, unit_id in session.exec(
            select(IssuedForm.cycle_id, IssuedForm.unit_id).where(
                col(IssuedForm.cycle_id).in_(list(cycle_ids))
            )
        )
    }


def record_form_read_back(session: Session, meta: FormMetadata) -> bool:
    """Record as issued a form the office made and reads back (its own forms directory, a form
    made before issued forms were recorded); False when its policy, cycle or unit is unknown."""
    policy = session.exec(select(t.Policy).where(t.Policy.code == meta.policy)).first()
    if policy is None or policy.id is None:
        return False
    cycle_id = session.exec(
        select(t.Cycle.id)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .where(t.Obligation.policy_id == policy.id, t.Obligation.code == meta.obligation)
        .where(t.Cycle.period == meta.period)
    ).first()
    unit_id = session.exec(
        select(t.Unit.id).where(t.Unit.county == policy.county, t.Unit.code == meta.unit_code)
    ).first()
    if cycle_id is None or unit_id is None:
        return False
    record_issued_form(
        session, digest=meta.digest, policy_id=policy.id, cycle_id=cycle_id, unit_id=unit_id,
        key_id=meta.key_id, issued_at=meta.issued_at,
    )  # fmt: skip
    return True
