"""Ads: the inventory, choosing an ad for a feed slot, impressions and clicks.

An ad has an advertiser (a user; only they read or change it), a creative (title, body, the
URL a click leads to), target interests (none: it may run for anyone), a budget in impressions
and an active window. A feed slot gets the active ad whose interests best match the viewer's
(`interests.interest_weights`: the sum of the viewer's weights over the ad's interests;
untargeted ads score 0, targeted ads that match nothing are not eligible), best first, ties to
the ad with more budget left, then the older ad. An ad never reaches a viewer who blocked its
advertiser or whom its advertiser blocked (the feed engine's blocks, both ways).

Serving one ad is exact under concurrency:
1. frequency cap — one upsert `shown = shown + 1 … WHERE shown < frequency_cap RETURNING`
   on the (ad, user, window) row; no row back means the viewer saw it enough this window;
2. budget — one `UPDATE … SET impressions = impressions + 1 WHERE impressions <
   budget_impressions AND <active now> RETURNING`; no row back means the budget is spent (or the
   ad ended or was paused meanwhile) and step 1 is undone with `shown = shown - 1` in the same
   transaction;
3. an impression row, whose id is in the ad's click link.

The database serialises both counters' rows, so N feeds racing for an ad with budget B record
exactly min(N, B) impressions, never B + 1.

A click is a tracked redirect: `GET /api/facebook-newsfeed/ads/click/{impression}?sig=` where
`sig` is an HMAC of the impression id under the deployment's signing key; the answer is a 303
to the ad's own stored URL, never to a URL taken from the request (no open redirect). The first
click of an impression counts (`clicked_at IS NULL` in the UPDATE), so clicks never exceed
impressions; the ad's interests are learned by the clicker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.models import FeedBlock
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput, NotFound
from casebook.systems.facebook_newsfeed import interests as interest_mod
from casebook.systems.facebook_newsfeed.config import NewsfeedSettings
from casebook.systems.facebook_newsfeed.models import Ad, AdFrequency, AdImpression, AdTarget

MAX_TARGETS = 20
MAX_BUDGET = 10**12
CANDIDATES = 200
"""Most eligible ads scored for one feed page (best matches by the index first)."""
UNTARGETED = "*"
"""The target row of an ad with no interests: it is a candidate for everyone."""
SLUG = "facebook-newsfeed"
API_PREFIX = f"/api/{SLUG}"


class AdNotFound(NotFound):
    type_ = "facebook-newsfeed/ad-not-found"
    title = "No such ad"


@dataclass(frozen=True)
class ServedAd:
    ad: Ad
    impression_id: int
    score: float


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def check_url(url: str) -> str:
    """An ad's landing page: an absolute http(s) URL with a host; `InvalidInput` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("An ad's URL is an absolute http or https URL.")
    return url


