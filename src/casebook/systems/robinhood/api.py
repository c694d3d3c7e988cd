"""`/api/robinhood`: the seed's endpoints and the brokerage's.

Seed (seed-001 §2): `POST /users/register`, `POST /users/login` (the platform identity; the
username is the e-mail), `GET /stocks/{symbol}` (quote, name and news), `POST /orders`,
`GET /account/balance`. Besides: onboarding (`/onboarding`: KYC + AML before any order), cash
transfers with the simulated bank (`/transfers`), orders (`GET /orders`, `GET|DELETE
/orders/{id}`), the account (`/account`: cash, positions, value; `/account/statement`;
`/account/portfolio`), charts (`/stocks/{symbol}/chart`) and the watchlist (`/watchlist`).

Every route but register/login and the stock reads needs a signed-in user (API keys need
`robinhood:read` / `robinhood:trade`); another customer's order answers 404 like a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import func, select

from casebook.engines.matching import candles, news
from casebook.engines.matching.venue import Venue
from casebook.platform.auth import service as auth
from casebook.platform.auth.deps import Principal, client_ip, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON, InvalidInput
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import new_id
from casebook.systems.robinhood import brokerage, onboarding, portfolio, watchlist
from casebook.systems.robinhood.books import MICRO, customer_owner
from casebook.systems.robinhood.errors import OnboardingRejected
from casebook.systems.robinhood.house import STOCKS, exchange
from casebook.systems.robinhood.models import Customer, Order
from casebook.systems.robinhood.schemas import (
    AccountOut,
    CandleOut,
    NewsOut,
    OnboardingIn,
    OnboardingOut,
    OrderIn,
    OrderOut,
    OrderPage,
    PointOut,
    PositionOut,
    QuoteOut,
    StatementLineOut,
    StockOut,
    TransferIn,
    WatchlistOut,
)

router = APIRouter()
Reader = Annotated[Principal, Depends(require_scope("robinhood:read"))]
Trader = Annotated[Principal, Depends(require_scope("robinhood:trade"))]
Id = Annotated[int, Path(gt=0, lt=2**63)]
Symbol = Annotated[str, Path(min_length=1, max_length=20, pattern="^[A-Za-z0-9._-]+$")]
NAMES = {symbol: name for symbol, name, _ in STOCKS}
CENT = Decimal("0.01")


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


async def get_venue(platform: Annotated[Platform, Depends(get_platform)]) -> Venue:
    return exchange(platform)


VenueDep = Annotated[Venue, Depends(get_venue)]


def dollars(cents: int | None) -> str | None:
    return None if cents is None else str((Decimal(cents) / 100).quantize(CENT))


def money(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(CENT))


def shares(micro: int) -> str:
    return str((Decimal(micro) / MICRO).quantize(Decimal("0.000001")))


def order_out(order: Order) -> OrderOut:
    average = None
    if order.filled_micro:
        average = str((Decimal(order.amount) * MICRO / order.filled_micro / 100).quantize(CENT))
    return OrderOut(
        id=order.id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        time_in_force=order.tif,
        shares=shares(order.micro_shares),
        dollars=dollars(order.dollars),
        limit_price=dollars(order.limit_price) if order.type == "limit" else None,
        filled_shares=shares(order.filled_micro),
        average_price=average,
        amount=money(order.amount),
        commission="0.00",
        status=order.status,
        reason=order.reason,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


# -- the seed's users ------------------------------------------------------------------------------


@router.post("/users/register", status_code=201, responses=_problems(409, 422))
async def register(body: dict[str, str], session: WriteSession, request: Request) -> dict[str, Any]:
    """The seed's sign-up: `{"username": e-mail, "password", "email"?}`; a platform user."""
    email = body.get("email") or body.get("username") or ""
    password = body.get("password") or ""
    platform: Platform = request.app.state.platform
    user = await auth.register_user(
        session, email, password, email.split("@")[0], settings=platform.settings
    )
    return {"user_id": str(user.id), "message": "User registered; complete onboarding to trade."}


@router.post("/users/login", responses=_problems(401, 422, 429))
async def login(body: dict[str, str], session: WriteSession, request: Request) -> dict[str, Any]:
    """The seed's login: `{"username": e-mail, "password"}` → the platform's token pair."""
    platform: Platform = request.app.state.platform
    pair = await auth.authenticate(
        session,
        platform.settings,
        body.get("username") or body.get("email") or "",
        body.get("password") or "",
        limiter=platform.rate_limiter,
        client_ip=client_ip(request),
    )
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
        "token_type": "bearer",
    }


# -- onboarding and cash ---------------------------------------------------------------------------


