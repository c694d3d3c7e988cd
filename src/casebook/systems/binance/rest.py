"""The Binance spot REST subset, mounted at `/api/binance/api/v3`, so the real `ccxt.binance`
client works with `urls.api.public/private` pointed here.

Public: `GET /ping`, `/time`, `/exchangeInfo` (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL),
`/depth`, `/trades`, `/klines` (1m, 5m, 1h, 1d), `/ticker/24hr`, `/ticker/price`.
Signed (signed.py): `POST|GET|DELETE /order`, `GET /openOrders`, `/allOrders`, `/account`,
`/myTrades`. Prices and quantities are decimal strings with 8 places; the filters are exact
(a price off the tick is -1013 PRICE_FILTER, never rounded).

Every order call goes through the venue (`Venue.place/cancel`), so holds, matching, fees and
settlement are the engine's; reads are filtered by the caller's venue account, so another user's
order is -2013 like a missing one. Weights follow Binance's (depth by limit, 20 for
exchangeInfo/account/allOrders/myTrades, …).

Not Binance's: the 24 h ticker's weighted average price is quote volume / volume; the klines'
taker-buy volumes are not kept by the engine's bars and are reported as "0"; `quoteOrderQty` is
refused (-1106): market orders take `quantity`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import candles
from casebook.engines.matching.errors import OrderNotFound, OrderNotOpen
from casebook.engines.matching.marketdata import decimal_text
from casebook.engines.matching.models import MatchingOrder, MatchingTrade
from casebook.engines.matching.types import SelfTrade, Side, TimeInForce
from casebook.engines.matching.venue import Instrument, NewOrder, OrderView, Venue
from casebook.platform.context import Platform
from casebook.systems.binance import spot
from casebook.systems.binance.signed import (
    WEIGHT_PER_MINUTE,
    BinanceError,
    BinanceRoute,
    Params,
    authenticate,
    charge,
    now_ms,
    read_params,
)

SCALE = spot.SCALE
STATUS = {
    "pending": "NEW",
    "open": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "cancelled": "CANCELED",
    "expired": "EXPIRED",
    "rejected": "REJECTED",
}
OPEN = ("pending", "open", "partially_filled")
KLINE_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}
STP = {
    "NONE": SelfTrade.NONE,
    "EXPIRE_TAKER": SelfTrade.EXPIRE_TAKER,
    "EXPIRE_MAKER": SelfTrade.EXPIRE_MAKER,
    "EXPIRE_BOTH": SelfTrade.EXPIRE_BOTH,
}


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def price_text(instrument: Instrument, ticks: int) -> str:
    return decimal_text(ticks * instrument.tick_size, SCALE)


def qty_text(instrument: Instrument, lots: int) -> str:
    return decimal_text(lots * instrument.lot_size, SCALE)


def amount_text(minor: int) -> str:
    return decimal_text(minor, SCALE)


def _units(value: Decimal, step: int, filter_name: str) -> int:
    """`value` (whole units) as a count of `step` minor units; -1013 when off the step."""
    minor = value * SCALE
    if minor != minor.to_integral_value() or int(minor) % step:
        raise BinanceError(-1013, f"Filter failure: {filter_name}")
    return int(minor) // step


async def _symbol(venue: Venue, params: Params, *, required: bool = True) -> Instrument | None:
    symbol = params.text("symbol", required=required, max_length=20)
    if symbol is None:
        return None
    async with venue.platform.db.session() as session:
        return await venue.instrument(session, symbol.upper())


def symbol_info(instrument: Instrument) -> dict[str, Any]:
    """One entry of exchangeInfo's `symbols`."""
    lot = amount_text(instrument.lot_size)
    return {
        "symbol": instrument.symbol,
        "status": "TRADING" if instrument.status == "trading" else "HALT",
        "baseAsset": instrument.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": instrument.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": amount_text(instrument.tick_size),
                "maxPrice": amount_text(instrument.tick_size * 10**12 // 10**4),
                "tickSize": amount_text(instrument.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": qty_text(instrument, instrument.min_qty),
                "maxQty": qty_text(instrument, instrument.max_qty),
                "stepSize": lot,
            },
            {
                "filterType": "MIN_NOTIONAL",
                "minNotional": amount_text(spot.MIN_NOTIONAL.get(instrument.symbol, 0)),
                "applyToMarket": True,
                "avgPriceMins": 0,
            },
        ],
        "permissions": ["SPOT"],
        "defaultSelfTradePreventionMode": "EXPIRE_TAKER",
        "allowedSelfTradePreventionModes": list(STP),
    }


