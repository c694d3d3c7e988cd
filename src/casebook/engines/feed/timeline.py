"""Home timelines: where fanned-out post ids are kept, and how a home feed is read.

Stores (one protocol, two adapters, picked by settings):

- `TableTimelineStore` (embedded): rows of `feed_timeline` keyed (system, user, post id). A push
  is one INSERT … ON CONFLICT DO NOTHING for a batch of users plus one trim statement keeping the
  newest `timeline_size` ids per user; a page is one index range read.
- `RedisTimelineStore` (PostgreSQL + Redis): one sorted set per user, `feed:tl:<system>:<user>`.
  Members are post ids zero-padded to 20 digits, all with score 0, so Redis orders them
  lexicographically = numerically (a Snowflake does not fit a double's 53-bit mantissa, so the
  id cannot be the score). Push = ZADD + ZREMRANGEBYRANK per user, pipelined per batch; a page is
  ZREVRANGEBYLEX, O(log n + page).

Reading a home feed (`home_page`) merges, newest first:

1. the viewer's stored timeline (posts pushed by fan-out), and
2. posts pulled at read time from the "celebrity" sources the viewer follows (more followers
   than `celebrity_threshold`; never fanned out),

then deduplicates and re-checks every candidate: it must exist, not be deleted, be visible to the
viewer now (audience, blocks), and come from a source the viewer still follows (or be the
viewer's own). So deletes, edits of audience, unfollows and blocks take effect on timelines that
were fanned out before them. Candidates from each input are read n = max(limit, MIN_BATCH) at
a time: the top n of the union is within the top n of each input, so merging is exact. Pages are
keyed by post id (the cursor is the last id served), stable while new posts arrive.

Cost of a page: O(celebrity followees) to find them (one indexed query), one range read per
input per round, then `still_in_feed` (two round trips) per round; a page that
needs more rounds (many filtered entries) stops after `MAX_SCAN_ROUNDS` with a cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete, func, or_, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.audience import relations_for
from casebook.engines.feed.models import (
    FeedEntity,
    FeedFollow,
    FeedPost,
    FeedProfile,
    FeedTimelineEntry,
    insert_ignore,
)
from casebook.engines.feed.posts import MAX_SCAN_ROUNDS, posts_by_ids
from casebook.platform.db import Database

ID_WIDTH = 20
MIN_BATCH = 20
"""Ids read per input and round at least, so pages of filtered entries fill in few rounds."""


class TimelineStore(Protocol):
    async def push(
        self, system: str, user_ids: Sequence[int], post_id: int, source_id: int, keep: int
    ) -> int:
        """Add `post_id` to each user's timeline (idempotent), keeping the newest `keep` ids.
        Returns how many timelines did not have it yet."""

    async def backfill(
        self, system: str, user_id: int, post_ids: Sequence[int], source_id: int, keep: int
    ) -> None:
        """Add a source's `post_ids` to one user's timeline (a new follow), keeping `keep`."""

    async def page(self, system: str, user_id: int, before: int | None, limit: int) -> list[int]:
        """Up to `limit` post ids of the user's timeline below `before`, newest first."""

    async def remove(self, system: str, user_ids: Sequence[int], post_id: int) -> None:
        """Take `post_id` out of these users' timelines (a delete or a narrowed audience)."""

    async def remove_source(
        self, system: str, user_id: int, source_id: int, post_ids: Sequence[int]
    ) -> None:
        """Take a source's posts out of one timeline (an unfollow or a block); `post_ids` are
        the source's recent posts, for stores that do not index entries by source."""


