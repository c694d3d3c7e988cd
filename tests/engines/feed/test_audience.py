"""Audiences enforced on every read path: the single-post read, profile walls, page and group
walls, the home feed (chronological and ranked), for strangers, followers, friends, list
members, blocked users, anonymous readers and readers of another system."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from tests.engines.feed.conftest import (
    API,
    Befriend,
    FeedIds,
    FeedUser,
    Follow,
    NewUser,
    Publish,
)

pytestmark = pytest.mark.feature("facebook-newsfeed", "privacy")


async def _sees(client: httpx.AsyncClient, reader: FeedUser | None, post: dict[str, Any]) -> bool:
    """Whether `reader` can read the post directly (200) — else it must be a plain 404."""
    headers = reader.headers if reader else {}
    response = await client.get(f"{API}/posts/{post['id']}", headers=headers)
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


async def _wall(client: httpx.AsyncClient, reader: FeedUser | None, author: FeedUser) -> set[str]:
    headers = reader.headers if reader else {}
    response = await client.get(f"{API}/users/{author.id}/posts", headers=headers)
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["items"]}


async def test_each_audience_reaches_exactly_its_readers_on_every_read_path(
    client: httpx.AsyncClient,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
    befriend: Befriend,
    feed_ids: FeedIds,
) -> None:
    author, friend, follower, listed, stranger = [await new_user() for _ in range(5)]
    await befriend(author, friend)
    await follow(follower, author)
    await follow(listed, author)
    made = await client.post(
        f"{API}/lists",
        json={"name": "close", "member_ids": [listed.id]},
        headers=author.headers,
    )
    assert made.status_code == 201, made.text
    list_id = made.json()["id"]

    posts = {
        "public": await publish(author, "everyone"),
        "followers": await publish(author, "followers", audience="followers"),
        "friends": await publish(author, "friends", audience="friends"),
        "list": await publish(author, "list", audience=f"list:{list_id}"),
        "only_me": await publish(author, "me", audience="only_me"),
    }
    expected: dict[str, set[str]] = {
        "author": {"public", "followers", "friends", "list", "only_me"},
        "friend": {"public", "followers", "friends"},
        "follower": {"public", "followers"},
        "listed": {"public", "followers", "list"},
        "stranger": {"public"},
        "anonymous": {"public"},
    }
    readers: dict[str, FeedUser | None] = {
        "author": author,
        "friend": friend,
        "follower": follower,
        "listed": listed,
        "stranger": stranger,
        "anonymous": None,
    }
    for name, reader in readers.items():
        allowed = {posts[k]["id"] for k in expected[name]}
        direct = {p["id"] for p in posts.values() if await _sees(client, reader, p)}
        assert direct == allowed, name
        assert await _wall(client, reader, author) == allowed, name
        if reader is not None and name != "stranger":
            # Strangers do not follow the author, so nothing of theirs is in their feed.
            assert set(await feed_ids(reader)) == allowed, name
            assert set(await feed_ids(reader, rank="engagement")) == allowed, name
    assert await feed_ids(stranger) == []


async def test_a_private_accounts_public_posts_reach_only_approved_followers(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    publish: Publish,
    feed_ids: FeedIds,
) -> None:
    made_private = await client.patch(f"{API}/me", json={"private": True}, headers=alice.headers)
    assert made_private.json()["private"] is True
    asked = await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    assert asked.json()["status"] == "pending"
    post = await publish(alice, "private public post")

    assert not await _sees(client, bob, post)
    assert not await _sees(client, None, post)
    assert await _wall(client, bob, alice) == set()
    assert await feed_ids(bob) == []
    requests = await client.get(f"{API}/follow-requests", headers=alice.headers)
    assert requests.json()["user_ids"] == [bob.id]

    approved = await client.post(f"{API}/follow-requests/{bob.id}/approve", headers=alice.headers)
    assert approved.status_code == 204
    assert await _sees(client, bob, post)
    assert await _wall(client, bob, alice) == {post["id"]}
    assert not await _sees(client, carol, post)
    # Approval back-fills alice's recent posts into bob's feed; newer ones are fanned out.
    newer = await publish(alice, "after approval")
    assert await feed_ids(bob) == [newer["id"], post["id"]]


async def test_blocks_hide_posts_both_ways_and_end_the_relationship(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    publish: Publish,
    befriend: Befriend,
    feed_ids: FeedIds,
) -> None:
    await befriend(alice, bob)
    by_alice = await publish(alice, "from alice")
    by_bob = await publish(bob, "from bob")
    assert await feed_ids(bob) == [by_bob["id"], by_alice["id"]]

    blocked = await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    assert blocked.status_code == 204
    assert not await _sees(client, bob, by_alice)
    assert not await _sees(client, alice, by_bob)
    wall = await client.get(f"{API}/users/{alice.id}/posts", headers=bob.headers)
    assert wall.status_code == 404  # as if alice did not exist
    assert await feed_ids(bob) == [by_bob["id"]]
    assert await feed_ids(alice) == [by_alice["id"]]
    profile = await client.get(f"{API}/users/{alice.id}", headers=bob.headers)
    assert profile.status_code == 404
    refollow = await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    assert refollow.status_code == 404
    befriend_again = await client.post(
        f"{API}/users/{alice.id}/friend-request", headers=bob.headers
    )
    assert befriend_again.status_code == 404
    friends = await client.get(f"{API}/friends", headers=alice.headers)
    assert friends.json()["user_ids"] == []

    await client.delete(f"{API}/users/{bob.id}/block", headers=alice.headers)
    assert await _sees(client, bob, by_alice)  # public again, but no friendship restored
    assert await feed_ids(bob) == [by_bob["id"]]


async def test_group_posts_are_for_members_and_page_posts_for_the_pages_audience(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    publish: Publish,
    feed_ids: FeedIds,
) -> None:
    group = (await client.post(f"{API}/groups", json={"name": "G"}, headers=alice.headers)).json()
    page = (await client.post(f"{API}/pages", json={"name": "P"}, headers=alice.headers)).json()
    joined = await client.post(f"{API}/groups/{group['id']}/join", headers=bob.headers)
    assert joined.json()["joined"] is True
    followed = await client.post(f"{API}/pages/{page['id']}/follow", headers=bob.headers)
    assert followed.json()["status"] == "active"

    in_group = await publish(alice, "group talk", group_id=group["id"])
    assert in_group["audience"] == "group"
    page_fans = await publish(alice, "for fans", page_id=page["id"], audience="followers")
    page_all = await publish(alice, "for all", page_id=page["id"])

    assert await _sees(client, bob, in_group)
    assert not await _sees(client, carol, in_group)
    assert not await _sees(client, None, in_group)
    assert await _sees(client, bob, page_fans)
    assert not await _sees(client, carol, page_fans)
    assert await _sees(client, None, page_all)
    assert set(await feed_ids(bob)) == {in_group["id"], page_fans["id"], page_all["id"]}

    group_wall = await client.get(f"{API}/groups/{group['id']}/posts", headers=carol.headers)
    assert group_wall.json()["items"] == []
    page_wall = await client.get(f"{API}/pages/{page['id']}/posts", headers=carol.headers)
    assert [p["id"] for p in page_wall.json()["items"]] == [page_all["id"]]

    outsider = await client.post(
        f"{API}/posts", json={"body": "x", "group_id": group["id"]}, headers=carol.headers
    )
    assert outsider.status_code == 403
    not_owner = await client.post(
        f"{API}/posts", json={"body": "x", "page_id": page["id"]}, headers=bob.headers
    )
    assert not_owner.status_code == 403

    left = await client.post(f"{API}/groups/{group['id']}/leave", headers=bob.headers)
    assert left.status_code == 204
    assert not await _sees(client, bob, in_group)
    assert set(await feed_ids(bob)) == {page_fans["id"], page_all["id"]}


async def test_another_users_list_cannot_be_used_or_changed(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, carol: FeedUser
) -> None:
    made = await client.post(
        f"{API}/lists", json={"name": "mine", "member_ids": [carol.id]}, headers=alice.headers
    )
    list_id = made.json()["id"]
    use = await client.post(
        f"{API}/posts", json={"body": "x", "audience": f"list:{list_id}"}, headers=bob.headers
    )
    assert use.status_code == 404
    change = await client.put(
        f"{API}/lists/{list_id}/members", json={"member_ids": [bob.id]}, headers=bob.headers
    )
    assert change.status_code == 404
    mine = await client.get(f"{API}/lists", headers=bob.headers)
    assert mine.json()["items"] == []
    unknown_member = await client.post(
        f"{API}/lists", json={"name": "x", "member_ids": ["42"]}, headers=alice.headers
    )
    assert unknown_member.status_code == 404


async def test_changing_a_lists_members_changes_who_sees_its_posts_at_once(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, carol: FeedUser, publish: Publish
) -> None:
    made = await client.post(
        f"{API}/lists", json={"name": "l", "member_ids": [bob.id]}, headers=alice.headers
    )
    list_id = made.json()["id"]
    post = await publish(alice, "listed", audience=f"list:{list_id}")
    assert await _sees(client, bob, post)
    assert not await _sees(client, carol, post)
    await client.put(
        f"{API}/lists/{list_id}/members", json={"member_ids": [carol.id]}, headers=alice.headers
    )
    assert not await _sees(client, bob, post)
    assert await _sees(client, carol, post)


async def test_posts_of_one_system_are_not_found_through_another(
    platform: Platform, alice: FeedUser, publish: Publish
) -> None:
    from casebook.engines.feed import posts as post_service

    post = await publish(alice, "newsfeed only")
    async with platform.db.session() as session:
        found = await post_service.posts_by_ids(session, "facebook-timeline", [int(post["id"])])
        assert found == []
        wall, _ = await post_service.source_posts(
            session, "facebook-timeline", alice.user_id, alice.user_id, before=None, limit=10
        )
        assert wall == []


async def test_an_api_key_without_the_systems_read_scope_cannot_read(
    client: httpx.AsyncClient, alice: FeedUser, publish: Publish
) -> None:
    post = await publish(alice, "scoped")
    created = await client.post(
        "/api/auth/api-keys",
        json={"name": "other", "scopes": ["url-shortener"]},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    assert (await client.get(f"{API}/feed", headers=key)).status_code == 403
    assert (await client.get(f"{API}/posts/{post['id']}", headers=key)).status_code == 403
    assert (await client.post(f"{API}/posts", json={"body": "x"}, headers=key)).status_code == 403