def order_json(instrument: Instrument, view: OrderView) -> dict[str, Any]:
    """An order as Binance's RESULT / query shape."""
    market = view.type == "market"
    return {
        "symbol": instrument.symbol,
        "orderId": view.id,
        "orderListId": -1,
        "clientOrderId": view.client_order_id or str(view.id),
        "price": "0.00000000" if market else price_text(instrument, view.price),
        "origQty": qty_text(instrument, view.qty),
        "executedQty": qty_text(instrument, view.filled_qty),
        "cummulativeQuoteQty": amount_text(view.notional_filled),
        "origQuoteOrderQty": "0.00000000",
        "status": STATUS[view.status],
        "timeInForce": "GTC" if market else view.tif.upper(),
        "type": "MARKET" if market else ("LIMIT_MAKER" if view.post_only else "LIMIT"),
        "side": view.side.upper(),
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": _ms(view.created_at),
        "updateTime": _ms(view.updated_at),
        "transactTime": _ms(view.updated_at),
        "workingTime": _ms(view.created_at),
        "isWorking": view.status in OPEN,
        "selfTradePreventionMode": "EXPIRE_TAKER",
    }


def _trade_json(instrument: Instrument, row: MatchingTrade, account_id: int) -> dict[str, Any]:
    maker = row.maker_account_id == account_id
    taker_buys = row.taker_side == "buy"
    return {
        "symbol": instrument.symbol,
        "id": row.trade_seq,
        "orderId": row.maker_order_id if maker else row.taker_order_id,
        "orderListId": -1,
        "price": price_text(instrument, row.price),
        "qty": qty_text(instrument, row.qty),
        "quoteQty": amount_text(row.price * row.qty * instrument.npl),
        "commission": amount_text(row.maker_fee if maker else row.taker_fee),
        "commissionAsset": instrument.quote_asset,
        "time": row.ts // 1_000_000,
        "isBuyer": taker_buys != maker,
        "isMaker": maker,
        "isBestMatch": True,
    }


