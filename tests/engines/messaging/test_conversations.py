"""Conversations, members, roles, join links and devices through the HTTP API: who may do what,
exact member counts under concurrent joins, and no access to other users' or systems' data."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from sqlalchemy import select

from casebook.engines.messaging.events import user_channel
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingCursor,
    MessagingMember,
    MessagingOneTimePrekey,
    MessagingSignedPrekey,
)
from casebook.engines.messaging.runtime import Messenger
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from tests.engines.messaging.conftest import (
    API,
    SYSTEM,
    ChatUser,
    Conversation,
    NewUser,
    SendText,
    bus_events,
)


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    value: str = response.json()["type"]
    return value


@pytest.mark.feature("instant-messenger", "messaging")
async def test_a_direct_chat_is_one_per_pair_whoever_starts_it(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    first = await client.post(
        f"{API}/conversations", json={"kind": "direct", "user_id": bob.id}, headers=alice.headers
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        f"{API}/conversations", json={"kind": "direct", "user_id": alice.id}, headers=bob.headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    secret = await client.post(
        f"{API}/conversations",
        json={"kind": "direct", "user_id": alice.id, "e2e": True},
        headers=bob.headers,
    )
    assert secret.status_code == 201 and secret.json()["e2e"] is True
    assert secret.json()["id"] != first.json()["id"]
    assert first.json()["member_count"] == 2


@pytest.mark.feature("instant-messenger", "messaging")
async def test_concurrent_direct_chat_creation_makes_one(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/conversations",
                json={"kind": "direct", "user_id": (bob if i % 2 else alice).id},
                headers=(alice if i % 2 else bob).headers,
            )
            for i in range(8)
        )
    )
    assert {r.status_code for r in responses} <= {200, 201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.status_code == 201 for r in responses) == 1


@pytest.mark.feature("instant-messenger", "messaging")
async def test_bad_conversation_requests_are_problems(
    client: httpx.AsyncClient, alice: ChatUser
) -> None:
    cases = [
        {"kind": "direct", "user_id": alice.id},
        {"kind": "direct", "user_id": "999999999"},
        {"kind": "direct"},
        {"kind": "group", "title": "   "},
        {"kind": "group", "title": "x" * 129},
        {"kind": "forum", "title": "x"},
        {"kind": "group", "title": "t", "members": ["nope"]},
    ]
    for body in cases:
        response = await client.post(f"{API}/conversations", json=body, headers=alice.headers)
        assert 400 <= response.status_code < 500, (body, response.text)
        problem_type(response)
    listed = await client.get(f"{API}/conversations", headers=alice.headers)
    assert listed.json()["items"] == []
    anonymous = await client.get(f"{API}/conversations")
    assert anonymous.status_code == 401


@pytest.mark.feature("instant-messenger", "messaging")
async def test_outsiders_cannot_read_or_change_a_conversation(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", [bob], title="private")
    gid = group["id"]
    assert (await send_text(alice, gid, "secret plans")).status_code == 201
    attempts = [
        client.get(f"{API}/conversations/{gid}", headers=carol.headers),
        client.get(f"{API}/conversations/{gid}/messages", headers=carol.headers),
        client.get(f"{API}/conversations/{gid}/members", headers=carol.headers),
        client.patch(f"{API}/conversations/{gid}", json={"title": "x"}, headers=carol.headers),
        client.post(
            f"{API}/conversations/{gid}/members", json={"user_id": carol.id}, headers=carol.headers
        ),
        client.post(f"{API}/conversations/{gid}/join-link", headers=carol.headers),
        client.post(f"{API}/conversations/{gid}/read", json={"read_seq": 1}, headers=carol.headers),
        client.delete(f"{API}/conversations/{gid}/messages/1", headers=carol.headers),
        client.get(f"{API}/conversations/{gid}/messages/1/receipts", headers=carol.headers),
        send_text(carol, gid, "let me in"),
    ]
    for response in await asyncio.gather(*attempts):
        assert response.status_code == 404, response.text
        assert problem_type(response) == "/problems/messaging/conversation-not-found"
    listed = await client.get(f"{API}/conversations", headers=carol.headers)
    assert listed.json()["items"] == []
    still = await client.get(f"{API}/conversations/{gid}", headers=alice.headers)
    assert still.json()["title"] == "private" and still.json()["last_seq"] == 1


@pytest.mark.feature("instant-messenger", "messaging")
async def test_a_conversation_of_another_system_does_not_exist_here(
    client: httpx.AsyncClient, platform: Platform, alice: ChatUser
) -> None:
    foreign_id = new_id()
    async with platform.db.session() as session:
        session.add(
            MessagingConversation(
                id=foreign_id,
                system="telegram",
                kind="group",
                title="elsewhere",
                created_by=alice.user_id,
                member_count=1,
                member_limit=10,
            )
        )
        await session.flush()
        session.add(
            MessagingMember(conversation_id=foreign_id, user_id=alice.user_id, role="owner")
        )
    response = await client.get(f"{API}/conversations/{foreign_id}", headers=alice.headers)
    assert response.status_code == 404
    send = await client.post(
        f"{API}/conversations/{foreign_id}/messages",
        json={"client_id": "x", "body": "hi"},
        headers=alice.headers,
    )
    assert send.status_code == 404
    listed = await client.get(f"{API}/conversations", headers=alice.headers)
    assert listed.json()["items"] == []


@pytest.mark.feature("instant-messenger", "group-chats")
async def test_group_roles_invites_kicks_and_leaving(
    client: httpx.AsyncClient,
    new_user: NewUser,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
) -> None:
    dave = await new_user()
    group = await conversation(alice, "group", [bob], title="team")
    gid = group["id"]
    assert group["me"]["role"] == "owner" and group["member_count"] == 2
    # A plain member cannot invite; the owner can; an admin can then.
    denied = await client.post(
        f"{API}/conversations/{gid}/members", json={"user_id": carol.id}, headers=bob.headers
    )
    assert denied.status_code == 403
    promoted = await client.patch(
        f"{API}/conversations/{gid}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    invited = await client.post(
        f"{API}/conversations/{gid}/members", json={"user_id": carol.id}, headers=bob.headers
    )
    assert invited.status_code == 201, invited.text
    twice = await client.post(
        f"{API}/conversations/{gid}/members", json={"user_id": carol.id}, headers=bob.headers
    )
    assert twice.status_code == 409
    assert problem_type(twice) == "/problems/messaging/already-member"
    # An admin cannot change roles or kick the owner; the owner cannot leave without handing over.
    assert (
        await client.patch(
            f"{API}/conversations/{gid}/members/{carol.id}",
            json={"role": "admin"},
            headers=bob.headers,
        )
    ).status_code == 403
    assert (
        await client.delete(f"{API}/conversations/{gid}/members/{alice.id}", headers=bob.headers)
    ).status_code == 403
    assert (
        await client.delete(f"{API}/conversations/{gid}/members/{alice.id}", headers=alice.headers)
    ).status_code == 409
    # Kick, leave, and hand over.
    kicked = await client.delete(
        f"{API}/conversations/{gid}/members/{carol.id}", headers=bob.headers
    )
    assert kicked.status_code == 204
    assert (
        await client.get(f"{API}/conversations/{gid}", headers=carol.headers)
    ).status_code == 404
    await client.post(
        f"{API}/conversations/{gid}/members", json={"user_id": dave.id}, headers=alice.headers
    )
    left = await client.delete(f"{API}/conversations/{gid}/members/{dave.id}", headers=dave.headers)
    assert left.status_code == 204
    handed = await client.patch(
        f"{API}/conversations/{gid}/members/{bob.id}", json={"role": "owner"}, headers=alice.headers
    )
    assert handed.status_code == 200
    mine = await client.get(f"{API}/conversations/{gid}", headers=alice.headers)
    assert mine.json()["me"]["role"] == "admin"
    assert mine.json()["member_count"] == 2
    members = await client.get(f"{API}/conversations/{gid}/members", headers=alice.headers)
    roles = {m["user_id"]: m["role"] for m in members.json()["items"]}
    assert roles == {alice.id: "admin", bob.id: "owner"}


@pytest.mark.feature("instant-messenger", "group-chats")
async def test_a_channel_is_written_by_admins_and_read_by_subscribers(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    channel = await conversation(alice, "channel", [bob], title="news")
    cid = channel["id"]
    assert channel["member_limit"] > 10**15
    assert (await send_text(alice, cid, "issue 1")).status_code == 201
    refused = await send_text(bob, cid, "can I post?")
    assert refused.status_code == 403
    assert problem_type(refused) == "/problems/messaging/not-allowed"
    page = await client.get(f"{API}/conversations/{cid}/messages", headers=bob.headers)
    assert [m["body"] for m in page.json()["items"]] == ["issue 1"]
    members = await client.get(f"{API}/conversations/{cid}/members", headers=alice.headers)
    assert {m["role"] for m in members.json()["items"]} == {"owner", "subscriber"}


@pytest.mark.feature("instant-messenger", "group-chats")
async def test_join_links_admit_until_revoked_and_late_joiners_see_only_new_messages(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", title="open")
    gid = group["id"]
    await send_text(alice, gid, "before bob")
    link = await client.post(f"{API}/conversations/{gid}/join-link", headers=alice.headers)
    token = link.json()["token"]
    joined = await client.post(f"{API}/join/{token}", headers=bob.headers)
    assert joined.status_code == 200, joined.text
    assert joined.json()["id"] == gid and joined.json()["me"]["joined_seq"] == 1
    again = await client.post(f"{API}/join/{token}", headers=bob.headers)
    assert again.status_code == 409
    await send_text(alice, gid, "after bob")
    seen = await client.get(f"{API}/conversations/{gid}/messages", headers=bob.headers)
    assert [m["body"] for m in seen.json()["items"]] == ["after bob"]
    # A new link replaces the old one; revoking ends it.
    renewed = await client.post(f"{API}/conversations/{gid}/join-link", headers=alice.headers)
    assert renewed.json()["token"] != token
    stale = await client.post(f"{API}/join/{token}", headers=carol.headers)
    assert stale.status_code == 404
    revoked = await client.delete(f"{API}/conversations/{gid}/join-link", headers=alice.headers)
    assert revoked.status_code == 204
    gone = await client.post(f"{API}/join/{renewed.json()['token']}", headers=carol.headers)
    assert gone.status_code == 404
    assert (
        await client.post(f"{API}/conversations/{gid}/join-link", headers=bob.headers)
    ).status_code == 403


@pytest.mark.feature("instant-messenger", "group-chats")
async def test_concurrent_joins_never_pass_the_member_limit(
    client: httpx.AsyncClient,
    platform: Platform,
    engine_state: Messenger,
    new_user: NewUser,
    alice: ChatUser,
    conversation: Conversation,
) -> None:
    engine_state.config = dataclasses.replace(engine_state.config, group_member_limit=5)
    group = await conversation(alice, "group", title="small")
    gid = group["id"]
    assert group["member_limit"] == 5
    token = (
        await client.post(f"{API}/conversations/{gid}/join-link", headers=alice.headers)
    ).json()["token"]
    joiners = [await new_user() for _ in range(8)]
    responses = await asyncio.gather(
        *(client.post(f"{API}/join/{token}", headers=u.headers) for u in joiners)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 4 + [409] * 4
    full = [r for r in responses if r.status_code == 409]
    assert all(problem_type(r) == "/problems/messaging/member-limit" for r in full)
    async with platform.db.session() as session:
        count = await session.scalar(
            select(MessagingConversation.member_count).where(MessagingConversation.id == int(gid))
        )
        rows = len(
            list(
                await session.scalars(
                    select(MessagingMember).where(MessagingMember.conversation_id == int(gid))
                )
            )
        )
    assert count == rows == 5


@pytest.mark.feature("instant-messenger", "messaging")
async def test_conversation_list_pages_newest_first_with_unread_counts(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    created = [await conversation(alice, "group", [bob]) for _ in range(3)]
    await send_text(alice, created[0]["id"], "one")
    await send_text(alice, created[0]["id"], "two")
    first = await client.get(f"{API}/conversations", params={"limit": 2}, headers=bob.headers)
    page = first.json()
    assert [c["id"] for c in page["items"]] == [created[2]["id"], created[1]["id"]]
    rest = await client.get(
        f"{API}/conversations", params={"before": page["next_before"]}, headers=bob.headers
    )
    (last,) = rest.json()["items"]
    assert last["id"] == created[0]["id"] and last["me"]["unread"] == 2


@pytest.mark.feature("instant-messenger", "messaging")
async def test_devices_are_registered_listed_and_revoked_by_their_owner_only(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    laptop = await client.post(f"{API}/devices", json={"name": "laptop"}, headers=alice.headers)
    assert laptop.status_code == 201
    laptop_id = laptop.json()["id"]
    listed = await client.get(f"{API}/devices", headers=alice.headers)
    assert [d["id"] for d in listed.json()["items"]] == [str(alice.device_id), laptop_id]
    assert (
        await client.delete(f"{API}/devices/{laptop_id}", headers=bob.headers)
    ).status_code == 404
    bad = await client.post(f"{API}/devices", json={"name": ""}, headers=alice.headers)
    assert bad.status_code == 422
    assert (
        await client.delete(f"{API}/devices/{laptop_id}", headers=alice.headers)
    ).status_code == 204
    after = await client.get(f"{API}/devices", headers=alice.headers)
    assert [d["revoked"] for d in after.json()["items"]] == [False, True]
    assert (
        await client.delete(f"{API}/devices/{laptop_id}", headers=alice.headers)
    ).status_code == 404
    bobs = await client.get(f"{API}/devices", headers=bob.headers)
    assert [d["id"] for d in bobs.json()["items"]] == [str(bob.device_id)]


@pytest.mark.feature("instant-messenger", "group-chats")
async def test_title_changes_are_for_admins(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    group = await conversation(alice, "group", [bob], title="old")
    gid = group["id"]
    denied = await client.patch(
        f"{API}/conversations/{gid}", json={"title": "x"}, headers=bob.headers
    )
    assert denied.status_code == 403
    changed = await client.patch(
        f"{API}/conversations/{gid}", json={"title": "new", "about": "a"}, headers=alice.headers
    )
    assert changed.json()["title"] == "new" and changed.json()["about"] == "a"
    assert changed.json()["created_at"].endswith("+00:00")


@pytest.mark.feature("instant-messenger", "group-chats")
async def test_joining_and_leaving_reach_the_users_channel(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    async with bus_events(platform, user_channel(SYSTEM, bob.user_id)) as events:
        group = await conversation(alice, "group", [bob])
        await client.delete(
            f"{API}/conversations/{group['id']}/members/{bob.id}", headers=bob.headers
        )
    assert events == [
        {"type": "joined", "conversation_id": group["id"]},
        {"type": "left", "conversation_id": group["id"]},
    ]


@pytest.mark.feature("instant-messenger", "group-chats")
async def test_public_channels_are_found_and_joined_by_handle(
    client: httpx.AsyncClient,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    channel = await conversation(alice, "channel", title="Daily news")
    cid = channel["id"]
    url = f"{API}/conversations/{cid}/handle"
    assert (await client.put(url, json={"handle": "no"}, headers=alice.headers)).status_code == 422
    made = await client.put(url, json={"handle": "Daily_News"}, headers=alice.headers)
    assert made.status_code == 200 and made.json()["public_handle"] == "daily_news"
    other = await conversation(bob, "group", title="copycat")
    taken = await client.put(
        f"{API}/conversations/{other['id']}/handle",
        json={"handle": "daily_news"},
        headers=bob.headers,
    )
    assert taken.status_code == 409
    preview = await client.get(f"{API}/public/DAILY_NEWS", headers=carol.headers)
    assert preview.status_code == 200
    assert preview.json()["title"] == "Daily news" and "me" not in preview.json()
    await send_text(alice, cid, "before carol")
    joined = await client.post(f"{API}/public/daily_news/join", headers=carol.headers)
    assert joined.status_code == 200 and joined.json()["me"]["role"] == "subscriber"
    assert joined.json()["member_count"] == 2
    # Subscribers read from their join on; they cannot post or rename.
    await send_text(alice, cid, "after carol")
    page = await client.get(f"{API}/conversations/{cid}/messages", headers=carol.headers)
    assert [m["body"] for m in page.json()["items"]] == ["after carol"]
    assert (await send_text(carol, cid, "hi")).status_code == 403
    assert (
        await client.put(url, json={"handle": "mine_now"}, headers=carol.headers)
    ).status_code == 403
    # Private again: the handle no longer leads anywhere.
    assert (await client.put(url, json={"handle": None}, headers=alice.headers)).status_code == 200
    assert (await client.get(f"{API}/public/daily_news", headers=bob.headers)).status_code == 404
    assert (
        await client.post(f"{API}/public/daily_news/join", headers=bob.headers)
    ).status_code == 404


@pytest.mark.feature("instant-messenger", "messaging")
async def test_revoking_a_device_drops_its_cursors_and_prekeys_and_tells_the_user(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    await conversation(alice, "direct", [bob])
    laptop = await client.post(f"{API}/devices", json={"name": "laptop"}, headers=alice.headers)
    device_id = int(laptop.json()["id"])
    async with platform.db.session() as session:
        session.add(
            MessagingSignedPrekey(
                device_id=device_id, key_id=1, public_key=b"p" * 32, signature=b"s" * 64
            )
        )
        session.add(MessagingOneTimePrekey(device_id=device_id, key_id=1, public_key=b"o" * 32))

    async def rows() -> list[int]:
        async with platform.db.session() as session:
            counts = []
            for table in (MessagingCursor, MessagingSignedPrekey, MessagingOneTimePrekey):
                counts.append(
                    len(
                        list(
                            await session.scalars(select(table).where(table.device_id == device_id))
                        )
                    )
                )
            return counts

    assert await rows() == [1, 1, 1]
    async with bus_events(platform, user_channel(SYSTEM, alice.user_id)) as events:
        revoked = await client.delete(f"{API}/devices/{device_id}", headers=alice.headers)
    assert revoked.status_code == 204
    assert await rows() == [0, 0, 0]
    assert events == [{"type": "device", "device_id": str(device_id), "revoked": True}]
    pending = await client.get(f"{API}/devices/{device_id}/pending", headers=alice.headers)
    assert pending.status_code == 404
