"""Attack: a plain reply under a unit's From address, without our form (issue 17 §2).

Anyone can write ``From: nyj@lingchuan.example.org``. Such a reply must not make 县能源局 on time,
stop its 催报 or its 督办: it is kept as ``unverified`` and the bulletin says it waits. It counts
when the office's own receiving server vouches for the sender (a trusted Authentication-Results
header), when the mail carries a valid DKIM signature of the unit's domain, or when the office
accepts it in ``taskforce review``.

Real mail goes through the SMTP catcher into the office's Maildir and is taken in; DNS, which
cannot be reached here, is the one thing replaced (by a lookup that answers the test's key).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path

import aiosmtplib
import dkim
import pytest
from sqlmodel import col, select

from config.settings import Settings
from models import tables as t
from models.consolidation_store import load_consolidation_input
from models.db import session_scope
from models.notice_data import load_notice_data
from tasks.consolidation.bulletin import bulletin_context
from tasks.consolidation.consolidate import Consolidation, UnitRow, consolidate
from tasks.escalation.steps import run_escalation
from tasks.intake.review import ProgressInput, review_submission
from tasks.intake.steps import open_source, take_in
from tasks.mail import authentication
from tests.helpers import dkim_key_pair, invoke_cli, load_seeds, mail_body
from tests.intake_helpers import at, office_catcher, office_mailbox

POLICY = "lingchuan-2023"
UNIT = "nyj@lingchuan.example.org"  # 县能源局
NAME = "县能源局"
DOMAIN = "lingchuan.example.org"
ATTACKER = "attacker@evil.invalid"
TRUSTED = "mx.lingchuan.example.org"  # the office's own receiving server
ARRIVES = at(date(2023, 3, 3), 10)  # Friday; February's report is due Sunday 5 March 23:59
MONDAY = at(date(2023, 3, 6), 10)  # the first working day after: 催报 to who is missing
REPORT = f"{NAME} 2023年2月进展情况报告"


def _reply(*headers: str, body: str = "本月各项工作均已完成。") -> bytes:
    """A plain-text reply as 县能源局 would write it (or as anyone can write it)."""
    lines = [
        *headers,
        f"From: {UNIT}",
        "To: taskforce-office@lingchuan.example.org",
        "Subject: =?utf-8?b?" + base64.b64encode("2月进展情况".encode()).decode() + "?=",
        "Message-ID: <feb-report@lingchuan.example.org>",
        "Date: Fri, 3 Mar 2023 10:00:00 +0800",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def _restamp(maildir: Path, when: datetime) -> None:
    """The catcher stamps today's time; a Maildir written on 3 March 2023 is what is replayed."""
    stamp = when.strftime("%a, %d %b %Y %H:%M:%S +0800").encode()
    for path in (maildir / "new").iterdir():
        content = path.read_bytes()
        old = content.split(b"; ", 1)[1].split(b"\r\n", 1)[0]  # the catcher's Received line
        path.write_bytes(content.replace(old, stamp, 1))


async def _mail_in(settings: Settings, raw: bytes, unit: str = NAME) -> dict[str, object]:
    """Send the raw mail to the office through the catcher, then run intake over the Maildir."""
    office = office_mailbox(settings, POLICY)
    with office_catcher(settings) as (_, caught):
        await aiosmtplib.send(
            raw, hostname=caught.smtp.host, port=caught.smtp.port,
            sender=ATTACKER, recipients=[office],
        )  # fmt: skip
    _restamp(settings.maildir_root / office.lower(), ARRIVES)
    with closing(open_source(settings, POLICY, "maildir")) as source:
        summary = take_in(settings, POLICY, source, now=ARRIVES + timedelta(minutes=5))
    [line] = summary.lines
    assert (line["unit"], line["period"]) == (unit, "2023-02"), line
    return line


def _february(settings: Settings) -> Consolidation:
    with session_scope(settings) as session:
        return consolidate(
            load_consolidation_input(
                session, POLICY, period="2023-02", obligation="monthly-progress", as_of=MONDAY
            )
        )


