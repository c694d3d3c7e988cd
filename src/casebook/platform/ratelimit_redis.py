"""GCRA rate limiting on Redis: one atomic Lua script per check, shared by every app process.

The script is the step of `casebook.platform.ratelimit.gcra_all` (one or several limits, all or
nothing), evaluated inside Redis so that concurrent hits from any number of processes are
serialised by the server, and it reads the clock with Redis `TIME`, so the clocks of the app
machines never enter the arithmetic. Times are kept in integer microseconds, which a Lua double
holds exactly for the next few centuries. A key expires when its TAT is reached: at that point it
carries no information beyond "no recent requests". Checking several keys in one script costs
one round trip instead of one per key (on a Redis Cluster the keys would have to share a hash
slot; Casebook runs one Redis).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from casebook.platform.ratelimit import Decision, RateLimit, check_hits

# KEYS: the keys holding the theoretical arrival times (TAT, microseconds since the epoch).
# ARGV: cost (cells), then per key its emission interval (µs) and tolerance (µs).
# All or nothing: the TATs are written only when every key allows the cost.
# Returns {allowed (0/1), remaining (the smallest of the keys'), retry_after (µs, the longest of
# the denying keys', as a string: Lua numbers returned to Redis are truncated to integers)}.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local cost = tonumber(ARGV[1])
local new_tats = {}
local remaining = nil
local retry_after = 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then
    tat = now
  end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - tolerance
  if allow_at - now > 1 then  -- 1 µs of slack for rounding (ratelimit.ROUNDING_SLACK)
    retry_after = math.max(retry_after, allow_at - now)
  else
    local left = math.floor((tolerance - (new_tat - now)) / interval + 1e-9)
    if left < 0 then
      left = 0
    end
    if remaining == nil or left < remaining then
      remaining = left
    end
  end
  new_tats[i] = new_tat
end
if retry_after > 0 then
  return {0, 0, string.format('%.17g', retry_after)}
end
for i = 1, #KEYS do
  local ttl_ms = math.max(1, math.ceil((new_tats[i] - now) / 1000))
  redis.call('SET', KEYS[i], string.format('%.17g', new_tats[i]), 'PX', ttl_ms)
end
return {1, remaining, '0'}
"""


class RedisRateLimiter:
    """`RateLimiter` on Redis: `hit` and `hit_many` are one EVALSHA each (the script is loaded
    again if Redis lost it).

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
        return await self.hit_many([(key, limit)], cost)

    async def hit_many(self, hits: Sequence[tuple[str, RateLimit]], cost: int = 1) -> Decision:
        """Count `cost` cells against every (key, limit), all or nothing; one round trip, O(n).

        Raises ValueError for a negative cost, no hits or a repeated key, or
        redis.exceptions.RedisError when Redis fails.
        """
        check_hits(hits, cost)
        args: list[str | int] = [cost]
        for _, limit in hits:
            args += [repr(limit.emission_interval * 1_000_000), repr(limit.tolerance * 1_000_000)]
        allowed, remaining, retry_after_us = await self._script(
            keys=[self._prefix + key for key, _ in hits], args=args
        )
        return Decision(bool(allowed), int(remaining), float(retry_after_us) / 1_000_000)

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()
