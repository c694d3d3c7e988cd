"""Demo data for the embedded server: Ada's timeline with public, friends-only and private
posts, a photo, life events from 2012 to 2021 (one featured), and her friends' reactions and
comments; Ada's own likes and comments on Grace's post and her follow of Alan fill her
activity log.

Sign in at /login as `timeline-ada@example.com` (her timeline and activity log at
/facebook-timeline/), `timeline-grace@example.com` (a friend: sees the friends-only posts) or
`timeline-alan@example.com` (a follower, not a friend: does not), password `casebook-demo`.

Loading is idempotent: all of it is written in ONE transaction through the feed engine's
session-level functions, skipped when Ada already exists, so a crash leaves nothing half-made
and a restart adds nothing; the posts' fan-out jobs are queued after the commit.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from casebook.engines.feed import comments, fanout, graph, posts, reactions
from casebook.engines.feed.runtime import feed_runtime
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.facebook_timeline import photos
from casebook.systems.facebook_timeline.life_events import LABELS
from casebook.systems.facebook_timeline.models import SYSTEM, TimelineLifeEvent, TimelinePin

PASSWORD = "casebook-demo"
OWNER_EMAIL = "timeline-ada@example.com"
FRIEND_EMAIL = "timeline-grace@example.com"
FOLLOWER_EMAIL = "timeline-alan@example.com"


@dataclass(frozen=True)
class DemoPost:
    body: str
    audience: str = "public"


@dataclass(frozen=True)
class DemoLifeEvent:
    event_type: str
    event_date: date
    title: str
    audience: str = "public"
    featured: bool = False


DEMO_POSTS = (
    DemoPost("Notes on the Analytical Engine are finally typeset."),
    DemoPost("Dinner with the Babbages on Sunday — friends, you are invited.", "friends"),
    DemoPost("Reminder to self: check the Bernoulli table, row 8.", "only_me"),
)
DEMO_LIFE_EVENTS = (
    DemoLifeEvent("graduation", date(2012, 6, 15), "Graduated in mathematics", featured=True),
    DemoLifeEvent("new_job", date(2016, 9, 1), "Started at the Difference Works"),
    DemoLifeEvent("moved", date(2019, 3, 20), "Moved to London", "friends"),
    DemoLifeEvent("milestone", date(2021, 11, 30), "Published the notes"),
)
PHOTO_CAPTION = "The engine's mill, sketched."


def demo_png(width: int = 48, height: int = 32) -> bytes:
    """A small valid PNG (an RGB gradient), made here so the demo needs no image file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 5, y * 7, 160)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def load_demo(platform: Platform) -> None:
    """`System.demo`: Ada, Grace and Alan with the timeline described above."""
    async with platform.db.session() as session:
        if await session.scalar(select(User.id).where(User.email == OWNER_EMAIL)) is not None:
            return
    runtime = feed_runtime(platform, SYSTEM)
    created: list[int] = []
    async with platform.db.session() as session:
        ada = (await register_user(session, OWNER_EMAIL, PASSWORD, "Ada Lovelace")).id
        grace = (await register_user(session, FRIEND_EMAIL, PASSWORD, "Grace Hopper")).id
        alan = (await register_user(session, FOLLOWER_EMAIL, PASSWORD, "Alan Turing")).id
        await graph.request_friendship(session, SYSTEM, grace, ada)
        await graph.answer_friend_request(session, SYSTEM, ada, grace, accept=True)
        await graph.follow(session, SYSTEM, alan, ada)
        await graph.follow(session, SYSTEM, ada, alan)
        for event in DEMO_LIFE_EVENTS:
            post = await posts.create_post(
                session,
                SYSTEM,
                ada,
                body=event.title,
                audience=event.audience,
                data={
                    "life_event": {
                        "type": event.event_type,
                        "date": event.event_date.isoformat(),
                        "title": event.title or LABELS[event.event_type],
                    }
                },
            )
            session.add(
                TimelineLifeEvent(
                    post_id=post.id,
                    user_id=ada,
                    event_type=event.event_type,
                    event_date=event.event_date,
                    title=event.title,
                )
            )
            if event.featured:
                session.add(TimelinePin(user_id=ada, slot=0, post_id=post.id))
            created.append(post.id)
        image = demo_png()
        photo = await posts.create_post(
            session,
            SYSTEM,
            ada,
            body=PHOTO_CAPTION,
            data={"media": {"type": "photo", "content_type": "image/png", "size": len(image)}},
        )
        await platform.blobs.put(photos.photo_key(photo.id), image)
        created.append(photo.id)
        for demo_post in DEMO_POSTS:
            post = await posts.create_post(
                session, SYSTEM, ada, body=demo_post.body, audience=demo_post.audience
            )
            created.append(post.id)
        first = created[-len(DEMO_POSTS)]
        await reactions.react(session, SYSTEM, grace, "post", first, "love")
        await reactions.react(session, SYSTEM, alan, "post", first, "like")
        await comments.add_comment(session, SYSTEM, grace, "post", first, "Beautifully done.")
        graces = await posts.create_post(
            session, SYSTEM, grace, body="Found a moth in the relay today."
        )
        created.append(graces.id)
        await reactions.react(session, SYSTEM, ada, "post", graces.id, "haha")
        await comments.add_comment(session, SYSTEM, ada, "post", graces.id, "Log it!")
    for post_id in created:
        await fanout.enqueue(runtime, post_id, "published")
