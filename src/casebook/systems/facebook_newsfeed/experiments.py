"""A/B tests of the home feed's ranking.

An experiment has two or more variants, each with a traffic share (whole percent, summing to
100), a ranking (`chronological` or `engagement`) and engagement weights for the engine's scorer
(`RankingWeights`: reactions, comments, shares, affinity, half_life_hours). At most one
experiment runs at a time (a partial unique index on the running status makes two concurrent
starts impossible: the loser gets 409), so a feed has one set of weights to use.

Bucketing is deterministic and needs no storage: the first 8 bytes of
SHA-256("<experiment id>:<user id>") mod 10,000 pick a basis point, and the variants own
consecutive ranges of basis points in their order. The same user always lands in the same
variant of an experiment, different experiments split users independently, and the split
follows the traffic shares (a test checks it over 4,000 users).

The first feed a user reads while an experiment runs records their exposure (variant and time);
each later feed page adds the posts it served to the exposure's `feed_impressions` (atomic).
The report counts, per variant, exposed users, feed impressions, and what exposed users did
after their exposure and before the experiment stopped: reactions, comments and shares in the
feed (engine tables), ad impressions and ad clicks — and the rates per feed impression and the
ad click-through rate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.engagement_models import FeedComment, FeedReaction, FeedShare
from casebook.engines.feed.ranking import RankingWeights
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound
from casebook.systems.facebook_newsfeed.models import AdImpression, Experiment, Exposure, Variant

SYSTEM = "facebook-newsfeed"
BUCKETS = 10_000
RANKS = ("chronological", "engagement")
WEIGHT_NAMES = ("reactions", "comments", "shares", "affinity", "half_life_hours")


class ExperimentNotFound(NotFound):
    type_ = "facebook-newsfeed/experiment-not-found"
    title = "No such experiment"


class ExperimentConflict(Conflict):
    type_ = "facebook-newsfeed/experiment-conflict"
    title = "The experiment cannot change state"


@dataclass(frozen=True)
class VariantSpec:
    name: str
    traffic: int
    rank: str
    weights: dict[str, float]


@dataclass(frozen=True)
class Assignment:
    experiment_id: int
    variant: str
    rank: str
    weights: RankingWeights


def bucket(experiment_id: int, user_id: int) -> int:
    """The user's basis point in the experiment, 0 ≤ b < 10,000. O(1), deterministic."""
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def pick(variants: list[Variant], point: int) -> Variant:
    """The variant whose range of basis points holds `point` (variants in position order)."""
    edge = 0
    for variant in variants:
        edge += variant.traffic * (BUCKETS // 100)
        if point < edge:
            return variant
    return variants[-1]


def ranking_weights(values: dict[str, float]) -> RankingWeights:
    """The engine's weights from a variant's; `InvalidInput` (422) for unknown names or values
    the engine refuses (negative weights, a non-positive half-life)."""
    unknown = set(values) - set(WEIGHT_NAMES)
    if unknown:
        raise InvalidInput(f"Unknown ranking weights: {', '.join(sorted(unknown))}.")
    try:
        return RankingWeights(**values)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


async def create(
    session: AsyncSession, owner_id: int, name: str, variants: list[VariantSpec]
) -> Experiment:
    """A draft experiment. Raises `InvalidInput` (422) unless there are 2 to 10 variants with
    distinct names, traffic shares summing to 100, a known ranking and valid weights."""
    if not 2 <= len(variants) <= 10:
        raise InvalidInput("An experiment has 2 to 10 variants.")
    if len({v.name for v in variants}) != len(variants):
        raise InvalidInput("Variant names are distinct.")
    if sum(v.traffic for v in variants) != 100 or any(v.traffic < 0 for v in variants):
        raise InvalidInput("Variants' traffic shares are whole percents summing to 100.")
    for v in variants:
        if v.rank not in RANKS:
            raise InvalidInput("A variant ranks chronological or engagement.")
        ranking_weights(v.weights)
    experiment = Experiment(owner_id=owner_id, name=name)
    session.add(experiment)
    await session.flush()
    session.add_all(
        Variant(
            experiment_id=experiment.id,
            name=v.name,
            position=i,
            traffic=v.traffic,
            rank=v.rank,
            weights=dict(v.weights),
        )
        for i, v in enumerate(variants)
    )
    await session.flush()
    return experiment


async def own_experiment(session: AsyncSession, owner_id: int, experiment_id: int) -> Experiment:
    """The owner's experiment; `ExperimentNotFound` (404) for a missing or someone else's."""
    experiment = await session.get(Experiment, experiment_id)
    if experiment is None or experiment.owner_id != owner_id:
        raise ExperimentNotFound("No experiment of yours has this id.")
    return experiment


async def variants_of(session: AsyncSession, experiment_id: int) -> list[Variant]:
    rows = await session.scalars(
        select(Variant).where(Variant.experiment_id == experiment_id).order_by(Variant.position)
    )
    return list(rows)


async def start(session: AsyncSession, owner_id: int, experiment_id: int) -> Experiment:
    """Start a draft. `ExperimentConflict` (409) when it is not a draft or another experiment
    runs (the partial unique index decides races; the caller's transaction must not continue
    after a conflict, so this runs in a savepoint)."""
    experiment = await own_experiment(session, owner_id, experiment_id)
    if experiment.status != "draft":
        raise ExperimentConflict(f"The experiment is {experiment.status}.")
    try:
        async with session.begin_nested():
            await session.execute(
                update(Experiment)
                .where(Experiment.id == experiment_id, Experiment.status == "draft")
                .values(status="running", started_at=utcnow())
            )
    except IntegrityError:
        raise ExperimentConflict("Another experiment is running; stop it first.") from None
    await session.refresh(experiment)
    return experiment


async def stop(session: AsyncSession, owner_id: int, experiment_id: int) -> Experiment:
    """Stop a running experiment; `ExperimentConflict` (409) when it is not running."""
    experiment = await own_experiment(session, owner_id, experiment_id)
    done = await session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == "running")
        .values(status="stopped", stopped_at=utcnow())
        .returning(Experiment.id)
    )
    if done.first() is None:
        raise ExperimentConflict(f"The experiment is {experiment.status}.")
    await session.refresh(experiment)
    return experiment


