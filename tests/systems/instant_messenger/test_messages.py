"""The seed's message endpoints: `POST /messages/send` (idempotent, ordered), `GET
/messages/{id}` with receipts, the feed `GET /messages/get/{user_id}` (without the seed's leak of
other people's chats) and `GET /messages/search`, each for the caller alone."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.messaging.models import MessagingMessage
from casebook.platform.context import Platform
from tests.systems.instant_messenger.conftest import (
    API,
    Befriend,
    ImUser,
    Send,
    assert_problem,
)


async def _messages(platform: Platform) -> int:
    async with platform.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MessagingMessage)) or 0)


async def _group(client: httpx.AsyncClient, owner: ImUser, *members: ImUser) -> str:
    created = await client.post(
        f"{API}/groups/create",
        json={"group_name": "Team", "members": [m.id for m in members]},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    group_id: str = created.json()["group_id"]
    return group_id


@pytest.mark.feature("instant-messenger", "messaging")
async def test_send_to_a_user_and_to_a_group_in_order(
    client: httpx.AsyncClient, alice: ImUser, bob: ImUser, carol: ImUser, send: Send
) -> None:
    first = await send(alice, "Hi Bob", receiver=bob)
    assert first["sender"] == alice.id and first["receiver"] == bob.id
    assert first["content"] == "Hi Bob" and first["seq"] == 1 and first["duplicate"] is False
    reply = await send(bob, "Hi Alice", receiver=alice)
    assert reply["conversation_id"] == first["conversation_id"] and reply["seq"] == 2

    history = await client.get(
        f"{API}/conversations/{first['conversation_id']}/messages",
        params={"order": "oldest"},
        headers=bob.headers,
    )
    assert [(m["seq"], m["body"]) for m in history.json()["items"]] == [
        (1, "Hi Bob"),
        (2, "Hi Alice"),
    ]

    group = await _group(client, alice, bob, carol)
    posted = await send(carol, "Hello team", group=group)
    assert posted["group_id"] == group and posted["receiver"] is None
    assert posted["conversation_id"] == group and posted["seq"] == 1


@pytest.mark.feature("instant-messenger", "messaging")
async def test_concurrent_sends_get_gap_free_seqs_and_retries_store_once(
    client: httpx.AsyncClient, platform: Platform, alice: ImUser, bob: ImUser
) -> None:
    async def post(client_id: str, text: str) -> httpx.Response:
        return await client.post(
            f"{API}/messages/send",
            json={"receiver_id": bob.id, "content": text, "client_id": client_id},
            headers=alice.headers,
        )

    distinct = await asyncio.gather(*(post(f"m{n}", f"message {n}") for n in range(20)))
    assert {r.status_code for r in distinct} == {201}
    assert sorted(r.json()["seq"] for r in distinct) == list(range(1, 21))

    before = await _messages(platform)
    retries = await asyncio.gather(*(post("same-id", "only once") for _ in range(10)))
    assert sorted(r.status_code for r in retries) == [200] * 9 + [201]
    assert len({r.json()["message_id"] for r in retries}) == 1
    assert sum(r.json()["duplicate"] for r in retries) == 9
    assert await _messages(platform) == before + 1
    again = await post("same-id", "only once")
    assert again.status_code == 200 and again.json()["seq"] == 21


@pytest.mark.feature("instant-messenger", "messaging")
async def test_send_acts_only_for_the_caller_and_refuses_bad_input(
    client: httpx.AsyncClient, platform: Platform, alice: ImUser, bob: ImUser, carol: ImUser
) -> None:
    group = await _group(client, alice, bob)
    before = await _messages(platform)

    async def post(body: dict[str, Any], user: ImUser = carol) -> httpx.Response:
        return await client.post(f"{API}/messages/send", json=body, headers=user.headers)

    forged = await post(
        {"sender_id": alice.id, "receiver_id": bob.id, "content": "I am Alice", "client_id": "f"}
    )
    assert_problem(forged, 403)
    # Carol is not in the group: it does not exist for her.
    assert_problem(await post({"group_id": group, "content": "hi", "client_id": "g"}), 404)
    assert_problem(await post({"receiver_id": "123456789", "content": "hi", "client_id": "u"}), 404)
    bodies: list[dict[str, Any]] = [
        {"content": "to nobody", "client_id": "n"},
        {"receiver_id": bob.id, "group_id": group, "content": "both", "client_id": "b"},
        {"receiver_id": bob.id, "content": "", "client_id": "e"},
        {"receiver_id": bob.id, "content": "x" * 4097, "client_id": "l"},
        {"receiver_id": bob.id, "content": "no client id"},
        {"receiver_id": bob.id, "content": "hi", "client_id": "c" * 65},
        {"receiver_id": "bob", "content": "hi", "client_id": "i"},
        {"receiver_id": "9999999999999999999", "content": "hi", "client_id": "o"},
        {"receiver_id": carol.id, "content": "myself", "client_id": "s"},
        {"receiver_id": bob.id, "content": "hi", "client_id": "k", "kind": "system"},
    ]
    for body in bodies:
        assert_problem(await post(body), 422)
    unauthenticated = await client.post(
        f"{API}/messages/send", json={"receiver_id": bob.id, "content": "hi", "client_id": "a"}
    )
    assert_problem(unauthenticated, 401)
    assert await _messages(platform) == before


@pytest.mark.feature("instant-messenger", "receipts")
async def test_a_message_by_id_is_for_members_only_and_shows_its_receipt(
    client: httpx.AsyncClient, alice: ImUser, bob: ImUser, carol: ImUser, send: Send
) -> None:
    sent = await send(alice, "Did you get this?", receiver=bob)
    url = f"{API}/messages/{sent['message_id']}"

    async def receipt() -> str:
        answer = await client.get(url, headers=alice.headers)
        assert answer.status_code == 200, answer.text
        state: str = answer.json()["receipt"]["state"]
        return state

    view = (await client.get(url, headers=bob.headers)).json()
    assert view["body"] == "Did you get this?" and view["sender_id"] == alice.id
    assert view["conversation_kind"] == "direct"
    assert await receipt() == "sent"
    chat = sent["conversation_id"]
    marked = await client.post(
        f"{API}/conversations/{chat}/read", json={"delivered_seq": 1}, headers=bob.headers
    )
    assert marked.status_code == 200
    assert await receipt() == "delivered"
    await client.post(f"{API}/conversations/{chat}/read", json={"read_seq": 1}, headers=bob.headers)
    assert await receipt() == "read"

    # Carol is in no conversation with it: the same 404 as a message that does not exist.
    other = assert_problem(await client.get(url, headers=carol.headers), 404)
    missing = assert_problem(await client.get(f"{API}/messages/12345", headers=carol.headers), 404)
    assert other["type"] == missing["type"]
    assert_problem(await client.get(f"{API}/messages/abc", headers=alice.headers), 422)
    assert_problem(await client.get(f"{API}/messages/0", headers=alice.headers), 422)
    assert_problem(await client.get(url), 401)


@pytest.mark.feature("instant-messenger", "messaging")
async def test_the_feed_holds_only_the_callers_own_conversations(
    client: httpx.AsyncClient,
    alice: ImUser,
    bob: ImUser,
    carol: ImUser,
    befriend: Befriend,
    send: Send,
) -> None:
    # Carol is Alice's friend and in a group with her. The seed's feed showed Carol every
    # message of her contacts, so Alice's private chat with Bob; this one does not.
    await befriend(alice, carol)
    group = await _group(client, alice, carol)
    private = await send(alice, "Just between us, Bob", receiver=bob)
    shared = await send(alice, "Hello group", group=group)
    to_carol = await send(bob, "Hi Carol", receiver=carol)

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["messages"]]

    carols = ids(await client.get(f"{API}/messages/get/{carol.id}", headers=carol.headers))
    assert carols == [to_carol["message_id"], shared["message_id"]]
    alices = ids(await client.get(f"{API}/messages/get/{alice.id}", headers=alice.headers))
    assert alices == [shared["message_id"], private["message_id"]]

    assert_problem(await client.get(f"{API}/messages/get/{alice.id}", headers=carol.headers), 403)
    assert_problem(await client.get(f"{API}/messages/get/{alice.id}"), 401)
    assert_problem(await client.get(f"{API}/messages/get/alice", headers=alice.headers), 422)

    # Paging, and a message Alice deleted for herself leaves her feed only.
    page = await client.get(
        f"{API}/messages/get/{alice.id}", params={"limit": 1}, headers=alice.headers
    )
    assert ids(page) == [shared["message_id"]]
    rest = await client.get(
        f"{API}/messages/get/{alice.id}",
        params={"before_id": page.json()["next_before_id"]},
        headers=alice.headers,
    )
    assert ids(rest) == [private["message_id"]]
    hidden = await client.delete(
        f"{API}/conversations/{group}/messages/{shared['seq']}",
        params={"for": "me"},
        headers=alice.headers,
    )
    assert hidden.status_code == 200
    assert ids(await client.get(f"{API}/messages/get/{alice.id}", headers=alice.headers)) == [
        private["message_id"]
    ]
    assert shared["message_id"] in ids(
        await client.get(f"{API}/messages/get/{carol.id}", headers=carol.headers)
    )


@pytest.mark.feature("instant-messenger", "message-search")
async def test_search_finds_the_callers_messages_and_users_by_name(
    client: httpx.AsyncClient, alice: ImUser, bob: ImUser, carol: ImUser, send: Send
) -> None:
    mine = await send(alice, "Pineapple pizza tonight?", receiver=bob)
    await send(bob, "No pineapple on pizza, ever", receiver=alice)

    async def search(user: ImUser, q: str) -> dict[str, Any]:
        answer = await client.get(f"{API}/messages/search", params={"q": q}, headers=user.headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    found = await search(alice, "pineapple pizza")
    assert [m["body"] for m in found["messages"]] == [
        "No pineapple on pizza, ever",
        "Pineapple pizza tonight?",
    ]
    assert (await search(carol, "pineapple"))["messages"] == []
    users = (await search(carol, alice.username[:8]))["users"]
    assert [u["user_id"] for u in users] == [alice.id]

    paged = await client.get(
        f"{API}/messages/search", params={"q": "pineapple", "limit": 1}, headers=alice.headers
    )
    rest = await client.get(
        f"{API}/messages/search",
        params={"q": "pineapple", "before_id": paged.json()["next_before_id"]},
        headers=alice.headers,
    )
    assert [m["id"] for m in rest.json()["messages"]] == [mine["message_id"]]
    bad: list[dict[str, Any]] = [{}, {"q": ""}, {"q": "x" * 257}, {"q": "pizza", "limit": 0}]
    for params in bad:
        assert_problem(
            await client.get(f"{API}/messages/search", params=params, headers=alice.headers), 422
        )
    assert_problem(await client.get(f"{API}/messages/search", params={"q": "pizza"}), 401)


@pytest.mark.feature("instant-messenger", "emoji-stickers")
async def test_emojis_travel_intact_through_send_read_and_search(
    client: httpx.AsyncClient, alice: ImUser, bob: ImUser, send: Send
) -> None:
    text = "Happy birthday 🎂🎉 see you at the party 👩‍👩‍👧 " + secrets.token_hex(3)
    sent = await send(alice, text, receiver=bob)
    assert sent["content"] == text
    read = await client.get(f"{API}/messages/{sent['message_id']}", headers=bob.headers)
    assert read.json()["body"] == text
    found = await client.get(
        f"{API}/messages/search", params={"q": "birthday"}, headers=bob.headers
    )
    assert [m["body"] for m in found.json()["messages"]] == [text]
