"""A/B experiments: deterministic bucketing, one running experiment, variant ranking weights
reaching the engine's scorer, and the engagement report per variant."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from casebook.systems.facebook_newsfeed import experiments
from casebook.systems.facebook_newsfeed.models import Variant
from tests.engines.feed.conftest import API, FeedUser, Follow, NewUser, Publish
from tests.systems.facebook_newsfeed.conftest import ReadFeed

pytestmark = pytest.mark.feature("facebook-newsfeed", "ab-testing")

FLAT = {"reactions": 0, "comments": 0, "shares": 0, "affinity": 0}
LIKES = {"reactions": 100}


def _variants(a: int, b: int) -> list[Variant]:
    return [
        Variant(name="a", position=0, traffic=a, rank="engagement", weights={}),
        Variant(name="b", position=1, traffic=b, rank="engagement", weights={}),
    ]


def test_bucketing_is_deterministic_and_follows_the_traffic_split() -> None:
    variants = _variants(30, 70)
    first = [experiments.pick(variants, experiments.bucket(7, u)).name for u in range(4000)]
    again = [experiments.pick(variants, experiments.bucket(7, u)).name for u in range(4000)]
    assert first == again
    share = Counter(first)["a"] / 4000
    assert 0.27 < share < 0.33
    other = [experiments.pick(variants, experiments.bucket(8, u)).name for u in range(4000)]
    assert other != first  # experiments split users independently
    assert {
        experiments.pick(_variants(0, 100), experiments.bucket(7, u)).name for u in range(200)
    } == {"b"}


async def _experiment(
    client: httpx.AsyncClient, owner: FeedUser, variants: list[dict[str, Any]]
) -> str:
    response = await client.post(
        f"{API}/experiments", json={"name": "ranking", "variants": variants}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    experiment_id: str = response.json()["id"]
    return experiment_id


async def test_experiments_are_validated_and_only_one_runs(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser
) -> None:
    bad = [
        [{"name": "a", "traffic": 50}, {"name": "b", "traffic": 40}],
        [{"name": "a", "traffic": 50}, {"name": "a", "traffic": 50}],
        [{"name": "a", "traffic": 50, "weights": {"reactions": -1}}, {"name": "b", "traffic": 50}],
        [{"name": "a", "traffic": 50, "weights": {"likes": 1}}, {"name": "b", "traffic": 50}],
        [{"name": "a", "traffic": 100}],
    ]
    for variants in bad:
        response = await client.post(
            f"{API}/experiments", json={"name": "x", "variants": variants}, headers=alice.headers
        )
        assert response.status_code == 422, variants
    split = [{"name": "a", "traffic": 50}, {"name": "b", "traffic": 50}]
    drafts = [await _experiment(client, alice, split) for _ in range(3)]
    theirs = await _experiment(client, bob, split)
    assert (
        await client.get(f"{API}/experiments/{theirs}", headers=alice.headers)
    ).status_code == 404
    stolen = await client.post(f"{API}/experiments/{theirs}/start", headers=alice.headers)
    assert stolen.status_code == 404

    starts = await asyncio.gather(
        *(client.post(f"{API}/experiments/{d}/start", headers=alice.headers) for d in drafts)
    )
    assert sorted(r.status_code for r in starts) == [200, 409, 409]
    running = next(d for d, r in zip(drafts, starts, strict=True) if r.status_code == 200)
    again = await client.post(f"{API}/experiments/{running}/start", headers=alice.headers)
    assert again.status_code == 409
    stopped = await client.post(f"{API}/experiments/{running}/stop", headers=alice.headers)
    assert stopped.json()["status"] == "stopped"
    assert (
        await client.post(f"{API}/experiments/{running}/stop", headers=alice.headers)
    ).status_code == 409
    other = next(d for d in drafts if d != running)
    assert (
        await client.post(f"{API}/experiments/{other}/start", headers=alice.headers)
    ).status_code == 200


async def test_variant_weights_rank_the_feed_and_the_report_counts_engagement_per_variant(
    client: httpx.AsyncClient,
    new_user: NewUser,
    follow: Follow,
    publish: Publish,
    newsfeed: ReadFeed,
) -> None:
    owner = await new_user()
    author = await new_user()
    liker = await new_user()
    await follow(liker, author)
    liked = await publish(author, "older, liked")
    newer = await publish(author, "newer")
    react = await client.put(
        f"{API}/posts/{liked['id']}/reactions", json={"kind": "like"}, headers=liker.headers
    )
    assert react.status_code == 200
    experiment_id = await _experiment(
        client,
        owner,
        [
            {"name": "flat", "traffic": 50, "rank": "engagement", "weights": FLAT},
            {"name": "likes", "traffic": 50, "rank": "engagement", "weights": LIKES},
        ],
    )
    started = await client.post(f"{API}/experiments/{experiment_id}/start", headers=owner.headers)
    assert started.status_code == 200
    by_variant: dict[str, FeedUser] = {}
    for _ in range(30):
        reader = await new_user()
        assigned = (
            await client.get(f"{API}/experiments/assignment", headers=reader.headers)
        ).json()["experiment"]
        assert assigned["id"] == experiment_id
        by_variant.setdefault(assigned["variant"], reader)
        if len(by_variant) == 2:
            break
    assert set(by_variant) == {"flat", "likes"}
    for reader in by_variant.values():
        await follow(reader, author)

    def order(page: dict[str, Any]) -> list[str]:
        return [item["post"]["id"] for item in page["items"] if item["type"] == "post"]

    flat_page = await newsfeed(by_variant["flat"], limit=10, rank="chronological")
    likes_page = await newsfeed(by_variant["likes"], limit=10, rank="chronological")
    # The variant decides, whatever the client asked: flat weights leave time decay only.
    assert flat_page["experiment"] == {"id": experiment_id, "variant": "flat"}
    assert order(flat_page) == [newer["id"], liked["id"]]
    assert order(likes_page) == [liked["id"], newer["id"]]
    assert likes_page["rank"] == "engagement"

    comment = await client.post(
        f"{API}/posts/{newer['id']}/comments",
        json={"body": "nice"},
        headers=by_variant["likes"].headers,
    )
    assert comment.status_code == 201, comment.text
    again = await client.put(
        f"{API}/posts/{newer['id']}/reactions",
        json={"kind": "love"},
        headers=by_variant["likes"].headers,
    )
    assert again.status_code == 200

    report = await client.get(f"{API}/experiments/{experiment_id}/report", headers=owner.headers)
    assert report.status_code == 200
    rows = {v["name"]: v for v in report.json()["variants"]}
    assert (rows["flat"]["users"], rows["flat"]["feed_impressions"]) == (1, 2)
    assert (rows["flat"]["reactions"], rows["flat"]["comments"]) == (0, 0)
    likes = rows["likes"]
    assert (likes["users"], likes["feed_impressions"], likes["reactions"], likes["comments"]) == (
        1,
        2,
        1,
        1,
    )
    assert likes["engagement_per_impression"] == 1.0
    # The liker's reaction came before any exposure: it counts nowhere.
    forbidden = await client.get(
        f"{API}/experiments/{experiment_id}/report", headers=author.headers
    )
    assert forbidden.status_code == 404
