"""Candles: pure aggregation, then the persisted upsert on the test backend (SQLite or PostgreSQL):
increments are atomic under concurrent recorders, a re-recorded batch changes nothing, queries
and the 24 h ticker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from casebook.engines.matching import candles
from casebook.engines.matching.candles import MINUTE, Candle, aggregate, bucket_start
from casebook.engines.matching.types import TRADE, Side
from casebook.platform.context import Platform

VENUE = "stock-exchange"
T0 = 1_700_000_000 * 10**9 - (1_700_000_000 * 10**9) % (1440 * MINUTE)  # a UTC midnight


def trade(seq: int, price: int, qty: int, ts: int) -> tuple[Any, ...]:
    return (TRADE, seq, 1, 2, 3, 4, int(Side.BUY), price, qty, 0, 0, ts)


def test_aggregate_makes_one_bar_per_interval_and_bucket() -> None:
    trades = [
        trade(1, 100, 2, T0 + 5 * 10**9),
        trade(2, 104, 1, T0 + 30 * 10**9),
        trade(3, 99, 3, T0 + 59 * 10**9),
        trade(4, 101, 1, T0 + MINUTE),  # the next minute, same 5m/1h/1d bar
    ]
    bars = aggregate(trades, npl=1)
    assert set(bars) == {
        ("1m", T0),
        ("1m", T0 + MINUTE),
        ("5m", T0),
        ("1h", T0),
        ("1d", T0),
    }
    assert bars[("1m", T0)] == Candle("1m", T0, 100, 104, 99, 99, 6, 200 + 104 + 297, 3, 1, 3)
    day = bars[("1d", T0)]
    assert (day.open, day.high, day.low, day.close, day.volume, day.trade_count) == (
        100,
        104,
        99,
        101,
        7,
        4,
    )
    assert aggregate([trade(1, 10, 3, T0)], npl=1000)[("1m", T0)].quote_volume == 30_000


def test_bucket_start_aligns_to_the_epoch() -> None:
    assert bucket_start(T0 + 7 * MINUTE + 3, "5m") == T0 + 5 * MINUTE
    assert bucket_start(T0 + 23 * 60 * MINUTE, "1d") == T0
    with pytest.raises(KeyError):
        bucket_start(T0, "2m")
    with pytest.raises(ValueError):
        aggregate([(99, 1)], npl=1)


async def test_record_accumulates_batches_across_transactions(platform: Platform) -> None:
    first = [trade(1, 100, 2, T0 + 1), trade(2, 103, 1, T0 + 2)]
    second = [trade(3, 97, 4, T0 + 3), trade(4, 101, 1, T0 + MINUTE + 1)]
    async with platform.db.session() as session:
        assert await candles.record(session, VENUE, 1, 1, first)
    async with platform.db.session() as session:
        await candles.record(session, VENUE, 1, 1, second)
        assert await candles.record(session, VENUE, 1, 1, []) == []  # nothing to write
    async with platform.db.session() as session:
        minutes = await candles.query(session, VENUE, 1, "1m", T0, None, 10)
        day = await candles.bar(session, VENUE, 1, "1d", T0)
        other = await candles.query(session, "binance", 1, "1m", T0, None, 10)
    assert minutes == [
        Candle("1m", T0, 100, 103, 97, 97, 7, 200 + 103 + 388, 3, 1, 3),
        Candle("1m", T0 + MINUTE, 101, 101, 101, 101, 1, 101, 1, 4, 4),
    ]
    assert day == Candle("1d", T0, 100, 103, 97, 101, 8, 200 + 103 + 388 + 101, 4, 1, 4)
    assert other == []  # another venue's bars are its own


async def test_concurrent_out_of_order_recorders_build_the_exact_bar(platform: Platform) -> None:
    # 40 trades of one instrument in one minute, recorded as 20 batches by 20 concurrent
    # transactions that commit in no particular order: the bars equal the single-batch aggregate.
    trades = [trade(seq, 100 + (seq * 37) % 23, 1 + seq % 4, T0 + seq) for seq in range(1, 41)]
    batches = [trades[i : i + 2] for i in range(0, 40, 2)]

    async def recorder(batch: list[tuple[Any, ...]]) -> None:
        async with platform.db.session(write=True) as session:
            await candles.record(session, VENUE, 1, 3, batch)

    await asyncio.gather(*(recorder(batch) for batch in reversed(batches)))
    expected = aggregate(trades, npl=3)
    async with platform.db.session() as session:
        for (interval, bucket), bar in expected.items():
            assert await candles.bar(session, VENUE, 1, interval, bucket) == bar


async def test_query_pages_by_time_and_returns_the_latest_without_a_start(
    platform: Platform,
) -> None:
    async with platform.db.session() as session:
        await candles.record(
            session, VENUE, 1, 1, [trade(i + 1, 100 + i, 1, T0 + i * MINUTE) for i in range(10)]
        )
    async with platform.db.session() as session:
        window = await candles.query(session, VENUE, 1, "1m", T0 + 2 * MINUTE, T0 + 4 * MINUTE, 10)
        assert [c.open for c in window] == [102, 103, 104]
        latest = await candles.query(session, VENUE, 1, "1m", None, None, 3)
        assert [c.open for c in latest] == [107, 108, 109]
        five = await candles.query(session, VENUE, 1, "5m", None, None, 10)
        assert [(c.open, c.close, c.volume) for c in five] == [(100, 104, 5), (105, 109, 5)]
        with pytest.raises(ValueError):
            await candles.query(session, VENUE, 1, "2h", None, None, 10)
        with pytest.raises(ValueError):
            await candles.query(session, VENUE, 1, "1m", None, None, 0)


async def test_ticker_covers_the_last_24_hours(platform: Platform) -> None:
    now = T0 + 1440 * MINUTE + 30 * MINUTE  # 00:30 the next day
    async with platform.db.session() as session:
        await candles.record(
            session,
            VENUE,
            1,
            1,
            [
                trade(1, 50, 9, T0 + 10 * MINUTE),  # more than 24 h before `now`: outside
                trade(2, 200, 2, T0 + 40 * MINUTE),
                trade(3, 260, 1, T0 + 300 * MINUTE),
                trade(4, 180, 3, T0 + 1440 * MINUTE + 5 * MINUTE),
                trade(5, 230, 1, T0 + 1440 * MINUTE + 20 * MINUTE),
            ],
        )
    async with platform.db.session() as session:
        stats = await candles.ticker(session, VENUE, 1, now)
        assert await candles.ticker(session, VENUE, 2, now) is None
    assert stats is not None
    assert (stats.open, stats.high, stats.low, stats.last) == (200, 260, 180, 230)
    assert (stats.volume, stats.trade_count, stats.quote_volume) == (7, 4, 400 + 260 + 540 + 230)
    assert stats.change == 30 and stats.change_percent() == "15.00"
