"""Intake benchmarks, each beside a baseline measured in the same run.

(a) parsing a filled monthly form: signature check + every cell read and validated
    (``read_form_metadata`` + ``read_form``) against a bare openpyxl read-only pass over the same
    cells (the least any reader must do);
(b) end-to-end intake of ``TASKFORCE_BENCH_MESSAGES`` (default 2,000) reply mails from a Maildir:
    raw store, claim, MIME parse, signature, validation, versioned submission, progress entries,
    receipt rendered into the outbox, Maildir marked — against the floor of the same messages
    parsed (MIME + bare openpyxl read of the attachment) with no database at all.
"""

from __future__ import annotations

import email
import email.policy
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import func, select

import tasks.intake.steps as steps
from config.settings import Settings
from models import tables as t
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.demo.bureaus import fill_form
from tasks.demo.mailcatcher import deliver_to_maildir
from tasks.forms.keys import form_keys
from tasks.forms.layout import form_path
from tasks.forms.read import open_workbook, read_form_metadata
from tasks.forms.values import read_form
from tasks.intake.steps import take_in
from tasks.mail.sources import MaildirSource
from tasks.reminders.steps import prepare_reminders
from tests.bench.report import record, size
from tests.helpers import load_seeds
from tests.intake_helpers import XLSX, at, reply

MESSAGES = size("TASKFORCE_BENCH_MESSAGES", 2000, 20)
PARSES = size("TASKFORCE_BENCH_PARSES", 300, 5)
POLICY = "lingchuan-2023"
OFFICE = "taskforce-office@lingchuan.example.org"


def line(name: str, value: float, baseline_name: str, baseline: float, unit: str) -> None:
    print(
        f"\n{name:<40} {value:9.1f} {unit} | {baseline_name:<40} {baseline:9.1f} {unit}"
        f" | {100 * value / baseline:5.1f} %"
    )


def bare_read(data: bytes, sheet: str, max_row: int, max_col: int) -> int:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        cells = 0
        for row in wb[sheet].iter_rows(min_row=1, max_row=max_row, max_col=max_col):
            cells += sum(1 for c in row if getattr(c, "value", None) is not None)
        return cells
    finally:
        wb.close()


@pytest.fixture(scope="module")
def filled_forms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[tuple]]:
    """February's monthly forms of every 陵川 unit, filled; with their senders."""
    root = tmp_path_factory.mktemp("bench-intake")
    settings = load_seeds(
        Settings(var_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'bench.db'}"),
        POLICY,
    )
    prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
    key = form_keys(settings).current
    with session_scope(settings) as session:
        units = list(load_policy_intake(session, POLICY).units.values())
    forms = []
    for unit in sorted(units, key=lambda u: u.code):
        path = form_path(settings, POLICY, "monthly-progress", "2023-02", unit.code)
        forms.append((unit.mailboxes[0], path.name, fill_form(path.read_bytes(), key)))
    return settings, forms


def extent(data: bytes, key: bytes) -> tuple[str, int, int]:
    """The sheet and the rows and columns that hold every fill-in cell of a form."""
    meta = read_form_metadata(data, key)
    rows = [int("".join(ch for ch in c.cell if ch.isdigit())) for c in meta.layout.cells]
    table = meta.layout.table
    if table is not None and table.rows:
        rows.append(table.rows[-1].row + 1)
    return meta.layout.sheet, max(rows or [1]), 8


def test_parse_rate(filled_forms: tuple[Settings, list[tuple]]) -> None:
    settings, forms = filled_forms
    key = form_keys(settings).current
    extents = [extent(data, key) for _, _, data in forms]
    picks = [i % len(forms) for i in range(PARSES)]

    start = time.perf_counter()
    for i in picks:
        bare_read(forms[i][2], *extents[i])
    bare = PARSES / (time.perf_counter() - start)

    start = time.perf_counter()
    issues = 0
    for i in picks:  # as intake reads a form: the workbook opened once for both
        workbook = open_workbook(forms[i][2])
        try:
            meta = read_form_metadata(forms[i][2], key, workbook=workbook)
            issues += len(read_form(forms[i][2], meta, workbook=workbook).issues)
        finally:
            workbook.close()
    ours = PARSES / (time.perf_counter() - start)
    assert issues == 0
    line("signature + read + validate", ours, "bare openpyxl read of the cells", bare, "forms/s")


def test_end_to_end_intake(filled_forms: tuple[Settings, list[tuple]], tmp_path: Path) -> None:
    settings, forms = filled_forms
    key = form_keys(settings).current
    extents = [extent(data, key) for _, _, data in forms]
    maildir = tmp_path / "maildir"
    messages = []
    for n in range(MESSAGES):
        sender, name, data = forms[n % len(forms)]
        message = reply(None, sender=sender, office=OFFICE, attachments=[(name, data, XLSX)])
        messages.append(message.as_bytes())
        deliver_to_maildir(maildir, messages[-1], sender, OFFICE,
                           received_at=at(date(2023, 3, 1), 9, n % 60))  # fmt: skip

    start = time.perf_counter()
    for n, content in enumerate(messages):
        parsed = email.message_from_bytes(content, policy=email.policy.compat32)
        for part in parsed.walk():
            if part.get_content_type() == XLSX:
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                bare_read(payload, *extents[n % len(forms)])
    floor = MESSAGES / (time.perf_counter() - start)

    start = time.perf_counter()
    with timed(steps, "enqueue") as enqueue_seconds:
        summary = take_in(settings, POLICY, MaildirSource(maildir), now=at(date(2023, 3, 1), 12))
    seconds = time.perf_counter() - start
    assert summary.count("accepted") == MESSAGES
    with session_scope(settings) as session:  # one receipt queued per mail, throttled or not
        queued = session.exec(select(func.count()).where(t.Notification.kind == "receipt")).one()
    assert queued == MESSAGES
    line(f"intake of {MESSAGES} mails (Maildir → DB)", MESSAGES / seconds,
         "MIME parse + bare cell read, no DB", floor, "msg/s")  # fmt: skip
    print(
        f"  intake wall time {seconds:.1f} s for {MESSAGES} messages;"
        f" enqueue (models/outbox.py) {enqueue_seconds[0]:.2f} s,"
        f" {100 * enqueue_seconds[0] / seconds:.1f} % of it"
    )
    record(
        f"intake of {MESSAGES} mails from a Maildir into SQLite",
        MESSAGES / seconds,
        floor,
        "msg/s",
        kind="rate",
        target=0.75,
        floor_what="MIME parse + bare cell read, no database",
    )


@contextmanager
def timed(module: Any, name: str) -> Iterator[list[float]]:
    """Time spent in ``module.name`` while the block runs (the function wrapped, then put back)."""
    spent = [0.0]
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    setattr(module, name, wrapper)
    try:
        yield spent
    finally:
        setattr(module, name, original)
