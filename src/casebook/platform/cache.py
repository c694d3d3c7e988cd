"""Key/value cache: in-process (embedded default) or Redis, one small protocol."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """An LRU cache with per-entry TTL for one process. get/set/delete are O(1).

    Values and expiry times are kept in two maps rather than as a (value, expiry) tuple per
    entry: bytes and floats are not tracked by the cyclic garbage collector, a tuple is. The
    chat gateway's presence sets two keys per socket every heartbeat, so with 10,000 sockets
    the tuples were 20,000 young objects that every young collection walked."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._values: OrderedDict[str, bytes] = OrderedDict()
        """In least-recently-used order."""
        self._expires: dict[str, float] = {}
        """Monotonic expiry of the entries that have one."""
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    def get_now(self, key: str) -> bytes | None:
        """Synchronous lookup, for hot paths that must not yield to the event loop."""
        value = self._values.get(key)
        if value is None:
            return None
        expires = self._expires.get(key)
        if expires is not None and expires < time.monotonic():
            del self._values[key]
            del self._expires[key]
            return None
        self._values.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store `value`, expiring after `ttl` seconds; None or 0 means no expiry."""
        if ttl is not None and ttl < 0:
            raise ValueError("ttl must not be negative")
        self._values[key] = value
        self._values.move_to_end(key)
        if ttl:
            self._expires[key] = time.monotonic() + ttl
        else:
            self._expires.pop(key, None)
        while len(self._values) > self._max:
            evicted, _ = self._values.popitem(last=False)
            self._expires.pop(evicted, None)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)
        self._expires.pop(key, None)

    async def close(self) -> None:
        self._values.clear()
        self._expires.clear()
