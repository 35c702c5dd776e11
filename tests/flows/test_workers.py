"""Workers on a process work pool, for real: a Prefect server on PostgreSQL, the taskforce
database on PostgreSQL, ``prefect deploy --all`` from prefect.yaml, two ``prefect worker start``
processes and a real SMTP server on loopback.

The commands are those of the README's "Several machines" section, kept here in one place
(SERVER_COMMAND, SETUP_COMMANDS, WORKER_COMMAND, WORKER_ENVIRONMENT): change them together.

Needs PostgreSQL (TASKFORCE_TEST_POSTGRES_URL, as .ci/run sets it): skipped without it, a
failure when TASKFORCE_REQUIRE_POSTGRES=1 or CI is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
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
from tests.helpers import ROOT, free_port
from tests.smtp_server import SmtpServer

# -- the README's commands ------------------------------------------------------------------------
# The Prefect server, once, its own database on PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL).
SERVER_COMMAND = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", "{port}"]
# Once, from the checkout, with PREFECT_API_URL and the taskforce settings set.
SETUP_COMMANDS = [
    ["taskforce", "db", "init"],
    ["taskforce", "policy", "load", "config/policies/lingchuan-2023.yaml",
     "config/policies/xinjiang-2022.yaml"],
    ["prefect", "work-pool", "create", "taskforce", "--type", "process"],
    ["prefect", "--no-prompt", "deploy", "--all"],
    ["prefect", "automation", "create", "--from-file", "prefect-automations.yaml"],
]  # fmt: skip
# On each machine, named after it.
WORKER_COMMAND = ["prefect", "worker", "start", "--pool", "taskforce", "--name", "{name}"]
# What every worker's environment holds besides PREFECT_API_URL: the same database, mail
# server, form key and shared var/ on every machine, the checkout the runs start in, and a
# heartbeat every 30 s that prefect-automations.yaml watches.
WORKER_ENVIRONMENT = (
    "TASKFORCE_HOME",
    "TASKFORCE_DATABASE_URL",
    "TASKFORCE_VAR_DIR",
    "TASKFORCE_FORM_KEY",
    "TASKFORCE_SMTP_HOST",
    "TASKFORCE_SMTP_PORT",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY",
)

# A crash can repeat only the mails inside an SMTP transaction at that instant (models/outbox.py:
# "Outcomes are written before a connection takes its next mail"): at most one per connection.
SMTP_CONNECTIONS = 2
POLICIES = ("lingchuan-2023", "xinjiang-2022")
BIN = Path(sys.executable).parent


def postgres_url() -> str:
    url = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")
    if url:
        return url
    reason = "TASKFORCE_TEST_POSTGRES_URL not set: the work-pool test needs PostgreSQL"
    if os.environ.get("TASKFORCE_REQUIRE_POSTGRES") == "1" or os.environ.get("CI"):
        pytest.fail(reason + " (required here: TASKFORCE_REQUIRE_POSTGRES or CI is set)")
    pytest.skip(reason)


@dataclass
class Pool:
    """The running pieces: the server's API, the environment the commands ran with, the workers."""

    api_url: str
    env: dict[str, str]
    settings: Settings  # the taskforce side, for reading the outbox
    smtp: SmtpServer
    workers: dict[str, subprocess.Popen[bytes]]
    logs: Path


def argv(command: list[str], **values: str) -> list[str]:
    """A command with its placeholders filled and its program from this venv."""
    program, *rest = (part.format(**values) for part in command)
    return [str(BIN / program), *rest]


