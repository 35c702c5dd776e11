"""Mail delivery over aiosmtplib: a batch over a few persistent connections, per-mail outcomes.

``send_batch`` never raises for a delivery problem; every mail gets a ``DeliveryOutcome``:

- ``sent``: the server answered 250 to DATA (``reply`` holds that answer). Recipients refused
  while at least one was accepted are listed in ``refused`` (aiosmtplib returns them instead of
  raising); they are not retried, the mail is not sent twice for them.
- ``failed``: the server refused the mail for good (5xx to MAIL, RCPT of every recipient, or
  DATA; an address that cannot go on an SMTP command line). Not retried.
- ``pending``: a transient failure (refused or lost connection, timeout, 4xx) that still failed
  after ``max_attempts``, or a mail never tried because the server could not be reached or
  refused the connection itself (greeting, STARTTLS, login): a later run tries again.

A failure that is ours, not the recipient's, stops the batch: the sender setting (empty or not
an address, or refused with a 5xx to MAIL FROM), a login refused (535), TLS that cannot be set
up, or a server that refuses us outright. Every mail not yet settled is then ``pending`` with
``stop`` naming the cause (``LOCAL_CAUSES``); ``unreachable`` marks the mails left when the server
could not be reached at all. Nothing of that is the mail's fault: once the setting or the server
is right, the next run sends them.

Retries within a batch: a failure of the mail (4xx, connection lost during the transaction) puts
it back in the queue after ``backoff_seconds * 2**(n-1)`` while the worker goes on with other
mails; a failure to connect makes the worker wait the same backoff and retry the connection, and
once a worker fails to connect ``max_attempts`` times in a row the batch stops and every mail not
yet settled becomes ``pending``. Hammering a server that is down helps nobody.

The envelope sender is ``smtp.sender`` (bounces go there), the envelope recipients are
``mail.recipients``; headers are the caller's. A connection the server has closed (idle
timeout, messages-per-connection limit) is replaced before the next mail when the close has
already arrived; otherwise that mail's attempt fails as a lost connection and is retried.

The one window for a duplicate: the server accepted DATA but its 250 never arrived (timeout or
disconnect after the final dot). The mail is then retried; its Message-ID, derived from the
idempotency key by ``message_id_for``, lets the receiving side drop the second copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import parseaddr
from typing import Literal

import aiosmtplib

from config.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecordingFailed,
    TransientDeliveryError,
)
from config.settings import SmtpSettings

logger = logging.getLogger(__name__)

DeliveryStatus = Literal["sent", "failed", "pending"]

# Why a batch stopped and left a mail pending ("" when it did not):
# sender      the sender setting is empty or invalid, or the server refused it (5xx to MAIL FROM)
# auth        the server refused our login (535), or wants one we cannot give
# tls         SSL/STARTTLS could not be set up (certificate, protocol, STARTTLS not offered)
# refused     the server refused us for good at the greeting or HELO (554 …)
# attachment  a file the mail attaches is missing or unreadable (not sent, see build_batch)
# unreachable the server could not be reached, again and again: not ours, but not the mail's
StopCause = Literal["", "sender", "auth", "tls", "refused", "attachment", "unreachable"]
# Causes on our side: fixing a setting or a file sends the mails, they are not the recipient's
# failures and must not count towards giving a mail up.
LOCAL_CAUSES: frozenset[str] = frozenset({"sender", "auth", "tls", "refused", "attachment"})


@dataclass(frozen=True)
class OutgoingMail:
    """One fully built message (From, To, Message-ID set by the caller) and its envelope."""

    key: str  # the outbox idempotency key
    # Serialised bytes (what the outbox stores when a mail is queued) go out as they are; a
    # compat32 Message builds ~10x faster for CJK headers than an EmailMessage.
    message: EmailMessage | Message | bytes
    recipients: tuple[str, ...]  # envelope recipients (To + Cc + Bcc)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one mail of a batch."""

    key: str
    status: DeliveryStatus
    attempts: int
    reply: str = ""  # the server's last answer: "250 OK queued as …" or "550 5.1.1 …"
    error: str = ""
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> reply, partial refusals
    stop: StopCause = ""  # pending because the batch stopped, and why

    @property
    def local(self) -> bool:
        """Left pending for a reason of ours (a setting, a file), not the recipient's."""
        return self.stop in LOCAL_CAUSES


