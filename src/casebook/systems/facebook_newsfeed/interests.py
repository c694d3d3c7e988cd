"""People's interests, which target ads: declared ones (a person states them) and learned ones —
the hashtags of the posts they reacted to or commented on lately, and the interests of the ads
they clicked.

An interest is a lower-case word of `[a-z0-9_]` (1 to 40 characters). `interest_weights` is what
ad targeting reads: declared interests weigh `declared_interest_weight`, each learned signal 1.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.engagement_models import FeedComment, FeedReaction
from casebook.engines.feed.models import FeedPost
from casebook.platform.errors import InvalidInput
from casebook.systems.facebook_newsfeed.config import NewsfeedSettings
from casebook.systems.facebook_newsfeed.models import Interest

SYSTEM = "facebook-newsfeed"
MAX_DECLARED = 30
_INTEREST = re.compile(r"^[a-z0-9_]{1,40}$")
_HASHTAG = re.compile(r"#([A-Za-z0-9_]{1,40})")


def normalise(values: Iterable[str]) -> list[str]:
    """Interests lower-cased, deduplicated, in first-seen order; `InvalidInput` (422) for a value
    that is not 1 to 40 characters of letters, digits and underscores."""
    seen: dict[str, None] = {}
    for value in values:
        interest = value.strip().lstrip("#").lower()
        if not _INTEREST.match(interest):
            raise InvalidInput(f"{value!r} is not an interest (1 to 40 of a-z, 0-9, _).")
        seen[interest] = None
    return list(seen)


def hashtags(text: str) -> list[str]:
    """The hashtags of a post's body, as interests."""
    return [tag.lower() for tag in _HASHTAG.findall(text)]


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def set_declared(session: AsyncSession, user_id: int, values: Iterable[str]) -> list[str]:
    """Replace the user's declared interests (at most `MAX_DECLARED`); learned ones stay.
    Three statements: clear the flag, upsert the new set, drop rows left with no signal."""
    declared = normalise(values)
    if len(declared) > MAX_DECLARED:
        raise InvalidInput(f"At most {MAX_DECLARED} declared interests.")
    await session.execute(
        update(Interest).where(Interest.user_id == user_id).values(declared=False)
    )
    if declared:
        stmt = _insert(session)(Interest).values(
            [{"user_id": user_id, "interest": i, "declared": True, "clicks": 0.0} for i in declared]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "interest"], set_={"declared": True}
            )
        )
    await session.execute(
        delete(Interest).where(
            Interest.user_id == user_id, Interest.declared.is_(False), Interest.clicks <= 0
        )
    )
    return declared


async def learn_from_click(session: AsyncSession, user_id: int, ad_interests: list[str]) -> None:
    """An ad click teaches its interests: one atomic upsert `clicks = clicks + 1` per interest."""
    if not ad_interests:
        return
    stmt = _insert(session)(Interest).values(
        [
            {"user_id": user_id, "interest": i, "declared": False, "clicks": 1.0}
            for i in ad_interests
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "interest"],
            set_={"clicks": Interest.clicks + stmt.excluded.clicks},
        )
    )


async def learned_from_engagement(session: AsyncSession, user_id: int, window: int) -> Counter[str]:
    """Hashtags of the posts behind the user's latest `window` reactions and `window` comments
    (deleted posts included: the interest was real). Two indexed reads, O(window)."""
    counts: Counter[str] = Counter()
    if window <= 0:
        return counts
    reacted = (
        select(FeedReaction.target_id)
        .where(
            FeedReaction.system == SYSTEM,
            FeedReaction.user_id == user_id,
            FeedReaction.target_kind == "post",
        )
        .order_by(FeedReaction.id.desc())
        .limit(window)
    )
    commented = (
        select(FeedComment.target_id)
        .where(
            FeedComment.system == SYSTEM,
            FeedComment.author_id == user_id,
            FeedComment.target_kind == "post",
        )
        .order_by(FeedComment.id.desc())
        .limit(window)
    )
    for source in (reacted, commented):
        ids = list(await session.scalars(source))
        if not ids:
            continue
        bodies = await session.scalars(
            select(FeedPost.body).where(FeedPost.system == SYSTEM, FeedPost.id.in_(ids))
        )
        for body in bodies:
            counts.update(set(hashtags(body or "")))
    return counts


async def interest_weights(
    session: AsyncSession, settings: NewsfeedSettings, user_id: int
) -> dict[str, float]:
    """Every interest of the user with its weight (declared + clicks + engagement), highest
    first. Three indexed reads."""
    weights: dict[str, float] = {}
    for row in await session.scalars(select(Interest).where(Interest.user_id == user_id)):
        declared_weight = settings.declared_interest_weight if row.declared else 0.0
        weights[row.interest] = declared_weight + row.clicks
    learned = await learned_from_engagement(session, user_id, settings.learned_interest_window)
    for interest, n in learned.items():
        weights[interest] = weights.get(interest, 0.0) + n
    return dict(sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])))


async def declared(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.scalars(
        select(Interest.interest)
        .where(Interest.user_id == user_id, Interest.declared.is_(True))
        .order_by(Interest.interest)
    )
    return list(rows)
