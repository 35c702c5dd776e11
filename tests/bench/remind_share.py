"""Prefect's share of a reminders run, in one process against a running Prefect server: the
reminders tick over every policy of the database run as a flow (one task run per policy), then
the day reset and the same steps called directly, for the benchmark to time.

    PREFECT_API_URL=… python -m tests.bench.remind_share --as-of 2023-03-31T09:00 --period 2023-03

Settings come from the environment (TASKFORCE_DATABASE_URL, TASKFORCE_SMTP_PORT, …). The flow
runs first, so whatever the first run pays once (templates compiled, modules imported on first
use) is counted against Prefect, not the floor. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import time

from sqlalchemy import create_engine, text

from config.settings import Settings, use_settings
from flows.serve import reminders_tick
from tasks.calendar import parse_as_of
from tests.bench.province_floor import run as run_directly


def reset(settings: Settings, period: str) -> None:
    """The day not yet run: no report of ``period`` in, no notice queued or form issued."""
    cycles = "SELECT id FROM cycle WHERE period = :p"
    submissions = f"SELECT id FROM submission WHERE cycle_id IN ({cycles})"
    # Not the app's engine: SQLite's foreign-key check would scan a million progress entries
    # for each deleted submission (the entries go first, so nothing is left dangling).
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(
            text(f"DELETE FROM progressentry WHERE submission_id IN ({submissions})"),
            {"p": period},
        )
        conn.execute(text(f"DELETE FROM submission WHERE id IN ({submissions})"), {"p": period})
        conn.execute(text("DELETE FROM outboxmessage"))
        conn.execute(text("DELETE FROM notificationbody"))
        conn.execute(text("DELETE FROM notification"))
        conn.execute(text("DELETE FROM issuedform"))
    engine.dispose()
    shutil.rmtree(settings.var_dir / "forms", ignore_errors=True)


async def main(as_of: str, period: str) -> dict[str, float]:
    settings = Settings()
    reset(settings, period)
    start, cpu = time.perf_counter(), time.process_time()
    with use_settings(settings):
        report = await reminders_tick(None, parse_as_of(as_of))
    flow_seconds, flow_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert not report.failed, report.failed
    reset(settings, period)
    cpu = time.process_time()
    direct = await run_directly(settings, as_of)
    return {
        "flow_seconds": flow_seconds,
        "direct_seconds": direct["seconds"],
        # This process's CPU, all threads: less at the mercy of a busy machine than wall time.
        "flow_cpu_seconds": flow_cpu,
        "direct_cpu_seconds": time.process_time() - cpu,
        "policies": len(report.policies),
        "sent": direct["sent"],
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--period", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(main(args.as_of, args.period))), flush=True)


if __name__ == "__main__":
    cli()
