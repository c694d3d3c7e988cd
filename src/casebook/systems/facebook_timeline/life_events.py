"""Life events: typed, dated feed posts (birthday, graduation, new job, relationship…).

A life event is one feed-engine post (so it has an audience, reactions, comments and shares like
any post) plus a `TimelineLifeEvent` row giving its type, title and its own date, which decides
where the timeline places it. Both are written in one transaction; fan-out follows the commit.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import fanout, posts, service
from casebook.engines.feed.models import FeedPost
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.errors import InvalidInput
from casebook.systems.facebook_timeline.models import SYSTEM, TimelineLifeEvent

EARLIEST_EVENT = date(1900, 1, 1)

LABELS = {
    "birthday": "Born",
    "graduation": "Graduated",
    "new_job": "Started a new job",
    "relationship": "In a relationship",
    "moved": "Moved",
    "new_home": "Moved into a new home",
    "travel": "Travelled",
    "milestone": "Milestone",
}


class InvalidLifeEvent(InvalidInput):
    type_ = "facebook-timeline/invalid-life-event"
    title = "Invalid life event"


def check_event_date(event_date: date, today: date) -> None:
    """Life events happened (or happen today): none before 1900, none in the future."""
    if event_date < EARLIEST_EVENT:
        raise InvalidLifeEvent("A life event's date is on or after 1900-01-01.")
    if event_date > today:
        raise InvalidLifeEvent("A life event's date cannot be in the future.")


async def create_life_event(
    runtime: FeedRuntime,
    user_id: int,
    *,
    event_type: str,
    event_date: date,
    title: str,
    description: str,
    audience: str,
    today: date,
) -> int:
    """Record a life event on `user_id`'s timeline; returns its post id.

    Raises `InvalidLifeEvent` (422) for a date outside 1900..today, the engine's audience
    errors (422/404) and its screening (429 past the posting rate, 409/422 for duplicate or
    spammy text — the user's own title and description are screened, like a post's body). One
    post insert and one row insert in one transaction, then the fan-out.
    """
    check_event_date(event_date, today)
    label = title.strip() or LABELS[event_type]
    body = label if not description.strip() else f"{label}\n\n{description.strip()}"
    data: dict[str, Any] = {
        "life_event": {"type": event_type, "date": event_date.isoformat(), "title": label}
    }
    async with runtime.platform.db.session() as session:
        written = f"{title.strip()}\n\n{description.strip()}".strip()
        await service.screen_post(session, runtime, user_id, written)
        post = await posts.create_post(
            session, SYSTEM, user_id, body=body, audience=audience, data=data
        )
        session.add(
            TimelineLifeEvent(
                post_id=post.id,
                user_id=user_id,
                event_type=event_type,
                event_date=event_date,
                title=label,
            )
        )
        post_id = post.id
    await fanout.enqueue(runtime, post_id, "published")
    return post_id


async def life_events_of(
    session: AsyncSession, post_ids: list[int]
) -> dict[int, TimelineLifeEvent]:
    """The life-event rows of those posts that are life events. One primary-key range read."""
    if not post_ids:
        return {}
    rows = await session.scalars(
        select(TimelineLifeEvent).where(TimelineLifeEvent.post_id.in_(post_ids))
    )
    return {row.post_id: row for row in rows}


async def change_life_event(
    session: AsyncSession,
    user_id: int,
    post_id: int,
    *,
    event_type: str | None,
    event_date: date | None,
    title: str | None,
    today: date,
) -> FeedPost:
    """Change a life event's type, date or title; author only, through the engine's edit (404
    for a post the caller may not see, 403 for someone else's). Raises `InvalidLifeEvent` when
    the post is not a life event or the date is out of range. Returns the edited post."""
    row = await session.get(TimelineLifeEvent, post_id)
    if row is None:
        await posts.readable_post(session, SYSTEM, user_id, post_id)
        raise InvalidLifeEvent(f"Post {post_id} is not a life event.")
    current = await posts.readable_post(session, SYSTEM, user_id, post_id)
    if current.author_id != user_id:
        raise posts.NotAuthor("Only the author may change this life event.")
    if event_date is not None:
        check_event_date(event_date, today)
        row.event_date = event_date
    if event_type is not None:
        row.event_type = event_type
    if title is not None:
        row.title = title.strip() or LABELS[row.event_type]
    data = dict(current.data or {})
    data["life_event"] = {
        "type": row.event_type,
        "date": row.event_date.isoformat(),
        "title": row.title,
    }
    post, _ = await posts.edit_post(session, SYSTEM, user_id, post_id, data=data)
    return post
