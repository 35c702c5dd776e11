"""Was a reply really sent from the unit's mail domain? The verdict, from the raw message.

A From address is trivially forged, so a reply without our signed form counts for a unit only
when its sender is authenticated (issue 17 §2). Two ways, in this order:

1. ``Authentication-Results`` (RFC 8601) stamped by the office's own receiving server, named by
   its authserv-id (``TASKFORCE_INTAKE_TRUSTED_AUTHSERV_ID``). Headers with any other id are
   ignored, as RFC 8601 §5 requires; of several with the trusted id only the topmost (the last
   one added, by the office's server) is read. The office's server must delete incoming headers
   that carry its own id (Postfix with OpenDMARC/OpenDKIM, rspamd do), or a sender could write
   one. ``dkim=pass`` with header.d (or header.i's domain) equal to the From domain, or
   ``dmarc=pass`` with header.from equal to it, authenticates.
2. Without a trusted id: the message's own DKIM signatures, verified with dkimpy against DNS.
   Only signatures whose d= is the From domain are tried (at most ``MAX_SIGNATURES``), each DNS
   lookup bounded by ``timeout``; a lookup that fails leaves the reply unverified.

Alignment is strict: the signing domain must equal the From domain, not merely share a parent
(without the public-suffix list a parent such as gov.cn cannot be told from an organisation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Literal

import authres
import dkim
import dkim.dnsplug
from dkim.util import InvalidTagValueList, parse_tag_value

from tasks.mail.sources import header_block

logger = logging.getLogger(__name__)

Method = Literal["authentication-results", "dkim", "none"]
# dkimpy's DNS hook: (name as bytes, timeout=seconds) → the TXT record as bytes, or None.
DnsFunc = Callable[..., bytes | None]
MAX_SIGNATURES = 3  # DKIM signatures tried per message: each may cost one DNS lookup
HEADER_BYTES = 1_000_000  # a header block longer than this is cut: its first fields are read
DKIM_MAX_BYTES = 10_000_000
DNS_TIMEOUT = 3.0  # seconds per lookup; the resolver gives up after this, never hangs intake


def _system_txt(name: bytes, timeout: float = DNS_TIMEOUT) -> bytes | None:
    """The system resolver (dnspython), as dkimpy calls it; tests replace ``txt_lookup``."""
    result: bytes | None = dkim.dnsplug.get_txt(name, timeout=timeout)
    return result


txt_lookup: DnsFunc = _system_txt  # the one place DNS is reached; a test may give the key itself


@dataclass(frozen=True)
class SenderAuthentication:
    """Whether the From domain is authenticated, how, and in the office's words why (not)."""

    verified: bool
    method: Method
    domain: str  # the From domain that was checked
    detail: str  # Chinese, for the office's review list

    def as_fields(self) -> dict[str, Any]:
        return asdict(self)


def authenticate_sender(
    raw: bytes,
    sender: str,
    *,
    trusted_authserv_id: str,
    dnsfunc: DnsFunc | None = None,
    timeout: float = DNS_TIMEOUT,
) -> SenderAuthentication:
    """The verdict on one message whose From address is ``sender`` (a unit's mailbox)."""
    domain = sender.rpartition("@")[2].strip().lower()
    # The header block alone: parsing the whole message would cost ten times its size.
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw[:HEADER_BYTES]))
    if not domain:
        return SenderAuthentication(False, "none", "", "发件地址无法识别，无法验证")
    if len(headers.get_all("From") or []) != 1:
        return SenderAuthentication(
            False, "none", domain, "邮件含多个或没有发件人（From）字段，无法确认发件人"
        )
    trusted = trusted_authserv_id.strip().lower()
    if trusted:
        return _from_authentication_results(headers, trusted, domain)
    if len(raw) > DKIM_MAX_BYTES:
        # dkimpy canonicalises the whole body in memory, several copies of it.
        return SenderAuthentication(
            False, "dkim", domain,
            f"邮件大于 {DKIM_MAX_BYTES // 1_000_000} MB，未作 DKIM 签名验证，请人工核实发件人",
        )  # fmt: skip
    return _from_dkim(raw, domain, dnsfunc or txt_lookup, timeout)


def _authserv_id(value: str) -> str:
    """The first token of a header value: its authserv-id, read even where the rest is bad."""
    first = value.strip().split(";", 1)[0].split()
    return first[0].lower() if first else ""


