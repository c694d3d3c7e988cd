"""Stories: a processed media item shown for `STORY_TTL` (24 h) to the author's audience, then
gone from every read path but the author's archive, with a list of viewers only the author sees.

Who may see a live story is who may see the author's public posts — the feed engine's audience
rule (`audience.relations_for` on a probe post): anyone, unless the account is private (then its
friends and approved followers), never across a block. Expiry is a comparison with `expires_at`
on every read, so a story is gone the instant it expires, whatever a clean-up job has done.

Views: the first view of a story by a viewer inserts one row (primary key story+viewer) and, only
when that insert added a row, bumps `view_count` in one atomic UPDATE: concurrent views count
each viewer exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.audience import relations_for
from casebook.engines.feed.models import FeedFollow, FeedPost, FeedProfile
from casebook.platform.db import utcnow
from casebook.platform.errors import Forbidden, NotFound
from casebook.systems.instagram.media import (
    SLUG,
    MediaUnusable,
    check_usable,
    media_view,
    own_media,
)
from casebook.systems.instagram.models import InstagramMedia, InstagramStory, InstagramStoryView

STORY_TTL = timedelta(hours=24)
MAX_CAPTION = 200
TRAY_AUTHORS = 100


class StoryNotFound(NotFound):
    type_ = "instagram/story-not-found"
    title = "No such story"


def _probe(author_id: int) -> FeedPost:
    """A transient public post of `author_id`: asking the engine whether a viewer may see it is
    asking whether the viewer may see the author's stories."""
    return FeedPost(system=SLUG, author_id=author_id, source_id=author_id, audience="public")


async def visible_authors(
    session: AsyncSession, viewer_id: int | None, author_ids: Sequence[int]
) -> set[int]:
    """The authors among `author_ids` whose stories the viewer may see. At most six queries."""
    probes = [_probe(a) for a in set(author_ids)]
    relations = await relations_for(session, SLUG, viewer_id, probes)
    return {p.author_id for p in probes if relations.may_see(p)}


async def may_view(
    session: AsyncSession, viewer_id: int | None, story: InstagramStory, now: datetime
) -> bool:
    """Whether the viewer may see `story` now (its author always may, expired or not)."""
    if viewer_id is not None and viewer_id == story.author_id:
        return True
    if story.expires_at <= now:
        return False
    return story.author_id in await visible_authors(session, viewer_id, [story.author_id])


def story_view(story: InstagramStory, *, for_author: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(story.id),
        "author_id": str(story.author_id),
        "caption": story.caption,
        "media": story.media,
        "created_at": story.created_at.isoformat(),
        "expires_at": story.expires_at.isoformat(),
    }
    if for_author:
        view["view_count"] = story.view_count
    return view


