"""A province's day: 120 synthetic counties × 50 units on PostgreSQL, one reminders tick on the
opening day of a monthly cycle (6,000 notices, each with its form) through the SMTP sink, timed
three ways on the same data:

- the floor: the same steps in one process, without Prefect (tests/bench/province_floor.py);
- one worker: ``prefect deploy --all`` and one process worker, the tick run as a deployment;
- two workers: the same with two.

Each worker, and the floor, is pinned to one core with ``taskset`` (a machine each: this one has
two cores); the PostgreSQL server, the Prefect server and the sink are not pinned. Workers take
``--limit 2`` runs at a time (the tick waiting for its sub-runs, and one sub-run), so a worker
that finishes a shard takes the next one and the shards spread over the workers; the tick
splits the policies into TASKFORCE_POLICY_CONCURRENCY = 4 shards.

Prefect's share is (one worker − floor) / one worker: everything the deployment run adds
(process starts, flow and task run bookkeeping, the server's API calls).

Needs PostgreSQL (TASKFORCE_TEST_POSTGRES_URL). ``TASKFORCE_BENCH_COUNTIES`` takes fewer counties.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.bench.synthetic import UNITS, ensure_synthetic, scale_from_env
from tests.helpers import ROOT, free_port
from tests.work_pool import (
    SETUP_COMMANDS,
    postgres_url,
    running_pool,
    trigger,
    wait_final,
)

AS_OF = "2023-03-31T09:00"  # a Friday: March's report opens (synthetic cycles open at month end)
PERIOD = "2023-03"
SHARDS = 4
# Read when the module is imported: the tests' environment fixture clears TASKFORCE_ variables.
SCALE, COUNTIES = scale_from_env()


def reset(url: str, var_dir: Path) -> None:
    """The day not yet run: no March report in (the synthetic months are all reported), no
    notice queued or form issued, no form file."""
    engine = create_engine(url)
    with engine.begin() as conn:
        march = "SELECT id FROM cycle WHERE period = :p"
        conn.execute(
            text(
                "DELETE FROM progressentry WHERE submission_id IN "
                f"(SELECT id FROM submission WHERE cycle_id IN ({march}))"
            ),
            {"p": PERIOD},
        )
        conn.execute(text(f"DELETE FROM submission WHERE cycle_id IN ({march})"), {"p": PERIOD})
        conn.execute(text("TRUNCATE notification, issuedform"))
    engine.dispose()
    shutil.rmtree(var_dir / "forms", ignore_errors=True)


@contextmanager
def sink(store: Path) -> Iterator[int]:
    """The benchmarks' SMTP sink in its own process; its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.sink", "--port", str(port), "--store", str(store)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and "listening" in process.stdout.readline()
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def arrived(store: Path) -> tuple[int, int]:
    """Messages the sink stored, and how many distinct Message-IDs among them."""
    with sqlite3.connect(store / "sink.db") as db:
        total, distinct = db.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM mail"
        ).fetchone()
    return int(total), int(distinct)


def create_database(base: str, name: str) -> str:
    url = make_url(base)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )


def drop_database(base: str, name: str) -> None:
    url = make_url(base)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_province_day_one_worker_two_workers_and_the_floor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = postgres_url()
    scale, counties = SCALE, COUNTIES
    data_url = make_url(base).set(database=f"taskforce_bench_province_day_{counties}")
    data = data_url.render_as_string(hide_password=False)
    made = ensure_synthetic(data, scale, counties)
    var_dir = tmp_path / "var"
    settings_env = {
        "TASKFORCE_DATABASE_URL": data,
        "TASKFORCE_VAR_DIR": str(var_dir),
        "TASKFORCE_FORM_KEY": secrets.token_urlsafe(32),
        "TASKFORCE_SMTP_HOST": "127.0.0.1",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "TASKFORCE_POLICY_CONCURRENCY": str(SHARDS),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    figures: dict[str, float] = {}
    notices = counties * UNITS

    # The floor: one process on core 0, no Prefect.
    reset(data, var_dir)
    with sink(tmp_path / "sink-floor") as port:
        env = {**settings_env, "TASKFORCE_SMTP_PORT": str(port), "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            ["taskset", "-c", "0", sys.executable, "-m", "tests.bench.province_floor",
             "--as-of", AS_OF],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        floor = json.loads(done.stdout.strip().splitlines()[-1])
    assert floor["sent"] == notices, floor
    assert arrived(tmp_path / "sink-floor") == (notices, notices)
    figures["floor"] = floor["seconds"]

    # One worker, then two: each a pool of its own (a fresh Prefect database each).
    for label, cores in (("one worker", ["0"]), ("two workers", ["0", "1"])):
        reset(data, var_dir)
        name = f"tf_bench_prefect_{secrets.token_hex(4)}"
        prefect_db = create_database(base, name)
        store = tmp_path / f"sink-{len(cores)}"
        try:
            with sink(store) as port:
                workers = {f"worker-{c}": ["taskset", "-c", c] for c in cores}
                with running_pool(
                    tmp_path / f"pool-{len(cores)}",
                    prefect_db,
                    settings_env | {"TASKFORCE_SMTP_PORT": str(port)},
                    workers,
                    setup=SETUP_COMMANDS,
                    worker_extra=["--limit", "2"],
                ) as pool:
                    seconds, state = asyncio.run(timed_tick(pool.api_url))
                    assert state == StateType.COMPLETED, pool.worker_logs()[-5000:]
                    taken = set(pool.taken_by().values())
            assert taken == set(workers)
            assert arrived(store) == (notices, notices)
        finally:
            drop_database(base, name)
        figures[label] = seconds

    one, two, bottom = figures["one worker"], figures["two workers"], figures["floor"]
    with capsys.disabled():
        print(f"\nprovince day: {made.summary()}")
        print(f"reminders tick {AS_OF}, {notices:,} notices with forms, {SHARDS} shards")
        print(f"  floor (one process, no Prefect, 1 core) {bottom:8.1f} s")
        print(
            f"  one worker (1 core)                     {one:8.1f} s  {one / bottom:.2f}× floor"
            " (target ≤ 1.3×)"
        )
        print(
            f"  two workers (1 core each)               {two:8.1f} s  {one / two:.2f}× faster"
            " than one (target ≥ 1.7×)"
        )
        print(
            f"  Prefect's share of one worker's wall    {100 * (one - bottom) / one:8.1f} %"
            " (target < 10 %)"
        )


async def timed_tick(api_url: str) -> tuple[float, StateType | None]:
    """Trigger the reminders tick and wait for it: wall seconds and its final state."""
    async with PrefectClient(api_url) as client:
        start = time.perf_counter()
        run_id = await trigger(client, "reminders", AS_OF)
        run = await wait_final(client, run_id, timeout=3600)
        return time.perf_counter() - start, run.state_type
