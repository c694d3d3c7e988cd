"""The market-data REST (md_api) mounted on the real app with a test venue's lookups: quote,
depth, trades, candles and ticker, exact decimal strings, 404/422 problems, venue isolation."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import candles, md_api
from casebook.engines.matching.marketdata import MarketData, Scale
from casebook.engines.matching.md_api import InstrumentInfo
from casebook.engines.matching.types import RESTED, TRADE, Side
from casebook.platform.context import Platform
from casebook.platform.errors import NotFound

VENUE = "stock-exchange"
PREFIX = "/api/md-test"
AAPL = InstrumentInfo(instrument_id=11, symbol="AAPL", npl=1, scale=Scale(1, 1, 1, 100))


@pytest.fixture
def market(app: FastAPI) -> dict[int, MarketData]:
    books = {AAPL.instrument_id: MarketData(VENUE, AAPL.instrument_id)}

    async def instruments(platform: Platform, session: AsyncSession, symbol: str) -> InstrumentInfo:
        if symbol != AAPL.symbol:
            raise NotFound(f"No instrument {symbol} on {VENUE}.")
        return AAPL

    def marketdata(platform: Platform, instrument_id: int) -> MarketData:
        return books[instrument_id]

    app.include_router(
        md_api.router(VENUE, instruments=instruments, marketdata=marketdata), prefix=PREFIX
    )
    return books


def trade(seq: int, price: int, qty: int, ts: int, taker: Side = Side.BUY) -> tuple[Any, ...]:
    return (TRADE, seq, 1, 2, 3, 4, int(taker), price, qty, 0, 0, ts)


async def test_quote_depth_and_trades_render_ticks_and_decimals(
    client: httpx.AsyncClient, market: dict[int, MarketData]
) -> None:
    md = market[AAPL.instrument_id]
    md.apply(
        [
            (RESTED, 1, 1, Side.BUY, 18950, 10, 1),
            (RESTED, 2, 1, Side.BUY, 18949, 5, 1),
            (RESTED, 3, 2, Side.SELL, 18955, 7, 1),
            (RESTED, 4, 2, Side.SELL, 18955, 1, 1),
        ]
    )
    md.apply([trade(1, 18955, 1, 2)])
    quote = (await client.get(f"{PREFIX}/instruments/aapl/quote")).json()
    assert quote["symbol"] == "AAPL" and quote["seq"] == 2
    assert (quote["bid_price"], quote["bid_price_text"], quote["bid_qty"]) == (18950, "189.50", 10)
    assert (quote["ask_price"], quote["ask_qty"], quote["ask_qty_text"]) == (18955, 7, "7")
    assert (quote["last_price_text"], quote["last_qty"]) == ("189.55", 1)

    depth = (await client.get(f"{PREFIX}/instruments/AAPL/depth", params={"levels": 1})).json()
    assert depth["seq"] == 2
    assert depth["bids"] == [
        {"price": 18950, "price_text": "189.50", "qty": 10, "qty_text": "10", "orders": 1}
    ]
    assert [level["price"] for level in depth["asks"]] == [18955]

    tape = (await client.get(f"{PREFIX}/instruments/AAPL/trades")).json()["trades"]
    assert tape == [
        {
            "trade_seq": 1,
            "price": 18955,
            "qty": 1,
            "taker_side": "buy",
            "ts": 2,
            "price_text": "189.55",
            "qty_text": "1",
        }
    ]


async def test_an_empty_book_quotes_nulls(
    client: httpx.AsyncClient, market: dict[int, MarketData]
) -> None:
    quote = (await client.get(f"{PREFIX}/instruments/AAPL/quote")).json()
    assert quote["bid_price"] is None and quote["bid_price_text"] is None and quote["seq"] == 0
    ticker = (await client.get(f"{PREFIX}/instruments/AAPL/ticker")).json()
    assert ticker["last"] is None and ticker["volume"] == 0


async def test_candles_and_ticker_come_from_the_recorded_trades(
    client: httpx.AsyncClient, platform: Platform, market: dict[int, MarketData]
) -> None:
    now = time.time_ns()
    minute = candles.MINUTE
    base = candles.bucket_start(now, "1m") - 3 * minute
    async with platform.db.session() as session:
        await candles.record(
            session,
            VENUE,
            AAPL.instrument_id,
            AAPL.npl,
            [
                trade(1, 10000, 2, base + 1),
                trade(2, 10250, 1, base + minute + 1),
                trade(3, 9900, 4, base + 2 * minute + 1),
            ],
        )
        # Another venue's bars of the same instrument id never show here.
        await candles.record(session, "binance", AAPL.instrument_id, 1, [trade(1, 1, 1, base)])
    bars = (
        await client.get(
            f"{PREFIX}/instruments/AAPL/candles",
            params={"interval": "1m", "start": base, "end": base + minute},
        )
    ).json()["candles"]
    assert [(b["open_time"], b["open_text"], b["volume"]) for b in bars] == [
        (base, "100.00", 2),
        (base + minute, "102.50", 1),
    ]
    latest = (await client.get(f"{PREFIX}/instruments/AAPL/candles?limit=1")).json()["candles"]
    assert [b["close"] for b in latest] == [9900]

    ticker = (await client.get(f"{PREFIX}/instruments/AAPL/ticker")).json()
    assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"]) == (
        10000,
        10250,
        9900,
        9900,
    )
    assert ticker["last_text"] == "99.00" and ticker["volume"] == 7
    assert ticker["change"] == -100 and ticker["change_percent"] == "-1.00"
    assert ticker["quote_volume_text"] == "698.50"  # 200.00 + 102.50 + 396.00


@pytest.mark.parametrize(
    "path",
    [
        "/instruments/AAPL/depth?levels=0",
        "/instruments/AAPL/depth?levels=1001",
        "/instruments/AAPL/trades?limit=0",
        "/instruments/AAPL/candles?interval=2m",
        "/instruments/AAPL/candles?start=10&end=5",
        "/instruments/AAPL/candles?limit=5000",
        "/instruments/AAPL/candles?start=-1",
    ],
)
async def test_bad_parameters_are_422_problems(
    client: httpx.AsyncClient, market: dict[int, MarketData], path: str
) -> None:
    response = await client.get(PREFIX + path)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_unknown_symbol_is_a_404_problem(
    client: httpx.AsyncClient, market: dict[int, MarketData]
) -> None:
    for path in ("quote", "depth", "trades", "candles", "ticker"):
        response = await client.get(f"{PREFIX}/instruments/MSFT/{path}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"{PREFIX}/instruments/bad%20sym/quote")).status_code == 422
