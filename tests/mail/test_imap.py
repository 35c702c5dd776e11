"""ImapSource against a real Dovecot (tests/imap_server.py): what is new, what marking does.

Line endings: IMAP transfers messages with CRLF, and Dovecot hands out a message stored with bare
LFs with CRLFs. The messages here are CRLF (as SMTP delivers them), so the bytes read back must
be exactly the bytes appended; one test pins the LF → CRLF normalisation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from config.errors import TaskforceError
from tasks.mail.imap import (
    INTAKE_KEYWORD,
    ImapSource,
    MailboxError,
    decode_folder_name,
    encode_folder_name,
    parse_internaldate,
)
from tasks.mail.sources import MailSource
from tests.helpers import free_port

if TYPE_CHECKING:
    from tests.imap_server import DovecotServer

SHANGHAI = timezone(timedelta(hours=8))
PROCESSED = {"\\Seen", INTAKE_KEYWORD}


def message(number: int, body: str = "") -> bytes:
    """A CRLF message with a UTF-8 (8-bit) Chinese body, as a unit's reply arrives."""
    text = body or f"陵川县第{number}责任单位：一月份进展情况见附件。"
    return (
        f"From: unit{number}@lingchuan.example.org\r\n"
        "To: office@lingchuan.example.org\r\n"
        f"Subject: reply {number}\r\n"
        f"Message-ID: <reply-{number}@lingchuan.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{text}\r\n"
    ).encode()


# Arrival times in Beijing time; the third arrived (by its INTERNALDATE) before the second, so
# the order checked below is the mailbox's (UID) order, not the dates'.
ARRIVALS = [
    datetime(2023, 1, 20, 9, 15, 0, tzinfo=SHANGHAI),
    datetime(2023, 1, 20, 16, 59, 59, tzinfo=SHANGHAI),
    datetime(2023, 1, 20, 7, 0, 1, tzinfo=SHANGHAI),
]


def fill(server: DovecotServer, folder: str = "INBOX") -> list[int]:
    return [server.append(message(n), when, folder) for n, when in enumerate(ARRIVALS, 1)]


# --- pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("INBOX", "INBOX"),
        # 已处理 is U+5DF2 U+5904 U+7406: UTF-16BE 5DF2 5904 7406 in base64 is "XfJZBHQG".
        ("已处理", "&XfJZBHQG-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501's example
        ("Tom & Jerry", "Tom &- Jerry"),
        ("报表&汇总", "&YqWIaA-&-&bEdgOw-"),
        ("😀", "&2D3eAA-"),  # outside the BMP: a surrogate pair
    ],
)
def test_folder_names_in_modified_utf7(name: str, encoded: str) -> None:
    assert encode_folder_name(name) == encoded
    assert decode_folder_name(encoded) == name


def test_internaldate_becomes_aware_utc() -> None:
    line = b'1 (UID 7 INTERNALDATE " 5-Jan-2023 09:30:00 +0800" BODY[] {12}'
    assert parse_internaldate(line) == datetime(2023, 1, 5, 1, 30, tzinfo=UTC)
    assert parse_internaldate(line).tzinfo is UTC  # type: ignore[union-attr]
    west = b'INTERNALDATE "31-Dec-2022 20:15:00 -0530"'
    assert parse_internaldate(west) == datetime(2023, 1, 1, 1, 45, tzinfo=UTC)
    assert parse_internaldate(b"1 (UID 7)") is None


# --- reading ----------------------------------------------------------------------------------


def test_fetch_new_gives_every_message_in_uid_order_exactly(imap_mailbox: DovecotServer) -> None:
    uids = fill(imap_mailbox)
    validity = imap_mailbox.uidvalidity()
    with ImapSource(imap_mailbox.imap_settings()) as source:
        fetched = list(source.fetch_new())

    assert [m.source_key for m in fetched] == [f"{validity}:{uid}" for uid in uids]
    assert uids == sorted(uids)
    assert [m.content for m in fetched] == [message(1), message(2), message(3)]
    assert [m.received_at for m in fetched] == [
        datetime(2023, 1, 20, 1, 15, 0, tzinfo=UTC),
        datetime(2023, 1, 20, 8, 59, 59, tzinfo=UTC),
        datetime(2023, 1, 19, 23, 0, 1, tzinfo=UTC),
    ]
    assert all(m.received_at.utcoffset() == timedelta(0) for m in fetched)
    port = imap_mailbox.port
    assert {m.source for m in fetched} == {
        f"imap://office@lingchuan.example.org@127.0.0.1:{port}/INBOX"
    }