class TableTimelineStore:
    """Timelines as rows of `feed_timeline` (the embedded default).

    Changes run in write sessions (`Database.session(write=True)`): on SQLite they queue on the
    process's write lock instead of SQLite's sleep-and-retry, which under eight concurrent
    fan-out workers on a loaded machine ran past the busy timeout ("database is locked")."""

    def __init__(
        self, db: Database, changed: Callable[[str, Sequence[int]], None] | None = None
    ) -> None:
        self.db = db
        self.changed = changed
        """Called with (system, user ids) after a change to their timelines committed (the read
        cache's change marks, `readcache.VersionClock`)."""

    def _committed(self, system: str, user_ids: Sequence[int]) -> None:
        if self.changed is not None:
            self.changed(system, user_ids)

    async def push(
        self, system: str, user_ids: Sequence[int], post_id: int, source_id: int, keep: int
    ) -> int:
        if not user_ids:
            return 0
        async with self.db.session(write=True) as session:
            added = await insert_ignore(
                session,
                FeedTimelineEntry,
                [
                    {"system": system, "user_id": u, "post_id": post_id, "source_id": source_id}
                    for u in user_ids
                ],
                ["system", "user_id", "post_id"],
            )
            await self._trim(session, system, user_ids, keep)
        self._committed(system, user_ids)
        return added

    async def backfill(
        self, system: str, user_id: int, post_ids: Sequence[int], source_id: int, keep: int
    ) -> None:
        if not post_ids:
            return
        async with self.db.session(write=True) as session:
            await insert_ignore(
                session,
                FeedTimelineEntry,
                [
                    {"system": system, "user_id": user_id, "post_id": p, "source_id": source_id}
                    for p in post_ids
                ],
                ["system", "user_id", "post_id"],
            )
            await self._trim(session, system, [user_id], keep)
        self._committed(system, [user_id])

    @staticmethod
    async def _trim(session: AsyncSession, system: str, user_ids: Sequence[int], keep: int) -> None:
        """Keep the newest `keep` rows per user of `user_ids`; one statement for all of them."""
        ranked = (
            select(
                FeedTimelineEntry.user_id,
                FeedTimelineEntry.post_id,
                func.row_number()
                .over(
                    partition_by=FeedTimelineEntry.user_id,
                    order_by=FeedTimelineEntry.post_id.desc(),
                )
                .label("position"),
            )
            .where(FeedTimelineEntry.system == system, FeedTimelineEntry.user_id.in_(user_ids))
            .subquery()
        )
        overflow = select(ranked.c.user_id, ranked.c.post_id).where(ranked.c.position > keep)
        await session.execute(
            delete(FeedTimelineEntry).where(
                FeedTimelineEntry.system == system,
                tuple_(FeedTimelineEntry.user_id, FeedTimelineEntry.post_id).in_(overflow),
            )
        )

    async def page(self, system: str, user_id: int, before: int | None, limit: int) -> list[int]:
        async with self.db.session() as session:
            return await self.page_in(session, system, user_id, before, limit)

    @staticmethod
    async def page_in(
        session: AsyncSession, system: str, user_id: int, before: int | None, limit: int
    ) -> list[int]:
        """`page` on the caller's session: the read cache's path, which saves a session (a
        connection checkout, BEGIN and COMMIT) per read. One index range read."""
        stmt = select(FeedTimelineEntry.post_id).where(
            FeedTimelineEntry.system == system, FeedTimelineEntry.user_id == user_id
        )
        if before is not None:
            stmt = stmt.where(FeedTimelineEntry.post_id < before)
        rows = await session.scalars(stmt.order_by(FeedTimelineEntry.post_id.desc()).limit(limit))
        return list(rows)

    async def remove(self, system: str, user_ids: Sequence[int], post_id: int) -> None:
        if not user_ids:
            return
        async with self.db.session(write=True) as session:
            await session.execute(
                delete(FeedTimelineEntry).where(
                    FeedTimelineEntry.system == system,
                    FeedTimelineEntry.user_id.in_(user_ids),
                    FeedTimelineEntry.post_id == post_id,
                )
            )
        self._committed(system, user_ids)

    async def remove_source(
        self, system: str, user_id: int, source_id: int, post_ids: Sequence[int]
    ) -> None:
        async with self.db.session(write=True) as session:
            await session.execute(
                delete(FeedTimelineEntry).where(
                    FeedTimelineEntry.system == system,
                    FeedTimelineEntry.user_id == user_id,
                    FeedTimelineEntry.source_id == source_id,
                )
            )
        self._committed(system, [user_id])


class RedisTimelineStore:
    """Timelines as Redis sorted sets (cluster mode)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def key(system: str, user_id: int) -> str:
        return f"feed:tl:{system}:{user_id}"

    @staticmethod
    def member(post_id: int) -> str:
        return str(post_id).zfill(ID_WIDTH)

    async def push(
        self, system: str, user_ids: Sequence[int], post_id: int, source_id: int, keep: int
    ) -> int:
        if not user_ids:
            return 0
        member = self.member(post_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                key = self.key(system, user_id)
                pipe.zadd(key, {member: 0})
                pipe.zremrangebyrank(key, 0, -(keep + 1))
            results = await pipe.execute()
        return sum(int(added) for added in results[0::2])

    async def backfill(
        self, system: str, user_id: int, post_ids: Sequence[int], source_id: int, keep: int
    ) -> None:
        if not post_ids:
            return
        key = self.key(system, user_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {self.member(p): 0 for p in post_ids})
            pipe.zremrangebyrank(key, 0, -(keep + 1))
            await pipe.execute()

    async def page(self, system: str, user_id: int, before: int | None, limit: int) -> list[int]:
        upper = "+" if before is None else "(" + self.member(before)
        members = await self.redis.zrevrangebylex(
            self.key(system, user_id), upper, "-", start=0, num=limit
        )
        return [int(m) for m in members]

    async def remove(self, system: str, user_ids: Sequence[int], post_id: int) -> None:
        member = self.member(post_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zrem(self.key(system, user_id), member)
            await pipe.execute()

    async def remove_source(
        self, system: str, user_id: int, source_id: int, post_ids: Sequence[int]
    ) -> None:
        if post_ids:
            await self.redis.zrem(self.key(system, user_id), *[self.member(p) for p in post_ids])


async def celebrity_sources(
    session: AsyncSession, system: str, viewer_id: int, threshold: int
) -> list[int]:
    """Sources the viewer follows (or is) whose follower count exceeds `threshold`: their posts
    are pulled at read time. One round trip (users and pages/groups in a UNION ALL) over the
    viewer's follow edges: O(followees)."""
    followed = select(FeedFollow.followee_id).where(
        FeedFollow.system == system,
        FeedFollow.follower_id == viewer_id,
        FeedFollow.status == "active",
    )
    big_users = select(FeedProfile.user_id).where(
        FeedProfile.system == system,
        FeedProfile.follower_count > threshold,
        or_(FeedProfile.user_id.in_(followed), FeedProfile.user_id == viewer_id),
    )
    big_entities = select(FeedEntity.id).where(
        FeedEntity.system == system,
        FeedEntity.follower_count > threshold,
        FeedEntity.id.in_(followed),
    )
    return list(await session.scalars(union_all(big_users, big_entities)))