async def assignment(session: AsyncSession, user_id: int) -> Assignment | None:
    """The running experiment's variant for the user, or None. Two indexed reads."""
    running = await session.scalar(select(Experiment).where(Experiment.status == "running"))
    if running is None:
        return None
    variants = await variants_of(session, running.id)
    chosen = pick(variants, bucket(running.id, user_id))
    return Assignment(running.id, chosen.name, chosen.rank, ranking_weights(chosen.weights))


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def record_exposure(
    session: AsyncSession, assigned: Assignment, user_id: int, served_posts: int
) -> None:
    """Note that the user read a feed in their variant, adding `served_posts` impressions.
    One atomic upsert."""
    stmt = _insert(session)(Exposure).values(
        experiment_id=assigned.experiment_id,
        user_id=user_id,
        variant=assigned.variant,
        exposed_at=utcnow(),
        feed_impressions=served_posts,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["experiment_id", "user_id"],
            set_={"feed_impressions": Exposure.feed_impressions + stmt.excluded.feed_impressions},
        )
    )


async def _per_variant(
    session: AsyncSession,
    experiment: Experiment,
    table: Any,
    user_col: Any,
    time_col: Any,
    *where: Any,
) -> dict[str, int]:
    """Count rows of an activity table done by exposed users after exposure (and before the
    stop), per variant. One grouped join over the exposures, O(exposed users' activity)."""
    until = experiment.stopped_at or utcnow()
    rows = await session.execute(
        select(Exposure.variant, func.count())
        .select_from(Exposure)
        .join(
            table,
            and_(user_col == Exposure.user_id, time_col >= Exposure.exposed_at, time_col <= until),
        )
        .where(Exposure.experiment_id == experiment.id, *where)
        .group_by(Exposure.variant)
    )
    return {variant: int(n) for variant, n in rows}


async def report(session: AsyncSession, owner_id: int, experiment_id: int) -> dict[str, Any]:
    """Engagement per variant (see the module docstring); the owner's experiments only (404)."""
    experiment = await own_experiment(session, owner_id, experiment_id)
    variants = await variants_of(session, experiment_id)
    exposure_rows = await session.execute(
        select(
            Exposure.variant, func.count(), func.coalesce(func.sum(Exposure.feed_impressions), 0)
        )
        .where(Exposure.experiment_id == experiment_id)
        .group_by(Exposure.variant)
    )
    exposed = {variant: (int(users), int(imps)) for variant, users, imps in exposure_rows}
    on_posts = (FeedReaction.system == SYSTEM, FeedReaction.target_kind == "post")
    reactions = await _per_variant(
        session, experiment, FeedReaction, FeedReaction.user_id, FeedReaction.created_at, *on_posts
    )
    comments = await _per_variant(
        session,
        experiment,
        FeedComment,
        FeedComment.author_id,
        FeedComment.created_at,
        FeedComment.system == SYSTEM,
    )
    shares = await _per_variant(
        session,
        experiment,
        FeedShare,
        FeedShare.user_id,
        FeedShare.created_at,
        FeedShare.system == SYSTEM,
    )
    ad_impressions = await _per_variant(
        session, experiment, AdImpression, AdImpression.user_id, AdImpression.created_at
    )
    ad_clicks = await _per_variant(
        session, experiment, AdImpression, AdImpression.user_id, AdImpression.clicked_at
    )
    out = []
    for v in variants:
        users, impressions = exposed.get(v.name, (0, 0))
        r, c, s = reactions.get(v.name, 0), comments.get(v.name, 0), shares.get(v.name, 0)
        ai, ac = ad_impressions.get(v.name, 0), ad_clicks.get(v.name, 0)
        out.append(
            {
                "name": v.name,
                "traffic": v.traffic,
                "rank": v.rank,
                "weights": v.weights,
                "users": users,
                "feed_impressions": impressions,
                "reactions": r,
                "comments": c,
                "shares": s,
                "engagement_per_impression": (r + c + s) / impressions if impressions else 0.0,
                "ad_impressions": ai,
                "ad_clicks": ac,
                "ad_click_rate": ac / ai if ai else 0.0,
            }
        )
    return {**experiment_view(experiment, variants), "variants": out}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def experiment_view(experiment: Experiment, variants: list[Variant]) -> dict[str, Any]:
    return {
        "id": str(experiment.id),
        "name": experiment.name,
        "status": experiment.status,
        "created_at": _iso(experiment.created_at),
        "started_at": _iso(experiment.started_at),
        "stopped_at": _iso(experiment.stopped_at),
        "variants": [
            {"name": v.name, "traffic": v.traffic, "rank": v.rank, "weights": v.weights}
            for v in variants
        ],
    }
