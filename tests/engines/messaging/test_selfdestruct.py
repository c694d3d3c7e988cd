"""Self-destructing messages in secret chats (through the Telegram system, which mounts the
timer endpoint and the sweeping job): the timer starts when the recipient reads, the read path
hides an expired message at once, and the platform job erases its body, data and envelopes."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from casebook.engines.messaging import selfdestruct, service
from casebook.engines.messaging.models import (
    MessagingDevice,
    MessagingEnvelope,
    MessagingMessage,
)
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.context import Platform
from casebook.platform.db import utcnow

SYSTEM = "telegram"
API = f"/api/{SYSTEM}"


async def _user(client: httpx.AsyncClient) -> tuple[int, dict[str, str], int]:
    """A fresh user (id, auth headers, an E2E-capable device id)."""
    email = f"sd-{secrets.token_hex(5)}@example.com"
    password = secrets.token_urlsafe(12)
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "S"}
    )
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    device = await client.post(f"{API}/devices", json={"name": "phone"}, headers=headers)
    assert device.status_code == 201, device.text
    return int(registered.json()["id"]), headers, int(device.json()["id"])


@pytest.mark.feature("telegram", "secret-chats")
async def test_secret_chat_message_self_destructs_after_it_is_read(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    alice, alice_headers, alice_device = await _user(client)
    bob, bob_headers, bob_device = await _user(client)
    async with platform.db.session() as session:
        # The devices take part in E2E chats (their identity keys would come from the keys API).
        await session.execute(
            update(MessagingDevice)
            .where(MessagingDevice.id.in_([alice_device, bob_device]))
            .values(identity_key=b"k" * 32)
        )
        chat, _, _ = await service.create_direct(session, SYSTEM, alice, bob, e2e=True)
    timer_url = f"{API}/conversations/{chat.id}/self-destruct"
    assert (
        await client.put(timer_url, json={"ttl_seconds": 0}, headers=bob_headers)
    ).status_code == 422
    set_timer = await client.put(timer_url, json={"ttl_seconds": 60}, headers=bob_headers)
    assert set_timer.json() == {"conversation_id": str(chat.id), "ttl_seconds": 60}

    sent = await messenger(platform, SYSTEM).writer.send(
        SendRequest(
            conversation_id=chat.id,
            sender_id=alice,
            client_id="m1",
            kind="encrypted",
            sender_device_id=alice_device,
            envelopes={bob_device: b"ciphertext for bob"},
        )
    )
    seq = sent.message.seq
    history_url = f"{API}/conversations/{chat.id}/messages"

    # The sender reading its own message starts nothing; the recipient's read starts the timer.
    await client.post(
        f"{API}/conversations/{chat.id}/read", json={"read_seq": seq}, headers=alice_headers
    )
    page = (await client.get(history_url, headers=bob_headers)).json()["items"]
    assert page[0]["expires_at"] is None
    before = utcnow()
    await client.post(
        f"{API}/conversations/{chat.id}/read", json={"read_seq": seq}, headers=bob_headers
    )
    page = (
        await client.get(history_url, params={"device_id": bob_device}, headers=bob_headers)
    ).json()
    message = page["items"][0]
    assert message["ciphertext"] is not None
    async with platform.db.session() as session:
        expires_at = await session.scalar(
            select(MessagingMessage.expires_at).where(MessagingMessage.id == sent.message.id)
        )
    assert expires_at is not None
    assert before + timedelta(seconds=59) <= expires_at <= utcnow() + timedelta(seconds=60)

    # Time passes: the message disappears from every read path at once ...
    async with platform.db.session() as session:
        await session.execute(
            update(MessagingMessage)
            .where(MessagingMessage.id == sent.message.id)
            .values(expires_at=utcnow() - timedelta(milliseconds=1))
        )
    for headers in (alice_headers, bob_headers):
        assert (await client.get(history_url, headers=headers)).json()["items"] == []
    receipts = await client.get(f"{history_url}/{seq}/receipts", headers=alice_headers)
    assert receipts.status_code == 404

    # ... and the platform job erases the server's copy.
    async with asyncio.timeout(5):
        while True:
            async with platform.db.session() as session:
                row = await session.get(MessagingMessage, sent.message.id, populate_existing=True)
                envelopes = list(
                    await session.scalars(
                        select(MessagingEnvelope).where(
                            MessagingEnvelope.message_id == sent.message.id
                        )
                    )
                )
            assert row is not None
            if row.deleted:
                break
            await asyncio.sleep(0.05)
    assert row.body is None and row.data is None and envelopes == []
    async with platform.db.session() as session:
        assert await selfdestruct.erase_expired(session, SYSTEM) == 0


@pytest.mark.feature("telegram", "secret-chats")
async def test_only_members_of_secret_chats_set_timers(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    alice, alice_headers, _ = await _user(client)
    bob, _, _ = await _user(client)
    _, carol_headers, _ = await _user(client)
    async with platform.db.session() as session:
        plain, _, _ = await service.create_direct(session, SYSTEM, alice, bob)
        secret, _, _ = await service.create_direct(session, SYSTEM, alice, bob, e2e=True)
    plain_timer = await client.put(
        f"{API}/conversations/{plain.id}/self-destruct",
        json={"ttl_seconds": 5},
        headers=alice_headers,
    )
    assert plain_timer.status_code == 409
    stranger = await client.put(
        f"{API}/conversations/{secret.id}/self-destruct",
        json={"ttl_seconds": 5},
        headers=carol_headers,
    )
    assert stranger.status_code == 404
    async with platform.db.session() as session:
        conversation, _ = await service.membership(session, SYSTEM, secret.id, alice)
    assert conversation.ttl_seconds is None


async def test_unread_and_plain_messages_never_expire(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    alice, _, _ = await _user(client)
    bob, bob_headers, _ = await _user(client)
    async with platform.db.session() as session:
        plain, _, _ = await service.create_direct(session, SYSTEM, alice, bob)
    await messenger(platform, SYSTEM).writer.send(
        SendRequest(conversation_id=plain.id, sender_id=alice, client_id="p1", body="stays")
    )
    await client.post(
        f"{API}/conversations/{plain.id}/read", json={"read_seq": 1}, headers=bob_headers
    )
    async with platform.db.session() as session:
        rows = list(
            await session.scalars(
                select(MessagingMessage).where(MessagingMessage.conversation_id == plain.id)
            )
        )
    assert [(m.body, m.expires_at) for m in rows] == [("stays", None)]
