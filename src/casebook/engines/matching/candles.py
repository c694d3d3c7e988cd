"""OHLCV candles from trades: 1m, 5m, 1h and 1d bars per instrument, persisted in
`matching_candles`.

The venue's writer calls `record` INSIDE the transaction of each batch, with the batch's TRADE
tuples (types.py), so candles are exactly as durable as the trades. `record` aggregates the trades
per (interval, bucket) in Python — O(trades x intervals) — and writes them with ONE multi-row
upsert whose conflict branch does the arithmetic in SQL (high = greatest, low = least, volume +
excluded.volume, close = excluded.close …): atomic on SQLite and PostgreSQL, no read-modify-write.

Order independence: a bar remembers `first_trade_seq`/`last_trade_seq`, and the upsert takes
`open` from the aggregate with the lower first seq and `close` from the one with the higher last
seq, so concurrent or out-of-order recorders of one instrument still build the exact bar. Each
trade must be recorded once: the writer guarantees it (its journal records a batch's trades in the
same transaction, so a retried batch was rolled back first).

Buckets are aligned to the epoch (UTC): a 1d bar starts at 00:00 UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, cast

from sqlalchemy import Table, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.marketdata import Scale
from casebook.engines.matching.md_models import MatchingCandle
from casebook.engines.matching.types import TRADE

MINUTE = 60 * 10**9
INTERVALS: dict[str, int] = {"1m": MINUTE, "5m": 5 * MINUTE, "1h": 60 * MINUTE, "1d": 1440 * MINUTE}
"""Interval name → length in ns."""
DAY = INTERVALS["1d"]
MAX_QUERY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar: prices in ticks, volume in lots, quote_volume in quote minor units."""

    interval: str
    bucket: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trade_count: int
    first_trade_seq: int
    last_trade_seq: int

    def merged(self, later: Candle) -> Candle:
        """This bar followed by `later` (same interval and bucket, later trades)."""
        if (later.interval, later.bucket) != (self.interval, self.bucket):
            raise ValueError("only bars of one interval and bucket merge")
        return replace(
            self,
            high=max(self.high, later.high),
            low=min(self.low, later.low),
            close=later.close,
            volume=self.volume + later.volume,
            quote_volume=self.quote_volume + later.quote_volume,
            trade_count=self.trade_count + later.trade_count,
            last_trade_seq=later.last_trade_seq,
        )

    def as_dict(self, scale: Scale | None = None) -> dict[str, Any]:
        """The JSON view: ticks/lots as ints, `open_ns`/`close_ns` bounds, decimal strings when a
        scale is given."""
        out: dict[str, Any] = {
            "interval": self.interval,
            "open_time": self.bucket,
            "close_time": self.bucket + INTERVALS[self.interval] - 1,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "quote_volume": self.quote_volume,
            "trade_count": self.trade_count,
        }
        if scale is not None:
            for name in ("open", "high", "low", "close"):
                out[f"{name}_text"] = scale.price_text(out[name])
            out["volume_text"] = scale.qty_text(self.volume)
            out["quote_volume_text"] = scale.quote_text(self.quote_volume)
        return out


def bucket_start(ts: int, interval: str) -> int:
    """The start (ns) of the `interval` bar holding `ts`; KeyError for an unknown interval."""
    length = INTERVALS[interval]
    return ts - ts % length


def aggregate(
    trades: Iterable[tuple[Any, ...]], npl: int, intervals: Iterable[str] = INTERVALS
) -> dict[tuple[str, int], Candle]:
    """The bars the TRADE tuples (in trade_seq order) make, by (interval, bucket).

    Pure; O(trades x intervals). Raises ValueError for a non-TRADE tuple or npl < 1."""
    if npl < 1:
        raise ValueError("npl must be a positive integer")
    names = tuple(intervals)
    bars: dict[tuple[str, int], Candle] = {}
    for trade in trades:
        if trade[0] != TRADE:
            raise ValueError(f"not a TRADE event: kind {trade[0]!r}")
        seq, price, qty, ts = trade[1], trade[7], trade[8], trade[11]
        one = Candle("", 0, price, price, price, price, qty, price * qty * npl, 1, seq, seq)
        for interval in names:
            key = (interval, bucket_start(ts, interval))
            held = bars.get(key)
            here = replace(one, interval=interval, bucket=key[1])
            bars[key] = here if held is None else held.merged(here)
    return bars


_KEY = ("venue", "instrument_id", "interval", "bucket")


def _merge(table: Table, new: Any, greatest: Any, least: Any) -> dict[str, Any]:
    """The conflict branch: the stored bar merged with the incoming aggregate `new`, in SQL."""
    return {
        "high": greatest(table.c.high, new.high),
        "low": least(table.c.low, new.low),
        "open": case((new.first_trade_seq < table.c.first_trade_seq, new.open), else_=table.c.open),
        "close": case(
            (new.last_trade_seq > table.c.last_trade_seq, new.close), else_=table.c.close
        ),
        "volume": table.c.volume + new.volume,
        "quote_volume": table.c.quote_volume + new.quote_volume,
        "trade_count": table.c.trade_count + new.trade_count,
        "first_trade_seq": least(table.c.first_trade_seq, new.first_trade_seq),
        "last_trade_seq": greatest(table.c.last_trade_seq, new.last_trade_seq),
    }