def _row(c: Consolidation) -> UnitRow:
    return next(u for u in c.units if u.code == "nyj")


def _reported_for_reminders(settings: Settings) -> bool:
    """Whether the reminders take 县能源局 as having reported February (no more reminders)."""
    with session_scope(settings) as session:
        data = load_notice_data(session, POLICY, "monthly")
        unit = session.exec(select(t.Unit.id).where(t.Unit.code == "nyj")).one()
    february = [c.id for o, c in data.cycles if c.period == "2023-02"]
    return any((cycle, unit) in data.submitted for cycle in february)


def _assert_not_reported(settings: Settings) -> None:
    c = _february(settings)
    row = _row(c)
    assert (row.state, row.unverified, row.received_at) == ("missing", True, None)
    assert (c.counts["missing"], c.counts["unverified"]) == (41, 1)  # nobody else replied
    assert not _reported_for_reminders(settings)
    assert REPORT in run_escalation(settings, POLICY, as_of=MONDAY).overdue  # 催报 still due
    # The leaders read that one reply waits, and under whose name.
    context = bulletin_context(c)
    assert f"另有1个单位（{NAME}）名义发来的回复" in context["review"]
    assert "发件人未经验证" in context["review"]
    assert context["quality"]["unverified"] == [NAME]


def _assert_counted(settings: Settings) -> None:
    c = _february(settings)
    row = _row(c)
    assert (row.state, row.unverified, row.received_at) == ("on_time", False, ARRIVES)
    assert _reported_for_reminders(settings)
    assert REPORT not in run_escalation(settings, POLICY, as_of=MONDAY).overdue
    assert "发件人未经验证" not in bulletin_context(c)["review"]


@pytest.fixture
def trusting(db_settings: Settings) -> Settings:
    """An office whose receiving server stamps Authentication-Results as TRUSTED."""
    load_seeds(db_settings, POLICY)
    intake = db_settings.intake.model_copy(update={"trusted_authserv_id": TRUSTED})
    return db_settings.model_copy(update={"intake": intake})


async def test_attack_forged_from_without_form_is_not_counted(trusting: Settings) -> None:
    line = await _mail_in(trusting, _reply())
    assert line["outcome"] == "unverified"
    _assert_not_reported(trusting)
    # Kept, with the verdict, for the office; the unit's own mailbox is told a reply under its
    # name waits for verification (the real unit learns of a forgery; nothing says "received").
    with session_scope(trusting) as session:
        submission = session.exec(select(t.Submission)).one()
        [receipt] = session.exec(
            select(t.Notification).where(t.Notification.kind == "receipt")
        ).all()
    assert submission.fields["body"].strip() == "本月各项工作均已完成。"
    assert submission.fields["sender_authentication"]["verified"] is False
    assert receipt.to == [UNIT] and "发件人待核实" in receipt.subject
    body = mail_body(trusting, receipt)
    assert "无法确认其确由贵单位邮箱发出" in body.text
    assert "无法确认其确由贵单位邮箱发出" in body.html
    assert "暂未计为贵单位已报送" in body.text
    assert "感谢" not in body.text and "逾期" not in body.text


async def test_attack_control_trusted_authentication_results_dkim_pass_is_counted(
    trusting: Settings,
) -> None:
    """The office's server vouches: dkim=pass for the unit's domain. The reply counts."""
    header = f"Authentication-Results: {TRUSTED}; dkim=pass header.d={DOMAIN} header.s=sel"
    line = await _mail_in(trusting, _reply(header))
    assert line["outcome"] == "unstructured"
    _assert_counted(trusting)


@pytest.mark.parametrize(
    "header",
    [
        f"Authentication-Results: mx.evil.invalid; dkim=pass header.d={DOMAIN}",
        f"Authentication-Results: {TRUSTED}.evil.invalid; dmarc=pass header.from={DOMAIN}",
        f"Authentication-Results: {TRUSTED}; dkim=pass header.d=evil.invalid",
        f"Authentication-Results: {TRUSTED}; dkim=pass header.d=",  # malformed: no crash
    ],
    ids=["other-authserv-id", "lookalike-id", "other-domain", "malformed"],
)
async def test_attack_authentication_results_not_from_the_trusted_server_is_ignored(
    trusting: Settings, header: str
) -> None:
    line = await _mail_in(trusting, _reply(header))
    assert line["outcome"] == "unverified"
    _assert_not_reported(trusting)