def router() -> APIRouter:
    """The `/api/v3` routes (mounted by the system under `/api/binance`)."""
    api = APIRouter(prefix="/api/v3", route_class=BinanceRoute, tags=["binance"])

    async def start(request: Request, weight: int) -> tuple[Platform, Venue, Params]:
        platform = _platform(request)
        await charge(request, platform, weight)
        return platform, spot.exchange(platform), await read_params(request)

    async def signed(
        request: Request, weight: int, *, trade: bool = False
    ) -> tuple[Platform, Venue, Params, int]:
        platform, venue, params = await start(request, weight)
        key = await authenticate(request, platform, params, trade=trade)
        async with platform.db.session(write=True) as session:
            account_id = await spot.account_of(session, key.user_id)
        return platform, venue, params, account_id

    # -- general ------------------------------------------------------------------------------

    @api.get("/ping")
    async def ping(request: Request) -> dict[str, Any]:
        """Connectivity check (weight 1)."""
        _, _, params = await start(request, 1)
        params.finish()
        return {}

    @api.get("/time")
    async def server_time(request: Request) -> dict[str, Any]:
        """The server's clock in ms (weight 1)."""
        _, _, params = await start(request, 1)
        params.finish()
        return {"serverTime": now_ms()}

    @api.get("/exchangeInfo")
    async def exchange_info(request: Request) -> dict[str, Any]:
        """Rate limits and every pair with its filters (weight 20); `symbol=` or
        `symbols=["A","B"]` narrow it."""
        _, venue, params = await start(request, 20)
        one = params.text("symbol", max_length=20)
        many = params.text("symbols", max_length=400)
        params.finish()
        async with venue.platform.db.session() as session:
            listed = await venue.instruments(session)
            wanted: list[str] | None = None
            if one is not None:
                wanted = [one.upper()]
            elif many is not None:
                wanted = [s.strip('"').upper() for s in many.strip("[]").split(",") if s]
            if wanted is not None:
                listed = [await venue.instrument(session, s) for s in wanted]
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": WEIGHT_PER_MINUTE,
                }
            ],
            "exchangeFilters": [],
            "symbols": [symbol_info(i) for i in listed],
        }

    # -- market data ---------------------------------------------------------------------------

    @api.get("/depth")
    async def depth(request: Request) -> dict[str, Any]:
        """The order book (weight 5/25/50/250 by limit: ≤100/≤500/≤1000/≤5000)."""
        platform = _platform(request)
        params = await read_params(request)
        limit = params.integer("limit", low=1, high=5000) or 100
        weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        await charge(request, platform, weight)
        venue = spot.exchange(platform)
        instrument = await _symbol(venue, params)
        params.finish()
        assert instrument is not None
        book = venue.marketdata(instrument.id).l2(limit)
        return {
            "lastUpdateId": book["seq"],
            "bids": [
                [price_text(instrument, p), qty_text(instrument, q)] for p, q, _ in book["bids"]
            ],
            "asks": [
                [price_text(instrument, p), qty_text(instrument, q)] for p, q, _ in book["asks"]
            ],
        }

    @api.get("/trades")
    async def recent_trades(request: Request) -> list[dict[str, Any]]:
        """The latest trades, oldest first (weight 25)."""
        _, venue, params = await start(request, 25)
        instrument = await _symbol(venue, params)
        limit = params.integer("limit", low=1, high=1000) or 500
        params.finish()
        assert instrument is not None
        tape = venue.marketdata(instrument.id).trades(limit)
        return [
            {
                "id": t.trade_seq,
                "price": price_text(instrument, t.price),
                "qty": qty_text(instrument, t.qty),
                "quoteQty": amount_text(t.price * t.qty * instrument.npl),
                "time": t.ts // 1_000_000,
                "isBuyerMaker": t.taker_side == Side.SELL,
                "isBestMatch": True,
            }
            for t in reversed(tape)
        ]

    @api.get("/klines")
    async def klines(request: Request) -> list[list[Any]]:
        """OHLCV bars, oldest first (weight 2); intervals 1m, 5m, 1h, 1d."""
        _, venue, params = await start(request, 2)
        instrument = await _symbol(venue, params)
        interval = params.choice("interval", tuple(KLINE_MS), -1120, required=True)
        start_ms = params.integer("startTime")
        end_ms = params.integer("endTime")
        limit = params.integer("limit", low=1, high=1000) or 500
        params.text("timeZone")
        params.finish()
        assert instrument is not None and interval is not None
        if start_ms is not None and end_ms is not None and end_ms < start_ms:
            raise BinanceError(-1127, "More than 200 hours between startTime and endTime.")
        async with venue.platform.db.session() as session:
            bars = await candles.query(
                session,
                spot.VENUE,
                instrument.id,
                interval,
                None if start_ms is None else start_ms * 1_000_000,
                None if end_ms is None else end_ms * 1_000_000,
                limit,
            )
        length = KLINE_MS[interval]
        return [
            [
                bar.bucket // 1_000_000,
                price_text(instrument, bar.open),
                price_text(instrument, bar.high),
                price_text(instrument, bar.low),
                price_text(instrument, bar.close),
                qty_text(instrument, bar.volume),
                bar.bucket // 1_000_000 + length - 1,
                amount_text(bar.quote_volume),
                bar.trade_count,
                "0",
                "0",
                "0",
            ]
            for bar in bars
        ]

    async def _ticker(
        venue: Venue, session: AsyncSession, instrument: Instrument
    ) -> dict[str, Any]:
        md = venue.marketdata(instrument.id)
        quote = md.l1()
        now_ns = time.time_ns()
        stats = await candles.ticker(session, spot.VENUE, instrument.id, now_ns)

        def px(value: int | None) -> str:
            return "0.00000000" if value is None else price_text(instrument, value)

        def qty(value: int | None) -> str:
            return "0.00000000" if value is None else qty_text(instrument, value)

        out: dict[str, Any] = {
            "symbol": instrument.symbol,
            "bidPrice": px(quote["bid_price"]),
            "bidQty": qty(quote["bid_qty"]),
            "askPrice": px(quote["ask_price"]),
            "askQty": qty(quote["ask_qty"]),
            "lastQty": qty(quote["last_qty"]),
            "closeTime": now_ns // 1_000_000,
            "openTime": now_ns // 1_000_000 - 86_400_000,
            "firstId": -1,
            "lastId": -1,
        }
        if stats is None:
            return out | {
                "priceChange": "0.00000000",
                "priceChangePercent": "0.00",
                "weightedAvgPrice": "0.00000000",
                "prevClosePrice": "0.00000000",
                "lastPrice": px(quote["last_price"]),
                "openPrice": "0.00000000",
                "highPrice": "0.00000000",
                "lowPrice": "0.00000000",
                "volume": "0.00000000",
                "quoteVolume": "0.00000000",
                "count": 0,
            }
        volume_minor = stats.volume * instrument.lot_size
        average = (
            Decimal(stats.quote_volume) / Decimal(volume_minor) if volume_minor else Decimal(0)
        )
        return out | {
            "priceChange": decimal_text(stats.change * instrument.tick_size, SCALE),
            "priceChangePercent": stats.change_percent(),
            "weightedAvgPrice": f"{average:.8f}",
            "prevClosePrice": px(stats.open),
            "lastPrice": px(stats.last),
            "openPrice": px(stats.open),
            "highPrice": px(stats.high),
            "lowPrice": px(stats.low),
            "volume": qty(stats.volume),
            "quoteVolume": amount_text(stats.quote_volume),
            "openTime": stats.window_start // 1_000_000,
            "closeTime": stats.window_end // 1_000_000,
            "count": stats.trade_count,
        }

    @api.get("/ticker/24hr", response_model=None)
    async def ticker_24hr(request: Request) -> dict[str, Any] | list[dict[str, Any]]:
        """Rolling 24 h statistics of one pair (weight 2) or all (weight 80)."""
        platform = _platform(request)
        params = await read_params(request)
        venue = spot.exchange(platform)
        symbol = params.text("symbol", max_length=20)
        params.text("type")
        params.finish()
        await charge(request, platform, 2 if symbol else 80)
        async with platform.db.session() as session:
            if symbol:
                return await _ticker(
                    venue, session, await venue.instrument(session, symbol.upper())
                )
            return [await _ticker(venue, session, i) for i in await venue.instruments(session)]

    @api.get("/ticker/price", response_model=None)
    async def ticker_price(request: Request) -> dict[str, Any] | list[dict[str, Any]]:
        """The last price of one pair (weight 2) or all (weight 4)."""
        platform = _platform(request)
        params = await read_params(request)
        venue = spot.exchange(platform)
        symbol = params.text("symbol", max_length=20)
        params.finish()
        await charge(request, platform, 2 if symbol else 4)

        def last(instrument: Instrument) -> dict[str, Any]:
            price = venue.last_price.get(instrument.id)
            return {
                "symbol": instrument.symbol,
                "price": "0.00000000" if price is None else price_text(instrument, price),
            }

        async with platform.db.session() as session:
            if symbol:
                return last(await venue.instrument(session, symbol.upper()))
            return [last(i) for i in await venue.instruments(session)]

    # -- orders ----------------------------------------------------------------------------------

    async def _fills(venue: Venue, instrument: Instrument, view: OrderView) -> list[dict[str, Any]]:
        async with venue.platform.db.session() as session:
            rows = await session.scalars(
                select(MatchingTrade)
                .where(
                    MatchingTrade.venue == spot.VENUE,
                    MatchingTrade.instrument_id == instrument.id,
                    MatchingTrade.taker_order_id == view.id,
                )
                .order_by(MatchingTrade.trade_seq)
            )
            return [
                {
                    "price": price_text(instrument, row.price),
                    "qty": qty_text(instrument, row.qty),
                    "commission": amount_text(row.taker_fee),
                    "commissionAsset": instrument.quote_asset,
                    "tradeId": row.trade_seq,
                }
                for row in rows
            ]

    @api.post("/order")
    async def new_order(request: Request) -> dict[str, Any]:
        """Place an order (TRADE, weight 1): LIMIT (timeInForce GTC/IOC/FOK), LIMIT_MAKER, MARKET
        (by quantity). newOrderRespType ACK, RESULT or FULL (default FULL, with the fills)."""
        _, venue, params, account_id = await signed(request, 1, trade=True)
        instrument = await _symbol(venue, params)
        assert instrument is not None
        side = params.choice("side", ("BUY", "SELL"), -1117, required=True)
        kind = params.choice("type", ("LIMIT", "LIMIT_MAKER", "MARKET"), -1116, required=True)
        tif = params.choice("timeInForce", ("GTC", "IOC", "FOK"), -1115)
        quantity = params.decimal("quantity")
        quote_qty = params.decimal("quoteOrderQty")
        price = params.decimal("price")
        client_id = params.text("newClientOrderId", max_length=36)
        answer = params.choice("newOrderRespType", ("ACK", "RESULT", "FULL"), -1136) or "FULL"
        stp = params.choice("selfTradePreventionMode", tuple(STP), -1191)
        params.finish()
        if quote_qty is not None:
            raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        if quantity is None:
            raise BinanceError(
                -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
            )
        if kind == "MARKET":
            if price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            if tif is not None:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
        else:
            if price is None:
                raise BinanceError(
                    -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."
                )
            if kind == "LIMIT" and tif is None:
                raise BinanceError(
                    -1102,
                    "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
                )
            if kind == "LIMIT_MAKER" and tif is not None:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
        lots = _units(quantity, instrument.lot_size, "LOT_SIZE")
        if not instrument.min_qty <= lots <= instrument.max_qty:
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        ticks = None if price is None else _units(price, instrument.tick_size, "PRICE_FILTER")
        if ticks is not None:
            if ticks < 1:
                raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
            if ticks * lots * instrument.npl < spot.MIN_NOTIONAL.get(instrument.symbol, 0):
                raise BinanceError(-1013, "Filter failure: MIN_NOTIONAL")
        view = await venue.place(
            NewOrder(
                account_id=account_id,
                instrument_id=instrument.id,
                side=Side.BUY if side == "BUY" else Side.SELL,
                qty=lots,
                price=ticks,
                type="market" if kind == "MARKET" else "limit",
                tif=TimeInForce[tif] if tif else TimeInForce.GTC,
                post_only=kind == "LIMIT_MAKER",
                stp=STP[stp] if stp else None,
                client_order_id=client_id,
            )
        )
        if view.status == "rejected" and view.reason == "post_only_would_take":
            raise BinanceError(-2010, "Order would immediately match and take.")
        result = order_json(instrument, view)
        if answer == "ACK":
            return {
                key: result[key]
                for key in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")
            }
        for key in ("time", "updateTime", "isWorking", "stopPrice", "icebergQty"):
            result.pop(key)
        if answer == "FULL":
            result["fills"] = await _fills(venue, instrument, view)
        return result

    async def _find(
        session: AsyncSession, params: Params, account_id: int, instrument: Instrument, code: int
    ) -> MatchingOrder:
        order_id = params.integer("orderId")
        client_id = params.text("origClientOrderId", max_length=36)
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        query = select(MatchingOrder).where(
            MatchingOrder.venue == spot.VENUE,
            MatchingOrder.account_id == account_id,
            MatchingOrder.instrument_id == instrument.id,
        )
        if order_id is not None:
            query = query.where(MatchingOrder.id == order_id)
        if client_id is not None:
            query = query.where(MatchingOrder.client_order_id == client_id)
        row = await session.scalar(query)
        if row is None:
            raise BinanceError(
                code, "Order does not exist." if code == -2013 else "Unknown order sent."
            )
        return row

    @api.get("/order")
    async def query_order(request: Request) -> dict[str, Any]:
        """One of the caller's orders (USER_DATA, weight 4); -2013 for anyone else's."""
        platform, venue, params, account_id = await signed(request, 4)
        instrument = await _symbol(venue, params)
        assert instrument is not None
        async with platform.db.session() as session:
            row = await _find(session, params, account_id, instrument, -2013)
            params.finish()
            return order_json(instrument, OrderView.of(row))

    @api.delete("/order")
    async def cancel_order(request: Request) -> dict[str, Any]:
        """Cancel an open order (TRADE, weight 1); -2011 when unknown or no longer open."""
        platform, venue, params, account_id = await signed(request, 1, trade=True)
        instrument = await _symbol(venue, params)
        assert instrument is not None
        params.text("newClientOrderId", max_length=36)
        params.choice("cancelRestrictions", ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"), -1100)
        async with platform.db.session() as session:
            row = await _find(session, params, account_id, instrument, -2011)
        params.finish()
        try:
            view = await venue.cancel(account_id, row.id)
        except (OrderNotFound, OrderNotOpen) as exc:
            raise BinanceError(-2011, "Unknown order sent.") from exc
        result = order_json(instrument, view)
        result["origClientOrderId"] = result["clientOrderId"]
        for key in ("time", "updateTime", "isWorking", "stopPrice", "icebergQty", "workingTime"):
            result.pop(key)
        return result

    @api.get("/openOrders")
    async def open_orders(request: Request) -> list[dict[str, Any]]:
        """The caller's open orders of one pair (weight 6) or all (weight 80), oldest first."""
        platform = _platform(request)
        params = await read_params(request)
        has_symbol = bool(params.values.get("symbol"))
        await charge(request, platform, 6 if has_symbol else 80)
        venue = spot.exchange(platform)
        key = await authenticate(request, platform, params, trade=False)
        instrument = await _symbol(venue, params, required=False)
        params.finish()
        async with platform.db.session() as session:
            account_id = await spot.existing_account(session, key.user_id)
            if account_id is None:
                return []
            query = select(MatchingOrder).where(
                MatchingOrder.venue == spot.VENUE,
                MatchingOrder.account_id == account_id,
                MatchingOrder.status.in_(OPEN),
            )
            if instrument is not None:
                query = query.where(MatchingOrder.instrument_id == instrument.id)
            rows = await session.scalars(query.order_by(MatchingOrder.id).limit(1000))
            return [order_json(venue.listed[r.instrument_id], OrderView.of(r)) for r in rows]

    @api.get("/allOrders")
    async def all_orders(request: Request) -> list[dict[str, Any]]:
        """The caller's orders of a pair, oldest first from `orderId` (weight 20)."""
        platform, venue, params, account_id = await signed(request, 20)
        instrument = await _symbol(venue, params)
        assert instrument is not None
        from_id = params.integer("orderId")
        start_ms = params.integer("startTime")
        end_ms = params.integer("endTime")
        limit = params.integer("limit", low=1, high=1000) or 500
        params.finish()
        query = select(MatchingOrder).where(
            MatchingOrder.venue == spot.VENUE,
            MatchingOrder.account_id == account_id,
            MatchingOrder.instrument_id == instrument.id,
        )
        if from_id is not None:
            query = query.where(MatchingOrder.id >= from_id)
        if start_ms is not None:
            query = query.where(MatchingOrder.created_at >= _from_ms(start_ms))
        if end_ms is not None:
            query = query.where(MatchingOrder.created_at <= _from_ms(end_ms))
        async with platform.db.session() as session:
            rows = await session.scalars(query.order_by(MatchingOrder.id).limit(limit))
            return [order_json(instrument, OrderView.of(r)) for r in rows]

    @api.get("/account")
    async def account(request: Request) -> dict[str, Any]:
        """The caller's spot balances: free and locked per asset (USER_DATA, weight 20)."""
        platform, venue, params, account_id = await signed(request, 20)
        omit_zero = params.choice("omitZeroBalances", ("true", "false"), -1100) == "true"
        params.finish()
        async with platform.db.session() as session:
            found = await venue.balances(session, account_id)
        balances = [
            {"asset": b.asset, "free": amount_text(b.available), "locked": amount_text(b.locked)}
            for b in found
            if not (omit_zero and b.total == 0)
        ]
        return {
            "makerCommission": spot.FEE_BPS,
            "takerCommission": spot.FEE_BPS,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": f"{Decimal(spot.FEE_BPS) / 10_000:.8f}",
                "taker": f"{Decimal(spot.FEE_BPS) / 10_000:.8f}",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": account_id,
        }

    @api.get("/myTrades")
    async def my_trades(request: Request) -> list[dict[str, Any]]:
        """The caller's fills of a pair, oldest first (USER_DATA, weight 20)."""
        platform, venue, params, account_id = await signed(request, 20)
        instrument = await _symbol(venue, params)
        assert instrument is not None
        order_id = params.integer("orderId")
        from_id = params.integer("fromId")
        start_ms = params.integer("startTime")
        end_ms = params.integer("endTime")
        limit = params.integer("limit", low=1, high=1000) or 500
        params.finish()
        query = select(MatchingTrade).where(
            MatchingTrade.venue == spot.VENUE,
            MatchingTrade.instrument_id == instrument.id,
            or_(
                MatchingTrade.maker_account_id == account_id,
                MatchingTrade.taker_account_id == account_id,
            ),
        )
        if order_id is not None:
            query = query.where(
                or_(
                    MatchingTrade.maker_order_id == order_id,
                    MatchingTrade.taker_order_id == order_id,
                )
            )
        if from_id is not None:
            query = query.where(MatchingTrade.trade_seq >= from_id)
        if start_ms is not None:
            query = query.where(MatchingTrade.ts >= start_ms * 1_000_000)
        if end_ms is not None:
            query = query.where(MatchingTrade.ts <= end_ms * 1_000_000)
        async with platform.db.session() as session:
            rows = await session.scalars(query.order_by(MatchingTrade.trade_seq).limit(limit))
            return [_trade_json(instrument, r, account_id) for r in rows]

    return api


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
