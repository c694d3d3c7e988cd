"""The feed engine's per-process state for one system, kept in `platform.state`.

`FeedRuntime` holds the system's `FeedConfig`, its home-timeline store (a table embedded, Redis
sorted sets when `settings.redis_url` is set) and the live hub of its WebSocket. Systems start
it from their startup hook (`mount.startup`) and may pass their own config (Newsfeed's A/B
variants swap `ranking` weights, for instance, with `configure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from casebook.engines.feed.ranking import RankingWeights
from casebook.platform.context import Platform

if TYPE_CHECKING:
    from casebook.engines.feed.live import LiveHub
    from casebook.engines.feed.timeline import TimelineStore


@dataclass(frozen=True)
class FeedConfig:
    """Limits and knobs of one system's feed."""

    celebrity_threshold: int = 10_000
    """Sources (users, pages, groups) with more active followers than this are not fanned out
    on write; their posts are pulled when a follower reads (hybrid fan-out)."""
    timeline_size: int = 800
    """Post ids kept per home timeline (the oldest fall off; older posts stay on profiles)."""
    backfill_posts: int = 50
    """A new follow (friendship, approval, group join) puts this many of the source's newest
    posts into the follower's timeline."""
    fanout_batch: int = 1000
    """Timelines written per statement/pipeline by the fan-out job."""
    rank_window: int = 300
    """Newest visible candidates a ranked feed scores; pages of it are served from a snapshot."""
    rank_snapshot_seconds: float = 900.0
    """How long a ranked feed's cursor stays valid (its snapshot lives in the cache)."""
    ranking: RankingWeights = field(default_factory=RankingWeights)
    read_cache: bool = True
    """Serve chronological home feeds through the per-process read cache (`readcache.py`);
    False reads every fact from the database (the benchmark's "before")."""


def state_key(system: str) -> str:
    return f"feed:{system}"


@dataclass
class FeedRuntime:
    platform: Platform
    system: str
    config: FeedConfig
    store: TimelineStore
    live: LiveHub | None = None

    def configure(self, **changes: Any) -> FeedConfig:
        """Replace some config fields (e.g. `celebrity_threshold=2` in a test)."""
        self.config = replace(self.config, **changes)
        return self.config


def feed_runtime(platform: Platform, system: str) -> FeedRuntime:
    """The running runtime of `system`; KeyError before `start`."""
    runtime: FeedRuntime = platform.state[state_key(system)]
    return runtime


async def start(platform: Platform, system: str, config: FeedConfig | None = None) -> FeedRuntime:
    """Create the system's runtime (idempotent per platform) with the store the settings ask for."""
    from casebook.engines.feed.readcache import read_cache, timeline_changed
    from casebook.engines.feed.timeline import RedisTimelineStore, TableTimelineStore

    key = state_key(system)
    existing: FeedRuntime | None = platform.state.get(key)
    if existing is not None:
        return existing
    # Registers the database's version clock, so writes from now on invalidate the cache.
    clock = read_cache(platform.db.engine, platform.redis, platform.state).clock
    store: TimelineStore
    if platform.redis is not None:
        store = RedisTimelineStore(platform.redis)
    else:
        store = TableTimelineStore(platform.db, changed=timeline_changed(clock))
    runtime = FeedRuntime(platform, system, config or FeedConfig(), store)
    platform.state[key] = runtime
    return runtime


async def stop(platform: Platform, system: str) -> None:
    platform.state.pop(state_key(system), None)
