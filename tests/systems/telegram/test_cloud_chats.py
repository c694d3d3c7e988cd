"""Telegram's cloud chats through /api/telegram and /ws/telegram: accounts by phone number or
email, contacts found in the address book, 1:1 messages ordered per chat, the same history on
every device of a user (live on two sockets, synced over HTTP on a device added later), read
receipts, and status / last seen."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from casebook.clients.messaging.ws import MessagingSocket, connect
from casebook.engines.messaging import contacts
from casebook.platform.context import Platform
from casebook.platform.sms import SimulatedSmsCarrier
from tests.servers import serve_in_loop
from tests.systems.telegram.conftest import API, NewUser, Say, TgUser

WAIT = 5.0


async def sms_code(platform: Platform, phone: str) -> str:
    assert isinstance(platform.sms, SimulatedSmsCarrier)
    inbox = await platform.sms.inbox(phone)
    match = re.search(r"\b(\d{6})\b", inbox[-1].text)
    assert match is not None
    return match.group(1)


async def device(client: httpx.AsyncClient, user: TgUser, name: str = "phone") -> str:
    response = await client.post(f"{API}/devices", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    device_id: str = response.json()["id"]
    return device_id


async def direct_chat(client: httpx.AsyncClient, user: TgUser, other: TgUser) -> str:
    response = await client.post(
        f"{API}/conversations", json={"kind": "direct", "user_id": other.id}, headers=user.headers
    )
    assert response.status_code in (200, 201), response.text
    chat_id: str = response.json()["id"]
    return chat_id


async def history(
    client: httpx.AsyncClient, user: TgUser, chat_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"{API}/conversations/{chat_id}/messages", params=params, headers=user.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real loopback server: `ws://127.0.0.1:<port>/ws/telegram`."""
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://", 1) + "/ws/telegram"


