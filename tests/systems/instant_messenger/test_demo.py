"""The demo data: the shared demo user with three friends, direct chats with history and a group;
loading twice adds nothing; the friends log in with their usernames."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.messaging.models import (
    MessagingContact,
    MessagingConversation,
    MessagingMember,
    MessagingMessage,
)
from casebook.platform.context import Platform
from casebook.systems.instant_messenger.demo import (
    CHATS,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    FRIENDS,
    GROUP_MESSAGES,
    GROUP_NAME,
    load_demo,
)
from tests.systems.instant_messenger.conftest import API

SYSTEM = "instant-messenger"
TABLES = (MessagingConversation, MessagingMember, MessagingMessage, MessagingContact)


async def _counts(platform: Platform) -> dict[str, int]:
    async with platform.db.session() as session:
        return {
            table.__tablename__: int(
                await session.scalar(select(func.count()).select_from(table)) or 0
            )
            for table in TABLES
        }


@pytest.mark.feature("instant-messenger", "contacts")
async def test_demo_loads_once_with_friends_chats_and_a_group(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await load_demo(platform)
    first = await _counts(platform)
    messages = sum(len(lines) for lines in CHATS.values()) + len(GROUP_MESSAGES)
    assert first == {
        "messaging_conversations": 4,
        "messaging_members": 3 * 2 + 4,
        "messaging_messages": messages,
        "messaging_contacts": 3 * 2,
    }
    await load_demo(platform)
    assert await _counts(platform) == first

    login = await client.post(
        "/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200, login.text
    demo = {"Authorization": f"Bearer {login.json()['access_token']}"}
    me = (await client.get("/api/auth/me", headers=demo)).json()["id"]

    friends = await client.get(f"{API}/users/{me}/friends", headers=demo)
    assert sorted(f["username"] for f in friends.json()["friends"]) == sorted(u for u, _ in FRIENDS)
    feed = await client.get(f"{API}/messages/get/{me}", headers=demo)
    assert len(feed.json()["messages"]) == messages
    assert feed.json()["messages"][0]["body"] == GROUP_MESSAGES[-1][1]
    chats = await client.get(f"{API}/conversations", headers=demo)
    kinds = sorted(c["kind"] for c in chats.json()["items"])
    assert kinds == ["direct", "direct", "direct", "group"]
    assert GROUP_NAME in {c["title"] for c in chats.json()["items"]}

    # Asha read her chat, Ben only received his: the receipts say so.
    states = {}
    for username, lines in CHATS.items():
        mine = next(n for n, (from_friend, _) in enumerate(lines) if not from_friend)
        found = await client.get(
            f"{API}/messages/search", params={"q": lines[mine][1]}, headers=demo
        )
        message_id = found.json()["messages"][0]["id"]
        view = await client.get(f"{API}/messages/{message_id}", headers=demo)
        states[username] = view.json()["receipt"]["state"]
    assert states == {"asha_rao": "read", "ben_carter": "delivered", "chen_wei": "read"}

    asha = await client.post(
        f"{API}/users/login", json={"username": "asha_rao", "password": DEMO_PASSWORD}
    )
    assert asha.status_code == 200, asha.text
    # The e-mail demo account has a username too, and logs in with it.
    by_name = await client.post(
        f"{API}/users/login", json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    )
    assert by_name.status_code == 200 and by_name.json()["user_id"] == me
    page = await client.get("/instant-messenger/", headers=demo)
    assert page.status_code == 200
