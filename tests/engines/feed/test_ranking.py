"""Ranking: the engagement scorer's decay, weights and affinity; affinity learned from
interactions with exact totals under concurrency; the ranked home feed ordered by engagement and
affinity; ranked cursors stable while posts arrive and counts move, private to their reader,
and expiring with a clear 410."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from casebook.engines.feed import ranking, reactions
from casebook.engines.feed.ranking import Candidate, EngagementWeighted, RankingWeights
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput
from tests.engines.feed.conftest import (
    API,
    SYSTEM,
    FeedIds,
    FeedUser,
    Follow,
    MakeUsers,
    NewUser,
    Publish,
)

pytestmark = pytest.mark.feature("facebook-newsfeed", "ranking")
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _candidate(post_id: int, hours_old: float, **counts: float) -> Candidate:
    return Candidate(
        post_id=post_id,
        author_id=1,
        created_at=NOW - timedelta(hours=hours_old),
        reactions=int(counts.get("reactions", 0)),
        comments=int(counts.get("comments", 0)),
        shares=int(counts.get("shares", 0)),
        affinity=counts.get("affinity", 0.0),
    )


def test_a_posts_score_halves_every_half_life() -> None:
    scorer = EngagementWeighted(RankingWeights(half_life_hours=6))
    fresh = scorer.score(_candidate(1, 0, reactions=3), NOW)
    assert scorer.score(_candidate(1, 6, reactions=3), NOW) == pytest.approx(fresh / 2)
    assert scorer.score(_candidate(1, 12, reactions=3), NOW) == pytest.approx(fresh / 4)
    assert scorer.score(_candidate(1, -1, reactions=3), NOW) == pytest.approx(fresh)  # skew


def test_weights_decide_between_comments_shares_and_affinity() -> None:
    commented = _candidate(1, 1, comments=3)
    shared = _candidate(2, 1, shares=2)
    close_author = _candidate(3, 1, affinity=50.0)
    by_comments = ranking.rank(
        [commented, shared, close_author],
        EngagementWeighted(RankingWeights(comments=5, shares=1, affinity=0)),
        NOW,
    )
    assert by_comments[0] == 1
    by_affinity = ranking.rank(
        [commented, shared, close_author],
        EngagementWeighted(RankingWeights(comments=0, shares=0, reactions=0, affinity=3)),
        NOW,
    )
    assert by_affinity[0] == 3
    with pytest.raises(ValueError, match="half_life"):
        RankingWeights(half_life_hours=0)
    with pytest.raises(ValueError, match="negative"):
        RankingWeights(shares=-1)


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 50), st.floats(0, 500), st.floats(0, 72)),
        min_size=1,
        max_size=30,
    )
)
def test_ranking_is_a_total_order_over_every_candidate(
    rows: list[tuple[int, int, float, float]],
) -> None:
    candidates = [
        _candidate(i + 1, age, reactions=r, comments=c, affinity=aff)
        for i, (r, c, aff, age) in enumerate(rows)
    ]
    ranked = ranking.rank(candidates, EngagementWeighted(), NOW)
    assert sorted(ranked) == [c.post_id for c in candidates]
    scorer = EngagementWeighted()
    scores = {c.post_id: scorer.score(c, NOW) for c in candidates}
    assert all(scores[a] >= scores[b] for a, b in itertools.pairwise(ranked))


async def test_concurrent_interactions_add_up_to_the_exact_affinity(
    platform: Platform, make_users: MakeUsers
) -> None:
    viewer, author = await make_users(2)

    async def interact(weight: float) -> None:
        async with platform.db.session() as session:
            await ranking.record_interaction(session, SYSTEM, viewer, author, weight)

    await asyncio.gather(*(interact(1.0) for _ in range(10)), *(interact(2.5) for _ in range(4)))
    async with platform.db.session() as session:
        assert await ranking.affinity(session, SYSTEM, viewer, author) == pytest.approx(20.0)
        assert await ranking.affinity(session, SYSTEM, author, viewer) == 0.0
        await ranking.record_interaction(session, SYSTEM, viewer, viewer, 5.0)  # ignored
        assert await ranking.affinity(session, SYSTEM, viewer, viewer) == 0.0
        with pytest.raises(InvalidInput):
            await ranking.record_interaction(session, SYSTEM, viewer, author, 0)


async def _like(platform: Platform, user: FeedUser | int, post_id: str) -> None:
    user_id = user if isinstance(user, int) else user.user_id
    async with platform.db.session() as session:
        await reactions.react(session, SYSTEM, user_id, "post", int(post_id), "like")


async def test_the_ranked_feed_puts_engaging_posts_and_close_authors_first(
    platform: Platform,
    new_user: NewUser,
    make_users: MakeUsers,
    publish: Publish,
    follow: Follow,
    feed_ids: FeedIds,
) -> None:
    reader, near, far = [await new_user() for _ in range(3)]
    await follow(reader, near)
    await follow(reader, far)
    popular = await publish(far, "popular")
    plain = await publish(far, "plain")
    from_near = await publish(near, "from someone close")
    for fan in await make_users(4):
        await _like(platform, fan, popular["id"])

    chronological = await feed_ids(reader)
    assert chronological == [from_near["id"], plain["id"], popular["id"]]
    ranked = await feed_ids(reader, rank="engagement")
    assert ranked.index(popular["id"]) < ranked.index(plain["id"])

    # The reader liking `near`'s post teaches affinity: near's next post outranks far's newer.
    await _like(platform, reader, from_near["id"])
    async with platform.db.session() as session:
        assert await ranking.affinity(session, SYSTEM, reader.user_id, near.user_id) > 0
    near_again = await publish(near, "near again")
    far_again = await publish(far, "far again, newer")
    ranked = await feed_ids(reader, rank="engagement")
    assert ranked.index(near_again["id"]) < ranked.index(far_again["id"])
    assert sorted(ranked) == sorted(await feed_ids(reader))


async def test_ranked_pages_never_repeat_or_skip_while_posts_and_likes_arrive(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: FeedUser,
    bob: FeedUser,
    publish: Publish,
    follow: Follow,
    make_users: MakeUsers,
) -> None:
    await follow(bob, alice)
    made = [await publish(alice, f"post {i}") for i in range(7)]
    fans = await make_users(3)
    served: list[str] = []
    cursor: str | None = None
    round_ = 0
    while True:
        params: dict[str, str | int] = {"rank": "engagement", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(f"{API}/feed", params=params, headers=bob.headers)
        assert page.status_code == 200, page.text
        served += [p["id"] for p in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        # Between pages: a new post and likes on the oldest post (which would move it up).
        await publish(alice, f"interrupting {round_}")
        await _like(platform, fans[round_ % 3], made[0]["id"])
        round_ += 1
    assert len(served) == len(set(served))
    assert set(served) == {p["id"] for p in made}


async def test_ranked_cursors_belong_to_their_reader_and_expire(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    runtime: FeedRuntime,
    publish: Publish,
    follow: Follow,
) -> None:
    await follow(bob, alice)
    for i in range(3):
        await publish(alice, f"p{i}")
    first = await client.get(
        f"{API}/feed", params={"rank": "engagement", "limit": 1}, headers=bob.headers
    )
    cursor = first.json()["next_cursor"]
    assert cursor
    stolen = await client.get(
        f"{API}/feed", params={"rank": "engagement", "cursor": cursor}, headers=alice.headers
    )
    assert stolen.status_code == 410
    wrong_kind = await client.get(
        f"{API}/feed", params={"rank": "chronological", "cursor": cursor}, headers=bob.headers
    )
    assert wrong_kind.status_code == 422

    runtime.configure(rank_snapshot_seconds=0.05)
    short = await client.get(
        f"{API}/feed", params={"rank": "engagement", "limit": 1}, headers=bob.headers
    )
    await asyncio.sleep(0.15)
    expired = await client.get(
        f"{API}/feed",
        params={"rank": "engagement", "cursor": short.json()["next_cursor"]},
        headers=bob.headers,
    )
    assert expired.status_code == 410
    assert expired.json()["type"] == "/problems/feed/cursor-expired"
