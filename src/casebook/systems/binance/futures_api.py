"""`/api/binance/futures/*`: USDT-M perpetual futures for a signed-in user (session or API key).

- `GET /futures/account` — wallet, margin balance, positions at mark (uPnL, liquidation price);
- `POST /futures/transfer` (Idempotency-Key) — USDT between the spot and futures wallets;
- `POST /futures/leverage`, `POST /futures/margin-type` — per contract, only when flat (409);
- `POST /futures/orders` (Idempotency-Key), `DELETE /futures/orders/{id}`, `GET /futures/orders`;
- `GET /futures/positions`, `GET /futures/funding-history` — the caller's own;
- `GET /futures/premium-index` — public: mark, index, funding rate, next funding time.

Amounts are USDT minor units (8 decimals) as integers; prices ticks of 0.01 USDT, quantities lots
of 0.001 of the base. Another user's order is a 404 like a missing one. Routes that go through
the venue resolve the account in a short transaction of their own first (a request-long write
session would hold SQLite's write lock while the venue's writer waits for it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from casebook.engines.matching.errors import InvalidOrder
from casebook.engines.matching.types import Side, TimeInForce
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import new_id
from casebook.systems.binance import futures, futures_fapi
from casebook.systems.binance.futures_models import FuturesFunding, FuturesPosition
from casebook.systems.binance.futures_settlement import MAX_LEVERAGE

router = APIRouter(tags=["binance"])
PlatformDep = Annotated[Platform, Depends(get_platform)]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=1, le=10**15, description="USDT minor units (8 decimals).")
    direction: Literal["to_futures", "to_spot"]


class LeverageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=20)
    leverage: int = Field(ge=1, le=MAX_LEVERAGE)


class MarginTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=20)
    margin_type: Literal["cross", "isolated"]


class FuturesOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=20)
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = "limit"
    qty: int = Field(ge=1, le=10**12, description="Contracts (lots of 0.001).")
    price: int | None = Field(default=None, ge=1, le=10**12, description="Ticks; limit only.")
    tif: Literal["gtc", "ioc", "fok"] = "gtc"
    post_only: bool = False
    client_order_id: str | None = Field(default=None, min_length=1, max_length=64)


async def _own_account(principal: CurrentPrincipal, platform: PlatformDep) -> int:
    async with platform.db.session(write=True) as session:
        return await futures.account_of(session, principal.user_id)


AccountDep = Annotated[int, Depends(_own_account)]


def _position(row: FuturesPosition, symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "qty": row.qty,
        "leverage": row.leverage,
        "margin_type": row.mode,
        "realised_pnl": row.realised_pnl,
    }


@router.get("/futures/account", responses=_problems(401))
async def get_account(account: AccountDep, platform: PlatformDep) -> dict[str, Any]:
    """The caller's futures wallet and positions at mark (USDT minor units; prices in ticks,
    entry and liquidation prices as decimal strings)."""
    async with platform.db.session(write=True) as session:
        view = await futures.account_view(platform, session, account)
    body = asdict(view)
    body["account_id"] = str(view.account_id)
    return body


@router.get("/futures/positions", responses=_problems(401))
async def get_positions(account: AccountDep, platform: PlatformDep) -> dict[str, Any]:
    """The caller's open positions at mark."""
    async with platform.db.session(write=True) as session:
        view = await futures.account_view(platform, session, account)
    return {"items": [asdict(p) for p in view.positions if p.qty != 0]}


@router.post(
    "/futures/transfer", status_code=201, dependencies=[Idempotent], responses=_problems(401, 409)
)
async def post_transfer(
    body: TransferIn, principal: CurrentPrincipal, platform: PlatformDep, session: WriteSession
) -> dict[str, Any]:
    """Move USDT between the caller's spot and futures wallets. 409 when the source cannot
    cover it, or when leaving futures would under-margin the open cross positions."""
    key = new_id()
    await futures.transfer(
        platform, session, principal.user_id, body.amount, body.direction == "to_futures", key
    )
    return {"transfer_id": str(key), "amount": body.amount, "direction": body.direction}


@router.post("/futures/leverage", responses=_problems(401, 404, 409, 422))
async def post_leverage(
    body: LeverageIn, principal: CurrentPrincipal, platform: PlatformDep, session: WriteSession
) -> dict[str, Any]:
    """Set the caller's leverage (1-20) for a contract; 409 with an open position or orders."""
    row = await futures.set_leverage(
        platform, session, principal.user_id, body.symbol.upper(), body.leverage
    )
    return _position(row, body.symbol.upper())


