"""Full-text search over one's own conversations (SQLite FTS5 / PostgreSQL tsvector): only
conversations the user is in, after they joined or cleared, never hidden, deleted or superseded
text, safe against any query string."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from casebook.engines.messaging.models import MessagingMessage
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from tests.engines.messaging.conftest import API, ChatUser, Conversation, NewUser, SendText

pytestmark = pytest.mark.feature("instant-messenger", "message-search")


async def found(
    client: httpx.AsyncClient, user: ChatUser, q: str, **params: int | str
) -> list[str]:
    response = await client.get(f"{API}/search", params={"q": q, **params}, headers=user.headers)
    assert response.status_code == 200, response.text
    return [str(m["body"]) for m in response.json()["items"]]


async def test_a_user_finds_only_messages_of_their_own_conversations(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    ours = await conversation(alice, "direct", [bob])
    theirs = await conversation(carol, "group", [alice], title="c")
    await send_text(alice, ours["id"], "The Quarterly budget is ready")
    await send_text(carol, theirs["id"], "Budget meeting moved to Friday")
    await send_text(bob, ours["id"], "thanks for the update")
    assert await found(client, bob, "budget") == ["The Quarterly budget is ready"]
    assert await found(client, alice, "BUDGET") == [
        "Budget meeting moved to Friday",
        "The Quarterly budget is ready",
    ]
    assert await found(client, carol, "quarterly budget") == []
    assert await found(client, alice, "budget friday") == ["Budget meeting moved to Friday"]
    only = await found(client, alice, "budget", conversation_id=ours["id"])
    assert only == ["The Quarterly budget is ready"]
    assert await found(client, bob, "budget", conversation_id=theirs["id"]) == []


async def test_search_follows_edits_deletes_hides_and_clears(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = chat["id"]
    await send_text(alice, cid, "meet at the harbour")
    await send_text(alice, cid, "bring the lantern")
    await send_text(alice, cid, "and the harbour map")
    await client.patch(
        f"{API}/conversations/{cid}/messages/1",
        json={"client_id": "e", "body": "meet at the station"},
        headers=alice.headers,
    )
    assert await found(client, bob, "harbour") == ["and the harbour map"]
    assert await found(client, bob, "station") == ["meet at the station"]
    await client.delete(f"{API}/conversations/{cid}/messages/2", headers=alice.headers)
    assert await found(client, bob, "lantern") == []
    await client.delete(
        f"{API}/conversations/{cid}/messages/3", params={"for": "me"}, headers=bob.headers
    )
    assert await found(client, bob, "harbour") == []
    assert await found(client, alice, "harbour") == ["and the harbour map"]
    await client.post(f"{API}/conversations/{cid}/clear", headers=alice.headers)
    assert await found(client, alice, "harbour") == []
    assert await found(client, alice, "station") == []
    assert await found(client, bob, "station") == ["meet at the station"]


async def test_late_joiners_and_former_members_find_nothing_from_outside_their_time(
    client: httpx.AsyncClient,
    new_user: NewUser,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", [bob], title="g")
    gid = group["id"]
    await send_text(alice, gid, "early secret pineapple")
    dave = await new_user()
    await client.post(
        f"{API}/conversations/{gid}/members", json={"user_id": dave.id}, headers=alice.headers
    )
    await send_text(alice, gid, "later pineapple news")
    assert await found(client, dave, "pineapple") == ["later pineapple news"]
    await client.delete(f"{API}/conversations/{gid}/members/{bob.id}", headers=alice.headers)
    assert await found(client, bob, "pineapple") == []


async def test_queries_are_words_whatever_the_input(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    await send_text(alice, chat["id"], "error code 42 in module")
    for q in ['"error', "error*", "error AND (", "code OR", "NEAR(error code)", "42:", "-error"]:
        response = await client.get(f"{API}/search", params={"q": q}, headers=bob.headers)
        assert response.status_code == 200, (q, response.text)
    assert await found(client, bob, '"error') == ["error code 42 in module"]
    empty = await client.get(f"{API}/search", params={"q": "?!"}, headers=bob.headers)
    assert empty.status_code == 422
    assert (await client.get(f"{API}/search", params={"q": "error"})).status_code == 401


async def test_results_page_newest_first(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    for i in range(5):
        await send_text(alice, chat["id"], f"report number {i}")
    first = await client.get(
        f"{API}/search", params={"q": "report", "limit": 3}, headers=bob.headers
    )
    page = first.json()
    assert [m["body"] for m in page["items"]] == [f"report number {i}" for i in (4, 3, 2)]
    rest = await client.get(
        f"{API}/search",
        params={"q": "report", "before_id": page["next_before_id"]},
        headers=bob.headers,
    )
    assert [m["body"] for m in rest.json()["items"]] == ["report number 1", "report number 0"]
    assert rest.json()["next_before_id"] is None


async def test_a_self_destructed_message_is_not_found_before_the_sweep(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    await send_text(alice, chat["id"], "burn after reading")
    await send_text(alice, chat["id"], "keep reading")
    async with platform.db.session() as session:
        await session.execute(
            update(MessagingMessage)
            .where(MessagingMessage.conversation_id == int(chat["id"]), MessagingMessage.seq == 1)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await found(client, bob, "reading") == ["keep reading"]
