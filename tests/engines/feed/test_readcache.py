"""The home feed's read cache (readcache.py): every kind of write that changes what a viewer may
see reaches the very next read, with the caches warm, on both backends."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, not_, update

from casebook.engines.feed import counters, moderation, posts, readcache, service, timeline
from casebook.engines.feed import runtime as feed_runtimes
from casebook.engines.feed.engagement_api import EngagementConfig, configure
from casebook.engines.feed.engagement_models import FeedHide, FeedModeration
from casebook.engines.feed.models import (
    FeedBlock,
    FeedEntity,
    FeedFollow,
    FeedFriendship,
    FeedGroupMember,
    FeedList,
    FeedListMember,
    FeedPost,
    FeedProfile,
    insert_ignore,
)
from casebook.engines.feed.readcache import ReadCache, read_cache
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings
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
from tests.query_plans import bad_plans, recorded

pytestmark = pytest.mark.feature("facebook-newsfeed", "news-feed")


def _cache(platform: Platform) -> ReadCache:
    return read_cache(platform.db.engine, platform.redis, platform.state)


async def test_reads_are_served_from_a_warm_cache(
    platform: Platform, new_user: NewUser, publish: Publish, follow: Follow, feed_ids: FeedIds
) -> None:
    author, fan = await new_user(), await new_user()
    await follow(fan, author)
    post = await publish(author, "cached")
    assert await feed_ids(fan) == [post["id"]]
    cache = _cache(platform)
    version = cache.generation
    assert await feed_ids(fan) == [post["id"]]
    # No write in between: the same version, and the post's row is held in memory.
    assert cache.generation == version
    assert int(post["id"]) in cache.posts_


async def test_a_page_read_again_runs_no_feed_query_until_what_it_shows_changes(
    client: httpx.AsyncClient,
    platform: Platform,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
    feed_ids: FeedIds,
) -> None:
    """In one process the page itself is kept: read again, it costs no query on the feed's
    tables, and a new post, a reaction or a post leaving the timeline shows on the next read."""
    if not _cache(platform).clock.marks_changes:
        pytest.skip("cluster mode (Redis): pages are not kept, a write may be another process's")

    def feed_queries(statements: list[tuple[str, Any]]) -> list[str]:
        tables = ("feed_timeline", "feed_posts", "feed_counters")
        return [s for s, _ in statements if any(t in s for t in tables)]

    async def counts(user: FeedUser) -> list[dict[str, Any]]:
        page = await client.get(f"{API}/feed", headers=user.headers)
        return [item["counts"] for item in page.json()["items"]]

    author, fan = await new_user(), await new_user()
    await follow(fan, author)
    first = await publish(author, "first")
    assert await feed_ids(fan) == [first["id"]]
    with recorded(platform) as statements:
        assert await feed_ids(fan) == [first["id"]]
    assert feed_queries(statements) == []
    second = await publish(author, "second")  # pushed into the fan's timeline
    assert await feed_ids(fan) == [second["id"], first["id"]]
    liked = await client.put(
        f"{API}/posts/{first['id']}/reactions", json={"kind": "like"}, headers=fan.headers
    )
    assert liked.status_code == 200, liked.text
    assert await counts(fan) == [{}, {"reactions": 1, "reaction:like": 1}]
    with recorded(platform) as statements:
        assert await counts(fan) == [{}, {"reactions": 1, "reaction:like": 1}]
    assert feed_queries(statements) == []
    feed = feed_runtimes.feed_runtime(platform, SYSTEM)
    await feed.store.remove(SYSTEM, [int(fan.id)], int(second["id"]))
    assert await feed_ids(fan) == [first["id"]]


async def test_every_kind_of_write_reaches_the_next_read_with_warm_caches(
    client: httpx.AsyncClient,
    platform: Platform,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
    befriend: Befriend,
    feed_ids: FeedIds,
) -> None:
    configure(
        platform,
        SYSTEM,
        EngagementConfig(moderation=moderation.ModerationConfig(report_threshold=1)),
    )
    author, fan, other, blocker, reporter = [await new_user() for _ in range(5)]
    await follow(fan, author)
    await follow(fan, other)
    await follow(fan, blocker)
    await befriend(author, fan)
    group = (await client.post(f"{API}/groups", json={"name": "g"}, headers=author.headers)).json()
    for user in (author, fan):
        joined = await client.post(f"{API}/groups/{group['id']}/join", headers=user.headers)
        assert joined.status_code in (200, 201)
    listed = await client.post(
        f"{API}/lists", json={"name": "close", "member_ids": [fan.id]}, headers=author.headers
    )
    list_id = listed.json()["id"]
    narrowed = await publish(author, "narrowed")
    doomed = await publish(author, "doomed")
    in_group = await publish(author, "group", group_id=group["id"])
    for_list = await publish(author, "list", audience=f"list:{list_id}")
    reported = await publish(author, "reported")
    from_other = await publish(other, "other")
    from_blocker = await publish(blocker, "blocker")
    everything = {p["id"] for p in (narrowed, doomed, in_group, for_list, reported)}
    assert everything | {from_other["id"], from_blocker["id"]} <= set(await feed_ids(fan))

    async def gone(post_id: str) -> None:
        await feed_ids(fan)  # warm: this read caches the facts the write is about to change
        assert post_id in set(await feed_ids(fan))

    # Audience narrowed to only_me.
    await gone(narrowed["id"])
    edited = await client.patch(
        f"{API}/posts/{narrowed['id']}", json={"audience": "only_me"}, headers=author.headers
    )
    assert edited.status_code == 200
    assert narrowed["id"] not in await feed_ids(fan)
    # Delete.
    await gone(doomed["id"])
    assert (await client.delete(f"{API}/posts/{doomed['id']}", headers=author.headers)).is_success
    assert doomed["id"] not in await feed_ids(fan)
    # Leaving the group.
    await gone(in_group["id"])
    left = await client.post(f"{API}/groups/{group['id']}/leave", headers=fan.headers)
    assert left.status_code == 204
    assert in_group["id"] not in await feed_ids(fan)
    # List edit: the fan is taken off the list.
    await gone(for_list["id"])
    put = await client.put(
        f"{API}/lists/{list_id}/members", json={"member_ids": []}, headers=author.headers
    )
    assert put.status_code == 200, put.text
    assert for_list["id"] not in await feed_ids(fan)
    # Moderation hides a post from everyone (threshold 1; the reporter is someone else).
    await gone(reported["id"])
    report = await client.post(
        f"{API}/reports",
        json={"target_kind": "post", "target_id": reported["id"], "reason": "spam"},
        headers=reporter.headers,
    )
    assert report.status_code == 201, report.text
    assert reported["id"] not in await feed_ids(fan)
    # Unfollow.
    await gone(from_other["id"])
    assert (await client.delete(f"{API}/users/{other.id}/follow", headers=fan.headers)).is_success
    assert from_other["id"] not in await feed_ids(fan)
    # Block (by the author of the post, against the viewer).
    await gone(from_blocker["id"])
    assert (await client.post(f"{API}/users/{fan.id}/block", headers=blocker.headers)).is_success
    assert from_blocker["id"] not in await feed_ids(fan)


async def test_the_cache_can_be_switched_off(
    platform: Platform, new_user: NewUser, publish: Publish, follow: Follow, feed_ids: FeedIds
) -> None:
    from casebook.engines.feed.runtime import feed_runtime

    author, fan = await new_user(), await new_user()
    await follow(fan, author)
    post = await publish(author, "uncached")
    feed_runtime(platform, SYSTEM).configure(read_cache=False)
    cache = _cache(platform)
    cache.posts_.clear()
    assert await feed_ids(fan) == [post["id"]]
    assert int(post["id"]) not in cache.posts_


async def test_a_write_on_one_process_reaches_another_process_warm_cache(
    client: httpx.AsyncClient,
    settings: Settings,
    platform: Platform,
    new_user: NewUser,
    publish: Publish,
    follow: Follow,
) -> None:
    if platform.redis is None:
        pytest.skip("several processes share the version through Redis (cluster mode)")
    # A second Platform on the same PostgreSQL and Redis stands for a second app process: its
    # own engine, its own in-process cache, the shared Redis version.
    other = Platform.start(settings)
    try:
        elsewhere = await feed_runtimes.start(
            other, SYSTEM, feed_runtimes.feed_runtime(platform, SYSTEM).config
        )

        async def read_elsewhere(viewer: FeedUser) -> list[str]:
            async with other.db.session() as session:
                page = await service.home_feed(
                    elsewhere, session, viewer.user_id, rank="chronological", cursor=None, limit=50
                )
            return [item["id"] for item in page.items]

        author, fan = await new_user(), await new_user()
        await follow(fan, author)
        listed = await client.post(
            f"{API}/lists", json={"name": "close", "member_ids": [fan.id]}, headers=author.headers
        )
        list_id = listed.json()["id"]
        post = await publish(author, "seen elsewhere", audience=f"list:{list_id}")
        assert await read_elsewhere(fan) == [post["id"]]
        assert await read_elsewhere(fan) == [post["id"]]  # now served from the warm cache
        assert int(post["id"]) in _cache(other).posts_
        # Written through the first process (a list edit leaves stored timelines alone, so
        # only the cache's version can carry it); the second's very next read reflects it.
        put = await client.put(
            f"{API}/lists/{list_id}/members", json={"member_ids": []}, headers=author.headers
        )
        assert put.status_code == 200, put.text
        assert await read_elsewhere(fan) == []
    finally:
        await other.close()


View = dict[str, Any]


async def _all_pages(
    read: Callable[[int | None], Awaitable[tuple[list[View], int | None]]],
) -> list[View]:
    ids: list[View] = []
    cursor: int | None = None
    for _ in range(50):
        page, cursor = await read(cursor)
        ids += page
        if cursor is None:
            return ids
    raise AssertionError("the feed did not end")


async def test_cached_reads_equal_uncached_reads_through_random_writes(platform: Platform) -> None:
    """A random world (follows, pending requests, friendships, blocks, private accounts, groups,
    lists, moderation, hides, every audience), read page by page through the cache and without
    it, before and after each of a series of random writes: the same posts in the same order,
    with the same views (author, audience, engagement counts). On SQLite no statement of those
    reads searches a feed table by the system alone or scans one whole."""
    rng = random.Random(5)
    feed = feed_runtimes.feed_runtime(platform, SYSTEM)
    cache = _cache(platform)
    threshold = 3
    users = [new_id() for _ in range(10)]
    now = utcnow()
    groups = [new_id() for _ in range(2)]
    lists: dict[int, int] = {}
    async with platform.db.session() as session:
        await session.execute(
            insert(User),
            [
                {
                    "id": u,
                    "email": f"rc-{u}@example.com",
                    "display_name": f"u{u}",
                    "password_hash": "x",
                    "created_at": now,
                }
                for u in users
            ],
        )
        for u in users:
            session.add(
                FeedProfile(
                    system=SYSTEM,
                    user_id=u,
                    handle=f"u{u}",
                    display_name=f"u {u}",
                    private=rng.random() < 0.3,
                    follower_count=rng.randrange(6),
                )
            )
        for g in groups:
            session.add(FeedEntity(id=g, system=SYSTEM, kind="group", name="g", owner_id=users[0]))
            for u in rng.sample(users, 5):
                session.add(FeedGroupMember(system=SYSTEM, group_id=g, user_id=u))
                session.add(
                    FeedFollow(system=SYSTEM, follower_id=u, followee_id=g, followee_kind="group")
                )
        for owner in rng.sample(users, 3):
            lists[owner] = new_id()
            session.add(FeedList(id=lists[owner], system=SYSTEM, owner_id=owner, name="l"))
            for u in rng.sample(users, 4):
                session.add(FeedListMember(list_id=lists[owner], user_id=u))
        for a in users:
            for b in rng.sample(users, 6):
                if a != b:
                    status = "active" if rng.random() < 0.8 else "pending"
                    session.add(
                        FeedFollow(system=SYSTEM, follower_id=a, followee_id=b, status=status)
                    )
        for a, b in {tuple(sorted(rng.sample(users, 2))) for _ in range(8)}:
            for x, y in ((a, b), (b, a)):
                session.add(
                    FeedFriendship(system=SYSTEM, user_id=x, friend_id=y, status="accepted")
                )
        for a, b in {tuple(rng.sample(users, 2)) for _ in range(3)}:
            session.add(FeedBlock(system=SYSTEM, blocker_id=a, blocked_id=b))
        written: list[FeedPost] = []
        for n in range(60):
            author = rng.choice(users)
            kind = rng.choice(
                ["public", "public", "followers", "friends", "only_me", "list", "group"]
            )
            fields: dict[str, Any] = {"audience": kind}
            source = author
            if kind == "list":
                if author not in lists:
                    fields = {"audience": "public"}
                else:
                    fields["list_id"] = lists[author]
            if kind == "group":
                source = fields["group_id"] = rng.choice(groups)
            post = FeedPost(
                system=SYSTEM, author_id=author, source_id=source, body=f"p{n}", **fields
            )
            session.add(post)
            written.append(post)
        await session.flush()
        for post in rng.sample(written, 5):
            session.add(
                FeedModeration(system=SYSTEM, target_kind="post", target_id=post.id, reason="spam")
            )
        for post in rng.sample(written, 5):
            session.add(
                FeedHide(
                    system=SYSTEM, user_id=rng.choice(users), target_kind="post", target_id=post.id
                )
            )
    for post in written:
        await feed.store.push(SYSTEM, users, post.id, post.source_id, 800)

    async def uncached(viewer: int, before: int | None) -> tuple[list[View], int | None]:
        async with platform.db.session() as session:
            page, last = await timeline.home_page(
                session,
                feed.store,
                SYSTEM,
                viewer,
                before=before,
                limit=4,
                celebrity_threshold=threshold,
            )
            views = await posts.hydrate_for(session, SYSTEM, viewer, page)
            return views, last

    async def cached(viewer: int, before: int | None) -> tuple[list[View], int | None]:
        async with platform.db.session() as session:
            views, last = await readcache.home_views(
                cache,
                session,
                feed.store,
                SYSTEM,
                viewer,
                before=before,
                limit=4,
                celebrity_threshold=threshold,
            )
            return views, last

    async def compare() -> None:
        for viewer in users:
            expected = await _all_pages(partial(uncached, viewer))
            assert await _all_pages(partial(cached, viewer)) == expected
            assert await _all_pages(partial(cached, viewer)) == expected  # warm

    with recorded(platform) as statements:
        await compare()
    if platform.db.is_sqlite:  # every read path's statement looks keys up (tests/query_plans.py)
        assert await bad_plans(platform, statements, "feed_") == []
    for step in range(18):
        a, b = rng.sample(users, 2)
        post = rng.choice(written)
        if step % 9 == 6:  # a new post pushed to some timelines, or a celebrity's (pulled)
            async with platform.db.session() as session:
                fresh = FeedPost(system=SYSTEM, author_id=a, source_id=a, body=f"new {step}")
                session.add(fresh)
            pushed = rng.sample(users, 5)
            await feed.store.push(SYSTEM, pushed, fresh.id, a, 800)
            written.append(fresh)
        elif step % 9 == 7:  # counters move (a reaction, a comment) and a post leaves timelines
            async with platform.db.session() as session:
                await counters.add(session, SYSTEM, "post", post.id, {"reactions": 1})
            await feed.store.remove(SYSTEM, rng.sample(users, 4), rng.choice(written).id)
        elif step % 9 == 8:  # a rolled-back counter change leaves the cached counts right
            with contextlib.suppress(RuntimeError):
                async with platform.db.session() as session:
                    await counters.add(session, SYSTEM, "post", post.id, {"comments": 5})
                    raise RuntimeError("rolled back")
        async with platform.db.session() as session:
            match step % 9 if step % 9 < 6 else None:
                case 0:
                    await session.execute(delete(FeedFollow).where(FeedFollow.follower_id == a))
                case 1:
                    await insert_ignore(
                        session,
                        FeedBlock,
                        [{"system": SYSTEM, "blocker_id": a, "blocked_id": b}],
                        ["system", "blocker_id", "blocked_id"],
                    )
                case 2:
                    await session.execute(
                        update(FeedProfile)
                        .where(FeedProfile.user_id == a)
                        .values(private=not_(FeedProfile.private))
                    )
                case 3:
                    await session.execute(
                        update(FeedPost)
                        .where(FeedPost.id == post.id)
                        .values(
                            audience=rng.choice(["only_me", "friends", "public"]),
                            list_id=None,
                            deleted_at=rng.choice([None, now]),
                        )
                    )
                case 4:
                    await session.execute(
                        delete(FeedGroupMember).where(FeedGroupMember.user_id == a)
                    )
                    await session.execute(delete(FeedListMember).where(FeedListMember.user_id == a))
                case None:
                    pass
                case _:
                    await insert_ignore(
                        session,
                        FeedModeration,
                        [
                            {
                                "system": SYSTEM,
                                "target_kind": "post",
                                "target_id": post.id,
                                "reason": "spam",
                                "hidden": True,
                            }
                        ],
                        ["system", "target_kind", "target_id"],
                    )
                    await insert_ignore(
                        session,
                        FeedHide,
                        [
                            {
                                "system": SYSTEM,
                                "user_id": a,
                                "target_kind": "post",
                                "target_id": rng.choice(written).id,
                            }
                        ],
                        ["system", "user_id", "target_kind", "target_id"],
                    )
        try:
            await compare()
        except AssertionError as error:
            raise AssertionError(f"after write step {step}") from error


def test_change_marks_refuse_what_was_read_before_a_change_or_before_they_were_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = readcache.VersionClock(None)
    first, second = ("t", SYSTEM, 1), ("t", SYSTEM, 2)
    start = clock.tick
    clock.touch([first])
    assert not clock.unchanged_since(start, [first])  # changed after the read began
    assert clock.unchanged_since(start, [second])
    assert clock.unchanged_since(clock.tick, [first])  # read after the change: it saw it
    monkeypatch.setattr(readcache, "MAX_MARKS", 2)
    before = clock.tick
    clock.touch([second])
    clock.touch([("t", SYSTEM, 3)])  # the marks are full: forgotten, with what they guarded
    assert len(clock.marks) <= 2
    assert not clock.unchanged_since(before, [first])
    assert clock.unchanged_since(clock.tick, [first, second])
