"""Explore and search.

Trending (`trending_hashtags`, `trending_posts`) scores posts of the last `WINDOW` by engagement
with time decay — `(1 + likes + 2·comments) · 0.5^(age / HALF_LIFE)` from the engine's exact
counters — and a hashtag by the sum over its posts. Only posts anyone may see count (public
audience, public author, not deleted), so an aggregate never reveals private content; the posts
listed are then re-checked for the viewer (blocks) by the engine's `visible_posts`.
Cost: one read of the newest `CANDIDATES` rows of the window, one counter read, O(n log n).

Search matches handles and display names, hashtags and location names by prefix (an index range
scan each), and lists a hashtag's or a location's posts newest first by post-id cursor, every
page through `visible_posts`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.audience import visible_posts
from casebook.engines.feed.engagement_models import FeedCounter
from casebook.engines.feed.models import FeedBlock, FeedPost, FeedProfile
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput
from casebook.systems.instagram.media import SLUG
from casebook.systems.instagram.models import InstagramHashtag, InstagramLocation, InstagramPost

WINDOW = timedelta(days=7)
HALF_LIFE = timedelta(hours=24)
CANDIDATES = 2000
MAX_SCAN_ROUNDS = 8


def _public() -> Any:
    """Posts anyone may see: public audience, not deleted, author not private."""
    private_authors = select(FeedProfile.user_id).where(
        FeedProfile.system == SLUG, FeedProfile.private.is_(True)
    )
    return and_(
        FeedPost.system == SLUG,
        FeedPost.audience == "public",
        FeedPost.deleted_at.is_(None),
        FeedPost.author_id.not_in(private_authors),
    )


def decayed(likes: int, comments: int, age: timedelta) -> float:
    """The trending score of one post. O(1)."""
    return (1 + likes + 2 * comments) * math.pow(0.5, age / HALF_LIFE)


async def _scores(
    session: AsyncSession, posts: list[tuple[int, datetime]], now: datetime
) -> dict[int, float]:
    counts: dict[int, dict[str, int]] = {}
    if posts:
        rows = await session.execute(
            select(FeedCounter.target_id, FeedCounter.name, FeedCounter.value).where(
                FeedCounter.system == SLUG,
                FeedCounter.target_kind == "post",
                FeedCounter.target_id.in_([p for p, _ in posts]),
                FeedCounter.name.in_(("reactions", "comments")),
            )
        )
        for target, name, value in rows:
            counts.setdefault(target, {})[name] = value
    return {
        post_id: decayed(
            counts.get(post_id, {}).get("reactions", 0),
            counts.get(post_id, {}).get("comments", 0),
            max(now - created, timedelta(0)),
        )
        for post_id, created in posts
    }


async def trending_hashtags(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    """The hashtags of the window's public posts, highest decayed engagement first."""
    now = utcnow()
    rows = (
        await session.execute(
            select(InstagramHashtag.tag, FeedPost.id, FeedPost.created_at)
            .join(FeedPost, FeedPost.id == InstagramHashtag.post_id)
            .where(InstagramHashtag.created_at >= now - WINDOW, _public())
            .order_by(InstagramHashtag.created_at.desc())
            .limit(CANDIDATES)
        )
    ).all()
    scores = await _scores(session, list({(p, c) for _, p, c in rows}), now)
    totals: dict[str, float] = {}
    posts: dict[str, int] = {}
    for tag, post_id, _ in rows:
        totals[tag] = totals.get(tag, 0.0) + scores[post_id]
        posts[tag] = posts.get(tag, 0) + 1
    ranked = sorted(totals, key=lambda t: (-totals[t], t))[:limit]
    return [{"tag": t, "score": round(totals[t], 4), "posts": posts[t]} for t in ranked]


async def trending_posts(
    session: AsyncSession, viewer_id: int | None, limit: int
) -> list[FeedPost]:
    """The window's public Instagram posts the viewer may see, by decayed engagement."""
    now = utcnow()
    rows = list(
        await session.scalars(
            select(FeedPost)
            .join(InstagramPost, InstagramPost.post_id == FeedPost.id)
            .where(_public(), FeedPost.created_at >= now - WINDOW)
            .order_by(FeedPost.id.desc())
            .limit(CANDIDATES)
        )
    )
    scores = await _scores(session, [(p.id, p.created_at) for p in rows], now)
    rows.sort(key=lambda p: (-scores[p.id], -p.id))
    return (await visible_posts(session, SLUG, viewer_id, rows))[:limit]


