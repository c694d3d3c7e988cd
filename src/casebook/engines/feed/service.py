"""The feed's use cases that span a transaction and what must follow its commit: publishing
(then fanning out), editing and deleting (then re-fanning or retracting), unfollowing and
blocking (then cleaning timelines), and reading the home feed, chronological or ranked.

Writes that start a fan-out open their own transaction and enqueue the job after it commits, so
the job never looks for a post that is not there yet.

Ranked feeds page over a snapshot: the first page ranks the newest `rank_window` candidates of
the viewer's feed and keeps the ranked ids in the cache (`feed:rank:<system>:<viewer>:<id>`, for
`rank_snapshot_seconds`); the cursor names the snapshot and an offset. Later pages read the
snapshot, so new posts and moving engagement counts never repeat or skip a post while a client
pages; every page is still re-checked (deletes, blocks, audience) when it is served. A cursor
whose snapshot expired answers 410 `feed/cursor-expired` (start again from the first page). The
snapshot key holds the viewer's id: another user's cursor finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import (
    fanout,
    graph,
    moderation,
    posts,
    ranking,
    readcache,
    timeline,
)
from casebook.engines.feed.models import FeedProfile
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.db import utcnow
from casebook.platform.errors import Gone, InvalidInput
from casebook.platform.ids import new_id
from casebook.platform.pagination import decode_cursor, encode_cursor
from casebook.platform.ratelimit import enforce

CLEANUP_POSTS = 800
"""How many of a source's newest posts an unfollow or block takes out of a Redis timeline (the
table store deletes by source in one statement; reads filter the rest anyway)."""


class CursorExpired(Gone):
    type_ = "feed/cursor-expired"
    title = "The feed cursor has expired"


@dataclass(frozen=True)
class FeedPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


class LooksLikeSpam(InvalidInput):
    type_ = "feed/looks-like-spam"
    title = "The post looks like spam"


async def screen_post(
    session: AsyncSession, runtime: FeedRuntime, author_id: int, body: str
) -> None:
    """Run moderation's spam heuristics on a post about to be written, in its transaction
    (`moderation.screen`, action "post", with the system's `EngagementConfig.moderation`):
    429 past the rate, 422 `feed/link-blocked`, 409 `feed/duplicate-content`, and 422
    `feed/looks-like-spam` for what it marks as spam (a post has no author-only spam state, so
    it is refused rather than stored). A post without text (data only: a photo) is only rate
    limited: the duplicate check would refuse a second photo. O(links) plus two statements."""
    from casebook.engines.feed.engagement_api import engagement_config

    platform = runtime.platform
    config = engagement_config(platform, runtime.system).moderation
    if not body.strip():
        key = f"feed:{runtime.system}:post:{author_id}"
        await enforce(platform.rate_limiter, key, config.create_rate)
        return
    verdict = await moderation.screen(
        session, platform.rate_limiter, runtime.system, author_id, body, config, action="post"
    )
    if verdict.spam:
        raise LooksLikeSpam(
            f"At most {config.max_unvetted_links} links to sites that are not vetted."
        )


async def publish(runtime: FeedRuntime, author_id: int, **fields: Any) -> dict[str, Any]:
    """Screen for spam (`screen_post`), create a post (see `posts.create_post` for fields and
    errors), commit, then enqueue its fan-out. Returns the post's view."""
    async with runtime.platform.db.session() as session:
        await screen_post(session, runtime, author_id, str(fields.get("body", "")))
        post = await posts.create_post(session, runtime.system, author_id, **fields)
        (view,) = await posts.hydrate_for(session, runtime.system, author_id, [post])
    await fanout.enqueue(runtime, post.id, "published")
    return view


async def edit(runtime: FeedRuntime, user_id: int, post_id: int, **changes: Any) -> dict[str, Any]:
    """Edit the author's post; when the audience changed, fan out again (which takes the post
    out of the timelines the new audience excludes and into those it admits)."""
    async with runtime.platform.db.session() as session:
        post, before = await posts.edit_post(session, runtime.system, user_id, post_id, **changes)
        (view,) = await posts.hydrate_for(session, runtime.system, user_id, [post])
        changed = posts.audience_label(post) != before
        version = fanout.edit_version(post.edited_at or utcnow())
    if changed:
        await fanout.enqueue(runtime, post_id, version)
    return view


async def delete(runtime: FeedRuntime, user_id: int, post_id: int) -> None:
    """Delete the author's post (gone from every read at once), then retract it from timelines."""
    async with runtime.platform.db.session() as session:
        await posts.delete_post(session, runtime.system, user_id, post_id)
    await fanout.enqueue(runtime, post_id, "deleted")


async def backfill(runtime: FeedRuntime, user_id: int, source_id: int) -> None:
    """After a new follow commits: put the source's newest `backfill_posts` posts into the
    user's timeline (reads re-check each one). Nothing for a celebrity source: its posts are
    pulled at read time anyway. One count read, one index range read, one store write."""
    config = runtime.config
    async with runtime.platform.db.session() as session:
        count = await graph.source_follower_count(session, runtime.system, source_id)
        if count > config.celebrity_threshold:
            return
        recent = await timeline.source_post_ids(
            session, runtime.system, source_id, config.backfill_posts, live_only=True
        )
    await runtime.store.backfill(runtime.system, user_id, recent, source_id, config.timeline_size)


async def follow(runtime: FeedRuntime, follower_id: int, followee_id: int) -> graph.FollowResult:
    """Follow a user or page (see `graph.follow`); an active follow back-fills the timeline."""
    async with runtime.platform.db.session() as session:
        result = await graph.follow(session, runtime.system, follower_id, followee_id)
    if result.status == "active":
        await backfill(runtime, follower_id, followee_id)
    return result


async def answer_follow_request(
    runtime: FeedRuntime, user_id: int, follower_id: int, *, approve: bool
) -> None:
    """Approve or decline a follow request; an approval back-fills the follower's timeline."""
    async with runtime.platform.db.session() as session:
        await graph.answer_follow_request(
            session, runtime.system, user_id, follower_id, approve=approve
        )
    if approve:
        await backfill(runtime, follower_id, user_id)


async def update_profile(
    runtime: FeedRuntime, user_id: int, *, handle: str | None, private: bool | None
) -> FeedProfile:
    """Change handle/privacy; going public approves every pending request and back-fills the
    timelines of the oldest 1000 requesters (later ones get the account's next posts)."""
    async with runtime.platform.db.session() as session:
        pending = await graph.pending_follower_ids(session, runtime.system, user_id)
        profile = await graph.update_profile(
            session, runtime.system, user_id, handle=handle, private=private
        )
    if private is False:
        for follower_id in pending:
            await backfill(runtime, follower_id, user_id)
    return profile


async def _befriended(runtime: FeedRuntime, a: int, b: int) -> None:
    await backfill(runtime, a, b)
    await backfill(runtime, b, a)


async def request_friendship(runtime: FeedRuntime, user_id: int, other_id: int) -> str:
    """Ask for a friendship (see `graph.request_friendship`); when it is made, each timeline
    is back-filled with the other's posts."""
    async with runtime.platform.db.session() as session:
        status = await graph.request_friendship(session, runtime.system, user_id, other_id)
    if status == "accepted":
        await _befriended(runtime, user_id, other_id)
    return status


async def answer_friend_request(
    runtime: FeedRuntime, user_id: int, requester_id: int, *, accept: bool
) -> None:
    async with runtime.platform.db.session() as session:
        await graph.answer_friend_request(
            session, runtime.system, user_id, requester_id, accept=accept
        )
    if accept:
        await _befriended(runtime, user_id, requester_id)


async def join_group(runtime: FeedRuntime, user_id: int, group_id: int) -> bool:
    """Join a group; its recent posts enter the new member's timeline."""
    async with runtime.platform.db.session() as session:
        joined = await graph.join_group(session, runtime.system, user_id, group_id)
    await backfill(runtime, user_id, group_id)
    return joined


async def _refan_if_no_longer_pulled(runtime: FeedRuntime, dropped: dict[int, int]) -> None:
    """A source whose follower count just fell to the celebrity threshold is no longer pulled
    at read time: push its recent posts (published while it was pulled) to its followers.
    Each decrement sees its own result, so exactly one change per crossing triggers this."""
    for source_id, count in dropped.items():
        if count == runtime.config.celebrity_threshold:
            await fanout.enqueue_refan(runtime, source_id)


async def _forget_source(runtime: FeedRuntime, user_id: int, source_id: int) -> None:
    async with runtime.platform.db.session() as session:
        recent = await timeline.source_post_ids(session, runtime.system, source_id, CLEANUP_POSTS)
    await runtime.store.remove_source(runtime.system, user_id, source_id, recent)


async def unfollow(runtime: FeedRuntime, user_id: int, followee_id: int) -> bool:
    """Unfollow (or withdraw a request); the followee's posts leave the user's timeline."""
    async with runtime.platform.db.session() as session:
        removed = await graph.unfollow(session, runtime.system, user_id, followee_id)
        dropped = graph.dropped_counts(session)
    await _refan_if_no_longer_pulled(runtime, dropped)
    if removed:
        await _forget_source(runtime, user_id, followee_id)
    return removed


async def unfriend(runtime: FeedRuntime, user_id: int, other_id: int) -> str | None:
    """End a friendship (each leaves the other's timeline) or cancel a request (timelines
    untouched). Returns what `graph.end_friendship` did."""
    async with runtime.platform.db.session() as session:
        outcome = await graph.end_friendship(session, runtime.system, user_id, other_id)
        dropped = graph.dropped_counts(session)
    await _refan_if_no_longer_pulled(runtime, dropped)
    if outcome == "ended":
        await _forget_source(runtime, user_id, other_id)
        await _forget_source(runtime, other_id, user_id)
    return outcome


async def block(runtime: FeedRuntime, blocker_id: int, blocked_id: int) -> None:
    """Block; each one's posts leave the other's timeline."""
    async with runtime.platform.db.session() as session:
        await graph.block(session, runtime.system, blocker_id, blocked_id)
        dropped = graph.dropped_counts(session)
    await _refan_if_no_longer_pulled(runtime, dropped)
    await _forget_source(runtime, blocker_id, blocked_id)
    await _forget_source(runtime, blocked_id, blocker_id)


async def leave_group(runtime: FeedRuntime, user_id: int, group_id: int) -> bool:
    async with runtime.platform.db.session() as session:
        left = await graph.leave_group(session, runtime.system, user_id, group_id)
        dropped = graph.dropped_counts(session)
    await _refan_if_no_longer_pulled(runtime, dropped)
    if left:
        await _forget_source(runtime, user_id, group_id)
    return left


def _int_values(values: tuple[object, ...]) -> list[int]:
    """Cursor values decoded as ints (`decode_cursor` checked their types)."""
    return [v for v in values if isinstance(v, int)]


def _snapshot_key(system: str, viewer_id: int, snapshot_id: int) -> str:
    return f"feed:rank:{system}:{viewer_id}:{snapshot_id}"


async def home_feed(
    runtime: FeedRuntime,
    session: AsyncSession,
    viewer_id: int,
    *,
    rank: str,
    cursor: str | None,
    limit: int,
) -> FeedPage:
    """One page of the viewer's home feed. `rank` is "chronological" (newest first, keyed by
    post id) or "engagement" (ranked snapshot, see the module docstring).

    Raises `InvalidInput` (422: unknown rank), `InvalidCursor` (422), `CursorExpired` (410).
    """
    config = runtime.config
    scorer = ranking.scorer_named(rank, config.ranking)
    if scorer.name == "chronological":
        before = _int_values(decode_cursor(cursor, (int,)))[0] if cursor else None
        if config.read_cache:
            platform = runtime.platform
            cached, last = await readcache.home_views(
                readcache.read_cache(platform.db.engine, platform.redis, platform.state),
                session,
                runtime.store,
                runtime.system,
                viewer_id,
                before=before,
                limit=limit,
                celebrity_threshold=config.celebrity_threshold,
            )
            return FeedPage(cached, encode_cursor([last]) if last is not None else None)
        page, last = await timeline.home_page(
            session,
            runtime.store,
            runtime.system,
            viewer_id,
            before=before,
            limit=limit,
            celebrity_threshold=config.celebrity_threshold,
        )
        views = await posts.hydrate_for(session, runtime.system, viewer_id, page)
        return FeedPage(views, encode_cursor([last]) if last is not None else None)
    return await _ranked_page(runtime, session, viewer_id, scorer, cursor, limit)


async def _ranked_page(
    runtime: FeedRuntime,
    session: AsyncSession,
    viewer_id: int,
    scorer: ranking.Scorer,
    cursor: str | None,
    limit: int,
) -> FeedPage:
    system, config, cache = runtime.system, runtime.config, runtime.platform.cache
    if cursor:
        snapshot_id, offset = _int_values(decode_cursor(cursor, (int, int)))
        if offset < 0:
            raise CursorExpired("The cursor is not one this API issued.")
        raw = await cache.get(_snapshot_key(system, viewer_id, snapshot_id))
        if raw is None:
            raise CursorExpired("Start again from the first page.")
        ranked: list[int] = orjson.loads(raw)
    else:
        candidates = await timeline.candidate_window(
            session,
            runtime.store,
            system,
            viewer_id,
            size=config.rank_window,
            celebrity_threshold=config.celebrity_threshold,
        )
        scored = await ranking.candidates_for(session, system, viewer_id, candidates)
        ranked = ranking.rank(scored, scorer, utcnow())
        snapshot_id, offset = new_id(), 0
        await cache.set(
            _snapshot_key(system, viewer_id, snapshot_id),
            orjson.dumps(ranked),
            ttl=config.rank_snapshot_seconds,
        )
    chosen = ranked[offset : offset + limit]
    page = await timeline.still_in_feed(session, system, viewer_id, chosen)
    views = await posts.hydrate_for(session, system, viewer_id, page)
    following = offset + limit
    next_cursor = encode_cursor([snapshot_id, following]) if following < len(ranked) else None
    return FeedPage(views, next_cursor)