def test_reading_does_not_mark_anything_read(imap_mailbox: DovecotServer) -> None:
    uids = fill(imap_mailbox)
    with ImapSource(imap_mailbox.imap_settings()) as source:
        assert len(list(source.fetch_new())) == 3
    assert imap_mailbox.flags() == {uid: set() for uid in uids}  # BODY.PEEK: no \Seen


def test_limit_takes_the_oldest(imap_mailbox: DovecotServer) -> None:
    uids = fill(imap_mailbox)
    with ImapSource(imap_mailbox.imap_settings()) as source:
        keys = [m.source_key.split(":")[1] for m in source.fetch_new(limit=2)]
    assert keys == [str(uid) for uid in uids[:2]]


def test_bare_lf_message_comes_back_with_crlf(imap_mailbox: DovecotServer) -> None:
    lf_only = b"Subject: lf\n\nfirst line\nsecond line\n"
    imap_mailbox.append(lf_only, ARRIVALS[0])
    with ImapSource(imap_mailbox.imap_settings()) as source:
        (fetched,) = source.fetch_new()
    assert fetched.content == lf_only.replace(b"\n", b"\r\n")


def test_is_a_mail_source(imap_mailbox: DovecotServer) -> None:
    with ImapSource(imap_mailbox.imap_settings()) as source:
        typed: MailSource = source
        assert typed.name == source.name


# --- marking in place -------------------------------------------------------------------------


def test_mark_processed_flags_and_the_next_fetch_skips(imap_mailbox: DovecotServer) -> None:
    uids = fill(imap_mailbox)
    with ImapSource(imap_mailbox.imap_settings()) as source:
        for fetched in source.fetch_new():
            source.mark_processed(fetched.source_key)
        assert list(source.fetch_new()) == []  # same connection

    assert imap_mailbox.flags() == {uid: PROCESSED for uid in uids}
    assert imap_mailbox.count() == 3  # never deleted
    later = imap_mailbox.append(message(4), ARRIVALS[0])
    with ImapSource(imap_mailbox.imap_settings()) as source:  # a later run
        assert [m.source_key.split(":")[1] for m in source.fetch_new()] == [str(later)]


def test_marking_one_leaves_the_others_new(imap_mailbox: DovecotServer) -> None:
    uids = fill(imap_mailbox)
    with ImapSource(imap_mailbox.imap_settings()) as source:
        first, second, third = source.fetch_new()
        source.mark_processed(second.source_key)
        assert [m.source_key for m in source.fetch_new()] == [first.source_key, third.source_key]
    assert imap_mailbox.flags() == {uids[0]: set(), uids[1]: PROCESSED, uids[2]: set()}


# --- moving to a processed folder -------------------------------------------------------------


@pytest.mark.parametrize("processed", ["Processed", "已处理", "专班 & 台账"])
def test_processed_folder_receives_the_messages(
    imap_mailbox: DovecotServer, processed: str
) -> None:
    fill(imap_mailbox)
    settings = imap_mailbox.imap_settings(processed_folder=processed)
    with ImapSource(settings) as source:
        fetched = list(source.fetch_new())
        for item in fetched:
            source.mark_processed(item.source_key)
        assert list(source.fetch_new()) == []

    assert imap_mailbox.count("INBOX") == 0
    assert imap_mailbox.count(processed) == 3  # moved, not deleted
    # The server lists the folder under the name given (so its modified UTF-7 was valid).
    assert processed in imap_mailbox.folders()
    # What was moved is what was read, and it is unread there (MOVE keeps flags; none were set).
    with ImapSource(imap_mailbox.imap_settings(folder=processed)) as moved:
        assert [m.content for m in moved.fetch_new()] == [item.content for item in fetched]
    assert set(map(frozenset, imap_mailbox.flags(processed).values())) == {frozenset()}


