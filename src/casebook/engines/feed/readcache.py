"""The home feed's read cache: per-process copies of post rows, author facts and each viewer's
graph facts, valid while the feed's version has not moved.

Why: profiling a home-feed read (docs/engines/feed.md, "Measured") showed its time going to
SQL round trips and SQLAlchemy (statement compilation, ORM object loading), not to the feed's
own logic. Most of what a read fetches — who the viewer follows, is friends with, blocked,
their groups, lists and hides; which authors are private; the posts' rows — changes rarely
compared with how often feeds are read, so it is kept in memory and revalidated by version.

Exactness (privacy holds on every path): every write that can change a fact cached here bumps
the version *after its transaction commits* and before the writer's response is sent:

- mapper events (rows written by the unit of work) and a `do_orm_execute` listener (INSERT,
  UPDATE, DELETE statements run through a session) mark a session that changed a watched table
  (graph edges, profiles, entities, lists, hides, moderation; updates/deletes of posts — a new
  post changes nothing cached);
- on commit, the in-process counter moves at once (`after_commit`) and, in cluster mode, the
  Redis counter `feed:version` is INCRed by `Database.session`'s after-commit hook, so every
  process sees the change on its next read.

A read first reads the version (no I/O embedded; one Redis GET in cluster mode); when it moved,
everything cached is dropped. Facts missing from the cache are read on the caller's session and
stored only when its transaction began *after* the version was read (else they are used for
this read only), so a snapshot older than the version is never cached under it; one connection
per read, never two at once (no pool deadlock under load). Entries read under a version that
has moved meanwhile are never stored under the newer one. A
process that dies between commit and INCR leaves other processes stale until `TTL_SECONDS`.

In one process (no Redis) whole pages and post counters are kept as well, against change marks
rather than the version: what they depend on (a viewer's timeline, a pulled source's posts, a
post's counters) changes too often to drop everything for (`VersionClock`, `home_views`).

The version is one counter for the whole feed (all systems): any watched write drops every
process's cache. That is exact and simple; its cost is a lower hit rate under heavy graph
writes (a per-user version would keep more, at the price of knowing whom each write touches).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Engine, String, and_, event, exists, literal, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, object_session

from casebook.engines.feed import counters
from casebook.engines.feed.audience import Relations
from casebook.engines.feed.engagement_models import FeedCounter, FeedHide, FeedModeration
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
)
from casebook.engines.feed.posts import MAX_SCAN_ROUNDS, attach_shared, post_view
from casebook.engines.feed.timeline import (
    MIN_BATCH,
    TableTimelineStore,
    TimelineStore,
    pulled_post_ids,
)
from casebook.platform.db import Base

REDIS_KEY = "feed:version"
TTL_SECONDS = 60.0
"""Longest an entry lives whatever the version (a bound on staleness if a writer process died
between its commit and its INCR)."""
MAX_POSTS = 200_000
MAX_VIEWERS = 50_000
MAX_AUTHORS = 200_000
MAX_PAGES = 50_000
MAX_COUNTS = 200_000
MAX_MARKS = 200_000
"""Change marks kept before they are all dropped at once (every older cache entry with them);
they are also dropped with the caches (a version move, the TTL)."""

WATCHED_MODELS: tuple[type[Base], ...] = (
    FeedFollow,
    FeedFriendship,
    FeedBlock,
    FeedGroupMember,
    FeedList,
    FeedListMember,
    FeedProfile,
    FeedEntity,
    FeedHide,
    FeedModeration,
)
WATCHED = frozenset(str(model.__tablename__) for model in WATCHED_MODELS)
"""Tables whose every write may change a cached fact."""
POSTS = "feed_posts"
"""Updates and deletes of posts change cached rows; inserts (new posts) do not."""
AFTER_COMMIT = "after_commit"
"""`session.info` key: async callables `Database.session` awaits after a successful commit."""
_MARK = "feed_readcache_changed"
_TOUCHED = "feed_readcache_touched"
ALL_SOURCES = ("s*",)
"""The mark of posts inserted in bulk, whose sources are not known: every pulled source."""


def timeline_key(system: str, user_id: int) -> tuple[str, str, int]:
    """The change mark of a user's stored timeline."""
    return ("t", system, user_id)


def source_key(system: str, source_id: int) -> tuple[str, str, int]:
    """The change mark of a source's posts (a new post of a pulled celebrity)."""
    return ("s", system, source_id)


