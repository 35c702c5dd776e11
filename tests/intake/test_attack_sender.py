"""Attack: a mail that dresses a stranger's address up as a unit's (issue 17 §1).

Real mail, byte for byte as an attacker would write it, goes through the mail catcher into the
office's Maildir and is taken in: the sender is the From header's one addr-spec, never words
decoded from its display name or a comment, and a From with several addresses names no one.
"""

from __future__ import annotations

import base64
from contextlib import closing
from datetime import date

import aiosmtplib
import pytest

from config.settings import Settings
from tasks.intake.steps import open_source, take_in
from tests.helpers import load_seeds
from tests.intake_helpers import at, office_catcher, office_mailbox

POLICY = "lingchuan-2023"
UNIT = "nyj@lingchuan.example.org"  # 县能源局
ATTACKER = "attacker@evil.invalid"


def _word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _raw(from_header: str, office: str, n: int) -> bytes:
    return (
        f"From: {from_header}\r\nTo: {office}\r\nSubject: {_word('月度进展情况报告')}\r\n"
        f"Message-ID: <attack-{n}@evil.invalid>\r\nDate: Mon, 6 Mar 2023 10:00:00 +0800\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n本月各项工作均已完成。\r\n"
    ).encode()


@pytest.mark.parametrize(
    "from_header",
    [
        f"{_word(UNIT)} <{ATTACKER}>",  # the display name spells the unit's address
        f"{UNIT} <{ATTACKER}>",  # two addresses in one From
        f"{ATTACKER} ({UNIT})",  # the unit's address in a comment
        f"{UNIT}, {ATTACKER}",  # a From that names two mailboxes
        _word(UNIT),  # no addr-spec at all, only an encoded word
    ],
    ids=["encoded-display-name", "bare-plus-angle", "comment", "two-mailboxes", "word-only"],
)
async def test_attack_a_forged_sender_is_quarantined_not_taken_as_the_unit(
    settings: Settings, from_header: str
) -> None:
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with office_catcher(settings) as (_, settings):
        await aiosmtplib.send(
            _raw(from_header, office, 1), hostname=settings.smtp.host, port=settings.smtp.port,
            sender=ATTACKER, recipients=[office],
        )  # fmt: skip
        with closing(open_source(settings, POLICY, "maildir")) as source:
            summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 6), 18))
    [line] = summary.lines
    assert (line["outcome"], line["unit"]) == ("quarantined", ""), line
    assert UNIT not in line["sender"]


async def test_attack_control_the_units_own_address_with_an_encoded_name_is_the_unit(
    settings: Settings,
) -> None:
    """The same mail from the unit's real address, its name RFC 2047-encoded, is the unit's."""
    load_seeds(settings, POLICY)
    office = office_mailbox(settings, POLICY)
    with office_catcher(settings) as (_, settings):
        await aiosmtplib.send(
            _raw(f"{_word('县能源局')} <{UNIT}>", office, 2), hostname=settings.smtp.host,
            port=settings.smtp.port, sender=UNIT, recipients=[office],
        )  # fmt: skip
        with closing(open_source(settings, POLICY, "maildir")) as source:
            summary = take_in(settings, POLICY, source, now=at(date(2023, 3, 6), 18))
    [line] = summary.lines
    assert (line["unit"], line["sender"]) == ("县能源局", UNIT)
    assert line["outcome"] != "quarantined"
