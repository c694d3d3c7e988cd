"""The activity log: everything a user did in Facebook Timeline — posts (and life events,
photos, shares), reactions and comments (on anyone's posts), follows and friendships — newest
first, filterable by kind and date, seen by that user alone; deleting an entry undoes it.

The log is read from the records the actions left (feed posts, reactions, comments, follow
edges, friendships — all keyed by the acting user, each with a `(system, user, …)` index), not
from a copy: an entry exists exactly while its action stands, so it can never disagree with
the timeline, and undoing an action (through this log or anywhere else) removes its entry.
The seed's "append-only event log" would keep undone actions as history; this log keeps the
state a user can still manage, which is what "review and manage" asks for.

Ordering and paging. Entries are ordered by `(created_at, source rank, id)` descending; one
page reads at most `limit` rows of each selected source, below the cursor, and merges them:
O(k · (log N + limit)) for k sources. The cursor is the last entry's key, so entries added
while a client pages (newer) never shift a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from casebook.engines.feed import comments, reactions, service, shares
from casebook.engines.feed.engagement_models import FeedComment, FeedReaction, FeedShare
from casebook.engines.feed.models import FeedFollow, FeedFriendship, FeedPost
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.errors import InvalidInput, NotFound
from casebook.platform.pagination import decode_cursor, encode_cursor
from casebook.systems.facebook_timeline.life_events import life_events_of
from casebook.systems.facebook_timeline.models import SYSTEM
from casebook.systems.facebook_timeline.profile import item_kind

KINDS = ("post", "reaction", "comment", "follow", "friend")
"""Entry kinds, in the order that breaks ties between entries of the same microsecond."""
RANK = {kind: rank for rank, kind in enumerate(KINDS)}
SNIPPET = 140
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[int, int, int]
"""(created_at in µs since the Unix epoch, kind rank, id) — newest first."""


class ActivityNotFound(NotFound):
    type_ = "facebook-timeline/activity-not-found"
    title = "No such activity"


@dataclass(frozen=True)
class ActivityPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _at(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def parse_entry_id(entry_id: str) -> tuple[str, int]:
    """`<kind>:<id>` → (kind, id); raises ActivityNotFound for anything else."""
    kind, _, raw = entry_id.partition(":")
    if kind not in RANK or not raw.isdigit() or len(raw) > 19:
        raise ActivityNotFound(f"No activity {entry_id!r}.")
    return kind, int(raw)


def _below(
    column_at: QueryableAttribute[datetime],
    column_id: QueryableAttribute[int],
    rank: int,
    before: Key | None,
) -> ColumnElement[bool]:
    """SQL for "this source's key < before" (the source's rank is fixed)."""
    if before is None:
        return and_(True)
    micros, cursor_rank, cursor_id = before
    at = _at(micros)
    if rank < cursor_rank:
        return column_at <= at
    if rank > cursor_rank:
        return column_at < at
    return or_(column_at < at, and_(column_at == at, column_id < cursor_id))


@dataclass(frozen=True)
class _Entry:
    key: Key
    kind: str
    view: dict[str, Any]


def _snippet(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


async def _fetch(
    session: AsyncSession,
    user_id: int,
    kind: str,
    before: Key | None,
    window: tuple[datetime | None, datetime | None],
    limit: int,
) -> list[_Entry]:
    """Up to `limit` entries of one kind below `before` within `window` (inclusive start,
    exclusive end). One index range read (plus one life-event probe for posts)."""
    rank = RANK[kind]
    start, end = window
    entries: list[_Entry] = []
    view: dict[str, Any]
    if kind == "post":
        stmt = select(FeedPost).where(
            FeedPost.system == SYSTEM,
            FeedPost.author_id == user_id,
            FeedPost.deleted_at.is_(None),
            _below(FeedPost.created_at, FeedPost.id, rank, before),
        )
        if start is not None:
            stmt = stmt.where(FeedPost.created_at >= start)
        if end is not None:
            stmt = stmt.where(FeedPost.created_at < end)
        stmt = stmt.order_by(FeedPost.created_at.desc(), FeedPost.id.desc()).limit(limit)
        rows: Sequence[FeedPost] = list(await session.scalars(stmt))
        events = await life_events_of(session, [p.id for p in rows])
        for post in rows:
            view = {
                "post_id": str(post.id),
                "post_kind": item_kind(post, events.get(post.id)),
                "audience": "list" if post.audience == "list" else post.audience,
                "summary": _snippet(post.body),
            }
            entries.append(_Entry((_micros(post.created_at), rank, post.id), kind, view))
    elif kind == "reaction":
        stmt_r = select(FeedReaction).where(
            FeedReaction.system == SYSTEM,
            FeedReaction.user_id == user_id,
            _below(FeedReaction.created_at, FeedReaction.id, rank, before),
        )
        if start is not None:
            stmt_r = stmt_r.where(FeedReaction.created_at >= start)
        if end is not None:
            stmt_r = stmt_r.where(FeedReaction.created_at < end)
        stmt_r = stmt_r.order_by(FeedReaction.created_at.desc(), FeedReaction.id.desc())
        for reaction in await session.scalars(stmt_r.limit(limit)):
            view = {
                "reaction": reaction.kind,
                "target_kind": reaction.target_kind,
                "target_id": str(reaction.target_id),
            }
            entries.append(_Entry((_micros(reaction.created_at), rank, reaction.id), kind, view))
    elif kind == "comment":
        stmt_c = select(FeedComment).where(
            FeedComment.system == SYSTEM,
            FeedComment.author_id == user_id,
            FeedComment.deleted_at.is_(None),
            _below(FeedComment.created_at, FeedComment.id, rank, before),
        )
        if start is not None:
            stmt_c = stmt_c.where(FeedComment.created_at >= start)
        if end is not None:
            stmt_c = stmt_c.where(FeedComment.created_at < end)
        stmt_c = stmt_c.order_by(FeedComment.created_at.desc(), FeedComment.id.desc())
        for comment in await session.scalars(stmt_c.limit(limit)):
            view = {
                "comment_id": str(comment.id),
                "target_kind": comment.target_kind,
                "target_id": str(comment.target_id),
                "reply_to": str(comment.parent_id) if comment.parent_id is not None else None,
                "summary": _snippet(comment.body),
            }
            entries.append(_Entry((_micros(comment.created_at), rank, comment.id), kind, view))
    elif kind == "follow":
        stmt_f = select(FeedFollow).where(
            FeedFollow.system == SYSTEM,
            FeedFollow.follower_id == user_id,
            _below(FeedFollow.created_at, FeedFollow.followee_id, rank, before),
        )
        if start is not None:
            stmt_f = stmt_f.where(FeedFollow.created_at >= start)
        if end is not None:
            stmt_f = stmt_f.where(FeedFollow.created_at < end)
        stmt_f = stmt_f.order_by(FeedFollow.created_at.desc(), FeedFollow.followee_id.desc())
        for edge in await session.scalars(stmt_f.limit(limit)):
            view = {
                "followee_id": str(edge.followee_id),
                "followee_kind": edge.followee_kind,
                "status": edge.status,
            }
            entries.append(_Entry((_micros(edge.created_at), rank, edge.followee_id), kind, view))
    else:
        stmt_p = select(FeedFriendship).where(
            FeedFriendship.system == SYSTEM,
            FeedFriendship.user_id == user_id,
            _below(FeedFriendship.created_at, FeedFriendship.friend_id, rank, before),
        )
        if start is not None:
            stmt_p = stmt_p.where(FeedFriendship.created_at >= start)
        if end is not None:
            stmt_p = stmt_p.where(FeedFriendship.created_at < end)
        stmt_p = stmt_p.order_by(FeedFriendship.created_at.desc(), FeedFriendship.friend_id.desc())
        for row in await session.scalars(stmt_p.limit(limit)):
            view = {"friend_id": str(row.friend_id), "status": row.status}
            entries.append(_Entry((_micros(row.created_at), rank, row.friend_id), kind, view))
    return entries


def _window(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    if since is not None and until is not None and since > until:
        raise InvalidInput("`since` is on or before `until`.")
    start = datetime.combine(since, time(), UTC) if since is not None else None
    end = datetime.combine(until + timedelta(days=1), time(), UTC) if until is not None else None
    return start, end


async def read_log(
    session: AsyncSession,
    user_id: int,
    *,
    kinds: Sequence[str],
    since: date | None,
    until: date | None,
    cursor: str | None,
    limit: int,
) -> ActivityPage:
    """One page of `user_id`'s own activity, newest first, of the given kinds (all when empty)
    between `since` and `until` (dates, inclusive). Raises InvalidInput (422) for an unknown
    kind, a reversed range or a bad cursor."""
    unknown = [k for k in kinds if k not in RANK]
    if unknown:
        raise InvalidInput(f"Unknown activity kind {unknown[0]!r}; kinds are {', '.join(KINDS)}.")
    window = _window(since, until)
    before: Key | None = None
    if cursor is not None:
        micros, rank, entry_id = decode_cursor(cursor, [int, int, int])
        assert isinstance(micros, int) and isinstance(rank, int) and isinstance(entry_id, int)
        before = (micros, rank, entry_id)
    merged: list[_Entry] = []
    for kind in kinds or KINDS:
        merged.extend(await _fetch(session, user_id, kind, before, window, limit + 1))
    # Each source gave its own top limit+1, so the union's top limit+1 is exact.
    merged.sort(key=lambda entry: entry.key, reverse=True)
    page, more = merged[:limit], len(merged) > limit
    items = [
        {
            "id": f"{entry.kind}:{entry.key[2]}",
            "kind": entry.kind,
            "created_at": _at(entry.key[0]).isoformat(),
            **entry.view,
        }
        for entry in page
    ]
    next_cursor = encode_cursor(list(page[-1].key)) if more and page else None
    return ActivityPage(items, next_cursor)


async def undo(runtime: FeedRuntime, user_id: int, entry_id: str) -> str:
    """Delete an entry of the caller's log by undoing its action: delete the post (a share is
    unshared), remove the reaction, delete the comment, unfollow, unfriend (or cancel the
    request). Returns the entry's kind. `ActivityNotFound` (404) when the entry is not the
    caller's or no longer stands — another user's entries do not exist for them."""
    kind, target = parse_entry_id(entry_id)
    db = runtime.platform.db
    if kind == "post":
        async with db.session() as session:
            post = await session.get(FeedPost, target)
            if (
                post is None
                or post.system != SYSTEM
                or post.author_id != user_id
                or post.deleted_at is not None
            ):
                raise ActivityNotFound(f"No activity {entry_id!r}.")
            share_id = await session.scalar(
                select(FeedShare.id).where(
                    FeedShare.system == SYSTEM,
                    FeedShare.user_id == user_id,
                    FeedShare.post_id == target,
                )
            )
        if share_id is not None:
            await shares.unshare(runtime, user_id, share_id)
        else:
            await service.delete(runtime, user_id, target)
    elif kind == "reaction":
        async with db.session() as session:
            reaction = await session.get(FeedReaction, target)
            if reaction is None or reaction.system != SYSTEM or reaction.user_id != user_id:
                raise ActivityNotFound(f"No activity {entry_id!r}.")
            state = await reactions.unreact(
                session, SYSTEM, user_id, reaction.target_kind, reaction.target_id
            )
            if not state.changed:
                raise ActivityNotFound(f"No activity {entry_id!r}.")
    elif kind == "comment":
        async with db.session() as session:
            comment = await session.get(FeedComment, target)
            if (
                comment is None
                or comment.system != SYSTEM
                or comment.author_id != user_id
                or comment.deleted_at is not None
            ):
                raise ActivityNotFound(f"No activity {entry_id!r}.")
            await comments.delete_comment(session, SYSTEM, user_id, target)
    elif kind == "follow":
        async with db.session() as session:
            edge = await session.get(FeedFollow, (SYSTEM, user_id, target))
        if edge is None or not await service.unfollow(runtime, user_id, target):
            raise ActivityNotFound(f"No activity {entry_id!r}.")
    else:
        async with db.session() as session:
            row = await session.get(FeedFriendship, (SYSTEM, user_id, target))
        if row is None or await service.unfriend(runtime, user_id, target) is None:
            raise ActivityNotFound(f"No activity {entry_id!r}.")
    return kind
