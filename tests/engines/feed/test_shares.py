"""Shares through the API: a share is a post naming the original, fanned out to the sharer's
followers; the original's share count is exact under concurrent shares; only public posts are
shareable; listing shares respects the share posts' own audiences."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.engines.feed import counters, shares
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.context import Platform
from tests.engines.feed.conftest import (
    API,
    SYSTEM,
    Befriend,
    FeedIds,
    FeedUser,
    Follow,
    NewUser,
    Publish,
    settle,
)

pytestmark = pytest.mark.feature("facebook-newsfeed", "engagement")


async def _share(
    client: httpx.AsyncClient, user: FeedUser, post_id: str, **body: str
) -> httpx.Response:
    return await client.post(f"{API}/posts/{post_id}/shares", json=body, headers=user.headers)


async def test_a_share_reaches_the_sharers_followers_and_counts_on_the_original(
    client: httpx.AsyncClient,
    platform: Platform,
    publish: Publish,
    follow: Follow,
    feed_ids: FeedIds,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
) -> None:
    await follow(carol, bob)
    original = await publish(alice, "worth sharing")
    shared = await _share(client, bob, original["id"], body="look at this")
    assert shared.status_code == 201, shared.text
    share_post = shared.json()["post"]
    assert share_post["data"] == {"shared_post_id": original["id"]}
    assert shared.json()["shares"] == 1
    await settle(platform, share_post["id"])
    assert share_post["id"] in await feed_ids(carol)
    # Sharing the share shares the original.
    again = await _share(client, carol, share_post["id"])
    assert again.status_code == 201
    assert again.json()["post"]["data"] == {"shared_post_id": original["id"]}
    engagement = await client.get(f"{API}/posts/{original['id']}/engagement")
    assert engagement.json()["counts"]["shares"] == 2
    listed = await client.get(f"{API}/posts/{original['id']}/shares", headers=alice.headers)
    assert [s["user"]["id"] for s in listed.json()["items"]] == [carol.id, bob.id]


async def test_concurrent_shares_are_each_counted_once(
    client: httpx.AsyncClient, publish: Publish, new_user: NewUser, alice: FeedUser
) -> None:
    original = await publish(alice, "viral")
    users = [await new_user() for _ in range(6)]
    responses = await asyncio.gather(*(_share(client, u, original["id"]) for u in users))
    assert [r.status_code for r in responses] == [201] * 6
    engagement = await client.get(f"{API}/posts/{original['id']}/engagement")
    assert engagement.json()["counts"]["shares"] == 6
    listed = await client.get(f"{API}/posts/{original['id']}/shares", params={"limit": 100})
    assert len(listed.json()["items"]) == 6


async def test_only_public_posts_can_be_shared_and_only_by_who_can_see_them(
    client: httpx.AsyncClient,
    publish: Publish,
    befriend: Befriend,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
) -> None:
    await befriend(alice, bob)
    private = await publish(alice, "friends only", audience="friends")
    refused = await _share(client, bob, private["id"])
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/feed/not-shareable"
    assert (await _share(client, carol, private["id"])).status_code == 404
    public = await publish(alice, "public")
    bad_audience = await _share(client, bob, public["id"], audience="everyone")
    assert bad_audience.status_code == 422
    engagement = await client.get(f"{API}/posts/{public['id']}/engagement")
    assert engagement.json()["counts"]["shares"] == 0


async def test_listing_shares_leaves_out_share_posts_the_viewer_may_not_see(
    client: httpx.AsyncClient, publish: Publish, alice: FeedUser, bob: FeedUser, carol: FeedUser
) -> None:
    original = await publish(alice, "public")
    assert (await _share(client, bob, original["id"], audience="only_me")).status_code == 201
    assert (await _share(client, carol, original["id"])).status_code == 201
    as_alice = await client.get(f"{API}/posts/{original['id']}/shares", headers=alice.headers)
    assert [s["user"]["id"] for s in as_alice.json()["items"]] == [carol.id]
    as_bob = await client.get(f"{API}/posts/{original['id']}/shares", headers=bob.headers)
    assert {s["user"]["id"] for s in as_bob.json()["items"]} == {bob.id, carol.id}


async def test_undoing_a_share_deletes_its_post_and_takes_the_count_back(
    client: httpx.AsyncClient,
    platform: Platform,
    publish: Publish,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
) -> None:
    original = await publish(alice, "public")
    shared = (await _share(client, bob, original["id"])).json()
    await settle(platform, shared["post"]["id"])
    url = f"{API}/shares/{shared['share_id']}"
    assert (await client.delete(url, headers=carol.headers)).status_code == 404
    assert (await client.delete(url, headers=bob.headers)).status_code == 204
    assert (await client.delete(url, headers=bob.headers)).status_code == 404
    engagement = await client.get(f"{API}/posts/{original['id']}/engagement")
    assert engagement.json()["counts"]["shares"] == 0
    gone = await client.get(f"{API}/posts/{shared['post']['id']}", headers=bob.headers)
    assert gone.status_code == 404
    listed = await client.get(f"{API}/posts/{original['id']}/shares")
    assert listed.json()["items"] == []


async def test_a_share_recorded_without_a_feed_post_is_counted_and_undone_once(
    platform: Platform, runtime: FeedRuntime, publish: Publish, alice: FeedUser, bob: FeedUser
) -> None:
    original = await publish(alice, "public")
    post_id = int(original["id"])
    async with platform.db.session() as session:
        share = await shares.record_share(session, SYSTEM, bob.user_id, "post", post_id)
        assert (await counters.read(session, SYSTEM, "post", post_id))[counters.SHARES] == 1
    with pytest.raises(shares.ShareNotFound):
        await shares.unshare(runtime, alice.user_id, share.id)
    await shares.unshare(runtime, bob.user_id, share.id)
    with pytest.raises(shares.ShareNotFound):
        await shares.unshare(runtime, bob.user_id, share.id)
    async with platform.db.session() as session:
        assert (await counters.read(session, SYSTEM, "post", post_id))[counters.SHARES] == 0
