"""The floor of the province day: one reminders tick's work for every policy, in one process,
without Prefect (the steps the flows wrap, called directly), for the benchmark to time.

    python -m tests.bench.province_floor --as-of 2023-03-31T09:00 [--part 1/2]

Settings come from the environment (TASKFORCE_DATABASE_URL, TASKFORCE_SMTP_PORT, …), as a
worker's do. ``--part K/N`` takes the K-th of N round-robin shards of the policies, as a tick
deals them (two such processes side by side are the floor of two workers). Prints one JSON
line: seconds, CPU seconds of this process, policies, mails queued and sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import time

from sqlmodel import select

from config.settings import Settings
from flows.delivery import deliver_steps
from models import tables as t
from models.db import session_scope
from tasks.calendar import parse_as_of
from tasks.reminders.steps import prepare_reminders
from tasks.serving import shards


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(settings: Settings, as_of: str, part: int = 1, parts: int = 1) -> dict[str, float]:
    moment = parse_as_of(as_of)
    with session_scope(settings) as session:
        codes = list(session.exec(select(t.Policy.code).order_by(t.Policy.code)).all())
    codes = shards(codes, parts)[part - 1] if parts > 1 else codes
    cpu = cpu_seconds()
    queued = sent = 0
    start = time.perf_counter()
    for code in codes:
        queued += len(prepare_reminders(settings, code, moment, None).queued)
        sent += (await deliver_steps(code, settings)).count("sent")
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": cpu_seconds() - cpu,
        "policies": len(codes),
        "queued": queued,
        "sent": sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--part", default="1/1", help="K/N: the K-th of N shards")
    args = parser.parse_args()
    part, parts = (int(n) for n in args.part.split("/"))
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(run(Settings(), args.as_of, part, parts))), flush=True)


if __name__ == "__main__":
    main()