def test_existing_processed_folder_is_used_as_it_is(imap_mailbox: DovecotServer) -> None:
    imap_mailbox.append(message(9), ARRIVALS[0], folder="已处理")  # creates it, with a message
    imap_mailbox.append(message(1), ARRIVALS[1])
    with ImapSource(imap_mailbox.imap_settings(processed_folder="已处理")) as source:
        (item,) = source.fetch_new()
        source.mark_processed(item.source_key)
    assert imap_mailbox.count("INBOX") == 0
    assert imap_mailbox.count("已处理") == 2


@pytest.mark.parametrize("uidplus", [True, False], ids=["uidplus", "no-uidplus"])
def test_without_move_copies_then_removes_the_original(
    imap_mailbox: DovecotServer, uidplus: bool
) -> None:
    uids = fill(imap_mailbox)
    with ImapSource(imap_mailbox.imap_settings(processed_folder="已处理")) as source:
        # As a server without MOVE (and perhaps without UIDPLUS) would announce itself.
        source.capabilities = source.capabilities - {"MOVE"} - (set() if uidplus else {"UIDPLUS"})
        first, *rest = source.fetch_new()
        source.mark_processed(first.source_key)
        source.mark_processed(first.source_key)  # again: already gone, nothing copied twice
        assert [m.source_key for m in source.fetch_new()] == [m.source_key for m in rest]

    assert imap_mailbox.count("已处理") == 1
    if uidplus:  # UID EXPUNGE removed just that one
        assert imap_mailbox.count("INBOX") == 2
    else:  # no UID EXPUNGE: the original stays flagged \Deleted, and fetch_new skips it
        assert imap_mailbox.count("INBOX") == 3
        assert "\\Deleted" in imap_mailbox.flags()[uids[0]]


def test_processed_folder_cannot_be_the_folder_itself(imap_mailbox: DovecotServer) -> None:
    with pytest.raises(MailboxError, match="不能就是收件文件夹"):
        ImapSource(imap_mailbox.imap_settings(processed_folder="INBOX"))


# --- two runs at once, stale keys -------------------------------------------------------------


def test_two_runs_flagging_the_same_messages(imap_mailbox: DovecotServer) -> None:
    uids = fill(imap_mailbox)
    settings = imap_mailbox.imap_settings()
    with ImapSource(settings) as first, ImapSource(settings) as second:
        a = list(first.fetch_new())
        b = list(second.fetch_new())
        assert [m.source_key for m in a] == [m.source_key for m in b]
        for one, other in zip(a, b, strict=True):
            first.mark_processed(one.source_key)
            second.mark_processed(other.source_key)  # already flagged: no error
        assert list(first.fetch_new()) == list(second.fetch_new()) == []
    assert imap_mailbox.flags() == {uid: PROCESSED for uid in uids}