def sender_problem(sender: str) -> str:
    """What is wrong with the sender setting, in Chinese ("" when it is a usable address).

    An empty sender made every mail fail to build (no Message-ID domain) and an address with
    spaces fails on MAIL FROM: both are a setting to fix, not a mail to give up.
    """
    value = sender.strip()
    if not value:
        return "为空"
    _name, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(c.isspace() or c in "<>@" for c in local + domain):
        return f"“{value}”不是有效的邮件地址"
    return ""


def stop_cause(exc: BaseException, error: DeliveryError) -> StopCause:
    """The local cause behind an error that must stop the batch, or "" for the mail's own."""
    message = str(exc)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return "auth"
    if isinstance(exc, ssl.SSLError) or "STARTTLS" in message.upper():
        return "tls"
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        if exc.code in (530, 534, 538):  # authentication required (or stronger) before MAIL
            return "auth"
        # 552 is the message's size, the one 5xx to MAIL FROM about the mail, not about us.
        return "sender" if 500 <= exc.code < 600 and exc.code != 552 else ""
    if not error.connection or not isinstance(error, PermanentDeliveryError):
        return ""
    if "AUTH" in message.upper():  # no usable AUTH method for the username we were given
        return "auth"
    return "refused"


def message_id_for(key: str, domain: str) -> str:
    """A Message-ID that depends only on the idempotency key, so a duplicate can be recognised."""
    domain = domain.strip().strip("<>@")
    if not domain:
        raise ValueError("message_id_for needs a domain")
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def classify_error(exc: BaseException, *, connecting: bool = False) -> DeliveryError:
    """Turn an aiosmtplib or socket error into a transient or permanent ``DeliveryError``."""
    name = type(exc).__name__
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        # Every recipient refused: worth another try if any refusal was temporary.
        replies = "; ".join(f"<{r.recipient}> {r.code} {r.message}" for r in exc.recipients)
        codes = [r.code for r in exc.recipients]
        temporary = [c for c in codes if 400 <= c < 500]
        kind = TransientDeliveryError if temporary else PermanentDeliveryError
        code = temporary[0] if temporary else (codes[0] if codes else None)
        return kind(f"{name}: {replies}", code=code, reply=replies, connection=connecting)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reply = f"{exc.code} {exc.message}"
        # SMTPConnectResponseError (a bad greeting) is also an SMTPResponseException.
        connection = connecting or isinstance(
            exc,
            aiosmtplib.SMTPConnectError
            | aiosmtplib.SMTPHeloError
            | aiosmtplib.SMTPAuthenticationError,
        )
        # Codes outside 4xx/5xx (a garbled reply, -1) are treated as a hiccup, like a lost line.
        kind = PermanentDeliveryError if 500 <= exc.code < 600 else TransientDeliveryError
        return kind(f"{name}: {reply}", code=exc.code, reply=reply, connection=connection)
    if isinstance(exc, ssl.SSLError):
        # A certificate or protocol mismatch does not heal by itself (ssl.SSLError is an OSError).
        return PermanentDeliveryError(f"{name}: {exc}", connection=True)
    if isinstance(exc, aiosmtplib.SMTPConnectError):  # refused, unreachable, no greeting in time
        return TransientDeliveryError(f"{name}: {exc}", connection=True)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
        return TransientDeliveryError(f"{name}: {exc}", connection=connecting)
    if isinstance(exc, TimeoutError | OSError):
        return TransientDeliveryError(f"{name}: {exc}", connection=connecting)
    # SMTPNotSupported (STARTTLS or SMTPUTF8 missing), other SMTPException (no usable AUTH
    # method), ValueError (an address with spaces or brackets, no From): retrying cannot help.
    return PermanentDeliveryError(f"{name}: {exc}", connection=connecting)


def _backoff(smtp: SmtpSettings, failures: int) -> float:
    return smtp.backoff_seconds * 2 ** (failures - 1)