def onboarding_out(record: Any) -> OnboardingOut:
    return OnboardingOut(
        status=record.status,
        reason=record.reason,
        legal_name=record.legal_name,
        tax_id_last4=record.tax_id_last4,
        decided_at=record.decided_at,
    )


@router.post("/onboarding", status_code=201, responses=_problems(401, 409, 422))
async def apply(body: OnboardingIn, principal: Trader, session: WriteSession) -> OnboardingOut:
    """Open a brokerage account: identity (KYC) and the AML screen, decided at once. A refused
    application answers 201 with `status: rejected` and the reason; fix it and apply again."""
    record = await onboarding.apply(
        session,
        principal.user_id,
        onboarding.Application(body.legal_name, body.date_of_birth, body.country, body.tax_id),
        datetime.now(UTC).date(),
    )
    return onboarding_out(record)


@router.get("/onboarding", responses=_problems(401, 403))
async def onboarding_status(principal: Reader, session: Session) -> OnboardingOut:
    """The caller's onboarding record (403 onboarding-required when they never applied)."""
    try:
        record = await onboarding.require_approved(session, principal.user_id)
    except OnboardingRejected:
        found = await session.get(Customer, principal.user_id)
        assert found is not None
        record = found
    return onboarding_out(record)


@router.post(
    "/transfers", status_code=201, dependencies=[Idempotent], responses=_problems(401, 403, 409)
)
async def transfer(
    body: TransferIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> AccountOut:
    """Move cash from (deposit) or to (withdrawal) the customer's bank; instant, simulated.
    409 ledger/exceeds-credits when a withdrawal exceeds the cash."""
    await onboarding.require_approved(session, principal.user_id)
    cents = int(body.amount * 100)
    await portfolio.move_cash(session, principal.user_id, body.direction, cents, new_id())
    return await _account(session, venue, principal.user_id, record=True)


# -- orders ----------------------------------------------------------------------------------------


@router.post(
    "/orders",
    status_code=201,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 404, 409, 422),
)
async def place_order(
    body: OrderIn, principal: Trader, request: Request, session: Session
) -> OrderOut:
    """Buy or sell, commission-free: `shares` (fractional to 6 places) or `dollars` (market
    buys), `type` market (default) or limit (whole shares, `limit_price`). Answers the order as
    settled so far: a market order is final; a limit order may rest (`open`)."""
    platform: Platform = request.app.state.platform
    order = await brokerage.place(
        platform,
        principal.user_id,
        brokerage.OrderRequest(
            symbol=body.symbol.upper(),
            side=body.side,
            type=body.type,
            micro_shares=int(body.shares * MICRO) if body.shares is not None else None,
            dollars=int(body.dollars * 100) if body.dollars is not None else None,
            limit_price=int(body.limit_price * 100) if body.limit_price is not None else None,
            tif=body.time_in_force,
        ),
    )
    async with platform.db.session(write=True) as own:
        await _account(own, exchange(platform), principal.user_id, record=True)
    return order_out(order)


