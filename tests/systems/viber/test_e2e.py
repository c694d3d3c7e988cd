"""Viber's 1:1 chats are end-to-end encrypted by default: the engine's direct chats of Viber are
E2E whatever the client asks, a plaintext message is refused, and an exchange through the client
library (`casebook.clients.messaging`) leaves no plaintext anywhere in the database."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, text

from casebook.clients.messaging.client import MessagingClient
from casebook.platform.context import Platform
from tests.systems.viber.conftest import API, ViberUser


async def e2e_client(http: httpx.AsyncClient, user: ViberUser) -> MessagingClient:
    client = MessagingClient(http, "viber", token=user.token, device_id=user.device_id)
    client.user_id = user.user_id
    await client.enable_e2e(one_time_prekeys=5)
    return client


async def every_stored_value(platform: Platform) -> list[Any]:
    async with platform.db.session() as session:
        connection = await session.connection()
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        values: list[Any] = []
        for table in tables:
            rows = await session.execute(text(f'SELECT * FROM "{table}"'))
            values += [value for row in rows for value in row]
    return values


def holds(value: Any, secret: bytes) -> bool:
    forms = (secret, base64.b64encode(secret))
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return any(form in value for form in forms)
    return any(form.decode() in str(value) for form in forms)


@pytest.mark.feature("viber", "e2e-encryption")
@pytest.mark.feature("viber", "messaging")
async def test_a_one_to_one_exchange_never_stores_plaintext(
    client: httpx.AsyncClient, platform: Platform, alice: ViberUser, bob: ViberUser
) -> None:
    a, b = await e2e_client(client, alice), await e2e_client(client, bob)
    # The client asks for a plain direct chat; Viber makes it end-to-end encrypted anyway.
    chat = await a.create_direct(bob.user_id, e2e=False)
    assert chat["e2e"] is True
    plain = await client.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={"client_id": "p1", "kind": "text", "body": "in clear"},
        headers=alice.headers,
    )
    assert plain.status_code == 422

    secret = f"meet at the usual place {secrets.token_hex(6)} 😀"
    reply = f"on my way {secrets.token_hex(6)}"
    sent = await a.send_encrypted(chat["id"], secret)
    assert sent["kind"] == "encrypted" and sent["body"] is None
    await b.send_encrypted(
        chat["id"], reply, data={"sticker": {"pack": "weather", "sticker": "sun"}}
    )
    received = await b.read(chat["id"])
    assert [(m.seq, m.body) for m in received] == [(1, secret), (2, reply)]
    assert [m.body for m in await a.read(chat["id"])] == [secret, reply]
    assert (await a.read(chat["id"]))[1].data == {"sticker": {"pack": "weather", "sticker": "sun"}}

    # Delivery status: Bob's read mark reaches Alice's view of her message.
    marked = await client.post(
        f"{API}/conversations/{chat['id']}/read", json={"read_seq": 2}, headers=bob.headers
    )
    assert marked.status_code == 200
    receipts = await client.get(
        f"{API}/conversations/{chat['id']}/messages/1/receipts", headers=alice.headers
    )
    assert receipts.status_code == 200 and receipts.json()["state"] == "read"

    stored = await every_stored_value(platform)
    for plaintext in (secret, reply):
        assert [v for v in stored if holds(v, plaintext.encode())] == []


@pytest.mark.feature("viber", "e2e-encryption")
async def test_send_message_takes_envelopes_and_is_idempotent(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ViberUser,
    bob: ViberUser,
    carol: ViberUser,
) -> None:
    a, b = await e2e_client(client, alice), await e2e_client(client, bob)
    chat = await a.create_direct(bob.user_id)
    # Encrypt as the client library does (bound to the chat and client id), then use the
    # seed's endpoint, naming the receiver by phone number.
    crypto, own = a._require_crypto()
    client_id = secrets.token_hex(8)
    secret = f"seed-shaped secret {secrets.token_hex(6)}"
    payload = json.dumps(
        {"conversation_id": chat["id"], "client_id": client_id, "body": secret, "data": None}
    ).encode()
    targets, bundles = await a._targets([bob.id])
    envelopes = {
        str(d): base64.b64encode(await crypto.encrypt(d, payload, bundles.get(d))).decode()
        for d in targets
    }
    body = {
        "receiver": bob.phone,
        "client_id": client_id,
        "device_id": str(own),
        "envelopes": envelopes,
    }
    first = await client.post(f"{API}/send_message", json=body, headers=alice.headers)
    assert first.status_code == 200, first.text
    assert first.json()["conversation_id"] == chat["id"] and first.json()["duplicate"] is False
    retry = await client.post(f"{API}/send_message", json=body, headers=alice.headers)
    assert retry.json()["duplicate"] is True and retry.json()["seq"] == first.json()["seq"]
    assert [m.body for m in await b.read(chat["id"])] == [secret]

    # An envelope missing for a device of the chat is refused, and Carol reads nothing.
    short = await client.post(
        f"{API}/send_message",
        json={**body, "client_id": "other", "envelopes": {"1": "AAAA"}},
        headers=alice.headers,
    )
    assert short.status_code == 422
    spy = await client.get(f"{API}/conversations/{chat['id']}/messages", headers=carol.headers)
    assert spy.status_code == 404
    assert [v for v in await every_stored_value(platform) if holds(v, secret.encode())] == []
