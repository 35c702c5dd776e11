"""Settings handed over with ``use_settings`` reach a flow's body, its tasks however Prefect runs
them (sync in an async flow, submitted to the thread pool, async) and its sub-flows; without
them a run reads the environment, as a served deployment's run does."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow, task
from prefect.cache_policies import NONE

from config.settings import Settings, SmtpSettings, current_settings, use_settings


def sender() -> str:
    return current_settings().smtp.sender


@task(cache_policy=NONE)
def sync_task() -> str:
    return sender()


@task(cache_policy=NONE)
async def async_task() -> str:
    return sender()


@flow
async def sub_flow() -> str:
    return sender()


@flow
async def parent_flow() -> dict[str, str]:
    submitted = sync_task.submit()  # ThreadPoolTaskRunner: another thread
    return {
        "body": sender(),
        "sync task": sync_task(),
        "submitted task": submitted.result(),
        "async task": await async_task(),
        "sub-flow": await sub_flow(),
        "thread": await asyncio.to_thread(sender),
    }


WHERE = ["body", "sync task", "submitted task", "async task", "sub-flow", "thread"]


async def test_handed_over_settings_reach_every_part_of_the_run(prefect_server: None) -> None:
    handed = Settings(smtp=SmtpSettings(sender="handed-over@example.org"))
    with use_settings(handed):
        seen = await parent_flow()
    assert seen == dict.fromkeys(WHERE, "handed-over@example.org")


async def test_without_a_handover_a_run_reads_the_environment(
    prefect_server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKFORCE_SMTP_SENDER", "from-env@example.org")
    assert await parent_flow() == dict.fromkeys(WHERE, "from-env@example.org")


def test_the_handover_ends_with_its_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKFORCE_SMTP_SENDER", "from-env@example.org")
    with use_settings(Settings(smtp=SmtpSettings(sender="a@example.org"))):
        with use_settings(Settings(smtp=SmtpSettings(sender="b@example.org"))):
            assert sender() == "b@example.org"
        assert sender() == "a@example.org"
    assert sender() == "from-env@example.org"
