"""Reminder benchmarks: sending and rendering, each beside a baseline measured in the same run.

(a) floor: a bare aiosmtplib loop, persistent connections at the same concurrency, pushing the
    very bytes (b) sends, serialised beforehand, to the same sink (aiosmtpd's Sink in another
    process); (a') the same loop over pre-built EmailMessage objects, for comparison;
(b) this project's sending phase: claim the outbox, add today's From/Reply-To/Message-ID to the
    message stored when each mail was queued, send, record outcomes; queueing's own cost (the
    message is built then) is printed beside it;
(c) a naive sender: one new connection per message, sequential;
(d) rendering (mail templates + signed form) against a bare openpyxl loop writing the same cells.

Sizes: ``TASKFORCE_BENCH_UNITS`` messages (default 10,000) for (a)/(b), alternated for
``TASKFORCE_BENCH_ROUNDS`` rounds (default 5, the round of median share kept); (a'), (c), (d)
on a sample (``TASKFORCE_BENCH_SAMPLE``, default 1,000), reported per second so the figures
compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import openpyxl
import pytest
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import engine_for, session_scope
from models.notice_data import load_notice_data
from models.outbox import NewNotification, enqueue
from models.policy_store import get_policy
from tasks.calendar import SHANGHAI
from tasks.forms.build import build_form
from tasks.forms.layout import form_spec_from_context
from tasks.mail.notices import notice_context, prebuild, wire_bytes
from tasks.mail.outbox import deliver_outbox
from tasks.render import make_environment, render_notice, shared_environment
from tests.bench.report import TINY, record, size
from tests.helpers import load_seeds
from tests.smtp_server import sink_process

UNITS = size("TASKFORCE_BENCH_UNITS", 10000, 40)
SAMPLE = size("TASKFORCE_BENCH_SAMPLE", 1000, 10)
ROUNDS = size("TASKFORCE_BENCH_ROUNDS", 5, 1)
AS_OF = datetime(2023, 1, 12, 9, tzinfo=SHANGHAI)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def line(name: str, value: float, baseline_name: str, baseline: float, unit: str) -> None:
    print(
        f"\n{name:<46} {value:9.1f} {unit} | {baseline_name:<44} {baseline:9.1f} {unit}"
        f" | {100 * value / baseline:5.1f} %"
    )


@pytest.fixture(scope="module")
def real_contexts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Notice contexts of every 陵川 unit for the January-20 ledger, from the real policy."""
    tmp = tmp_path_factory.mktemp("bench")
    settings = Settings(var_dir=tmp, database_url=f"sqlite:///{tmp / 'b.db'}")
    load_seeds(settings, "lingchuan-2023")
    with session_scope(settings) as session:
        data = load_notice_data(session, "lingchuan-2023", None)
        contexts = []
        for obligation, cycle in data.cycles[:3]:
            for unit in data.recipients[obligation.code]:
                contexts.append(
                    notice_context(
                        kind="opening",
                        policy=data.policy,
                        obligation=obligation,
                        cycle=cycle,
                        unit=unit,
                        measures=data.measures_by_unit.get(unit.id or 0, []),
                        as_of=AS_OF,
                        days_left=6,
                        attachment_name="form.xlsx",
                    )
                )
    return contexts


def _render_chunk(contexts: list[dict[str, Any]]) -> int:
    env = shared_environment()  # compiled once per process, as the reminders step does
    total = 0
    for context in contexts:
        mail = render_notice(env, context)
        total += len(mail.text) + len(build_form(form_spec_from_context(context), b"k"))
    return total


def _bare_chunk(shapes: list[tuple[int, int]]) -> int:
    total = 0
    for rows, cols in shapes:
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        assert sheet is not None
        for r in range(1, rows + 1):
            for c in range(1, cols + 1):
                sheet.cell(r, c, f"填报内容{r}-{c}")
        meta = workbook.create_sheet("_meta")
        for r in range(1, 16):
            meta.cell(r, 1, "key")
            meta.cell(r, 2, "value")
        buffer = io.BytesIO()
        workbook.save(buffer)
        total += len(buffer.getvalue())
    return total