@router.get("/orders", responses=_problems(401, 422))
async def list_orders(
    principal: Reader,
    session: Session,
    cursor: Annotated[int | None, Query(gt=0, lt=2**63)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> OrderPage:
    """The caller's orders, newest first; `next_cursor` pages on."""
    rows, more = await brokerage.orders_of(session, principal.user_id, cursor, limit)
    return OrderPage(orders=[order_out(o) for o in rows], next_cursor=str(more) if more else None)


@router.get("/orders/{order_id}", responses=_problems(401, 404))
async def get_order(order_id: Id, principal: Reader, session: Session) -> OrderOut:
    return order_out(await brokerage.order_of(session, principal.user_id, order_id))


@router.delete("/orders/{order_id}", responses=_problems(401, 404, 409))
async def cancel_order(order_id: Id, principal: Trader, request: Request) -> OrderOut:
    """Cancel an open limit order; what filled stays, the rest of the escrow comes back."""
    platform: Platform = request.app.state.platform
    return order_out(await brokerage.cancel(platform, principal.user_id, order_id))


# -- account ---------------------------------------------------------------------------------------


async def _account(session: Any, venue: Venue, user_id: int, *, record: bool = False) -> AccountOut:
    reserved = await session.scalar(
        select(func.coalesce(func.sum(Order.reserved_cash - Order.amount), 0)).where(
            Order.owner == customer_owner(user_id), Order.closed.is_(False), Order.side == "buy"
        )
    )
    current = await portfolio.summary(session, venue, user_id, int(reserved or 0))
    if record:
        await portfolio.record_point(session, user_id, current)
    return AccountOut(
        cash=money(current.cash),
        reserved=money(current.reserved),
        equity=money(current.equity),
        total=money(current.total),
        positions=[
            PositionOut(
                symbol=p.symbol,
                shares=shares(p.micro_shares),
                price=money(p.price),
                value=money(p.value),
            )
            for p in current.positions
        ],
    )


@router.get("/account", responses=_problems(401))
async def account(principal: Reader, session: Session, venue: VenueDep) -> AccountOut:
    """Cash, cash reserved by open orders, positions at the last price, and the total."""
    return await _account(session, venue, principal.user_id)


@router.get("/account/balance", responses=_problems(401))
async def account_balance(principal: Reader, session: Session, venue: VenueDep) -> AccountOut:
    """The seed's balance endpoint: the same as `/account`."""
    return await _account(session, venue, principal.user_id)


@router.get("/account/portfolio", responses=_problems(401, 422))
async def portfolio_history(
    principal: Reader,
    session: Session,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[PointOut]:
    """Portfolio value over time: a point after every deposit, withdrawal and order."""
    points = await portfolio.history(session, principal.user_id, since, limit)
    return [
        PointOut(
            at=p.at, cash=money(p.cash), equity=money(p.equity), total=money(p.cash + p.equity)
        )
        for p in points
    ]


@router.get("/account/statement", responses=_problems(401, 422))
async def statement(
    principal: Reader,
    session: Session,
    response: Response,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[StatementLineOut]:
    """The cash account's movements, newest first (`X-Next-Cursor` pages on)."""
    lines, more = await portfolio.cash_statement(session, principal.user_id, cursor, limit)
    if more:
        response.headers["X-Next-Cursor"] = more
    return [
        StatementLineOut(
            transfer_id=line.transfer.id,
            code=line.transfer.code,
            amount=money(line.amount),
            balance=money(line.balance),
            at=line.transfer.created_at,
        )
        for line in lines
    ]


# -- stocks ----------------------------------------------------------------------------------------


async def _quote(venue: Venue, session: Any, symbol: str) -> QuoteOut:
    instrument = await brokerage.instrument_of(venue, session, symbol)
    book = venue.book(instrument.id)
    last = venue.last_price.get(instrument.id)
    return QuoteOut(
        symbol=instrument.symbol,
        name=NAMES.get(instrument.symbol, instrument.symbol),
        last_price=dollars(last),
        bid=dollars(book.best_bid()),
        ask=dollars(book.best_ask()),
    )


@router.get("/stocks/{symbol}", responses=_problems(404))
async def stock(symbol: Symbol, session: Session, venue: VenueDep) -> StockOut:
    """The seed's stock read: name, last price, best bid and ask, and the latest news (the
    exchange's news feed, `engines/matching/news.py`). Public."""
    quote = await _quote(venue, session, symbol)
    items = await news.latest(session, venue.name, quote.symbol, limit=10)
    return StockOut(
        **quote.model_dump(),
        news=[
            NewsOut(
                id=i.id,
                headline=i.headline,
                body=i.body,
                source=i.source,
                published_at=i.published_at,
            )
            for i in items
        ],
    )


@router.get("/stocks/{symbol}/chart", responses=_problems(404, 422))
async def chart(
    symbol: Symbol,
    session: Session,
    venue: VenueDep,
    interval: Annotated[str, Query(pattern="^(1m|5m|1h|1d)$")] = "5m",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CandleOut]:
    """Price history: the latest `limit` OHLCV bars of `interval`, oldest first. Public."""
    instrument = await brokerage.instrument_of(venue, session, symbol)
    bars = await candles.query(session, venue.name, instrument.id, interval, None, None, limit)
    return [
        CandleOut(
            start=b.bucket,
            open=money(b.open),
            high=money(b.high),
            low=money(b.low),
            close=money(b.close),
            volume=b.volume,
        )
        for b in bars
    ]


@router.get("/watchlist", responses=_problems(401))
async def get_watchlist(principal: Reader, session: Session, venue: VenueDep) -> WatchlistOut:
    """The caller's watchlist with a quote per symbol."""
    symbols = await watchlist.symbols(session, principal.user_id)
    return WatchlistOut(symbols=[await _quote(venue, session, s) for s in symbols])


@router.put("/watchlist/{symbol}", status_code=204, responses=_problems(401, 404, 409))
async def follow(symbol: Symbol, principal: Trader, session: WriteSession, venue: VenueDep) -> None:
    instrument = await brokerage.instrument_of(venue, session, symbol)
    await watchlist.add(session, principal.user_id, instrument.symbol)


@router.delete("/watchlist/{symbol}", status_code=204, responses=_problems(401))
async def unfollow(symbol: Symbol, principal: Trader, session: WriteSession) -> None:
    if not symbol:
        raise InvalidInput("symbol is required")
    await watchlist.remove(session, principal.user_id, symbol.upper())
