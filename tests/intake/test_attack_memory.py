"""Attack: a message far over the size limit must not take the intake's memory (issue 17 §5).

Each measurement runs intake in a process of its own (``tests/intake/memory_probe.py``): its
baseline ``ru_maxrss`` after an ordinary reply was taken in, then its peak over the large one.
The target: peak ≤ baseline + 2 × ``intake.max_message_bytes``, whatever the message's size.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from tests.helpers import load_seeds, mail_body
from tests.intake.memory_probe import run_probe, write_message
from tests.intake_helpers import at, office_mailbox

POLICY = "lingchuan-2023"
UNIT = "rsj@lingchuan.example.org"  # 县人社局
MB = 1_000_000


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _setup(settings: Settings, tmp_path: Path) -> tuple[str, Path]:
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    warm = tmp_path / "warm"
    write_message(warm, "warm", sender=UNIT, office=office, size=20_000,
                  received_at=at(date(2023, 3, 1), 9))  # fmt: skip
    return office, warm


def test_attack_a_300_mb_message_is_quarantined_in_bounded_memory(
    settings: Settings, tmp_path: Path
) -> None:
    office, warm = _setup(settings, tmp_path)
    limit = settings.intake.max_message_bytes
    maildir = tmp_path / "big"
    big = write_message(maildir, "big-300mb", sender=UNIT, office=office, size=300 * MB,
                        received_at=at(date(2023, 3, 1), 10))  # fmt: skip
    size, digest = big.stat().st_size, _sha256(big)
    try:
        result = run_probe(settings, POLICY, warm, maildir)
        [(outcome, problems)] = result["outcomes"]
        assert outcome == "quarantined"
        assert "超过系统接收上限（40.0 MB），未予读取" in problems[0]
        assert result["peak"] <= result["baseline"] + 2 * limit
        with session_scope(settings) as session:
            item = session.exec(select(t.InboundItem).where(t.InboundItem.size == size)).one()
        # The raw copy is whole, under its own sha256, and the headers were read.
        raw = settings.raw_dir / item.raw_path
        assert (item.raw_sha256, raw.stat().st_size, _sha256(raw)) == (digest, size, digest)
        assert (item.sender, item.subject) == (UNIT, "月度进展情况报告")
        with session_scope(settings) as session:
            queued = session.exec(select(t.Notification).order_by(col(t.Notification.id))).all()
        # The office's digest names it; the unit is told, at its registered mailbox.
        [alert] = [n for n in queued if n.kind == "quarantine"]
        alert_text = mail_body(settings, alert).text
        assert "300.0 MB" in alert_text and str(raw) in alert_text
        [told] = [n for n in queued if n.kind == "oversize"]
        told_text = mail_body(settings, told).text
        assert told.to == [UNIT] and "300.0 MB" in told_text and "40.0 MB" in told_text
    finally:
        for path in [*maildir.rglob("big-300mb*"), *settings.raw_dir.rglob("*.eml")]:
            path.unlink()


@pytest.mark.parametrize(
    ("size", "outcome"),
    [
        (39 * MB, "rejected"),  # read and parsed: its 28 MB attachment is over 20 MB, refused
        (26 * MB, "unverified"),  # 19.5 MB attachment decoded; no server vouches for the sender
    ],
    ids=["39mb", "26mb"],
)
def test_attack_a_message_under_the_limit_is_read_in_bounded_memory(
    settings: Settings, tmp_path: Path, size: int, outcome: str
) -> None:
    """Under the limit a message is parsed, with its large bodies kept out of the email
    package's parser (tasks/mail/lean.py): at 39 MB it took 458 MB over the baseline before."""
    office, warm = _setup(settings, tmp_path)
    maildir = tmp_path / "under"
    write_message(maildir, "under", sender=UNIT, office=office, size=size,
                  received_at=at(date(2023, 3, 1), 10))  # fmt: skip
    result = run_probe(settings, POLICY, warm, maildir)
    [(got, problems)] = result["outcomes"]
    assert got == outcome, problems
    assert result["peak"] <= result["baseline"] + 2 * settings.intake.max_message_bytes