def _from_authentication_results(
    headers: Message, trusted: str, domain: str
) -> SenderAuthentication:
    values = [" ".join(str(v).split()) for v in headers.get_all("Authentication-Results") or []]
    topmost = next((v for v in values if _authserv_id(v) == trusted), None)
    if topmost is None:
        return SenderAuthentication(
            False,
            "none",
            domain,
            f"收件服务器（{trusted}）未出具发件人验证结果，发件人未经验证",
        )
    try:
        header = authres.AuthenticationResultsHeader.parse_value(topmost)
    except authres.AuthResError as exc:
        logger.info("%s 的 Authentication-Results 无法解读：%s", trusted, exc)
        return SenderAuthentication(
            False,
            "authentication-results",
            domain,
            f"收件服务器（{trusted}）的验证结果格式无法识别，发件人未经验证",
        )
    seen: list[str] = []
    for result in header.results:
        method, verdict = str(result.method).lower(), str(result.result).lower()
        signer = _aligned_domain(result, method)
        seen.append(f"{method}={verdict}" + (f"（{signer}）" if signer else ""))
        if verdict == "pass" and signer == domain:
            return SenderAuthentication(
                True,
                "authentication-results",
                domain,
                f"收件服务器（{trusted}）验证通过：{method.upper()} 签名域为 {domain}",
            )
    found = "，".join(seen) or "无验证结果"
    return SenderAuthentication(
        False,
        "authentication-results",
        domain,
        f"收件服务器（{trusted}）未能验证该邮件来自 {domain}（{found}），发件人未经验证",
    )


def _aligned_domain(result: Any, method: str) -> str:
    """The domain a dkim (header.d, else header.i) or dmarc (header.from) result speaks for."""
    wanted = {"dkim": ("d", "i"), "dmarc": ("from",)}.get(method, ())
    found = {
        str(p.name).lower(): str(p.value)
        for p in getattr(result, "properties", ())
        if str(p.type).lower() == "header"
    }
    for name in wanted:
        if found.get(name):
            value = found[name].rpartition("@")[2].strip().lower()[:255]
            return "".join(ch for ch in value if ch.isprintable())  # shown to the office
    return ""


def _from_dkim(raw: bytes, domain: str, dnsfunc: DnsFunc, timeout: float) -> SenderAuthentication:
    """The message's own DKIM signatures for the From domain, verified against DNS."""
    try:
        verifier = dkim.DKIM(raw, timeout=timeout)
    except Exception as exc:  # dkimpy parses untrusted bytes: any failure means "unverified"
        return _unsigned(domain, f"邮件无法按 DKIM 规则解析（{type(exc).__name__}）")
    signatures = [v for k, v in verifier.headers if k.lower() == b"dkim-signature"]
    tried: list[str] = []
    for index, value in enumerate(signatures):
        if _signature_domain(value) != domain:
            continue
        if len(tried) >= MAX_SIGNATURES:
            break
        try:
            if verifier.verify(idx=index, dnsfunc=dnsfunc):
                return SenderAuthentication(
                    True, "dkim", domain, f"DKIM 签名验证通过：签名域为 {domain}"
                )
            tried.append("签名与邮件内容不符")
        except dkim.DnsTimeoutError:
            tried.append("查询签名公钥超时")
        except Exception as exc:  # a bad key, a bad signature or DNS down: never a crash
            tried.append(f"无法验证（{type(exc).__name__}）")
    if not tried:
        return _unsigned(domain, f"邮件没有 {domain} 的 DKIM 签名")
    return SenderAuthentication(
        False, "dkim", domain, f"{domain} 的 DKIM 签名未通过验证（{'；'.join(tried)}）"
    )


def _unsigned(domain: str, why: str) -> SenderAuthentication:
    return SenderAuthentication(False, "none", domain, f"{why}，发件人未经验证")


def _signature_domain(value: bytes) -> str:
    """d= of a DKIM-Signature header value, lower case; "" when it cannot be read."""
    try:
        tags = parse_tag_value(b"".join(value.split()))
    except InvalidTagValueList:  # a malformed signature is simply not one of the unit's
        return ""
    return tags.get(b"d", b"").decode("ascii", "replace").strip().lower()
