"""The `Cache` protocol on Redis, shared by every app process of a cluster.

Keys live under a prefix (`casebook:cache:` by default) so the cache never collides with rate-limit
state, the bus or the job queue in the same Redis database. Each call is one Redis round trip.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis


class RedisCache:
    """Byte values with an optional TTL in Redis.

    `client` may be shared with other adapters; the cache closes it only when it created it
    (`from_url`) or was told it owns it.
    """

    def __init__(
        self, client: Redis, *, prefix: str = "casebook:cache:", owns_client: bool = False
    ) -> None:
        self.client = client
        self._prefix = prefix
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, **kwargs: str) -> RedisCache:
        """A cache with its own connection pool to the Redis at `url` (redis://host:port/db)."""
        return cls(Redis.from_url(url), owns_client=True, **kwargs)

    async def get(self, key: str) -> bytes | None:
        """The value stored at `key`, or None when absent or expired."""
        # Without decode_responses, redis-py returns bytes; its stubs cover both modes.
        return cast(bytes | None, await self.client.get(self._prefix + key))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store `value` at `key`, expiring after `ttl` seconds (millisecond precision).

        `ttl` None or 0 keeps the value until it is deleted or evicted, as `MemoryCache` does.
        Raises ValueError for a negative TTL.
        """
        if ttl is not None and ttl < 0:
            raise ValueError("ttl must not be negative")
        if not ttl:
            await self.client.set(self._prefix + key, value)
            return
        await self.client.set(self._prefix + key, value, px=max(1, round(ttl * 1000)))

    async def delete(self, key: str) -> None:
        await self.client.delete(self._prefix + key)

    async def ping(self) -> None:
        """Raise if Redis does not answer (used by the readiness probe)."""
        await self.client.ping()

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()
