"""Rate limiting by GCRA (the generic cell rate algorithm), in-process or on Redis.

A limit is `rate` requests per second with a `burst` allowance. GCRA keeps one number per key, the
theoretical arrival time (TAT), so a check is O(1) in time and memory and needs no background
cleanup beyond a TTL.

A request often counts against several limits at once (per IP and per API key). `hit_many`
checks them together, all or nothing: the request is allowed only if every limit allows it, and
only then is it counted against each; a request refused by one limit spends nothing of the
others. On Redis that is one script call, so one round trip however many limits apply.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from casebook.platform.errors import TooManyRequests


@dataclass(frozen=True)
class RateLimit:
    rate: float
    """Sustained requests per second."""
    burst: int
    """Requests allowed at once on top of the sustained rate (at least 1)."""

    @classmethod
    def per_minute(cls, count: int, burst: int | None = None) -> RateLimit:
        return cls(rate=count / 60.0, burst=burst if burst is not None else count)

    @property
    def emission_interval(self) -> float:
        return 1.0 / self.rate

    @property
    def tolerance(self) -> float:
        return self.emission_interval * max(1, self.burst)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float
    """Seconds until this request would be allowed (0 when allowed)."""


ROUNDING_SLACK = 1e-6
"""Seconds by which a hit may seem early and still be allowed: `now + interval - tolerance`
rounds a hair past `now` for some clock values, which denied the hit that exactly fills the
burst (the first hit of a one-request burst) about once in 600."""


def gcra(tat: float, now: float, limit: RateLimit, cost: int) -> tuple[Decision, float]:
    """One GCRA step: the decision and the new TAT to store (unchanged when denied)."""
    interval = limit.emission_interval
    new_tat = max(tat, now) + cost * interval
    allow_at = new_tat - limit.tolerance
    if allow_at - now > ROUNDING_SLACK:
        return Decision(False, 0, allow_at - now), tat
    remaining = int((limit.tolerance - (new_tat - now)) / interval + 1e-9)
    return Decision(True, max(0, remaining), 0.0), new_tat


def gcra_all(
    tats: Sequence[float], now: float, limits: Sequence[RateLimit], cost: int
) -> tuple[Decision, list[float]]:
    """GCRA over several limits at once, all or nothing: the combined decision and the TATs to
    store (all unchanged when any limit denies). Allowed: `remaining` is the smallest of the
    limits'. Denied: `retry_after` is the longest wait of the limits that deny. O(n)."""
    steps = [gcra(tat, now, limit, cost) for tat, limit in zip(tats, limits, strict=True)]
    denied = [decision.retry_after for decision, _ in steps if not decision.allowed]
    if denied:
        return Decision(False, 0, max(denied)), list(tats)
    remaining = min((decision.remaining for decision, _ in steps), default=0)
    return Decision(True, remaining, 0.0), [tat for _, tat in steps]


def check_hits(hits: Sequence[tuple[str, RateLimit]], cost: int) -> None:
    """Raise ValueError for a negative cost, no hits, or a key named twice."""
    if cost < 0:
        raise ValueError("cost must not be negative")
    if not hits:
        raise ValueError("at least one (key, limit) is needed")
    if len({key for key, _ in hits}) != len(hits):
        raise ValueError("each key may be hit once per call")


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision: ...

    async def hit_many(self, hits: Sequence[tuple[str, RateLimit]], cost: int = 1) -> Decision:
        """Count `cost` against every (key, limit) of `hits`, all or nothing (module docstring).

        Raises ValueError for a negative cost, an empty `hits` or a repeated key.
        """
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """GCRA state in a dict for one process; expired keys are dropped as they are touched."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        if cost < 0:
            raise ValueError("cost must not be negative")
        now = time.monotonic()
        decision, tat = gcra(self._tat.get(key, now), now, limit, cost)
        self._tat[key] = tat
        if len(self._tat) > 100_000:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        return decision

    async def hit_many(self, hits: Sequence[tuple[str, RateLimit]], cost: int = 1) -> Decision:
        check_hits(hits, cost)
        now = time.monotonic()
        keys = [key for key, _ in hits]
        tats = [self._tat.get(key, now) for key in keys]
        decision, new_tats = gcra_all(tats, now, [limit for _, limit in hits], cost)
        if decision.allowed:
            self._tat.update(zip(keys, new_tats, strict=True))
            if len(self._tat) > 100_000:
                self._tat = {k: v for k, v in self._tat.items() if v > now}
        return decision

    async def close(self) -> None:
        self._tat.clear()


@runtime_checkable
class HasRateLimiter(Protocol):
    """Anything carrying a limiter, such as `casebook.platform.context.Platform`."""

    @property
    def rate_limiter(self) -> RateLimiter: ...


async def enforce(
    limiter: RateLimiter | HasRateLimiter, key: str, limit: RateLimit, cost: int = 1
) -> Decision:
    """Count one request (or `cost` of them) against `key`; raise when over `limit`.

    `limiter` is a `RateLimiter` or the platform holding one. Returns the decision when allowed
    (its `remaining` can go into a response header); raises `TooManyRequests` — a 429 with
    `Retry-After` — when denied. Keys name who is limited and for what, e.g.
    `f"login:{ip}"` or `f"url-shortener:create:{user_id}"`.
    """
    target: RateLimiter = limiter.rate_limiter if isinstance(limiter, HasRateLimiter) else limiter
    decision = await target.hit(key, limit, cost)
    if not decision.allowed:
        raise TooManyRequests(decision.retry_after)
    return decision


async def enforce_all(
    limiter: RateLimiter | HasRateLimiter, hits: Sequence[tuple[str, RateLimit]], cost: int = 1
) -> Decision:
    """`enforce` for a request that counts against several limits: one check of all of them
    (`RateLimiter.hit_many`: all or nothing, one Redis round trip). Returns the combined decision
    when every limit allows; raises `TooManyRequests` with the longest wait when any denies,
    having counted the request against none of them."""
    target: RateLimiter = limiter.rate_limiter if isinstance(limiter, HasRateLimiter) else limiter
    decision = await target.hit_many(hits, cost)
    if not decision.allowed:
        raise TooManyRequests(decision.retry_after)
    return decision
