"""GCRA rate limiting on Redis: one atomic Lua script per hit, shared by every app process.

The script is the same step as `casebook.platform.ratelimit.gcra`, evaluated inside Redis so that
concurrent hits from any number of processes are serialised by the server, and it reads the clock
with Redis `TIME`, so the clocks of the app machines never enter the arithmetic. Times are kept in
integer microseconds, which a Lua double holds exactly for the next few centuries. The key expires
when its TAT is reached: at that point it carries no information beyond "no recent requests".
"""

from __future__ import annotations

from redis.asyncio import Redis

from casebook.platform.ratelimit import Decision, RateLimit

# KEYS[1]: the key holding the theoretical arrival time (TAT, microseconds since the epoch).
# ARGV: emission interval (µs), tolerance (µs), cost (cells).
# Returns {allowed (0/1), remaining, retry_after (µs, as a string: Lua numbers returned to Redis
# are truncated to integers)}.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local new_tat = tat + cost * interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, string.format('%.17g', allow_at - now)}
end
local remaining = math.floor((tolerance - (new_tat - now)) / interval + 1e-9)
if remaining < 0 then
  remaining = 0
end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', ttl_ms)
return {1, remaining, '0'}
"""


class RedisRateLimiter:
    """`RateLimiter` on Redis: `hit` is one EVALSHA (the script is loaded again if Redis lost it).

    `client` may be shared with other adapters; it is closed here only when owned.
    """

    def __init__(
        self, client: Redis, *, prefix: str = "casebook:rl:", owns_client: bool = False
    ) -> None:
        self.client = client
        self._prefix = prefix
        self._owns_client = owns_client
        # register_script runs EVALSHA and falls back to SCRIPT LOAD on NOSCRIPT (e.g. after a
        # Redis restart or failover), so the script text crosses the wire once per server.
        self._script = client.register_script(GCRA_SCRIPT)

    @classmethod
    def from_url(cls, url: str, **kwargs: str) -> RedisRateLimiter:
        """A limiter with its own connection pool to the Redis at `url`."""
        return cls(Redis.from_url(url), owns_client=True, **kwargs)

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        """Count `cost` cells against `key` under `limit`; one Redis round trip, O(1).

        Raises ValueError for a negative cost, or redis.exceptions.RedisError when Redis fails.
        """
        if cost < 0:
            raise ValueError("cost must not be negative")
        interval_us = limit.emission_interval * 1_000_000
        tolerance_us = limit.tolerance * 1_000_000
        allowed, remaining, retry_after_us = await self._script(
            keys=[self._prefix + key], args=[repr(interval_us), repr(tolerance_us), cost]
        )
        return Decision(bool(allowed), int(remaining), float(retry_after_us) / 1_000_000)

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()
