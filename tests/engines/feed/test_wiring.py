"""The engagement half wired into the core: moderation hides posts from feeds, walls and single
reads; deleting a post gives its share back and forgets its notifications; posts are screened
for spam; a share shows its original only while the reader may see it; notifications are
pushed live (after commit, to their recipient only) and blocked actors leave the unread count."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect as ws_connect

from casebook.engines.feed import moderation, notifications
from casebook.engines.feed.engagement_api import EngagementConfig, configure
from casebook.platform.context import Platform
from casebook.platform.ratelimit import RateLimit
from tests.engines.feed.conftest import (
    API,
    SYSTEM,
    Befriend,
    FeedIds,
    FeedUser,
    Follow,
    NewUser,
    Publish,
)

WAIT = 5.0


def _moderate(platform: Platform, **fields: Any) -> None:
    configure(platform, SYSTEM, EngagementConfig(moderation=moderation.ModerationConfig(**fields)))


async def _wall(client: httpx.AsyncClient, viewer: FeedUser, author: FeedUser) -> list[str]:
    response = await client.get(f"{API}/users/{author.id}/posts", headers=viewer.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _report(client: httpx.AsyncClient, user: FeedUser, post_id: str) -> None:
    response = await client.post(
        f"{API}/reports",
        json={"target_kind": "post", "target_id": post_id, "reason": "spam"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text


async def _unread(client: httpx.AsyncClient, user: FeedUser) -> int:
    response = await client.get(f"{API}/notifications/unread-count", headers=user.headers)
    assert response.status_code == 200, response.text
    count: int = response.json()["unread_count"]
    return count


@pytest.mark.feature("facebook-newsfeed", "moderation")
async def test_a_post_hidden_by_moderation_leaves_every_read_but_its_authors(
    client: httpx.AsyncClient,
    platform: Platform,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
    feed_ids: FeedIds,
) -> None:
    _moderate(platform, report_threshold=2)
    alice, bob, carol, dave = [await new_user() for _ in range(4)]
    await follow(bob, alice)
    kept = await publish(alice, "harmless")
    bad = await publish(alice, "reported twice")
    assert await feed_ids(bob) == [bad["id"], kept["id"]]
    await _report(client, carol, bad["id"])
    # One report hides it for the reporter only.
    assert await feed_ids(bob) == [bad["id"], kept["id"]]
    await _report(client, dave, bad["id"])

    assert await feed_ids(bob) == [kept["id"]]
    assert await feed_ids(bob, rank="engagement") == [kept["id"]]
    assert await _wall(client, bob, alice) == [kept["id"]]
    single = await client.get(f"{API}/posts/{bad['id']}", headers=bob.headers)
    assert single.status_code == 404
    assert (await client.get(f"{API}/posts/{bad['id']}")).status_code == 404
    # Its author still has it everywhere.
    assert await feed_ids(alice) == [bad["id"], kept["id"]]
    assert await _wall(client, alice, alice) == [bad["id"], kept["id"]]
    own = await client.get(f"{API}/posts/{bad['id']}", headers=alice.headers)
    assert own.status_code == 200


@pytest.mark.feature("facebook-newsfeed", "moderation")
async def test_a_post_the_reader_hid_leaves_their_feed_and_walls_but_opens_by_id(
    client: httpx.AsyncClient,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
    feed_ids: FeedIds,
) -> None:
    alice, bob, carol = [await new_user() for _ in range(3)]
    await follow(bob, alice)
    await follow(carol, alice)
    post = await publish(alice, "not for bob's taste")
    hidden = await client.post(
        f"{API}/hidden", json={"target_kind": "post", "target_id": post["id"]}, headers=bob.headers
    )
    assert hidden.status_code == 204
    assert await feed_ids(bob) == []
    assert await _wall(client, bob, alice) == []
    assert await feed_ids(carol) == [post["id"]]
    opened = await client.get(f"{API}/posts/{post['id']}", headers=bob.headers)
    assert opened.status_code == 200
    undone = await client.delete(f"{API}/hidden/post/{post['id']}", headers=bob.headers)
    assert undone.status_code == 204
    assert await feed_ids(bob) == [post["id"]]


@pytest.mark.feature("facebook-newsfeed", "engagement")
async def test_deleting_a_share_post_gives_the_share_back(
    client: httpx.AsyncClient, publish: Publish, alice: FeedUser, bob: FeedUser
) -> None:
    original = await publish(alice, "worth sharing")
    shared = await client.post(f"{API}/posts/{original['id']}/shares", json={}, headers=bob.headers)
    assert shared.status_code == 201, shared.text
    assert shared.json()["shares"] == 1
    share_post = shared.json()["post"]["id"]
    deleted = await client.delete(f"{API}/posts/{share_post}", headers=bob.headers)
    assert deleted.status_code == 204
    engagement = await client.get(f"{API}/posts/{original['id']}/engagement")
    assert engagement.json()["counts"].get("shares", 0) == 0
    listed = await client.get(f"{API}/posts/{original['id']}/shares")
    assert listed.json()["items"] == []
    # The share is gone, so undoing it finds nothing (and the count stays at 0).
    undo = await client.delete(f"{API}/shares/{shared.json()['share_id']}", headers=bob.headers)
    assert undo.status_code == 404
    engagement = await client.get(f"{API}/posts/{original['id']}/engagement")
    assert engagement.json()["counts"].get("shares", 0) == 0


@pytest.mark.feature("facebook-newsfeed", "notifications")
async def test_deleting_a_post_forgets_the_notifications_about_it(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice = await new_user("wiring_alice")
    carol = await new_user("wiring_carol")
    profile = await client.get(f"{API}/me", headers=carol.headers)  # makes her handle
    assert profile.json()["handle"] == "wiring_carol"
    made = await client.post(
        f"{API}/posts", json={"body": "hello @wiring_carol"}, headers=alice.headers
    )
    assert made.status_code == 201, made.text
    assert await _unread(client, carol) == 1
    deleted = await client.delete(f"{API}/posts/{made.json()['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert await _unread(client, carol) == 0
    listed = await client.get(f"{API}/notifications", headers=carol.headers)
    assert listed.json()["items"] == []


@pytest.mark.feature("facebook-newsfeed", "moderation")
async def test_posts_are_screened_for_spam_and_a_refused_post_is_not_stored(
    client: httpx.AsyncClient, platform: Platform, alice: FeedUser, bob: FeedUser, carol: FeedUser
) -> None:
    _moderate(platform, blocked_domains=frozenset({"bad.example"}), max_unvetted_links=1)

    async def post(user: FeedUser, body: str) -> httpx.Response:
        return await client.post(f"{API}/posts", json={"body": body}, headers=user.headers)

    first = await post(alice, "Same   words")
    assert first.status_code == 201
    again = await post(alice, "same words")
    assert again.status_code == 409
    assert again.json()["type"].endswith("feed/duplicate-content")
    assert (await post(bob, "same words")).status_code == 201  # another user's text is theirs
    blocked = await post(alice, "see https://www.shop.bad.example/x")
    assert blocked.status_code == 422
    assert blocked.json()["type"].endswith("feed/link-blocked")
    spammy = await post(alice, "https://one.example https://two.example")
    assert spammy.status_code == 422
    assert spammy.json()["type"].endswith("feed/looks-like-spam")
    assert await _wall(client, alice, alice) == [first.json()["id"]]

    _moderate(platform, create_rate=RateLimit.per_minute(1, burst=1))
    assert (await post(carol, "one a minute")).status_code == 201
    limited = await post(carol, "too soon")
    assert limited.status_code == 429
    assert "retry-after" in limited.headers
    photo = await client.post(f"{API}/posts", json={"data": {"x": 1}}, headers=carol.headers)
    assert photo.status_code == 429  # a post without text is rate limited too


@pytest.mark.feature("facebook-newsfeed", "engagement")
async def test_a_share_shows_its_original_only_while_the_reader_may_see_it(
    client: httpx.AsyncClient,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
    befriend: Befriend,
    feed_ids: FeedIds,
) -> None:
    alice, bob, carol = [await new_user() for _ in range(3)]
    await befriend(alice, bob)
    await follow(carol, bob)
    original = await publish(alice, "public for now")
    shared = await client.post(f"{API}/posts/{original['id']}/shares", json={}, headers=bob.headers)
    assert shared.status_code == 201, shared.text
    share_id = shared.json()["post"]["id"]
    await asyncio.sleep(0)

    async def seen_by(user: FeedUser) -> Any:
        response = await client.get(f"{API}/posts/{share_id}", headers=user.headers)
        assert response.status_code == 200, response.text
        return response.json()["shared_post"]

    assert (await seen_by(carol))["body"] == "public for now"
    narrowed = await client.patch(
        f"{API}/posts/{original['id']}", json={"audience": "friends"}, headers=alice.headers
    )
    assert narrowed.status_code == 200
    assert await seen_by(carol) is None
    assert (await seen_by(bob))["body"] == "public for now"  # bob is alice's friend
    feed = await client.get(f"{API}/feed", headers=carol.headers)
    (item,) = [i for i in feed.json()["items"] if i["id"] == share_id]
    assert item["shared_post"] is None
    anonymous = await client.get(f"{API}/posts/{share_id}")
    assert anonymous.json()["shared_post"] is None


@pytest.mark.feature("facebook-newsfeed", "notifications")
async def test_a_notification_is_pushed_live_to_its_recipient_after_commit_only(
    client: httpx.AsyncClient,
    platform: Platform,
    ws_url: str,
    new_user: NewUser,
    follow: Follow,
) -> None:
    alice, bob, carol = [await new_user() for _ in range(3)]
    async with ws_connect(ws_url) as alice_socket, ws_connect(ws_url) as carol_socket:
        for socket, user in ((alice_socket, alice), (carol_socket, carol)):
            await socket.send(orjson.dumps({"type": "hello", "token": user.token}).decode())
            ready = orjson.loads(await asyncio.wait_for(socket.recv(), WAIT))
            assert ready["type"] == "ready"

        # A notification whose transaction rolls back is never pushed.
        with pytest.raises(RuntimeError):
            async with platform.db.session() as session:
                stored = await notifications.notify(
                    session, SYSTEM, carol.user_id, "follow", alice.user_id, "user", alice.user_id
                )
                assert stored
                raise RuntimeError("roll back")

        await follow(bob, alice)
        frame = orjson.loads(await asyncio.wait_for(alice_socket.recv(), WAIT))
        assert frame["type"] == "notification"
        assert frame["notification"]["kind"] == "follow"
        assert frame["notification"]["actor"]["id"] == bob.id
        assert frame["unread_count"] == 1

        # Carol's first frame is her own later notification: neither alice's nor the
        # rolled-back one reached her socket.
        await follow(bob, carol)
        frame = orjson.loads(await asyncio.wait_for(carol_socket.recv(), WAIT))
        assert frame["notification"]["actor"]["id"] == bob.id
        assert frame["unread_count"] == 1


@pytest.mark.feature("facebook-newsfeed", "notifications")
async def test_the_unread_count_leaves_out_actors_blocked_either_way(
    client: httpx.AsyncClient, new_user: NewUser, follow: Follow
) -> None:
    alice, bob, carol = [await new_user() for _ in range(3)]
    await follow(bob, alice)
    await follow(carol, alice)
    assert await _unread(client, alice) == 2
    blocked = await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    assert blocked.status_code == 204, blocked.text
    assert await _unread(client, alice) == 1
    listed = await client.get(f"{API}/notifications", headers=alice.headers)
    assert listed.json()["unread_count"] == 1
    assert [n["actor"]["id"] for n in listed.json()["items"]] == [carol.id]
    # Blocked by the actor's side counts too.
    blocker = await client.post(f"{API}/users/{alice.id}/block", headers=carol.headers)
    assert blocker.status_code == 204
    assert await _unread(client, alice) == 0
