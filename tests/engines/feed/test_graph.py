"""The social graph: follows and their counts under real concurrency, friend requests (accept,
decline, crossing requests, unfriend), private accounts' follow requests, pages and groups,
bad input refused without changing anything, and follow notifications."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from sqlalchemy import select

from casebook.engines.feed import graph
from casebook.engines.feed.engagement_models import FeedNotification
from casebook.engines.feed.models import FeedFollow
from casebook.platform.context import Platform
from tests.engines.feed.conftest import (
    API,
    SYSTEM,
    Befriend,
    FeedUser,
    Follow,
    MakeUsers,
    NewUser,
)

pytestmark = pytest.mark.feature("facebook-newsfeed", "connections")


async def _profile(client: httpx.AsyncClient, user: FeedUser) -> dict[str, object]:
    response = await client.get(f"{API}/users/{user.id}", headers=user.headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


async def test_concurrent_follows_and_unfollows_count_every_follower_exactly(
    client: httpx.AsyncClient, platform: Platform, new_user: NewUser, make_users: MakeUsers
) -> None:
    star = await new_user()
    fans = await make_users(12)
    await client.get(f"{API}/me", headers=star.headers)  # the star's profile exists

    async def follow_twice(fan: int) -> None:
        async with platform.db.session(write=True) as session:
            await graph.follow(session, SYSTEM, fan, star.user_id)
        async with platform.db.session(write=True) as session:
            await graph.follow(session, SYSTEM, fan, star.user_id)  # idempotent

    await asyncio.gather(*(follow_twice(fan) for fan in fans))
    assert (await _profile(client, star))["follower_count"] == 12

    async def leave(fan: int) -> None:
        async with platform.db.session(write=True) as session:
            await graph.unfollow(session, SYSTEM, fan, star.user_id)

    await asyncio.gather(*(leave(fan) for fan in fans[:5]), *(leave(fan) for fan in fans[:5]))
    assert (await _profile(client, star))["follower_count"] == 7
    async with platform.db.session() as session:
        edges = await session.scalars(
            select(FeedFollow.follower_id).where(
                FeedFollow.system == SYSTEM, FeedFollow.followee_id == star.user_id
            )
        )
        assert sorted(edges) == sorted(fans[5:])


async def test_follow_requests_to_a_private_account_wait_for_approval_or_decline(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, carol: FeedUser
) -> None:
    await client.patch(f"{API}/me", json={"private": True}, headers=alice.headers)
    for fan in (bob, carol):
        asked = await client.post(f"{API}/users/{alice.id}/follow", headers=fan.headers)
        assert asked.json()["status"] == "pending"
    assert (await _profile(client, alice))["follower_count"] == 0

    declined = await client.post(f"{API}/follow-requests/{carol.id}/decline", headers=alice.headers)
    assert declined.status_code == 204
    again = await client.post(f"{API}/follow-requests/{carol.id}/decline", headers=alice.headers)
    assert again.status_code == 404
    # Bob cannot approve his own request to alice.
    self_approve = await client.post(f"{API}/follow-requests/{bob.id}/approve", headers=bob.headers)
    assert self_approve.status_code == 404

    made_public = await client.patch(f"{API}/me", json={"private": False}, headers=alice.headers)
    assert made_public.status_code == 200
    assert (await _profile(client, alice))["follower_count"] == 1  # bob's request was approved
    pending = await client.get(f"{API}/follow-requests", headers=alice.headers)
    assert pending.json()["user_ids"] == []


async def test_friend_requests_accept_decline_cross_and_unfriend(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, carol: FeedUser
) -> None:
    asked = await client.post(f"{API}/users/{bob.id}/friend-request", headers=alice.headers)
    assert asked.json()["status"] == "pending"
    incoming = await client.get(f"{API}/friend-requests", headers=bob.headers)
    assert incoming.json()["user_ids"] == [alice.id]
    # Carol cannot accept a request made to bob.
    wrong = await client.post(f"{API}/friend-requests/{alice.id}/accept", headers=carol.headers)
    assert wrong.status_code == 404

    accepted = await client.post(f"{API}/friend-requests/{alice.id}/accept", headers=bob.headers)
    assert accepted.status_code == 204
    for user, other in ((alice, bob), (bob, alice)):
        friends = await client.get(f"{API}/friends", headers=user.headers)
        assert friends.json()["user_ids"] == [other.id]
        assert (await _profile(client, user))["follower_count"] == 1  # friends follow each other

    # Crossing requests make a friendship at once.
    await client.post(f"{API}/users/{carol.id}/friend-request", headers=alice.headers)
    crossed = await client.post(f"{API}/users/{alice.id}/friend-request", headers=carol.headers)
    assert crossed.json()["status"] == "accepted"

    ended = await client.delete(f"{API}/users/{bob.id}/friend", headers=alice.headers)
    assert ended.status_code == 204
    friends = await client.get(f"{API}/friends", headers=bob.headers)
    assert friends.json()["user_ids"] == []
    assert (await _profile(client, bob))["follower_count"] == 0

    await client.post(f"{API}/users/{bob.id}/friend-request", headers=carol.headers)
    declined = await client.post(f"{API}/friend-requests/{carol.id}/decline", headers=bob.headers)
    assert declined.status_code == 204
    friends = await client.get(f"{API}/friends", headers=carol.headers)
    assert friends.json()["user_ids"] == [alice.id]


async def test_bad_graph_requests_are_refused_with_problems(
    client: httpx.AsyncClient, alice: FeedUser
) -> None:
    self_follow = await client.post(f"{API}/users/{alice.id}/follow", headers=alice.headers)
    assert self_follow.status_code == 422
    assert self_follow.json()["type"] == "/problems/feed/self-relation"
    unknown = await client.post(f"{API}/users/4242/follow", headers=alice.headers)
    assert unknown.status_code == 404
    not_an_id = await client.post(f"{API}/users/abc/follow", headers=alice.headers)
    assert not_an_id.status_code == 422
    self_block = await client.post(f"{API}/users/{alice.id}/block", headers=alice.headers)
    assert self_block.status_code == 422
    no_page = await client.post(f"{API}/pages/99/follow", headers=alice.headers)
    assert no_page.status_code == 404
    empty_name = await client.post(f"{API}/groups", json={"name": ""}, headers=alice.headers)
    assert empty_name.status_code == 422
    anonymous = await client.post(f"{API}/users/{alice.id}/follow")
    assert anonymous.status_code == 401
    following = await client.get(f"{API}/friends", headers=alice.headers)
    assert following.json()["user_ids"] == []


async def test_pages_and_groups_count_their_followers_and_members(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, carol: FeedUser
) -> None:
    page = (await client.post(f"{API}/pages", json={"name": "P"}, headers=alice.headers)).json()
    group = (await client.post(f"{API}/groups", json={"name": "G"}, headers=alice.headers)).json()
    assert page["follower_count"] == 1 and group["follower_count"] == 1  # the owner
    for user in (bob, carol):
        await client.post(f"{API}/pages/{page['id']}/follow", headers=user.headers)
        await client.post(f"{API}/groups/{group['id']}/join", headers=user.headers)
        await client.post(f"{API}/groups/{group['id']}/join", headers=user.headers)
    await client.delete(f"{API}/pages/{page['id']}/follow", headers=bob.headers)
    await client.post(f"{API}/groups/{group['id']}/leave", headers=carol.headers)
    page_now = (await client.get(f"{API}/pages/{page['id']}")).json()
    group_now = (await client.get(f"{API}/groups/{group['id']}")).json()
    assert page_now["follower_count"] == 2
    assert group_now["follower_count"] == 2
    as_user = await client.post(f"{API}/users/{group['id']}/follow", headers=bob.headers)
    assert as_user.status_code == 422  # groups are joined, not followed


async def test_follows_and_requests_notify_the_followee_once(
    client: httpx.AsyncClient, platform: Platform, alice: FeedUser, bob: FeedUser
) -> None:
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    await client.delete(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    await client.post(f"{API}/users/{alice.id}/friend-request", headers=bob.headers)
    async with platform.db.session() as session:
        rows = list(
            await session.execute(
                select(FeedNotification.kind, FeedNotification.actor_id).where(
                    FeedNotification.system == SYSTEM,
                    FeedNotification.recipient_id == alice.user_id,
                )
            )
        )
    assert sorted(rows) == [("follow", bob.user_id), ("friend_request", bob.user_id)]


async def test_befriending_makes_mutual_follows_that_one_side_may_drop(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, befriend: Befriend
) -> None:
    await befriend(alice, bob)
    unfollowed = await client.delete(f"{API}/users/{bob.id}/follow", headers=alice.headers)
    assert unfollowed.status_code == 204
    friends = await client.get(f"{API}/friends", headers=alice.headers)
    assert friends.json()["user_ids"] == [bob.id]  # still friends, just not following
    assert (await _profile(client, bob))["follower_count"] == 0
    assert (await _profile(client, alice))["follower_count"] == 1


@pytest.mark.feature("facebook-newsfeed", "user-accounts")
async def test_a_user_signs_up_logs_in_and_uses_the_token_for_the_newsfeed(
    client: httpx.AsyncClient,
) -> None:
    account = {"email": "newsfeed-reader@example.com", "password": "correct horse battery"}
    registered = await client.post(
        "/api/auth/register", json={**account, "display_name": "Newsfeed Reader"}
    )
    assert registered.status_code == 201
    login = await client.post("/api/auth/login", json=account)
    token = login.json()["access_token"]
    me = await client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["id"] == registered.json()["id"]
    assert me.json()["handle"] == "newsfeed_reader"
    assert (await client.get(f"{API}/me")).status_code == 401
    forged = await client.get(f"{API}/me", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401


async def test_follower_lists_page_by_cursor_and_respect_private_accounts_and_blocks(
    client: httpx.AsyncClient, new_user: NewUser, follow: Follow
) -> None:
    star, *fans = [await new_user() for _ in range(5)]
    for fan in fans:
        await follow(fan, star)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(f"{API}/users/{star.id}/followers", params=params)
        assert page.status_code == 200, page.text
        seen += page.json()["user_ids"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((f.id for f in fans), key=int)
    following = await client.get(f"{API}/users/{fans[0].id}/following")
    assert following.json()["user_ids"] == [star.id]

    await client.patch(f"{API}/me", json={"private": True}, headers=star.headers)
    stranger = await new_user()
    hidden = await client.get(f"{API}/users/{star.id}/followers", headers=stranger.headers)
    assert hidden.status_code == 403
    assert hidden.json()["type"] == "/problems/feed/private-account"
    assert (await client.get(f"{API}/users/{star.id}/followers")).status_code == 403
    approved = await client.get(f"{API}/users/{star.id}/followers", headers=fans[0].headers)
    assert approved.status_code == 200
    await client.post(f"{API}/users/{fans[1].id}/block", headers=star.headers)
    blocked = await client.get(f"{API}/users/{star.id}/followers", headers=fans[1].headers)
    assert blocked.status_code == 404
    own = await client.get(f"{API}/users/{star.id}/followers", headers=star.headers)
    assert fans[1].id not in own.json()["user_ids"]  # the block ended that follow


async def test_a_page_is_not_found_as_a_group_nor_a_group_as_a_page(
    client: httpx.AsyncClient, alice: FeedUser
) -> None:
    page = (await client.post(f"{API}/pages", json={"name": "P"}, headers=alice.headers)).json()
    group = (await client.post(f"{API}/groups", json={"name": "G"}, headers=alice.headers)).json()
    assert (await client.get(f"{API}/pages/{page['id']}")).json()["kind"] == "page"
    assert (await client.get(f"{API}/groups/{group['id']}")).json()["kind"] == "group"
    assert (await client.get(f"{API}/groups/{page['id']}")).status_code == 404
    assert (await client.get(f"{API}/pages/{group['id']}")).status_code == 404
    assert (await client.get(f"{API}/pages/{group['id']}/posts")).status_code == 404
    assert (
        await client.post(f"{API}/groups/{page['id']}/join", headers=alice.headers)
    ).status_code == 404


async def test_new_users_following_each_other_at_once_all_succeed(platform: Platform) -> None:
    """Each follow creates both users' profiles on first use; created in the order each request
    named them, A→B racing B→A deadlocked on PostgreSQL (a 500). Six fresh pairs race here."""
    from casebook.platform.auth.service import register_user

    async with platform.db.session(write=True) as session:
        users = [
            (
                await register_user(
                    session,
                    f"pair-{index}-{secrets.token_hex(4)}@example.com",
                    "correct horse battery",
                    f"pair{index}",
                    settings=platform.settings,
                )
            ).id
            for index in range(12)
        ]
    pairs = list(zip(users[::2], users[1::2], strict=True))

    async def follow(follower: int, followee: int) -> None:
        async with platform.db.session(write=True) as session:
            await graph.follow(session, SYSTEM, follower, followee)

    await asyncio.gather(*(follow(a, b) for a, b in pairs), *(follow(b, a) for a, b in pairs))
    async with platform.db.session() as session:
        rows = await session.execute(
            select(FeedFollow.follower_id, FeedFollow.followee_id).where(
                FeedFollow.system == SYSTEM, FeedFollow.follower_id.in_(users)
            )
        )
        edges = {(follower, followee) for follower, followee in rows}
    assert edges == {(a, b) for a, b in pairs} | {(b, a) for a, b in pairs}
