"""Workers on a process work pool, for real: a Prefect server on PostgreSQL, the taskforce
database on PostgreSQL, ``prefect deploy --all`` from prefect.yaml, two ``prefect worker start``
processes and a real SMTP server on loopback.

The commands are those of the README's "Several machines" section, kept in one place
(tests/work_pool.py, and LOAD_COMMAND here): change them together.

Needs PostgreSQL (TASKFORCE_TEST_POSTGRES_URL, as .ci/run sets it): skipped without it, a
failure when TASKFORCE_REQUIRE_POSTGRES=1 or CI is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import select

from config.settings import Settings
from models import tables as t
from models.db import engine_for, session_scope
from tasks.mail.smtp import message_id_for
from tests.smtp_server import SmtpServer
from tests.work_pool import (
    SETUP_COMMANDS,
    WORKER_ENVIRONMENT,
    Pool,
    descendants,
    postgres_url,
    running_pool,
    trigger,
    wait_final,
)

# Loading the policies, after SETUP_COMMANDS (the README shows it with them).
LOAD_COMMAND = ["taskforce", "policy", "load", "config/policies/lingchuan-2023.yaml",
                "config/policies/xinjiang-2022.yaml"]  # fmt: skip
# A crash can repeat only the mails inside an SMTP transaction at that instant (models/outbox.py:
# "Outcomes are written before a connection takes its next mail"): at most one per connection.
SMTP_CONNECTIONS = 2
POLICIES = ("lingchuan-2023", "xinjiang-2022")


@dataclass
class Running:
    """The pool, the taskforce settings the workers share, and the SMTP server they send to."""

    pool: Pool
    settings: Settings
    smtp: SmtpServer


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases on the test PostgreSQL server: Prefect's and taskforce's."""
    base = make_url(postgres_url())
    admin = engine_for(base.set(database="postgres").render_as_string(hide_password=False))
    suffix = secrets.token_hex(4)
    names = (f"tf_workers_prefect_{suffix}", f"tf_workers_data_{suffix}")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        prefect_db = base.set(drivername="postgresql+asyncpg", database=names[0])
        data_db = base.set(database=names[1])
        yield (
            prefect_db.render_as_string(hide_password=False),
            data_db.render_as_string(hide_password=False),
        )
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def running(
    databases: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """The server, the setup commands, the seed policies, two workers; stopped afterwards."""
    prefect_db, data_db = databases
    home = tmp_path_factory.mktemp("workers")
    smtp = SmtpServer()
    smtp.start()
    settings_env = {
        "TASKFORCE_DATABASE_URL": data_db,
        "TASKFORCE_VAR_DIR": str(home / "var"),  # the shared var/ of the README
        "TASKFORCE_FORM_KEY": secrets.token_urlsafe(32),
        "TASKFORCE_SMTP_HOST": smtp.host,
        "TASKFORCE_SMTP_PORT": str(smtp.port),
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        # Test-only: fewer connections so a kill lands mid-batch, no pause for the office,
        # two shards per tick, retries at once, and workers polling every second (default 10).
        "TASKFORCE_SMTP_CONCURRENCY": str(SMTP_CONNECTIONS),
        "TASKFORCE_SMTP_BACKOFF_SECONDS": "0.01",
        "TASKFORCE_SERVE_APPROVAL_WAIT_SECONDS": "0",
        "TASKFORCE_POLICY_CONCURRENCY": "2",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    assert set(WORKER_ENVIRONMENT) <= set(settings_env) | {"TASKFORCE_HOME"}
    try:
        with running_pool(
            home,
            prefect_db,
            settings_env,
            # Three runs at a time each: the five ticks triggered together cannot all go to
            # the worker that polls first (unlimited, one did take every run in a CI run, about
            # one chance in thirty), so both take runs; six places for five ticks waiting on
            # their sub-runs leave one free for those.
            {"worker-a": [], "worker-b": []},
            setup=[*SETUP_COMMANDS, LOAD_COMMAND],
            worker_extra=["--limit", "3"],
        ) as pool:
            yield Running(pool, Settings(database_url=data_db, var_dir=home / "var"), smtp)
    finally:
        smtp.stop()


async def sub_runs(client: PrefectClient, parent: UUID) -> list[FlowRun]:
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
        )
    )


def outbox(settings: Settings) -> list[t.Notification]:
    with session_scope(settings) as session:
        return list(session.exec(select(t.Notification)).all())


def expected_id(row: t.Notification, settings: Settings) -> str:
    return message_id_for(row.idempotency_key, settings.smtp.sender.rsplit("@", 1)[-1])


# -- the tests ------------------------------------------------------------------------------------

TICKS = [  # days of 2023 on which both seed policies are active, each tick with work to do
    ("reminders", "2023-01-28T09:00"),  # 调休 Saturday: 陵川's January report opens
    ("escalation", "2023-01-30T09:00"),  # one-off reports overdue since 20 January
    ("intake", "2023-01-30T09:10"),
    ("consolidation", "2023-02-06T09:30"),  # 陵川's January report, due Sunday 5 February
    ("annual", "2023-02-06T10:00"),
]


