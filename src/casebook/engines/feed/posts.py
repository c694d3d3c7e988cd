"""Posts: create, edit, delete (author only), read one, and list a source's posts — every read
through `audience.visible_posts`.

Audience is given as text: `public`, `followers`, `friends`, `only_me` or `list:<id>` (a list
the author owns). A post in a group always has the `group` audience (members only); a page post
is `public` or `followers` (of the page).

Ids are Snowflakes, so `id` order is publication order and lists page by id: a cursor is the
last id served, and posts published while a client pages (larger ids) never shift a page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, String, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import graph, notifications
from casebook.engines.feed.audience import (
    listed_posts,
    user_ids_for_handles,
    visible_post,
    visible_posts,
)
from casebook.engines.feed.engagement_models import FeedCounter
from casebook.engines.feed.models import FeedPost, FeedProfile
from casebook.platform.db import utcnow
from casebook.platform.errors import Forbidden, InvalidInput, NotFound

MAX_BODY = 10_000
MAX_DATA_BYTES = 16 * 1024
MAX_SCAN_ROUNDS = 8
"""A filtered list reads at most this many batches to fill one page (then returns a short page
with a cursor), so a source whose posts are mostly hidden from the viewer costs bounded work."""


class PostNotFound(NotFound):
    type_ = "feed/post-not-found"
    title = "No such post"


class NotAuthor(Forbidden):
    type_ = "feed/not-author"
    title = "Only the author may do that"


class InvalidAudience(InvalidInput):
    type_ = "feed/invalid-audience"
    title = "Invalid audience"


class InvalidPost(InvalidInput):
    type_ = "feed/invalid-post"
    title = "Invalid post"


@dataclass(frozen=True)
class Audience:
    kind: str
    list_id: int | None = None


def audience_label(post: FeedPost) -> str:
    """The post's audience as the API writes it (`list:<id>` for lists)."""
    return f"list:{post.list_id}" if post.audience == "list" else post.audience


async def parse_audience(session: AsyncSession, system: str, author_id: int, text: str) -> Audience:
    """Validate an audience string for `author_id`; raises `InvalidAudience` (422) or
    `ListNotFound` (404: not a list of theirs)."""
    if text in ("public", "followers", "friends", "only_me"):
        return Audience(text)
    if text.startswith("list:"):
        raw = text.removeprefix("list:")
        if not raw.isdigit() or len(raw) > 19:
            raise InvalidAudience("A list audience is list:<list id>.")
        entry = await graph.owned_list(session, system, author_id, int(raw))
        return Audience("list", entry.id)
    raise InvalidAudience("Audience is public, followers, friends, only_me or list:<id>.")


def _check_content(body: str, data: dict[str, Any] | None) -> None:
    if len(body) > MAX_BODY:
        raise InvalidPost(f"A post body is at most {MAX_BODY} characters.")
    if data is not None and len(orjson.dumps(data)) > MAX_DATA_BYTES:
        raise InvalidPost(f"A post's data is at most {MAX_DATA_BYTES} bytes of JSON.")
    if not body.strip() and not data:
        raise InvalidPost("A post needs a body or data.")


async def create_post(
    session: AsyncSession,
    system: str,
    author_id: int,
    *,
    body: str,
    audience: str = "public",
    data: dict[str, Any] | None = None,
    page_id: int | None = None,
    group_id: int | None = None,
) -> FeedPost:
    """Write a post (not yet fanned out: `service.publish` does that after the commit).

    Raises `InvalidPost`/`InvalidAudience` (422), `EntityNotFound` (404), `Forbidden` (403:
    posting as a page one does not own, or into a group one is not a member of).
    """
    _check_content(body, data)
    await graph.ensure_profile(session, system, author_id)
    if page_id is not None and group_id is not None:
        raise InvalidPost("A post is on a page or in a group, not both.")
    source_id = author_id
    chosen = await parse_audience(session, system, author_id, audience)
    if page_id is not None:
        page = await graph.get_entity(session, system, page_id)
        if page.kind != "page":
            raise graph.EntityNotFound(f"No page {page_id}.")
        if page.owner_id != author_id:
            raise Forbidden("Only the page's owner posts as the page.")
        if chosen.kind not in ("public", "followers"):
            raise InvalidAudience("A page post is public or for the page's followers.")
        source_id = page_id
    if group_id is not None:
        group = await graph.get_entity(session, system, group_id)
        if group.kind != "group":
            raise graph.EntityNotFound(f"No group {group_id}.")
        if not await graph.is_member(session, system, author_id, group_id):
            raise graph.NotGroupMember("Join the group to post in it.")
        chosen = Audience("group")
        source_id = group_id
    post = FeedPost(
        system=system,
        author_id=author_id,
        source_id=source_id,
        body=body,
        data=data,
        page_id=page_id,
        group_id=group_id,
        audience=chosen.kind,
        list_id=chosen.list_id,
    )
    session.add(post)
    await session.flush()
    await notify_mentions(session, system, post)
    return post


MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{2,30})")
MAX_MENTIONS = 50


async def notify_mentions(session: AsyncSession, system: str, post: FeedPost) -> int:
    """Notify the users @mentioned in the post's body (at most `MAX_MENTIONS`); notifications
    skip those who may not see the post, the author, and blocked pairs. Returns how many were
    notified. One handle lookup plus one notification insert per mention."""
    handles = [match.lower() for match in MENTION.findall(post.body)][:MAX_MENTIONS]
    if not handles:
        return 0
    resolved = await user_ids_for_handles(session, system, handles)
    notified = 0
    for user_id in sorted(set(resolved.values())):
        if await notifications.notify(
            session, system, user_id, "mention", post.author_id, "post", post.id
        ):
            notified += 1
    return notified


async def readable_post(
    session: AsyncSession, system: str, viewer_id: int | None, post_id: int
) -> FeedPost:
    """The post if the viewer may see it; raises `PostNotFound` (404) otherwise."""
    post = await visible_post(session, system, viewer_id, post_id)
    if post is None:
        raise PostNotFound(f"No post {post_id}.")
    return post


async def _own_post(session: AsyncSession, system: str, user_id: int, post_id: int) -> FeedPost:
    """The post for an author-only change: 404 when the caller may not see it, 403 when they
    may see it but did not write it."""
    post = await readable_post(session, system, user_id, post_id)
    if post.author_id != user_id:
        raise NotAuthor("Only the author may change or delete this post.")
    return post


async def edit_post(
    session: AsyncSession,
    system: str,
    user_id: int,
    post_id: int,
    *,
    body: str | None = None,
    data: dict[str, Any] | None = None,
    audience: str | None = None,
) -> tuple[FeedPost, str]:
    """Change a post's body, data and/or audience (author only). Returns the post and its
    audience before the change (the caller re-fans out when it widened)."""
    post = await _own_post(session, system, user_id, post_id)
    before = audience_label(post)
    new_body = post.body if body is None else body
    new_data = post.data if data is None else data
    _check_content(new_body, new_data)
    if audience is not None:
        if post.group_id is not None:
            raise InvalidAudience("A group post is seen by the group's members.")
        chosen = await parse_audience(session, system, user_id, audience)
        if post.page_id is not None and chosen.kind not in ("public", "followers"):
            raise InvalidAudience("A page post is public or for the page's followers.")
        post.audience, post.list_id = chosen.kind, chosen.list_id
    post.body, post.data = new_body, new_data
    post.edited_at = utcnow()
    await session.flush()
    return post, before


async def delete_post(session: AsyncSession, system: str, user_id: int, post_id: int) -> FeedPost:
    """Soft-delete the author's post: gone from every read path at once. In the same
    transaction, a share post gives its share back (the original's count drops) and every
    notification about the post goes. 404/403 as `_own_post`. O(1) statements."""
    # shares imports this module (a share is a post), hence the import here.
    from casebook.engines.feed import shares

    post = await _own_post(session, system, user_id, post_id)
    post.deleted_at = utcnow()
    await session.flush()
    await shares.on_post_deleted(session, system, post_id)
    await notifications.forget_target(session, system, "post", post_id)
    return post


async def posts_by_ids(
    session: AsyncSession, system: str, post_ids: Sequence[int]
) -> list[FeedPost]:
    """The posts of `system` with these ids (deleted ones included), in the given order. One
    primary-key search per id; the system is checked on the rows (with `system = ?` in the
    query, SQLite without statistics walked every post of the system instead)."""
    if not post_ids:
        return []
    rows = await session.scalars(select(FeedPost).where(FeedPost.id.in_(post_ids)))
    found = {post.id: post for post in rows if post.system == system}
    return [found[i] for i in post_ids if i in found]


async def source_posts(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    source_id: int,
    *,
    before: int | None,
    limit: int,
    by_author: bool = True,
) -> tuple[list[FeedPost], int | None]:
    """A profile, page or group wall: posts of `source_id` (by author when `by_author`, else
    posted in that page/group) that the viewer may see, newest first, after cursor `before`.

    Returns the page and the next cursor (None at the end). Each round is one index range read
    (`ix_feed_posts_author`/`_source`) plus `visible_posts`; at most `MAX_SCAN_ROUNDS` rounds.
    """
    column = FeedPost.author_id if by_author else FeedPost.source_id
    items: list[FeedPost] = []
    cursor = before
    batch = max(limit * 2, 20)
    for _ in range(MAX_SCAN_ROUNDS):
        stmt = select(FeedPost).where(
            FeedPost.system == system, column == source_id, FeedPost.deleted_at.is_(None)
        )
        if cursor is not None:
            stmt = stmt.where(FeedPost.id < cursor)
        rows = list(await session.scalars(stmt.order_by(FeedPost.id.desc()).limit(batch)))
        for post in await listed_posts(session, system, viewer_id, rows):
            items.append(post)
            if len(items) == limit:
                return items, post.id
        if len(rows) < batch:
            return items, None
        cursor = rows[-1].id
    return items, cursor


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