def run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        argv(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"


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
def pool(databases: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """The server, the setup commands, two workers; all stopped after the module's tests."""
    prefect_db, data_db = databases
    home = tmp_path_factory.mktemp("workers")
    smtp = SmtpServer()
    smtp.start()
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "PREFECT_"))}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        TASKFORCE_HOME=str(ROOT),
        TASKFORCE_DATABASE_URL=data_db,
        TASKFORCE_VAR_DIR=str(home / "var"),  # the shared var/ of the README
        TASKFORCE_FORM_KEY=secrets.token_urlsafe(32),
        TASKFORCE_SMTP_HOST=smtp.host,
        TASKFORCE_SMTP_PORT=str(smtp.port),
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30",
        # Test-only: fewer connections so a kill lands mid-batch, no pause for the office,
        # two shards per tick, retries at once, and workers polling every second (default 10).
        TASKFORCE_SMTP_CONCURRENCY=str(SMTP_CONNECTIONS),
        TASKFORCE_SMTP_BACKOFF_SECONDS="0.01",
        TASKFORCE_SERVE_APPROVAL_WAIT_SECONDS="0",
        TASKFORCE_POLICY_CONCURRENCY="2",
        PREFECT_WORKER_QUERY_SECONDS="1",
        # The checkout under test before any installed copy of the packages.
        PYTHONPATH=str(ROOT),
    )
    logs = home / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], name: str, extra: dict[str, str]) -> subprocess.Popen[bytes]:
        with (logs / f"{name}.log").open("wb") as out:
            process = subprocess.Popen(
                argv(command, port=str(port), name=name),
                cwd=ROOT,
                env=env | extra,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: killed with its flow-run processes
            )
        processes.append(process)
        return process

    try:
        server = start(
            SERVER_COMMAND,
            "server",
            {"PREFECT_API_DATABASE_CONNECTION_URL": prefect_db, "PREFECT_UI_ENABLED": "false"},
        )
        wait_healthy(api_url, server, logs / "server.log")
        for command in SETUP_COMMANDS:
            run(command, env)
        workers = {
            name: start(WORKER_COMMAND, name, {"PREFECT_HOME": str(home / name)})
            for name in ("worker-a", "worker-b")
        }
        settings = Settings(database_url=data_db, var_dir=home / "var")
        yield Pool(api_url, env, settings, smtp, workers, logs)
    finally:
        for process in reversed(processes):
            stop_group(process)
        smtp.stop()


def wait_healthy(api_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the Prefect server did not answer in 120 s:\n{log.read_text(errors='replace')}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- talking to the server ------------------------------------------------------------------------

FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


async def trigger(client: PrefectClient, tick: str, as_of: str) -> UUID:
    """What ``prefect deployment run tick-<kind>/taskforce --param as_of=…`` does."""
    deployment = await client.read_deployment_by_name(f"tick-{tick}/taskforce")
    run = await client.create_flow_run_from_deployment(deployment.id, parameters={"as_of": as_of})
    return run.id


async def wait_final(client: PrefectClient, run_id: UUID, timeout: float = 240) -> FlowRun:
    deadline = time.monotonic() + timeout
    while True:
        run = await client.read_flow_run(run_id)
        if run.state_type in FINAL or time.monotonic() > deadline:
            return run
        await asyncio.sleep(1)


async def sub_runs(client: PrefectClient, parent: UUID) -> list[FlowRun]:
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
        )
    )


def taken_by(pool: Pool) -> dict[str, str]:
    """Which worker submitted each flow run, from the workers' own logs."""
    taken = {}
    for name in pool.workers:
        log = (pool.logs / f"{name}.log").read_text(errors="replace")
        for run_id in re.findall(r"submitting flow run '([0-9a-f-]{36})'", log):
            taken[run_id] = name
    return taken


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