@router.post("/futures/margin-type", responses=_problems(401, 404, 409, 422))
async def post_margin_type(
    body: MarginTypeIn, principal: CurrentPrincipal, platform: PlatformDep, session: WriteSession
) -> dict[str, Any]:
    """Switch a contract between cross and isolated margin; 409 with an open position or
    orders."""
    row = await futures.set_margin_type(
        platform, session, principal.user_id, body.symbol.upper(), body.margin_type
    )
    return _position(row, body.symbol.upper())


@router.post(
    "/futures/orders",
    status_code=201,
    dependencies=[Idempotent],
    responses=_problems(401, 404, 409, 422, 503),
)
async def post_order(
    body: FuturesOrderIn, account: AccountDep, platform: PlatformDep
) -> dict[str, Any]:
    """Place a futures order; it holds initial margin (notional / leverage) + the fee. A market
    order executes as an IOC limited to the mark ± 5 %. 409 when the margin cannot be held."""
    venue = futures.futures_venue(platform)
    async with platform.db.session() as session:
        instrument = await venue.instrument(session, body.symbol.upper())
    if body.type == "market" and body.price is not None:
        raise InvalidOrder("A market order takes no price.", field="price")
    view = await futures.place_order(
        platform,
        account,
        instrument,
        Side.BUY if body.side == "buy" else Side.SELL,
        body.qty,
        body.price,
        body.type,
        tif=TimeInForce[body.tif.upper()],
        post_only=body.post_only,
        client_order_id=body.client_order_id,
    )
    return view.as_dict()


@router.delete("/futures/orders/{order_id}", responses=_problems(401, 404, 409, 503))
async def delete_order(order_id: int, account: AccountDep, platform: PlatformDep) -> dict[str, Any]:
    """Cancel one of the caller's open orders; its margin hold is released."""
    return (await futures.futures_venue(platform).cancel(account, order_id)).as_dict()


@router.get("/futures/orders", responses=_problems(401, 404, 422))
async def list_orders(
    account: AccountDep,
    platform: PlatformDep,
    session: Session,
    open: bool = False,
    symbol: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The caller's futures orders, newest first, one page (each with its contract's symbol)."""
    venue = futures.futures_venue(platform)
    instrument_id = (await venue.instrument(session, symbol.upper())).id if symbol else None
    orders, following = await venue.orders(
        session,
        account,
        open_only=open,
        instrument_id=instrument_id,
        cursor=int(cursor) if cursor else None,
        limit=limit,
    )
    return {
        "items": [{**o.as_dict(), "symbol": venue.listed[o.instrument_id].symbol} for o in orders],
        "next_cursor": str(following) if following else None,
    }


@router.get("/futures/premium-index", responses=_problems(404))
async def premium_index(
    platform: PlatformDep,
    session: Session,
    symbol: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """Mark and index prices (ticks), the funding rate (10**-8 units and a decimal string) and
    the next funding time (ms since the epoch) of one contract or all."""
    venue = futures.futures_venue(platform)
    listed = (
        [await venue.instrument(session, symbol.upper())]
        if symbol
        else sorted(venue.listed.values(), key=lambda i: i.symbol)
    )
    next_time = futures.next_funding_time() * 1000
    items = []
    for instrument in listed:
        quote = futures.prices(platform, instrument)
        items.append(
            {
                "symbol": instrument.symbol,
                "mark_price": quote.mark,
                "index_price": quote.index,
                "funding_rate_e8": quote.funding_rate_e8,
                "funding_rate": f"{quote.funding_rate_e8 / 10**8:.8f}",
                "next_funding_time": next_time,
            }
        )
    return {"items": items}


@router.get("/futures/funding-history", responses=_problems(401, 422))
async def funding_history(
    account: AccountDep,
    session: Session,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The caller's funding payments, newest first (+ received, - paid, USDT minor units)."""
    query = select(FuturesFunding).where(FuturesFunding.account_id == account)
    if cursor:
        query = query.where(FuturesFunding.id < int(cursor))
    rows = list(await session.scalars(query.order_by(FuturesFunding.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [
            {
                "id": str(r.id),
                "instrument_id": str(r.instrument_id),
                "funding_time": r.funding_time * 1000,
                "qty": r.qty,
                "rate_e8": r.rate_e8,
                "mark_price": r.mark,
                "amount": r.amount,
                "insurance_covered": r.insurance_covered,
            }
            for r in rows
        ],
        "next_cursor": str(rows[-1].id) if more else None,
    }


router.include_router(futures_fapi.router)