def counts_key(system: str, post_id: int) -> tuple[str, str, int]:
    """The change mark of a post's engagement counters."""
    return ("c", system, post_id)


Version = tuple[int, int]
"""(local counter, Redis counter): what a cached entry was read under."""


class VersionClock:
    """The feed's version: a local counter, plus Redis's `feed:version` in cluster mode.

    In one process (no Redis: the embedded mode, where every write is this process's) it also
    keeps change marks for what changes too often to drop every cache for: a user's stored
    timeline, a source's new posts, a post's counters. `tick` counts committed changes; a
    change sets its keys' marks to the tick it made. An entry read on a transaction that began
    after `tick` was `start` is still exact when no key it depends on has a mark above `start`
    (`unchanged_since`): a change marked at or before `start` committed before the snapshot
    began, so the snapshot saw it.
    """

    def __init__(self, redis: Redis | None) -> None:
        self.redis = redis
        self.local = 0
        self.tick = 0
        self.floor = 0
        self.marks: dict[Hashable, int] = {}

    @property
    def marks_changes(self) -> bool:
        """Whether every write is seen here (one process), so the change marks are exact."""
        return self.redis is None

    def touch(self, keys: Iterable[Hashable]) -> None:
        """Mark `keys` changed now (call after the change committed). O(len(keys))."""
        if len(self.marks) >= MAX_MARKS:
            self.forget()
        self.tick += 1
        tick = self.tick
        for key in keys:
            self.marks[key] = tick

    def forget(self) -> None:
        """Drop every mark; entries read before now are refused from now on. O(marks)."""
        self.tick += 1
        self.marks.clear()
        self.floor = self.tick

    def unchanged_since(self, start: int, keys: Iterable[Hashable]) -> bool:
        """Whether none of `keys` changed after `tick` was `start`. O(len(keys))."""
        if start < self.floor:
            return False
        marks = self.marks
        return all(marks.get(key, 0) <= start for key in keys)

    async def current(self) -> Version:
        """The version now. O(1); one Redis GET in cluster mode."""
        if self.redis is None:
            return (self.local, 0)
        raw = await self.redis.get(REDIS_KEY)
        return (self.local, int(raw) if raw is not None else 0)

    async def bump_shared(self) -> None:
        """Move the cluster-wide counter (after a commit)."""
        if self.redis is not None:
            await self.redis.incr(REDIS_KEY)


def timeline_changed(clock: VersionClock) -> Callable[[str, Sequence[int]], None]:
    """The `TableTimelineStore.changed` callback that marks timelines on `clock`."""

    def changed(system: str, user_ids: Sequence[int]) -> None:
        clock.touch([timeline_key(system, user_id) for user_id in user_ids])

    return changed


_clocks: weakref.WeakKeyDictionary[Engine, VersionClock] = weakref.WeakKeyDictionary()


def clock_for(engine: AsyncEngine, redis: Redis | None) -> VersionClock:
    """The clock of a database (one per engine: every system of a platform shares it)."""
    clock = _clocks.get(engine.sync_engine)
    if clock is None:
        clock = _clocks[engine.sync_engine] = VersionClock(redis)
    return clock


def _clock_of(session: Session) -> VersionClock | None:
    bind = session.get_bind()
    return _clocks.get(bind if isinstance(bind, Engine) else bind.engine)


def _mark(session: Session) -> None:
    if session.info.get(_MARK):
        return
    clock = _clock_of(session)
    if clock is None:
        return
    session.info[_MARK] = clock
    session.info.setdefault(AFTER_COMMIT, []).append(clock.bump_shared)


def _touch_on_commit(session: Session, key: Hashable) -> None:
    """Have `key` marked changed when the session's transaction commits."""
    touched: set[Hashable] | None = session.info.get(_TOUCHED)
    if touched is None:
        touched = session.info[_TOUCHED] = set()
    touched.add(key)


def _on_post_inserted(_mapper: Mapper[Any], _connection: Connection, target: FeedPost) -> None:
    session = object_session(target)
    if session is not None:
        _touch_on_commit(session, source_key(target.system, target.source_id))


def _on_row_written(_mapper: Mapper[Any], _connection: Connection, target: object) -> None:
    session = object_session(target)
    if session is not None:
        _mark(session)


# Unit-of-work writes (session.add, attribute changes, session.delete) of watched models; per
# row, and only for these mappers, so other systems' flushes pay nothing.
for _model in WATCHED_MODELS:
    for _kind in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _kind, _on_row_written)
