"""Shares: a user re-posts a post to their own audience.

A share is a post of the feed core whose `data.shared_post_id` names the original (a share of a
share names the original too, so chains never nest), plus a `FeedShare` row and the original's
"shares" counter +1 — all in one transaction, after which the new post is fanned out like any
other. Only public posts can be shared: re-posting a friends-only post to the sharer's audience
would show it to people its author did not choose. Other target kinds (a Substack post) record
shares without a feed post through `record_share`.

Undoing a share (`unshare`, or deleting the share post when the feed core calls
`on_post_deleted`) removes the row and takes the count back down, so "shares" counts the shares
that stand.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import counters, fanout, posts, service, targets
from casebook.engines.feed.audience import visible_post, visible_posts
from casebook.engines.feed.engagement_models import FeedShare
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound
from casebook.platform.ids import new_id

MAX_PAGE = 100


class NotShareable(Conflict):
    type_ = "feed/not-shareable"
    title = "This post cannot be shared"


class ShareNotFound(NotFound):
    type_ = "feed/share-not-found"
    title = "Share not found"


class InvalidCursor(InvalidInput):
    type_ = "feed/invalid-cursor"
    title = "The cursor is not valid"


async def record_share(
    session: AsyncSession,
    system: str,
    user_id: int,
    target_kind: str,
    target_id: int,
    *,
    post_id: int | None = None,
) -> FeedShare:
    """Record that `user_id` shared a target they can see (404 otherwise) and count it: one
    insert and one counter upsert, in the caller's transaction."""
    await targets.require(session, system, target_kind, user_id, target_id)
    share = FeedShare(
        id=new_id(),
        system=system,
        target_kind=target_kind,
        target_id=target_id,
        user_id=user_id,
        post_id=post_id,
        created_at=utcnow(),
    )
    session.add(share)
    await session.flush()
    await counters.add(session, system, target_kind, target_id, {counters.SHARES: 1})
    return share


@dataclass(frozen=True)
class ShareResult:
    share: FeedShare
    post: dict[str, Any]
    """The new post's view (as the feed core renders posts)."""
    shares: int
    """The original's share count after this share."""


def _original_id(post_data: dict[str, Any] | None, post_id: int) -> int:
    shared = (post_data or {}).get("shared_post_id")
    if isinstance(shared, str) and shared.isdigit():
        return int(shared)
    if isinstance(shared, int):
        return shared
    return post_id


async def share_post(
    runtime: FeedRuntime,
    user_id: int,
    post_id: int,
    *,
    body: str = "",
    audience: str = "public",
) -> ShareResult:
    """`user_id` shares post `post_id` (or, if it is itself a share, its original) with their
    own `audience`, saying `body`. Commits, then enqueues the new post's fan-out.

    Raises `TargetNotFound` (404) when the user may not see the post or its original,
    `NotShareable` (409) when the original is not public, and the feed core's post errors
    (422) for a bad body or audience.
    """
    system = runtime.system
    async with runtime.platform.db.session() as session:
        seen = await visible_post(session, system, user_id, post_id)
        if seen is None:
            raise targets.TargetNotFound(f"No post {post_id} here.")
        original_id = _original_id(seen.data, seen.id)
        original = seen if original_id == seen.id else None
        if original is None:
            original = await visible_post(session, system, user_id, original_id)
            if original is None:
                raise targets.TargetNotFound(f"No post {original_id} here.")
        if original.audience != "public":
            raise NotShareable("Only public posts can be shared.")
        await service.screen_post(session, runtime, user_id, body)
        post = await posts.create_post(
            session,
            system,
            user_id,
            body=body,
            audience=audience,
            data={"shared_post_id": str(original.id)},
        )
        share = await record_share(session, system, user_id, "post", original.id, post_id=post.id)
        (view,) = await posts.hydrate_for(session, system, user_id, [post])
        count = (await counters.read(session, system, "post", original.id)).get(counters.SHARES, 0)
    await fanout.enqueue(runtime, post.id, "published")
    return ShareResult(share, view, count)


async def on_post_deleted(session: AsyncSession, system: str, post_id: int) -> int:
    """Forget the share a deleted feed post carried, if it was one: the share row goes and the
    original's "shares" counter drops by one, exactly once (DELETE … RETURNING). Returns how
    many shares went (0 or 1). The feed core's post deletion should call this in its
    transaction; `unshare` does."""
    gone = await session.execute(
        delete(FeedShare)
        .where(FeedShare.system == system, FeedShare.post_id == post_id)
        .returning(FeedShare.target_kind, FeedShare.target_id)
    )
    rows = list(gone)
    for target_kind, target_id in rows:
        await counters.add(session, system, target_kind, target_id, {counters.SHARES: -1})
    return len(rows)


async def unshare(runtime: FeedRuntime, user_id: int, share_id: int) -> None:
    """Undo one's own share: its post is deleted (and retracted from timelines after the
    commit) and the original's count drops. 404 for a share that is not the caller's."""
    system = runtime.system
    async with runtime.platform.db.session() as session:
        share = await session.get(FeedShare, share_id)
        if share is None or share.system != system or share.user_id != user_id:
            raise ShareNotFound(f"No share {share_id} of yours.")
        post_id = share.post_id
        if post_id is None:
            gone = await session.scalar(
                delete(FeedShare).where(FeedShare.id == share_id).returning(FeedShare.id)
            )
            if gone is None:
                raise ShareNotFound(f"No share {share_id} of yours.")  # undone concurrently
            await counters.add(
                session, system, share.target_kind, share.target_id, {counters.SHARES: -1}
            )
            return
        # The share row goes first: of two racing undos only one finds it (DELETE …
        # RETURNING); deleting the post then finds no share left to give back.
        if not await on_post_deleted(session, system, post_id):
            raise ShareNotFound(f"No share {share_id} of yours.")  # undone concurrently
        await posts.delete_post(session, system, user_id, post_id)
    await fanout.enqueue(runtime, post_id, "deleted")


@dataclass(frozen=True)
class SharePage:
    items: list[FeedShare]
    next_cursor: str | None


def _encode_cursor(share_id: int) -> str:
    return base64.urlsafe_b64encode(f"s{share_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s") or not raw[1:].isdigit():
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor was not issued by this list.") from None


async def list_shares(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    target_kind: str,
    target_id: int,
    *,
    cursor: str | None = None,
    limit: int = 20,
) -> SharePage:
    """The shares of a target the viewer can see (404 otherwise) whose share post the viewer
    may see too, newest first, keyset-paged. Shares without a feed post are listed as such.

    Cost: one index range read of `limit` rows plus the feed core's batched audience check.
    """
    await targets.require(session, system, target_kind, viewer_id, target_id)
    limit = max(1, min(limit, MAX_PAGE))
    query = select(FeedShare).where(
        FeedShare.system == system,
        FeedShare.target_kind == target_kind,
        FeedShare.target_id == target_id,
    )
    if cursor:
        query = query.where(FeedShare.id < _decode_cursor(cursor))
    rows = list(await session.scalars(query.order_by(FeedShare.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    post_ids = [r.post_id for r in rows if r.post_id is not None]
    readable: set[int] = set()
    if post_ids:
        share_posts = await posts.posts_by_ids(session, system, post_ids)
        readable = {p.id for p in await visible_posts(session, system, viewer_id, share_posts)}
    items = [r for r in rows if r.post_id is None or r.post_id in readable]
    return SharePage(items, _encode_cursor(rows[-1].id) if more else None)