@pytest.mark.feature("telegram", "user-accounts")
async def test_sign_up_and_log_in_by_phone_number_or_by_email(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    phone = f"+4477009{secrets.randbelow(10**5):05d}"
    sent = await client.post(f"{API}/auth/phone/code", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    signup = {
        "phone": phone,
        "code": await sms_code(platform, phone),
        "password": "telegram horse 42",
        "display_name": "Pavel",
    }
    wrong = await client.post(f"{API}/auth/phone/register", json={**signup, "code": "000000"})
    assert wrong.status_code == 422 and wrong.json()["type"].endswith("wrong-code")
    registered = await client.post(f"{API}/auth/phone/register", json=signup)
    assert registered.status_code == 201, registered.text
    by_phone = await client.post(
        f"{API}/auth/phone/login", json={"phone": phone, "password": "telegram horse 42"}
    )
    assert by_phone.status_code == 200
    phone_headers = {"Authorization": f"Bearer {by_phone.json()['access_token']}"}
    me = (await client.get(f"{API}/profile", headers=phone_headers)).json()
    assert me["phone"] == phone and me["display_name"] == "Pavel"
    bad = await client.post(
        f"{API}/auth/phone/login", json={"phone": phone, "password": "wrong horse 42"}
    )
    assert bad.status_code == 401

    # Email is the other primary identifier: a platform account, usable at once in Telegram.
    email, password = f"nikolai-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    created = await client.post(
        "/api/auth/register",
        json={"email": email, "password": password, "display_name": "Nikolai"},
    )
    assert created.status_code == 201
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    email_headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    profile = (await client.get(f"{API}/profile", headers=email_headers)).json()
    assert profile["display_name"] == "Nikolai" and profile["phone"] is None
    # The two accounts chat with each other.
    chat = await client.post(
        f"{API}/conversations",
        json={"kind": "direct", "user_id": me["user_id"]},
        headers=email_headers,
    )
    assert chat.status_code in (200, 201)
    anonymous = await client.get(f"{API}/profile")
    assert anonymous.status_code == 401


@pytest.mark.feature("telegram", "contacts")
async def test_contacts_are_detected_from_the_address_book_and_added(
    client: httpx.AsyncClient, platform: Platform, alice: TgUser, bob: TgUser, new_user: NewUser
) -> None:
    carol = await new_user()
    bobs_phone, carols_phone = "+447700900301", "+447700900302"
    async with platform.db.session() as session:
        await contacts.set_verified_phone(session, "telegram", bob.user_id, bobs_phone)
    # Carol's number is verified in another system only: Telegram does not know it.
    async with platform.db.session() as session:
        await contacts.set_verified_phone(session, "instant-messenger", carol.user_id, carols_phone)
    book = [
        contacts.phone_hash(bobs_phone),
        contacts.phone_hash(carols_phone),
        contacts.phone_hash("+447700900399"),
    ]
    found = await client.post(
        f"{API}/contacts/discover", json={"phone_hashes": book}, headers=alice.headers
    )
    assert found.status_code == 200, found.text
    assert [m["user_id"] for m in found.json()] == [bob.id]
    assert "phone" not in found.json()[0]
    malformed = await client.post(
        f"{API}/contacts/discover", json={"phone_hashes": [bobs_phone]}, headers=alice.headers
    )
    assert malformed.status_code == 422

    added = await client.put(
        f"{API}/contacts/{bob.id}", json={"name": "Bob from work"}, headers=alice.headers
    )
    assert added.status_code in (200, 201), added.text
    listed = (await client.get(f"{API}/contacts", headers=alice.headers)).json()
    names = [(c["user"]["user_id"], c["name"]) for c in listed]
    assert names == [(bob.id, "Bob from work")]
    # Alice's address book is hers: Bob's list is empty.
    bobs = (await client.get(f"{API}/contacts", headers=bob.headers)).json()
    assert bobs == []


@pytest.mark.feature("telegram", "messaging")
async def test_one_to_one_messages_from_both_sides_are_ordered_gap_free_in_the_cloud(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, say: Say, new_user: NewUser
) -> None:
    chat_id = await direct_chat(client, alice, bob)
    again = await direct_chat(client, bob, alice)
    assert again == chat_id  # one chat per pair, whoever starts it

    sent = await asyncio.gather(
        *(say(alice if i % 2 else bob, chat_id, f"message {i}") for i in range(30))
    )
    assert sorted(m["seq"] for m in sent) == list(range(1, 31))
    # Both see the same history, oldest first, in seq order, each message once.
    for who in (alice, bob):
        items = await history(client, who, chat_id, order="oldest", limit=100)
        assert [m["seq"] for m in items] == list(range(1, 31))
        by_seq = {m["seq"]: m["body"] for m in sent}
        assert [m["body"] for m in items] == [by_seq[s] for s in range(1, 31)]
    # A retry with the same client_id is stored once.
    body = {"client_id": "retry-1", "kind": "text", "body": "once"}
    first = await client.post(
        f"{API}/conversations/{chat_id}/messages", json=body, headers=alice.headers
    )
    second = await client.post(
        f"{API}/conversations/{chat_id}/messages", json=body, headers=alice.headers
    )
    assert first.json()["seq"] == second.json()["seq"] == 31
    # Nobody else reads the chat.
    mallory = await new_user()
    peek = await client.get(f"{API}/conversations/{chat_id}/messages", headers=mallory.headers)
    assert peek.status_code == 404
    post = await client.post(
        f"{API}/conversations/{chat_id}/messages",
        json={"client_id": "m1", "kind": "text", "body": "hi"},
        headers=mallory.headers,
    )
    assert post.status_code == 404
    assert len(await history(client, alice, chat_id, limit=100)) == 31


async def _drain(
    socket: MessagingSocket, chat_id: str, upto: int, *, after: int = 0, own: Sequence[int] = ()
) -> list[int]:
    """The seqs (after, upto] of `chat_id` this socket holds — the entries it sent itself (`own`:
    its `sent` answers carried them, the socket does not send them again) and those it
    receives, in order — acknowledging as it goes."""
    held, received = set(own), []
    async with asyncio.timeout(WAIT):
        while not held.issuperset(range(after + 1, upto + 1)):
            event = await socket.next_event("message")
            if event["conversation_id"] != chat_id:
                continue
            held.add(event["seq"])
            received.append(event["seq"])
            await socket.ack(chat_id, event["seq"])
    await socket.ack(chat_id, upto)  # an own entry may be the last one
    assert received == sorted(received)
    return sorted(held)


@pytest.mark.feature("telegram", "multi-device")
async def test_every_device_of_a_user_gets_the_whole_history_with_its_own_cursor(
    client: httpx.AsyncClient, ws_url: str, alice: TgUser, bob: TgUser, say: Say
) -> None:
    chat_id = await direct_chat(client, alice, bob)
    phone, desktop = await device(client, bob, "phone"), await device(client, bob, "desktop")
    await say(alice, chat_id, "before anyone connected")
    async with (
        connect(ws_url, token=bob.token, device_id=phone) as on_phone,
        connect(ws_url, token=bob.token, device_id=desktop) as on_desktop,
    ):
        # Bob writes from his phone; Alice writes over HTTP; both devices see all, in order.
        from_phone, *_ = await asyncio.gather(
            on_phone.send_message(chat_id, "from bob's phone"),
            *(say(alice, chat_id, f"from alice {i}") for i in range(5)),
        )
        phone_seqs, desktop_seqs = await asyncio.gather(
            _drain(on_phone, chat_id, 7, own=[from_phone["seq"]]), _drain(on_desktop, chat_id, 7)
        )
    assert phone_seqs == desktop_seqs == list(range(1, 8))

    # Each device has its own cursor: the phone falls behind while offline, the desktop not.
    async with connect(ws_url, token=bob.token, device_id=desktop) as on_desktop:
        await say(alice, chat_id, "while the phone is off")
        assert await _drain(on_desktop, chat_id, 8, after=7) == [8]
    pending = await client.get(f"{API}/devices/{phone}/pending", headers=bob.headers)
    assert pending.json()["items"] == [{"conversation_id": chat_id, "after_seq": 7, "last_seq": 8}]
    desktop_pending = await client.get(f"{API}/devices/{desktop}/pending", headers=bob.headers)
    assert desktop_pending.json()["items"] == []
    async with connect(ws_url, token=bob.token, device_id=phone) as on_phone:
        assert await _drain(on_phone, chat_id, 8, after=7) == [8]  # resumed after its cursor

    # A tablet added later syncs the whole history over HTTP (cloud chats), then goes live.
    tablet = await device(client, bob, "tablet")
    synced = await history(client, bob, chat_id, order="oldest", limit=100)
    assert [m["seq"] for m in synced] == list(range(1, 9))
    assert synced[0]["body"] == "before anyone connected"
    # Another user's device cannot be used.
    refused = await client.get(f"{API}/devices/{tablet}/pending", headers=alice.headers)
    assert refused.status_code == 404


@pytest.mark.feature("telegram", "read-receipts")
async def test_read_receipts_move_from_sent_to_delivered_to_read_for_the_sender_only(
    client: httpx.AsyncClient, alice: TgUser, bob: TgUser, say: Say, new_user: NewUser
) -> None:
    chat_id = await direct_chat(client, alice, bob)
    first = await say(alice, chat_id, "one")
    second = await say(alice, chat_id, "two")
    receipts = f"{API}/conversations/{chat_id}/messages"

    async def state(seq: int) -> str:
        response = await client.get(f"{receipts}/{seq}/receipts", headers=alice.headers)
        assert response.status_code == 200, response.text
        value: str = response.json()["state"]
        return value

    assert await state(first["seq"]) == "sent"
    delivered = await client.post(
        f"{API}/conversations/{chat_id}/read",
        json={"delivered_seq": second["seq"]},
        headers=bob.headers,
    )
    assert delivered.status_code == 200, delivered.text
    assert await state(second["seq"]) == "delivered"
    read = await client.post(
        f"{API}/conversations/{chat_id}/read",
        json={"read_seq": first["seq"]},
        headers=bob.headers,
    )
    assert read.json()["read_seq"] == first["seq"]
    assert (await state(first["seq"]), await state(second["seq"])) == ("read", "delivered")
    # Marks never go back.
    back = await client.post(
        f"{API}/conversations/{chat_id}/read", json={"read_seq": 0}, headers=bob.headers
    )
    assert back.status_code in (200, 422)
    assert await state(first["seq"]) == "read"
    # A stranger neither reads nor moves the receipts.
    mallory = await new_user()
    assert (
        await client.get(f"{receipts}/{first['seq']}/receipts", headers=mallory.headers)
    ).status_code == 404
    moved = await client.post(
        f"{API}/conversations/{chat_id}/read",
        json={"read_seq": second["seq"]},
        headers=mallory.headers,
    )
    assert moved.status_code == 404
    assert await state(second["seq"]) == "delivered"


@pytest.mark.feature("telegram", "status")
async def test_a_status_line_and_online_then_last_seen_are_visible_to_chat_partners(
    client: httpx.AsyncClient, ws_url: str, alice: TgUser, bob: TgUser, new_user: NewUser
) -> None:
    await direct_chat(client, alice, bob)
    set_status = await client.patch(
        f"{API}/profile", json={"status_text": "On holiday until Monday"}, headers=bob.headers
    )
    assert set_status.status_code == 200, set_status.text
    seen_by_alice = (await client.get(f"{API}/users/{bob.id}", headers=alice.headers)).json()
    assert seen_by_alice["status_text"] == "On holiday until Monday"
    too_long = await client.patch(
        f"{API}/profile", json={"status_text": "x" * 141}, headers=bob.headers
    )
    assert too_long.status_code == 422

    async def bobs_presence(viewer: TgUser) -> list[dict[str, Any]]:
        response = await client.get(
            f"{API}/presence", params={"user_ids": [bob.id]}, headers=viewer.headers
        )
        assert response.status_code == 200, response.text
        users: list[dict[str, Any]] = response.json()["users"]
        return users

    bobs_device = await device(client, bob)
    async with connect(ws_url, token=bob.token, device_id=bobs_device):
        [online] = await bobs_presence(alice)
        assert online["online"] is True
    async with asyncio.timeout(WAIT):
        while True:
            [after] = await bobs_presence(alice)
            if not after["online"]:
                break
            await asyncio.sleep(0.05)
    assert after["last_seen"] is not None
    # A stranger (no chat with Bob) learns nothing of his presence.
    stranger = await new_user()
    assert await bobs_presence(stranger) == []