@pytest.fixture(scope="module")
def unit_key() -> tuple[bytes, bytes]:
    """县能源局's DKIM key: (private PEM, the TXT record at sel._domainkey.<its domain>)."""
    return dkim_key_pair()


@pytest.fixture
def dkim_office(
    db_settings: Settings, unit_key: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """No trusted server configured: DKIM against DNS, where DNS publishes 县能源局's key."""
    load_seeds(db_settings, POLICY)
    record = unit_key[1]

    def dns(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == f"sel._domainkey.{DOMAIN}.".encode() else None

    monkeypatch.setattr(authentication, "txt_lookup", dns)
    return db_settings


def _dkim_signed(pem: bytes) -> bytes:
    raw = _reply()
    headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    return bytes(dkim.sign(raw, b"sel", DOMAIN.encode(), pem, include_headers=headers)) + raw


async def test_attack_control_a_dkim_signed_reply_of_the_unit_is_counted(
    dkim_office: Settings, unit_key: tuple[bytes, bytes]
) -> None:
    line = await _mail_in(dkim_office, _dkim_signed(unit_key[0]))
    assert line["outcome"] == "unstructured"
    _assert_counted(dkim_office)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw.replace("均已完成".encode(), "均未启动".encode()),
        lambda raw: raw.replace(b"From: " + UNIT.encode(), b"From: jtj@lingchuan.example.org"),
    ],
    ids=["body", "from"],
)
async def test_attack_a_tampered_dkim_signed_reply_is_not_counted(
    dkim_office: Settings, unit_key: tuple[bytes, bytes], tamper: Callable[[bytes], bytes]
) -> None:
    """A signed mail of the unit, altered on the way (or a signature lifted onto another unit's
    From): the signature fails, the reply is held."""
    raw = tamper(_dkim_signed(unit_key[0]))
    line = await _mail_in(dkim_office, raw, NAME if UNIT.encode() in raw else "县交通局")
    assert line["outcome"] == "unverified"
    if line["unit"] == NAME:
        _assert_not_reported(dkim_office)


async def test_attack_forged_reply_counts_only_once_the_office_accepts_it(
    trusting: Settings,
) -> None:
    await _mail_in(trusting, _reply())
    _assert_not_reported(trusting)
    with session_scope(trusting) as session:
        held = session.exec(select(t.Submission)).one()
    assert held.id is not None and held.status == "unverified"
    # The office phoned 县能源局, which confirms it sent the reply: counted as of its arrival,
    # its content still to be read (as for a reply the office's server had authenticated).
    confirmed = review_submission(
        trusting, held.id, accept=True, progress=[], note="已电话核实，确系本单位发送",
        reviewer="王杰", now=at(date(2023, 3, 6), 9),
    )  # fmt: skip
    assert (confirmed.status, confirmed.received_at) == ("unstructured", held.received_at)
    _assert_counted(trusting)
    assert _row(_february(trusting)).needs_review
    # Read and accepted with the progress the reviewer found in it.
    assert confirmed.id is not None
    accepted = review_submission(
        trusting, confirmed.id, accept=True, progress=[ProgressInput("1", "推进中", None)],
        note="已阅", reviewer="王杰", now=at(date(2023, 3, 6), 9, 30),
    )  # fmt: skip
    assert (accepted.status, accepted.received_at) == ("accepted", held.received_at)
    _assert_counted(trusting)
    assert not _row(_february(trusting)).needs_review


