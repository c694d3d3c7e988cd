"""Per-link click analytics: clicks over time and the top referrers, countries and agents.

Clicks are stored rolled up per (link, hour, referrer host, country, agent family)
(`models.ClickCount`), so bucketing is `SUM(clicks) … GROUP BY hour` or `GROUP BY hour / 24` on
both SQLite and PostgreSQL, over the leading `(link_id, hour)` columns of the primary key.
Buckets are whole UTC hours or days covering [since, until); empty buckets are filled with
zeros. Clicks still in a process's buffer (at most about a second's worth) are not counted yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.errors import InvalidInput
from casebook.systems.url_shortener.models import ClickCount

Granularity = Literal["hour", "day"]
MAX_BUCKETS = {"hour": 24 * 31, "day": 3 * 366}
"""At most 31 days of hourly buckets or about 3 years of daily ones per request."""
DEFAULT_WINDOW = {"hour": timedelta(hours=48), "day": timedelta(days=30)}
TOP = 10


class InvalidRange(InvalidInput):
    type_ = "url-shortener/invalid-range"
    title = "Invalid analytics range"


@dataclass(frozen=True)
class ClickStats:
    since: datetime
    until: datetime
    series: list[tuple[datetime, int]]
    referrers: list[tuple[str | None, int]]
    countries: list[tuple[str | None, int]]
    agents: list[tuple[str | None, int]]

    @property
    def clicks_in_range(self) -> int:
        return sum(count for _, count in self.series)


def bucket_range(
    granularity: Granularity, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[int, int]:
    """[first, end) bucket numbers (hours or days since the epoch) covering [since, until).

    Raises InvalidRange when until is not after since or the range has too many buckets.
    """
    until = until or now
    since = since or until - DEFAULT_WINDOW[granularity]
    if until <= since:
        raise InvalidRange("until must be after since.")
    size = 3600 if granularity == "hour" else 86400
    first = int(since.timestamp() // size)
    end = -int(-until.timestamp() // size)
    if end - first > MAX_BUCKETS[granularity]:
        raise InvalidRange(
            f"At most {MAX_BUCKETS[granularity]} {granularity} buckets per request; "
            "narrow the range or use day buckets."
        )
    return first, end


async def click_stats(
    session: AsyncSession,
    link_id: int,
    granularity: Granularity,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ClickStats:
    """The clicks of `link_id` per bucket and its top-10 referrers, countries and agents.

    Four grouped queries over the (link_id, hour) range of the rollup's primary key.
    Raises InvalidRange.
    """
    first, end = bucket_range(granularity, since, until, datetime.now(UTC))
    per_day = granularity == "day"
    first_hour, end_hour = (first * 24, end * 24) if per_day else (first, end)
    in_range = (
        ClickCount.link_id == link_id,
        ClickCount.hour >= first_hour,
        ClickCount.hour < end_hour,
    )
    bucket: Any = (ClickCount.hour // 24) if per_day else ClickCount.hour
    counts = dict(
        (int(b), int(n))
        for b, n in await session.execute(
            select(bucket.label("bucket"), func.sum(ClickCount.clicks))
            .where(*in_range)
            .group_by(bucket)
        )
    )
    size = timedelta(days=1) if per_day else timedelta(hours=1)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    series = [(epoch + b * size, counts.get(b, 0)) for b in range(first, end)]

    async def top(column: Any) -> list[tuple[str | None, int]]:
        clicks = func.sum(ClickCount.clicks).label("clicks")
        rows = await session.execute(
            select(column, clicks)
            .where(*in_range)
            .group_by(column)
            .order_by(clicks.desc(), column)
            .limit(TOP)
        )
        # '' is the rollup key's "none" (no Referer, no country header).
        return [(value or None, int(n)) for value, n in rows]

    return ClickStats(
        since=epoch + first * size,
        until=epoch + end * size,
        series=series,
        referrers=await top(ClickCount.referrer_host),
        countries=await top(ClickCount.country),
        agents=await top(ClickCount.agent),
    )
