"""The floor of the province day: one reminders tick's work for every policy, in one process,
without Prefect (the steps the flows wrap, called directly), for the benchmark to time.

    python -m tests.bench.province_floor --as-of 2023-03-31T09:00

Settings come from the environment (TASKFORCE_DATABASE_URL, TASKFORCE_SMTP_PORT, …), as a
worker's do. Prints one JSON line: seconds, policies, mails queued and sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time

from sqlmodel import select

from config.settings import Settings
from flows.delivery import deliver_steps
from models import tables as t
from models.db import session_scope
from tasks.calendar import parse_as_of
from tasks.reminders.steps import prepare_reminders


async def run(settings: Settings, as_of: str) -> dict[str, float]:
    moment = parse_as_of(as_of)
    with session_scope(settings) as session:
        codes = list(session.exec(select(t.Policy.code).order_by(t.Policy.code)).all())
    queued = sent = 0
    start = time.perf_counter()
    for code in codes:
        queued += len(prepare_reminders(settings, code, moment, None).queued)
        sent += (await deliver_steps(code, settings)).count("sent")
    return {
        "seconds": time.perf_counter() - start,
        "policies": len(codes),
        "queued": queued,
        "sent": sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--as-of", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(run(Settings(), args.as_of))), flush=True)


if __name__ == "__main__":
    main()
