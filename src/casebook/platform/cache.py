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
    """An LRU cache with per-entry TTL for one process. get/set/delete are O(1)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    def get_now(self, key: str) -> bytes | None:
        """Synchronous lookup, for hot paths that must not yield to the event loop."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires and expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store `value`, expiring after `ttl` seconds; None or 0 means no expiry."""
        if ttl is not None and ttl < 0:
            raise ValueError("ttl must not be negative")
        expires = time.monotonic() + ttl if ttl else 0.0
        self._entries[key] = (value, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def close(self) -> None:
        self._entries.clear()
