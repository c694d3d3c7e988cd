"""End-to-end encrypted chats through the real app, with the client library
(`casebook.clients.messaging`): the server relays ciphertext only, a device added later cannot
read what was sent before it, tampered or relayed envelopes are refused, and the server refuses
a message that leaves a member's device without its envelope."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select, text, update

from casebook.clients.messaging.client import ApiError, MessagingClient
from casebook.clients.messaging.e2e import DecryptionError, DeviceCrypto, PeerBundle
from casebook.engines.messaging.models import MessagingEnvelope, MessagingMessage
from casebook.platform.context import Platform
from tests.engines.messaging.conftest import SYSTEM

pytestmark = pytest.mark.feature("instant-messenger", "e2e-encryption")


async def new_client(http: httpx.AsyncClient, device: str = "phone") -> MessagingClient:
    client = MessagingClient(http, SYSTEM)
    email = f"e2e-{secrets.token_hex(5)}@example.com"
    password = secrets.token_urlsafe(12)
    await client.register(email, password, "E2E")
    await client.login(email, password)
    await client.add_device(device)
    await client.enable_e2e(one_time_prekeys=10)
    return client


async def second_device(first: MessagingClient, name: str = "laptop") -> MessagingClient:
    """The same user on another device, with its own identity."""
    other = MessagingClient(first.http, SYSTEM, token=first.token)
    other.user_id = first.user_id
    other.device_id = await first.add_device(name)
    await other.enable_e2e(one_time_prekeys=10)
    return other


async def every_stored_value(platform: Platform) -> list[Any]:
    """Every value of every column of every table in the database (search indexes included)."""
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


async def test_the_database_never_holds_the_plaintext(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    alice = await new_client(client)
    alice_laptop = await second_device(alice)
    bob = await new_client(client)
    chat = await alice.create_direct(bob.user_id or 0, e2e=True)
    secret = f"the eagle lands at dawn {secrets.token_hex(8)}"
    answer = f"copy that {secrets.token_hex(8)}"

    sent = await alice.send_encrypted(chat["id"], secret, data={"mood": secret})
    assert sent["body"] is None and sent["kind"] == "encrypted"
    [received] = await bob.read(chat["id"])
    assert (received.body, received.data) == (secret, {"mood": secret})
    assert received.sender_device_id == str(alice.device_id)
    await bob.send_encrypted(chat["id"], answer)

    # The sender encrypted for its own other device too: the laptop reads both sides.
    on_laptop = await alice_laptop.read(chat["id"])
    assert [(m.seq, m.body) for m in on_laptop] == [(1, secret), (2, answer)]
    assert [m.body for m in await alice.read(chat["id"])] == [secret, answer]

    stored = await every_stored_value(platform)
    for plaintext in (secret, answer):
        leaks = [v for v in stored if holds(v, plaintext.encode())]
        assert leaks == [], f"plaintext stored: {leaks!r}"
    async with platform.db.session() as session:
        envelopes = (await session.execute(select(MessagingEnvelope.device_id))).scalars()
        # Message 1: Bob's phone and Alice's laptop; message 2: both of Alice's devices.
        expected = [bob, alice_laptop, alice, alice_laptop]
        assert sorted(envelopes) == sorted(c.device_id or 0 for c in expected)


async def test_a_device_added_later_cannot_read_earlier_history(
    client: httpx.AsyncClient,
) -> None:
    alice = await new_client(client)
    bob = await new_client(client)
    chat = await alice.create_direct(bob.user_id or 0, e2e=True)
    await alice.send_encrypted(chat["id"], "before the laptop")
    assert [m.body for m in await bob.read(chat["id"])] == ["before the laptop"]

    laptop = await second_device(bob)
    earlier = await laptop.history(chat["id"])
    assert [m["ciphertext"] for m in earlier] == [None]
    with pytest.raises(DecryptionError):
        await laptop.decrypt(earlier[0])
    # Not even the phone's envelope helps: it was encrypted for another identity.
    phone_copy = (await bob.history(chat["id"]))[0]
    with pytest.raises(DecryptionError):
        await laptop.decrypt(phone_copy)

    await alice.send_encrypted(chat["id"], "after the laptop")
    assert [m.body for m in await laptop.read(chat["id"], after=1)] == ["after the laptop"]


async def test_tampered_or_relayed_ciphertext_is_rejected(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    alice = await new_client(client)
    bob = await new_client(client)
    chat = await alice.create_direct(bob.user_id or 0, e2e=True)
    first = await alice.send_encrypted(chat["id"], "one")
    second = await alice.send_encrypted(chat["id"], "two")
    third = await alice.send_encrypted(chat["id"], "three")

    async with platform.db.session() as session:
        stored = {
            message_id: ciphertext
            for message_id, ciphertext in await session.execute(
                select(MessagingEnvelope.message_id, MessagingEnvelope.ciphertext)
            )
        }
        # A malicious server flips one bit of the second message and puts the first message's
        # envelope under the third.
        flipped = bytearray(stored[int(second["id"])])
        flipped[-40] ^= 0x01
        await session.execute(
            update(MessagingEnvelope)
            .where(MessagingEnvelope.message_id == int(second["id"]))
            .values(ciphertext=bytes(flipped))
        )
        await session.execute(
            update(MessagingEnvelope)
            .where(MessagingEnvelope.message_id == int(third["id"]))
            .values(ciphertext=stored[int(first["id"])])
        )

    one, two, three = await bob.history(chat["id"])
    assert (await bob.decrypt(one)).body == "one"
    with pytest.raises(DecryptionError):
        await bob.decrypt(two)
    with pytest.raises(DecryptionError):
        await bob.decrypt(three)
    # The refused envelopes left the session intact.
    await alice.send_encrypted(chat["id"], "four")
    assert [m.body for m in await bob.read(chat["id"], after=3)] == ["four"]


async def test_the_server_refuses_an_e2e_message_missing_a_member_device(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    alice = await new_client(client)
    bob = await new_client(client)
    bob_laptop = await second_device(bob)
    outsider = await new_client(client)
    chat = await alice.create_direct(bob.user_id or 0, e2e=True)
    assert alice.crypto is not None and alice.device_id is not None
    bundles = await client.post(
        f"/api/{SYSTEM}/keys/users/{bob.user_id}/bundles",
        json={"device_ids": [str(bob.device_id)]},
        headers={"Authorization": f"Bearer {alice.token}"},
    )
    bundle = PeerBundle.from_json(bundles.json()["devices"][0])
    envelope = await alice.crypto.encrypt(bob.device_id or 0, b"only for the phone", bundle)

    async def post(envelopes: dict[str, bytes], **extra: Any) -> httpx.Response:
        return await client.post(
            f"/api/{SYSTEM}/conversations/{chat['id']}/messages",
            json={
                "client_id": secrets.token_hex(6),
                "kind": "encrypted",
                "device_id": str(alice.device_id),
                "envelopes": {d: base64.b64encode(e).decode() for d, e in envelopes.items()},
                **extra,
            },
            headers={"Authorization": f"Bearer {alice.token}"},
        )

    missing = await post({str(bob.device_id): envelope})
    assert missing.status_code == 422, missing.text
    assert missing.json()["type"] == "/problems/messaging/envelopes-mismatch"
    assert missing.json()["missing"] == [str(bob_laptop.device_id)]

    extra = await post(
        {str(bob.device_id): envelope, str(bob_laptop.device_id): envelope}
        | {str(outsider.device_id): envelope}
    )
    assert extra.status_code == 422
    assert extra.json()["unexpected"] == [str(outsider.device_id)]

    in_clear = await client.post(
        f"/api/{SYSTEM}/conversations/{chat['id']}/messages",
        json={"client_id": "clear", "kind": "text", "body": "psst"},
        headers={"Authorization": f"Bearer {alice.token}"},
    )
    assert in_clear.status_code == 422
    async with platform.db.session() as session:
        assert (await session.execute(select(MessagingMessage.id))).first() is None
    # The client library lists the devices itself, so its sends are complete.
    await alice.send_encrypted(chat["id"], "for everyone")
    assert [m.body for m in await bob_laptop.read(chat["id"])] == ["for everyone"]


async def test_sessions_survive_saving_the_device_state(client: httpx.AsyncClient) -> None:
    alice = await new_client(client)
    bob = await new_client(client)
    chat = await alice.create_direct(bob.user_id or 0, e2e=True)
    await alice.send_encrypted(chat["id"], "hello")
    assert [m.body for m in await bob.read(chat["id"])] == ["hello"]
    assert bob.crypto is not None

    restarted = MessagingClient(
        client,
        SYSTEM,
        token=bob.token,
        device_id=bob.device_id,
        crypto=DeviceCrypto.from_bytes(bob.crypto.to_bytes()),
    )
    restarted.user_id = bob.user_id
    await restarted.send_encrypted(chat["id"], "hello back")
    await alice.send_encrypted(chat["id"], "and again")
    assert [m.body for m in await alice.read(chat["id"], after=1)] == ["hello back", "and again"]
    assert [m.body for m in await restarted.read(chat["id"], after=2)] == ["and again"]


async def test_a_device_replenishes_its_one_time_prekeys(client: httpx.AsyncClient) -> None:
    bob = await new_client(client)
    claimers = [await new_client(client) for _ in range(3)]
    for claimer in claimers:
        chat = await claimer.create_direct(bob.user_id or 0, e2e=True)
        await claimer.send_encrypted(chat["id"], "hi")
    assert await bob.replenish_prekeys(low=8, batch=5) == 12  # 10 - 3 + 5
    assert await bob.replenish_prekeys(low=8, batch=5) == 12  # enough: nothing uploaded


async def test_the_client_reports_the_servers_problem(client: httpx.AsyncClient) -> None:
    alice = await new_client(client)
    with pytest.raises(ApiError) as refused:
        await alice.send_encrypted("123456789", "to nowhere")
    assert refused.value.status == 404
    assert refused.value.problem["type"] == "/problems/messaging/conversation-not-found"
