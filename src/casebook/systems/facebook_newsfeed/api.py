"""Facebook Newsfeed's own HTTP API, next to the feed engine's (both under
`/api/facebook-newsfeed`). Identity is the platform's: a session token or an API key with
`facebook-newsfeed:read` (reads) or `facebook-newsfeed:write` (changes).

Home feed
- `GET /newsfeed?rank=engagement|chronological&cursor=&limit=` — the caller's feed with ad
  slots every `ad_cadence` posts and the running A/B variant's ranking (see home.py) →
  {items: [{type: "post", post} | {type: "ad", sponsored, ad, click_url, impression_id}],
  next_cursor, rank, experiment}.

Interests (the caller's own)
- `GET /interests` → {declared, weights}; `PUT /interests` {interests: [..]} → declared set.

Ads (an advertiser sees and changes only their own: others' are 404)
- `POST /ads` {title, body?, url, interests?, budget_impressions, starts_at?, ends_at?,
  advertiser?} → 201 (accepts `Idempotency-Key`); `GET /ads`; `GET /ads/{id}` (with stats);
  `POST /ads/{id}/pause`, `POST /ads/{id}/resume`.
- `GET /ads/click/{impression_id}?sig=` — the tracked click: 303 to the ad's own URL; 404 for a
  link the feed did not issue.

A/B experiments (the owner's only)
- `POST /experiments` {name, variants: [{name, traffic, rank, weights}]} → 201 draft;
  `GET /experiments`; `GET /experiments/{id}`; `POST /experiments/{id}/start` (409 when another
  runs), `POST /experiments/{id}/stop`; `GET /experiments/{id}/report` — engagement per variant.
- `GET /experiments/assignment` — the caller's variant in the running experiment, if any.

Analytics (the author's only)
- `GET /analytics/posts/{id}` — reach, impressions, engagement of one's post.
- `GET /analytics/me` — one's totals and top posts.
"""

# No `from __future__ import annotations`: FastAPI resolves the local dependency aliases from
# evaluated annotations.
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from casebook.platform.auth.deps import Principal, require_scope
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent
from casebook.platform.pagination import PageQuery
from casebook.systems.facebook_newsfeed import ads, analytics, experiments, home
from casebook.systems.facebook_newsfeed import interests as interest_mod
from casebook.systems.facebook_newsfeed.models import Ad, Experiment

SLUG = "facebook-newsfeed"
PlatformDep = Annotated[Platform, Depends(get_platform)]
Reader = Annotated[Principal, Depends(require_scope(f"{SLUG}:read"))]
Writer = Annotated[Principal, Depends(require_scope(f"{SLUG}:write"))]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


class InterestsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interests: list[str] = Field(max_length=interest_mod.MAX_DECLARED)


class AdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(default="", max_length=500)
    url: str = Field(min_length=1, max_length=2048)
    interests: list[str] = Field(default_factory=list, max_length=ads.MAX_TARGETS)
    budget_impressions: int = Field(ge=1, le=ads.MAX_BUDGET)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    advertiser: str | None = Field(default=None, min_length=1, max_length=100)
    """The name shown on the ad; the advertiser's display name by default."""


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    traffic: int = Field(ge=0, le=100)
    rank: Literal["chronological", "engagement"] = "engagement"
    weights: dict[str, float] = Field(default_factory=dict, max_length=5)


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    variants: list[VariantIn] = Field(min_length=2, max_length=10)


async def ad_view(session: Session, ad: Ad, *, stats: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(ad.id),
        "advertiser": ad.advertiser_name,
        "title": ad.title,
        "body": ad.body,
        "url": ad.url,
        "interests": list(ad.interests),
        "budget_impressions": ad.budget_impressions,
        "impressions": ad.impressions,
        "clicks": ad.clicks,
        "starts_at": ad.starts_at.isoformat(),
        "ends_at": ad.ends_at.isoformat(),
        "paused": ad.paused,
    }
    if stats:
        view["stats"] = await ads.ad_stats(session, ad)
    return view


async def _experiment_view(session: Session, experiment: Experiment) -> dict[str, Any]:
    variants = await experiments.variants_of(session, experiment.id)
    return experiments.experiment_view(experiment, variants)


router = APIRouter()


@router.get("/newsfeed", responses=_problems(401, 403, 410, 422))
async def newsfeed(
    principal: Reader,
    platform: PlatformDep,
    page: PageQuery,
    rank: Annotated[Literal["chronological", "engagement"], Query()] = "engagement",
) -> dict[str, Any]:
    """The caller's Newsfeed: friends', followed people's, pages' and groups' posts, ranked
    (by the A/B variant when an experiment runs), with sponsored ad slots."""
    return await home.newsfeed_page(
        platform, principal.user_id, rank=rank, cursor=page.cursor, limit=page.limit
    )


