"""Photo and video posts: one to ten processed media items (a carousel past one), a caption
with #hashtags and @mentions, user tags on the items and a location — stored as a feed-engine
post (so audience, fan-out, likes, comments and notifications are the engine's) plus
Instagram's index rows (`instagram_posts`, `_hashtags`, `_user_tags`).

Creating a post is one transaction: the engine's post row, the claim of every media item (one
conditional UPDATE each: `post_id IS NULL AND story_id IS NULL AND status = 'ready'`, so two
concurrent posts cannot share an item), the index rows and the tag notifications; the fan-out
job is enqueued after it commits.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import fanout, notifications
from casebook.engines.feed import posts as feed_posts
from casebook.engines.feed.audience import is_blocked_between, user_ids_for_handles
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.errors import InvalidInput
from casebook.systems.instagram.media import SLUG, MediaUnusable, check_usable, media_view
from casebook.systems.instagram.models import (
    InstagramHashtag,
    InstagramLocation,
    InstagramMedia,
    InstagramPost,
    InstagramUserTag,
)

MAX_ITEMS = 10
MAX_CAPTION = 2200
MAX_HASHTAGS = 30
MAX_USER_TAGS = 20
AUDIENCES = ("public", "followers")
HASHTAG = re.compile(r"(?<![\w#])#(\w{1,100})", re.UNICODE)


class InvalidInstagramPost(InvalidInput):
    type_ = "instagram/invalid-post"
    title = "Invalid post"


def hashtags_in(caption: str) -> list[str]:
    """The distinct hashtags of a caption, lower-cased, in order of appearance (at most
    `MAX_HASHTAGS`; more is refused by `create_post`). O(len(caption))."""
    seen: list[str] = []
    for tag in HASHTAG.findall(caption):
        key = tag.lower()
        if key not in seen:
            seen.append(key)
    return seen


def location_key(name: str) -> str:
    return " ".join(name.lower().split())


async def location_for(
    session: AsyncSession, name: str, latitude: float | None, longitude: float | None
) -> InstagramLocation:
    """The location named `name` (case and spacing ignored), created on first use."""
    key = location_key(name)
    if not key:
        raise InvalidInstagramPost("A location needs a name.")
    found = await session.scalar(select(InstagramLocation).where(InstagramLocation.name_key == key))
    if found is not None:
        return found
    location = InstagramLocation(
        name=" ".join(name.split()), name_key=key, latitude=latitude, longitude=longitude
    )
    session.add(location)
    await session.flush()
    return location


def location_view(location: InstagramLocation | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {
        "id": str(location.id),
        "name": location.name,
        "latitude": location.latitude,
        "longitude": location.longitude,
    }


async def _resolve_user_tags(
    session: AsyncSession, author_id: int, tags: list[dict[str, Any]], items: int
) -> list[tuple[int, str, int, float, float]]:
    """(user id, handle, item index, x, y) for each tag; refuses unknown handles, items out
    of range and users blocked either way (422, without saying which way)."""
    handles = [str(tag["handle"]) for tag in tags]
    resolved = await user_ids_for_handles(session, SLUG, handles)
    out: list[tuple[int, str, int, float, float]] = []
    for tag in tags:
        handle = str(tag["handle"]).removeprefix("@").lower()
        user_id = resolved.get(handle)
        if user_id is None:
            raise InvalidInstagramPost(f"No user @{handle} to tag.")
        index = int(tag.get("media_index", 0))
        if not 0 <= index < items:
            raise InvalidInstagramPost(f"media_index {index} is not an item of this post.")
        if user_id != author_id and await is_blocked_between(session, SLUG, author_id, user_id):
            raise InvalidInstagramPost(f"@{handle} cannot be tagged.")
        out.append((user_id, handle, index, float(tag.get("x", 0.5)), float(tag.get("y", 0.5))))
    return out


async def create_post(
    runtime: FeedRuntime,
    author_id: int,
    *,
    caption: str,
    media_ids: list[int],
    audience: str = "public",
    location: dict[str, Any] | None = None,
    user_tags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Publish a post of the author's processed media (see the module docstring).

    Raises `InvalidInstagramPost` (422: counts, caption, tags, audience), `MediaNotFound` (404:
    not the author's), `MediaNotReady` (409: still processing) and `MediaUnusable` (409: failed or
    already used). Returns the engine's post view. Cost: O(items + tags) statements.
    """
    if not 1 <= len(media_ids) <= MAX_ITEMS or len(set(media_ids)) != len(media_ids):
        raise InvalidInstagramPost(f"A post has 1 to {MAX_ITEMS} distinct media items.")
    if len(caption) > MAX_CAPTION:
        raise InvalidInstagramPost(f"A caption is at most {MAX_CAPTION} characters.")
    if audience not in AUDIENCES:
        raise InvalidInstagramPost("A post is public or for followers only.")
    hashtags = hashtags_in(caption)
    if len(hashtags) > MAX_HASHTAGS:
        raise InvalidInstagramPost(f"At most {MAX_HASHTAGS} hashtags.")
    tags_in = user_tags or []
    if len(tags_in) > MAX_USER_TAGS:
        raise InvalidInstagramPost(f"At most {MAX_USER_TAGS} user tags.")
    from casebook.systems.instagram.media import own_media

    async with runtime.platform.db.session() as session:
        items: list[InstagramMedia] = []
        for media_id in media_ids:
            media = await own_media(session, author_id, media_id)
            check_usable(media)
            items.append(media)
        tags = await _resolve_user_tags(session, author_id, tags_in, len(items))
        place = None
        if location is not None:
            place = await location_for(
                session,
                str(location.get("name", "")),
                location.get("latitude"),
                location.get("longitude"),
            )
        data = {
            "kind": "carousel" if len(items) > 1 else items[0].kind,
            "media": [media_view(m) for m in items],
            "location": location_view(place),
            "user_tags": [
                {"user_id": str(uid), "handle": handle, "media_index": idx, "x": x, "y": y}
                for uid, handle, idx, x, y in tags
            ],
            "hashtags": hashtags,
        }
        post = await feed_posts.create_post(
            session, SLUG, author_id, body=caption, audience=audience, data=data
        )
        for position, media in enumerate(items):
            claimed = await session.execute(
                update(InstagramMedia)
                .where(
                    InstagramMedia.id == media.id,
                    InstagramMedia.owner_id == author_id,
                    InstagramMedia.post_id.is_(None),
                    InstagramMedia.story_id.is_(None),
                    InstagramMedia.status == "ready",
                )
                .values(post_id=post.id, position=position)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise MediaUnusable(f"Media {media.id} was just used by another post.")
        session.add(
            InstagramPost(
                post_id=post.id,
                author_id=author_id,
                location_id=place.id if place else None,
                media_count=len(items),
            )
        )
        session.add_all(InstagramHashtag(tag=tag, post_id=post.id) for tag in hashtags)
        seen_tags: set[tuple[int, int]] = set()
        for uid, _handle, idx, x, y in tags:
            if (uid, idx) in seen_tags:
                continue
            seen_tags.add((uid, idx))
            session.add(InstagramUserTag(post_id=post.id, user_id=uid, media_index=idx, x=x, y=y))
        await session.flush()
        for uid in sorted({t[0] for t in tags}):
            await notifications.notify(session, SLUG, uid, "mention", author_id, "post", post.id)
        (view,) = await feed_posts.hydrate(session, SLUG, [post])
    await fanout.enqueue(runtime, post.id, "published")
    return view


async def edit_caption(
    runtime: FeedRuntime, user_id: int, post_id: int, caption: str
) -> dict[str, Any]:
    """Change a post's caption (author only: 403/404 as the engine answers) and re-index its
    hashtags in the same transaction."""
    if len(caption) > MAX_CAPTION:
        raise InvalidInstagramPost(f"A caption is at most {MAX_CAPTION} characters.")
    hashtags = hashtags_in(caption)
    if len(hashtags) > MAX_HASHTAGS:
        raise InvalidInstagramPost(f"At most {MAX_HASHTAGS} hashtags.")
    async with runtime.platform.db.session() as session:
        current = await feed_posts.readable_post(session, SLUG, user_id, post_id)
        if await session.get(InstagramPost, post_id) is None:
            raise feed_posts.PostNotFound(f"No Instagram post {post_id}.")
        data = dict(current.data or {})
        data["hashtags"] = hashtags
        post, _ = await feed_posts.edit_post(
            session, SLUG, user_id, post_id, body=caption, data=data
        )
        await session.execute(delete(InstagramHashtag).where(InstagramHashtag.post_id == post_id))
        session.add_all(
            InstagramHashtag(tag=tag, post_id=post_id, created_at=post.created_at)
            for tag in hashtags
        )
        (view,) = await feed_posts.hydrate(session, SLUG, [post])
    return view