_PROFILE, _COUNTER = "a", "c"


async def hydrate(
    session: AsyncSession, system: str, posts: Sequence[FeedPost]
) -> list[dict[str, Any]]:
    """The API view of `posts` (already checked visible), in order: the post with its author's
    handle and name and its engagement counts. One round trip whatever the count (authors'
    profiles and the posts' counters in one UNION ALL of two indexed `IN` probes); O(n)."""
    if not posts:
        return []
    authors = {p.author_id for p in posts}
    text = String(100)
    profile_rows = select(
        literal(_PROFILE, String(1)).label("tag"),
        FeedProfile.user_id.label("id"),
        FeedProfile.handle.label("a"),
        FeedProfile.display_name.label("b"),
        null().cast(BigInteger).label("n"),
    ).where(FeedProfile.system == system, FeedProfile.user_id.in_(authors))
    counter_rows = select(
        literal(_COUNTER, String(1)),
        FeedCounter.target_id,
        FeedCounter.name,
        null().cast(text),
        FeedCounter.value,
    ).where(
        FeedCounter.system == system,
        FeedCounter.target_kind == "post",
        FeedCounter.target_id.in_([p.id for p in posts]),
    )
    profiles: dict[int, tuple[str, str]] = {}
    counts: dict[int, dict[str, int]] = {}
    for tag, key, first, second, value in await session.execute(
        union_all(profile_rows, counter_rows)
    ):
        if tag == _PROFILE:
            profiles[key] = (first, second)
        else:
            counts.setdefault(key, {})[first] = value
    return [
        post_view(post, handle, name, counts.get(post.id, {}))
        for post in posts
        for handle, name in (profiles.get(post.author_id, (None, None)),)
    ]


def post_view(
    post: Any, handle: str | None, display_name: str | None, counts: dict[str, int]
) -> dict[str, Any]:
    """The API view of one post (a `FeedPost`, or a row with the same attributes). O(1)."""
    return {
        "id": str(post.id),
        "author": {"id": str(post.author_id), "handle": handle, "display_name": display_name},
        "body": post.body,
        "data": post.data,
        "page_id": str(post.page_id) if post.page_id is not None else None,
        "group_id": str(post.group_id) if post.group_id is not None else None,
        "audience": f"list:{post.list_id}" if post.audience == "list" else post.audience,
        "created_at": _iso(post.created_at),
        "edited_at": _iso(post.edited_at),
        "counts": counts,
    }


def shared_post_id(post: Any) -> int | None:
    """The original a share post re-posts (`data.shared_post_id`), or None for other posts."""
    shared = (post.data or {}).get("shared_post_id")
    if isinstance(shared, str) and shared.isdigit() and len(shared) <= 19:
        return int(shared)
    return None


async def hydrate_for(
    session: AsyncSession, system: str, viewer_id: int | None, posts: Sequence[FeedPost]
) -> list[dict[str, Any]]:
    """`hydrate`, and for each share post a `shared_post` key: the original's view when
    `viewer_id` may see it *now*, else None ("this content is not available") — an original
    whose audience narrowed, that was deleted or hidden since, never shows through a share.

    One round trip (`hydrate`), plus, when the page holds shares, three more for their
    originals (rows, audience check, hydration) whatever their number.
    """
    views = await hydrate(session, system, posts)
    await attach_shared(session, system, viewer_id, posts, views)
    return views


async def attach_shared(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    posts: Sequence[Any],
    views: list[dict[str, Any]],
) -> None:
    """Set `shared_post` on the views of share posts (see `hydrate_for`): nothing to do when
    the page holds no share, else three round trips whatever their number."""
    wanted = {p.id: original for p in posts if (original := shared_post_id(p)) is not None}
    if not wanted:
        return
    originals = await posts_by_ids(session, system, sorted(set(wanted.values())))
    seen = await visible_posts(session, system, viewer_id, originals)
    shown = {int(view["id"]): view for view in await hydrate(session, system, seen)}
    for view in views:
        original = wanted.get(int(view["id"]))
        if original is not None:
            view["shared_post"] = shown.get(original)
