"""Issue 17 §5: a flood of mail and what the system sends back, and intake's peak memory.

(a) ``TASKFORCE_BENCH_FLOOD_STRANGERS`` (10,000) mails from unknown addresses and
    ``TASKFORCE_BENCH_FLOOD_SPOOFED`` (2,000) replies "from" one unit, over SMTP through the mail
    catcher into the office's Maildir; one intake run; the outbox delivered to the catcher. The
    mails sent are counted (before the digest and the hourly limit: one per message);
(b) the peak memory of intake (``ru_maxrss`` in a process of its own, over its baseline after an
    ordinary reply) for a 39 MB message, just under the 40 MB limit and so read and parsed whole,
    and for a 300 MB one, over it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from config.settings import Settings
from tests.bench.report import TINY, size
from tests.helpers import load_seeds
from tests.intake.flood import flood
from tests.intake.memory_probe import MB, run_probe, write_message
from tests.intake_helpers import at, office_mailbox

STRANGERS = size("TASKFORCE_BENCH_FLOOD_STRANGERS", 10000, 50)
SPOOFED = size("TASKFORCE_BENCH_FLOOD_SPOOFED", 2000, 10)
POLICY = "lingchuan-2023"
RSJ = "rsj@lingchuan.example.org"


async def test_flood(settings: Settings) -> None:
    result = await flood(settings, STRANGERS, SPOOFED)
    print(
        f"\nflood: {STRANGERS} strangers + {SPOOFED} spoofed replies → {result['sent']:.0f} mails "
        f"sent ({result['quarantine_mails']:.0f} 【隔离】, {result['receipt_mails']:.0f} 【回执】, "
        f"{result['receipts_recorded']:.0f} receipts recorded, not sent)\n"
        f"  SMTP in {result['send_seconds']} s, intake {result['intake_seconds']} s, "
        f"delivery {result['delivery_seconds']} s"
    )
    assert result["quarantine_mails"] == 1 and result["receipt_mails"] <= 1


def test_peak_memory(settings: Settings, tmp_path: Path) -> None:
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    warm = tmp_path / "warm"
    write_message(warm, "warm", sender=RSJ, office=office, size=20_000,
                  received_at=at(date(2023, 3, 1), 9))  # fmt: skip
    limit = settings.intake.max_message_bytes
    # A tiny run: the same two sides of the limit, around a limit of 1 MB.
    if TINY:
        limit = MB
        settings = settings.model_copy(
            update={"intake": settings.intake.model_copy(update={"max_message_bytes": limit})}
        )
    for big in (limit - MB // 40, int(7.5 * limit)):
        maildir = tmp_path / f"m{big}"
        path = write_message(maildir, "big", sender=RSJ, office=office, size=big,
                             received_at=at(date(2023, 3, 1), 10))  # fmt: skip
        try:
            result = run_probe(settings, POLICY, warm, maildir)
        finally:
            path.unlink(missing_ok=True)
            for raw in settings.raw_dir.rglob("*.eml"):
                raw.unlink()
        over = (result["peak"] - result["baseline"]) / MB
        print(
            f"  {big / MB:.0f} MB message: {over:.0f} MB over the baseline "
            f"(target ≤ {2 * limit / MB:.0f} MB), outcome {result['outcomes'][0][0]}"
        )
