"""The Kite Connect v3 compatible subset, mounted at /api/zerodha/kite (docs/systems/zerodha.md).

Envelopes are Kite's: `{"status": "success", "data": …}`, errors `{"status": "error", "message",
"error_type"}` with Kite's HTTP codes (400 InputException/OrderException, 403 TokenException,
404/409 GeneralException, 429 NetworkException, 503 NetworkException). Prices are rupees as JSON
numbers (the client expects floats), computed from paise; requests carry form fields, as the
official client sends them. The official client joins its routes to its root with `urljoin`
and a leading slash, so it needs an origin whose root is this prefix: `kite_origin(app)` is that
front (what an nginx `location /` rewriting to `/api/zerodha/kite/` does in a deployment).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching import candles
from casebook.engines.matching.errors import InstrumentNotFound, OrderNotFound
from casebook.engines.matching.venue import Instrument, OrderView, Venue
from casebook.engines.matching.venue import get as get_venue
from casebook.platform.auth.deps import Principal, optional_principal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.ratelimit import RateLimit, enforce
from casebook.systems.stock_exchange import trading
from casebook.systems.stock_exchange.runtime import VENUE
from casebook.systems.zerodha import broker, gtt, kite_auth, oms, portfolio
from casebook.systems.zerodha.kite_tokens import instrument_of, token_of
from casebook.systems.zerodha.models import (
    ZerodhaApp,
    ZerodhaClient,
    ZerodhaGtt,
    ZerodhaOrder,
    ZerodhaOrderEvent,
)

ORDER_RATE = RateLimit(rate=10.0, burst=10)
"""Kite allows 10 order requests per second per API key."""
STATUS = {
    "pending": "OPEN PENDING",
    "open": "OPEN",
    "partially_filled": "OPEN",
    "filled": "COMPLETE",
    "cancelled": "CANCELLED",
    "expired": "CANCELLED",
    "rejected": "REJECTED",
}
INTERVALS = {"minute": "1m", "5minute": "5m", "60minute": "1h", "day": "1d"}
EXCHANGE = "NSE"


def _error_type(problem: Problem) -> str:
    if problem.status in (401, 403):
        return (
            "TokenException" if isinstance(problem, kite_auth.TokenError) else "PermissionException"
        )
    if problem.status == 429 or problem.status >= 500:
        return "NetworkException"
    if problem.status in (400, 422):
        return "InputException"
    if isinstance(problem, InsufficientFunds):
        return "OrderException"
    return "GeneralException"


def kite_error(status: int, message: str, error_type: str) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "message": message, "error_type": error_type, "data": None},
        status_code=status,
    )


class KiteRoute(APIRoute):
    """Renders Problems and validation errors in Kite's error envelope instead of problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ())[1:])
                return kite_error(
                    400, f"Invalid `{where}`: {first.get('msg', '')}", "InputException"
                )
            except Problem as problem:
                status = 400 if problem.status == 422 else problem.status
                if isinstance(problem, InsufficientFunds):
                    status = 400
                return kite_error(status, problem.detail or problem.title, _error_type(problem))

        return route


router = APIRouter(route_class=KiteRoute)
PlatformDep = Annotated[Platform, Depends(get_platform)]