for _kind in ("after_update", "after_delete"):
    event.listen(FeedPost, _kind, _on_row_written)
event.listen(FeedPost, "after_insert", _on_post_inserted)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name in WATCHED or (name == POSTS and not state.is_insert):
        _mark(state.session)
    elif name == POSTS:  # posts inserted by a statement: their sources are not known here
        _touch_on_commit(state.session, ALL_SOURCES)


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    clock = session.info.pop(_MARK, None)
    if isinstance(clock, VersionClock):
        clock.local += 1
    touched: set[Hashable] = session.info.pop(_TOUCHED, set())
    for system, kind, target_id in session.info.pop(counters.CHANGED, ()):
        if kind == "post":
            touched.add(counts_key(system, target_id))
    if touched and (marks := _clock_of(session)) is not None and marks.marks_changes:
        marks.touch(touched)


@event.listens_for(Session, "after_rollback")
def _on_rollback(session: Session) -> None:
    # A rolled-back write changed nothing (and `Database.session` runs no after-commit hook
    # when the unit of work fails).
    session.info.pop(_MARK, None)
    session.info.pop(_TOUCHED, None)
    session.info.pop(counters.CHANGED, None)


@dataclass(frozen=True, slots=True)
class PostRow:
    """A post's columns as read (duck-types `FeedPost` for `Relations.may_see`), plus whether
    moderation hid it from everyone."""

    id: int
    system: str
    author_id: int
    source_id: int
    body: str
    data: dict[str, Any] | None
    page_id: int | None
    group_id: int | None
    audience: str
    list_id: int | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    moderated: bool


@dataclass(frozen=True, slots=True)
class Author:
    private: bool
    handle: str | None
    display_name: str | None


@dataclass(frozen=True)
class ViewerFacts:
    """What the viewer is to everyone: read whole (O(viewer's edges)), then O(1) lookups."""

    following: frozenset[int]
    friends: frozenset[int]
    blocked: frozenset[int]
    groups: frozenset[int]
    lists: frozenset[int]
    hidden: frozenset[int]
    celebrities: tuple[int, ...]
    """Sources the viewer follows (or is) above the celebrity threshold: pulled at read."""


@dataclass(frozen=True, slots=True)
class _Page:
    """One computed page of a home feed: what it served and what it depended on."""

    start: int
    """The clock's tick before the page's transaction began (`VersionClock.unchanged_since`)."""
    depends: tuple[Hashable, ...]
    """The viewer's timeline and the pulled sources (`ViewerFacts.celebrities`) it read."""
    rows: tuple[PostRow, ...]
    authors: dict[int, Author]
    next_cursor: int | None


