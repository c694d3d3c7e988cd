"""Demo data: four people with profiles, photos drawn by Pillow (a carousel, single photos,
a profile picture), a private account the demo user was approved to follow, likes, a comment
thread, a user tag, a location and a live story.

Sign in at /login as `demo@example.com` with password `casebook-demo` and open /instagram/.
The demo user follows Lena (public: a three-photo carousel tagged at Marseille's Vieux-Port, a
coffee photo and a story) and Sam, and was approved by Marco, whose account is private — his
grid shows to the demo user and to nobody who does not follow him.

The pictures are real images (gradients, a sun and a horizon drawn with `PIL.ImageDraw`)
uploaded through `media.upload` and processed by `media.process_media`, the job's own function,
run here in line so the demo is complete when it returns (the queued job then finds the item
processed and does nothing). Idempotent: nothing happens once Lena has a post. An account
with a demo e-mail that exists already (another system's demo made `demo@example.com`) is
reused.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

from PIL import Image, ImageDraw
from sqlalchemy import select

from casebook.engines.feed import comments, reactions, service
from casebook.engines.feed.runtime import feed_runtime
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.instagram import media, posts, profiles, stories
from casebook.systems.instagram.media import SLUG
from casebook.systems.instagram.models import InstagramPost

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "casebook-demo"
PEOPLE = (
    ("demo", DEMO_EMAIL, "Demo User", False),
    ("lena", "lena@instagram.example.com", "Lena", False),
    ("marco", "marco@instagram.example.com", "Marco", True),
    ("sam", "sam@instagram.example.com", "Sam", False),
)
PALETTES = {
    "dawn": ((255, 183, 94), (237, 100, 166), (255, 240, 180)),
    "noon": ((120, 190, 250), (30, 110, 200), (255, 250, 220)),
    "dusk": ((60, 40, 110), (240, 120, 60), (255, 210, 120)),
    "sea": ((90, 200, 210), (10, 70, 120), (250, 250, 250)),
    "forest": ((170, 220, 150), (30, 90, 50), (255, 230, 150)),
    "coffee": ((230, 210, 190), (110, 70, 40), (250, 245, 235)),
}


def demo_picture(palette: str, width: int = 1200, height: int = 1200) -> bytes:
    """A JPEG of a sky gradient from the palette's first colour to its second, a sun in the
    third and a darker horizon: a real picture, distinct per palette. O(width·height)."""
    top, bottom, sun = PALETTES[palette]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    radius = width // 8
    cx, cy = width * 2 // 3, height // 2
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=sun)
    draw.rectangle([0, height * 3 // 4, width, height], fill=tuple(c // 2 for c in bottom))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88)
    return out.getvalue()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _photo(platform: Platform, owner: int, palette: str) -> int:
    """Upload and process one demo picture; its media id."""
    item = await media.upload(platform, owner, _once(demo_picture(palette)), "image/jpeg")
    await media.process_media(platform, {"media_id": str(item.id)})
    return item.id


async def _person(platform: Platform, email: str, name: str) -> int:
    async with platform.db.session() as session:
        existing = await session.scalar(select(User.id).where(User.email == email))
        if existing is not None:
            return int(existing)
        user = await register_user(session, email, DEMO_PASSWORD, name)
        return user.id


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the people, photos, graph, engagement and story above."""
    ids = {key: await _person(platform, email, name) for key, email, name, _ in PEOPLE}
    async with platform.db.session() as session:
        done = await session.scalar(
            select(InstagramPost.post_id).where(InstagramPost.author_id == ids["lena"]).limit(1)
        )
    if done is not None:
        return
    runtime = feed_runtime(platform, SLUG)
    for key, _email, _name, private in PEOPLE:
        await service.update_profile(runtime, ids[key], handle=key, private=private)
    async with platform.db.session() as session:
        await profiles.update_profile(
            session,
            ids["lena"],
            bio="Harbours, light and coffee. Marseille.",
            website="https://lena.example.com",
        )
        await profiles.update_profile(session, ids["demo"], bio="Trying out Casebook's Instagram.")
    avatar = await _photo(platform, ids["lena"], "dawn")
    async with platform.db.session() as session:
        await profiles.update_profile(session, ids["lena"], avatar_media_id=avatar)

    await service.follow(runtime, ids["demo"], ids["lena"])
    await service.follow(runtime, ids["demo"], ids["sam"])
    await service.follow(runtime, ids["sam"], ids["lena"])
    await service.follow(runtime, ids["demo"], ids["marco"])  # a request: Marco is private
    await service.answer_follow_request(runtime, ids["marco"], ids["demo"], approve=True)

    carousel = [await _photo(platform, ids["lena"], p) for p in ("dusk", "sea", "noon")]
    harbour = await posts.create_post(
        runtime,
        ids["lena"],
        caption="Golden hour over the harbour #sunset #travel with @demo",
        media_ids=carousel,
        location={"name": "Marseille, Vieux-Port", "latitude": 43.2951, "longitude": 5.3740},
        user_tags=[{"handle": "demo", "media_index": 0, "x": 0.4, "y": 0.6}],
    )
    await posts.create_post(
        runtime,
        ids["lena"],
        caption="Morning ritual #coffee",
        media_ids=[await _photo(platform, ids["lena"], "coffee")],
    )
    beach = await posts.create_post(
        runtime,
        ids["sam"],
        caption="Last light on the beach #sunset",
        media_ids=[await _photo(platform, ids["sam"], "dawn")],
        location={"name": "Plage des Catalans"},
    )
    await posts.create_post(
        runtime,
        ids["marco"],
        caption="Sunday walk, family only #forest",
        media_ids=[await _photo(platform, ids["marco"], "forest")],
        audience="followers",
    )
    await posts.create_post(
        runtime,
        ids["demo"],
        caption="Hello from the demo account! #hello",
        media_ids=[await _photo(platform, ids["demo"], "noon")],
    )
    story_media = await _photo(platform, ids["lena"], "sea")
    async with platform.db.session() as session:
        await stories.create_story(session, ids["lena"], story_media, "Swim before work")
        for fan in ("demo", "sam"):
            await reactions.react(session, SLUG, ids[fan], "post", int(harbour["id"]), "like")
        await reactions.react(session, SLUG, ids["lena"], "post", int(beach["id"]), "like")
        question = await comments.add_comment(
            session, SLUG, ids["demo"], "post", int(harbour["id"]), "Which day was this?"
        )
        await comments.add_comment(
            session,
            SLUG,
            ids["lena"],
            "post",
            int(harbour["id"]),
            "Tuesday, just before the storm.",
            parent_id=question.id,
        )
