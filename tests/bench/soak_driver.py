"""One delivery run in a process of its own, for the soak benchmark to ``kill -9``.

    python -m tests.bench.soak_driver --database-url URL --policy CODE --port P --run-id ID
        [--concurrency N] [--clock-ahead SECONDS]

Runs ``deliver_outbox`` once against the outbox in URL, sending to 127.0.0.1:P, and prints one
JSON line with its counts when it ends. ``--clock-ahead`` moves the run's clock forward (a run
started that much later, as far as the outbox can tell): the soak uses it to finish a batch whose
claims the code keeps hidden beyond the benchmark's wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.settings import Settings, SmtpSettings
from tasks.mail.outbox import deliver_outbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--clock-ahead", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=args.port,
        concurrency=args.concurrency,
        timeout=10.0,
        backoff_seconds=0.05,
    )
    settings = Settings(
        var_dir=Path(tempfile.gettempdir()), database_url=args.database_url, smtp=smtp
    )
    now = datetime.now(UTC) + timedelta(seconds=args.clock_ahead)
    start = time.perf_counter()
    summary = asyncio.run(deliver_outbox(settings, args.policy, run_id=args.run_id, now=now))
    counts = {s: summary.count(s) for s in ("sent", "failed", "pending")}
    print(json.dumps({"pid": os.getpid(), "seconds": time.perf_counter() - start, **counts}))


if __name__ == "__main__":
    main()