def _shape(data: bytes) -> tuple[int, int]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return sheet.max_row, sheet.max_column


def _rate_of(fn: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    fn()
    return rate(count, time.perf_counter() - start)


def test_bench_rendering(real_contexts: list[dict[str, Any]]) -> None:
    """(d) mails + forms per second, one core and two, against bare openpyxl with the same cells.

    The floor writes a plain workbook as large as each form (every cell of its used range a
    string, and a 15-row metadata sheet) with no styles, merges, validations, print setup or
    protection, and renders no mail: the "now" side does all of those.
    """
    contexts = [real_contexts[i % len(real_contexts)] for i in range(SAMPLE)]
    shapes = [_shape(build_form(form_spec_from_context(c), b"k")) for c in real_contexts]
    shapes = [shapes[i % len(shapes)] for i in range(SAMPLE)]
    # The best of two alternated rounds: the machine is shared and its noise only slows a run.
    rounds = 1 if TINY else 2

    ours_one = bare_one = 0.0
    for _ in range(rounds):
        ours_one = max(ours_one, _rate_of(lambda: _render_chunk(contexts), SAMPLE))
        bare_one = max(bare_one, _rate_of(lambda: _bare_chunk(shapes), SAMPLE))
    record(
        "mail + signed form rendering, 1 core",
        ours_one,
        bare_one,
        "/s",
        kind="rate",
        target=0.77,
        floor_what="bare openpyxl writing the same cells",
    )
    line(
        "render mail + form, 1 core (per s)",
        ours_one,
        "bare openpyxl, same cells, 1 core",
        bare_one,
        "/s",
    )

    half = SAMPLE // 2
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_render_chunk, [contexts[:2], contexts[2:4]]))  # warm the workers
        list(pool.map(_bare_chunk, [shapes[:2], shapes[2:4]]))
        ours_two = bare_two = 0.0
        for _ in range(rounds):
            ours = _rate_of(
                lambda: list(pool.map(_render_chunk, [contexts[:half], contexts[half:]])), SAMPLE
            )
            bare = _rate_of(
                lambda: list(pool.map(_bare_chunk, [shapes[:half], shapes[half:]])), SAMPLE
            )
            ours_two, bare_two = max(ours_two, ours), max(bare_two, bare)
    record(
        "mail + signed form rendering, 2 processes",
        ours_two,
        bare_two,
        "/s",
        kind="rate",
        target=0.77,
        floor_what="bare openpyxl writing the same cells, 2 processes",
    )
    line(
        "render mail + form, 2 processes (per s)",
        ours_two,
        "bare openpyxl, 2 processes",
        bare_two,
        "/s",
    )


def _messages(template: EmailMessage, count: int) -> list[EmailMessage]:
    out = []
    for i in range(count):
        message = EmailMessage()
        for name in ("From", "Subject"):
            message[name] = template[name]
        message["To"] = f"unit{i:05d}@bench.example.org"
        message["Message-ID"] = f"<bench-{i}@example.org>"
        message.set_content(template.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        out.append(message)
    return out


async def _bare_loop(
    messages: list[tuple[str, str, bytes]], host: str, port: int, workers: int
) -> None:
    """Pre-serialised (sender, recipient, bytes) over persistent connections: pure transport."""
    queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
    for item in messages:
        queue.put_nowait(item)

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname=host, port=port) as client:
            while not queue.empty():
                sender, recipient, data = queue.get_nowait()
                await client.sendmail(sender, [recipient], data)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def _bare_objects(messages: list[EmailMessage], host: str, port: int, workers: int) -> None:
    """Pre-built message objects over persistent connections (aiosmtplib serialises them)."""
    queue: asyncio.Queue[EmailMessage] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname=host, port=port) as client:
            while not queue.empty():
                await client.send_message(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(workers)))


