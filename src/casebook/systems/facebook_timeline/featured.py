"""Featured (pinned) posts: up to `MAX_PINS` of a user's own posts or life events, shown above
the chronological timeline, most recently pinned first.

A pin takes the lowest free slot with one `INSERT … ON CONFLICT DO NOTHING` per slot tried; the
slot is in the primary key and (user, post) is unique, so concurrent pins never exceed the
slots and never pin one post twice, on either backend, without a read-modify-write.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import posts
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, Forbidden
from casebook.systems.facebook_timeline.models import MAX_PINS, SYSTEM, TimelinePin


class NotAuthorized(Forbidden):
    """The seed's "You are not authorized to … this post." answers."""

    type_ = "facebook-timeline/not-authorized"
    title = "Not authorized"


class TooManyPins(Conflict):
    type_ = "facebook-timeline/too-many-pins"
    title = "Too many featured posts"


async def pinned_ids(session: AsyncSession, user_id: int) -> list[int]:
    """The user's pinned post ids, most recently pinned first. One primary-key range read."""
    rows = await session.execute(
        select(TimelinePin.post_id)
        .where(TimelinePin.user_id == user_id)
        .order_by(TimelinePin.pinned_at.desc(), TimelinePin.slot.desc())
    )
    return [post_id for (post_id,) in rows]


async def pin(session: AsyncSession, user_id: int, post_id: int) -> bool:
    """Feature one's own post on one's timeline. Returns False when it was already pinned.

    404 when the caller may not see the post, 403 (`not-authorized`) when it is someone else's,
    409 (`too-many-pins`) when all `MAX_PINS` slots are taken. At most MAX_PINS inserts.
    """
    post = await posts.readable_post(session, SYSTEM, user_id, post_id)
    if post.author_id != user_id:
        raise NotAuthorized("You are not authorized to pin this post.")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for slot in range(MAX_PINS):
        result = await session.execute(
            insert(TimelinePin)
            .values(user_id=user_id, slot=slot, post_id=post_id, pinned_at=utcnow())
            .on_conflict_do_nothing()
        )
        if getattr(result, "rowcount", 0):
            return True
        taken_by = await session.scalar(
            select(TimelinePin.post_id).where(
                TimelinePin.user_id == user_id, TimelinePin.post_id == post_id
            )
        )
        if taken_by is not None:
            return False
    raise TooManyPins(f"At most {MAX_PINS} posts are featured; unpin one first.")


async def unpin(session: AsyncSession, user_id: int, post_id: int) -> bool:
    """Remove one of the caller's pins (only their own pins exist to them). One DELETE."""
    result = await session.execute(
        delete(TimelinePin).where(TimelinePin.user_id == user_id, TimelinePin.post_id == post_id)
    )
    return bool(getattr(result, "rowcount", 0))