@router.get("/interests", responses=_problems(401, 403))
async def my_interests(
    principal: Reader, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    """The caller's declared interests and every interest's weight (declared and learned)."""
    settings = home.settings_of(platform)
    return {
        "declared": await interest_mod.declared(session, principal.user_id),
        "weights": await interest_mod.interest_weights(session, settings, principal.user_id),
    }


@router.put("/interests", responses=_problems(401, 403, 422))
async def set_interests(body: InterestsIn, principal: Writer, session: Session) -> dict[str, Any]:
    """Replace the caller's declared interests."""
    declared = await interest_mod.set_declared(session, principal.user_id, body.interests)
    return {"declared": declared}


@router.post("/ads", status_code=201, dependencies=[Idempotent], responses=_problems(401, 403, 422))
async def create_ad(body: AdIn, principal: Writer, session: Session) -> dict[str, Any]:
    """Add an ad to the inventory (the caller is its advertiser)."""
    name = body.advertiser
    if name is None:
        user = await session.get(User, principal.user_id)
        name = user.display_name if user is not None else "Advertiser"
    ad = await ads.create_ad(
        session,
        principal.user_id,
        name,
        title=body.title,
        body=body.body,
        url=body.url,
        interests=body.interests,
        budget_impressions=body.budget_impressions,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )
    return await ad_view(session, ad)


@router.get("/ads", responses=_problems(401, 403))
async def my_ads(principal: Reader, session: Session) -> dict[str, Any]:
    """The caller's ads, newest first."""
    return {
        "items": [
            await ad_view(session, ad) for ad in await ads.list_ads(session, principal.user_id)
        ]
    }


@router.get("/ads/click/{impression_id}", status_code=303, responses=_problems(404, 422))
async def click_ad(
    impression_id: EntityId,
    session: Session,
    platform: PlatformDep,
    sig: Annotated[str, Query(min_length=1, max_length=64)],
) -> RedirectResponse:
    """A tracked ad click: counts the impression's first click, then 303 to the ad's URL."""
    url = await ads.click(session, platform.settings.signing_key, impression_id, sig)
    return RedirectResponse(url, status_code=303)


@router.get("/ads/{ad_id}", responses=_problems(401, 403, 404))
async def get_ad(ad_id: EntityId, principal: Reader, session: Session) -> dict[str, Any]:
    """One of the caller's ads with its impressions, clicks, reach and budget left."""
    return await ad_view(session, await ads.own_ad(session, principal.user_id, ad_id), stats=True)


@router.post("/ads/{ad_id}/pause", responses=_problems(401, 403, 404))
async def pause_ad(ad_id: EntityId, principal: Writer, session: Session) -> dict[str, Any]:
    return await ad_view(session, await ads.set_paused(session, principal.user_id, ad_id, True))


@router.post("/ads/{ad_id}/resume", responses=_problems(401, 403, 404))
async def resume_ad(ad_id: EntityId, principal: Writer, session: Session) -> dict[str, Any]:
    return await ad_view(session, await ads.set_paused(session, principal.user_id, ad_id, False))


@router.post("/experiments", status_code=201, responses=_problems(401, 403, 422))
async def create_experiment(
    body: ExperimentIn, principal: Writer, session: Session
) -> dict[str, Any]:
    """A draft A/B experiment of the feed's ranking."""
    experiment = await experiments.create(
        session,
        principal.user_id,
        body.name,
        [experiments.VariantSpec(v.name, v.traffic, v.rank, v.weights) for v in body.variants],
    )
    return await _experiment_view(session, experiment)


@router.get("/experiments", responses=_problems(401, 403))
async def my_experiments(principal: Reader, session: Session) -> dict[str, Any]:
    rows = await session.scalars(
        select(Experiment)
        .where(Experiment.owner_id == principal.user_id)
        .order_by(Experiment.id.desc())
        .limit(200)
    )
    return {"items": [await _experiment_view(session, e) for e in rows.all()]}


@router.get("/experiments/assignment", responses=_problems(401, 403))
async def my_assignment(principal: Reader, session: Session) -> dict[str, Any]:
    """The caller's variant in the running experiment (null when none runs)."""
    assigned = await experiments.assignment(session, principal.user_id)
    if assigned is None:
        return {"experiment": None}
    return {"experiment": {"id": str(assigned.experiment_id), "variant": assigned.variant}}


@router.get("/experiments/{experiment_id}", responses=_problems(401, 403, 404))
async def get_experiment(
    experiment_id: EntityId, principal: Reader, session: Session
) -> dict[str, Any]:
    experiment = await experiments.own_experiment(session, principal.user_id, experiment_id)
    return await _experiment_view(session, experiment)


@router.post("/experiments/{experiment_id}/start", responses=_problems(401, 403, 404, 409))
async def start_experiment(
    experiment_id: EntityId, principal: Writer, session: Session
) -> dict[str, Any]:
    experiment = await experiments.start(session, principal.user_id, experiment_id)
    return await _experiment_view(session, experiment)


@router.post("/experiments/{experiment_id}/stop", responses=_problems(401, 403, 404, 409))
async def stop_experiment(
    experiment_id: EntityId, principal: Writer, session: Session
) -> dict[str, Any]:
    experiment = await experiments.stop(session, principal.user_id, experiment_id)
    return await _experiment_view(session, experiment)


@router.get("/experiments/{experiment_id}/report", responses=_problems(401, 403, 404))
async def experiment_report(
    experiment_id: EntityId, principal: Reader, session: Session
) -> dict[str, Any]:
    """Engagement per variant: users, feed impressions, reactions, comments, shares, ad
    impressions and clicks, and their rates."""
    return await experiments.report(session, principal.user_id, experiment_id)


@router.get("/analytics/posts/{post_id}", responses=_problems(401, 403, 404))
async def post_analytics(post_id: EntityId, principal: Reader, session: Session) -> dict[str, Any]:
    """Reach, impressions and engagement of one of the caller's posts."""
    return await analytics.post_report(session, principal.user_id, post_id)


@router.get("/analytics/me", responses=_problems(401, 403))
async def my_analytics(principal: Reader, session: Session) -> dict[str, Any]:
    """The caller's totals over their posts, and their top posts by engagement."""
    return await analytics.author_report(session, principal.user_id)