def _client(smtp: SmtpSettings) -> aiosmtplib.SMTP:
    username = smtp.username or None
    return aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        username=username,
        password=smtp.password.get_secret_value() if username else None,
        use_tls=smtp.ssl,
        # False, not None: None would upgrade whenever the server offers STARTTLS, and fail on
        # a self-signed local server the settings never asked to trust.
        start_tls=smtp.starttls,
        timeout=smtp.timeout,
    )


async def _close(client: aiosmtplib.SMTP) -> None:
    """Say QUIT politely; a server that is gone already does not matter any more."""
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        logger.debug("向邮件服务器发送 QUIT 失败（%s），直接关闭连接", exc)
    finally:
        client.close()


_STOP = -1  # queue sentinel: no mail left, the worker closes its connection and ends

# What became of an attempt to connect: the mail can go now, was settled, or must wait its turn.
_Connecting = Literal["connected", "settled", "again"]


@dataclass
class _Line:
    """One worker's connection, kept across mails, and its failures to connect."""

    client: aiosmtplib.SMTP | None = None
    failures: int = 0  # in a row; decides the wait and when to give up


class _Batch:
    """The shared state of one ``send_batch`` call: queue, outcomes, the stop switch."""

    def __init__(
        self,
        mails: Sequence[OutgoingMail],
        smtp: SmtpSettings,
        on_settled: Callable[[DeliveryOutcome], None] | None = None,
        recorded: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.mails = mails
        self.smtp = smtp
        self.on_settled = on_settled
        self.recorded = recorded
        self.outcomes: list[DeliveryOutcome | None] = [None] * len(mails)
        self.attempts = [0] * len(mails)
        self.left = len(mails)
        self.workers = min(smtp.concurrency, len(mails))
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.retries: dict[int, asyncio.TimerHandle] = {}
        self.stopped: DeliveryError | None = None
        self.cause: StopCause = ""

    async def run(self) -> list[DeliveryOutcome]:
        for index in range(len(self.mails)):
            self.queue.put_nowait(index)
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self.workers):
                    group.create_task(self.worker())
        except BaseExceptionGroup as raised:
            # Every connection waiting on the recorder gets its failure: raise it once.
            failures = [e for e in raised.exceptions if isinstance(e, RecordingFailed)]
            if failures and len(failures) == len(raised.exceptions):
                raise failures[0] from None
            raise
        return [outcome for outcome in self.outcomes if outcome is not None]

    def settle(
        self,
        index: int,
        status: DeliveryStatus,
        *,
        reply: str = "",
        error: str = "",
        refused: dict[str, str] | None = None,
        stop: StopCause = "",
    ) -> None:
        mail = self.mails[index]
        outcome = DeliveryOutcome(
            mail.key, status, self.attempts[index], reply, error, refused or {}, stop
        )
        self.outcomes[index] = outcome
        self.left -= 1
        if status == "sent":
            if logger.isEnabledFor(logging.DEBUG):  # the join is not free, 10,000 times
                logger.debug("%s：已发送至 %s：%s", mail.key, ", ".join(mail.recipients), reply)
        elif outcome.attempts == 0:  # never tried after a stop: one line in stop() says it all
            logger.debug("%s：待发送，本次未尝试", mail.key)
        else:
            logger.warning(
                "%s：尝试 %d 次后%s：%s",
                mail.key, outcome.attempts, "发送失败" if status == "failed" else "仍待发送", error,
            )  # fmt: skip
        if self.on_settled is not None:
            try:
                self.on_settled(outcome)
            except Exception:
                # A bookkeeping bug must not cut the batch in the middle of sending: the outcome
                # is still returned at the end, and the caller records what it has not yet.
                logger.exception("%s：记录发送结果的回调出错", mail.key)
        if self.left == 0:
            for _ in range(self.workers):
                self.queue.put_nowait(_STOP)

    def stop(self, error: DeliveryError, cause: StopCause) -> None:
        """The server cannot be used: settle every mail waiting for a retry as pending."""
        if self.stopped is not None:
            return
        self.stopped = error
        self.cause = cause
        for index, handle in list(self.retries.items()):
            handle.cancel()
            del self.retries[index]
            self.settle_stopped(index)
        from tasks.mail.failures import STOP_REASONS  # (failures imports this module)

        # After the waiting retries are settled: the pending ones, plus those no worker has
        # taken yet (settled as they are taken). Counted before, the mail that caused the stop
        # (already settled) was missing: "0 mail(s) left pending" while one was.
        pending = self.left + sum(1 for o in self.outcomes if o and o.status == "pending")
        logger.error(
            "邮件服务器 %s:%d 无法使用（%s），%d 封邮件仍待发送：%s",
            self.smtp.host, self.smtp.port, STOP_REASONS[cause], pending, error,
        )  # fmt: skip

    def settle_stopped(self, index: int) -> None:
        """A mail the stop left unsent: pending, with the stop's cause and reply."""
        assert self.stopped is not None
        self.settle(
            index,
            "pending",
            error=f"not sent: {self.stopped}",
            reply=self.stopped.reply,
            stop=self.cause,
        )

    def retry_later(self, index: int, error: DeliveryError) -> None:
        delay = _backoff(self.smtp, self.attempts[index])
        logger.info(
            "%s：第 %d 次发送失败（%s），%.2f 秒后重试",
            self.mails[index].key,
            self.attempts[index],
            error,
            delay,
        )

        def requeue() -> None:
            del self.retries[index]
            self.queue.put_nowait(index)

        self.retries[index] = asyncio.get_running_loop().call_later(delay, requeue)

    async def worker(self) -> None:
        line = _Line()
        try:
            while (index := await self.queue.get()) != _STOP:
                await self.deliver(index, line)
                if self.recorded is not None:
                    # The outcome is stored before this connection takes its next mail: a
                    # crash can then repeat only the mails inside an SMTP transaction.
                    await self.recorded()
        finally:
            if line.client is not None:
                await _close(line.client)

    async def deliver(self, index: int, line: _Line) -> None:
        """Send mail ``index`` over the worker's line, connecting first when it is down; return
        once the mail is settled or waiting for a retry."""
        while True:
            if self.stopped is not None:
                self.settle_stopped(index)
                return
            client = line.client
            if client is None or not client.is_connected:
                connected = await self.connect(index, line)
                if connected == "settled":
                    return
                if connected == "again":
                    continue
                assert line.client is not None  # connect() has just opened it
                client = line.client
            else:
                self.attempts[index] += 1
            await self.transmit(index, client)
            return

    async def connect(self, index: int, line: _Line) -> _Connecting:
        """(Re)open the worker's line for mail ``index``, after the backoff its failures call for;
        the attempt counts as the mail's. A line that cannot be opened settles the mail as
        pending when the server is unusable or the mail is out of attempts."""
        if line.failures:
            await asyncio.sleep(_backoff(self.smtp, line.failures))
            if self.stopped is not None:
                return "again"  # deliver() then settles the mail as pending
        self.attempts[index] += 1
        try:
            line.client = _client(self.smtp)
            await line.client.connect()
        except Exception as exc:
            line.client = None
            line.failures += 1
            error = _classify_logged(exc, key=self.mails[index].key, connecting=True)
            if isinstance(error, PermanentDeliveryError) or line.failures >= self.smtp.max_attempts:
                cause = stop_cause(exc, error) or "unreachable"
                self.settle(index, "pending", error=str(error), reply=error.reply, stop=cause)
                self.stop(error, cause)
                return "settled"
            if self.attempts[index] >= self.smtp.max_attempts:
                self.settle(index, "pending", error=str(error), reply=error.reply)
                return "settled"
            logger.info(
                "连接邮件服务器 %s:%d 失败（%s），%.2f 秒后重试",
                self.smtp.host,
                self.smtp.port,
                error,
                _backoff(self.smtp, line.failures),
            )
            return "again"
        line.failures = 0
        return "connected"

    async def transmit(self, index: int, client: aiosmtplib.SMTP) -> None:
        mail = self.mails[index]
        try:
            if isinstance(mail.message, bytes):
                refused, message = await send_bytes(
                    client, mail.message, sender=self.smtp.sender, recipients=list(mail.recipients)
                )
            else:
                refused, message = await client.send_message(
                    mail.message, sender=self.smtp.sender, recipients=list(mail.recipients)
                )
        except Exception as exc:
            error = _classify_logged(exc, key=mail.key)
            if not _expected(exc):
                # The conversation may be out of step after an error nobody foresaw.
                client.close()
            if cause := stop_cause(exc, error):  # our sender refused: no mail would go
                self.settle(index, "pending", error=str(error), reply=error.reply, stop=cause)
                self.stop(error, cause)
            elif isinstance(error, PermanentDeliveryError):
                self.settle(index, "failed", error=str(error), reply=error.reply)
            elif self.attempts[index] >= self.smtp.max_attempts:
                self.settle(index, "pending", error=str(error), reply=error.reply)
            else:
                self.retry_later(index, error)
            return
        self.settle(
            index,
            "sent",
            # A successful DATA is always 250; aiosmtplib hands back only the text.
            reply=f"250 {message}",
            refused={address: str(response) for address, response in refused.items()},
        )


