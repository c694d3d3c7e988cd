"""Analytics: reach (distinct people served a post in their feed), impressions and engagement per
post and per author, exact under concurrent reads, readable by the author only."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.engines.feed.conftest import API, Follow, NewUser, Publish
from tests.systems.facebook_newsfeed.conftest import ReadFeed

pytestmark = pytest.mark.feature("facebook-newsfeed", "analytics")


async def test_reach_impressions_and_engagement_of_a_post_and_its_author(
    client: httpx.AsyncClient,
    new_user: NewUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
) -> None:
    author = await new_user()
    readers = [await new_user() for _ in range(6)]
    for reader in readers:
        await follow(reader, author)
    post = await publish(author, "measured")
    other = await publish(author, "second")
    # Each reader reads twice, all at once; the author's own reads do not count.
    await asyncio.gather(*(newsfeed(r, limit=10) for r in readers * 2), newsfeed(author, limit=10))
    for kind, reader in zip(("like", "love", "like"), readers, strict=False):
        reacted = await client.put(
            f"{API}/posts/{post['id']}/reactions", json={"kind": kind}, headers=reader.headers
        )
        assert reacted.status_code == 200
    commented = await client.post(
        f"{API}/posts/{post['id']}/comments", json={"body": "hi"}, headers=readers[0].headers
    )
    assert commented.status_code == 201

    report = await client.get(f"{API}/analytics/posts/{post['id']}", headers=author.headers)
    assert report.status_code == 200
    body = report.json()
    assert (body["reach"], body["impressions"]) == (6, 12)
    assert body["reactions"] == 3
    assert body["reactions_by_kind"] == {"like": 2, "love": 1}
    assert (body["comments"], body["shares"], body["engagement"]) == (1, 0, 4)
    assert body["engagement_rate"] == pytest.approx(4 / 6)

    totals = (await client.get(f"{API}/analytics/me", headers=author.headers)).json()
    assert (totals["posts"], totals["impressions"], totals["reach"]) == (2, 24, 6)
    assert totals["engagement"] == 4
    assert totals["top_posts"][0] == {"post_id": post["id"], "engagement": 4}
    assert other["id"] != post["id"]

    # Nobody else reads the numbers, not even someone who can see the post.
    assert (
        await client.get(f"{API}/analytics/posts/{post['id']}", headers=readers[0].headers)
    ).status_code == 404
    mine = (await client.get(f"{API}/analytics/me", headers=readers[0].headers)).json()
    assert (mine["posts"], mine["reach"], mine["impressions"]) == (0, 0, 0)
    assert (await client.get(f"{API}/analytics/posts/{post['id']}")).status_code == 401
