"""The sender verdict on a reply (issue 17 §2): Authentication-Results and DKIM, table-driven.

The DKIM cases sign real messages with a key made here; DNS (which cannot be reached here) is
the one thing given, as a lookup that answers the test's own public key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import dkim
import pytest

from tasks.mail.authentication import SenderAuthentication, authenticate_sender
from tests.helpers import dkim_key_pair

UNIT = "nyj@lingchuan.example.org"
DOMAIN = "lingchuan.example.org"
TRUSTED = "mx.taskforce.lingchuan.example.org"
BODY = (
    b"From: nyj@lingchuan.example.org\r\nTo: taskforce-office@lingchuan.example.org\r\n"
    b"Subject: report\r\nMessage-ID: <1@lingchuan.example.org>\r\n\r\n"
    b"All done this month.\r\n"
)


def _with(*results: str, body: bytes = BODY) -> bytes:
    return b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results) + body


def _verdict(raw: bytes, trusted: str = TRUSTED) -> SenderAuthentication:
    return authenticate_sender(raw, UNIT, trusted_authserv_id=trusted, dnsfunc=_no_dns)


def _no_dns(name: bytes, timeout: float = 5) -> bytes | None:
    raise AssertionError(f"DNS asked for {name!r} on the Authentication-Results path")


@pytest.mark.parametrize(
    ("headers", "verified"),
    [
        ((f"{TRUSTED}; dkim=pass header.d={DOMAIN} header.s=s1",), True),
        ((f"{TRUSTED}; dkim=pass header.i=@{DOMAIN}",), True),
        ((f"{TRUSTED}; spf=pass smtp.mailfrom={UNIT}; dmarc=pass header.from={DOMAIN}",), True),
        ((f"{TRUSTED.upper()}; dkim=pass header.d={DOMAIN.upper()}",), True),  # case-blind
        ((f"{TRUSTED} 1; dkim=pass header.d={DOMAIN}",), True),  # with its version number
        ((f"{TRUSTED}; dkim=fail header.d={DOMAIN}",), False),
        ((f"{TRUSTED}; dkim=pass header.d=evil.invalid",), False),  # signed, by someone else
        ((f"{TRUSTED}; dkim=pass header.d=example.org",), False),  # a parent: strict alignment
        ((f"{TRUSTED}; spf=pass smtp.mailfrom={UNIT}",), False),  # SPF alone: not the From
        ((f"{TRUSTED}; dmarc=fail header.from={DOMAIN}",), False),
        ((f"{TRUSTED}; none",), False),
        (("mx.evil.invalid; dkim=pass header.d=" + DOMAIN,), False),  # another server's word
        ((f"{TRUSTED}.evil.invalid; dkim=pass header.d={DOMAIN}",), False),
        # The topmost with the trusted id is the office server's; one below it was written by
        # the sender (or an earlier hop) and is not read.
        ((f"{TRUSTED}; dkim=fail header.d={DOMAIN}", f"{TRUSTED}; dkim=pass header.d={DOMAIN}"),
         False),
        (("mx.evil.invalid; dkim=fail", f"{TRUSTED}; dkim=pass header.d={DOMAIN}"), True),
        ((f"{TRUSTED}; dkim=", f"{TRUSTED}; dkim=pass header.d={DOMAIN}"), False),  # malformed
        ((), False),
    ],
)  # fmt: skip
def test_authentication_results_of_the_trusted_server_only(
    headers: tuple[str, ...], verified: bool
) -> None:
    verdict = _verdict(_with(*headers))
    assert verdict.verified is verified, verdict
    assert verdict.domain == DOMAIN
    assert verdict.detail  # the office reads why


def test_a_malformed_header_is_read_as_unverified_never_a_crash() -> None:
    for junk in ("", ";;;", f"{TRUSTED}; dkim", f"{TRUSTED}; =pass", "\x00\x1b[31m", "(((("):
        assert not _verdict(_with(junk)).verified


def test_without_a_trusted_id_an_authentication_results_header_is_not_read() -> None:
    raw = _with(f"{TRUSTED}; dkim=pass header.d={DOMAIN}")
    verdict = authenticate_sender(raw, UNIT, trusted_authserv_id="", dnsfunc=lambda *a, **k: None)
    assert (verdict.verified, verdict.method) == (False, "none")


def test_two_from_headers_are_not_verified() -> None:
    raw = _with(
        f"{TRUSTED}; dkim=pass header.d={DOMAIN}",
        body=b"From: attacker@evil.invalid\r\n" + BODY,
    )
    assert not _verdict(raw).verified


# ---------------------------------------------------------------------------------------------
# DKIM against DNS


@pytest.fixture(scope="module")
def key() -> tuple[bytes, bytes]:
    """(private key PEM, the TXT record a unit would publish at sel._domainkey.<domain>)."""
    return dkim_key_pair()


def _signed(pem: bytes, domain: str = DOMAIN, body: bytes = BODY) -> bytes:
    signature = dkim.sign(
        body, b"sel", domain.encode(), pem, include_headers=[b"from", b"to", b"subject"]
    )
    return bytes(signature) + body


def _dns(record: bytes, asked: list[bytes]) -> Callable[..., bytes | None]:
    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        asked.append(name)
        return record if name.rstrip(b".") == b"sel._domainkey." + DOMAIN.encode() else None

    return lookup


def test_dkim_signed_by_the_units_domain_is_verified(key: tuple[bytes, bytes]) -> None:
    pem, record = key
    asked: list[bytes] = []
    verdict = authenticate_sender(
        _signed(pem), UNIT, trusted_authserv_id="", dnsfunc=_dns(record, asked)
    )
    assert (verdict.verified, verdict.method, verdict.domain) == (True, "dkim", DOMAIN)
    assert asked == [b"sel._domainkey.lingchuan.example.org."]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw.replace(b"All done", b"Nothing done"),  # the body changed
        lambda raw: raw.replace(b"Subject: report", b"Subject: forged"),  # a signed header
    ],
    ids=["body", "subject"],
)
def test_a_tampered_dkim_message_is_not_verified(
    key: tuple[bytes, bytes], tamper: Callable[[bytes], bytes]
) -> None:
    pem, record = key
    raw = tamper(_signed(pem))
    verdict = authenticate_sender(raw, UNIT, trusted_authserv_id="", dnsfunc=_dns(record, []))
    assert (verdict.verified, verdict.method) == (False, "dkim")


def test_a_signature_of_another_domain_is_not_even_looked_up(key: tuple[bytes, bytes]) -> None:
    pem, record = key
    asked: list[bytes] = []
    raw = _signed(pem, domain="evil.invalid")
    verdict = authenticate_sender(raw, UNIT, trusted_authserv_id="", dnsfunc=_dns(record, asked))
    assert (verdict.verified, asked) == (False, [])


@pytest.mark.parametrize(
    "failure",
    [dkim.DnsTimeoutError("timed out"), OSError("network unreachable"), ValueError("bad")],
    ids=["timeout", "oserror", "valueerror"],
)
def test_a_dns_failure_means_unverified_not_a_crash(
    key: tuple[bytes, bytes], failure: Exception
) -> None:
    pem, _ = key

    def broken(name: bytes, timeout: float = 5) -> bytes | None:
        raise failure

    verdict = authenticate_sender(_signed(pem), UNIT, trusted_authserv_id="", dnsfunc=broken)
    assert (verdict.verified, verdict.method) == (False, "dkim")


def test_no_published_key_means_unverified(key: tuple[bytes, bytes]) -> None:
    pem, _ = key
    verdict = authenticate_sender(
        _signed(pem), UNIT, trusted_authserv_id="", dnsfunc=lambda *a, **k: None
    )
    assert not verdict.verified


def test_the_system_resolver_answers_within_its_timeout(key: tuple[bytes, bytes]) -> None:
    """The production lookup (dnspython): whatever the network does, a bounded wait."""
    pem, _ = key
    started = time.monotonic()
    verdict = authenticate_sender(_signed(pem), UNIT, trusted_authserv_id="", timeout=1.0)
    assert not verdict.verified  # example.org publishes no key for this selector
    assert time.monotonic() - started < 5


def test_garbage_bytes_are_unverified() -> None:
    for raw in (b"", b"\x00\xff" * 50, b"DKIM-Signature: d=\r\n\r\n", b"From: " + UNIT.encode()):
        verdict = authenticate_sender(raw, UNIT, trusted_authserv_id="", dnsfunc=_no_dns)
        assert not verdict.verified
