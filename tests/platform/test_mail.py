"""The SMTP sender against a real aiosmtpd server: batches on one connection, refusals,
transient failures, dropped connections, login, settings."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from pydantic import SecretStr

from casebook.platform.mail import DeliveryStatus, MailSender, SmtpConfig
from casebook.platform.settings import Settings
from tests.platform.smtp_sink import SmtpSink


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    server = SmtpSink()
    await server.start()
    yield server
    await server.stop()


def message(to: str, subject: str = "Hello", body: str = "Hi there.") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Writer <writer@casebook.test>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="casebook.test")
    mail["List-Unsubscribe"] = "<https://casebook.test/u/abc>"
    mail.set_content(body)
    mail.add_alternative(f"<p>{body}</p>", subtype="html")
    return mail


def sender_for(sink: SmtpSink, **changes: object) -> MailSender:
    return MailSender(SmtpConfig(host="127.0.0.1", port=sink.port, timeout=5.0, **changes))  # type: ignore[arg-type]


async def test_a_batch_goes_out_in_order_over_one_connection(sink: SmtpSink) -> None:
    messages = [message(f"reader{i}@example.com", subject=f"Issue {i}") for i in range(5)]
    deliveries = await sender_for(sink).send_batch(messages)
    assert [d.status for d in deliveries] == [DeliveryStatus.SENT] * 5
    assert [d.message_id for d in deliveries] == [m["Message-ID"] for m in messages]
    received = await sink.wait_for(5)
    assert sink.connections == 1
    assert [r.rcpt_tos for r in received] == [[f"reader{i}@example.com"] for i in range(5)]
    assert all(r.mail_from == "writer@casebook.test" for r in received)
    first = received[0].message
    assert first["Subject"] == "Issue 0"
    assert first["List-Unsubscribe"] == "<https://casebook.test/u/abc>"
    html = first.get_body(preferencelist=("html",))
    assert html is not None and html.get_content().strip() == "<p>Hi there.</p>"


async def test_return_path_is_the_envelope_sender(sink: SmtpSink) -> None:
    mail = message("a@example.com")
    mail["Return-Path"] = "<bounces+42.sig@casebook.test>"
    assert (await sender_for(sink).send(mail)).status is DeliveryStatus.SENT
    received = await sink.wait_for(1)
    assert received[0].mail_from == "bounces+42.sig@casebook.test"


async def test_a_refused_recipient_is_rejected_and_the_batch_goes_on(sink: SmtpSink) -> None:
    sink.refuse["gone@example.com"] = "550 5.1.1 No such user"
    sink.refuse["busy@example.com"] = "451 4.3.0 Try again later"
    messages = [
        message("a@example.com"),
        message("gone@example.com"),
        message("busy@example.com"),
        message("b@example.com"),
    ]
    deliveries = await sender_for(sink).send_batch(messages)
    assert [d.status for d in deliveries] == [
        DeliveryStatus.SENT,
        DeliveryStatus.REJECTED,
        DeliveryStatus.DEFERRED,
        DeliveryStatus.SENT,
    ]
    assert deliveries[1].code == 550 and "No such user" in deliveries[1].reply
    assert deliveries[2].code == 451
    received = await sink.wait_for(2)
    assert [r.rcpt_tos for r in received] == [["a@example.com"], ["b@example.com"]]
    assert sink.connections == 1


async def test_a_dropped_connection_defers_the_rest(sink: SmtpSink) -> None:
    sink.drop_after = 2
    messages = [message(f"r{i}@example.com") for i in range(5)]
    deliveries = await sender_for(sink).send_batch(messages)
    assert [d.status for d in deliveries] == [DeliveryStatus.SENT] * 2 + [
        DeliveryStatus.DEFERRED
    ] * 3
    assert len(sink.received) == 2


async def test_no_server_defers_everything() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = MailSender(SmtpConfig(host="127.0.0.1", port=port, timeout=2.0))
    deliveries = await sender.send_batch([message("a@example.com"), message("b@example.com")])
    assert [d.status for d in deliveries] == [DeliveryStatus.DEFERRED] * 2
    assert all(d.code is None for d in deliveries)


async def test_login_is_used_when_configured(sink: SmtpSink) -> None:
    sink.require_login = ("mailer", "s3cret")
    refused = await sender_for(sink).send(message("a@example.com"))
    assert refused.status is DeliveryStatus.REJECTED  # 530 authentication required
    assert refused.code == 530
    sent = await sender_for(sink, user="mailer", password="s3cret").send(message("a@example.com"))
    assert sent.status is DeliveryStatus.SENT
    assert sink.logins == ["mailer"]
    assert len(await sink.wait_for(1)) == 1


async def test_malformed_messages_are_refused_before_sending(sink: SmtpSink) -> None:
    no_id = message("a@example.com")
    del no_id["Message-ID"]
    with pytest.raises(ValueError):
        await sender_for(sink).send_batch([message("b@example.com"), no_id])
    no_recipient = message("a@example.com")
    del no_recipient["To"]
    with pytest.raises(ValueError):
        await sender_for(sink).send(no_recipient)
    assert sink.connections == 0
    assert await sender_for(sink).send_batch([]) == []


def test_config_comes_from_casebook_smtp_settings() -> None:
    settings = Settings(
        smtp_host="mail.example.net",
        smtp_port=587,
        smtp_user="app",
        smtp_password=SecretStr("pw"),
        smtp_starttls=True,
    )
    config = MailSender.from_settings(settings).config
    assert (config.host, config.port, config.user, config.password, config.starttls) == (
        "mail.example.net",
        587,
        "app",
        "pw",
        True,
    )
    default = SmtpConfig.from_settings(Settings())
    assert (default.host, default.port, default.user, default.starttls) == (
        "localhost",
        25,
        "",
        False,
    )