async def create_ad(
    session: AsyncSession,
    advertiser_id: int,
    advertiser_name: str,
    *,
    title: str,
    body: str,
    url: str,
    interests: list[str],
    budget_impressions: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> Ad:
    """A new ad in the inventory. Defaults: starts now, runs 30 days.
    Raises `InvalidInput` (422) for a bad URL, interests, budget or window."""
    check_url(url)
    targets = interest_mod.normalise(interests)
    if len(targets) > MAX_TARGETS:
        raise InvalidInput(f"An ad targets at most {MAX_TARGETS} interests.")
    if not 1 <= budget_impressions <= MAX_BUDGET:
        raise InvalidInput("The budget is between 1 and 10^12 impressions.")
    start = starts_at or utcnow()
    end = ends_at or start + timedelta(days=30)
    if end <= start:
        raise InvalidInput("An ad ends after it starts.")
    ad = Ad(
        advertiser_id=advertiser_id,
        advertiser_name=advertiser_name,
        title=title,
        body=body,
        url=url,
        interests=targets,
        budget_impressions=budget_impressions,
        starts_at=start,
        ends_at=end,
    )
    session.add(ad)
    await session.flush()
    session.add_all(AdTarget(interest=i, ad_id=ad.id) for i in targets or [UNTARGETED])
    return ad


async def own_ad(session: AsyncSession, advertiser_id: int, ad_id: int) -> Ad:
    """The advertiser's ad; `AdNotFound` (404) for a missing ad or someone else's."""
    ad = await session.get(Ad, ad_id)
    if ad is None or ad.advertiser_id != advertiser_id:
        raise AdNotFound("No ad of yours has this id.")
    return ad


async def list_ads(session: AsyncSession, advertiser_id: int) -> list[Ad]:
    """The advertiser's ads, newest first."""
    rows = await session.scalars(
        select(Ad).where(Ad.advertiser_id == advertiser_id).order_by(Ad.id.desc()).limit(500)
    )
    return list(rows)


async def set_paused(session: AsyncSession, advertiser_id: int, ad_id: int, paused: bool) -> Ad:
    ad = await own_ad(session, advertiser_id, ad_id)
    ad.paused = paused
    await session.flush()
    return ad


def _active(now: datetime) -> list[Any]:
    return [
        Ad.paused.is_(False),
        Ad.starts_at <= now,
        Ad.ends_at > now,
        Ad.impressions < Ad.budget_impressions,
    ]


def _not_blocked(viewer_id: int) -> Any:
    """The ad's advertiser and the viewer have not blocked each other (two primary-key probes
    of `feed_blocks` per candidate row)."""
    return ~exists().where(
        FeedBlock.system == SLUG,
        or_(
            and_(FeedBlock.blocker_id == viewer_id, FeedBlock.blocked_id == Ad.advertiser_id),
            and_(FeedBlock.blocker_id == Ad.advertiser_id, FeedBlock.blocked_id == viewer_id),
        ),
    )


async def candidates(
    session: AsyncSession, viewer_id: int, weights: dict[str, float], now: datetime
) -> list[tuple[Ad, float]]:
    """Eligible ads for `viewer_id` with interest `weights`, best match first, none of an
    advertiser either side blocked. One indexed join over the viewer's interests' target rows
    (O(matching ads)), at most `CANDIDATES` ads."""
    keys = [*weights, UNTARGETED]
    rows = await session.execute(
        select(Ad, AdTarget.interest)
        .join(AdTarget, AdTarget.ad_id == Ad.id)
        .where(AdTarget.interest.in_(keys), *_active(now), _not_blocked(viewer_id))
        .limit(CANDIDATES * 4)
    )
    scores: dict[int, float] = {}
    ads: dict[int, Ad] = {}
    for ad, interest in rows:
        ads[ad.id] = ad
        scores[ad.id] = scores.get(ad.id, 0.0) + weights.get(interest, 0.0)
    ranked = sorted(
        ads.values(),
        key=lambda a: (-scores[a.id], -(a.budget_impressions - a.impressions), a.id),
    )
    return [(ad, scores[ad.id]) for ad in ranked[:CANDIDATES]]


def frequency_window(settings: NewsfeedSettings, now: datetime) -> int:
    return int(now.timestamp() // (settings.frequency_window_hours * 3600))


async def _take_frequency(
    session: AsyncSession, settings: NewsfeedSettings, ad_id: int, user_id: int, window: int
) -> bool:
    stmt = _insert(session)(AdFrequency).values(
        ad_id=ad_id, user_id=user_id, window=window, shown=1
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["ad_id", "user_id", "window"],
        set_={"shown": AdFrequency.shown + 1},
        where=AdFrequency.shown < settings.frequency_cap,
    ).returning(AdFrequency.shown)
    return (await session.execute(upsert)).first() is not None


async def serve_one(
    session: AsyncSession,
    settings: NewsfeedSettings,
    user_id: int,
    ranked: list[tuple[Ad, float]],
    skip: set[int],
    now: datetime,
) -> ServedAd | None:
    """Serve the best candidate not in `skip` that is under the viewer's frequency cap and has
    budget left (see the module docstring); None when none is. O(candidates) statements at
    worst, two or three per candidate tried."""
    window = frequency_window(settings, now)
    for ad, score in ranked:
        if ad.id in skip:
            continue
        if not await _take_frequency(session, settings, ad.id, user_id, window):
            continue
        spent = await session.execute(
            update(Ad)
            .where(Ad.id == ad.id, *_active(now))
            .values(impressions=Ad.impressions + 1)
            .returning(Ad.impressions)
        )
        if spent.first() is None:
            await session.execute(
                update(AdFrequency)
                .where(
                    AdFrequency.ad_id == ad.id,
                    AdFrequency.user_id == user_id,
                    AdFrequency.window == window,
                )
                .values(shown=AdFrequency.shown - 1)
            )
            continue
        impression = AdImpression(ad_id=ad.id, user_id=user_id, created_at=now)
        session.add(impression)
        await session.flush()
        return ServedAd(ad, impression.id, score)
    return None


def click_signature(signing_key: str, impression_id: int) -> str:
    digest = hmac.new(
        signing_key.encode(), f"ad-click:{impression_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def click_url(signing_key: str, impression_id: int) -> str:
    sig = click_signature(signing_key, impression_id)
    return f"{API_PREFIX}/ads/click/{impression_id}?sig={sig}"


def slot_view(served: ServedAd, signing_key: str) -> dict[str, Any]:
    """A feed item for an ad slot: marked sponsored, with its tracked click link."""
    ad = served.ad
    return {
        "type": "ad",
        "sponsored": True,
        "impression_id": str(served.impression_id),
        "ad": {
            "id": str(ad.id),
            "advertiser": ad.advertiser_name,
            "title": ad.title,
            "body": ad.body,
            "display_url": urlsplit(ad.url).hostname,
        },
        "click_url": click_url(signing_key, served.impression_id),
    }


async def click(session: AsyncSession, signing_key: str, impression_id: int, sig: str) -> str:
    """Record the click of an impression (its first only) and return the ad's URL.
    Raises `AdNotFound` (404) for an unknown impression or a signature that does not match."""
    if not hmac.compare_digest(sig, click_signature(signing_key, impression_id)):
        raise AdNotFound("This click link is not one the feed issued.")
    impression = await session.get(AdImpression, impression_id)
    if impression is None:
        raise AdNotFound("This click link is not one the feed issued.")
    ad = await session.get(Ad, impression.ad_id)
    if ad is None:
        raise AdNotFound("The ad is gone.")
    first = await session.execute(
        update(AdImpression)
        .where(AdImpression.id == impression_id, AdImpression.clicked_at.is_(None))
        .values(clicked_at=utcnow())
        .returning(AdImpression.id)
    )
    if first.first() is not None:
        await session.execute(update(Ad).where(Ad.id == ad.id).values(clicks=Ad.clicks + 1))
        await interest_mod.learn_from_click(session, impression.user_id, list(ad.interests))
    return ad.url


async def ad_stats(session: AsyncSession, ad: Ad) -> dict[str, Any]:
    """Counters of an ad and distinct people reached (one indexed count)."""
    reach = await session.scalar(
        select(func.count(func.distinct(AdImpression.user_id))).where(AdImpression.ad_id == ad.id)
    )
    return {
        "impressions": ad.impressions,
        "clicks": ad.clicks,
        "reach": int(reach or 0),
        "ctr": ad.clicks / ad.impressions if ad.impressions else 0.0,
        "budget_left": ad.budget_impressions - ad.impressions,
    }
