"""Profiles: the engine's profile (handle, name, privacy, follower count) plus Instagram's bio,
website and profile picture, the follower/following/post counts and the post grid.

Privacy: who may see a profile's posts is who may see the author's public posts — the engine's
audience rule, asked through `stories.visible_authors` (anyone for a public account; the owner,
friends and approved followers of a private one; never across a block). A viewer who may not
sees the header and the counts (as on Instagram) and an empty grid with `posts_visible: false`.
A block either way makes the whole profile 404, like a missing user.

Cost of `profile_of`: two primary-key reads, one block probe, three counts on indexed columns
(`feed_follows` by follower, `instagram_posts` joined to `feed_posts` by author) and, when the
grid is visible, one wall page (`posts.source_posts`: an index range read plus the audience
check) and its hydration (one round trip).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import graph
from casebook.engines.feed import posts as feed_posts
from casebook.engines.feed.audience import is_blocked_between
from casebook.engines.feed.models import FeedFollow, FeedPost
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput
from casebook.systems.instagram import stories
from casebook.systems.instagram.media import SLUG, check_usable, own_media
from casebook.systems.instagram.models import InstagramMedia, InstagramPost, InstagramProfile

MAX_BIO = 150
MAX_WEBSITE = 200
GRID_PAGE = 12


class InvalidProfile(InvalidInput):
    type_ = "instagram/invalid-profile"
    title = "Invalid profile"


def check_website(url: str) -> str:
    """An http(s) URL with a host, or "" to clear it; `InvalidProfile` (422) otherwise, so a
    profile link can never be `javascript:` or a relative path."""
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise InvalidProfile("A website is an http:// or https:// address.")
    return url


async def update_profile(
    session: AsyncSession,
    user_id: int,
    *,
    bio: str | None = None,
    website: str | None = None,
    avatar_media_id: int | None = None,
    clear_avatar: bool = False,
) -> InstagramProfile:
    """Change one's bio, website or profile picture (a processed media item of one's own not
    used by a post or story: 404/409 as for posts). Fields left None stay as they are."""
    await graph.ensure_profile(session, SLUG, user_id)
    extra = await session.get(InstagramProfile, user_id)
    if extra is None:
        extra = InstagramProfile(user_id=user_id, bio="", website="")
        session.add(extra)
    if bio is not None:
        if len(bio) > MAX_BIO:
            raise InvalidProfile(f"A bio is at most {MAX_BIO} characters.")
        extra.bio = bio.strip()
    if website is not None:
        if len(website) > MAX_WEBSITE:
            raise InvalidProfile(f"A website is at most {MAX_WEBSITE} characters.")
        extra.website = check_website(website)
    if clear_avatar:
        extra.avatar_media_id = None
    elif avatar_media_id is not None:
        media = await own_media(session, user_id, avatar_media_id)
        check_usable(media)
        extra.avatar_media_id = media.id
    extra.updated_at = utcnow()
    await session.flush()
    return extra


async def is_avatar(session: AsyncSession, media: InstagramMedia) -> bool:
    """Whether `media` is its owner's current profile picture. One primary-key read."""
    extra = await session.get(InstagramProfile, media.owner_id)
    return extra is not None and extra.avatar_media_id == media.id


async def _counts(session: AsyncSession, user_id: int) -> tuple[int, int]:
    following = await session.scalar(
        select(func.count())
        .select_from(FeedFollow)
        .where(
            FeedFollow.system == SLUG,
            FeedFollow.follower_id == user_id,
            FeedFollow.status == "active",
            FeedFollow.followee_kind == "user",
        )
    )
    posts = await session.scalar(
        select(func.count())
        .select_from(InstagramPost)
        .join(FeedPost, FeedPost.id == InstagramPost.post_id)
        .where(InstagramPost.author_id == user_id, FeedPost.deleted_at.is_(None))
    )
    return int(following or 0), int(posts or 0)


def grid_item(view: dict[str, Any]) -> dict[str, Any]:
    """A post's tile in a grid: its first item's smallest rendition and blurhash, its kind,
    how many items it has and its like and comment counts."""
    data = view.get("data") or {}
    items = data.get("media") or [{}]
    first = items[0]
    variants = first.get("variants") or {}
    smallest = min(variants, key=int) if variants else None
    return {
        "id": view["id"],
        "kind": data.get("kind"),
        "media_count": len(items),
        "thumbnail": variants.get(smallest) if smallest else None,
        "blurhash": first.get("blurhash"),
        "likes": view["counts"].get("reactions", 0),
        "comments": view["counts"].get("comments", 0),
    }


async def follow_status(session: AsyncSession, viewer_id: int | None, user_id: int) -> str | None:
    """ "active", "pending" (a request to a private account) or None."""
    if viewer_id is None or viewer_id == user_id:
        return None
    row = await session.get(FeedFollow, (SLUG, viewer_id, user_id))
    return row.status if row is not None else None


async def profile_of(
    session: AsyncSession,
    viewer_id: int | None,
    user_id: int,
    *,
    before: int | None = None,
    limit: int = GRID_PAGE,
) -> dict[str, Any]:
    """The profile page's data for `viewer_id` (see the module docstring). Raises
    `graph.UserNotFound` (404) for an unknown user or a block either way."""
    if viewer_id is not None and await is_blocked_between(session, SLUG, viewer_id, user_id):
        raise graph.UserNotFound(f"No user {user_id}.")
    base = await graph.ensure_profile(session, SLUG, user_id)
    extra = await session.get(InstagramProfile, user_id)
    avatar = None
    if extra is not None and extra.avatar_media_id is not None:
        media = await session.get(InstagramMedia, extra.avatar_media_id)
        if media is not None and media.variants:
            avatar = {
                "media_id": str(media.id),
                "url": f"/api/{SLUG}/media/{media.id}/{min(media.variants)}.jpg",
                "blurhash": media.blurhash,
            }
    following, post_count = await _counts(session, user_id)
    visible = viewer_id == user_id or user_id in await stories.visible_authors(
        session, viewer_id, [user_id]
    )
    grid: list[dict[str, Any]] = []
    next_before: int | None = None
    if visible:
        rows, next_before = await feed_posts.source_posts(
            session, SLUG, viewer_id, user_id, before=before, limit=limit
        )
        views = await feed_posts.hydrate(session, SLUG, rows)
        grid = [grid_item(v) for v in views if (v.get("data") or {}).get("media")]
    return {
        "id": str(user_id),
        "handle": base.handle,
        "display_name": base.display_name,
        "private": base.private,
        "bio": extra.bio if extra else "",
        "website": extra.website if extra else "",
        "avatar": avatar,
        "counts": {"posts": post_count, "followers": base.follower_count, "following": following},
        "is_self": viewer_id == user_id,
        "follow_status": await follow_status(session, viewer_id, user_id),
        "posts_visible": visible,
        "grid": grid,
        "next_before": next_before,
    }