async def test_attack_forged_reply_rejected_by_the_office_leaves_the_unit_missing(
    trusting: Settings,
) -> None:
    await _mail_in(trusting, _reply())
    with session_scope(trusting) as session:
        held = session.exec(select(t.Submission)).one()
    assert held.id is not None
    review_submission(
        trusting, held.id, accept=False, progress=[], note="经核实非本单位发送",
        reviewer="王杰", now=at(date(2023, 3, 6), 9),
    )  # fmt: skip
    row = _row(_february(trusting))
    # Not 退回未改: the unit never sent it; it is as if nothing came, and nothing waits.
    assert (row.state, row.unverified) == ("missing", False)
    assert REPORT in run_escalation(trusting, POLICY, as_of=MONDAY).overdue
    with session_scope(trusting) as session:
        kinds = session.exec(select(t.Notification.kind).order_by(col(t.Notification.id))).all()
    assert kinds[:2] == ["receipt", "rejection"]


async def test_count_setting_keeps_the_old_rule(db_settings: Settings) -> None:
    """TASKFORCE_INTAKE_UNVERIFIED_REPLIES=count: a formless reply from a unit's address counts."""
    load_seeds(db_settings, POLICY)
    intake = db_settings.intake.model_copy(update={"unverified_replies": "count"})
    counting = db_settings.model_copy(update={"intake": intake})
    line = await _mail_in(counting, _reply())
    assert line["outcome"] == "unstructured"
    _assert_counted(counting)


def test_attack_forged_reply_waits_in_the_review_list_and_is_accepted_from_the_cli(
    settings: Settings, tmp_path: Path
) -> None:
    """What the office sees: `taskforce review` lists the reply as 发件人未经验证; accepting it
    there (the sender confirmed) makes 县能源局 on time; its content is then listed for review."""
    load_seeds(settings, POLICY)
    assert settings.var_dir == tmp_path / "var"  # the CLI below reads the same database
    asyncio.run(_mail_in(settings, _reply()))
    listing = invoke_cli(tmp_path, "review", "--policy", POLICY)
    assert listing.returncode == 0, listing.stderr
    assert NAME in listing.stdout and "发件人未经验证" in listing.stdout
    # …and why: no trusted server is configured here, and the mail has no DKIM signature.
    assert f"编号 1（{NAME}）发件人验证：邮件没有 {DOMAIN} 的 DKIM 签名" in listing.stdout
    with session_scope(settings) as session:
        held = session.exec(select(t.Submission)).one()
    accepted = invoke_cli(
        tmp_path, "review", "accept", str(held.id), "--note", "已电话核实", "--at",
        "2023-03-06T09:00",
    )  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    assert "已确认发件人" in accepted.stdout and "内容仍待审核" in accepted.stdout
    _assert_counted(settings)
    # Still listed, now for its content: a reply without our form, like any other.
    again = invoke_cli(tmp_path, "review", "--policy", POLICY).stdout
    assert NAME in again and "未用报表" in again and "发件人未经验证" not in again


async def test_two_unverified_replies_are_filed_under_two_open_reports(
    trusting: Settings,
) -> None:
    """In January both once-off reports (工作专班建立情况, 任务清单台账) are open: two plain
    replies of a unit go one to each, as they did before they were held for verification."""
    office = office_mailbox(trusting, POLICY)
    with office_catcher(trusting) as (_, caught):
        for n in (1, 2):
            raw = _reply(body=f"第{n}份材料。").replace(b"feb-report", f"once-{n}".encode())
            await aiosmtplib.send(
                raw, hostname=caught.smtp.host, port=caught.smtp.port,
                sender=ATTACKER, recipients=[office],
            )  # fmt: skip
    _restamp(trusting.maildir_root / office.lower(), at(date(2023, 1, 13), 10))
    with closing(open_source(trusting, POLICY, "maildir")) as source:
        summary = take_in(trusting, POLICY, source, now=at(date(2023, 1, 13), 11))
    lines = summary.lines
    assert [x["outcome"] for x in lines] == ["unverified", "unverified"]
    assert sorted(x["obligation_name"] for x in lines) == [
        "工作专班建立情况",
        "贯彻落实举措及任务清单台账",
    ]