async def test_two_workers_run_every_tick_and_send_each_mail_once(running: Running) -> None:
    pool, settings, smtp = running.pool, running.settings, running.smtp
    started = time.monotonic()
    async with PrefectClient(pool.api_url) as client:
        parents = {tick: await trigger(client, tick, as_of) for tick, as_of in TICKS}
        finished = {tick: await wait_final(client, run_id) for tick, run_id in parents.items()}
        children = {tick: await sub_runs(client, run_id) for tick, run_id in parents.items()}
    # A tick's sub-runs of its deployment (the others: the sub-flows of the policy it works on).
    shard_runs = {
        tick: [r for r in runs if r.deployment_id is not None] for tick, runs in children.items()
    }
    logs = pool.worker_logs()
    # A tick that failed says which policy and why in its state's message: shown first.
    why = {tick: r.state.message for tick, r in finished.items() if r.state is not None}
    assert {tick: r.state_type for tick, r in finished.items()} == dict.fromkeys(
        parents, StateType.COMPLETED
    ), f"{why}\n{logs[-5000:]}"
    # Each tick split its two active policies into a shard per online worker: 陵川 in a sub-run
    # of its own deployment, 新绛 worked on by the tick itself (each mail sent, below).
    for tick, runs in shard_runs.items():
        assert [r.parameters["policy_codes"] for r in runs] == [[POLICIES[0]]], tick
        assert all(r.state_type == StateType.COMPLETED for r in children[tick]), tick
    # Both workers took runs.
    every = [*parents.values(), *(r.id for runs in shard_runs.values() for r in runs)]
    taken = pool.taken_by()
    assert {taken[str(i)] for i in every} == set(pool.workers), taken
    # Each mail once: every outbox row sent, its Message-ID received exactly once.
    rows = outbox(settings)
    assert rows and all(r.status == "sent" for r in rows), Counter(r.status for r in rows)
    received = smtp.message_ids()
    assert received == Counter({expected_id(r, settings): 1 for r in rows})
    kinds = Counter(r.kind for r in rows)
    assert kinds["opening"] > 30 and kinds["overdue"] > 0 and kinds["bulletin"] > 0, kinds
    print(f"\nfive ticks on two workers: {time.monotonic() - started:.0f} s, {len(rows)} mails")


async def test_a_worker_killed_mid_send_loses_nothing(running: Running) -> None:
    """SIGKILL to the worker (and its run's process: the machine lost) while the sub-run with
    陵川 sends its reminders: the run ends Crashed when its heartbeats stop, the next tick on
    the other worker sends the rest, nothing is lost and duplicates stay within the bound."""
    pool, settings, smtp = running.pool, running.settings, running.smtp
    before = smtp.message_ids()
    smtp.delay_data(0.2)  # a slow relay: the batch takes seconds, the kill lands inside it
    async with PrefectClient(pool.api_url) as client:
        parent = await trigger(client, "reminders", "2023-02-01T09:00")
        victim, worker = await running_sub_run(client, pool, parent, "lingchuan-2023")
        await wait_for_mail(smtp, before, at_least=5)
        killed_at = time.monotonic()
        kill_machine(pool, worker)
        smtp.delay_data(0)
        survivor = next(name for name in pool.workers if name != worker)
        # The next tick (the next working day) on the surviving worker finishes the work.
        following = await trigger(client, "reminders", "2023-02-02T09:00")
        done = await wait_final(client, following)
        crashed = await wait_final(client, victim, timeout=180)
        detected = time.monotonic() - killed_at
    assert done.state_type == StateType.COMPLETED
    assert pool.taken_by()[str(following)] == survivor
    assert crashed.state_type == StateType.CRASHED, crashed.state
    print(f"\ncrash marked {detected:.0f} s after the kill")
    rows = outbox(settings)
    assert all(r.status == "sent" for r in rows), Counter(r.status for r in rows)
    received = smtp.message_ids()
    assert set(received) == {expected_id(r, settings) for r in rows}  # nothing lost
    new = received - before
    duplicates = sum(n - 1 for n in new.values() if n > 1)
    assert duplicates <= SMTP_CONNECTIONS, new
    assert sum(1 for r in rows if r.kind == "reminder") > 30


async def running_sub_run(
    client: PrefectClient, pool: Pool, parent: UUID, policy: str
) -> tuple[UUID, str]:
    """The sub-run of ``parent`` that covers ``policy``, once running, and its worker."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for run in await sub_runs(client, parent):
            if policy in run.parameters.get("policy_codes", []) and run.state_type == (
                StateType.RUNNING
            ):
                worker = pool.taken_by().get(str(run.id))
                if worker:
                    return run.id, worker
        await asyncio.sleep(0.2)
    pytest.fail(f"no sub-run for {policy} started within 120 s")


async def wait_for_mail(smtp: SmtpServer, before: Counter[str], *, at_least: int) -> None:
    deadline = time.monotonic() + 120
    while sum((smtp.message_ids() - before).values()) < at_least:
        assert time.monotonic() < deadline, "the reminders did not start sending"
        await asyncio.sleep(0.05)


def kill_machine(pool: Pool, worker: str) -> None:
    """SIGKILL to the worker and every process below it, as when its machine goes down."""
    process = pool.workers[worker]
    for pid in [*descendants(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.kill(pid, signal.SIGKILL)
    process.wait()