async def _naive(messages: list[EmailMessage], host: str, port: int) -> None:
    for message in messages:
        await aiosmtplib.send(message, hostname=host, port=port)


async def _timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def _wire(settings: Settings, count: int) -> list[tuple[str, str, bytes]]:
    """(sender, recipient, bytes) of the first ``count`` queued mails, as delivery sends them."""
    with session_scope(settings) as session:
        rows = session.exec(
            select(t.Notification).order_by(col(t.Notification.id)).limit(count)
        ).all()
        office = get_policy(session, "lingchuan-2023").task_force_spec.office.mailbox
        sender = settings.smtp.sender
        out = []
        for row in rows:
            stored = session.get(t.OutboxMessage, row.id)
            assert stored is not None, "queued without its message"
            data = wire_bytes(stored.mime, key=row.idempotency_key, sender=sender, reply_to=office)
            out.append((sender, row.to[0], data))
    return out


def _queue_items(subject: str, text: str, policy_id: int | None) -> list[NewNotification]:
    return [
        NewNotification(
            idempotency_key=f"bench/{i}", kind="opening", policy_id=policy_id, cycle_id=None,
            unit_id=None, to=[f"unit{i:05d}@bench.example.org"], subject=subject,
            body_text=text, body_html="",
        )
        for i in range(UNITS)
    ]  # fmt: skip


def _queueing_cost(real_contexts: list[dict[str, Any]], tmp_path: Path, items: list[Any]) -> None:
    """What queueing a mail costs now that it is built then: the bench's mail, and a reminder
    carrying its unit's form (the form written beforehand, as the reminders flow does)."""
    sample = items[: min(len(items), SAMPLE)]
    start = time.perf_counter()
    for n in sample:
        prebuild(
            key=n.idempotency_key, to=n.to, cc=n.cc, subject=n.subject, body_text=n.body_text,
            body_html=n.body_html, attachments=n.attachments, created_at=AS_OF,
        )  # fmt: skip
    plain = (time.perf_counter() - start) / len(sample)
    env = make_environment()
    forms = []
    for i, context in enumerate(real_contexts[: min(len(real_contexts), SAMPLE, 50)]):
        path = tmp_path / f"form-{i}.xlsx"
        path.write_bytes(build_form(form_spec_from_context(context), b"k"))
        forms.append((render_notice(env, context), path))
    start = time.perf_counter()
    for mail, path in forms:
        prebuild(
            key=f"bench/form/{path.name}", to=["unit@bench.example.org"], cc=[],
            subject=mail.subject, body_text=mail.text, body_html="",
            attachments=[{"path": str(path), "filename": "进展情况报告.xlsx"}], created_at=AS_OF,
        )  # fmt: skip
    with_form = (time.perf_counter() - start) / len(forms)
    print(
        f"\nqueueing builds the message: +{plain * 1e6:.0f} µs per mail ({len(sample)} mails),"
        f" +{with_form * 1e6:.0f} µs per reminder with its form ({len(forms)} forms,"
        f" {sum(p.stat().st_size for _, p in forms) // len(forms)} bytes each)"
    )


def _restore(settings: Settings, database: Path, copy: Path) -> None:
    """The outbox as queued, for the next round: the database file copied back."""
    engine_for(settings.effective_database_url).dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, database)