@dataclass
class ReadCache:
    """The per-process caches of one platform's feed. Reads: `version`, then `viewer`,
    `posts`, `authors` (each O(1) per item on a hit; one query for all misses)."""

    clock: VersionClock
    generation: Version = (-1, -1)
    born: float = 0.0
    posts_: dict[int, PostRow] = field(default_factory=dict)
    authors_: dict[tuple[str, int], Author] = field(default_factory=dict)
    viewers_: dict[tuple[str, int, int], ViewerFacts] = field(default_factory=dict)
    pages_: dict[tuple[str, int, int | None, int, int], _Page] = field(default_factory=dict)
    counts_: dict[tuple[str, int], tuple[int, dict[str, int]]] = field(default_factory=dict)
    page_hits: int = 0
    """Pages served whole from memory (one process), and pages computed: the hit rate."""
    page_misses: int = 0

    async def version(self) -> Version:
        """Read the version and drop everything when it moved (or the TTL passed)."""
        now = await self.clock.current()
        if now != self.generation or time.monotonic() - self.born > TTL_SECONDS:
            self.posts_.clear()
            self.authors_.clear()
            self.viewers_.clear()
            self.pages_.clear()
            self.counts_.clear()
            if self.clock.marks_changes:
                self.clock.forget()  # nothing cached depends on them any more
            self.generation, self.born = now, time.monotonic()
        return now

    def _store(
        self, version: Version | None, table: dict[Any, Any], key: Any, value: Any, cap: int
    ) -> None:
        if version is None or version != self.generation:
            return  # read under a version that has moved since: never cache it as current
        if len(table) >= cap:
            table.pop(next(iter(table)))  # the oldest entry (dicts keep insertion order)
        table[key] = value

    async def viewer(
        self,
        session: AsyncSession,
        version: Version | None,
        system: str,
        viewer_id: int,
        threshold: int,
    ) -> ViewerFacts:
        key = (system, viewer_id, threshold)
        facts = self.viewers_.get(key)
        if facts is None:
            facts = await _read_viewer(session, system, viewer_id, threshold)
            self._store(version, self.viewers_, key, facts, MAX_VIEWERS)
        return facts

    async def posts(
        self, session: AsyncSession, version: Version | None, system: str, post_ids: Sequence[int]
    ) -> list[PostRow]:
        """The rows of `post_ids` of `system` (deleted ones included) in the given order."""
        missing = [i for i in post_ids if i not in self.posts_]
        fetched: dict[int, PostRow] = {}
        if missing:
            for row in await _read_posts(session, missing):
                fetched[row.id] = row
                self._store(version, self.posts_, row.id, row, MAX_POSTS)
        rows = []
        for i in post_ids:
            hit = self.posts_.get(i) or fetched.get(i)
            if hit is not None and hit.system == system:
                rows.append(hit)
        return rows

    async def authors(
        self,
        session: AsyncSession,
        version: Version | None,
        system: str,
        author_ids: Iterable[int],
    ) -> dict[int, Author]:
        wanted = set(author_ids)
        found = {a: hit for a in wanted if (hit := self.authors_.get((system, a))) is not None}
        missing = wanted - found.keys()
        if missing:
            rows = await session.execute(
                select(
                    FeedProfile.user_id,
                    FeedProfile.private,
                    FeedProfile.handle,
                    FeedProfile.display_name,
                ).where(FeedProfile.system == system, FeedProfile.user_id.in_(missing))
            )
            for user_id, private, handle, name in rows:
                found[user_id] = Author(bool(private), handle, name)
            for a in missing:
                author = found.setdefault(a, Author(False, None, None))
                self._store(version, self.authors_, (system, a), author, MAX_AUTHORS)
        return found

    def page(self, key: tuple[str, int, int | None, int, int]) -> _Page | None:
        """The page computed for `key` (system, viewer, cursor, limit, celebrity threshold),
        if nothing it depends on changed since. O(pulled sources)."""
        page = self.pages_.get(key)
        if page is None or not self.clock.unchanged_since(page.start, page.depends):
            return None
        return page

    def keep_page(
        self, version: Version | None, key: tuple[str, int, int | None, int, int], page: _Page
    ) -> None:
        self._store(version, self.pages_, key, page, MAX_PAGES)

    async def counts(
        self,
        session: AsyncSession,
        version: Version | None,
        start: int,
        system: str,
        post_ids: Sequence[int],
    ) -> dict[int, dict[str, int]]:
        """`counts_of`, from memory for posts whose counters did not change since they were
        read; one query for the rest. Each post gets its own dict (callers may change it)."""
        found: dict[int, dict[str, int]] = {}
        missing: list[int] = []
        clock = self.clock
        for post_id in post_ids:
            hit = self.counts_.get((system, post_id))
            if hit is not None and clock.unchanged_since(hit[0], (counts_key(system, post_id),)):
                found[post_id] = dict(hit[1])
            else:
                missing.append(post_id)
        if missing:
            fetched = await counts_of(session, system, missing)
            for post_id in missing:
                values = fetched.get(post_id, {})
                found[post_id] = dict(values)
                self._store(version, self.counts_, (system, post_id), (start, values), MAX_COUNTS)
        return found


def read_cache(engine: AsyncEngine, redis: Redis | None, caches: dict[str, Any]) -> ReadCache:
    """The platform's `ReadCache`, kept in `caches` (the platform's state)."""
    cache: ReadCache | None = caches.get("feed:readcache")
    if cache is None:
        cache = caches["feed:readcache"] = ReadCache(clock_for(engine, redis))
    return cache


_FOLLOWING, _FRIEND, _BLOCKED, _GROUP, _LIST, _HIDDEN, _CELEBRITY = "ofbglhc"


def _tagged(tag: str, column: Any) -> Any:
    return select(literal(tag, String(1)).label("tag"), column.label("id"))