async def pulled_post_ids(
    session: AsyncSession, system: str, sources: Sequence[int], before: int | None, limit: int
) -> list[int]:
    if not sources:
        return []
    stmt = select(FeedPost.id).where(
        FeedPost.system == system,
        FeedPost.source_id.in_(sources),
        FeedPost.deleted_at.is_(None),
    )
    if before is not None:
        stmt = stmt.where(FeedPost.id < before)
    return list(await session.scalars(stmt.order_by(FeedPost.id.desc()).limit(limit)))


async def still_in_feed(
    session: AsyncSession, system: str, viewer_id: int, post_ids: Sequence[int]
) -> list[FeedPost]:
    """The posts of `post_ids` (in order) that belong in the viewer's home feed now: existing,
    not deleted, visible to the viewer, not hidden (by moderation, or by the viewer), and the
    viewer's own or from a source they follow. Two round trips whatever the count: the posts,
    then every relation at once (`audience.relations_for`)."""
    posts = await posts_by_ids(session, system, post_ids)
    sources = {p.source_id for p in posts if p.author_id != viewer_id}
    relations = await relations_for(session, system, viewer_id, posts, also_following=sources)
    return [
        p
        for p in posts
        if (p.author_id == viewer_id or p.source_id in relations.following)
        and relations.may_see(p)
        and p.id not in relations.hidden_by_viewer
    ]


async def home_page(
    session: AsyncSession,
    store: TimelineStore,
    system: str,
    viewer_id: int,
    *,
    before: int | None,
    limit: int,
    celebrity_threshold: int,
) -> tuple[list[FeedPost], int | None]:
    """One page of the viewer's home feed, newest first (see the module docstring).

    Returns the posts and the next cursor (the last id examined; None at the end).
    """
    celebrities = await celebrity_sources(session, system, viewer_id, celebrity_threshold)
    items: list[FeedPost] = []
    cursor = before
    batch = max(limit, MIN_BATCH)
    for _ in range(MAX_SCAN_ROUNDS):
        stored = await store.page(system, viewer_id, cursor, batch)
        pulled = await pulled_post_ids(session, system, celebrities, cursor, batch)
        union = sorted(set(stored) | set(pulled), reverse=True)
        merged = union[:batch]
        if not merged:
            return items, None
        for post in await still_in_feed(session, system, viewer_id, merged):
            items.append(post)
            if len(items) == limit:
                # The next page starts below the last post served; entries examined after it
                # (filtered out) are examined again then, which is cheap and keeps it exact.
                return items, post.id
        cursor = merged[-1]
        if len(stored) < batch and len(pulled) < batch and len(union) <= batch:
            return items, None  # both inputs are exhausted, and all they gave was examined
    return items, cursor


async def candidate_window(
    session: AsyncSession,
    store: TimelineStore,
    system: str,
    viewer_id: int,
    *,
    size: int,
    celebrity_threshold: int,
) -> list[FeedPost]:
    """The newest `size` posts of the viewer's home feed (the ranked feed's candidates)."""
    items: list[FeedPost] = []
    cursor: int | None = None
    while len(items) < size:
        page, cursor = await home_page(
            session,
            store,
            system,
            viewer_id,
            before=cursor,
            limit=min(size - len(items), 100),
            celebrity_threshold=celebrity_threshold,
        )
        items.extend(page)
        if cursor is None:
            break
    return items


async def source_post_ids(
    session: AsyncSession, system: str, source_id: int, limit: int, *, live_only: bool = False
) -> list[int]:
    """The newest post ids of a source: what an unfollow takes out of a Redis timeline, or (not
    deleted, `live_only`) what a new follow back-fills. One index range read."""
    where = [FeedPost.system == system, FeedPost.source_id == source_id]
    if live_only:
        where.append(FeedPost.deleted_at.is_(None))
    rows = await session.scalars(
        select(FeedPost.id).where(*where).order_by(FeedPost.id.desc()).limit(limit)
    )
    return list(rows)
