"""Hybrid fan-out: the job that puts a post into its readers' home timelines.

After a post commits, `service.publish` enqueues `feed.<system>.fanout` with key
`<post id>:<version>` (deduplicated while queued). The job:

1. loads the post; a deleted post (or one whose author was removed) is only retracted;
2. computes the recipients: the active followers of the post's source (the author, the page, or
   the group — whose members follow it), narrowed by the audience (`friends` → the author's
   friends among them, `list:<id>` → the list's members among them, `only_me` → nobody), plus
   the author;
3. if the source has more followers than `celebrity_threshold`, pushes nothing: followers pull
   the source's posts when they read (timeline.py). Otherwise pushes the id into every
   recipient's bounded timeline, `fanout_batch` timelines per statement/pipeline, and takes it out
   of the followers' timelines that the audience no longer admits (after an edit narrowed it);
4. tells connected clients (live.py): one bus message per recipient, or one on the source's
   channel for a celebrity source; each socket re-checks visibility before sending.

Every step is idempotent (insert-if-absent, remove-if-present), so a retried or repeated job
leaves the same timelines. Reads re-check everything anyway (timeline.py), so a job that runs
late never shows a post to someone who may not see it; it only makes it appear.

Cost: O(followers of the source) to read and write, in batches; O(1) for a celebrity source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from casebook.engines.feed import graph
from casebook.engines.feed.live import source_channel, user_channel
from casebook.engines.feed.models import FeedListMember, FeedPost
from casebook.engines.feed.runtime import FeedRuntime, feed_runtime
from casebook.platform.context import Platform
from casebook.platform.ids import new_id


def job_name(system: str) -> str:
    return f"feed.{system}.fanout"


async def enqueue(runtime: FeedRuntime, post_id: int, version: str) -> str:
    """Queue the fan-out of `post_id` (call after the post's transaction committed).

    `version` distinguishes the publish from later edits/deletes of the same post, so each
    change runs once even if an earlier job for the post is still queued.
    """
    return await runtime.platform.jobs.enqueue(
        job_name(runtime.system), {"post_id": str(post_id)}, key=f"{post_id}:{version}"
    )


def edit_version(edited_at: datetime) -> str:
    """The job version of an edit made at `edited_at` (each edit re-fans out once)."""
    return f"edit-{int(edited_at.timestamp() * 1_000_000)}"


def refan_job_name(system: str) -> str:
    return f"feed.{system}.refan"


async def enqueue_refan(runtime: FeedRuntime, source_id: int) -> str:
    """Queue the fan-out of a source's recent posts (it fell to the celebrity threshold: posts
    it published above it were pulled, never pushed, and would no longer be pulled)."""
    return await runtime.platform.jobs.enqueue(
        refan_job_name(runtime.system),
        {"source_id": str(source_id)},
        key=f"{source_id}:{new_id()}",
    )


async def refan_source(runtime: FeedRuntime, source_id: int) -> int:
    """Fan out the source's newest `backfill_posts` live posts to its current followers (each
    one idempotently, as `fan_out` does). Returns timelines newly given a post."""
    async with runtime.platform.db.session() as session:
        recent = list(
            await session.scalars(
                select(FeedPost.id)
                .where(
                    FeedPost.system == runtime.system,
                    FeedPost.source_id == source_id,
                    FeedPost.deleted_at.is_(None),
                )
                .order_by(FeedPost.id.desc())
                .limit(runtime.config.backfill_posts)
            )
        )
    added = 0
    for post_id in recent:
        added += await fan_out(runtime, post_id, announce=False)
    return added


def register(platform: Platform, system: str) -> None:
    """Register the system's fan-out job handlers (from the startup hook)."""

    async def run(platform: Platform, payload: dict[str, Any]) -> None:
        await fan_out(feed_runtime(platform, system), int(payload["post_id"]))

    async def refan(platform: Platform, payload: dict[str, Any]) -> None:
        await refan_source(feed_runtime(platform, system), int(payload["source_id"]))

    platform.jobs.register(job_name(system), run, retries=5, timeout=120.0)
    platform.jobs.register(refan_job_name(system), refan, retries=5, timeout=300.0)


async def _source_followers(runtime: FeedRuntime, post: FeedPost) -> tuple[list[int], int]:
    """(active followers of the post's source, the source's follower count)."""
    async with runtime.platform.db.session() as session:
        count = await graph.source_follower_count(session, runtime.system, post.source_id)
        if count > runtime.config.celebrity_threshold:
            return [], count
        followers = await graph.follower_ids(session, runtime.system, post.source_id)
        return followers, count


async def recipients(runtime: FeedRuntime, post: FeedPost, followers: list[int]) -> list[int]:
    """Who gets `post` in their timeline: the audience's share of `followers`, plus the author."""
    system = runtime.system
    audience = post.audience
    chosen: set[int]
    if audience == "only_me":
        chosen = set()
    elif audience == "friends":
        async with runtime.platform.db.session() as session:
            chosen = set(followers) & set(await graph.friend_ids(session, system, post.author_id))
    elif audience == "list":
        async with runtime.platform.db.session() as session:
            members = await session.scalars(
                select(FeedListMember.user_id).where(FeedListMember.list_id == post.list_id)
            )
            chosen = set(followers) & set(members)
    else:
        chosen = set(followers)
    chosen.add(post.author_id)
    return sorted(chosen)


async def fan_out(runtime: FeedRuntime, post_id: int, *, announce: bool = True) -> int:
    """Run the fan-out of `post_id` (see the module docstring). Returns timelines newly given it.
    `announce=False` skips the live notices (re-fanning old posts is no news)."""
    system, config, store = runtime.system, runtime.config, runtime.store
    async with runtime.platform.db.session() as session:
        post = await session.get(FeedPost, post_id)
    if post is None or post.system != system:
        return 0
    followers, count = await _source_followers(runtime, post)
    everyone = sorted({*followers, post.author_id})
    if post.deleted_at is not None:
        for start in range(0, len(everyone), config.fanout_batch):
            await store.remove(system, everyone[start : start + config.fanout_batch], post_id)
        if announce:
            await _announce(runtime, post, everyone, deleted=True, to_source=True)
        return 0
    if count > config.celebrity_threshold:
        if announce:
            await _announce(runtime, post, [post.author_id], deleted=False, to_source=True)
        return 0
    chosen = await recipients(runtime, post, followers)
    excluded = sorted(set(everyone) - set(chosen))
    added = 0
    for start in range(0, len(chosen), config.fanout_batch):
        batch = chosen[start : start + config.fanout_batch]
        added += await store.push(system, batch, post_id, post.source_id, config.timeline_size)
    for start in range(0, len(excluded), config.fanout_batch):
        await store.remove(system, excluded[start : start + config.fanout_batch], post_id)
    if announce:
        await _announce(runtime, post, chosen, deleted=False, to_source=False)
    return added


async def _announce(
    runtime: FeedRuntime, post: FeedPost, user_ids: list[int], *, deleted: bool, to_source: bool
) -> None:
    """Tell live sockets: one message per user of `user_ids`, and one on the source's channel
    when `to_source` (celebrity sources, whose followers' sockets watch that channel)."""
    kind = "post_deleted" if deleted else "post"
    message = orjson.dumps({"type": kind, "post_id": str(post.id)})
    bus = runtime.platform.bus
    if to_source:
        await bus.publish(source_channel(runtime.system, post.source_id), message)
    for start in range(0, len(user_ids), runtime.config.fanout_batch):
        batch = user_ids[start : start + runtime.config.fanout_batch]
        await bus.publish_many([(user_channel(runtime.system, u), message) for u in batch])