def test_two_runs_moving_interleaved(
    imap_mailbox: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    fill(imap_mailbox)
    settings = imap_mailbox.imap_settings(processed_folder="已处理")
    caplog.set_level(logging.INFO, logger="tasks.mail.imap")
    with ImapSource(settings) as first, ImapSource(settings) as second:
        reading = first.fetch_new()
        one = next(reading)  # the first run has searched (all three) and read one
        taken_by_second = list(second.fetch_new())
        assert len(taken_by_second) == 3
        second.mark_processed(taken_by_second[1].source_key)  # moves the middle one away
        rest = list(reading)  # the first run goes on: the moved one is skipped, not an error
        assert [m.source_key for m in rest] == [taken_by_second[2].source_key]
        first.mark_processed(one.source_key)
        first.mark_processed(rest[0].source_key)
        for item in taken_by_second:  # the second run marks what the first already moved
            second.mark_processed(item.source_key)
    assert imap_mailbox.count("INBOX") == 0
    assert imap_mailbox.count("已处理") == 3  # each moved once, none lost
    assert "已不在（可能已被另一次运行处理），无需标记" in caplog.text


@pytest.mark.parametrize("processed", ["", "已处理"], ids=["flag", "move"])
def test_marking_a_message_that_is_gone_is_only_logged(
    imap_mailbox: DovecotServer, caplog: pytest.LogCaptureFixture, processed: str
) -> None:
    uid = imap_mailbox.append(message(1), ARRIVALS[0])
    caplog.set_level(logging.INFO, logger="tasks.mail.imap")
    with ImapSource(imap_mailbox.imap_settings(processed_folder=processed)) as source:
        (item,) = source.fetch_new()
        if processed:
            source.mark_processed(item.source_key)  # moved: this session knows it is gone
        else:
            imap_mailbox.clear()  # a user deleted and expunged it meanwhile
            assert list(source.fetch_new()) == []
        assert f"UID {uid} 已不在（可能已被另一次运行处理），无需标记" not in caplog.text
        source.mark_processed(item.source_key)
    assert f"UID {uid} 已不在（可能已被另一次运行处理），无需标记" in caplog.text
    assert imap_mailbox.count("INBOX") == 0
    if processed:
        assert imap_mailbox.count(processed) == 1


def test_key_from_another_uidvalidity_is_ignored(
    imap_mailbox: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    imap_mailbox.append(message(1), ARRIVALS[0], folder="收件")
    with ImapSource(imap_mailbox.imap_settings(folder="收件")) as source:
        (old,) = source.fetch_new()
    old_validity = imap_mailbox.uidvalidity("收件")
    imap_mailbox.clear()  # the folder is deleted and made again: a new UIDVALIDITY
    new_uid = imap_mailbox.append(message(2), ARRIVALS[1], folder="收件")
    assert imap_mailbox.uidvalidity("收件") != old_validity
    assert old.source_key.split(":")[1] == str(new_uid)  # same UID, another message

    caplog.set_level(logging.WARNING, logger="tasks.mail.imap")
    with ImapSource(imap_mailbox.imap_settings(folder="收件")) as source:
        source.mark_processed(old.source_key)
        assert [m.content for m in source.fetch_new()] == [message(2)]
    assert imap_mailbox.flags("收件") == {new_uid: set()}
    assert "UIDVALIDITY" in caplog.text


def test_malformed_key_is_a_bug(imap_mailbox: DovecotServer) -> None:
    with ImapSource(imap_mailbox.imap_settings()) as source, pytest.raises(ValueError):
        source.mark_processed("1700000000-4")


# --- connecting -------------------------------------------------------------------------------


def test_wrong_password_is_a_mailbox_error_in_chinese(imap_mailbox: DovecotServer) -> None:
    settings = imap_mailbox.imap_settings(password="wrong-password")
    with pytest.raises(MailboxError) as caught:
        ImapSource(settings)
    text = str(caught.value)
    assert isinstance(caught.value, TaskforceError)  # the CLI prints one line, no traceback
    assert text.startswith(
        f"无法登录收件邮箱 office@lingchuan.example.org（127.0.0.1:{imap_mailbox.port}）："
        "服务器答复 [AUTHENTICATIONFAILED]"
    )
    assert "wrong-password" not in text
    assert "\n" not in text


def test_non_ascii_password_logs_in(imap_mailbox: DovecotServer) -> None:
    from tests.imap_server import UTF8_PASSWORD, UTF8_USERNAME

    settings = imap_mailbox.imap_settings(username=UTF8_USERNAME, password=UTF8_PASSWORD)
    with ImapSource(settings) as source:
        assert list(source.fetch_new()) == []
    with pytest.raises(MailboxError, match="无法登录收件邮箱"):
        ImapSource(imap_mailbox.imap_settings(username=UTF8_USERNAME, password="专班密码"))


def test_nobody_listening_is_a_mailbox_error(imap_mailbox: DovecotServer) -> None:
    port = free_port()
    with pytest.raises(MailboxError, match=f"无法连接收件邮箱服务器 127.0.0.1:{port}：") as caught:
        ImapSource(imap_mailbox.imap_settings(port=port))
    assert "Connection refused" in str(caught.value)


def test_missing_folder_is_a_mailbox_error(imap_mailbox: DovecotServer) -> None:
    with pytest.raises(MailboxError, match="打不开文件夹 不存在的文件夹"):
        ImapSource(imap_mailbox.imap_settings(folder="不存在的文件夹"))


def test_close_logs_out(imap_mailbox: DovecotServer) -> None:
    source = ImapSource(imap_mailbox.imap_settings())
    with source:
        assert source._connection.state == "SELECTED"
    assert source._connection.state == "LOGOUT"
    source.close()  # twice: harmless
