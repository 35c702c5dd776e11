"""Items a run left ``stored`` are recovered by a later run, and only when their owner is gone.

A run stores (claims) a batch, marks it at the source, then records it. Another run takes over
items left ``stored`` for over STALE_ITEM on the real clock (not on a run's as-of, which a
backfill sets in the past), and processing an item is exclusive: whoever records it first, the
other skips it, so a report is never recorded twice and no receipt queued twice.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select, update

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.intake.steps import STALE_ITEM, IntakeSummary, take_in
from tasks.mail.sources import MaildirSource
from tests.helpers import load_seeds
from tests.intake.flood import stranger_mail
from tests.intake_helpers import at, office_mailbox, reply

POLICY = "lingchuan-2023"
AS_OF = at(date(2023, 3, 1), 10)  # a backfill's moment: long before the real clock


@pytest.fixture
def loaded(db_settings: Settings) -> Settings:
    return load_seeds(db_settings, POLICY)


def _fill(settings: Settings, maildir: Path) -> int:
    """One plain reply from every unit (one submission each, unverified), and a stranger's mail
    (quarantined: a line of the office's digest). Returns how many units replied."""
    office = office_mailbox(settings, POLICY)
    with session_scope(settings) as session:
        units = sorted(load_policy_intake(session, POLICY).units.values(), key=lambda u: u.code)
    for number, unit in enumerate(units):
        message = reply(None, sender=unit.mailboxes[0], office=office, body=f"{unit.name}二月进展")
        deliver_to_maildir(maildir, message.as_bytes(), unit.mailboxes[0], office,
                           received_at=at(date(2023, 3, 1), 9, number))  # fmt: skip
    stranger = stranger_mail(0, office)
    deliver_to_maildir(maildir, stranger.as_bytes(), "x@spam.invalid", office,
                       received_at=at(date(2023, 3, 1), 9, 59))  # fmt: skip
    return len(units)


def _empty(tmp_path: Path, name: str) -> MaildirSource:
    """A mailbox with nothing new: a run over it only recovers what others left."""
    for sub in ("new", "cur", "tmp"):
        (tmp_path / name / sub).mkdir(parents=True, exist_ok=True)
    return MaildirSource(tmp_path / name)


class Killed(BaseException):
    """The run dies here (not an Exception: nothing in intake catches it)."""


class PausedMaildir(MaildirSource):
    """A Maildir whose run stops once its first batch is claimed, before recording it: it
    waits for ``go`` (a slow or hung run) or, with ``die``, dies there (kill -9)."""

    def __init__(self, directory: Path, *, die: bool = False) -> None:
        super().__init__(directory)
        self.claimed = threading.Event()
        self.go = threading.Event()
        self.die = die

    def mark_processed(self, source_key: str) -> None:
        if not self.claimed.is_set():
            self.claimed.set()
            if self.die:
                raise Killed
            assert self.go.wait(120), "the test never let the paused run go on"
        super().mark_processed(source_key)


def _statuses(settings: Settings) -> list[str]:
    with session_scope(settings) as session:
        return list(session.exec(select(t.InboundItem.status)).all())


def _age(settings: Settings, by: timedelta) -> None:
    """The items' owner stopped ``by`` ago on the real clock (what waiting that long does)."""
    with session_scope(settings) as session:
        session.exec(update(t.InboundItem).values(created_at=datetime.now(UTC) - by))  # type: ignore[call-overload]


def _assert_each_recorded_once(settings: Settings, count: int) -> None:
    with session_scope(settings) as session:
        items = session.exec(select(t.InboundItem)).all()
        submissions = session.exec(select(t.Submission)).all()
        receipts = session.exec(
            select(t.Notification.idempotency_key).where(t.Notification.kind == "receipt")
        ).all()
        digests = session.exec(
            select(t.Notification.idempotency_key).where(t.Notification.kind == "quarantine")
        ).all()
    assert len(items) == count + 1
    assert sorted(i.status for i in items) == ["processed"] * count + ["quarantined"]
    assert sorted(s.inbound_id for s in submissions) == sorted(
        i.id for i in items if i.status == "processed"
    )
    assert {s.version for s in submissions} == {1}  # no report recorded twice
    assert len(receipts) == len(set(receipts)) == count  # no receipt queued twice
    [stranger] = [i for i in items if i.status == "quarantined"]
    assert digests == [stranger.digest_key]  # the office told of it once


def _in_thread(target: object, *args: object, **kwargs: object) -> tuple[threading.Thread, list]:
    """Run ``target`` in a thread; its result or exception lands in the returned list."""
    out: list[object] = []

    def body() -> None:
        try:
            out.append(target(*args, **kwargs))  # type: ignore[operator]
        except BaseException as exc:  # reported by the test, with the other run's result
            out.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, out


def test_a_run_on_the_real_clock_leaves_a_backfills_batch_to_it(
    loaded: Settings, tmp_path: Path
) -> None:
    """A run at an as-of in the past has claimed its batch and is about to record it: a run on
    the real clock meanwhile does not take it (it is seconds old, not years)."""
    count = _fill(loaded, tmp_path / "maildir")
    source = PausedMaildir(tmp_path / "maildir")
    thread, result = _in_thread(take_in, loaded, POLICY, source, now=AS_OF)
    try:
        assert source.claimed.wait(120)
        other = take_in(loaded, POLICY, _empty(tmp_path, "other"), now=datetime.now(UTC))
        assert other.lines == []
        assert _statuses(loaded) == ["stored"] * (count + 1)
    finally:
        source.go.set()
        thread.join(300)
    [summary] = result
    assert isinstance(summary, IntakeSummary), summary
    assert summary.count("unverified") == count and summary.count("quarantined") == 1
    _assert_each_recorded_once(loaded, count)


def test_a_run_that_hung_past_the_stale_time_does_not_record_again(
    loaded: Settings, tmp_path: Path
) -> None:
    """Its batch is taken over by the next run once stale; when the hung run goes on, it finds
    every item recorded and records none again."""
    count = _fill(loaded, tmp_path / "maildir")
    source = PausedMaildir(tmp_path / "maildir")
    thread, result = _in_thread(take_in, loaded, POLICY, source, now=AS_OF)
    try:
        assert source.claimed.wait(120)
        _age(loaded, STALE_ITEM + timedelta(minutes=1))
        other = take_in(loaded, POLICY, _empty(tmp_path, "other"), now=datetime.now(UTC))
        assert other.count("unverified") == count
    finally:
        source.go.set()
        thread.join(300)
    [summary] = result
    assert isinstance(summary, IntakeSummary), summary
    assert {line["outcome"] for line in summary.lines} == {"skipped"}
    _assert_each_recorded_once(loaded, count)


def _left_stored(settings: Settings, tmp_path: Path) -> int:
    """A run that died between claiming its batch and recording it: every item ``stored``."""
    count = _fill(settings, tmp_path / "maildir")
    with pytest.raises(Killed):
        take_in(settings, POLICY, PausedMaildir(tmp_path / "maildir", die=True), now=AS_OF)
    assert _statuses(settings) == ["stored"] * (count + 1)
    return count


def test_a_dead_runs_items_are_recovered_once_stale(loaded: Settings, tmp_path: Path) -> None:
    count = _left_stored(loaded, tmp_path)
    # Minutes after it died (as a real clock counts), the next run still leaves them alone.
    _age(loaded, STALE_ITEM - timedelta(minutes=2))
    assert take_in(loaded, POLICY, _empty(tmp_path, "a"), now=datetime.now(UTC)).lines == []
    assert _statuses(loaded) == ["stored"] * (count + 1)
    _age(loaded, STALE_ITEM + timedelta(minutes=1))
    summary = take_in(loaded, POLICY, _empty(tmp_path, "b"), now=datetime.now(UTC))
    assert summary.count("unverified") == count
    _assert_each_recorded_once(loaded, count)


def test_two_runs_recovering_the_same_items_at_once_record_each_once(
    loaded: Settings, tmp_path: Path
) -> None:
    count = _left_stored(loaded, tmp_path)
    _age(loaded, STALE_ITEM + timedelta(minutes=1))
    start = threading.Barrier(2)

    def run(name: str) -> IntakeSummary:
        source = _empty(tmp_path, name)
        start.wait()
        return take_in(loaded, POLICY, source, now=datetime.now(UTC))

    runs = [_in_thread(run, name) for name in ("a", "b")]
    for thread, _ in runs:
        thread.join(300)
    summaries = [out[0] for _, out in runs]
    assert all(isinstance(s, IntakeSummary) for s in summaries), summaries
    lines = [line for s in summaries for line in s.lines]  # type: ignore[union-attr]
    assert sum(line["outcome"] == "unverified" for line in lines) == count
    assert sum(line["outcome"] == "quarantined" for line in lines) == 1
    assert {line["outcome"] for line in lines} <= {"unverified", "quarantined", "skipped"}
    _assert_each_recorded_once(loaded, count)
    with session_scope(loaded) as session:  # each item was processed once: one attempt each
        attempts = session.exec(select(func.sum(col(t.InboundItem.attempts)))).one()
    assert attempts == count + 1
