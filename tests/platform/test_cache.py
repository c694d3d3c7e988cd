"""The Cache protocol on both adapters: in-process and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from casebook.platform.cache import Cache, MemoryCache
from casebook.platform.cache_redis import RedisCache
from casebook.platform.context import Platform
from casebook.platform.settings import Settings


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    adapter: Cache
    if request.param == "memory":
        adapter = MemoryCache()
    else:
        adapter = RedisCache.from_url(request.getfixturevalue("redis_url"))
        await adapter.client.flushdb()
    yield adapter
    await adapter.close()


async def test_set_then_get_returns_the_bytes_and_delete_removes_them(cache: Cache) -> None:
    assert await cache.get("user:1") is None
    await cache.set("user:1", b"\x00ada\xff")
    assert await cache.get("user:1") == b"\x00ada\xff"
    await cache.set("user:1", b"grace")
    assert await cache.get("user:1") == b"grace"
    await cache.delete("user:1")
    assert await cache.get("user:1") is None
    await cache.delete("user:1")  # deleting a missing key is not an error


async def test_values_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("short", b"1", ttl=0.05)
    await cache.set("forever", b"2", ttl=None)
    await cache.set("zero", b"3", ttl=0)
    assert await cache.get("short") == b"1"
    await asyncio.sleep(0.12)
    assert await cache.get("short") is None
    assert await cache.get("forever") == b"2"
    assert await cache.get("zero") == b"3"


async def test_negative_ttl_is_refused(cache: Cache) -> None:
    with pytest.raises(ValueError):
        await cache.set("k", b"v", ttl=-1)
    assert await cache.get("k") is None


async def test_redis_cache_is_shared_between_clients_and_namespaced(redis_url: str) -> None:
    first = RedisCache.from_url(redis_url)
    second = RedisCache.from_url(redis_url)
    other = RedisCache.from_url(redis_url, prefix="other:")
    try:
        await first.client.flushdb()
        await first.set("link:abc", b"https://example.org", ttl=30)
        assert await second.get("link:abc") == b"https://example.org"
        assert await other.get("link:abc") is None
        assert await first.client.exists("casebook:cache:link:abc") == 1
        ttl_ms = await first.client.pttl("casebook:cache:link:abc")
        assert 29_000 < ttl_ms <= 30_000
        await first.ping()
    finally:
        for cache in (first, second, other):
            await cache.close()


async def test_platform_uses_redis_cache_exactly_when_redis_is_configured(
    platform: Platform,
) -> None:
    if platform.settings.uses_redis:
        assert isinstance(platform.cache, RedisCache)
    else:
        assert isinstance(platform.cache, MemoryCache)
    await platform.cache.set("k", b"v")
    assert await platform.cache.get("k") == b"v"


async def test_a_burst_beyond_the_redis_pool_waits_for_connections(
    redis_url: str, tmp_path: Path
) -> None:
    """More concurrent commands than pooled connections queue instead of failing."""
    settings = Settings(
        var_dir=tmp_path,
        redis_url=redis_url,
        redis_max_connections=3,
        jobs_worker=False,
    )
    platform = Platform.start(settings)
    try:
        await platform.cache.set("burst", b"1")
        values = await asyncio.gather(*(platform.cache.get("burst") for _ in range(60)))
        assert values == [b"1"] * 60
    finally:
        await platform.close()