def ok(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def venue_of(platform: Platform) -> Venue:
    return get_venue(platform, VENUE)


async def kite_user(request: Request, session: Session) -> tuple[str, int]:
    return await kite_auth.authenticate(session, request.headers.get("authorization"))


KiteUser = Annotated[tuple[str, int], Depends(kite_user)]


async def kite_client(user: KiteUser, session: Session) -> ZerodhaClient:
    return await broker.client_of(session, user[1])


Client = Annotated[ZerodhaClient, Depends(kite_client)]


def rupees(paise: int) -> float:
    return paise / 100


def paise(text: str, field: str) -> int:
    try:
        value = Decimal(text) * 100
    except InvalidOperation:
        raise InvalidInput(f"`{field}` is not a number.", field=field) from None
    if value != value.to_integral_value() or value < 0:
        raise InvalidInput(f"`{field}` must be in whole paise.", field=field)
    return int(value)


def stamp(value: datetime) -> str:
    return value.astimezone(kite_auth.IST).strftime("%Y-%m-%d %H:%M:%S")


# -- login ----------------------------------------------------------------------------------------


@router.get("/connect/login")
async def connect_login(
    api_key: str,
    session: WriteSession,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    v: str = "3",
) -> Response:
    """Kite's login page: a signed-in Casebook user is sent back to the app's redirect URL with a
    one-time request_token (anonymous callers get a TokenException)."""
    if principal is None:
        raise kite_auth.TokenError("Sign in to Casebook first, then open this URL again.")
    token = await kite_auth.issue_request_token(session, api_key, principal.user_id)
    app = await session.get(ZerodhaApp, api_key)
    assert app is not None
    separator = "&" if "?" in app.redirect_url else "?"
    target = f"{app.redirect_url}{separator}request_token={token}&action=login&status=success"
    return RedirectResponse(target, status_code=302)


@router.post("/session/token")
async def session_token(
    session: WriteSession,
    api_key: Annotated[str, Form(max_length=64)],
    request_token: Annotated[str, Form(max_length=64)],
    checksum: Annotated[str, Form(max_length=64)],
) -> dict[str, Any]:
    """Exchange a request_token (with its checksum) for an access_token and the user's profile."""
    app, user_id, access_token = await kite_auth.exchange(session, api_key, request_token, checksum)
    client = await broker.client_of(session, user_id)
    return ok(
        {
            **_profile(client),
            "api_key": app.api_key,
            "access_token": access_token,
            "public_token": access_token[:16],
            "refresh_token": "",
            "login_time": stamp(datetime.now(UTC)),
            "meta": {"demat_consent": "consent"},
        }
    )


@router.delete("/session/token")
async def session_logout(
    session: WriteSession,
    api_key: Annotated[str, Query(max_length=64)],
    access_token: Annotated[str, Query(max_length=64)],
) -> dict[str, Any]:
    return ok(await kite_auth.invalidate(session, api_key, access_token))


def _profile(client: ZerodhaClient) -> dict[str, Any]:
    return {
        "user_id": client.client_code,
        "user_name": client.legal_name,
        "user_shortname": client.legal_name.split()[0],
        "user_type": "individual",
        "email": "",
        "broker": "ZERODHA",
        "exchanges": [EXCHANGE],
        "products": ["CNC", "MIS"],
        "order_types": ["MARKET", "LIMIT"],
        "avatar_url": None,
    }


@router.get("/user/profile")
async def profile(client: Client) -> dict[str, Any]:
    return ok(_profile(client))


@router.get("/user/margins")
async def margins(client: Client, session: Session, platform: PlatformDep) -> dict[str, Any]:
    return ok({"equity": await _equity(client, session, platform), "commodity": _empty_segment()})


@router.get("/user/margins/{segment}")
async def segment_margins(
    segment: str, client: Client, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    if segment == "equity":
        return ok(await _equity(client, session, platform))
    if segment == "commodity":
        return ok(_empty_segment())
    raise InvalidInput("segment is equity or commodity.", field="segment")


def _empty_segment() -> dict[str, Any]:
    return {"enabled": False, "net": 0.0, "available": {}, "utilised": {}}


async def _equity(
    client: ZerodhaClient, session: AsyncSession, platform: Platform
) -> dict[str, Any]:
    cash = next(
        (
            b
            for b in await venue_of(platform).balances(session, client.account_id)
            if b.asset == broker.CASH
        ),
        None,
    )
    total, locked, available = (cash.total, cash.locked, cash.available) if cash else (0, 0, 0)
    return {
        "enabled": True,
        "net": rupees(available),
        "available": {
            "adhoc_margin": 0.0,
            "cash": rupees(total),
            "opening_balance": rupees(total),
            "live_balance": rupees(available),
            "collateral": 0.0,
            "intraday_payin": 0.0,
        },
        "utilised": {
            "debits": rupees(locked),
            "exposure": 0.0,
            "m2m_realised": 0.0,
            "m2m_unrealised": 0.0,
            "option_premium": 0.0,
            "payout": 0.0,
            "span": 0.0,
            "holding_sales": 0.0,
            "turnover": 0.0,
            "liquid_collateral": 0.0,
            "stock_collateral": 0.0,
            "delivery": rupees(locked),
        },
    }


# -- orders ---------------------------------------------------------------------------------------


def _order_dict(
    row: ZerodhaOrder, view: OrderView | None, instrument: Instrument | None, token: int
) -> dict[str, Any]:
    tick = instrument.tick_size if instrument else 1
    npl = instrument.npl if instrument else 1
    status = STATUS[view.status] if view else "REJECTED"
    filled = view.filled_qty if view else 0
    average = view.notional_filled / (filled * npl) * tick / 100 if view and filled else 0.0
    return {
        "order_id": str(row.order_id),
        "parent_order_id": None,
        "exchange_order_id": str(view.id) if view else None,
        "placed_by": "",
        "variety": row.variety,
        "status": status,
        "status_message": view.reason if view else "Refused by the exchange",
        "tradingsymbol": row.symbol,
        "exchange": EXCHANGE,
        "instrument_token": token,
        "transaction_type": (view.side.upper() if view else ""),
        "order_type": (view.type.upper() if view else ""),
        "product": row.product,
        "validity": ("IOC" if view and view.tif == "ioc" else "DAY"),
        "price": rupees(view.price * tick) if view and view.type == "limit" else 0.0,
        "quantity": view.qty if view else 0,
        "trigger_price": 0.0,
        "average_price": average,
        "pending_quantity": view.open_qty if view else 0,
        "filled_quantity": filled,
        "disclosed_quantity": 0,
        "cancelled_quantity": (view.qty - filled if view and status == "CANCELLED" else 0),
        "market_protection": 0,
        "order_timestamp": stamp(view.updated_at if view else row.created_at),
        "exchange_timestamp": stamp(view.updated_at) if view else None,
        "tag": row.tag,
        "guid": str(row.order_id),
    }


@router.post("/orders/{variety}")
async def place_order(
    variety: str,
    client: Client,
    user: KiteUser,
    platform: PlatformDep,
    exchange: Annotated[str, Form()],
    tradingsymbol: Annotated[str, Form(max_length=20)],
    transaction_type: Annotated[str, Form()],
    quantity: Annotated[int, Form(ge=1, le=1_000_000)],
    product: Annotated[str, Form()],
    order_type: Annotated[str, Form()],
    price: Annotated[str | None, Form(max_length=20)] = None,
    validity: Annotated[str, Form()] = "DAY",
    tag: Annotated[str | None, Form(max_length=20)] = None,
) -> dict[str, Any]:
    """Place an order (regular variety, NSE, CNC/MIS, MARKET/LIMIT, DAY/IOC)."""
    if variety != "regular":
        raise InvalidInput("Only the `regular` variety is supported.", field="variety")
    if exchange != EXCHANGE:
        raise InvalidInput("exchange must be NSE.", field="exchange")
    if transaction_type not in ("BUY", "SELL"):
        raise InvalidInput("transaction_type is BUY or SELL.", field="transaction_type")
    if product not in ("CNC", "MIS"):
        raise InvalidInput("product is CNC or MIS.", field="product")
    if order_type not in ("MARKET", "LIMIT"):
        raise InvalidInput("order_type is MARKET or LIMIT.", field="order_type")
    if validity not in ("DAY", "IOC"):
        raise InvalidInput("validity is DAY or IOC.", field="validity")
    await enforce(platform, f"zerodha:kite:orders:{user[0]}", ORDER_RATE)
    in_paise = None
    if order_type == "LIMIT" or (price is not None and paise(price, "price") > 0):
        if price is None:
            raise InvalidInput("A LIMIT order needs a price.", field="price")
        in_paise = paise(price, "price")
    placed = await oms.place(
        platform,
        venue_of(platform),
        client,
        oms.OrderRequest(
            symbol=tradingsymbol,
            side="buy" if transaction_type == "BUY" else "sell",
            quantity=quantity,
            product=product,  # type: ignore[arg-type]
            order_type=order_type,  # type: ignore[arg-type]
            price=in_paise,
            validity=validity,  # type: ignore[arg-type]
            tag=tag,
        ),
    )
    return ok({"order_id": str(placed.row.order_id)})


def _order_id(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise OrderNotFound("There is no such order.")
    return int(text)


@router.put("/orders/{variety}/{order_id}")
async def modify_order(
    variety: str,
    order_id: str,
    client: Client,
    user: KiteUser,
    platform: PlatformDep,
    quantity: Annotated[int | None, Form(ge=1, le=1_000_000)] = None,
    price: Annotated[str | None, Form(max_length=20)] = None,
) -> dict[str, Any]:
    await enforce(platform, f"zerodha:kite:orders:{user[0]}", ORDER_RATE)
    new_price = paise(price, "price") if price is not None else None
    await oms.modify(
        platform, venue_of(platform), client.user_id, _order_id(order_id), new_price, quantity
    )
    return ok({"order_id": order_id})


@router.delete("/orders/{variety}/{order_id}")
async def cancel_order(
    variety: str, order_id: str, client: Client, user: KiteUser, platform: PlatformDep
) -> dict[str, Any]:
    await enforce(platform, f"zerodha:kite:orders:{user[0]}", ORDER_RATE)
    await oms.cancel(platform, venue_of(platform), client.user_id, _order_id(order_id))
    return ok({"order_id": order_id})


@router.get("/orders")
async def orders(client: Client, session: Session, platform: PlatformDep) -> dict[str, Any]:
    """The client's orders of the day, oldest first."""
    venue = venue_of(platform)
    day = datetime.fromtimestamp(portfolio.day_start_ns(datetime.now(UTC)) / 1e9, tz=UTC)
    rows = list(
        await session.scalars(
            select(ZerodhaOrder)
            .where(ZerodhaOrder.user_id == client.user_id, ZerodhaOrder.created_at >= day)
            .order_by(ZerodhaOrder.order_id)
            .limit(2000)
        )
    )
    out = []
    for row in rows:
        view = await oms.venue_order(session, venue, row)
        instrument = venue.listed.get(view.instrument_id) if view else None
        out.append(
            _order_dict(row, view, instrument, token_of(venue, instrument.id) if instrument else 0)
        )
    return ok(out)


@router.get("/orders/{order_id}")
async def order_history(
    order_id: str, client: Client, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    """Every committed state of the order, oldest first."""
    venue = venue_of(platform)
    row, view = await oms.order_of(session, venue, client.user_id, _order_id(order_id))
    instrument = venue.listed.get(view.instrument_id) if view else None
    events = await session.scalars(
        select(ZerodhaOrderEvent)
        .where(ZerodhaOrderEvent.order_id == row.order_id)
        .order_by(ZerodhaOrderEvent.filled_qty, ZerodhaOrderEvent.at, ZerodhaOrderEvent.id)
    )
    history = []
    base = _order_dict(row, view, instrument, token_of(venue, instrument.id) if instrument else 0)
    for event in events:
        history.append(
            {
                **base,
                "status": STATUS[event.status],
                "filled_quantity": event.filled_qty,
                "pending_quantity": (base["quantity"] - event.filled_qty)
                if STATUS[event.status].startswith("OPEN")
                else 0,
                "order_timestamp": stamp(event.at),
            }
        )
    return ok(history or [base])


def _trade_dicts(
    venue: Venue, trades: list[Any], ours: dict[int, tuple[str, int]]
) -> list[dict[str, Any]]:
    out = []
    for trade in trades:
        instrument = venue.listed[trade.instrument_id]
        product, our_id = ours[trade.order_id]
        out.append(
            {
                "trade_id": str(trade.id),
                "order_id": str(our_id),
                "exchange_order_id": str(trade.order_id),
                "tradingsymbol": instrument.symbol,
                "exchange": EXCHANGE,
                "instrument_token": token_of(venue, instrument.id),
                "transaction_type": trade.side.upper(),
                "product": product,
                "average_price": rupees(trade.price * instrument.tick_size),
                "quantity": trade.qty * instrument.lot_size,
                "fill_timestamp": stamp(datetime.fromtimestamp(trade.ts / 1e9, tz=UTC)),
                "order_timestamp": stamp(datetime.fromtimestamp(trade.ts / 1e9, tz=UTC)),
                "exchange_timestamp": stamp(datetime.fromtimestamp(trade.ts / 1e9, tz=UTC)),
            }
        )
    return out


@router.get("/trades")
async def trades(client: Client, session: Session, platform: PlatformDep) -> dict[str, Any]:
    venue = venue_of(platform)
    ours = await portfolio.order_products(session, client.account_id)
    page, _ = await venue.trades(session, client.account_id, limit=500)
    fills = [t for t in reversed(page) if t.order_id in ours]
    return ok(_trade_dicts(venue, fills, ours))


@router.get("/orders/{order_id}/trades")
async def order_trades(
    order_id: str, client: Client, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    venue = venue_of(platform)
    _, view = await oms.order_of(session, venue, client.user_id, _order_id(order_id))
    if view is None:
        return ok([])
    ours = await portfolio.order_products(session, client.account_id)
    page, _ = await venue.trades(
        session, client.account_id, instrument_id=view.instrument_id, limit=500
    )
    fills = [t for t in reversed(page) if t.order_id == view.id]
    return ok(_trade_dicts(venue, fills, ours))


# -- portfolio ------------------------------------------------------------------------------------


@router.get("/portfolio/positions")
async def positions(client: Client, session: Session, platform: PlatformDep) -> dict[str, Any]:
    rows = []
    venue = venue_of(platform)
    for p in await portfolio.positions(session, venue, client, datetime.now(UTC)):
        rows.append(
            {
                "tradingsymbol": p.symbol,
                "exchange": EXCHANGE,
                "instrument_token": token_of(venue, p.instrument_id),
                "product": p.product,
                "quantity": p.quantity,
                "overnight_quantity": 0,
                "multiplier": 1,
                "average_price": rupees(
                    (p.buy_value // p.buy_quantity)
                    if p.quantity >= 0 and p.buy_quantity
                    else (p.sell_value // p.sell_quantity if p.sell_quantity else 0)
                ),
                "close_price": 0.0,
                "last_price": rupees(p.last_price),
                "value": rupees(p.sell_value - p.buy_value),
                "pnl": rupees(p.pnl),
                "m2m": rupees(p.pnl),
                "unrealised": rupees(p.pnl),
                "realised": 0.0,
                "buy_quantity": p.buy_quantity,
                "buy_price": rupees(p.buy_value // p.buy_quantity if p.buy_quantity else 0),
                "buy_value": rupees(p.buy_value),
                "sell_quantity": p.sell_quantity,
                "sell_price": rupees(p.sell_value // p.sell_quantity if p.sell_quantity else 0),
                "sell_value": rupees(p.sell_value),
                "day_buy_quantity": p.buy_quantity,
                "day_buy_price": rupees(p.buy_value // p.buy_quantity if p.buy_quantity else 0),
                "day_buy_value": rupees(p.buy_value),
                "day_sell_quantity": p.sell_quantity,
                "day_sell_price": rupees(p.sell_value // p.sell_quantity if p.sell_quantity else 0),
                "day_sell_value": rupees(p.sell_value),
            }
        )
    return ok({"net": rows, "day": rows})


@router.get("/portfolio/holdings")
async def holdings(client: Client, session: Session, platform: PlatformDep) -> dict[str, Any]:
    rows = []
    venue = venue_of(platform)
    for h in await portfolio.holdings(session, venue, client, datetime.now(UTC)):
        rows.append(
            {
                "tradingsymbol": h.symbol,
                "exchange": EXCHANGE,
                "instrument_token": token_of(venue, h.instrument_id),
                "isin": "",
                "product": "CNC",
                "price": 0.0,
                "quantity": h.quantity,
                "used_quantity": 0,
                "t1_quantity": h.t1_quantity,
                "realised_quantity": h.quantity,
                "authorised_quantity": 0,
                "opening_quantity": h.quantity,
                "collateral_quantity": 0,
                "collateral_type": "",
                "average_price": rupees(h.average_price),
                "last_price": rupees(h.last_price),
                "close_price": 0.0,
                "pnl": rupees(h.pnl),
                "day_change": 0.0,
                "day_change_percentage": 0.0,
            }
        )
    return ok(rows)


# -- market data ----------------------------------------------------------------------------------


async def _instruments(
    session: AsyncSession, venue: Venue, keys: list[str]
) -> list[tuple[str, Instrument]]:
    if not 1 <= len(keys) <= 500:
        raise InvalidInput("Ask for 1-500 instruments (i=NSE:INFY).", field="i")
    out = []
    for key in keys:
        exchange, _, symbol = key.partition(":")
        if exchange != EXCHANGE or not symbol:
            continue
        try:
            out.append((key, await venue.instrument(session, symbol)))
        except InstrumentNotFound:
            continue  # Kite leaves unknown instruments out of the answer
    return out


def _ltp(venue: Venue, instrument: Instrument) -> float:
    ticks = venue.last_price.get(instrument.id) or instrument.reference_price or 0
    return rupees(ticks * instrument.tick_size)


async def _ohlc(session: AsyncSession, venue: Venue, instrument: Instrument) -> dict[str, float]:
    bars = await candles.query(session, venue.name, instrument.id, "1d", None, None, 1)
    if not bars:
        last = _ltp(venue, instrument)
        return {"open": last, "high": last, "low": last, "close": last}
    bar = bars[-1]
    t = instrument.tick_size
    return {
        "open": rupees(bar.open * t),
        "high": rupees(bar.high * t),
        "low": rupees(bar.low * t),
        "close": rupees(bar.close * t),
    }


InstrumentKeys = Annotated[list[str], Query(alias="i")]


@router.get("/quote/ltp")
async def ltp(
    i: InstrumentKeys, _: KiteUser, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    venue = venue_of(platform)
    return ok(
        {
            key: {"instrument_token": token_of(venue, ins.id), "last_price": _ltp(venue, ins)}
            for key, ins in await _instruments(session, venue, i)
        }
    )


@router.get("/quote/ohlc")
async def ohlc(
    i: InstrumentKeys, _: KiteUser, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    venue = venue_of(platform)
    out = {}
    for key, ins in await _instruments(session, venue, i):
        out[key] = {
            "instrument_token": token_of(venue, ins.id),
            "last_price": _ltp(venue, ins),
            "ohlc": await _ohlc(session, venue, ins),
        }
    return ok(out)


def _depth_side(levels: list[list[int]], tick: int) -> list[dict[str, Any]]:
    """Kite's five depth rows of one side (empty rows padded with zeros)."""
    rows = [{"price": rupees(p * tick), "quantity": q, "orders": n} for p, q, n in levels]
    return rows + [{"price": 0.0, "quantity": 0, "orders": 0}] * (5 - len(rows))


@router.get("/quote")
async def quote(
    i: InstrumentKeys, _: KiteUser, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    venue = venue_of(platform)
    out = {}
    for key, ins in await _instruments(session, venue, i):
        md = venue.marketdata(ins.id)
        depth = md.l2(5)
        last = md.last_trade
        out[key] = {
            "instrument_token": token_of(venue, ins.id),
            "timestamp": stamp(datetime.now(UTC)),
            "last_trade_time": None,
            "last_price": _ltp(venue, ins),
            "last_quantity": last.qty if last else 0,
            "buy_quantity": sum(level[1] for level in depth["bids"]),
            "sell_quantity": sum(level[1] for level in depth["asks"]),
            "volume": 0,
            "average_price": 0.0,
            "oi": 0,
            "oi_day_high": 0,
            "oi_day_low": 0,
            "net_change": 0.0,
            "lower_circuit_limit": 0.0,
            "upper_circuit_limit": 0.0,
            "ohlc": await _ohlc(session, venue, ins),
            "depth": {
                "buy": _depth_side(depth["bids"], ins.tick_size),
                "sell": _depth_side(depth["asks"], ins.tick_size),
            },
        }
    return ok(out)


@router.get("/instruments/historical/{instrument_token}/{interval}")
async def historical(
    instrument_token: int,
    interval: str,
    _: KiteUser,
    session: Session,
    platform: PlatformDep,
    from_: Annotated[str, Query(alias="from", max_length=19)],
    to: Annotated[str, Query(max_length=19)],
) -> dict[str, Any]:
    """Candles as Kite sends them: [timestamp (IST, +0530), open, high, low, close, volume]."""
    venue = venue_of(platform)
    instrument = instrument_of(venue, instrument_token)
    if instrument is None:
        raise InstrumentNotFound("Unknown instrument_token.")
    if interval not in INTERVALS:
        raise InvalidInput(f"interval is one of {', '.join(INTERVALS)}.", field="interval")
    try:
        start = datetime.fromisoformat(from_).replace(tzinfo=kite_auth.IST)
        end = datetime.fromisoformat(to).replace(tzinfo=kite_auth.IST)
    except ValueError:
        raise InvalidInput("from and to are `yyyy-mm-dd HH:MM:SS`.", field="from") from None
    bars = await candles.query(
        session,
        venue.name,
        instrument.id,
        INTERVALS[interval],
        int(start.timestamp()) * 1_000_000_000,
        int(end.timestamp()) * 1_000_000_000,
        1000,
    )
    t = instrument.tick_size
    rows = [
        [
            datetime.fromtimestamp(b.bucket / 1e9, tz=kite_auth.IST).strftime(
                "%Y-%m-%dT%H:%M:%S%z"
            ),
            rupees(b.open * t),
            rupees(b.high * t),
            rupees(b.low * t),
            rupees(b.close * t),
            b.volume * instrument.lot_size,
        ]
        for b in bars
    ]
    return ok({"candles": rows})


CSV_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)


async def _instruments_csv(session: AsyncSession, platform: Platform) -> Response:
    venue = venue_of(platform)
    names = {listing.symbol: listing.company_name for listing in await trading.listings(session)}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for ins in await venue.instruments(session):
        if ins.quote_asset != broker.CASH:
            continue
        writer.writerow(
            [
                token_of(venue, ins.id),
                token_of(venue, ins.id) >> 8,
                ins.symbol,
                names.get(ins.symbol, ins.symbol),
                _ltp(venue, ins),
                "",
                0,
                ins.tick_size / 100,
                ins.lot_size,
                "EQ",
                EXCHANGE,
                EXCHANGE,
            ]
        )
    return Response(buffer.getvalue(), media_type="text/csv")


@router.get("/instruments")
async def instruments(_: KiteUser, session: Session, platform: PlatformDep) -> Response:
    """Every INR listing as Kite's CSV dump."""
    return await _instruments_csv(session, platform)


@router.get("/instruments/{exchange}")
async def instruments_of(
    exchange: str, _: KiteUser, session: Session, platform: PlatformDep
) -> Response:
    if exchange != EXCHANGE:
        raise InvalidInput("exchange must be NSE.", field="exchange")
    return await _instruments_csv(session, platform)


MOUNT = "/api/zerodha/kite"

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def kite_origin(app: ASGIApp) -> ASGIApp:
    """An origin whose root is the Kite API: every HTTP/WebSocket path is served from
    `/api/zerodha/kite<path>` of `app` (the official client drops a root's path). The same as an
    nginx server block `location / { proxy_pass http://casebook/api/zerodha/kite/; }`."""

    async def origin(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope["path"] = MOUNT + scope["path"]
            scope["raw_path"] = MOUNT.encode() + scope.get("raw_path", b"")
        await app(scope, receive, send)

    return origin


KITE_HEADER = b"x-kite-version"


def kite_fast_path(platform: Any, app: ASGIApp) -> ASGIApp:
    """The Kite API at the root of Casebook's own origin, for requests that say they are Kite's.

    Kite Connect clients send `X-Kite-Version` on every request (the official ones always do;
    Kite itself requires it) and, having dropped their root's path, ask for `/orders`,
    `/portfolio/holdings`, `/session/token`… at the origin's root. A request with that header
    whose path is not already under `/api/` is served from `/api/zerodha/kite<path>`; every other
    request passes untouched. So `KiteConnect(api_key, root="http://127.0.0.1:8000")` works
    against `casebook serve` on its one port. O(number of headers) per request."""

    async def front(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        path = scope.get("path", "")
        if not path.startswith("/api/") and any(
            name == KITE_HEADER for name, _ in scope.get("headers", ())
        ):
            scope = dict(scope)
            scope["path"] = MOUNT + path
            scope["raw_path"] = MOUNT.encode() + scope.get("raw_path", path.encode())
        await app(scope, receive, send)

    return front


# -- GTT ------------------------------------------------------------------------------------------


def _gtt_dict(row: ZerodhaGtt, client: ZerodhaClient, instrument_id: int) -> dict[str, Any]:
    orders = []
    for index, spec in enumerate(row.orders):
        fired = row.status == "triggered" and row.result is not None
        orders.append(
            {
                "exchange": EXCHANGE,
                "tradingsymbol": row.symbol,
                "product": spec["product"],
                "order_type": "LIMIT",
                "transaction_type": str(spec["side"]).upper(),
                "quantity": spec["quantity"],
                "price": rupees(int(spec["price"])),  # type: ignore[call-overload]
                "result": {
                    "order_result": {
                        "order_id": str(row.result_order_id) if row.result_order_id else "",
                        "status": row.result,
                        "rejection_reason": "" if row.result == "success" else row.result,
                    },
                    "timestamp": stamp(row.updated_at),
                }
                if fired and index == (row.fired_leg or 0)
                else None,
            }
        )
    return {
        "id": row.id,
        "user_id": client.client_code,
        "parent_trigger": None,
        "type": row.type,
        "created_at": stamp(row.created_at),
        "updated_at": stamp(row.updated_at),
        "expires_at": stamp(row.expires_at),
        "status": row.status,
        "condition": {
            "exchange": EXCHANGE,
            "tradingsymbol": row.symbol,
            "instrument_token": instrument_id,
            "trigger_values": [rupees(v) for v in row.trigger_values],
            "last_price": rupees(row.last_price),
        },
        "orders": orders,
        "meta": None,
    }


def _gtt_body(condition: str, orders: str) -> tuple[str, list[int], int, list[gtt.GttOrder]]:
    try:
        cond = json.loads(condition)
        legs = json.loads(orders)
        if not isinstance(cond, dict) or not isinstance(legs, list):
            raise ValueError
        symbol = str(cond["tradingsymbol"])
        if cond.get("exchange", EXCHANGE) != EXCHANGE:
            raise InvalidInput("exchange must be NSE.", field="condition")
        triggers = [paise(str(v), "trigger_values") for v in cond["trigger_values"]]
        last = paise(str(cond["last_price"]), "last_price")
        specs = [
            gtt.GttOrder(
                side="buy" if leg["transaction_type"] == "BUY" else "sell",
                quantity=int(leg["quantity"]),
                product=leg["product"],
                price=paise(str(leg["price"]), "price"),
            )
            for leg in legs
        ]
        if any(leg["transaction_type"] not in ("BUY", "SELL") for leg in legs):
            raise InvalidInput("transaction_type is BUY or SELL.", field="orders")
        if any(leg.get("order_type", "LIMIT") != "LIMIT" for leg in legs):
            raise InvalidInput("GTT orders are LIMIT orders.", field="orders")
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(
            "condition and orders must be the JSON Kite's client sends.", field="condition"
        ) from None
    return symbol, triggers, last, specs


@router.post("/gtt/triggers")
async def place_gtt(
    client: Client,
    session: WriteSession,
    platform: PlatformDep,
    type: Annotated[str, Form(max_length=10)],
    condition: Annotated[str, Form(max_length=2000)],
    orders: Annotated[str, Form(max_length=4000)],
) -> dict[str, Any]:
    symbol, triggers, last, specs = _gtt_body(condition, orders)
    row = await gtt.create(session, venue_of(platform), client, type, symbol, triggers, last, specs)
    return ok({"trigger_id": row.id})


@router.get("/gtt/triggers")
async def get_gtts(client: Client, session: Session, platform: PlatformDep) -> dict[str, Any]:
    venue = venue_of(platform)
    rows = await session.scalars(
        select(ZerodhaGtt)
        .where(ZerodhaGtt.user_id == client.user_id)
        .order_by(ZerodhaGtt.id.desc())
        .limit(500)
    )
    out = []
    for row in rows:
        instrument = await venue.instrument(session, row.symbol)
        out.append(_gtt_dict(row, client, token_of(venue, instrument.id)))
    return ok(out)


def _gtt_id(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise gtt.GttNotFound("There is no such GTT.")
    return int(text)


@router.get("/gtt/triggers/{trigger_id}")
async def get_gtt(
    trigger_id: str, client: Client, session: Session, platform: PlatformDep
) -> dict[str, Any]:
    row = await gtt.mine(session, client.user_id, _gtt_id(trigger_id))
    venue = venue_of(platform)
    instrument = await venue.instrument(session, row.symbol)
    return ok(_gtt_dict(row, client, token_of(venue, instrument.id)))


@router.put("/gtt/triggers/{trigger_id}")
async def modify_gtt(
    trigger_id: str,
    client: Client,
    session: WriteSession,
    platform: PlatformDep,
    type: Annotated[str, Form(max_length=10)],
    condition: Annotated[str, Form(max_length=2000)],
    orders: Annotated[str, Form(max_length=4000)],
) -> dict[str, Any]:
    _, triggers, last, specs = _gtt_body(condition, orders)
    row = await gtt.modify(
        session,
        venue_of(platform),
        client.user_id,
        _gtt_id(trigger_id),
        type,
        triggers,
        last,
        specs,
    )
    return ok({"trigger_id": row.id})


@router.delete("/gtt/triggers/{trigger_id}")
async def delete_gtt(trigger_id: str, client: Client, session: WriteSession) -> dict[str, Any]:
    row = await gtt.delete(session, client.user_id, _gtt_id(trigger_id))
    return ok({"trigger_id": row.id})