async def send_bytes(
    client: aiosmtplib.SMTP, data: bytes, *, sender: str, recipients: list[str]
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """``send_message`` for a message already serialised: the same envelope and MAIL options
    (SMTPUTF8 for a non-ASCII address, BODY=8BITMIME when offered), without the email package."""
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not client.is_connected:
                raise
            await client.helo()
    options = []
    if not (sender.isascii() and all(r.isascii() for r in recipients)):
        if not client.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported(
                "An address containing non-ASCII characters was provided, but "
                "SMTPUTF8 is not supported by this server"
            )
        options.append("SMTPUTF8")
    if client.supports_extension("8BITMIME"):
        options.append("BODY=8BITMIME")
    return await client.sendmail(sender, recipients, data, mail_options=options)


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError | ValueError)


def _classify_logged(exc: BaseException, *, key: str, connecting: bool = False) -> DeliveryError:
    if not _expected(exc):
        # Not a delivery problem but a bug (a header that cannot be serialised …): keep its
        # traceback in the log; the mail fails, the rest of the batch goes on.
        logger.error("%s：发送时出现意外错误", key, exc_info=exc)
    return classify_error(exc, connecting=connecting)


async def send_batch(
    mails: Sequence[OutgoingMail],
    smtp: SmtpSettings,
    *,
    on_settled: Callable[[DeliveryOutcome], None] | None = None,
    recorded: Callable[[], Awaitable[None]] | None = None,
) -> list[DeliveryOutcome]:
    """Send mails over up to ``smtp.concurrency`` persistent connections; outcomes in order.

    ``on_settled`` is called in the event loop with each outcome as soon as the mail is settled,
    so that the caller can record it before the batch ends; it should be quick, and an exception
    from it is logged and does not stop the batch. ``recorded``, when given, is awaited by a
    connection after each mail it settled and before it takes the next: the caller returns
    once every outcome handed to ``on_settled`` so far is stored, or raises
    ``RecordingFailed``, which stops the batch and is raised from it.
    """
    if not mails:
        return []
    if problem := sender_problem(smtp.sender):
        # Nothing can go without a sender: no connection, every mail waits for the setting.
        logger.error(
            "发件地址设置（TASKFORCE_SMTP_SENDER）%s：%d 封邮件仍待发送", problem, len(mails)
        )
        error = f"not sent: smtp.sender {smtp.sender!r}: {problem}"
        held = [DeliveryOutcome(m.key, "pending", 0, error=error, stop="sender") for m in mails]
        if on_settled is not None:
            for outcome in held:
                on_settled(outcome)
        return held
    started = time.perf_counter()
    batch = _Batch(mails, smtp, on_settled, recorded)
    outcomes = await batch.run()
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("sent", "failed", "pending")}
    logger.info(
        "%d 封邮件经 %s:%d 发送，用时 %.2f 秒，%d 个连接：已发送 %d，失败 %d，待发送 %d",
        len(mails),
        smtp.host,
        smtp.port,
        time.perf_counter() - started,
        batch.workers,
        counts["sent"],
        counts["failed"],
        counts["pending"],
    )
    return outcomes