async def create_story(
    session: AsyncSession, author_id: int, media_id: int, caption: str
) -> InstagramStory:
    """Make a story of the author's processed media item. Raises 404/409 as `posts.create_post`
    does for media, 422 for a long caption."""
    from casebook.systems.instagram.posts import InvalidInstagramPost

    if len(caption) > MAX_CAPTION:
        raise InvalidInstagramPost(f"A story caption is at most {MAX_CAPTION} characters.")
    media = await own_media(session, author_id, media_id)
    check_usable(media)
    now = utcnow()
    story = InstagramStory(
        author_id=author_id,
        media_id=media_id,
        caption=caption,
        created_at=now,
        expires_at=now + STORY_TTL,
        media=media_view(media),
    )
    session.add(story)
    await session.flush()
    claimed = await session.execute(
        update(InstagramMedia)
        .where(
            InstagramMedia.id == media_id,
            InstagramMedia.post_id.is_(None),
            InstagramMedia.story_id.is_(None),
            InstagramMedia.status == "ready",
        )
        .values(story_id=story.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise MediaUnusable(f"Media {media_id} was just used elsewhere.")
    return story


async def view_story(session: AsyncSession, viewer_id: int | None, story_id: int) -> InstagramStory:
    """Read a story and record the view (a signed-in viewer other than the author, once).
    Raises `StoryNotFound` (404) when it is missing, expired or not for this viewer."""
    now = utcnow()
    story = await session.get(InstagramStory, story_id)
    if story is None or not await may_view(session, viewer_id, story, now):
        raise StoryNotFound(f"No story {story_id}.")
    if viewer_id is not None and viewer_id != story.author_id:
        values = {"story_id": story_id, "viewer_id": viewer_id, "viewed_at": now}
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        added = await session.execute(
            insert(InstagramStoryView).values(**values).on_conflict_do_nothing()
        )
        if added.rowcount == 1:  # type: ignore[attr-defined]
            await session.execute(
                update(InstagramStory)
                .where(InstagramStory.id == story_id)
                .values(view_count=InstagramStory.view_count + 1)
            )
            await session.refresh(story)
    return story


async def viewers(
    session: AsyncSession, user_id: int, story_id: int, limit: int
) -> list[dict[str, Any]]:
    """Who saw the story, newest first — for its author only: 404 for whoever may not see the
    story, 403 for a viewer who may. One join."""
    story = await session.get(InstagramStory, story_id)
    if story is None or not await may_view(session, user_id, story, utcnow()):
        raise StoryNotFound(f"No story {story_id}.")
    if story.author_id != user_id:
        raise Forbidden("Only the story's author sees who viewed it.")
    rows = await session.execute(
        select(InstagramStoryView.viewer_id, InstagramStoryView.viewed_at, FeedProfile.handle)
        .join(
            FeedProfile,
            (FeedProfile.system == SLUG) & (FeedProfile.user_id == InstagramStoryView.viewer_id),
            isouter=True,
        )
        .where(InstagramStoryView.story_id == story_id)
        .order_by(InstagramStoryView.viewed_at.desc())
        .limit(limit)
    )
    return [
        {"user_id": str(uid), "handle": handle, "viewed_at": at.isoformat()}
        for uid, at, handle in rows
    ]


async def archive(
    session: AsyncSession, author_id: int, before: int | None, limit: int
) -> list[InstagramStory]:
    """The author's own stories, live and expired, newest first, by id cursor."""
    stmt = select(InstagramStory).where(InstagramStory.author_id == author_id)
    if before is not None:
        stmt = stmt.where(InstagramStory.id < before)
    return list(await session.scalars(stmt.order_by(InstagramStory.id.desc()).limit(limit)))


async def tray(session: AsyncSession, viewer_id: int) -> list[dict[str, Any]]:
    """The story tray: live stories of the viewer and of the accounts they follow (approved),
    grouped by author (newest author first), each author's stories oldest first, with whether
    the viewer has seen each. Stories of authors the viewer may no longer see are left out.
    Four queries plus `visible_authors`."""
    now = utcnow()
    followees = select(FeedFollow.followee_id).where(
        FeedFollow.system == SLUG,
        FeedFollow.follower_id == viewer_id,
        FeedFollow.status == "active",
    )
    rows = list(
        await session.scalars(
            select(InstagramStory)
            .where(
                InstagramStory.expires_at > now,
                (InstagramStory.author_id == viewer_id) | InstagramStory.author_id.in_(followees),
            )
            .order_by(InstagramStory.id)
        )
    )
    allowed = await visible_authors(session, viewer_id, [s.author_id for s in rows])
    allowed.add(viewer_id)
    rows = [s for s in rows if s.author_id in allowed]
    seen = set(
        await session.scalars(
            select(InstagramStoryView.story_id).where(
                InstagramStoryView.viewer_id == viewer_id,
                InstagramStoryView.story_id.in_([s.id for s in rows]),
            )
        )
    )
    groups: dict[int, list[dict[str, Any]]] = {}
    for story in rows:
        view = story_view(story, for_author=story.author_id == viewer_id)
        view["seen"] = story.id in seen
        groups.setdefault(story.author_id, []).append(view)
    ordered = sorted(groups.items(), key=lambda kv: int(kv[1][-1]["id"]), reverse=True)
    ordered = ordered[:TRAY_AUTHORS]
    handles = dict(
        (
            await session.execute(
                select(FeedProfile.user_id, FeedProfile.handle).where(
                    FeedProfile.system == SLUG,
                    FeedProfile.user_id.in_([author for author, _ in ordered]),
                )
            )
        ).all()
    )
    return [
        {"author_id": str(author), "handle": handles.get(author), "stories": items}
        for author, items in ordered
    ]
