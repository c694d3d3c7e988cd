"""The running platform: settings plus one adapter per concern, chosen by settings.

`Platform.start(settings)` builds it (SQLite + in-process adapters by default, PostgreSQL + Redis
when configured); the app keeps it at `app.state.platform`, and FastAPI endpoints get it through
the `get_platform` dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from casebook.platform import ids
from casebook.platform.cache import Cache, MemoryCache
from casebook.platform.db import Database
from casebook.platform.ratelimit import MemoryRateLimiter, RateLimiter
from casebook.platform.settings import Settings


@dataclass
class Platform:
    settings: Settings
    db: Database
    cache: Cache
    rate_limiter: RateLimiter
    state: dict[str, Any] = field(default_factory=dict)
    """Per-system process state (e.g. a click buffer), keyed by slug."""

    @classmethod
    def start(cls, settings: Settings) -> Platform:
        ids.configure(settings.worker_id)
        cache: Cache
        limiter: RateLimiter
        if settings.uses_redis:
            from casebook.platform.cache_redis import RedisCache
            from casebook.platform.ratelimit_redis import RedisRateLimiter

            cache = RedisCache.from_url(settings.redis_url)
            limiter = RedisRateLimiter.from_url(settings.redis_url)
        else:
            cache = MemoryCache()
            limiter = MemoryRateLimiter()
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            cache=cache,
            rate_limiter=limiter,
        )

    async def close(self) -> None:
        await self.cache.close()
        await self.rate_limiter.close()
        await self.db.dispose()


def get_platform(request: Request) -> Platform:
    """FastAPI dependency: the platform of the app serving this request."""
    platform: Platform = request.app.state.platform
    return platform