async def test_bench_sending(real_contexts: list[dict[str, Any]], tmp_path: Path) -> None:
    """(a) floor, (b) outbox → sink, (c) naive, in msg/s, same sink, same bytes.

    (a) and (b) alternate for ``ROUNDS`` rounds, the outbox restored between them: on this
    2-core machine one round's share ranged from 68 % to 98 % with the same code, so the row
    keeps the round of median share, and every round is printed."""
    env = make_environment()
    mail = render_notice(env, real_contexts[0])
    database = tmp_path / "s.db"
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{database}")
    load_seeds(settings, "lingchuan-2023")
    with session_scope(settings) as session:
        policy_id = get_policy(session, "lingchuan-2023").id
        items = _queue_items(mail.subject, mail.text, policy_id)
        start = time.perf_counter()
        enqueue(session, items, now=datetime.now(UTC))
        queued = time.perf_counter() - start
    print(f"\nqueueing {UNITS} mails: {1e6 * queued / UNITS:.0f} µs per mail, message built")
    _queueing_cost(real_contexts, tmp_path, items)
    template = EmailMessage()
    template["From"] = settings.smtp.sender
    template["Subject"] = mail.subject
    template.set_content(mail.text)
    workers = settings.smtp.concurrency
    raw = _wire(settings, UNITS)
    engine_for(settings.effective_database_url).dispose()
    # The queued outbox, whole in one file. Closed, not only committed (which is all ``with``
    # does): a connection left open keeps the file's shared-memory index in this process, and
    # the next round's connections, after _restore deleted the -wal and -shm files under it,
    # read a stale index (disk I/O error once the last outcomes were committed after the
    # batch connection's checkpoint).
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    queued_copy = tmp_path / "queued.db"
    shutil.copyfile(database, queued_copy)

    rounds: list[tuple[float, float]] = []  # (ours, floor) in seconds
    with sink_process() as (host, port):
        smtp = settings.smtp.model_copy(update={"host": host, "port": port})
        run_settings = settings.model_copy(update={"smtp": smtp})
        prebuilt = _messages(template, SAMPLE)
        for n in range(ROUNDS):
            _restore(settings, database, queued_copy)
            # The floor pushes the very bytes (b) sends, serialised beforehand: transport only.
            floor_seconds = await _timed(lambda: _bare_loop(raw, host, port, workers))
            ours_seconds = await _timed(
                lambda n=n: deliver_outbox(
                    run_settings, "lingchuan-2023", run_id=f"bench-{n}", now=datetime.now(UTC)
                )
            )
            with session_scope(settings) as session:
                statuses = session.exec(select(t.Notification.status)).all()
            assert statuses == ["sent"] * UNITS, "the bench measured something else than sending"
            rounds.append((ours_seconds, floor_seconds))
            print(
                f"round {n + 1}: outbox {rate(UNITS, ours_seconds):7.1f} msg/s, bare loop"
                f" {rate(UNITS, floor_seconds):7.1f} msg/s,"
                f" {100 * floor_seconds / ours_seconds:5.1f} % of it"
            )
        objects = rate(SAMPLE, await _timed(lambda: _bare_objects(prebuilt, host, port, workers)))
        naive = rate(SAMPLE, await _timed(lambda: _naive(prebuilt, host, port)))
    ours_seconds, floor_seconds = sorted(rounds, key=lambda r: r[1] / r[0])[len(rounds) // 2]
    floor = rate(UNITS, floor_seconds)
    ours = rate(UNITS, ours_seconds)
    row = record(
        f"sending, outbox → SMTP sink, {UNITS} mails, {workers} connections, median of {ROUNDS}",
        ours,
        floor,
        "msg/s",
        kind="rate",
        target=0.90,
        floor_what=f"bare aiosmtplib loop over pre-serialised bytes, {workers} connections",
    )
    line(
        f"(b) outbox → sink, {UNITS} msgs, {workers} conns",
        ours,
        f"(a) bare loop over the same bytes, {workers} conns",
        floor,
        "msg/s",
    )
    print(f"  {row.share_text()} of the floor, target {row.target_text()}")
    line(
        f"(a') pre-built EmailMessage objects, {SAMPLE}",
        objects,
        f"(a) bare loop over the same bytes, {workers} conns",
        floor,
        "msg/s",
    )
    line(
        f"(c) naive: new connection per message, {SAMPLE}",
        naive,
        f"(a) bare loop over the same bytes, {workers} conns",
        floor,
        "msg/s",
    )