async def _read_viewer(
    session: AsyncSession, system: str, viewer_id: int, threshold: int
) -> ViewerFacts:
    """All of the viewer's facts in one UNION ALL of indexed probes. O(viewer's edges)."""
    followed = select(FeedFollow.followee_id).where(
        FeedFollow.system == system,
        FeedFollow.follower_id == viewer_id,
        FeedFollow.status == "active",
    )
    arms = [
        _tagged(_FOLLOWING, FeedFollow.followee_id).where(
            FeedFollow.system == system,
            FeedFollow.follower_id == viewer_id,
            FeedFollow.status == "active",
        ),
        _tagged(_FRIEND, FeedFriendship.friend_id).where(
            FeedFriendship.system == system,
            FeedFriendship.user_id == viewer_id,
            FeedFriendship.status == "accepted",
        ),
        _tagged(_BLOCKED, FeedBlock.blocked_id).where(
            FeedBlock.system == system, FeedBlock.blocker_id == viewer_id
        ),
        _tagged(_BLOCKED, FeedBlock.blocker_id).where(
            FeedBlock.system == system, FeedBlock.blocked_id == viewer_id
        ),
        _tagged(_GROUP, FeedGroupMember.group_id).where(
            FeedGroupMember.system == system, FeedGroupMember.user_id == viewer_id
        ),
        _tagged(_LIST, FeedListMember.list_id).where(FeedListMember.user_id == viewer_id),
        _tagged(_HIDDEN, FeedHide.target_id).where(
            FeedHide.system == system,
            FeedHide.user_id == viewer_id,
            FeedHide.target_kind == "post",
        ),
        _tagged(_CELEBRITY, FeedProfile.user_id).where(
            FeedProfile.system == system,
            FeedProfile.follower_count > threshold,
            (FeedProfile.user_id.in_(followed)) | (FeedProfile.user_id == viewer_id),
        ),
        _tagged(_CELEBRITY, FeedEntity.id).where(
            FeedEntity.system == system,
            FeedEntity.follower_count > threshold,
            FeedEntity.id.in_(followed),
        ),
    ]
    sets: dict[str, set[int]] = {tag: set() for tag in "ofbglhc"}
    for tag, found in await session.execute(union_all(*arms)):
        sets[tag].add(found)
    return ViewerFacts(
        following=frozenset(sets[_FOLLOWING]),
        friends=frozenset(sets[_FRIEND]),
        blocked=frozenset(sets[_BLOCKED]),
        groups=frozenset(sets[_GROUP]),
        lists=frozenset(sets[_LIST]),
        hidden=frozenset(sets[_HIDDEN]),
        celebrities=tuple(sorted(sets[_CELEBRITY])),
    )


async def _read_posts(session: AsyncSession, post_ids: Sequence[int]) -> list[PostRow]:
    """Post rows with their moderation flag, by primary key: one query. O(n)."""
    moderated = exists().where(
        and_(
            FeedModeration.system == FeedPost.system,
            FeedModeration.target_kind == "post",
            FeedModeration.target_id == FeedPost.id,
            FeedModeration.hidden.is_(True),
        )
    )
    t = FeedPost.__table__.c
    rows = await session.execute(
        select(
            t.id,
            t.system,
            t.author_id,
            t.source_id,
            t.body,
            t.data,
            t.page_id,
            t.group_id,
            t.audience,
            t.list_id,
            t.created_at,
            t.edited_at,
            t.deleted_at,
            moderated.label("moderated"),
        ).where(t.id.in_(post_ids))
    )
    return [
        PostRow(
            id=r.id,
            system=r.system,
            author_id=r.author_id,
            source_id=r.source_id,
            body=r.body,
            data=r.data,
            page_id=r.page_id,
            group_id=r.group_id,
            audience=r.audience,
            list_id=r.list_id,
            created_at=r.created_at,
            edited_at=r.edited_at,
            deleted_at=r.deleted_at,
            moderated=bool(r.moderated),
        )
        for r in rows
    ]


