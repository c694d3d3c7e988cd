"""Zerodha's REST under /api/zerodha: opening an account (our KYC, attested to the exchange),
funds (pay-in, pay-out), Kite Connect apps, contract notes (charges); the Kite Connect
compatible API is mounted under /kite (kite.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select

from casebook.engines.matching.venue import OrderView, Venue
from casebook.platform.auth.deps import Principal, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import new_id
from casebook.platform.ratelimit import enforce
from casebook.systems.stock_exchange import trading
from casebook.systems.zerodha import broker, kite_auth, oms, portfolio, runtime
from casebook.systems.zerodha.kite import ORDER_RATE, STATUS
from casebook.systems.zerodha.kite import router as kite_router
from casebook.systems.zerodha.models import ZerodhaCharge, ZerodhaClient, ZerodhaOrder
from casebook.systems.zerodha.schemas import (
    AppIn,
    AppOut,
    ChargeOut,
    ClientOut,
    FundsIn,
    FundsOut,
    HoldingOut,
    InstrumentOut,
    OnboardIn,
    OrderIn,
    OrderOut,
    PortfolioOut,
    PositionOut,
)

_MEANINGS = {
    401: "Missing or invalid credentials",
    403: "The credential lacks the scope",
    404: "Not found (or not yours), or no Zerodha account yet",
    409: "Conflict: already done, or not enough cash/shares",
    422: "Invalid input",
    429: "Too many requests (Retry-After)",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": _MEANINGS[s], "content": {PROBLEM_JSON: {}}} for s in statuses}


READ = "zerodha:read"
TRADE = "zerodha:trade"
IdPath = Annotated[int, Path(gt=0, lt=2**63)]
Reader = Annotated[Principal, Depends(require_scope(READ))]
Trader = Annotated[Principal, Depends(require_scope(TRADE))]

router = APIRouter()
router.include_router(kite_router, prefix="/kite")


async def get_venue(platform: Annotated[Platform, Depends(get_platform)]) -> Venue:
    return runtime.exchange(platform)


VenueDep = Annotated[Venue, Depends(get_venue)]
PlatformDep = Annotated[Platform, Depends(get_platform)]


def _client_out(client: ZerodhaClient) -> ClientOut:
    return ClientOut(
        user_id=client.user_id,
        client_code=client.client_code,
        account_id=client.account_id,
        legal_name=client.legal_name,
        onboarded_at=client.onboarded_at,
    )


@router.post(
    "/account", status_code=201, response_model=ClientOut, responses=problems(401, 403, 409, 422)
)
async def open_account(
    body: OnboardIn,
    principal: Trader,
    session: WriteSession,
    venue: VenueDep,
    platform: PlatformDep,
) -> ClientOut:
    """Open a Zerodha account: PAN and name (our KYC), then a seat under member Zerodha at the
    exchange, the exchange account, and our attestation of the KYC to the exchange."""
    client = await broker.onboard(
        session, venue, runtime.house(platform), principal.user_id, body.legal_name, body.pan
    )
    return _client_out(client)


@router.get("/account", response_model=ClientOut, responses=problems(401, 403, 404))
async def my_account(principal: Reader, session: Session) -> ClientOut:
    return _client_out(await broker.client_of(session, principal.user_id))


async def _funds(session: Session, venue: Venue, client: ZerodhaClient) -> FundsOut:
    for balance in await venue.balances(session, client.account_id):
        if balance.asset == broker.CASH:
            return FundsOut(
                total=balance.total, blocked=balance.locked, available=balance.available
            )
    return FundsOut(total=0, blocked=0, available=0)


@router.get("/funds", response_model=FundsOut, responses=problems(401, 403, 404))
async def funds(principal: Reader, session: Session, venue: VenueDep) -> FundsOut:
    """Cash in paise: total, blocked (open orders' margin and charge reserves), available."""
    return await _funds(session, venue, await broker.client_of(session, principal.user_id))


@router.post(
    "/funds/deposits",
    status_code=201,
    response_model=FundsOut,
    dependencies=[Idempotent],
    responses=problems(401, 403, 404, 422),
)
async def deposit(
    body: FundsIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> FundsOut:
    """Pay-in from the client's bank."""
    client = await broker.client_of(session, principal.user_id)
    await broker.add_funds(session, venue, client, body.amount, new_id())
    return await _funds(session, venue, client)


@router.post(
    "/funds/withdrawals",
    status_code=201,
    response_model=FundsOut,
    dependencies=[Idempotent],
    responses=problems(401, 403, 404, 409, 422),
)
async def withdraw(
    body: FundsIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> FundsOut:
    """Pay-out to the client's bank; 409 beyond the available cash."""
    client = await broker.client_of(session, principal.user_id)
    await broker.withdraw_funds(session, venue, client, body.amount, new_id())
    return await _funds(session, venue, client)


@router.post(
    "/apps", status_code=201, response_model=AppOut, responses=problems(401, 403, 404, 422)
)
async def create_app(body: AppIn, principal: Trader, session: WriteSession) -> AppOut:
    """A Kite Connect app (api_key, api_secret) for the caller's own algorithms."""
    await broker.client_of(session, principal.user_id)
    app = await kite_auth.create_app(session, principal.user_id, body.name, body.redirect_url)
    return AppOut(
        api_key=app.api_key, api_secret=app.api_secret, name=app.name, redirect_url=app.redirect_url
    )


@router.get("/charges", response_model=list[ChargeOut], responses=problems(401, 403))
async def contract_notes(principal: Reader, session: Session) -> list[ChargeOut]:
    """The charges of the caller's executed orders, newest first (the last 200)."""
    rows = await session.scalars(
        select(ZerodhaCharge)
        .where(ZerodhaCharge.user_id == principal.user_id)
        .order_by(ZerodhaCharge.order_id.desc())
        .limit(200)
    )
    return [
        ChargeOut(
            order_id=r.order_id,
            product=r.product,
            side=r.side,
            turnover=r.turnover,
            brokerage=r.brokerage,
            stt=r.stt,
            exchange_txn=r.exchange_txn,
            sebi=r.sebi,
            stamp_duty=r.stamp_duty,
            gst=r.gst,
            total=r.total,
            collected=r.collected,
            at=r.at,
        )
        for r in rows
    ]


# -- orders and portfolio (the seed's /api/order and /portfolio; the page uses these) ----------


def _order_out(venue: Venue, row: ZerodhaOrder, view: OrderView | None) -> OrderOut:
    if view is None:
        return OrderOut(
            order_id=row.order_id,
            symbol=row.symbol,
            side="",
            quantity=0,
            product=row.product,
            order_type="",
            price=0,
            status="REJECTED",
            filled_quantity=0,
            average_price=0,
            created_at=row.created_at,
        )
    instrument = venue.listed[view.instrument_id]
    shares = view.filled_qty * instrument.lot_size
    return OrderOut(
        order_id=row.order_id,
        symbol=row.symbol,
        side=view.side,
        quantity=view.qty * instrument.lot_size,
        product=row.product,
        order_type=view.type.upper(),
        price=view.price * instrument.tick_size if view.type == "limit" else 0,
        status=STATUS[view.status],
        filled_quantity=shares,
        average_price=view.notional_filled // shares if shares else 0,
        created_at=row.created_at,
    )


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    dependencies=[Idempotent],
    responses=problems(401, 403, 404, 409, 422, 429),
)
async def place_order(
    body: OrderIn, principal: Trader, session: Session, venue: VenueDep, platform: PlatformDep
) -> OrderOut:
    """Place an order at the exchange through Zerodha (prices in paise)."""
    client = await broker.client_of(session, principal.user_id)
    await enforce(platform, f"zerodha:orders:{principal.user_id}", ORDER_RATE)
    placed = await oms.place(
        platform,
        venue,
        client,
        oms.OrderRequest(
            symbol=body.symbol,
            side=body.side,
            quantity=body.quantity,
            product=body.product,
            order_type=body.order_type,
            price=body.price,
        ),
    )
    return _order_out(venue, placed.row, placed.view)


@router.get("/orders", response_model=list[OrderOut], responses=problems(401, 403, 404))
async def list_orders(principal: Reader, session: Session, venue: VenueDep) -> list[OrderOut]:
    """The caller's latest 100 orders, newest first."""
    client = await broker.client_of(session, principal.user_id)
    rows = await session.scalars(
        select(ZerodhaOrder)
        .where(ZerodhaOrder.user_id == client.user_id)
        .order_by(ZerodhaOrder.order_id.desc())
        .limit(100)
    )
    return [_order_out(venue, row, await oms.venue_order(session, venue, row)) for row in rows]


@router.get("/orders/{order_id}", response_model=OrderOut, responses=problems(401, 403, 404))
async def get_order(
    order_id: IdPath, principal: Reader, session: Session, venue: VenueDep
) -> OrderOut:
    row, view = await oms.order_of(session, venue, principal.user_id, order_id)
    return _order_out(venue, row, view)


@router.delete(
    "/orders/{order_id}", response_model=OrderOut, responses=problems(401, 403, 404, 409)
)
async def cancel_order(
    order_id: IdPath, principal: Trader, session: Session, venue: VenueDep, platform: PlatformDep
) -> OrderOut:
    """Cancel an open order; its margin and charge reserve are released."""
    await oms.cancel(platform, venue, principal.user_id, order_id)
    row, view = await oms.order_of(session, venue, principal.user_id, order_id)
    return _order_out(venue, row, view)


@router.get("/portfolio", response_model=PortfolioOut, responses=problems(401, 403, 404))
async def my_portfolio(principal: Reader, session: Session, venue: VenueDep) -> PortfolioOut:
    """Holdings (delivery) and the day's positions, in paise, marked at the last price."""
    client = await broker.client_of(session, principal.user_id)
    now = datetime.now(UTC)
    return PortfolioOut(
        holdings=[
            HoldingOut(
                symbol=h.symbol,
                quantity=h.quantity,
                t1_quantity=h.t1_quantity,
                average_price=h.average_price,
                last_price=h.last_price,
                pnl=h.pnl,
            )
            for h in await portfolio.holdings(session, venue, client, now)
        ],
        positions=[
            PositionOut(
                symbol=p.symbol,
                product=p.product,
                quantity=p.quantity,
                buy_quantity=p.buy_quantity,
                buy_value=p.buy_value,
                sell_quantity=p.sell_quantity,
                sell_value=p.sell_value,
                last_price=p.last_price,
                pnl=p.pnl,
            )
            for p in await portfolio.positions(session, venue, client, now)
        ],
    )


@router.get("/instruments", response_model=list[InstrumentOut])
async def watchlist(session: Session, venue: VenueDep) -> list[InstrumentOut]:
    """The INR listings Zerodha's clients trade, with the last price in paise (public)."""
    names = {listing.symbol: listing.company_name for listing in await trading.listings(session)}
    return [
        InstrumentOut(
            symbol=ins.symbol,
            company_name=names.get(ins.symbol, ins.symbol),
            instrument_id=ins.id,
            last_price=(venue.last_price.get(ins.id) or ins.reference_price or 0) * ins.tick_size,
        )
        for ins in await venue.instruments(session)
        if ins.quote_asset == broker.CASH
    ]
