"""Peak memory of intake in a process of its own (run by tests/intake/test_attack_memory.py).

``python -m tests.intake.memory_probe POLICY WARM_MAILDIR MAILDIR`` with the settings in the
environment (``TASKFORCE_VAR_DIR``, ``TASKFORCE_DATABASE_URL`` …): one intake pass over
WARM_MAILDIR (a small ordinary reply: imports, templates and the policy loaded), then the
baseline peak memory (``ru_maxrss``; ``VmHWM`` on Linux, see ``_max_rss``), then one pass over
MAILDIR. Prints one JSON line: baseline and peak in
bytes, the seconds the second pass took and its outcomes.

``write_message`` writes a large mail into a Maildir in chunks, as a mail server files it,
without ever holding it in memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from config.settings import Settings
from tasks.calendar import SHANGHAI

MB = 1_000_000

CHUNK_LINES = 100_000  # base64 lines written per write() call: 7.8 MB


def write_message(
    maildir: Path, name: str, *, sender: str, office: str, size: int, received_at: datetime
) -> Path:
    """A reply with one base64 attachment of about ``size`` bytes in all, filed into ``new/``."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    stamp = format_datetime(received_at.astimezone(SHANGHAI))
    head = (
        f"Return-Path: <{sender}>\r\nDelivered-To: {office}\r\n"
        f"Received: from [192.0.2.7]\r\n\tby taskforce-mailcatcher with ESMTP\r\n"
        f"\tfor <{office}>; {stamp}\r\n"
        f"From: {sender}\r\nTo: {office}\r\n"
        "Subject: =?utf-8?b?5pyI5bqm6L+b5bGV5oOF5Ya15oql5ZGK?=\r\n"  # 月度进展情况报告
        f"Message-ID: <large-{name}@example.org>\r\nDate: {stamp}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "请查收附件中的现场照片。\r\n"
        "--b1\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="photos.zip"\r\n\r\n'
    ).encode()
    tail = b"\r\n--b1--\r\n"
    line = b"UEsDBBQAAAAIAAAAIQBQSwMEFAAAAAgAAAAhAFBLAwQUAAAACAAAACEAUEsDBBQAAAAIAAAAIQBQ\r\n"
    lines = max(0, (size - len(head) - len(tail)) // len(line))
    partial = maildir / "tmp" / name
    with partial.open("wb") as out:
        out.write(head)
        chunk = line * CHUNK_LINES
        for _ in range(lines // CHUNK_LINES):
            out.write(chunk)
        out.write(line * (lines % CHUNK_LINES))
        out.write(tail)
    partial.replace(maildir / "new" / name)
    return maildir / "new" / name


def run_probe(settings: Settings, policy: str, warm: Path, maildir: Path) -> dict[str, Any]:
    """Run ``main`` in a new process with these settings; its JSON line, printed in MB too."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
        "TASKFORCE_VAR_DIR": str(settings.var_dir),
        "TASKFORCE_DATABASE_URL": settings.effective_database_url,
        "TASKFORCE_INTAKE_MAX_MESSAGE_BYTES": str(settings.intake.max_message_bytes),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.intake.memory_probe", policy, str(warm), str(maildir)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"\n{maildir.name}: baseline {result['baseline'] / MB:.0f} MB, "
        f"peak {result['peak'] / MB:.0f} MB, {result['seconds']:.1f} s"
    )
    return result


def _max_rss() -> int:
    """This process's peak resident memory in bytes.

    Linux's ``ru_maxrss`` starts a child at its parent's peak (exec records the peak of the
    address space it replaces), so a large pytest process would hide the child's own peak:
    ``VmHWM``, the peak of this address space alone, is read where there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes


def main(policy: str, warm: Path, maildir: Path) -> None:
    from tasks.intake.steps import take_in
    from tasks.mail.sources import MaildirSource

    settings = Settings()
    now = datetime.now(SHANGHAI)
    take_in(settings, policy, MaildirSource(warm), now=now)
    baseline = _max_rss()
    start = time.perf_counter()
    summary = take_in(settings, policy, MaildirSource(maildir), now=now)
    seconds = time.perf_counter() - start
    outcomes = [(line["outcome"], [e["problem"] for e in line["errors"]]) for line in summary.lines]
    print(json.dumps({"baseline": baseline, "peak": _max_rss(), "seconds": seconds,
                      "outcomes": outcomes}, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