async def home_views(
    cache: ReadCache,
    session: AsyncSession,
    store: TimelineStore,
    system: str,
    viewer_id: int,
    *,
    before: int | None,
    limit: int,
    celebrity_threshold: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the viewer's home feed as API views, newest first, and the next cursor:
    the same posts, order and cursor as `timeline.home_page` + `posts.hydrate_for`, with the
    facts read from this cache.

    In one process (embedded), a page read again when neither the viewer's stored timeline nor
    the posts of a source it pulls changed since (`VersionClock` change marks) costs no query:
    O(limit + pulled sources) dictionary lookups, plus the counters of posts liked, commented or
    shared since they were last read (one query). Share posts add `attach_shared`'s queries.

    Otherwise (a changed or new page; every read in cluster mode), per round: the version (one
    Redis GET in cluster mode), the stored timeline's range read, the celebrity pull (one
    indexed query, only when the viewer follows celebrities) and O(batch) dictionary lookups;
    then one query for the page's engagement counts (cluster mode: they change too often to
    cache without a mark). A cold cache adds up to three queries.
    """
    # Facts read on a transaction that began before the version probe may predate it (an
    # SQLite snapshot is taken at the transaction's first read): they are used, not cached.
    fresh = not session.in_transaction()
    probed = await cache.version()
    version = probed if fresh else None
    # In one process, whole pages and counters are kept too, checked against change marks.
    start = cache.clock.tick if fresh and cache.clock.marks_changes else None
    facts = await cache.viewer(session, version, system, viewer_id, celebrity_threshold)
    key = (system, viewer_id, before, limit, celebrity_threshold)
    page = cache.page(key) if start is not None else None
    if page is None:
        cache.page_misses += 1
        served, authors, next_cursor = await _compute_page(
            cache, session, version, store, system, viewer_id, facts, before, limit
        )
        if start is not None:
            depends = (
                timeline_key(system, viewer_id),
                ALL_SOURCES,
                *(source_key(system, source) for source in facts.celebrities),
            )
            page = _Page(
                start,
                depends,
                tuple(served),
                {row.author_id: authors[row.author_id] for row in served},
                next_cursor,
            )
            cache.keep_page(version, key, page)
    else:
        cache.page_hits += 1
        served, authors, next_cursor = list(page.rows), page.authors, page.next_cursor
    ids = [r.id for r in served]
    if start is not None:
        counts = await cache.counts(session, version, start, system, ids)
    else:
        counts = await counts_of(session, system, ids)
    views = [
        post_view(
            row,
            authors[row.author_id].handle,
            authors[row.author_id].display_name,
            counts.get(row.id, {}),
        )
        for row in served
    ]
    await attach_shared(session, system, viewer_id, served, views)
    return views, next_cursor


async def _compute_page(
    cache: ReadCache,
    session: AsyncSession,
    version: Version | None,
    store: TimelineStore,
    system: str,
    viewer_id: int,
    facts: ViewerFacts,
    before: int | None,
    limit: int,
) -> tuple[list[PostRow], dict[int, Author], int | None]:
    """The rows `home_views` serves, their authors and the next cursor (see there)."""
    served: list[PostRow] = []
    authors: dict[int, Author] = {}
    cursor = before
    next_cursor: int | None = None
    batch = max(limit, MIN_BATCH)
    for _ in range(MAX_SCAN_ROUNDS):
        if isinstance(store, TableTimelineStore):
            stored = await store.page_in(session, system, viewer_id, cursor, batch)
        else:
            stored = await store.page(system, viewer_id, cursor, batch)
        pulled = await pulled_post_ids(session, system, facts.celebrities, cursor, batch)
        union = sorted(set(stored) | set(pulled), reverse=True)
        merged = union[:batch]
        if not merged:
            next_cursor = None
            break
        rows = await cache.posts(session, version, system, merged)
        authors.update(await cache.authors(session, version, system, {r.author_id for r in rows}))
        relations = Relations(
            viewer_id,
            blocked=facts.blocked,
            friends=facts.friends,
            following=facts.following,
            private={r.author_id for r in rows if authors[r.author_id].private},
            groups=facts.groups,
            lists=facts.lists,
            moderated={r.id for r in rows if r.moderated},
            hidden_by_viewer=facts.hidden,
        )
        full = False
        for row in rows:
            if (
                (row.author_id == viewer_id or row.source_id in facts.following)
                and relations.may_see(row)
                and row.id not in facts.hidden
            ):
                served.append(row)
                if len(served) == limit:
                    full = True
                    break
        if full:
            next_cursor = served[-1].id
            break
        cursor = next_cursor = merged[-1]
        if len(stored) < batch and len(pulled) < batch and len(union) <= batch:
            next_cursor = None
            break
    return served, authors, next_cursor


async def counts_of(
    session: AsyncSession, system: str, post_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Engagement counters of these posts: {post id: {name: value}}. One indexed query."""
    if not post_ids:
        return {}
    counts: dict[int, dict[str, int]] = {}
    rows = await session.execute(
        select(FeedCounter.target_id, FeedCounter.name, FeedCounter.value).where(
            FeedCounter.system == system,
            FeedCounter.target_kind == "post",
            FeedCounter.target_id.in_(post_ids),
        )
    )
    for target, name, value in rows:
        counts.setdefault(target, {})[name] = value
    return counts
