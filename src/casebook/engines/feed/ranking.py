"""Feed ranking: pluggable scorers over candidate posts, and author affinity learned from
interactions.

- `chronological`: newest first (the score is the post's id, a Snowflake).
- `engagement`: `(1 + Σ wᵢ·countᵢ) · (1 + w_affinity·affinity) · 0.5^(age / half_life)` where
  the counts are the post's exact engagement counters (reactions, comments, shares; area B keeps
  them in `feed_counters`) and affinity is how much the viewer interacted with the author.
  Everything is configurable through `RankingWeights`.

Affinity grows when the viewer reacts to or comments on an author's posts: the engagement code
calls `record_interaction`, one atomic upsert `score = score + weight` (concurrent interactions
never lose an increment).

Costs: scoring n candidates is two indexed reads (counters, affinities; each O(n)) plus O(n log n)
to sort.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import counters
from casebook.engines.feed.engagement_models import FeedCounter
from casebook.engines.feed.models import FeedAffinity, FeedPost
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput

MAX_INTERACTION_WEIGHT = 100.0


@dataclass(frozen=True)
class RankingWeights:
    """The knobs of the engagement scorer."""

    reactions: float = 1.0
    comments: float = 2.0
    shares: float = 3.0
    affinity: float = 1.0
    half_life_hours: float = 12.0
    """Age at which a post's score halves."""

    def __post_init__(self) -> None:
        if self.half_life_hours <= 0:
            raise ValueError("half_life_hours must be positive")
        for name in ("reactions", "comments", "shares", "affinity"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} weight must not be negative")


@dataclass(frozen=True)
class Candidate:
    """What a scorer knows about one post for one viewer."""

    post_id: int
    author_id: int
    created_at: datetime
    reactions: int = 0
    comments: int = 0
    shares: int = 0
    affinity: float = 0.0


class Scorer(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, candidate: Candidate, now: datetime) -> float: ...


@dataclass(frozen=True)
class Chronological:
    name: str = "chronological"

    def score(self, candidate: Candidate, now: datetime) -> float:
        return float(candidate.post_id)


@dataclass(frozen=True)
class EngagementWeighted:
    weights: RankingWeights = RankingWeights()
    name: str = "engagement"

    def score(self, candidate: Candidate, now: datetime) -> float:
        """O(1). Ages below zero (clock skew) count as zero."""
        w = self.weights
        engagement = (
            1.0
            + w.reactions * candidate.reactions
            + w.comments * candidate.comments
            + w.shares * candidate.shares
        )
        affinity = 1.0 + w.affinity * math.log1p(max(candidate.affinity, 0.0))
        age_hours = max((now - candidate.created_at).total_seconds(), 0.0) / 3600.0
        decay = 0.5 ** (age_hours / w.half_life_hours)
        return float(engagement * affinity * decay)


def scorer_named(name: str, weights: RankingWeights) -> Scorer:
    """The scorer for `?rank=`; raises `InvalidInput` (422) for an unknown name."""
    if name == "chronological":
        return Chronological()
    if name == "engagement":
        return EngagementWeighted(weights)
    raise InvalidInput("rank is chronological or engagement.")


async def candidates_for(
    session: AsyncSession, system: str, viewer_id: int, posts: Sequence[FeedPost]
) -> list[Candidate]:
    """Candidates of `posts` with their engagement counters and the viewer's affinities."""
    if not posts:
        return []
    ids = [p.id for p in posts]
    counts: dict[int, dict[str, int]] = {}
    rows = await session.execute(
        select(FeedCounter.target_id, FeedCounter.name, FeedCounter.value).where(
            FeedCounter.system == system,
            FeedCounter.target_kind == "post",
            FeedCounter.target_id.in_(ids),
            FeedCounter.name.in_((counters.REACTIONS, counters.COMMENTS, counters.SHARES)),
        )
    )
    for target_id, name, value in rows:
        counts.setdefault(target_id, {})[name] = value
    authors = {p.author_id for p in posts}
    affinities = dict(
        (
            await session.execute(
                select(FeedAffinity.author_id, FeedAffinity.score).where(
                    FeedAffinity.system == system,
                    FeedAffinity.viewer_id == viewer_id,
                    FeedAffinity.author_id.in_(authors),
                )
            )
        ).all()
    )
    return [
        Candidate(
            post_id=p.id,
            author_id=p.author_id,
            created_at=p.created_at,
            reactions=counts.get(p.id, {}).get(counters.REACTIONS, 0),
            comments=counts.get(p.id, {}).get(counters.COMMENTS, 0),
            shares=counts.get(p.id, {}).get(counters.SHARES, 0),
            affinity=float(affinities.get(p.author_id, 0.0)),
        )
        for p in posts
    ]


def rank(candidates: Sequence[Candidate], scorer: Scorer, now: datetime) -> list[int]:
    """Post ids best first; ties broken by newer id, so the order is total. O(n log n)."""
    scored = sorted(candidates, key=lambda c: (scorer.score(c, now), c.post_id), reverse=True)
    return [c.post_id for c in scored]


async def record_interaction(
    session: AsyncSession, system: str, viewer_id: int, author_id: int, weight: float
) -> None:
    """Grow `viewer_id`'s affinity for `author_id` by `weight` (a reaction 1, a comment 2, …).

    One atomic upsert (`score = score + weight`); interactions with oneself are ignored.
    Raises `InvalidInput` for a weight outside (0, MAX_INTERACTION_WEIGHT].
    """
    if not 0 < weight <= MAX_INTERACTION_WEIGHT:
        raise InvalidInput(
            f"An interaction weighs more than 0 and at most {MAX_INTERACTION_WEIGHT}."
        )
    if viewer_id == author_id:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(FeedAffinity).values(
        system=system, viewer_id=viewer_id, author_id=author_id, score=weight, updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["system", "viewer_id", "author_id"],
        set_={
            "score": FeedAffinity.score + stmt.excluded.score,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


async def affinity(session: AsyncSession, system: str, viewer_id: int, author_id: int) -> float:
    """The viewer's affinity for the author (0 when they never interacted)."""
    row = await session.get(FeedAffinity, (system, viewer_id, author_id))
    return float(row.score) if row is not None else 0.0