def _row(venue: str, instrument_id: int, bar: Candle) -> dict[str, Any]:
    return {
        "venue": venue,
        "instrument_id": instrument_id,
        "interval": bar.interval,
        "bucket": bar.bucket,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "quote_volume": bar.quote_volume,
        "trade_count": bar.trade_count,
        "first_trade_seq": bar.first_trade_seq,
        "last_trade_seq": bar.last_trade_seq,
    }


async def record(
    session: AsyncSession,
    venue: str,
    instrument_id: int,
    npl: int,
    trades: Iterable[tuple[Any, ...]],
) -> list[Candle]:
    """Add the batch's TRADE tuples to the bars (each trade exactly once, in any order across
    calls; in trade_seq order within one call); returns the batch's own aggregates.

    One multi-row upsert (no statement when there are no trades), in the caller's transaction;
    O(trades x intervals) in Python. Raises ValueError for a non-TRADE tuple or npl < 1."""
    bars = aggregate(trades, npl)
    if not bars:
        return []
    table = cast(Table, MatchingCandle.__table__)
    rows = [_row(venue, instrument_id, bar) for bar in bars.values()]
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(table).values(rows)
        statement: Any = pg.on_conflict_do_update(
            index_elements=_KEY, set_=_merge(table, pg.excluded, func.greatest, func.least)
        )
    else:
        lite = sqlite.insert(table).values(rows)
        # SQLite's two-argument max()/min() are the scalar greatest/least.
        statement = lite.on_conflict_do_update(
            index_elements=_KEY, set_=_merge(table, lite.excluded, func.max, func.min)
        )
    await session.execute(statement)
    return list(bars.values())


def _candle(row: MatchingCandle) -> Candle:
    return Candle(
        interval=row.interval,
        bucket=row.bucket,
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        quote_volume=row.quote_volume,
        trade_count=row.trade_count,
        first_trade_seq=row.first_trade_seq,
        last_trade_seq=row.last_trade_seq,
    )


async def query(
    session: AsyncSession,
    venue: str,
    instrument_id: int,
    interval: str,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
) -> list[Candle]:
    """The bars of `interval` whose start lies in [start_ns, end_ns], oldest first, at most
    `limit` (1..MAX_QUERY_LIMIT). With no start the LATEST `limit` bars up to end_ns are
    returned. O(log n + limit) on the primary key. Raises ValueError for an unknown interval or
    a limit out of range."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_QUERY_LIMIT}")
    table = MatchingCandle
    statement = select(table).where(
        table.venue == venue, table.instrument_id == instrument_id, table.interval == interval
    )
    if end_ns is not None:
        statement = statement.where(table.bucket <= end_ns)
    if start_ns is not None:
        statement = statement.where(table.bucket >= start_ns).order_by(table.bucket).limit(limit)
        return [_candle(row) for row in (await session.scalars(statement)).all()]
    statement = statement.order_by(table.bucket.desc()).limit(limit)
    return [_candle(row) for row in reversed((await session.scalars(statement)).all())]


async def bar(
    session: AsyncSession, venue: str, instrument_id: int, interval: str, bucket: int
) -> Candle | None:
    """One bar by its key, or None; O(log n)."""
    row = await session.get(MatchingCandle, (venue, instrument_id, interval, bucket))
    return None if row is None else _candle(row)


@dataclass(frozen=True, slots=True)
class Ticker:
    """Rolling 24 h statistics (over the 1m bars that started within the last 24 h)."""

    open: int
    high: int
    low: int
    last: int
    volume: int
    quote_volume: int
    trade_count: int
    window_start: int
    window_end: int

    @property
    def change(self) -> int:
        """last - open, in ticks."""
        return self.last - self.open

    def change_percent(self) -> str:
        """(last - open) / open x 100 as a decimal string with 2 places (half-even)."""
        percent = Decimal(self.change * 100) / Decimal(self.open)
        return str(percent.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


async def ticker(
    session: AsyncSession, venue: str, instrument_id: int, now_ns: int
) -> Ticker | None:
    """The 24 h ticker at `now_ns` from the 1m bars, or None when nothing traded in the window.
    Three index range reads over at most 1,440 bars."""
    table = MatchingCandle
    start = bucket_start(now_ns - DAY, "1m") + MINUTE
    window = (
        table.venue == venue,
        table.instrument_id == instrument_id,
        table.interval == "1m",
        table.bucket >= start,
        table.bucket <= now_ns,
    )
    totals = (
        await session.execute(
            select(
                func.max(table.high),
                func.min(table.low),
                func.sum(table.volume),
                func.sum(table.quote_volume),
                func.sum(table.trade_count),
            ).where(*window)
        )
    ).one()
    if totals[0] is None:
        return None
    first = await session.scalar(select(table.open).where(*window).order_by(table.bucket).limit(1))
    last = await session.scalar(
        select(table.close).where(*window).order_by(table.bucket.desc()).limit(1)
    )
    assert first is not None and last is not None  # the window holds a bar (totals above)
    return Ticker(
        open=first,
        high=int(totals[0]),
        low=int(totals[1]),
        last=last,
        volume=int(totals[2]),
        quote_volume=int(totals[3]),
        trade_count=int(totals[4]),
        window_start=start,
        window_end=now_ns,
    )
