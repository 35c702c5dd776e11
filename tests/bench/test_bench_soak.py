"""The outbox under ``kill -9`` and under a misbehaving server, with real processes (issue 18).

(a) Soak: an SMTP sink in its own process stores every message it accepts (tests/bench/sink.py).
    For each of ``TASKFORCE_BENCH_SOAK_KILLS`` kills a batch of ``TASKFORCE_BENCH_SOAK_MAILS``
    outbox rows, each with a small form attached, is sent by a delivery process
    (tests/bench/soak_driver.py) that is killed with SIGKILL once the sink has accepted a random
    number of the batch's mails (seeded RNG, ``TASKFORCE_BENCH_SOAK_SEED``). A re-run starts at
    once, and again every ``RERUN_EVERY`` s until no row is pending or sending, for up to
    ``TASKFORCE_BENCH_SOAK_CAP`` s (default 60, the issue's target); rows still hidden then are
    sent by a run whose clock is 16 minutes ahead, past the 15-minute stale claim, so that lost
    mail and duplicates are still counted. Printed: lost (rows whose Message-ID never reached the
    sink), duplicates per kill (extra copies of a Message-ID), and the time from the re-run's start
    until nothing was left, beside the baseline of the same run: one uninterrupted batch.
    Default 3 kills x 2,000 mails (~1 min when re-runs resend at once, ~4 min when the rest stays
    hidden); the issue's measurement:
    TASKFORCE_BENCH_SOAK_KILLS=20 TASKFORCE_BENCH_SOAK_MAILS=10000 make bench.
    Target (issue 18): 0 lost, duplicates <= TASKFORCE_SMTP_CONCURRENCY per kill, the rest resent
    within 60 s of the re-run. Only "0 lost" and "every row sent" fail the benchmark.
(b) Fault sink: 421 greetings, 451 and 550 on RCPT, a line cut in DATA, the 250 lost after DATA
    and a tarpit, each for its own recipients; delivery runs ``TASKFORCE_BENCH_FAULT_RUNS`` times
    (default 8) on a clock 4 h apart. Every row must end sent, failed or pending with its reason;
    the counts per fault are printed, and rows still pending after the last run as a finding.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from config.settings import Settings, SmtpSettings
from models.db import session_scope
from models.outbox import NewNotification, enqueue
from models.policy_store import get_policy
from tasks.mail.outbox import deliver_outbox
from tasks.mail.smtp import message_id_for
from tests.bench.report import size
from tests.helpers import ROOT, free_port, load_seeds

KILLS = size("TASKFORCE_BENCH_SOAK_KILLS", 3, 1)
MAILS = size("TASKFORCE_BENCH_SOAK_MAILS", 2000, 200)
CAP = float(os.environ.get("TASKFORCE_BENCH_SOAK_CAP", "60"))
SEED = int(os.environ.get("TASKFORCE_BENCH_SOAK_SEED", "18"))
FAULT_RUNS = size("TASKFORCE_BENCH_FAULT_RUNS", 8, 1)
CONCURRENCY = Settings().smtp.concurrency  # TASKFORCE_SMTP_CONCURRENCY, as a deployment sets it
POLICY = "lingchuan-2023"
RERUN_EVERY = 5.0  # s between re-runs that left rows pending or sending
LATER = 16 * 60  # s: a clock past the 15-minute stale claim of the code before issue 18
DOMAIN = SmtpSettings().sender.rsplit("@", 1)[-1]  # the Message-ID's domain (the sender's)
UNSETTLED = ("pending", "sending")


@contextmanager
def sink(store: Path, *options: str) -> Iterator[int]:
    """tests/bench/sink.py in its own process on a free port; its stderr goes to sink.log.

    Ready once it prints its line (a probe connection would use up a fault sink's 421s)."""
    port = free_port()
    store.mkdir(parents=True, exist_ok=True)
    with (store / "sink.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.sink", "--port", str(port), "--store", str(store),
             *options],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("sink listening"), "sink did not start"
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


class Arrivals:
    """What the sink stored, read from its SQLite file while it runs."""

    def __init__(self, store: Path) -> None:
        self.db = sqlite3.connect(store / "sink.db", timeout=30)

    def last_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM mail").fetchone()[0])

    def since(self, after: int) -> dict[str, tuple[int, float]]:
        """Message-ID -> (copies, first arrival) of the messages stored after row ``after``."""
        rows = self.db.execute(
            "SELECT message_id, count(*), min(received) FROM mail WHERE id > ? GROUP BY message_id",
            (after,),
        )
        return {mid: (n, first) for mid, n, first in rows}


@dataclass
class Outbox:
    """The delivery's SQLite file, prepared and read by the benchmark."""

    path: Path
    attachment: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def settings(self, smtp: SmtpSettings | None = None) -> Settings:
        return Settings(
            var_dir=self.path.parent, database_url=self.url, smtp=smtp or SmtpSettings()
        )

    def enqueue(self, tag: str, recipients: list[str]) -> list[str]:
        """One row per recipient, keyed ``tag/i``, each with the form attached."""
        with session_scope(self.settings()) as session:
            policy_id = get_policy(session, POLICY).id
            rows = [
                NewNotification(
                    idempotency_key=f"{tag}/{i}", kind="opening", policy_id=policy_id,
                    cycle_id=None, unit_id=None, to=[to],
                    subject=f"关于报送2023年1月进展情况报告的通知（{i}）",
                    body_text="请于1月20日前将进展情况报告表报送县工作专班办公室。\n" * 12,
                    body_html="",
                    attachments=[{"path": str(self.attachment), "filename": "进展情况报告表.xlsx"}],
                )
                for i, to in enumerate(recipients)
            ]  # fmt: skip
            return enqueue(session, rows, now=datetime.now(UTC))

    def rows(self, tag: str) -> list[tuple[str, str, int, str, str]]:
        """(key, status, attempts, server_reply, last_error) of the rows keyed ``tag/…``."""
        with sqlite3.connect(self.path, timeout=30) as db:
            return db.execute(
                "SELECT idempotency_key, status, attempts, server_reply, last_error"
                " FROM notification WHERE idempotency_key LIKE ?",
                (f"{tag}/%",),
            ).fetchall()

    def unsettled(self, tag: str) -> int:
        return sum(1 for _, status, *_ in self.rows(tag) if status in UNSETTLED)


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    """A fresh SQLite outbox with the seed policy, and the form every row attaches."""
    tmp = tmp_path / "outbox"
    tmp.mkdir()
    form = openpyxl.Workbook()
    sheet = form.active
    assert sheet is not None
    for r in range(1, 12):
        for c in range(1, 7):
            sheet.cell(r, c, f"举措{r}-{c}")
    buffer = io.BytesIO()
    form.save(buffer)
    attachment = tmp / "form.xlsx"
    attachment.write_bytes(buffer.getvalue())
    box = Outbox(tmp / "outbox.db", attachment)
    load_seeds(box.settings(), POLICY)
    return box


def driver(outbox: Outbox, port: int, run_id: str, clock_ahead: float = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bench.soak_driver", "--database-url", outbox.url,
         "--policy", POLICY, "--port", str(port), "--run-id", run_id,
         "--concurrency", str(CONCURRENCY), "--clock-ahead", str(clock_ahead)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_")},
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> dict[str, float]:
    """Wait for a delivery process; its JSON counts (a failure fails the benchmark)."""
    out, err = process.communicate(timeout=1800)
    assert process.returncode == 0, err[-3000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


@dataclass
class Kill:
    """One kill and what followed it."""

    target: int  # the batch's mails the sink had accepted when the kill was asked for
    accepted: int  # ... when the process was dead
    unrecorded: int  # accepted, but not recorded as sent: what a re-run sends twice
    rest: int  # never accepted before the kill: what the re-runs must send
    reruns: int
    settled_in: float | None  # s from the first re-run's start until nothing was left; None: cap
    hidden: int  # rows still pending or sending at the cap
    lost: int
    duplicates: int


def expected_ids(keys: list[str]) -> set[str]:
    return {message_id_for(key, DOMAIN) for key in keys}


def baseline_batch(outbox: Outbox, arrivals: Arrivals, port: int) -> tuple[float, float]:
    """One uninterrupted batch of MAILS: wall seconds of the process and its sending rate."""
    keys = outbox.enqueue("soak/base", [f"unit{i:05d}@bench.example.org" for i in range(MAILS)])
    base = arrivals.last_id()
    start = time.perf_counter()
    counts = finish(driver(outbox, port, "soak/base"))
    wall = time.perf_counter() - start
    assert counts["sent"] == MAILS and set(arrivals.since(base)) == expected_ids(keys)
    return wall, MAILS / counts["seconds"]


def kill_once(n: int, rng: random.Random, outbox: Outbox, arrivals: Arrivals, port: int) -> Kill:
    """A batch, a SIGKILL once the sink has taken a random part of it, re-runs until it is sent."""
    tag = f"soak/k{n:02d}"
    keys = outbox.enqueue(tag, [f"unit{i:05d}@bench.example.org" for i in range(MAILS)])
    ids = expected_ids(keys)
    base = arrivals.last_id()
    target = rng.randint(1, MAILS - 1)
    process = driver(outbox, port, f"{tag}/run1")
    while arrivals.last_id() - base < target and process.poll() is None:
        time.sleep(0.005)
    assert process.poll() is None, f"kill {n}: the batch ended before the kill"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(0.2)  # a message whose final dot had left lands now: it counts as accepted
    at_kill = arrivals.since(base)
    status = {key: s for key, s, *_ in outbox.rows(tag)}
    unrecorded = sum(
        1 for k in keys if status[k] != "sent" and message_id_for(k, DOMAIN) in at_kill
    )

    started, reruns, left = time.perf_counter(), 0, MAILS
    while True:
        reruns += 1
        finish(driver(outbox, port, f"{tag}/run{reruns + 1}"))
        left = outbox.unsettled(tag)
        if not left or time.perf_counter() - started >= CAP:
            break
        time.sleep(RERUN_EVERY)
    settled_in = None if left else time.perf_counter() - started
    if left:  # hidden beyond the cap: finish the batch as a run 16 minutes later would
        finish(driver(outbox, port, f"{tag}/later", clock_ahead=LATER))
    after = arrivals.since(base)
    assert outbox.unsettled(tag) == 0, f"kill {n}: rows still unsent after the later run"
    return Kill(
        target=target,
        accepted=len(at_kill),
        unrecorded=unrecorded,
        rest=MAILS - len(at_kill),
        reruns=reruns,
        settled_in=settled_in,
        hidden=left,
        lost=len(ids - set(after)),
        duplicates=sum(copies - 1 for copies, _ in after.values()),
    )


def test_bench_soak_kill9(outbox: Outbox, tmp_path: Path) -> None:
    """(a) lost, duplicates per kill, time until the rest was resent; baseline: no kill."""
    rng = random.Random(SEED)
    with sink(tmp_path / "sink") as port:
        arrivals = Arrivals(tmp_path / "sink")
        wall, pace = baseline_batch(outbox, arrivals, port)
        kills = [kill_once(n, rng, outbox, arrivals, port) for n in range(1, KILLS + 1)]
    startup = wall - MAILS / pace  # a delivery process's own cost before and after sending
    print(
        f"\nsoak: {KILLS} kill(s), each during a batch of {MAILS} mails with a form attached,"
        f" {CONCURRENCY} connections, seed {SEED}; re-runs every {RERUN_EVERY:.0f} s"
        f" for up to {CAP:.0f} s"
    )
    print(
        f"{'kill':>4} {'accepted':>8} {'unrecorded':>10} {'dups':>5} {'rest':>6} {'re-runs':>7}"
        f"  {'rest resent in':<34} | same rest, no kill, baseline pace"
    )
    for n, k in enumerate(kills, 1):
        resent = (
            f"{k.settled_in:6.1f} s"
            if k.settled_in is not None
            else f"not within {CAP:.0f} s ({k.hidden} hidden)"
        )
        print(
            f"{n:>4} {k.accepted:>8} {k.unrecorded:>10} {k.duplicates:>5} {k.rest:>6}"
            f" {k.reruns:>7}  {resent:<34} | {startup + k.rest / pace:6.1f} s"
        )
    lost = sum(k.lost for k in kills)
    dups = [k.duplicates for k in kills]
    times = [k.settled_in for k in kills if k.settled_in is not None]
    print(
        f"lost {lost} of {KILLS * MAILS} | duplicates per kill min {min(dups)}, median"
        f" {statistics.median(dups):g}, max {max(dups)}, total {sum(dups)}"
        f" (target <= {CONCURRENCY})"
        f" | rest resent within {CAP:.0f} s after {len(times)} of {KILLS} kills"
        + (f", slowest {max(times):.1f} s" if times else "")
        + " (target: all, <= 60 s)"
    )
    print(
        f"baseline: one uninterrupted batch of {MAILS} mails, {wall:.1f} s wall"
        f" ({pace:.0f} msg/s while sending, {startup:.1f} s process start and claim)"
    )
    met = lost == 0 and max(dups) <= CONCURRENCY and len(times) == KILLS and max(times) <= 60
    print(f"target (issue 18): {'met' if met else 'NOT met'}")
    assert lost == 0


FAULTS = {  # recipients' local part -> rows; tests/bench/sink.py says what each one meets
    "ok": 20,
    "rcpt451once": 6,
    "rcpt451": 6,
    "rcpt550": 6,
    "dropdata": 6,
    "lost250once": 6,
    "lost250": 6,
    "tarpit": 3,
}


async def test_bench_fault_sink(outbox: Outbox, tmp_path: Path) -> None:
    """(b) every row ends sent, failed or pending with its reason; counts per fault."""
    recipients = [f"{kind}-{i}@bench.example.org" for kind, n in FAULTS.items() for i in range(n)]
    keys = outbox.enqueue("fault", recipients)
    kind_of = {key: to.split("-", 1)[0] for key, to in zip(keys, recipients, strict=True)}
    options = ("--faults", "--tarpit", "2.5", "--greet-421", "2", "--greet-421-every", "5")
    with sink(tmp_path / "faults", *options) as port:
        arrivals = Arrivals(tmp_path / "faults")
        smtp = SmtpSettings(
            host="127.0.0.1", port=port, timeout=1.0, backoff_seconds=0.05, concurrency=4
        )
        settings = outbox.settings(smtp)
        start, runs = datetime.now(UTC), 0
        while runs < FAULT_RUNS and outbox.unsettled("fault"):
            now = start + timedelta(hours=4 * runs)
            await deliver_outbox(settings, POLICY, run_id=f"fault/{runs}", now=now)
            runs += 1
        copies = arrivals.since(0)
    rows = outbox.rows("fault")
    print(
        f"\nfault sink: {len(rows)} rows, {runs} delivery run(s) 4 h apart; 421 greeting to"
        f" connections 1-2 and every 5th after; client timeout 1 s, tarpit 2.5 s"
    )
    print(f"{'fault':<12} {'rows':>4} {'sent':>4} {'failed':>6} {'pending':>7} {'attempts':>8}"
          f" {'copies':>6}  reason (one row's)")  # fmt: skip
    for kind in FAULTS:
        mine = [r for r in rows if kind_of[r[0]] == kind]
        count = {s: sum(1 for r in mine if r[1] == s) for s in ("sent", "failed", "pending")}
        attempts = sorted(r[2] for r in mine)
        got = sum(copies.get(message_id_for(r[0], DOMAIN), (0, 0.0))[0] for r in mine)
        reason = (mine[-1][4] or mine[-1][3]).replace("\n", " ")[:90]
        print(
            f"{kind:<12} {len(mine):>4} {count['sent']:>4} {count['failed']:>6}"
            f" {count['pending']:>7} {attempts[0]:>3}-{attempts[-1]:<4} {got:>6}  {reason}"
        )
    pending = [r for r in rows if r[1] == "pending"]
    if pending:
        by_kind = sorted({kind_of[r[0]] for r in pending})
        print(
            f"finding: {len(pending)} row(s) still pending after {runs} runs over"
            f" {4 * (runs - 1)} h ({', '.join(by_kind)}): nothing ends them as failed"
        )
    else:
        print("every row ended sent or failed")
    for key, status, _attempts, reply, error in rows:
        assert status in ("sent", "failed", "pending"), (key, status)
        assert reply if status == "sent" else error or reply, f"{key}: {status} without a reason"
    assert all(status == "sent" for key, status, *_ in rows if kind_of[key] == "ok")
    assert all(status == "failed" for key, status, *_ in rows if kind_of[key] == "rcpt550")
