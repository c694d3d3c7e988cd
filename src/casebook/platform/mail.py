"""Outgoing e-mail over real SMTP (aiosmtplib), one message or a batch on one connection.

Configured by `CASEBOOK_SMTP_HOST/PORT/USER/PASSWORD/STARTTLS` (default: localhost:25, no login,
no STARTTLS). Callers build `email.message.EmailMessage`s (headers, text and HTML parts) and hand
them to a `MailSender`:

    sender = MailSender.from_settings(platform.settings)
    results = await sender.send_batch(messages)     # one SMTP session for the whole batch

Every message gets one `Delivery` saying what the relay answered for it:

- `sent`: the relay accepted it (250 after DATA);
- `rejected`: a permanent refusal (5xx to MAIL FROM, RCPT TO or DATA) — the address or message
  will never be taken, so callers treat it as a hard bounce and stop mailing the address;
- `deferred`: a transient refusal (4xx), or the connection failed before the message was tried —
  the caller may try the message again later.

The envelope sender (where bounces go) is the message's `Return-Path` header when it has one
(a VERP address identifying the message, say), else its From address.

A batch reuses one connection (EHLO, optional STARTTLS and AUTH once), which is what makes
sending thousands of newsletters cheap: per message only MAIL/RCPT/DATA round trips remain. After
a refused message the client sends RSET and goes on with the next one. If the connection drops,
the remaining messages come back `deferred` and the batch does not raise: the caller records
what went out and retries the rest. Cost: O(n) round trips for n messages on one TCP connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from enum import StrEnum

import aiosmtplib
import structlog

from casebook.platform.settings import Settings

log = structlog.get_logger("casebook.mail")

DEFAULT_TIMEOUT = 30.0


class DeliveryStatus(StrEnum):
    SENT = "sent"
    REJECTED = "rejected"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class Delivery:
    """What the relay answered for one message."""

    message_id: str
    recipients: tuple[str, ...]
    status: DeliveryStatus
    code: int | None = None
    """The SMTP reply code that decided the status (None when no reply was received)."""
    reply: str = ""


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=password,
            starttls=settings.smtp_starttls,
        )


def _recipients(message: EmailMessage) -> tuple[str, ...]:
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    return tuple(address for _, address in getaddresses(fields) if address)


class MailSender:
    """Sends `EmailMessage`s through one SMTP relay. Safe to share: each call opens its own
    connection."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSender:
        return cls(SmtpConfig.from_settings(settings))

    def _client(self) -> aiosmtplib.SMTP:
        config = self.config
        return aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            username=config.user or None,
            password=config.password or None,
            # False means never upgrade: a relay on localhost usually offers no certificate.
            start_tls=config.starttls,
            timeout=config.timeout,
        )

    async def send(self, message: EmailMessage) -> Delivery:
        """Send one message; see `send_batch`."""
        return (await self.send_batch([message]))[0]

    async def send_batch(self, messages: Sequence[EmailMessage]) -> list[Delivery]:
        """Send `messages` in order over one connection; one `Delivery` per message, in order.

        Every message needs a `Message-ID`, a `From` and at least one recipient (ValueError
        otherwise, before anything is sent). Never raises for what the relay or network does.
        """
        for message in messages:
            if not message["Message-ID"] or not message["From"] or not _recipients(message):
                raise ValueError("every message needs Message-ID, From and a recipient")
        results: list[Delivery] = []
        if not messages:
            return results
        client = self._client()
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("smtp connect failed", host=self.config.host, error=str(exc))
            return [self._deferred(m, str(exc)) for m in messages]
        try:
            for index, message in enumerate(messages):
                try:
                    results.append(await self._send_one(client, message))
                except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
                    # The session is gone: what was not tried yet waits for the next attempt.
                    results.extend(self._deferred(m, "connection lost") for m in messages[index:])
                    break
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        return results

    async def _send_one(self, client: aiosmtplib.SMTP, message: EmailMessage) -> Delivery:
        message_id = str(message["Message-ID"])
        recipients = _recipients(message)
        envelope_sender = parseaddr(str(message["Return-Path"] or ""))[1] or None
        try:
            _refused, reply = await client.send_message(message, sender=envelope_sender)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            code = exc.recipients[0].code if exc.recipients else None
            reply = exc.recipients[0].message if exc.recipients else str(exc)
            return Delivery(message_id, recipients, _status(code), code, reply)
        except aiosmtplib.SMTPServerDisconnected:
            raise
        except aiosmtplib.SMTPResponseException as exc:
            return Delivery(message_id, recipients, _status(exc.code), exc.code, exc.message)
        return Delivery(message_id, recipients, DeliveryStatus.SENT, 250, reply)

    @staticmethod
    def _deferred(message: EmailMessage, reason: str) -> Delivery:
        return Delivery(
            str(message["Message-ID"]), _recipients(message), DeliveryStatus.DEFERRED, None, reason
        )


def _status(code: int | None) -> DeliveryStatus:
    """5xx is permanent (RFC 5321 §4.2.1); anything else the relay said is worth a retry."""
    if code is not None and 500 <= code < 600:
        return DeliveryStatus.REJECTED
    return DeliveryStatus.DEFERRED
