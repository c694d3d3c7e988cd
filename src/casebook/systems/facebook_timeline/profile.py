"""A user's timeline as a viewer sees it: featured posts on top, then every post, photo, share
and life event of the user newest first, grouped by year and month, each item shown only when
its own audience admits the viewer (the feed engine's `visible_posts` decides, for the page as
a batch).

Ordering. Every item has a key `(moment, post id)`: an ordinary post's moment is the millisecond
in its Snowflake id (its publication time); a life event's is midnight UTC of its own date, so a
2019 graduation recorded today sits in 2019. The timeline is two sorted streams merged by key:

- posts: the author's feed posts by id (`ix_feed_posts_author`), life-event posts skipped;
- life events: `facebooktimeline_life_events` by (user, date, post id).

A post's key grows with its id, so "key < (t, p)" is "id < bound(t, p)" — one index range. Each
round reads `batch` rows of each stream, keeps the union down to the deepest key both streams
have fully read (the top n of a union lies within the top n of each input), re-checks audience
and blocks for that slice in one batch, and emits in key order. The cursor is the last key
served, or the depth scanned when a round emitted too few, so items added while a client pages
(newer keys) never shift a page, and a timeline mostly hidden from the viewer costs at most
`MAX_ROUNDS` rounds per page. Cost per page: O(MAX_ROUNDS · (log N + batch)).

Sections. Items carry `section` ("YYYY-MM"); the page groups consecutive items into sections,
and `until=YYYY-MM` starts reading at the end of that month (the "jump to 2019" navigation).
`month_index` lists the months that hold at least one item the viewer may see (the navigation
built from it never offers an empty month).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import graph, posts
from casebook.engines.feed.audience import is_blocked_between, relations_for, visible_posts
from casebook.engines.feed.models import FeedPost
from casebook.platform.auth.models import User
from casebook.platform.errors import InvalidInput
from casebook.platform.ids import EPOCH_MS, SEQUENCE_BITS, WORKER_BITS
from casebook.platform.pagination import decode_cursor, encode_cursor
from casebook.systems.facebook_timeline import featured
from casebook.systems.facebook_timeline.life_events import life_events_of
from casebook.systems.facebook_timeline.models import SYSTEM, TimelineLifeEvent

MAX_ROUNDS = 8
ID_SHIFT = WORKER_BITS + SEQUENCE_BITS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[int, int]
"""(moment in ms since the Unix epoch, post id) — the timeline's sort key, newest first."""


class TimelineUserNotFound(graph.UserNotFound):
    """No such user, or one of the two blocked the other (the same answer)."""

    type_ = "facebook-timeline/user-not-found"


def post_moment(post_id: int) -> int:
    """The publication millisecond in a Snowflake id (Unix epoch). O(1)."""
    return (post_id >> ID_SHIFT) + EPOCH_MS


def day_moment(day: date) -> int:
    """Midnight UTC of `day` in ms since the Unix epoch (negative before 1970). O(1)."""
    return (day - date(1970, 1, 1)).days * 86_400_000


def _first_id_at(moment: int) -> int:
    """The smallest Snowflake id of millisecond `moment` (0 for moments before the id epoch)."""
    return max(moment - EPOCH_MS, 0) << ID_SHIFT


def post_id_bound(cursor: Key) -> int:
    """The exclusive id bound equivalent to "post key < cursor" (post keys grow with ids)."""
    moment, post_id = cursor
    return min(max(post_id, _first_id_at(moment)), _first_id_at(moment + 1))


def _moment_datetime(moment: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=moment)


def section_of(moment: int) -> str:
    when = _moment_datetime(moment)
    return f"{when.year:04d}-{when.month:02d}"


