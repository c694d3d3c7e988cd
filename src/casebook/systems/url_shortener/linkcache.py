"""Cache-first resolution of a short code to its redirect target.

A cache entry is a few bytes in `platform.cache` under `urlshortener:<domain_id>:<code>`:

- `-`: no such code (negative entry, short TTL, so a flood of bad codes does not reach the DB);
- `=`: a pointer meaning "this spelling is not a generated code; look up its lower-case form",
  written when a mixed-case 7-character spelling turns out to name a case-insensitive alias;
- otherwise `link_id \\t status \\t expires_at \\t stale_after \\t location`: `status` 301/302 for
  a live link or 410 for a deleted one; `expires_at` the epoch second after which the link
  answers 410 (0: never); `stale_after` the epoch second at which the inactivity deadline
  computed when the entry was written passes; the entry is then re-read from the database,
  because clicks flushed since may have moved the deadline.

Reading an entry is O(1) (process memory first, then Redis when configured); a miss costs one
indexed SELECT. Every write to a link invalidates its
entry (`invalidate`), so edits and deletions take effect at once in this process and, with Redis,
in every process.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import datetime, timedelta
from typing import NamedTuple

import structlog
from sqlalchemy import select

from casebook.platform.cache import Cache, MemoryCache
from casebook.platform.context import Platform
from casebook.platform.errors import Problem
from casebook.systems.url_shortener.codes import CODE_LENGTH
from casebook.systems.url_shortener.config import ShortenerSettings
from casebook.systems.url_shortener.errors import LinkDeleted, LinkExpired, LinkNotFound
from casebook.systems.url_shortener.models import Link

log = structlog.get_logger("casebook.url_shortener.linkcache")

UNKNOWN = b"-"
LOWERCASE_POINTER = b"="
GONE = 410


class Target(NamedTuple):
    link_id: int
    status: int
    """301 or 302 for a live link; 410 for a deleted one."""
    expires_at: float
    """Epoch seconds after which the link is expired (0.0: never)."""
    stale_after: float
    """Epoch seconds after which this entry must be re-read from the database."""
    location: bytes


def refusal(target: Target | None, code: str, now: float) -> Problem | None:
    """Why `target` (the lookup of `code`) cannot be followed, or None for a live link."""
    if target is None:
        return LinkNotFound(f"There is no short link {code!r}.")
    if target.status == GONE:
        return LinkDeleted(f"The short link {code!r} was deleted.")
    if target.expires_at and now >= target.expires_at:
        return LinkExpired(f"The short link {code!r} has expired.")
    return None


def encode_target(target: Target) -> bytes:
    return b"%d\t%d\t%r\t%r\t%s" % (
        target.link_id,
        target.status,
        target.expires_at,
        target.stale_after,
        target.location,
    )


def decode_target(raw: bytes) -> Target:
    """Parse an entry written by `encode_target`. O(len(raw))."""
    link_id, status, expires_at, stale_after, location = raw.split(b"\t", 4)
    return Target(int(link_id), int(status), float(expires_at), float(stale_after), location)


def cache_key(domain_id: int, code: str) -> str:
    return f"urlshortener:{domain_id}:{code}"


def could_be_generated(code: str) -> bool:
    """Whether `code` has the shape of a generated code (7 base62 characters). O(len(code))."""
    return len(code) == CODE_LENGTH and code.isascii() and code.isalnum()


def lookup_spelling(code: str) -> str:
    """The spelling to look up: aliases are stored lower-case, so a spelling that cannot be a
    generated code is folded to lower case at once; a generated-looking one is kept as typed."""
    return code if could_be_generated(code) else code.lower()


def target_for(
    link: Link | _LinkRow, now: datetime, default_inactivity_days: int, cache_ttl: float
) -> Target:
    """The cache entry for a link row as of `now`."""
    if link.deleted_at is not None:
        return Target(link.id, GONE, 0.0, time.time() + cache_ttl, b"")
    days = link.inactivity_days or default_inactivity_days
    deadline = (link.last_click_at or link.created_at) + timedelta(days=days)
    expires = link.expires_at
    stale_after = deadline.timestamp()
    if deadline <= now:
        # Inactive past its deadline: expired from that moment on, whatever clicks come later
        # (an expired link records no clicks), so the entry can live its full TTL.
        expires = deadline if expires is None else min(expires, deadline)
        stale_after = now.timestamp() + cache_ttl
    return Target(
        link.id,
        link.redirect_type,
        expires.timestamp() if expires is not None else 0.0,
        stale_after,
        link.target_url.encode("ascii"),
    )


class _LinkRow(NamedTuple):
    id: int
    code: str
    target_url: str
    redirect_type: int
    created_at: datetime
    expires_at: datetime | None
    inactivity_days: int | None
    last_click_at: datetime | None
    deleted_at: datetime | None


_COLUMNS = (
    Link.id,
    Link.code,
    Link.target_url,
    Link.redirect_type,
    Link.created_at,
    Link.expires_at,
    Link.inactivity_days,
    Link.last_click_at,
    Link.deleted_at,
)


class LinkCache:
    """Resolves (domain, code) to a `Target`: from process memory, then the shared cache (Redis,
    when configured), then the database.

    Embedded, `platform.cache` is itself in process memory and is the only tier. With Redis,
    `local` is a second, process-local tier holding what this process read for
    `local_cache_ttl_seconds`, so a hot code costs no round trip; an edit drops the entry from
    this process's memory and from Redis at once, and other processes' copies age out within that
    TTL.
    """

    def __init__(self, platform: Platform, config: ShortenerSettings) -> None:
        self.platform = platform
        self.config = config
        cache = platform.cache
        self.shared: Cache | None = None if isinstance(cache, MemoryCache) else cache
        self.local: MemoryCache = cache if isinstance(cache, MemoryCache) else MemoryCache()
        """Read synchronously by the fast path (`get_now`), without awaiting."""
        self._redeletes: deque[tuple[float, str]] = deque()
        """(monotonic due time, key) of second drops, in due order (one fixed delay)."""
        self._redeleter: asyncio.Task[None] | None = None

    async def shared_entry(self, key: str) -> bytes | None:
        """The shared cache's entry for `key` (None when embedded), copied to process memory."""
        if self.shared is None:
            return None
        raw = await self.shared.get(key)
        if raw is not None:
            await self.local.set(key, raw, self.config.local_cache_ttl_seconds)
        return raw

    async def get_entry(self, key: str) -> bytes | None:
        """The cached entry for `key` from either tier, or None."""
        raw = self.local.get_now(key)
        return raw if raw is not None else await self.shared_entry(key)

    async def _store(self, key: str, value: bytes, ttl: float) -> None:
        if self.shared is not None:
            await self.shared.set(key, value, ttl)
            ttl = min(ttl, self.config.local_cache_ttl_seconds)
        await self.local.set(key, value, ttl)

    async def _drop(self, key: str) -> None:
        await self.local.delete(key)
        if self.shared is not None:
            await self.shared.delete(key)

    async def resolve(self, domain_id: int, code: str) -> Target | None:
        """The target of `code` on `domain_id`, or None when there is no such link.

        Expiry is not applied here: the caller compares `expires_at` with the clock. O(1) on a
        cache hit; one indexed query on a miss or a stale entry.
        """
        spelling = lookup_spelling(code)
        raw = await self.get_entry(cache_key(domain_id, spelling))
        if raw == LOWERCASE_POINTER:
            spelling = spelling.lower()
            raw = await self.get_entry(cache_key(domain_id, spelling))
        if raw == UNKNOWN:
            return None
        if raw is not None:
            target = decode_target(raw)
            if target.stale_after > time.time():
                return target
        return await self.load(domain_id, spelling)

    async def load(self, domain_id: int, spelling: str) -> Target | None:
        """Read the link from the database and cache what was found (or that nothing was)."""
        lower = spelling.lower()
        candidates = {spelling, lower}
        async with self.platform.db.engine.connect() as conn:
            result = await conn.execute(
                select(*_COLUMNS).where(Link.domain_id == domain_id, Link.code.in_(candidates))
            )
            rows = [_LinkRow(*row) for row in result]
        key = cache_key(domain_id, spelling)
        exact = next((r for r in rows if r.code == spelling), None)
        if exact is None and spelling != lower and rows:
            # A mixed-case spelling of an alias: remember to look at the alias itself, whose
            # entry is the one that edits invalidate.
            await self._store(key, LOWERCASE_POINTER, self.config.cache_ttl_seconds)
            key, exact = cache_key(domain_id, lower), rows[0]
        if exact is None:
            await self._store(key, UNKNOWN, self.config.negative_cache_ttl_seconds)
            return None
        now = datetime.now(tz=exact.created_at.tzinfo)
        target = target_for(exact, now, self.config.inactivity_days, self.config.cache_ttl_seconds)
        await self._store(key, encode_target(target), self.config.cache_ttl_seconds)
        return target

    async def invalidate(self, domain_id: int, code: str) -> None:
        """Forget what is cached for `code`; call after a write to the link has committed.

        The entry is dropped now and once more `cache_redelete_seconds` later: a redirect that
        read the old row just before the commit could otherwise cache it just after this drop
        and serve it for a whole TTL. The second drops wait in one queue drained by one task,
        one key after another: a burst of writes never opens a burst of connections to the
        shared cache. O(1) here.
        """
        key = cache_key(domain_id, code)
        await self._drop(key)
        self._redeletes.append((time.monotonic() + self.config.cache_redelete_seconds, key))
        if self._redeleter is None or self._redeleter.done():
            self._redeleter = asyncio.get_running_loop().create_task(
                self._drop_again(), name="url-shortener-redelete"
            )

    async def _drop_again(self) -> None:
        while self._redeletes:
            due, key = self._redeletes[0]
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._drop(key)
            except Exception:
                # The shared cache being unreachable must not stop the later drops; the entry
                # then ages out with its TTL, as any entry the first drop could not reach.
                log.exception("second drop of a cache entry failed", key=key)
            # Removed only once done: if `close` cancels us mid-drop, it drops the key itself.
            self._redeletes.popleft()

    async def close(self) -> None:
        """Do the pending second drops at once (on shutdown) instead of after their delay."""
        if self._redeleter is not None:
            self._redeleter.cancel()
            await asyncio.gather(self._redeleter, return_exceptions=True)
            self._redeleter = None
        while self._redeletes:
            _, key = self._redeletes.popleft()
            await self._drop(key)
