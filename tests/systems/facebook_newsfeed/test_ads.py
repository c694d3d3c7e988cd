"""Ads: inventory ownership and validation, slots at the configured cadence, interest targeting
(declared and learned), frequency caps, budgets exact under concurrency, tracked clicks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from tests.engines.feed.conftest import API, FeedUser, Follow, NewUser, Publish
from tests.systems.facebook_newsfeed.conftest import (
    CreateAd,
    ReadFeed,
    Tune,
    ad_items,
    kinds,
)

pytestmark = pytest.mark.feature("facebook-newsfeed", "ads")


async def test_ads_are_validated_and_only_their_advertiser_sees_them(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, create_ad: CreateAd
) -> None:
    bad = [
        {"title": "x", "url": "javascript:alert(1)", "budget_impressions": 5},
        {"title": "x", "url": "https://a.example", "budget_impressions": 0},
        {
            "title": "x",
            "url": "https://a.example",
            "budget_impressions": 5,
            "interests": ["no way"],
        },
        {
            "title": "x",
            "url": "https://a.example",
            "budget_impressions": 5,
            "starts_at": "2026-11-22T10:00:00Z",
            "ends_at": "2026-11-22T09:00:00Z",
        },
    ]
    for body in bad:
        response = await client.post(f"{API}/ads", json=body, headers=alice.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"{API}/ads", headers=alice.headers)).json()["items"] == []

    ad = await create_ad(alice, title="Shoes", interests=["#Running", "running", "trail"])
    assert ad["interests"] == ["running", "trail"]
    assert (await client.get(f"{API}/ads/{ad['id']}", headers=bob.headers)).status_code == 404
    paused = await client.post(f"{API}/ads/{ad['id']}/pause", headers=bob.headers)
    assert paused.status_code == 404
    assert (await client.get(f"{API}/ads", headers=bob.headers)).json()["items"] == []
    mine = await client.get(f"{API}/ads/{ad['id']}", headers=alice.headers)
    assert mine.json()["stats"] == {
        "impressions": 0,
        "clicks": 0,
        "reach": 0,
        "ctr": 0.0,
        "budget_left": 100,
    }
    assert (await client.get(f"{API}/ads")).status_code == 401


async def test_slots_follow_the_cadence_across_pages(
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
    create_ad: CreateAd,
    tune: Tune,
) -> None:
    tune(ad_cadence=2)
    await follow(alice, bob)
    for i in range(5):
        await publish(bob, f"post {i}")
    await create_ad(carol, title="Untargeted")
    first = await newsfeed(alice, limit=3, rank="chronological")
    assert kinds(first) == ["post", "post", "ad", "post"]
    second = await newsfeed(alice, limit=3, cursor=first["next_cursor"])
    assert kinds(second) == ["post", "ad", "post"]
    assert second["next_cursor"] is None
    (slot,) = ad_items(first)
    assert slot["sponsored"] is True
    assert slot["ad"]["title"] == "Untargeted"
    assert slot["ad"]["display_url"] == "shop.example"
    assert "url" not in slot["ad"]  # the landing page is reached through the tracked link
    posts = [i["post"]["body"] for p in (first, second) for i in p["items"] if i["type"] == "post"]
    assert posts == [f"post {i}" for i in reversed(range(5))]


async def test_the_best_matching_ad_wins_by_declared_then_learned_interests(
    client: httpx.AsyncClient,
    new_user: NewUser,
    alice: FeedUser,
    bob: FeedUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
    create_ad: CreateAd,
    tune: Tune,
) -> None:
    tune(ad_cadence=1, frequency_cap=100)
    advertiser = await new_user()
    carol = await new_user()
    await create_ad(advertiser, title="Trips", interests=["travel"])
    await create_ad(advertiser, title="Pans", interests=["cooking"])
    await follow(alice, bob)
    await follow(carol, bob)
    post = await publish(bob, "Lisbon this weekend #Travel #food")

    # Nothing matches carol and every ad is targeted: no slot at all.
    assert kinds(await newsfeed(carol, limit=5)) == ["post"]

    declared = await client.put(
        f"{API}/interests", json={"interests": ["cooking"]}, headers=alice.headers
    )
    assert declared.json() == {"declared": ["cooking"]}
    assert ad_items(await newsfeed(alice, limit=5))[0]["ad"]["title"] == "Pans"

    # Carol learns "travel" from the post she liked.
    liked = await client.put(
        f"{API}/posts/{post['id']}/reactions", json={"kind": "like"}, headers=carol.headers
    )
    assert liked.status_code == 200, liked.text
    weights = (await client.get(f"{API}/interests", headers=carol.headers)).json()["weights"]
    assert weights == {"food": 1.0, "travel": 1.0}
    assert ad_items(await newsfeed(carol, limit=5))[0]["ad"]["title"] == "Trips"
    # Alice's interests stay hers.
    mine = (await client.get(f"{API}/interests", headers=alice.headers)).json()
    assert mine == {"declared": ["cooking"], "weights": {"cooking": 3.0}}


async def test_frequency_cap_limits_how_often_one_person_sees_an_ad(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
    create_ad: CreateAd,
    tune: Tune,
) -> None:
    tune(ad_cadence=1, frequency_cap=2)
    await follow(alice, bob)
    await follow(carol, bob)
    await publish(bob, "hello")
    ad = await create_ad(bob, title="Capped")
    seen = [len(ad_items(await newsfeed(alice, limit=5))) for _ in range(4)]
    assert seen == [1, 1, 0, 0]
    # Another person still gets it: the cap is per person.
    assert len(ad_items(await newsfeed(carol, limit=5))) == 1
    stats = (await client.get(f"{API}/ads/{ad['id']}", headers=bob.headers)).json()["stats"]
    assert stats["impressions"] == 3
    assert stats["reach"] == 2


async def test_paused_ended_and_future_ads_are_not_served(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
    create_ad: CreateAd,
    tune: Tune,
) -> None:
    tune(ad_cadence=1)
    await follow(alice, bob)
    await publish(bob, "hello")
    now = datetime.now(UTC)
    ad = await create_ad(bob, title="Paused")
    await create_ad(
        bob,
        title="Future",
        starts_at=(now + timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=2)).isoformat(),
    )
    await create_ad(
        bob,
        title="Ended",
        starts_at=(now - timedelta(days=2)).isoformat(),
        ends_at=(now - timedelta(seconds=1)).isoformat(),
    )
    assert (await client.post(f"{API}/ads/{ad['id']}/pause", headers=bob.headers)).json()["paused"]
    assert ad_items(await newsfeed(alice, limit=5)) == []
    await client.post(f"{API}/ads/{ad['id']}/resume", headers=bob.headers)
    assert [s["ad"]["title"] for s in ad_items(await newsfeed(alice, limit=5))] == ["Paused"]


@pytest.mark.parametrize("blocker", ["viewer", "advertiser"])
async def test_no_ad_reaches_a_viewer_blocked_either_way_by_its_advertiser(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
    create_ad: CreateAd,
    tune: Tune,
    blocker: str,
) -> None:
    tune(ad_cadence=1)
    await follow(alice, carol)
    await publish(carol, "hello")
    await create_ad(bob, title="From Bob")
    assert [s["ad"]["title"] for s in ad_items(await newsfeed(alice, limit=5))] == ["From Bob"]
    who, whom = (alice, bob) if blocker == "viewer" else (bob, alice)
    answer = await client.post(f"{API}/users/{whom.id}/block", headers=who.headers)
    assert answer.status_code == 204
    assert ad_items(await newsfeed(alice, limit=5)) == []
    await client.delete(f"{API}/users/{whom.id}/block", headers=who.headers)
    assert [s["ad"]["title"] for s in ad_items(await newsfeed(alice, limit=5))] == ["From Bob"]


async def test_a_budget_is_never_overspent_by_concurrent_feeds(
    client: httpx.AsyncClient,
    new_user: NewUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
    create_ad: CreateAd,
    tune: Tune,
) -> None:
    tune(ad_cadence=1)
    author = await new_user()
    readers = [await new_user() for _ in range(10)]
    for reader in readers:
        await follow(reader, author)
    await publish(author, "one post")
    ad = await create_ad(author, title="Five only", budget_impressions=4)
    pages = await asyncio.gather(*(newsfeed(reader, limit=5) for reader in readers))
    served = [slot for page in pages for slot in ad_items(page)]
    assert len(served) == 4
    assert len({slot["impression_id"] for slot in served}) == 4
    stats = (await client.get(f"{API}/ads/{ad['id']}", headers=author.headers)).json()
    assert stats["impressions"] == 4
    assert stats["stats"]["budget_left"] == 0
    assert ad_items(await newsfeed(readers[0], limit=5)) == []


async def test_a_click_is_a_tracked_redirect_to_the_ads_own_url(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
    create_ad: CreateAd,
    tune: Tune,
) -> None:
    tune(ad_cadence=1)
    await follow(alice, bob)
    await publish(bob, "hello")
    ad = await create_ad(bob, title="Go", url="https://shop.example/p?x=1", interests=["shoes"])
    # Untargeted ads are eligible for everyone; a targeted one needs a match.
    await client.put(f"{API}/interests", json={"interests": ["shoes"]}, headers=alice.headers)
    (slot,) = ad_items(await newsfeed(alice, limit=5))
    link = urlsplit(slot["click_url"])
    for _ in range(2):
        clicked = await client.get(f"{link.path}?{link.query}")
        assert clicked.status_code == 303
        assert clicked.headers["location"] == "https://shop.example/p?x=1"
    stats = (await client.get(f"{API}/ads/{ad['id']}", headers=bob.headers)).json()["stats"]
    assert (stats["impressions"], stats["clicks"], stats["ctr"]) == (1, 1, 1.0)
    # The click teaches the clicker the ad's interests.
    weights = (await client.get(f"{API}/interests", headers=alice.headers)).json()["weights"]
    assert weights == {"shoes": 4.0}

    forged = [
        f"{link.path}?sig=AAAAAAAAAAAAAAAAAAAAAAAA",
        f"{API}/ads/click/{int(slot['impression_id']) + 1}?{link.query}",
        f"{link.path}?{link.query}&url=https://evil.example",
    ]
    statuses = [(await client.get(url)).status_code for url in forged]
    assert statuses[:2] == [404, 404]
    # Extra parameters change nothing: the target is the stored URL, never the request's.
    third = await client.get(forged[2])
    assert third.headers["location"] == "https://shop.example/p?x=1"
    after = (await client.get(f"{API}/ads/{ad['id']}", headers=bob.headers)).json()["stats"]
    assert after["clicks"] == 1
