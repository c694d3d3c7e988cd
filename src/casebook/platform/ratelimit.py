"""Rate limiting by GCRA (the generic cell rate algorithm), in-process or on Redis.

A limit is `rate` requests per second with a `burst` allowance. GCRA keeps one number per key, the
theoretical arrival time (TAT), so a check is O(1) in time and memory and needs no background
cleanup beyond a TTL.
"""

from __future__ import annotations

import time
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


def gcra(tat: float, now: float, limit: RateLimit, cost: int) -> tuple[Decision, float]:
    """One GCRA step: the decision and the new TAT to store (unchanged when denied)."""
    interval = limit.emission_interval
    new_tat = max(tat, now) + cost * interval
    allow_at = new_tat - limit.tolerance
    if now < allow_at:
        return Decision(False, 0, allow_at - now), tat
    remaining = int((limit.tolerance - (new_tat - now)) / interval + 1e-9)
    return Decision(True, max(0, remaining), 0.0), new_tat


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision: ...

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