def month_end_cursor(section: str) -> Key:
    """The cursor that starts a timeline just after the month `YYYY-MM` ends (its last item
    first). Raises InvalidInput for a malformed month."""
    parts = section.split("-")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise InvalidInput("`until` is a month, YYYY-MM.")
    year, month = int(parts[0]), int(parts[1])
    if not (1900 <= year <= 9998 and 1 <= month <= 12):
        raise InvalidInput("`until` is a month from 1900-01 to 9998-12.")
    following = date(year + month // 12, month % 12 + 1, 1)
    return (day_moment(following), 0)


def encode_key(key: Key) -> str:
    return encode_cursor([key[0], key[1]])


def decode_key(cursor: str) -> Key:
    moment, post_id = decode_cursor(cursor, [int, int])
    assert isinstance(moment, int) and isinstance(post_id, int)
    return moment, post_id


@dataclass(frozen=True)
class TimelinePage:
    owner: dict[str, Any]
    pinned: list[dict[str, Any]]
    items: list[dict[str, Any]]
    sections: list[dict[str, Any]]
    next_cursor: str | None


async def timeline_owner(session: AsyncSession, viewer_id: int | None, owner_id: int) -> User:
    """The owner of the timeline; `TimelineUserNotFound` (404) when there is no such user or
    either blocked the other. Two primary-key probes and one block probe."""
    user = await session.get(User, owner_id)
    if user is None:
        raise TimelineUserNotFound(f"No user {owner_id}.")
    blocked = (
        viewer_id is not None
        and viewer_id != owner_id
        and await is_blocked_between(session, SYSTEM, viewer_id, owner_id)
    )
    if blocked:
        raise TimelineUserNotFound(f"No user {owner_id}.")
    return user


async def _post_stream(
    session: AsyncSession, owner_id: int, before: Key | None, batch: int
) -> list[FeedPost]:
    stmt = select(FeedPost).where(
        FeedPost.system == SYSTEM, FeedPost.author_id == owner_id, FeedPost.deleted_at.is_(None)
    )
    if before is not None:
        stmt = stmt.where(FeedPost.id < post_id_bound(before))
    return list(await session.scalars(stmt.order_by(FeedPost.id.desc()).limit(batch)))


async def _event_stream(
    session: AsyncSession, owner_id: int, before: Key | None, batch: int
) -> list[TimelineLifeEvent]:
    stmt = select(TimelineLifeEvent).where(TimelineLifeEvent.user_id == owner_id)
    if before is not None:
        moment, post_id = before
        day = (_moment_datetime(moment)).date()
        if day_moment(day) == moment:
            stmt = stmt.where(
                or_(
                    TimelineLifeEvent.event_date < day,
                    and_(TimelineLifeEvent.event_date == day, TimelineLifeEvent.post_id < post_id),
                )
            )
        else:
            stmt = stmt.where(TimelineLifeEvent.event_date <= day)
    stmt = stmt.order_by(TimelineLifeEvent.event_date.desc(), TimelineLifeEvent.post_id.desc())
    return list(await session.scalars(stmt.limit(batch)))


def item_kind(post: FeedPost, event: TimelineLifeEvent | None) -> str:
    """life_event, share, photo, video or post."""
    if event is not None:
        return "life_event"
    data = post.data or {}
    if "shared_post_id" in data:
        return "share"
    media = data.get("media")
    if isinstance(media, dict) and media.get("type") in ("photo", "video"):
        return str(media["type"])
    return "post"


async def item_views(
    session: AsyncSession,
    posts_in_order: Sequence[FeedPost],
    events: dict[int, TimelineLifeEvent],
    pinned: set[int],
) -> list[dict[str, Any]]:
    """The API view of timeline items (already checked visible): the engine's post view plus
    `kind`, `occurred_at`, `section`, `pinned` and, for a life event, its type, date and title."""
    views = await posts.hydrate(session, SYSTEM, list(posts_in_order))
    for view, post in zip(views, posts_in_order, strict=True):
        event = events.get(post.id)
        moment = day_moment(event.event_date) if event is not None else post_moment(post.id)
        view["kind"] = item_kind(post, event)
        view["occurred_at"] = _moment_datetime(moment).isoformat()
        view["section"] = section_of(moment)
        view["pinned"] = post.id in pinned
        if event is not None:
            view["life_event"] = {
                "type": event.event_type,
                "date": event.event_date.isoformat(),
                "title": event.title,
            }
    return views


def group_sections(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive items of one month as `{section, year, month, items}` (page order kept)."""
    sections: list[dict[str, Any]] = []
    for item in items:
        if not sections or sections[-1]["section"] != item["section"]:
            year, month = item["section"].split("-")
            sections.append(
                {"section": item["section"], "year": int(year), "month": int(month), "items": []}
            )
        sections[-1]["items"].append(item)
    return sections


async def read_timeline(
    session: AsyncSession,
    viewer_id: int | None,
    owner_id: int,
    *,
    cursor: str | None,
    until: str | None,
    limit: int,
) -> TimelinePage:
    """One page of `owner_id`'s timeline as `viewer_id` (None: anonymous) may see it.

    The first page (no cursor) carries the visible pinned posts, which the chronological items
    leave out. Raises `TimelineUserNotFound` (404) and `InvalidInput` (422: bad cursor/month).
    """
    owner = await timeline_owner(session, viewer_id, owner_id)
    if cursor is not None:
        before: Key | None = decode_key(cursor)
    elif until is not None:
        before = month_end_cursor(until)
    else:
        before = None
    pin_ids = await featured.pinned_ids(session, owner_id)
    pinned_set = set(pin_ids)
    pinned_views: list[dict[str, Any]] = []
    if cursor is None and until is None and pin_ids:
        pinned_posts = [
            p
            for p in await posts.posts_by_ids(session, SYSTEM, pin_ids)
            if p.author_id == owner_id and p.deleted_at is None
        ]
        shown = await visible_posts(session, SYSTEM, viewer_id, pinned_posts)
        events = await life_events_of(session, [p.id for p in shown])
        pinned_views = await item_views(session, shown, events, pinned_set)

    batch = max(limit * 2, 20)
    chosen: list[tuple[Key, FeedPost]] = []
    chosen_events: dict[int, TimelineLifeEvent] = {}
    next_key: Key | None = None
    for _ in range(MAX_ROUNDS):
        post_rows = await _post_stream(session, owner_id, before, batch)
        event_rows = await _event_stream(session, owner_id, before, batch)
        horizons: list[Key] = []
        if len(post_rows) == batch:
            horizons.append((post_moment(post_rows[-1].id), post_rows[-1].id))
        if len(event_rows) == batch:
            last = event_rows[-1]
            horizons.append((day_moment(last.event_date), last.post_id))
        horizon = max(horizons) if horizons else None
        events_here = {e.post_id: e for e in event_rows}
        also_events = await life_events_of(
            session, [p.id for p in post_rows if p.id not in events_here]
        )
        candidates: dict[int, Key] = {}
        for post in post_rows:
            if post.id not in events_here and post.id not in also_events:
                candidates[post.id] = (post_moment(post.id), post.id)
        for event in event_rows:
            candidates[event.post_id] = (day_moment(event.event_date), event.post_id)
        keys = sorted(
            (key for pid, key in candidates.items() if pid not in pinned_set),
            reverse=True,
        )
        if horizon is not None:
            keys = [key for key in keys if key >= horizon]
        by_id = {p.id: p for p in post_rows}
        missing = [key[1] for key in keys if key[1] not in by_id]
        for post in await posts.posts_by_ids(session, SYSTEM, missing):
            by_id[post.id] = post
        slice_posts = [
            by_id[key[1]]
            for key in keys
            if key[1] in by_id
            and by_id[key[1]].deleted_at is None
            and by_id[key[1]].author_id == owner_id
        ]
        allowed = {p.id for p in await visible_posts(session, SYSTEM, viewer_id, slice_posts)}
        for key in keys:
            if key[1] not in allowed:
                continue
            chosen.append((key, by_id[key[1]]))
            if key[1] in events_here:
                chosen_events[key[1]] = events_here[key[1]]
            if len(chosen) == limit:
                break
        if len(chosen) == limit:
            next_key = chosen[-1][0]
            break
        if horizon is None:
            next_key = None
            break
        before = horizon
        next_key = horizon
    items = await item_views(session, [post for _, post in chosen], chosen_events, pinned_set)
    owner_view = {"id": str(owner.id), "display_name": owner.display_name}
    return TimelinePage(
        owner=owner_view,
        pinned=pinned_views,
        items=items,
        sections=group_sections(items),
        next_cursor=encode_key(next_key) if next_key is not None else None,
    )


MONTH_PROBE_BATCH = 100
"""Posts re-checked per round when a month's representative post was hidden by moderation."""


def _month_of_post_id(dialect: str) -> ColumnElement[str]:
    """SQL for the "YYYY-MM" (UTC) of a post's Snowflake id — the same month `section_of`
    gives the timeline, so the index and the sections never disagree."""
    # Integer division, not `>>`: PostgreSQL has no bigint >> bigint (ids are positive).
    seconds = (FeedPost.id // (1 << ID_SHIFT) + EPOCH_MS) // 1000
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", func.to_timestamp(seconds)), "YYYY-MM")
    return func.strftime("%Y-%m", seconds, "unixepoch")


def _month_of_event() -> ColumnElement[str]:
    return func.strftime("%Y-%m", TimelineLifeEvent.event_date)


def _month_of_event_pg() -> ColumnElement[str]:
    return func.to_char(TimelineLifeEvent.event_date, "YYYY-MM")


async def month_index(
    session: AsyncSession, viewer_id: int | None, owner_id: int
) -> list[dict[str, Any]]:
    """The months ("YYYY-MM", newest first, each with `year` and `month`) in which `owner_id`'s
    chronological timeline holds at least one item `viewer_id` may see — pinned posts are left
    out, as the chronological list leaves them out. Raises `TimelineUserNotFound` like
    `read_timeline`.

    How: two GROUP BY reads (the owner's posts by the month of their id, life events by the
    month of their date), each grouped by the audience fields that decide visibility (audience,
    page, group, list); one representative post per group goes through the engine's audience
    rule in one batch. Every post of the owner shares the author, so within a group only
    moderation (per post) can differ: when a group's representative was hidden by moderation
    while its audience admits the viewer, the group's other posts are re-checked in batches of
    `MONTH_PROBE_BATCH` until one is visible. Cost: O(N) index rows grouped in SQL for N items
    of the owner, O(G) Python work for G groups (≤ months x audiences), one relations round trip.
    """
    await timeline_owner(session, viewer_id, owner_id)
    dialect = session.get_bind().dialect.name
    pinned = await featured.pinned_ids(session, owner_id)
    post_month = _month_of_post_id(dialect)
    event_month = _month_of_event_pg() if dialect == "postgresql" else _month_of_event()
    audience_cols = (FeedPost.audience, FeedPost.page_id, FeedPost.group_id, FeedPost.list_id)
    owned = and_(
        FeedPost.system == SYSTEM,
        FeedPost.author_id == owner_id,
        FeedPost.deleted_at.is_(None),
        FeedPost.id.not_in(pinned) if pinned else true(),
    )
    is_event = select(TimelineLifeEvent.post_id).where(TimelineLifeEvent.post_id == FeedPost.id)
    post_groups = (
        select(post_month.label("month"), func.max(FeedPost.id), *audience_cols)
        .where(owned, ~is_event.exists())
        .group_by(post_month, *audience_cols)
    )
    event_groups = (
        select(event_month.label("month"), func.max(FeedPost.id), *audience_cols)
        .join(TimelineLifeEvent, TimelineLifeEvent.post_id == FeedPost.id)
        .where(owned, TimelineLifeEvent.user_id == owner_id)
        .group_by(event_month, *audience_cols)
    )
    groups: list[tuple[str, int, bool]] = [
        (str(month), int(rep_id), False) for month, rep_id, *_ in await session.execute(post_groups)
    ]
    groups += [
        (str(month), int(rep_id), True) for month, rep_id, *_ in await session.execute(event_groups)
    ]
    reps = {p.id: p for p in await posts.posts_by_ids(session, SYSTEM, [g[1] for g in groups])}
    relations = await relations_for(session, SYSTEM, viewer_id, list(reps.values()))
    unmoderated = replace(relations, moderated=set())
    months: set[str] = set()
    for month, rep_id, is_life_event in groups:
        rep = reps.get(rep_id)
        if month in months or rep is None:
            continue
        shown = relations.may_see(rep) or (
            unmoderated.may_see(rep)
            and await _any_visible_in_group(
                session,
                viewer_id,
                rep,
                month,
                month_column=event_month if is_life_event else post_month,
                life_events_only=is_life_event,
                owned=owned,
            )
        )
        if shown:
            months.add(month)
    return [
        {"section": month, "year": int(month[:4]), "month": int(month[5:])}
        for month in sorted(months, reverse=True)
    ]


async def _any_visible_in_group(
    session: AsyncSession,
    viewer_id: int | None,
    rep: FeedPost,
    month: str,
    *,
    month_column: ColumnElement[str],
    life_events_only: bool,
    owned: ColumnElement[bool],
) -> bool:
    """Whether a post of `rep`'s group (same month, same audience fields) other than those
    moderation hid is visible to the viewer. Batches of `MONTH_PROBE_BATCH`, newest first."""
    same_group = and_(
        owned,
        month_column == month,
        FeedPost.audience == rep.audience,
        *(
            column.is_(None) if value is None else column == value
            for column, value in (
                (FeedPost.page_id, rep.page_id),
                (FeedPost.group_id, rep.group_id),
                (FeedPost.list_id, rep.list_id),
            )
        ),
    )
    stmt = select(FeedPost).where(same_group)
    is_event = select(TimelineLifeEvent.post_id).where(TimelineLifeEvent.post_id == FeedPost.id)
    if life_events_only:
        stmt = stmt.join(TimelineLifeEvent, TimelineLifeEvent.post_id == FeedPost.id)
    else:
        stmt = stmt.where(~is_event.exists())
    below = rep.id
    while True:
        newest_first = stmt.where(FeedPost.id < below).order_by(FeedPost.id.desc())
        batch = list(await session.scalars(newest_first.limit(MONTH_PROBE_BATCH)))
        if not batch:
            return False
        if await visible_posts(session, SYSTEM, viewer_id, batch):
            return True
        below = batch[-1].id
