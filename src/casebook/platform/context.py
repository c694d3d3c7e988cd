"""The running platform: settings plus one adapter per concern, chosen by settings.

`Platform.start(settings)` builds it (SQLite + in-process adapters by default, PostgreSQL + Redis
when configured, S3 blobs when a bucket is set); the app keeps it at `app.state.platform`, and
FastAPI endpoints get it through the `get_platform` dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from redis.asyncio import BlockingConnectionPool, Redis

from casebook.platform import ids
from casebook.platform.blobs import BlobStore, DirectoryBlobStore
from casebook.platform.bus import Bus, MemoryBus, RedisBus
from casebook.platform.cache import Cache, MemoryCache
from casebook.platform.db import Database
from casebook.platform.jobs import JobQueue, MemoryJobQueue, RedisJobQueue
from casebook.platform.ratelimit import MemoryRateLimiter, RateLimiter
from casebook.platform.settings import Settings
from casebook.platform.sms import SimulatedSmsCarrier, SmsGateway


@dataclass
class Platform:
    settings: Settings
    db: Database
    cache: Cache
    rate_limiter: RateLimiter
    bus: Bus
    jobs: JobQueue
    blobs: BlobStore
    redis: Redis | None = None
    """The Redis client shared by cache, rate limits and bus (None in embedded mode)."""
    state: dict[str, Any] = field(default_factory=dict)
    """Per-system process state (e.g. a click buffer), keyed by slug."""
    sms: SmsGateway = field(init=False)
    """Text messages to phones: the simulated carrier (platform/sms.py)."""

    def __post_init__(self) -> None:
        self.sms = SimulatedSmsCarrier(self.db)

    @classmethod
    def start(cls, settings: Settings) -> Platform:
        """Build the adapters `settings` ask for. Connects lazily: nothing is dialled yet."""
        ids.configure(settings.worker_id)
        cache: Cache
        limiter: RateLimiter
        bus: Bus
        jobs: JobQueue
        redis: Redis | None = None
        if settings.uses_redis:
            from casebook.platform.cache_redis import RedisCache
            from casebook.platform.ratelimit_redis import RedisRateLimiter

            # A blocking pool: a burst of commands (a reconnect storm's presence checks) queues
            # for a connection; redis-py's default pool raises at its 100th instead.
            redis = Redis(
                connection_pool=BlockingConnectionPool.from_url(
                    settings.redis_url,
                    max_connections=settings.redis_max_connections,
                    timeout=settings.redis_pool_timeout_seconds,
                )
            )
            cache = RedisCache(redis)
            limiter = RedisRateLimiter(redis)
            bus = RedisBus(redis, queue_size=settings.bus_queue_size)
            # SAQ's workers block on their connections, so the queue gets a pool of its own.
            jobs = RedisJobQueue.from_url(
                settings.redis_url,
                concurrency=settings.jobs_concurrency,
                poll_interval=settings.jobs_poll_interval,
                retention_seconds=settings.jobs_retention_seconds,
                run_worker=settings.jobs_worker,
            )
        else:
            cache = MemoryCache()
            limiter = MemoryRateLimiter()
            bus = MemoryBus(queue_size=settings.bus_queue_size)
            jobs = MemoryJobQueue(concurrency=settings.jobs_concurrency)
        blobs: BlobStore
        if settings.uses_s3_blobs:
            from casebook.platform.blobs_s3 import S3BlobStore

            blobs = S3BlobStore.from_settings(settings)
        else:
            blobs = DirectoryBlobStore(settings.resolved_blob_dir)
        platform = cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            cache=cache,
            rate_limiter=limiter,
            bus=bus,
            jobs=jobs,
            blobs=blobs,
            redis=redis,
        )
        jobs.bind(platform)
        return platform

    async def close(self) -> None:
        """Stop the job workers first (they use everything else), then release the rest.

        Every adapter gets closed even if an earlier one fails; the first failure is re-raised.
        """
        closers = [self.jobs.close, self.bus.close, self.cache.close, self.rate_limiter.close]
        if self.redis is not None:
            closers.append(self.redis.aclose)
        blobs_close = getattr(self.blobs, "close", None)  # the S3 store's connection pool
        if blobs_close is not None:
            closers.append(blobs_close)
        closers.append(self.db.dispose)
        failures: list[Exception] = []
        for close in closers:
            try:
                await close()
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]


async def get_platform(request: Request) -> Platform:
    """FastAPI dependency: the platform of the app serving this request (async: FastAPI would run
    a plain function in a worker thread, a thread hop per request)."""
    platform: Platform = request.app.state.platform
    return platform
