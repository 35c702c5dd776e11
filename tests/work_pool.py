"""A Prefect server and process workers in processes of their own, as the README's "Several
machines" section starts them: for tests/flows/test_workers.py and the province benchmark.

The commands are kept here, in one place (SERVER_COMMAND, SETUP_COMMANDS, WORKER_COMMAND,
WORKER_ENVIRONMENT); the README's section shows exactly these: change them together.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType

from tests.helpers import ROOT, free_port

# The Prefect server, once, its own database on PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL).
SERVER_COMMAND = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", "{port}"]
# Once, from the checkout, with PREFECT_API_URL and the taskforce settings set.
SETUP_COMMANDS = [
    ["taskforce", "db", "init"],
    ["prefect", "work-pool", "create", "taskforce", "--type", "process"],
    ["prefect", "--no-prompt", "deploy", "--all"],
    ["prefect", "automation", "create", "--from-file", "prefect-automations.yaml"],
]
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
BIN = Path(sys.executable).parent
FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


def postgres_url() -> str:
    """The test server's URL; a skip without one, a failure where PostgreSQL is required."""
    url = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")
    if url:
        return url
    reason = "TASKFORCE_TEST_POSTGRES_URL not set: the work-pool test needs PostgreSQL"
    if os.environ.get("TASKFORCE_REQUIRE_POSTGRES") == "1" or os.environ.get("CI"):
        pytest.fail(reason + " (required here: TASKFORCE_REQUIRE_POSTGRES or CI is set)")
    pytest.skip(reason)


@dataclass
class Pool:
    """The running server and workers: its API, the environment the commands ran with."""

    api_url: str
    env: dict[str, str]
    workers: dict[str, subprocess.Popen[bytes]]
    logs: Path
    server: subprocess.Popen[bytes] | None = None

    def taken_by(self) -> dict[str, str]:
        """Which worker submitted each flow run, from the workers' own logs (a worker that
        found the run already taken by another logs an aborted submission: not its run)."""
        taken = {}
        for name in self.workers:
            log = (self.logs / f"{name}.log").read_text(errors="replace")
            aborted = set(re.findall(r"Aborted submission of flow run '([0-9a-f-]{36})'", log))
            for run_id in re.findall(r"submitting flow run '([0-9a-f-]{36})'", log):
                if run_id not in aborted:
                    taken[run_id] = name
        return taken

    def worker_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs.glob("worker-*.log"))


def argv(command: list[str], **values: str) -> list[str]:
    """A command with its placeholders filled and its program from this venv."""
    program, *rest = (part.format(**values) for part in command)
    return [str(BIN / program), *rest]


def run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        argv(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"


def base_environment(home: Path, api_url: str) -> dict[str, str]:
    """This process's environment without its TASKFORCE_ and PREFECT_ settings, plus the
    server's URL and the checkout under test before any installed copy of the packages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "PREFECT_"))}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        TASKFORCE_HOME=str(ROOT),
        PYTHONPATH=str(ROOT),
    )
    return env


@contextmanager
def running_pool(
    home: Path,
    prefect_db: str,
    settings_env: dict[str, str],
    workers: dict[str, list[str]],
    *,
    setup: list[list[str]] | None = None,
    worker_extra: list[str] | None = None,
    unscheduled: bool = False,
) -> Iterator[Pool]:
    """The server on ``prefect_db``, the setup commands, then one worker per name (each
    command prefixed by its list, e.g. ``["taskset", "-c", "0"]``, and followed by
    ``worker_extra``); all stopped on exit. ``unscheduled``: the deployments' schedules
    turned off before the workers start, so that only the runs a test triggers run (a
    benchmark's worker must not be busy with the intake tick of the real clock)."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = base_environment(home, api_url) | settings_env
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []

    def start(
        command: list[str], name: str, extra: dict[str, str], prefix: list[str], *tail: str
    ) -> subprocess.Popen[bytes]:
        with (logs / f"{name}.log").open("wb") as out:
            process = subprocess.Popen(
                [*prefix, *argv(command, port=str(port), name=name), *tail],
                cwd=ROOT,
                env=env | extra,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopped with its flow-run processes
            )
        processes.append(process)
        return process

    try:
        server = start(
            SERVER_COMMAND,
            "server",
            {"PREFECT_API_DATABASE_CONNECTION_URL": prefect_db, "PREFECT_UI_ENABLED": "false"},
            [],
        )
        wait_healthy(api_url, server, logs / "server.log")
        for command in SETUP_COMMANDS if setup is None else setup:
            run(command, env)
        if unscheduled:
            asyncio.run(turn_off_schedules(api_url))
        started = {
            name: start(
                WORKER_COMMAND,
                name,
                {"PREFECT_HOME": str(home / name)},
                prefix,
                *(worker_extra or []),
            )
            for name, prefix in workers.items()
        }
        yield Pool(api_url, env, started, logs, server)
    finally:
        for process in reversed(processes):
            stop_group(process)


async def turn_off_schedules(api_url: str) -> None:
    """Every deployment schedule inactive, and the runs already scheduled from them deleted."""
    async with PrefectClient(api_url) as client:
        for deployment in await client.read_deployments():
            for schedule in deployment.schedules:
                await client.update_deployment_schedule(deployment.id, schedule.id, active=False)
        scheduled = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        )
        for flow_run in await client.read_flow_runs(flow_run_filter=scheduled):
            await client.delete_flow_run(flow_run.id)


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
        await asyncio.sleep(0.5)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``, the children it reaped and those still alive."""
    total = 0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


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
