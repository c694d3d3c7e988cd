"""Facebook Newsfeed's home feed: the engine's feed, ranked by the reader's A/B variant, with
ad slots at the configured cadence, and every served post counted for analytics.

`GET /api/facebook-newsfeed/newsfeed` answers `{items, next_cursor, experiment}` where each item
is `{"type": "post", "post": …}` or an ad slot `{"type": "ad", "sponsored": true, …}`.

One page:
1. (read session) the running experiment's variant for the reader, if any, picks the ranking
   and the engine's `RankingWeights`: the engine's `service.home_feed` runs on a copy of the
   system's runtime whose config carries the variant's weights (same store, same platform);
   without an experiment, `?rank=` decides (engagement by default: "ranked by relevance");
2. (write session) the page's posts are counted (`analytics.record_feed_views`), the exposure
   is recorded, and after every `ad_cadence`-th post an ad slot is filled (`ads.serve_one`).

The cadence counts posts across pages: the cursor carries the engine's cursor, how many posts
were served since the last slot, and the ranking, so page 2 continues the same ranking and
the slots fall every N posts of the whole feed, not of each page. A slot no ad can fill (no
eligible ad, budgets spent, caps reached) is left out, and the count starts again.

Cost: the engine's read, then 2 statements of analytics, 1 of exposure, and per slot the ad
candidates read once (3 indexed reads for interests, one join) plus 2-3 statements per ad tried.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from casebook.engines.feed import service
from casebook.engines.feed.runtime import FeedRuntime, feed_runtime
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.pagination import decode_cursor, encode_cursor
from casebook.systems.facebook_newsfeed import ads, analytics, experiments
from casebook.systems.facebook_newsfeed import interests as interest_mod
from casebook.systems.facebook_newsfeed.config import NewsfeedSettings
from casebook.systems.facebook_newsfeed.models import Ad

SYSTEM = "facebook-newsfeed"
STATE_KEY = "facebook-newsfeed:settings"


def settings_of(platform: Platform) -> NewsfeedSettings:
    """The system's settings in this process (set at startup; tests may replace them)."""
    settings: NewsfeedSettings = platform.state.setdefault(STATE_KEY, NewsfeedSettings())
    return settings


def slot_positions(served_before: int, posts: int, cadence: int) -> tuple[list[int], int]:
    """Indexes (into a page of `posts`) after which an ad slot goes, when `served_before` posts
    came since the last slot; and the count to carry to the next page. O(posts)."""
    positions, since = [], served_before
    for i in range(posts):
        since += 1
        if since >= cadence:
            positions.append(i)
            since = 0
    return positions, since


def _variant_runtime(runtime: FeedRuntime, assigned: experiments.Assignment | None) -> FeedRuntime:
    if assigned is None:
        return runtime
    return replace(runtime, config=replace(runtime.config, ranking=assigned.weights))


async def newsfeed_page(
    platform: Platform, viewer_id: int, *, rank: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """One page of the reader's Newsfeed (see the module docstring). Raises the engine's
    `InvalidCursor` (422) and `CursorExpired` (410)."""
    settings = settings_of(platform)
    runtime = feed_runtime(platform, SYSTEM)
    since = 0
    engine_cursor: str | None = None
    if cursor:
        inner, since_value, rank_value = decode_cursor(cursor, (str, int, str))
        engine_cursor = str(inner) or None
        since = max(int(since_value), 0) if isinstance(since_value, int) else 0
        rank = str(rank_value)
    async with platform.db.session() as session:
        assigned = await experiments.assignment(session, viewer_id)
        if assigned is not None and not cursor:
            rank = assigned.rank
        page = await service.home_feed(
            _variant_runtime(runtime, assigned),
            session,
            viewer_id,
            rank=rank,
            cursor=engine_cursor,
            limit=limit,
        )
        candidates: list[tuple[Ad, float]] = []
        positions, carry = slot_positions(since, len(page.items), settings.ad_cadence)
        if positions:
            weights = await interest_mod.interest_weights(session, settings, viewer_id)
            candidates = await ads.candidates(session, viewer_id, weights, utcnow())
    served = [(int(view["id"]), int(view["author"]["id"])) for view in page.items]
    slots: dict[int, dict[str, Any]] = {}
    async with platform.db.session(write=True) as session:
        await analytics.record_feed_views(session, viewer_id, served)
        if assigned is not None:
            await experiments.record_exposure(session, assigned, viewer_id, len(served))
        used: set[int] = set()
        now = utcnow()
        for position in positions:
            chosen = await ads.serve_one(session, settings, viewer_id, candidates, used, now)
            if chosen is None:
                break
            used.add(chosen.ad.id)
            slots[position] = ads.slot_view(chosen, platform.settings.signing_key)
    items: list[dict[str, Any]] = []
    for i, view in enumerate(page.items):
        items.append({"type": "post", "post": view})
        if i in slots:
            items.append(slots[i])
    next_cursor = (
        encode_cursor([page.next_cursor, carry, rank]) if page.next_cursor is not None else None
    )
    return {
        "items": items,
        "next_cursor": next_cursor,
        "rank": rank,
        "experiment": (
            {"id": str(assigned.experiment_id), "variant": assigned.variant}
            if assigned is not None
            else None
        ),
    }