def _prefix(text: str) -> str:
    cleaned = text.strip().lower().removeprefix("#").removeprefix("@")
    cleaned = cleaned.replace("\\", "").replace("%", "")
    if not cleaned or len(cleaned) > 100:
        raise InvalidInput("Search for 1 to 100 letters, digits or other characters but % and \\.")
    return cleaned.replace("_", "\\_")


async def search(
    session: AsyncSession, viewer_id: int | None, query: str, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """Users, hashtags and locations whose name starts with `query` (case-insensitive). Users
    who blocked the viewer or whom they blocked are left out; hashtag counts are of public
    posts only."""
    prefix = _prefix(query)
    like = f"{prefix}%"
    users_stmt = select(FeedProfile).where(
        FeedProfile.system == SLUG,
        or_(
            FeedProfile.handle.like(like, escape="\\"),
            func.lower(FeedProfile.display_name).like(like, escape="\\"),
        ),
    )
    if viewer_id is not None:
        blocked = select(FeedBlock.blocked_id).where(
            FeedBlock.system == SLUG, FeedBlock.blocker_id == viewer_id
        )
        blockers = select(FeedBlock.blocker_id).where(
            FeedBlock.system == SLUG, FeedBlock.blocked_id == viewer_id
        )
        users_stmt = users_stmt.where(
            FeedProfile.user_id.not_in(blocked), FeedProfile.user_id.not_in(blockers)
        )
    users = await session.scalars(users_stmt.order_by(FeedProfile.handle).limit(limit))
    tag_rows = await session.execute(
        select(InstagramHashtag.tag, func.count())
        .join(FeedPost, FeedPost.id == InstagramHashtag.post_id)
        .where(InstagramHashtag.tag.like(like, escape="\\"), _public())
        .group_by(InstagramHashtag.tag)
        .order_by(func.count().desc(), InstagramHashtag.tag)
        .limit(limit)
    )
    places = await session.scalars(
        select(InstagramLocation)
        .where(InstagramLocation.name_key.like(like, escape="\\"))
        .order_by(InstagramLocation.name_key)
        .limit(limit)
    )
    return {
        "users": [
            {
                "id": str(u.user_id),
                "handle": u.handle,
                "display_name": u.display_name,
                "private": u.private,
            }
            for u in users
        ],
        "hashtags": [{"tag": tag, "posts": count} for tag, count in tag_rows],
        "locations": [
            {"id": str(p.id), "name": p.name, "latitude": p.latitude, "longitude": p.longitude}
            for p in places
        ],
    }


async def posts_with(
    session: AsyncSession,
    viewer_id: int | None,
    *,
    hashtag: str | None = None,
    location_id: int | None = None,
    before: int | None,
    limit: int,
) -> tuple[list[FeedPost], int | None]:
    """A hashtag's or a location's posts the viewer may see, newest first, by post-id cursor.
    Each round: one index range read plus `visible_posts`; at most `MAX_SCAN_ROUNDS` rounds."""
    if hashtag is not None:
        ids_col: Any = InstagramHashtag.post_id
        base = select(InstagramHashtag.post_id).where(InstagramHashtag.tag == hashtag.lower())
    else:
        ids_col = InstagramPost.post_id
        base = select(InstagramPost.post_id).where(InstagramPost.location_id == location_id)
    items: list[FeedPost] = []
    cursor = before
    batch = max(limit * 2, 20)
    for _ in range(MAX_SCAN_ROUNDS):
        stmt = base if cursor is None else base.where(ids_col < cursor)
        ids = list(await session.scalars(stmt.order_by(ids_col.desc()).limit(batch)))
        if not ids:
            return items, None
        found = {
            p.id: p
            for p in await session.scalars(
                select(FeedPost).where(
                    FeedPost.system == SLUG, FeedPost.id.in_(ids), FeedPost.deleted_at.is_(None)
                )
            )
        }
        ordered = [found[i] for i in ids if i in found]
        for post in await visible_posts(session, SLUG, viewer_id, ordered):
            items.append(post)
            if len(items) == limit:
                return items, post.id
        if len(ids) < batch:
            return items, None
        cursor = ids[-1]
    return items, cursor
