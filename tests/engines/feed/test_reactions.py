"""Reactions: one per user and target, kind changes, removal, exact counters under real
concurrency (one session per task), audience enforced, blocked users left out of lists."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.feed import counters, graph, posts, reactions, targets
from casebook.engines.feed.engagement_models import FeedReaction
from casebook.platform.context import Platform
from tests.engines.feed.conftest import (
    API,
    SYSTEM,
    Befriend,
    FeedUser,
    MakeUsers,
    NewUser,
    Publish,
)

pytestmark = pytest.mark.feature("facebook-newsfeed", "engagement")


async def _post(platform: Platform, author: int, audience: str = "public") -> int:
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="hello", audience=audience)
        return post.id


async def _react(platform: Platform, user: int, post_id: int, kind: str) -> None:
    async with platform.db.session() as session:
        await reactions.react(session, SYSTEM, user, "post", post_id, kind)


async def _unreact(platform: Platform, user: int, post_id: int) -> None:
    async with platform.db.session() as session:
        await reactions.unreact(session, SYSTEM, user, "post", post_id)


async def _rows_by_kind(platform: Platform, post_id: int) -> dict[str, int]:
    async with platform.db.session() as session:
        rows = await session.execute(
            select(FeedReaction.kind, func.count())
            .where(FeedReaction.target_kind == "post", FeedReaction.target_id == post_id)
            .group_by(FeedReaction.kind)
        )
        return {kind: n for kind, n in rows}


async def _counts(platform: Platform, post_id: int) -> dict[str, int]:
    async with platform.db.session() as session:
        return await counters.read(session, SYSTEM, "post", post_id)


def _assert_counts_match_rows(counts: dict[str, int], rows: dict[str, int]) -> None:
    assert counts.get(counters.REACTIONS, 0) == sum(rows.values())
    for kind in reactions.REACTION_KINDS:
        assert counts.get(counters.reaction_counter(kind), 0) == rows.get(kind, 0), kind


async def test_many_users_liking_at_once_are_each_counted_exactly_once(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, first, *fans = await make_users(14)
    post_id = await _post(platform, author)
    await _react(platform, first, post_id, "like")  # the counters exist before the race
    await asyncio.gather(*(_react(platform, fan, post_id, "like") for fan in fans))
    counts = await _counts(platform, post_id)
    assert counts[counters.REACTIONS] == 13
    assert counts[counters.reaction_counter("like")] == 13
    assert await _rows_by_kind(platform, post_id) == {"like": 13}


async def test_one_user_racing_adds_changes_and_removals_keeps_counters_equal_to_rows(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, *users = await make_users(4)
    post_id = await _post(platform, author)
    rng = random.Random(5)
    calls = []
    for user in users:
        for _ in range(6):
            if rng.random() < 0.3:
                calls.append(_unreact(platform, user, post_id))
            else:
                calls.append(_react(platform, user, post_id, rng.choice(["like", "love", "wow"])))
    rng.shuffle(calls)
    await asyncio.gather(*calls)
    rows = await _rows_by_kind(platform, post_id)
    assert sum(rows.values()) <= 3
    _assert_counts_match_rows(await _counts(platform, post_id), rows)


async def test_changing_and_removing_a_reaction_moves_the_counts(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, fan = await make_users(2)
    post_id = await _post(platform, author)
    async with platform.db.session() as session:
        first = await reactions.react(session, SYSTEM, fan, "post", post_id, "like")
        again = await reactions.react(session, SYSTEM, fan, "post", post_id, "like")
        changed = await reactions.react(session, SYSTEM, fan, "post", post_id, "haha")
    assert first.changed and not again.changed and changed.changed
    assert changed.kind == "haha"
    assert counters.summary(changed.counts)["reactions_by_kind"] == {"haha": 1}
    assert counters.summary(changed.counts)["reactions"] == 1
    async with platform.db.session() as session:
        removed = await reactions.unreact(session, SYSTEM, fan, "post", post_id)
        removed_again = await reactions.unreact(session, SYSTEM, fan, "post", post_id)
        mine = await reactions.reaction_of(session, SYSTEM, fan, "post", post_id)
    assert removed.changed and not removed_again.changed and mine is None
    assert counters.summary(removed_again.counts)["reactions"] == 0
    assert counters.summary(removed_again.counts)["reactions_by_kind"] == {}


async def test_an_unknown_reaction_is_refused_and_changes_nothing(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, fan = await make_users(2)
    post_id = await _post(platform, author)
    with pytest.raises(reactions.UnknownReaction):
        async with platform.db.session() as session:
            await reactions.react(session, SYSTEM, fan, "post", post_id, "dislike")
    with pytest.raises(reactions.UnknownReaction):
        async with platform.db.session() as session:
            await reactions.react(session, SYSTEM, fan, "post", post_id, "love", allowed=("like",))
    assert await _rows_by_kind(platform, post_id) == {}
    assert await _counts(platform, post_id) == {}


async def test_a_post_outside_the_viewers_audience_cannot_be_reacted_to(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, stranger = await make_users(2)
    post_id = await _post(platform, author, audience="friends")
    with pytest.raises(targets.TargetNotFound):
        async with platform.db.session() as session:
            await reactions.react(session, SYSTEM, stranger, "post", post_id, "like")
    with pytest.raises(targets.TargetNotFound):
        async with platform.db.session() as session:
            await reactions.reactors(session, SYSTEM, stranger, "post", post_id)
    # The same post in another system does not exist.
    with pytest.raises(targets.TargetNotFound):
        async with platform.db.session() as session:
            await reactions.react(session, "instagram", author, "post", post_id, "like")
    assert await _rows_by_kind(platform, post_id) == {}


async def test_reactors_are_paged_newest_first_without_blocked_users(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, a, b, c, viewer = await make_users(5)
    post_id = await _post(platform, author)
    for user in (a, b, c):
        await _react(platform, user, post_id, "like")
    async with platform.db.session() as session:
        await graph.block(session, SYSTEM, viewer, b)
    async with platform.db.session() as session:
        first = await reactions.reactors(session, SYSTEM, viewer, "post", post_id, limit=2)
        assert [r.user_id for r in first.items] == [c]  # b is hidden from the viewer
        assert first.next_cursor is not None
        second = await reactions.reactors(
            session, SYSTEM, viewer, "post", post_id, cursor=first.next_cursor, limit=2
        )
        assert [r.user_id for r in second.items] == [a]
        assert second.next_cursor is None
        everyone = await reactions.reactors(session, SYSTEM, author, "post", post_id)
        assert [r.user_id for r in everyone.items] == [c, b, a]
        with pytest.raises(reactions.InvalidCursor):
            await reactions.reactors(session, SYSTEM, author, "post", post_id, cursor="bogus!")


async def test_reactions_over_http_race_exactly_and_refuse_bad_input(
    client: httpx.AsyncClient,
    publish: Publish,
    new_user: NewUser,
    alice: FeedUser,
    bob: FeedUser,
) -> None:
    post = await publish(alice, "react to me")
    url = f"{API}/posts/{post['id']}/reactions"
    fans = [await new_user() for _ in range(6)]
    results = await asyncio.gather(
        *(client.put(url, json={"kind": "love"}, headers=fan.headers) for fan in fans)
    )
    assert [r.status_code for r in results] == [200] * 6
    counts = (await client.get(f"{API}/posts/{post['id']}/engagement")).json()["counts"]
    assert counts["reactions"] == 6 and counts["reactions_by_kind"] == {"love": 6}
    for bad in ({"kind": "meh"}, {"kind": ""}, {"kind": "like", "extra": 1}, {}):
        refused = await client.put(url, json=bad, headers=bob.headers)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.put(url, json={"kind": "like"})).status_code == 401
    assert (
        await client.put(f"{API}/posts/123/reactions", json={"kind": "like"}, headers=bob.headers)
    ).status_code == 404
    mine = await client.get(f"{API}/posts/{post['id']}/engagement", headers=bob.headers)
    assert mine.json()["my_reaction"] is None
    assert mine.json()["counts"]["reactions"] == 6
    listed = await client.get(url, params={"kind": "love", "limit": 4})
    assert len(listed.json()["items"]) == 4 and listed.json()["next_cursor"]
    removed = await client.delete(url, headers=fans[0].headers)
    assert removed.json() == {
        "kind": None,
        "changed": True,
        "counts": {"reactions": 5, "reactions_by_kind": {"love": 5}, "comments": 0, "shares": 0},
    }


async def test_friends_only_posts_keep_their_reactions_from_strangers(
    client: httpx.AsyncClient,
    publish: Publish,
    befriend: Befriend,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
) -> None:
    await befriend(alice, bob)
    post = await publish(alice, "friends", audience="friends")
    url = f"{API}/posts/{post['id']}/reactions"
    assert (await client.put(url, json={"kind": "wow"}, headers=bob.headers)).status_code == 200
    for headers in (carol.headers, {}):
        assert (await client.get(url, headers=headers)).status_code == 404
        engagement = await client.get(f"{API}/posts/{post['id']}/engagement", headers=headers)
        assert engagement.status_code == 404
    assert (await client.delete(url, headers=carol.headers)).status_code == 404
    seen = await client.get(url, headers=bob.headers)
    assert [r["user"]["id"] for r in seen.json()["items"]] == [bob.id]


async def test_opposite_kind_changes_at_once_neither_deadlock_nor_drift(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, *users = await make_users(11)
    post_id = await _post(platform, author)
    likers, lovers = users[:5], users[5:]
    for user in likers:
        await _react(platform, user, post_id, "like")
    for user in lovers:
        await _react(platform, user, post_id, "love")
    for _ in range(3):
        await asyncio.gather(
            *(_react(platform, u, post_id, "love") for u in likers),
            *(_react(platform, u, post_id, "like") for u in lovers),
        )
        likers, lovers = lovers, likers
    rows = await _rows_by_kind(platform, post_id)
    assert rows == {"like": 5, "love": 5}
    _assert_counts_match_rows(await _counts(platform, post_id), rows)
