"""The seed's own API (seed-004 §2 "API Design"), with its meaning, on the same venue:

- `POST /users` {username (an e-mail address), password} → 201 (a platform account and its
  Binance spot account); `POST /login` {username, password} → 200 with a bearer token (logout and
  refresh are the platform's `/api/auth/logout|refresh`);
- `GET /trading/pairs` → `[{"symbol": "BTC/USDT", "price": "60000.00000000" | null}]`;
- `POST /trading/orders` {symbol "BTC/USDT", side, type limit|market, price, quantity} → 201
  (Idempotency-Key); `DELETE /trading/orders/{order_id}` → 204;
- `GET /account/balance` → `{"BTC": "0.50000000", "USDT": "2000.00000000"}` (total per asset);
- `GET /account/trades` → `[{id, symbol, side, price, quantity}]`, newest first.

Amounts are decimal strings (exact, never floats; the seed's example uses JSON numbers). A price
or quantity off its pair's tick or lot is a 422 problem, never rounded. Another user's order is
a 404 like a missing one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from casebook.engines.matching.errors import InvalidOrder
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.venue import Instrument, NewOrder, OrderView, Venue
from casebook.platform.auth import service as auth
from casebook.platform.auth.deps import CurrentPrincipal, client_ip
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import NotFound
from casebook.platform.idempotency import Idempotent
from casebook.systems.binance import spot
from casebook.systems.binance.rest import amount_text, price_text, qty_text

router = APIRouter()
DECIMAL = r"^\d{1,12}(\.\d{1,8})?$"


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=254, description="An e-mail address.")
    password: str = Field(min_length=8, max_length=128)


class SeedOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(pattern=r"^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}$", examples=["BTC/USDT"])
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = "limit"
    price: str | None = Field(default=None, pattern=DECIMAL)
    quantity: str = Field(pattern=DECIMAL)


def _venue(platform: Annotated[Platform, Depends(get_platform)]) -> Venue:
    return spot.exchange(platform)


VenueDep = Annotated[Venue, Depends(_venue)]


def _pair_name(instrument: Instrument) -> str:
    return f"{instrument.base_asset}/{instrument.quote_asset}"


def _units(text: str, step: int, field: str) -> int:
    minor = Decimal(text) * spot.SCALE
    if minor != minor.to_integral_value() or int(minor) % step or int(minor) == 0:
        raise InvalidOrder(
            f"{field} must be a positive multiple of {amount_text(step)}.", field=field
        )
    return int(minor) // step


def seed_order(instrument: Instrument, view: OrderView) -> dict[str, Any]:
    return {
        "order_id": str(view.id),
        "symbol": _pair_name(instrument),
        "side": view.side,
        "type": view.type,
        "price": None if view.type == "market" else price_text(instrument, view.price),
        "quantity": qty_text(instrument, view.qty),
        "filled": qty_text(instrument, view.filled_qty),
        "status": view.status,
        "timestamp": view.created_at.isoformat(),
    }


@router.post("/users", status_code=201)
async def create_user(
    body: Credentials, session: WriteSession, platform: Annotated[Platform, Depends(get_platform)]
) -> dict[str, Any]:
    """Register (the seed's `POST /users`): a platform account and its spot account."""
    user = await auth.register_user(
        session,
        body.username,
        body.password,
        body.username.split("@")[0][:100] or "Trader",
        settings=platform.settings,
    )
    await spot.account_of(session, user.id)
    return {"message": "User created successfully", "user_id": str(user.id)}


@router.post("/login")
async def login(
    body: Credentials,
    request: Request,
    session: Session,
    platform: Annotated[Platform, Depends(get_platform)],
) -> dict[str, Any]:
    """Sign in (the seed's `POST /login`): a bearer access token, or 401."""
    pair = await auth.authenticate(
        session,
        platform.settings,
        body.username,
        body.password,
        limiter=platform.rate_limiter,
        client_ip=client_ip(request),
    )
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
        "token_type": "bearer",
    }


@router.get("/trading/pairs")
async def trading_pairs(venue: VenueDep, session: Session) -> list[dict[str, Any]]:
    """Every pair with its last traded price (null before the first trade)."""
    out = []
    for instrument in await venue.instruments(session):
        last = venue.last_price.get(instrument.id)
        price = None if last is None else price_text(instrument, last)
        out.append({"symbol": _pair_name(instrument), "price": price})
    return out


async def _instrument(venue: Venue, session: Session, pair: str) -> Instrument:
    return await venue.instrument(session, pair.replace("/", ""))


@router.post("/trading/orders", status_code=201, dependencies=[Idempotent])
async def place_order(
    body: SeedOrderIn, principal: CurrentPrincipal, venue: VenueDep
) -> dict[str, Any]:
    """Place a spot order; 409 when the wallet cannot cover it (nothing is written then)."""
    async with venue.platform.db.session(write=True) as session:
        account_id = await spot.account_of(session, principal.user_id)
        instrument = await _instrument(venue, session, body.symbol)
    if body.type == "limit" and body.price is None:
        raise InvalidOrder("A limit order needs a price.", field="price")
    if body.type == "market" and body.price is not None:
        raise InvalidOrder("A market order takes no price.", field="price")
    lots = _units(body.quantity, instrument.lot_size, "quantity")
    ticks = None if body.price is None else _units(body.price, instrument.tick_size, "price")
    view = await venue.place(
        NewOrder(
            account_id=account_id,
            instrument_id=instrument.id,
            side=Side.BUY if body.side == "buy" else Side.SELL,
            qty=lots,
            price=ticks,
            type=body.type,
            tif=TimeInForce.GTC,
        )
    )
    return seed_order(instrument, view)


@router.delete("/trading/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, principal: CurrentPrincipal, venue: VenueDep) -> Response:
    """Cancel one of the caller's open orders (404 for anyone else's, 409 if no longer open)."""
    async with venue.platform.db.session() as session:
        account_id = await spot.existing_account(session, principal.user_id)
    if account_id is None:
        raise NotFound(f"There is no order {order_id} of this account.")
    await venue.cancel(account_id, order_id)
    return Response(status_code=204)


@router.get("/account/balance")
async def account_balance(
    principal: CurrentPrincipal, venue: VenueDep, session: Session
) -> dict[str, str]:
    """The caller's total holding per asset (free + locked), as decimal strings."""
    account_id = await spot.existing_account(session, principal.user_id)
    if account_id is None:
        return {}
    return {b.asset: amount_text(b.total) for b in await venue.balances(session, account_id)}


@router.get("/account/trades")
async def account_trades(
    principal: CurrentPrincipal, venue: VenueDep, session: Session
) -> list[dict[str, Any]]:
    """The caller's latest 100 fills, newest first."""
    account_id = await spot.existing_account(session, principal.user_id)
    if account_id is None:
        return []
    trades, _ = await venue.trades(session, account_id, limit=100)
    out = []
    for trade in trades:
        instrument = venue.listed[trade.instrument_id]
        out.append(
            {
                "id": str(trade.id),
                "symbol": _pair_name(instrument),
                "side": trade.side,
                "price": price_text(instrument, trade.price),
                "quantity": qty_text(instrument, trade.qty),
                "fee": amount_text(trade.fee),
                "fee_asset": instrument.quote_asset,
            }
        )
    return out
