"""Public market-data REST of a venue: quote (L1), depth (L2), recent trades, candles, 24 h ticker.

`router(venue, instruments=..., marketdata=...)` returns the routes a system mounts under its API
prefix (e.g. `/api/stock-exchange`):

- `GET /instruments/{symbol}/quote` — L1 at the market-data seq it is valid at;
- `GET /instruments/{symbol}/depth?levels=` — L2, best first, `levels` 1..1000 (default 20);
- `GET /instruments/{symbol}/trades?limit=` — the tape, newest first, 1..1000 (default 100);
- `GET /instruments/{symbol}/candles?interval=&start=&end=&limit=` — OHLCV bars (interval 1m, 5m,
  1h, 1d; start/end in ns since the epoch, inclusive bar starts; limit 1..1000, default 500;
  without start: the latest bars);
- `GET /instruments/{symbol}/ticker` — rolling 24 h open/high/low/last, volume, change %.

Anonymous: market data is public. Every price appears as ticks (`price`) and as an exact decimal
string of the quote asset (`price_text`); quantities as lots and base units; never floats.

The router depends on two lookups instead of the venue itself, so it serves any venue runtime:
`instruments(platform, session, symbol) -> InstrumentInfo` (raise a NotFound Problem for an
unknown symbol; ONLY the instruments of `venue`) and `marketdata(platform, instrument_id) ->
MarketData` (the live object of this process). Costs: quote O(log L), depth O(levels), trades
O(limit), candles one index range read, ticker three (candles.py).

No `from __future__ import annotations` here: the routes' parameter types name a dependency made
inside `router()`, which FastAPI can only see when annotations are evaluated at definition time.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import candles
from casebook.engines.matching.marketdata import MarketData, Scale
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON, InvalidInput

MAX_LEVELS = 1000
MAX_TRADES = 1000


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """What market data needs to know of an instrument."""

    instrument_id: int
    symbol: str
    npl: int
    scale: Scale


InstrumentLookup = Callable[[Platform, AsyncSession, str], Awaitable[InstrumentInfo]]
MarketDataLookup = Callable[[Platform, int], MarketData]

SymbolPath = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._-]+$")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such instrument on this venue", "content": {PROBLEM_JSON: {}}},
    422: {"description": "A parameter is out of range", "content": {PROBLEM_JSON: {}}},
}


def quote_view(md: MarketData, scale: Scale) -> dict[str, Any]:
    """L1 as JSON: ticks/lots plus decimal strings (None where the book side is empty)."""
    out = md.l1()
    for name in ("bid_price", "ask_price", "last_price"):
        out[f"{name}_text"] = None if out[name] is None else scale.price_text(out[name])
    for name in ("bid_qty", "ask_qty", "last_qty"):
        out[f"{name}_text"] = None if out[name] is None else scale.qty_text(out[name])
    return out


def depth_view(md: MarketData, scale: Scale, levels: int) -> dict[str, Any]:
    """L2 as JSON: each level {price, price_text, qty, qty_text, orders}, best first."""
    snapshot = md.l2(levels)
    for side in ("bids", "asks"):
        snapshot[side] = [
            {
                "price": price,
                "price_text": scale.price_text(price),
                "qty": qty,
                "qty_text": scale.qty_text(qty),
                "orders": orders,
            }
            for price, qty, orders in snapshot[side]
        ]
    return snapshot


def router(venue: str, *, instruments: InstrumentLookup, marketdata: MarketDataLookup) -> APIRouter:
    """The market-data routes of `venue` (see the module docstring)."""
    api = APIRouter(tags=[venue], responses=_ERRORS)

    async def lookup(
        symbol: SymbolPath,
        session: Session,
        platform: Annotated[Platform, Depends(get_platform)],
    ) -> tuple[InstrumentInfo, MarketData, AsyncSession]:
        info = await instruments(platform, session, symbol.upper())
        return info, marketdata(platform, info.instrument_id), session

    Found = Annotated[tuple[InstrumentInfo, MarketData, AsyncSession], Depends(lookup)]

    @api.get("/instruments/{symbol}/quote", summary="Best bid/ask and last trade")
    async def quote(found: Found) -> dict[str, Any]:
        """The instrument's L1 quote at market-data `seq`."""
        info, md, _ = found
        return {"symbol": info.symbol, **quote_view(md, info.scale)}

    @api.get("/instruments/{symbol}/depth", summary="Order book depth (L2)")
    async def depth(
        found: Found, levels: Annotated[int, Query(ge=1, le=MAX_LEVELS)] = 20
    ) -> dict[str, Any]:
        """The best `levels` price levels per side, best first, valid at `seq`: apply the
        WebSocket's depth diffs whose `prev_seq` chains from it."""
        info, md, _ = found
        return {"symbol": info.symbol, **depth_view(md, info.scale, levels)}

    @api.get("/instruments/{symbol}/trades", summary="Recent trades")
    async def trades(
        found: Found, limit: Annotated[int, Query(ge=1, le=MAX_TRADES)] = 100
    ) -> dict[str, Any]:
        """The last `limit` trades, newest first (`taker_side` is the aggressor)."""
        info, md, _ = found
        return {
            "symbol": info.symbol,
            "trades": [trade.as_dict(info.scale) for trade in md.trades(limit)],
        }

    @api.get("/instruments/{symbol}/candles", summary="OHLCV candles")
    async def candle_list(
        found: Found,
        interval: Annotated[str, Query(pattern="^(1m|5m|1h|1d)$")] = "1m",
        start: Annotated[int | None, Query(ge=0, description="ns since the epoch")] = None,
        end: Annotated[int | None, Query(ge=0, description="ns since the epoch")] = None,
        limit: Annotated[int, Query(ge=1, le=candles.MAX_QUERY_LIMIT)] = 500,
    ) -> dict[str, Any]:
        """Bars of `interval` starting in [start, end], oldest first; without `start`, the
        latest `limit` bars."""
        info, _, session = found
        if start is not None and end is not None and end < start:
            raise InvalidInput("end must not be before start.")
        bars = await candles.query(session, venue, info.instrument_id, interval, start, end, limit)
        return {"symbol": info.symbol, "candles": [bar.as_dict(info.scale) for bar in bars]}

    @api.get("/instruments/{symbol}/ticker", summary="24 hour statistics")
    async def ticker(found: Found) -> dict[str, Any]:
        """Rolling 24 h statistics from the 1m bars; the price fields are null when nothing
        traded in the window."""
        info, md, session = found
        stats = await candles.ticker(session, venue, info.instrument_id, time.time_ns())
        out: dict[str, Any] = {"symbol": info.symbol, "seq": md.seq}
        if stats is None:
            out.update(
                open=None,
                high=None,
                low=None,
                last=None,
                volume=0,
                quote_volume=0,
                trade_count=0,
                change=None,
                change_percent=None,
            )
            return out
        scale = info.scale
        out.update(
            open=stats.open,
            high=stats.high,
            low=stats.low,
            last=stats.last,
            open_text=scale.price_text(stats.open),
            high_text=scale.price_text(stats.high),
            low_text=scale.price_text(stats.low),
            last_text=scale.price_text(stats.last),
            volume=stats.volume,
            volume_text=scale.qty_text(stats.volume),
            quote_volume=stats.quote_volume,
            quote_volume_text=scale.quote_text(stats.quote_volume),
            trade_count=stats.trade_count,
            change=stats.change,
            change_percent=stats.change_percent(),
            window_start=stats.window_start,
            window_end=stats.window_end,
        )
        return out

    return api
