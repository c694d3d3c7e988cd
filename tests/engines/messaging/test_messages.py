"""Sending, retries, history, edits and deletes, receipts and device cursors, through the HTTP
API of Instant Messenger."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from casebook.engines.messaging.events import conversation_channel, user_channel
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingMessage,
    StoredMessage,
)
from casebook.engines.messaging.runtime import Messenger
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from tests.engines.messaging.conftest import (
    API,
    SYSTEM,
    ChatUser,
    Conversation,
    SendText,
    bus_events,
)


async def history(
    client: httpx.AsyncClient, user: ChatUser, conversation_id: str, **params: int | str
) -> list[dict[str, object]]:
    response = await client.get(
        f"{API}/conversations/{conversation_id}/messages", params=params, headers=user.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


@pytest.mark.feature("instant-messenger", "messaging")
async def test_messages_get_gap_free_seqs_and_history_pages_both_ways(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    for i in range(5):
        sent = await send_text(alice if i % 2 == 0 else bob, chat["id"], f"hello {i}")
        assert sent.status_code == 201, sent.text
        assert sent.json()["seq"] == i + 1
    newest = await history(client, bob, chat["id"], limit=2)
    assert [m["seq"] for m in newest] == [5, 4]
    older = await history(client, bob, chat["id"], before=4, limit=10)
    assert [m["seq"] for m in older] == [3, 2, 1]
    forward = await history(client, alice, chat["id"], after=2, limit=2)
    assert [m["seq"] for m in forward] == [3, 4]
    assert forward[0]["body"] == "hello 2"
    assert forward[0]["sender_id"] == alice.id


@pytest.mark.feature("instant-messenger", "messaging")
async def test_a_retry_with_the_same_client_id_returns_the_stored_message(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    first = await send_text(alice, chat["id"], "only once", client_id="c-1")
    retry = await send_text(alice, chat["id"], "only once", client_id="c-1")
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"] and retry.json()["seq"] == 1
    assert [m["seq"] for m in await history(client, bob, chat["id"])] == [1]


@pytest.mark.feature("instant-messenger", "messaging")
async def test_bad_messages_are_problems_and_store_nothing(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    url = f"{API}/conversations/{chat['id']}/messages"
    cases = [
        {"client_id": "a", "body": "x" * 4097},
        {"client_id": "b", "kind": "text"},
        {"client_id": "c", "kind": "gif", "body": "x"},
        {"body": "no client id"},
        {"client_id": "d", "kind": "location", "data": {"latitude": 10}},
        {"client_id": "e", "kind": "contact", "data": {"name": "x", "extra": 1}},
        {"client_id": "f", "kind": "media", "data": {"attachments": ["12"]}},
        {"client_id": "g", "kind": "encrypted", "envelopes": {"1": "%%%"}},
        {"client_id": "h", "body": "hi", "device_id": str(bob.device_id)},
        {"client_id": "i", "kind": "text", "body": "hi", "data": {"reply_to": 0}},
    ]
    for body in cases:
        response = await client.post(url, json=body, headers=alice.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await history(client, alice, chat["id"]) == []


@pytest.mark.feature("instant-messenger", "emoji-stickers")
async def test_structured_messages_keep_their_normalised_data(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    url = f"{API}/conversations/{chat['id']}/messages"
    bodies = [
        {"kind": "location", "data": {"latitude": 48.85, "longitude": 2.35, "name": "Paris"}},
        {"kind": "contact", "data": {"name": "Bob", "phone": "+33123456789", "user_id": bob.id}},
        {"kind": "sticker", "data": {"pack": "cats", "sticker": "wave"}},
        {"kind": "text", "body": "re", "data": {"reply_to": 1}},
    ]
    for i, body in enumerate(bodies):
        response = await client.post(
            url,
            json={"client_id": f"s{i}", **body, "device_id": str(alice.device_id)},
            headers=alice.headers,
        )
        assert response.status_code == 201, response.text
    items = await history(client, bob, chat["id"], order="oldest")
    assert [m["kind"] for m in items] == ["location", "contact", "sticker", "text"]
    assert items[0]["data"] == {"latitude": 48.85, "longitude": 2.35, "name": "Paris"}
    assert items[3]["data"] == {"reply_to": 1}
    assert items[0]["sender_device_id"] == str(alice.device_id)


@pytest.mark.feature("instant-messenger", "messaging")
async def test_edits_are_log_events_by_the_sender_within_the_window(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = chat["id"]
    await send_text(alice, cid, "helo")
    url = f"{API}/conversations/{cid}/messages/1"
    edited = await client.patch(
        url, json={"client_id": "e1", "body": "hello"}, headers=alice.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["kind"] == "edit" and edited.json()["target_seq"] == 1
    assert edited.json()["seq"] == 2
    by_bob = await client.patch(
        url, json={"client_id": "e2", "body": "hacked"}, headers=bob.headers
    )
    assert by_bob.status_code == 403
    items = await history(client, bob, cid, order="oldest")
    assert items[0]["body"] == "hello" and items[0]["edited_at"] is not None
    # Past the edit window the message is final.
    async with platform.db.session() as session:
        await session.execute(
            update(MessagingMessage)
            .where(MessagingMessage.conversation_id == int(cid), MessagingMessage.seq == 1)
            .values(created_at=utcnow() - timedelta(hours=49))
        )
    late = await client.patch(
        url, json={"client_id": "e3", "body": "too late"}, headers=alice.headers
    )
    assert late.status_code == 409
    missing = await client.patch(
        f"{API}/conversations/{cid}/messages/9",
        json={"client_id": "e4", "body": "x"},
        headers=alice.headers,
    )
    assert missing.status_code == 404
    # Edit events themselves cannot be edited.
    meta = await client.patch(
        f"{API}/conversations/{cid}/messages/2",
        json={"client_id": "e5", "body": "x"},
        headers=alice.headers,
    )
    assert meta.status_code == 404
    assert (await history(client, alice, cid, order="oldest"))[0]["body"] == "hello"


@pytest.mark.feature("instant-messenger", "messaging")
async def test_delete_for_everyone_erases_the_text_and_is_idempotent(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", [bob, carol])
    gid = group["id"]
    await send_text(bob, gid, "oops")
    await client.patch(
        f"{API}/conversations/{gid}/messages/1",
        json={"client_id": "e", "body": "oops edited"},
        headers=bob.headers,
    )
    await send_text(carol, gid, "carol's")
    # A plain member cannot delete someone else's message; the sender and the owner can.
    denied = await client.delete(f"{API}/conversations/{gid}/messages/3", headers=bob.headers)
    assert denied.status_code == 403
    deleted = await client.delete(f"{API}/conversations/{gid}/messages/1", headers=bob.headers)
    assert deleted.status_code == 200 and deleted.json()["kind"] == "delete"
    retried = await client.delete(f"{API}/conversations/{gid}/messages/1", headers=bob.headers)
    assert retried.json()["seq"] == deleted.json()["seq"]
    by_owner = await client.delete(f"{API}/conversations/{gid}/messages/3", headers=alice.headers)
    assert by_owner.status_code == 200
    items = {int(str(m["seq"])): m for m in await history(client, carol, gid)}
    assert items[1]["deleted"] is True and items[1]["body"] is None
    assert items[2]["kind"] == "edit" and items[2]["body"] is None
    assert items[3]["deleted"] is True
    assert sorted(items) == [1, 2, 3, 4, 5]
    again = await client.patch(
        f"{API}/conversations/{gid}/messages/1",
        json={"client_id": "e9", "body": "back"},
        headers=bob.headers,
    )
    assert again.status_code == 404


@pytest.mark.feature("instant-messenger", "messaging")
async def test_delete_for_me_and_clear_history_hide_only_for_that_user(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = chat["id"]
    for text in ("one", "two", "three"):
        await send_text(alice, cid, text)
    hidden = await client.delete(
        f"{API}/conversations/{cid}/messages/2", params={"for": "me"}, headers=bob.headers
    )
    assert hidden.status_code == 200
    assert [m["seq"] for m in await history(client, bob, cid)] == [3, 1]
    assert [m["seq"] for m in await history(client, alice, cid)] == [3, 2, 1]
    cleared = await client.post(f"{API}/conversations/{cid}/clear", headers=alice.headers)
    assert cleared.json()["cleared_seq"] == 3
    await send_text(bob, cid, "four")
    assert [m["body"] for m in await history(client, alice, cid)] == ["four"]
    assert len(await history(client, bob, cid)) == 3


@pytest.mark.feature("instant-messenger", "receipts")
async def test_receipts_move_forward_only_and_report_per_message_state(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", [bob, carol])
    gid = group["id"]
    for i in range(3):
        await send_text(alice, gid, f"m{i}")

    async def state(seq: int) -> dict[str, object]:
        response = await client.get(
            f"{API}/conversations/{gid}/messages/{seq}/receipts", headers=alice.headers
        )
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    assert (await state(1))["state"] == "sent"
    marks = f"{API}/conversations/{gid}/read"
    await client.post(marks, json={"delivered_seq": 3}, headers=bob.headers)
    await client.post(marks, json={"delivered_seq": 3, "read_seq": 2}, headers=carol.headers)
    assert await state(1) == {
        "seq": 1,
        "state": "delivered",
        "recipients": 2,
        "delivered": 2,
        "read": 1,
    }
    moved = await client.post(marks, json={"read_seq": 99}, headers=bob.headers)
    assert moved.json() == {"conversation_id": gid, "delivered_seq": 3, "read_seq": 3}
    back = await client.post(marks, json={"read_seq": 1, "delivered_seq": 0}, headers=bob.headers)
    assert back.json()["read_seq"] == 3 and back.json()["delivered_seq"] == 3
    assert (await state(2))["state"] == "read"
    assert (await state(3)) == {
        "seq": 3,
        "state": "delivered",
        "recipients": 2,
        "delivered": 2,
        "read": 1,
    }


@pytest.mark.feature("instant-messenger", "receipts")
async def test_concurrent_marks_keep_the_highest(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = chat["id"]
    for i in range(10):
        await send_text(alice, cid, str(i))
    order = [7, 3, 10, 1, 9, 2, 8, 5, 4, 6]
    await asyncio.gather(
        *(
            client.post(
                f"{API}/conversations/{cid}/read", json={"read_seq": s}, headers=bob.headers
            )
            for s in order
        )
    )
    me = (await client.get(f"{API}/conversations/{cid}", headers=bob.headers)).json()["me"]
    assert me["read_seq"] == 10 and me["delivered_seq"] == 10 and me["unread"] == 0


@pytest.mark.feature("instant-messenger", "messaging")
async def test_device_cursors_drive_the_resume_query(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = chat["id"]
    for i in range(3):
        await send_text(alice, cid, str(i))
    pending_url = f"{API}/devices/{bob.device_id}/pending"
    assert (await client.get(pending_url, headers=bob.headers)).json()["items"] == [
        {"conversation_id": cid, "after_seq": 0, "last_seq": 3}
    ]
    ack_url = f"{API}/devices/{bob.device_id}/ack"
    assert (
        await client.post(ack_url, json={"conversation_id": cid, "seq": 2}, headers=bob.headers)
    ).status_code == 200
    await client.post(ack_url, json={"conversation_id": cid, "seq": 1}, headers=bob.headers)
    assert (await client.get(pending_url, headers=bob.headers)).json()["items"] == [
        {"conversation_id": cid, "after_seq": 2, "last_seq": 3}
    ]
    me = (await client.get(f"{API}/conversations/{cid}", headers=bob.headers)).json()["me"]
    assert me["delivered_seq"] == 2 and me["read_seq"] == 0
    await client.post(ack_url, json={"conversation_id": cid, "seq": 50}, headers=bob.headers)
    assert (await client.get(pending_url, headers=bob.headers)).json()["items"] == []
    # A device registered now starts at the present; another user's device is not yours.
    tablet = await client.post(f"{API}/devices", json={"name": "tablet"}, headers=bob.headers)
    tablet_pending = await client.get(
        f"{API}/devices/{tablet.json()['id']}/pending", headers=bob.headers
    )
    assert tablet_pending.json()["items"] == []
    assert (
        await client.get(f"{API}/devices/{bob.device_id}/pending", headers=alice.headers)
    ).status_code == 404
    foreign_ack = await client.post(
        f"{API}/devices/{bob.device_id}/ack",
        json={"conversation_id": cid, "seq": 3},
        headers=alice.headers,
    )
    assert foreign_ack.status_code == 404


@pytest.mark.feature("instant-messenger", "e2e-encryption")
async def test_end_to_end_conversations_take_only_complete_envelopes(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    """Devices are marked E2E-capable here by storing an identity key, as publishing keys
    does (keys.py); the envelopes are opaque bytes to the server."""
    from casebook.engines.messaging.models import MessagingDevice

    secret = await conversation(alice, "direct", [bob], e2e=True)
    cid = secret["id"]
    async with platform.db.session() as session:
        await session.execute(
            update(MessagingDevice)
            .where(MessagingDevice.id.in_([alice.device_id, bob.device_id]))
            .values(identity_key=b"k" * 32)
        )
    url = f"{API}/conversations/{cid}/messages"
    plain = await client.post(url, json={"client_id": "p", "body": "hi"}, headers=alice.headers)
    assert plain.status_code == 422
    sealed = base64.b64encode(b"\x01ciphertext for bob").decode()
    missing = await client.post(
        url, json={"client_id": "m", "kind": "encrypted", "envelopes": {}}, headers=alice.headers
    )
    assert missing.status_code == 422
    incomplete = await client.post(
        url,
        json={"client_id": "i", "kind": "encrypted", "envelopes": {str(bob.device_id): sealed}},
        headers=alice.headers,
    )
    assert incomplete.status_code == 422
    assert incomplete.json()["missing"] == [str(alice.device_id)]
    sent = await client.post(
        url,
        json={
            "client_id": "ok",
            "kind": "encrypted",
            "device_id": str(alice.device_id),
            "envelopes": {str(bob.device_id): sealed},
        },
        headers=alice.headers,
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["body"] is None and sent.json()["ciphertext"] is None
    mine = await history(client, bob, cid, device_id=bob.device_id)
    assert mine[0]["ciphertext"] == sealed
    sender_view = await history(client, alice, cid, device_id=alice.device_id)
    assert sender_view[0]["ciphertext"] is None
    stranger = await client.get(
        f"{API}/conversations/{cid}/messages",
        params={"device_id": bob.device_id},
        headers=alice.headers,
    )
    assert stranger.status_code == 404


@pytest.mark.feature("instant-messenger", "media-sharing")
async def test_media_messages_name_only_the_senders_attachments(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    from casebook.engines.messaging.models import MessagingAttachment
    from casebook.platform.ids import new_id

    chat = await conversation(alice, "direct", [bob])
    ids = {}
    async with platform.db.session() as session:
        for owner in (alice, bob):
            ids[owner.user_id] = new_id()
            session.add(
                MessagingAttachment(
                    id=ids[owner.user_id],
                    system="instant-messenger",
                    owner_id=owner.user_id,
                    kind="image",
                    content_type="image/png",
                    size=10,
                    sha256="0" * 64,
                    blob_key=f"k/{owner.user_id}",
                )
            )
    url = f"{API}/conversations/{chat['id']}/messages"
    theirs = await client.post(
        url,
        json={"client_id": "a", "kind": "media", "data": {"attachments": [str(ids[bob.user_id])]}},
        headers=alice.headers,
    )
    assert theirs.status_code == 422
    mine = await client.post(
        url,
        json={
            "client_id": "b",
            "kind": "media",
            "body": "look",
            "data": {"attachments": [str(ids[alice.user_id])]},
        },
        headers=alice.headers,
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["data"] == {"attachments": [str(ids[alice.user_id])]}
    assert mine.json()["body"] == "look"


@pytest.mark.feature("instant-messenger", "messaging")
async def test_concurrent_http_senders_in_one_group_lose_nothing(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", [bob, carol])
    gid = group["id"]
    users = [alice, bob, carol]
    responses = await asyncio.gather(
        *(send_text(users[i % 3], gid, f"n{i}", client_id=f"k{i}") for i in range(45))
    )
    assert all(r.status_code == 201 for r in responses)
    seen: list[dict[str, object]] = []
    after = 0
    while True:
        page = await history(client, carol, gid, after=after, limit=10)
        if not page:
            break
        seen += page
        after = int(str(page[-1]["seq"]))
    assert [m["seq"] for m in seen] == list(range(1, 46))
    assert sorted(str(m["body"]) for m in seen) == sorted(f"n{i}" for i in range(45))
    async with platform.db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(MessagingMessage)
            .where(MessagingMessage.conversation_id == int(gid))
        )
        last = await session.scalar(
            select(MessagingConversation.last_seq).where(MessagingConversation.id == int(gid))
        )
    assert count == last == 45


@pytest.mark.feature("instant-messenger", "receipts")
async def test_marks_and_messages_are_published_once_after_commit(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = chat["id"]
    async with (
        bus_events(platform, conversation_channel(SYSTEM, int(cid))) as events,
        bus_events(platform, user_channel(SYSTEM, int(alice.id))) as to_alice,
        bus_events(platform, user_channel(SYSTEM, int(bob.id))) as to_bob,
    ):
        await send_text(alice, cid, "ping", client_id="p")
        await send_text(alice, cid, "ping", client_id="p")
        await client.post(
            f"{API}/conversations/{cid}/read", json={"read_seq": 1}, headers=bob.headers
        )
        await client.post(
            f"{API}/conversations/{cid}/read", json={"read_seq": 1}, headers=bob.headers
        )
    assert [e["type"] for e in events] == ["message"]
    message = events[0]
    assert message["seq"] == 1 and message["message"]["body"] == "ping"
    assert "envelopes" not in message
    # The receipt goes to the author of the entry it covers, and to the reader's own devices
    # (their unread counts), not to the whole conversation.
    receipt = {
        "type": "receipts",
        "receipts": [
            {"conversation_id": cid, "user_id": bob.id, "delivered_seq": 1, "read_seq": 1}
        ],
    }
    assert [e for e in to_alice if e["type"] == "receipts"] == [receipt]
    assert [e for e in to_bob if e["type"] == "receipts"] == [receipt]


@pytest.mark.feature("instant-messenger", "messaging")
async def test_a_sender_over_the_rate_gets_429_and_nothing_is_stored(
    client: httpx.AsyncClient,
    engine_state: Messenger,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    engine_state.config = dataclasses.replace(engine_state.config, send_rate=0.01, send_burst=3)
    chat = await conversation(alice, "direct", [bob])
    codes = [(await send_text(alice, chat["id"], f"m{i}")).status_code for i in range(5)]
    assert codes[:3] == [201, 201, 201]
    assert codes[3:] == [429, 429]
    limited = await send_text(alice, chat["id"], "again")
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await send_text(bob, chat["id"], "bob is not limited")).status_code == 201
    assert [m["seq"] for m in await history(client, bob, chat["id"])] == [4, 3, 2, 1]


@pytest.mark.feature("instant-messenger", "contacts")
async def test_a_blocked_user_can_neither_message_nor_start_a_chat(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    group = await conversation(alice, "group", [bob])
    # A contact needs a profile in the system; reading one's profile makes it.
    assert (await client.get(f"{API}/profile", headers=bob.headers)).status_code == 200
    blocked = await client.put(
        f"{API}/contacts/{bob.id}", json={"blocked": True}, headers=alice.headers
    )
    assert blocked.status_code == 200, blocked.text
    refused = await send_text(bob, chat["id"], "please answer")
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/messaging/not-allowed"
    # Blocking is one-way and about direct chats: alice still writes; groups are unaffected.
    assert (await send_text(alice, chat["id"], "no")).status_code == 201
    assert (await send_text(bob, group["id"], "hi all")).status_code == 201
    secret = await client.post(
        f"{API}/conversations",
        json={"kind": "direct", "user_id": alice.id, "e2e": True},
        headers=bob.headers,
    )
    assert secret.status_code == 403
    fresh = await client.post(
        f"{API}/conversations", json={"kind": "direct", "user_id": alice.id}, headers=carol.headers
    )
    assert fresh.status_code == 201
    assert [m["body"] for m in await history(client, alice, chat["id"])] == ["no"]


async def test_a_share_of_a_post_is_not_a_kind_this_system_takes(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    """Only systems whose configuration enables it (Instagram's Direct) take "share" messages:
    here the kind is unknown, and nothing is stored."""
    chat = await conversation(alice, "direct", [bob])
    response = await client.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={"client_id": "s1", "kind": "share", "data": {"post_id": "123"}},
        headers=alice.headers,
    )
    assert response.status_code == 422
    assert "Unknown message kind" in response.json()["detail"]
    assert await history(client, alice, chat["id"]) == []


def test_the_writers_plain_message_has_exactly_the_columns_of_a_stored_one() -> None:
    """The writer inserts its `StoredMessage`'s fields as the row: a column added to the model
    and not to the plain object would be left out of every insert."""
    columns = {column.key for column in MessagingMessage.__table__.columns}
    assert {field.name for field in dataclasses.fields(StoredMessage)} == columns
