"""`/api/binance/fapi/v1/*`: the public part of Binance's USDT-M futures REST, enough for its
clients to load the contracts and read mark prices and funding (`exchangeInfo`,
`premiumIndex`). Binance names a perpetual `BTCUSDT`; the venue lists it as `BTCUSDT-PERP`, so
the suffix is dropped here and added back on the way in. Prices and quantities are decimal
strings; errors are Binance's `{"code", "msg"}` with its codes (-1121 unknown symbol).

Not built: the signed futures endpoints (`/fapi/v1/order`, `/fapi/v2/account`, …); trading goes
through `/api/binance/futures/*`."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from casebook.engines.matching.views import Instrument
from casebook.platform.context import Platform
from casebook.systems.binance import futures

router = APIRouter(prefix="/fapi/v1", tags=["binance"])
SUFFIX = "-PERP"


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _price(ticks: int) -> str:
    return f"{Decimal(ticks) / 100:.8f}"


def _qty(lots: int) -> str:
    return f"{Decimal(lots) / 1000:.3f}"


def _contract(platform: Platform, symbol: str) -> Instrument | None:
    venue = futures.futures_venue(platform)
    for instrument in venue.listed.values():
        if instrument.symbol == symbol.upper() + SUFFIX:
            return instrument
    return None


def _unknown(symbol: str) -> JSONResponse:
    return JSONResponse({"code": -1121, "msg": f"Invalid symbol {symbol!r}."}, status_code=400)


@router.get("/exchangeInfo")
async def exchange_info(request: Request) -> dict[str, Any]:
    """The perpetual contracts with their filters (tick 0.01, step 0.001)."""
    venue = futures.futures_venue(_platform(request))
    symbols = []
    for instrument in sorted(venue.listed.values(), key=lambda i: i.symbol):
        symbols.append(
            {
                "symbol": instrument.symbol.removesuffix(SUFFIX),
                "pair": instrument.symbol.removesuffix(SUFFIX),
                "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000,
                "onboardDate": 1569398400000,
                "status": "TRADING" if instrument.status == "trading" else "HALT",
                "baseAsset": instrument.base_asset,
                "quoteAsset": instrument.quote_asset,
                "marginAsset": instrument.quote_asset,
                "pricePrecision": 2,
                "quantityPrecision": 3,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "triggerProtect": "0.0500",
                "maintMarginPercent": "0.5000",
                "requiredMarginPercent": "5.0000",
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "tickSize": "0.01",
                        "minPrice": "0.01",
                        "maxPrice": "10000000",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "stepSize": "0.001",
                        "minQty": _qty(instrument.min_qty),
                        "maxQty": _qty(instrument.max_qty),
                    },
                    {"filterType": "MIN_NOTIONAL", "notional": "5"},
                ],
                "orderTypes": ["LIMIT", "MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK"],
            }
        )
    return {
        "timezone": "UTC",
        "serverTime": int(time.time() * 1000),
        "futuresType": "U_MARGINED",
        "rateLimits": [],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "0"}],
        "symbols": symbols,
    }


def _premium(platform: Platform, instrument: Instrument) -> dict[str, Any]:
    quote = futures.prices(platform, instrument)
    return {
        "symbol": instrument.symbol.removesuffix(SUFFIX),
        "markPrice": _price(quote.mark),
        "indexPrice": _price(quote.index),
        "estimatedSettlePrice": _price(quote.index),
        "lastFundingRate": f"{Decimal(quote.funding_rate_e8) / 10**8:.8f}",
        "interestRate": "0.00010000",
        "nextFundingTime": futures.next_funding_time() * 1000,
        "time": int(time.time() * 1000),
    }


@router.get("/premiumIndex", response_model=None)
async def premium_index(request: Request, symbol: str | None = None) -> Any:
    """Mark price, index price and the funding rate the next funding would charge (Binance's
    `lastFundingRate` is the current estimate), of one contract or all."""
    platform = _platform(request)
    if symbol is None:
        venue = futures.futures_venue(platform)
        return [
            _premium(platform, i) for i in sorted(venue.listed.values(), key=lambda i: i.symbol)
        ]
    instrument = _contract(platform, symbol)
    if instrument is None:
        return _unknown(symbol)
    return _premium(platform, instrument)