async def test_two_workers_run_every_tick_and_send_each_mail_once(pool: Pool) -> None:
    started = time.monotonic()
    async with PrefectClient(pool.api_url) as client:
        parents = {tick: await trigger(client, tick, as_of) for tick, as_of in TICKS}
        finished = {tick: await wait_final(client, run_id) for tick, run_id in parents.items()}
        children = {tick: await sub_runs(client, run_id) for tick, run_id in parents.items()}
    logs = "\n".join(p.read_text(errors="replace") for p in pool.logs.glob("worker-*.log"))
    assert {tick: r.state_type for tick, r in finished.items()} == dict.fromkeys(
        parents, StateType.COMPLETED
    ), logs[-5000:]
    # Each tick split its two active policies into two sub-runs of its own deployment.
    for tick, runs in children.items():
        shards = sorted(code for r in runs for code in r.parameters["policy_codes"])
        assert shards == sorted(POLICIES), tick
        assert all(r.state_type == StateType.COMPLETED for r in runs), tick
    # Both workers took runs.
    every = [*parents.values(), *(r.id for runs in children.values() for r in runs)]
    taken = taken_by(pool)
    assert {taken[str(i)] for i in every} == set(pool.workers), taken
    # Each mail once: every outbox row sent, its Message-ID received exactly once.
    rows = outbox(pool.settings)
    assert rows and all(r.status == "sent" for r in rows), Counter(r.status for r in rows)
    received = pool.smtp.message_ids()
    assert received == Counter({expected_id(r, pool.settings): 1 for r in rows})
    kinds = Counter(r.kind for r in rows)
    assert kinds["opening"] > 30 and kinds["overdue"] > 0 and kinds["bulletin"] > 0, kinds
    print(f"\nfive ticks on two workers: {time.monotonic() - started:.0f} s, {len(rows)} mails")


async def test_a_worker_killed_mid_send_loses_nothing(pool: Pool) -> None:
    """SIGKILL to the worker (and its run's process: the machine lost) while the sub-run with
    陵川 sends its reminders: the run ends Crashed when its heartbeats stop, the next tick on
    the other worker sends the rest, nothing is lost and duplicates stay within the bound."""
    before = pool.smtp.message_ids()
    pool.smtp.delay_data(0.2)  # a slow relay: the batch takes seconds, the kill lands inside it
    async with PrefectClient(pool.api_url) as client:
        parent = await trigger(client, "reminders", "2023-02-01T09:00")
        victim, worker = await running_sub_run(client, pool, parent, "lingchuan-2023")
        await wait_for_mail(pool, before, at_least=5)
        killed_at = time.monotonic()
        kill_machine(pool, worker)
        pool.smtp.delay_data(0)
        survivor = next(name for name in pool.workers if name != worker)
        # The next tick (the next working day) on the surviving worker finishes the work.
        following = await trigger(client, "reminders", "2023-02-02T09:00")
        done = await wait_final(client, following)
        crashed = await wait_final(client, victim, timeout=180)
        detected = time.monotonic() - killed_at
    assert done.state_type == StateType.COMPLETED
    assert taken_by(pool)[str(following)] == survivor
    assert crashed.state_type == StateType.CRASHED, crashed.state
    print(f"\ncrash marked {detected:.0f} s after the kill")
    rows = outbox(pool.settings)
    assert all(r.status == "sent" for r in rows), Counter(r.status for r in rows)
    received = pool.smtp.message_ids()
    assert set(received) == {expected_id(r, pool.settings) for r in rows}  # nothing lost
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
                worker = taken_by(pool).get(str(run.id))
                if worker:
                    return run.id, worker
        await asyncio.sleep(0.2)
    pytest.fail(f"no sub-run for {policy} started within 120 s")


async def wait_for_mail(pool: Pool, before: Counter[str], *, at_least: int) -> None:
    deadline = time.monotonic() + 120
    while sum((pool.smtp.message_ids() - before).values()) < at_least:
        assert time.monotonic() < deadline, "the reminders did not start sending"
        await asyncio.sleep(0.05)


def kill_machine(pool: Pool, worker: str) -> None:
    """SIGKILL to the worker and every process below it, as when its machine goes down."""
    process = pool.workers[worker]
    for pid in [*descendants(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.kill(pid, signal.SIGKILL)
    process.wait()


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (the process worker may start runs in their own group)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
