"""Newsletters over real SMTP: batches, List-Unsubscribe one-click (RFC 8058), preferences,
paywall in e-mail, bounces (SMTP refusals and DSNs), and no duplicates under concurrent runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.context import Platform
from casebook.platform.mail import MailSender
from casebook.systems.substack import newsletter
from casebook.systems.substack.models import Delivery, Post
from casebook.systems.substack.runtime import SEND_JOB, Substack
from tests.platform.smtp_sink import SmtpSink
from tests.systems.substack.conftest import API, Account, subscribe, write_post

email = pytest.mark.feature("substack", "email-delivery")


async def readers(
    client: httpx.AsyncClient,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
    count: int,
) -> list[Account]:
    accounts = [await new_account() for _ in range(count)]
    for account in accounts:
        await subscribe(client, account, publication["id"])
    return accounts


async def publish_and_send(
    client: httpx.AsyncClient, platform: Platform, writer: Account, pub_id: str, **body: Any
) -> dict[str, Any]:
    created = await write_post(client, writer, pub_id, publish="now", **body)
    assert created.status_code == 201, created.text
    post: dict[str, Any] = created.json()
    await platform.jobs.wait(f"{SEND_JOB}:{post['id']}")
    return post


@email
async def test_each_subscriber_gets_the_post_once_in_batches_with_unsubscribe_headers(
    client: httpx.AsyncClient,
    platform: Platform,
    state: Substack,
    sink: SmtpSink,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    state.batch_size = 2
    subscribers = await readers(client, new_account, publication, 5)
    post = await publish_and_send(client, platform, writer, publication["id"], title="Issue 1")
    received = await sink.wait_for(5)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(a.email for a in subscribers)
    assert sink.connections == 3  # 5 messages, 2 per SMTP session
    message = received[0].message
    assert message["Subject"] == "Issue 1"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received[0].mail_from.startswith("bounces+")
    one_click = message["List-Unsubscribe"].strip("<>")
    assert one_click.startswith(f"{state.base_url}/api/substack/unsubscribe/")
    async with platform.db.session() as session:
        row = await session.get(Post, int(post["id"]))
        assert row is not None and row.email_status == "done"
    # The mail client's one-click POST ends that subscription, and only that one.
    target = next(a for a in subscribers if a.email == received[0].rcpt_tos[0])
    path = one_click.removeprefix(state.base_url)
    done = await client.post(path, content="List-Unsubscribe=One-Click")
    assert done.status_code == 200 and done.json() == {"unsubscribed": True, "changed": True}
    again = await client.post(path, content="List-Unsubscribe=One-Click")
    assert again.json()["changed"] is False
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert (await client.post(forged)).status_code == 404
    pub = await client.get(f"{API}/publications/{publication['id']}")
    assert pub.json()["subscriber_count"] == 4
    await publish_and_send(client, platform, writer, publication["id"], title="Issue 2")
    second = (await sink.wait_for(9))[5:]
    assert len(second) == 4 and target.email not in [r.rcpt_tos[0] for r in second]


@email
async def test_readers_who_turn_email_off_read_on_the_web_only(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: SmtpSink,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    quiet, loud = await readers(client, new_account, publication, 2)
    changed = await client.patch(
        f"{API}/publications/{publication['id']}/subscription",
        json={"email_enabled": False},
        headers=quiet.headers,
    )
    assert changed.status_code == 200 and changed.json()["email_enabled"] is False
    await publish_and_send(client, platform, writer, publication["id"])
    assert [r.rcpt_tos for r in await sink.wait_for(1)] == [[loud.email]]


@pytest.mark.feature("substack", "paid-subscriptions")
@email
async def test_paid_posts_mail_the_preview_to_free_readers(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: SmtpSink,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
) -> None:
    await subscribe(client, reader, publication["id"])
    body = "Free intro.\n<!-- paywall -->\n\nThe paid secret."
    await publish_and_send(client, platform, writer, publication["id"], body=body, audience="paid")
    message = (await sink.wait_for(1))[0].message
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Free intro." in html and "paid secret" not in html
    assert "paid secret" not in text and "for paid subscribers" in text


@email
async def test_refused_and_bounced_addresses_are_not_mailed_again(
    client: httpx.AsyncClient,
    platform: Platform,
    state: Substack,
    sink: SmtpSink,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    refused, bouncing, fine = await readers(client, new_account, publication, 3)
    sink.refuse[refused.email] = "550 5.1.1 No such user"
    await publish_and_send(client, platform, writer, publication["id"], title="One")
    first = await sink.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in first) == sorted([bouncing.email, fine.email])
    # The relay accepted the bouncing reader's mail, then its mailbox sent a DSN back.
    to_bounce = next(r for r in first if r.rcpt_tos == [bouncing.email])
    dsn = (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {to_bounce.mail_from}\r\n"
        "Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mailbox does not exist.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {bouncing.email}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--B--\r\n"
    )
    reported = await client.post(f"{API}/bounces", content=dsn.encode())
    assert reported.status_code == 200, reported.text
    assert reported.json()["hard"] is True and reported.json()["status"] == "5.1.1"
    forged = dsn.replace(to_bounce.mail_from, "bounces+1.AAAAAAAAAAAAAAAAAAAAAA@x.test")
    assert (await client.post(f"{API}/bounces", content=forged.encode())).status_code == 422
    assert (await client.post(f"{API}/bounces", content=b"hello")).status_code == 422
    pub = await client.get(f"{API}/publications/{publication['id']}")
    assert pub.json()["subscriber_count"] == 1
    await publish_and_send(client, platform, writer, publication["id"], title="Two")
    assert [r.rcpt_tos for r in (await sink.wait_for(3))[2:]] == [[fine.email]]
    async with platform.db.session() as session:
        statuses = set(await session.scalars(select(Delivery.status)))
    assert statuses == {"sent", "rejected", "bounced"}


@email
async def test_concurrent_send_runs_mail_each_subscriber_exactly_once(
    client: httpx.AsyncClient,
    platform: Platform,
    state: Substack,
    sink: SmtpSink,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    state.batch_size = 3
    subscribers = await readers(client, new_account, publication, 8)
    created = await write_post(client, writer, publication["id"], publish="now")
    post_id = int(created.json()["id"])
    reports = await asyncio.gather(*(newsletter.send_post(platform, post_id) for _ in range(4)))
    await platform.jobs.wait(f"{SEND_JOB}:{post_id}")
    received = await sink.wait_for(8)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(a.email for a in subscribers)
    assert len(received) == 8
    assert sum(r.sent for r in reports) <= 8


@email
async def test_a_relay_outage_defers_and_the_retry_delivers(
    client: httpx.AsyncClient,
    platform: Platform,
    state: Substack,
    sink: SmtpSink,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
) -> None:
    await subscribe(client, reader, publication["id"])
    real_port = state.sender.config.port
    state.sender = MailSender(replace(state.sender.config, port=1))  # nothing listens there
    created = await write_post(client, writer, publication["id"], publish="now", send_email=False)
    post_id = int(created.json()["id"])
    async with platform.db.session() as session:
        row = await session.get(Post, post_id)
        assert row is not None
        row.email_status = "pending"
    report = await newsletter.send_post(platform, post_id)
    assert (report.sent, report.deferred) == (0, 1)
    state.sender = MailSender(replace(state.sender.config, port=real_port))
    report = await newsletter.send_post(platform, post_id)
    assert (report.sent, report.deferred) == (1, 0)
    assert [r.rcpt_tos for r in await sink.wait_for(1)] == [[reader.email]]
