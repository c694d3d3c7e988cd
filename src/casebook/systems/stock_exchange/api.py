"""`/api/stock-exchange`: the seed's endpoints and the exchange's own.

The seed's API (seed-000 §2), with its meaning: `POST /register` and `POST /login` (delegating
to the platform's identity: `username` is the e-mail address), `POST /orders`,
`GET /orders/{id}`, `DELETE /orders/{id}` (204), `GET /account/balance` — bearer token required
for all but the first two. Orders take the seed's body (`{"symbol":"AAPL","side":"buy",
"quantity":10,"price":150.50}`) plus `type` (limit/market) and `time_in_force` (gtc/day/ioc/fok).

The matching engine's generic trading REST (ticks and lots, with replace and fills) is mounted
under `/venue/…` for the caller's account `main`. Besides: listings (`GET /instruments`, public),
public market data (`/instruments/{symbol}/quote`, `/depth`, `/trades`, `/candles`, `/ticker`;
the live stream is `/ws/stock-exchange/market`), membership (`/me`, `/members`, `/accounts`),
KYC (`/kyc`), deposits and withdrawals (`/account/deposits`, `/account/withdrawals`), reports
(`/reports/daily`, `/reports/settlement`) and the staff's compliance desk (`/compliance/…`,
compliance_api.py).

Credentials: a session may do everything; an API key needs `stock-exchange:read` to read and
`stock-exchange:trade` to trade or move funds. Another user's order answers 404, like a missing
one; balances are only ever the caller's own accounts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import api as venue_api
from casebook.engines.matching import md_api
from casebook.engines.matching.marketdata import decimal_text
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.venue import Instrument, OrderView, Venue
from casebook.platform.auth import service as auth
from casebook.platform.auth.deps import Principal, client_ip, require_scope
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import NotFound
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange import aml, kyc, members, reports, staff, trading
from casebook.systems.stock_exchange.compliance_api import kyc_out, problems, settlement_out
from casebook.systems.stock_exchange.compliance_api import router as compliance_router
from casebook.systems.stock_exchange.errors import StaffOnly
from casebook.systems.stock_exchange.market import instrument_info, live_marketdata
from casebook.systems.stock_exchange.models import ExchangeAccount, Listing
from casebook.systems.stock_exchange.models import Trader as TraderRow
from casebook.systems.stock_exchange.runtime import VENUE, exchange
from casebook.systems.stock_exchange.schemas import (
    AccountBalanceOut,
    AccountIn,
    AccountOut,
    BalanceOut,
    DailySummaryOut,
    KycIn,
    KycOut,
    ListingIn,
    ListingOut,
    MemberIn,
    MemberOut,
    MeOut,
    OrderIn,
    OrderOut,
    SeedLoginIn,
    SeedLoginOut,
    SeedRegisterIn,
    SeedRegisterOut,
    SettlementLineOut,
    TraderIn,
    TraderOut,
    TransferIn,
    TransferOut,
)

READ = "stock-exchange:read"
TRADE = "stock-exchange:trade"

router = APIRouter()
Reader = Annotated[Principal, Depends(require_scope(READ))]
Trader = Annotated[Principal, Depends(require_scope(TRADE))]
Id = Annotated[int, Path(gt=0, lt=2**63)]
Label = Annotated[str, Query(min_length=1, max_length=40)]
AML_RULES = aml.AmlRules()


async def get_venue(platform: Annotated[Platform, Depends(get_platform)]) -> Venue:
    return exchange(platform)


VenueDep = Annotated[Venue, Depends(get_venue)]


router.include_router(md_api.router(VENUE, instruments=instrument_info, marketdata=live_marketdata))


async def main_account(session: AsyncSession, principal: Principal) -> int:
    """The venue's `account_for`: the caller's account `main` (403 not-a-member, 404)."""
    return (await trading.account_by_label(session, principal.user_id, "main")).account_id


# The engine's generic trading REST (ticks and lots; replace, fills, balances), for clients that
# speak the venue's own terms; the seed's endpoints below speak dollars and shares.
router.include_router(venue_api.router(VENUE, main_account), prefix="/venue")
router.include_router(compliance_router)


def order_out(instrument: Instrument, view: OrderView) -> OrderOut:
    average = None
    if view.filled_qty:
        # Average fill price in dollars per share, to 1/100 of a cent, from the filled notional.
        exact = Decimal(view.notional_filled) / (view.filled_qty * instrument.lot_size)
        average = str(
            (exact * instrument.base_scale / trading.QUOTE_SCALE).quantize(Decimal("0.0001"))
        )
    return OrderOut(
        id=view.id,
        symbol=instrument.symbol,
        account_id=view.account_id,
        client_order_id=view.client_order_id,
        side=view.side,
        type=view.type,
        time_in_force=view.tif,
        price=trading.price_text(instrument, view.price) if view.price else None,
        price_ticks=view.price,
        quantity=view.qty,
        filled_quantity=view.filled_qty,
        open_quantity=view.open_qty,
        average_price=average,
        notional_filled=view.notional_filled,
        fees_paid=view.fees_paid,
        status=view.status,
        reason=view.reason,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def _member_out(member: Any) -> MemberOut:
    return MemberOut(id=member.id, name=member.name, kind=member.kind, created_at=member.created_at)


def _account_out(account: ExchangeAccount) -> AccountOut:
    return AccountOut(
        account_id=account.account_id, member_id=account.member_id, label=account.label
    )


# The seed's endpoints


@router.post(
    "/register", status_code=201, response_model=SeedRegisterOut, responses=problems(409, 422)
)
async def register(
    body: SeedRegisterIn,
    session: WriteSession,
    platform: Annotated[Platform, Depends(get_platform)],
) -> SeedRegisterOut:
    """Register (the seed's `POST /register`): a platform account for `username` (an e-mail
    address), a self-directed member of the exchange and its trading account `main`. Trading
    needs KYC next (`POST /kyc`). Then sign in with `POST /login`."""
    user = await auth.register_user(
        session,
        body.username,
        body.password,
        body.username.split("@")[0][:100] or "Trader",
        settings=platform.settings,
    )
    member = await members.create_member(session, f"{user.email}", "individual", user.id)
    account = await trading.open_trading_account(exchange(platform), session, user.id, "main")
    return SeedRegisterOut(
        message="User successfully registered",
        user_id=user.id,
        member_id=member.id,
        account_id=account.account_id,
    )


@router.post("/login", response_model=SeedLoginOut, responses=problems(401, 422))
async def login(
    body: SeedLoginIn,
    request: Request,
    session: Session,
    platform: Annotated[Platform, Depends(get_platform)],
) -> SeedLoginOut:
    """Sign in (the seed's `POST /login`): a bearer access token, or 401."""
    pair = await auth.authenticate(
        session,
        platform.settings,
        body.username,
        body.password,
        limiter=platform.rate_limiter,
        client_ip=client_ip(request),
    )
    return SeedLoginOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    dependencies=[Idempotent],
    responses=problems(401, 403, 404, 409, 422),
)
async def place_order(
    body: OrderIn,
    principal: Trader,
    venue: VenueDep,
    platform: Annotated[Platform, Depends(get_platform)],
) -> OrderOut:
    """Place an order (the seed's `POST /orders`); it is matched before this returns (the
    response shows immediate fills). 403 `stock-exchange/kyc-required` until KYC is verified;
    409 when funds or shares do not cover it."""
    async with platform.db.session() as session:
        account = await trading.account_by_label(session, principal.user_id, body.account)
        instrument = await venue.instrument(session, body.symbol)
    view = await trading.place_order(
        venue,
        account.account_id,
        instrument,
        side=body.side,
        quantity=body.quantity,
        price=body.price,
        order_type=body.type,
        tif=body.time_in_force,
        client_order_id=body.client_order_id,
    )
    return order_out(instrument, view)


async def _own_order(session: AsyncSession, venue: Venue, user_id: int, order_id: int) -> OrderView:
    """The caller's order by id, in whichever of their accounts; 404 otherwise."""
    account_id = await session.scalar(
        select(MatchingOrder.account_id)
        .join(ExchangeAccount, ExchangeAccount.account_id == MatchingOrder.account_id)
        .where(
            MatchingOrder.venue == VENUE,
            MatchingOrder.id == order_id,
            ExchangeAccount.user_id == user_id,
        )
    )
    if account_id is None:
        raise NotFound("There is no such order of yours.")
    return await venue.order(session, account_id, order_id)


@router.get("/orders/{order_id}", response_model=OrderOut, responses=problems(401, 403, 404))
async def get_order(order_id: Id, principal: Reader, session: Session, venue: VenueDep) -> OrderOut:
    """An order of yours (the seed's `GET /orders/{id}`)."""
    view = await _own_order(session, venue, principal.user_id, order_id)
    return order_out(venue.listed[view.instrument_id], view)


@router.delete("/orders/{order_id}", status_code=204, responses=problems(401, 403, 404, 409))
async def cancel_order(
    order_id: Id,
    principal: Trader,
    venue: VenueDep,
    platform: Annotated[Platform, Depends(get_platform)],
) -> Response:
    """Cancel an open order of yours (the seed's `DELETE /orders/{id}`): 204; its hold is
    released. 409 when it is no longer open."""
    async with platform.db.session() as session:
        view = await _own_order(session, venue, principal.user_id, order_id)
    await venue.cancel(view.account_id, order_id)
    return Response(status_code=204)


@router.get("/orders", response_model=list[OrderOut], responses=problems(401, 403, 404))
async def list_orders(
    principal: Reader,
    session: Session,
    venue: VenueDep,
    account: Label = "main",
    open: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[OrderOut]:
    """Your orders in one account, newest first (`open=true`: only open ones)."""
    own = await trading.account_by_label(session, principal.user_id, account)
    views, _ = await venue.orders(session, own.account_id, open_only=open, limit=limit)
    return [order_out(venue.listed[v.instrument_id], v) for v in views]


@router.get("/account/balance", response_model=AccountBalanceOut, responses=problems(401, 403, 404))
async def balance(
    principal: Reader, session: Session, venue: VenueDep, account: Label = "main"
) -> AccountBalanceOut:
    """Your cash and holdings (the seed's `GET /account/balance`): total = locked (held by open
    orders) + available, in minor units (cents; shares)."""
    own = await trading.account_by_label(session, principal.user_id, account)
    balances = await venue.balances(session, own.account_id)
    outs = [
        BalanceOut(asset=b.asset, total=b.total, locked=b.locked, available=b.available)
        for b in balances
    ]
    return AccountBalanceOut(
        account_id=own.account_id,
        label=own.label,
        cash=[b for b in outs if b.asset in trading.CASH_ASSETS],
        holdings=[b for b in outs if b.asset not in trading.CASH_ASSETS],
    )


# Funds


async def _move(
    direction: aml.Direction,
    body: TransferIn,
    principal: Principal,
    session: AsyncSession,
    venue: Venue,
) -> TransferOut:
    own = await trading.account_by_label(session, principal.user_id, body.account)
    transfer_id = new_id()
    flags = await trading.move_funds(
        venue, session, AML_RULES, own, direction, body.asset, body.amount, transfer_id
    )
    return TransferOut(
        transfer_id=transfer_id,
        account_id=own.account_id,
        direction=direction,
        asset=body.asset,
        amount=body.amount,
        flagged=[f.rule for f in flags],
    )


@router.post(
    "/account/deposits",
    status_code=201,
    response_model=TransferOut,
    dependencies=[Idempotent],
    responses=problems(401, 403, 404, 422),
)
async def deposit(
    body: TransferIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> TransferOut:
    """Deposit cash (cents) or shares (moved in from a depository) into your account. Screened
    by AML: a large or structured deposit is queued for review (`flagged`), not refused."""
    return await _move("deposit", body, principal, session, venue)


@router.post(
    "/account/withdrawals",
    status_code=201,
    response_model=TransferOut,
    dependencies=[Idempotent],
    responses=problems(401, 403, 404, 409, 422),
)
async def withdraw(
    body: TransferIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> TransferOut:
    """Withdraw from your account's available balance (409 when it does not cover it; 403 when
    the account is frozen by an AML review). Screened by AML like deposits."""
    return await _move("withdrawal", body, principal, session, venue)


# Listings


def _listing_out(listing: Listing, instrument: Instrument) -> ListingOut:
    reference = instrument.reference_price
    return ListingOut(
        symbol=listing.symbol,
        company_name=listing.company_name,
        instrument_id=listing.instrument_id,
        status=instrument.status,
        reference_price=trading.price_text(instrument, reference) if reference else None,
    )


@router.get("/instruments", response_model=list[ListingOut])
async def list_listings(session: Session, venue: VenueDep) -> list[ListingOut]:
    """Listed companies: ticker symbol, company name, trading status (public)."""
    return [
        _listing_out(listing, venue.listed[listing.instrument_id])
        for listing in await trading.listings(session)
        if listing.instrument_id in venue.listed
    ]


@router.post(
    "/instruments", status_code=201, response_model=ListingOut, responses=problems(401, 403, 422)
)
async def list_company(body: ListingIn, principal: Trader, venue: VenueDep) -> ListingOut:
    """List a company (exchange staff only); idempotent by symbol."""
    async with venue.platform.db.session() as session:
        if not await staff.is_staff(session, principal.user_id):
            raise StaffOnly("Listing is done by the exchange's staff.")
    instrument, listing = await trading.list_company(
        venue, body.symbol, body.company_name, body.reference_price
    )
    return _listing_out(listing, instrument)


# Membership and KYC


@router.get("/me", response_model=MeOut, responses=problems(401, 403))
async def me(principal: Reader, session: Session) -> MeOut:
    """Your membership, trading accounts, KYC status and whether you are staff."""
    trader = await session.get(TraderRow, principal.user_id)
    member = await members.member(session, trader.member_id) if trader else None
    record = await kyc.record_of(session, principal.user_id)
    return MeOut(
        user_id=principal.user_id,
        member=_member_out(member) if member else None,
        role=trader.role if trader else None,
        accounts=[_account_out(a) for a in await members.accounts_of(session, principal.user_id)],
        kyc_status=record.status if record else None,
        staff=await staff.is_staff(session, principal.user_id),
    )


@router.post(
    "/members", status_code=201, response_model=MemberOut, responses=problems(401, 403, 409, 422)
)
async def create_firm(
    body: MemberIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> MemberOut:
    """Found a member firm; you become its admin trader, with a trading account `main`."""
    member = await members.create_member(session, body.name, "firm", principal.user_id)
    await trading.open_trading_account(venue, session, principal.user_id, "main")
    return _member_out(member)


@router.post(
    "/members/{member_id}/traders",
    status_code=201,
    response_model=TraderOut,
    responses=problems(401, 403, 404, 409, 422),
)
async def add_trader(
    member_id: Id, body: TraderIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> TraderOut:
    """Add a registered user as a trader of your firm (admin only); they get an account `main`."""
    if await session.get(User, body.user_id) is None:
        raise NotFound("No such user.")
    trader = await members.add_trader(session, member_id, principal.user_id, body.user_id)
    await trading.open_trading_account(venue, session, body.user_id, "main")
    return TraderOut(user_id=trader.user_id, member_id=trader.member_id, role=trader.role)


@router.post(
    "/accounts", status_code=201, response_model=AccountOut, responses=problems(401, 403, 422)
)
async def open_account(
    body: AccountIn, principal: Trader, session: WriteSession, venue: VenueDep
) -> AccountOut:
    """Open another trading account of yours (idempotent by label)."""
    return _account_out(
        await trading.open_trading_account(venue, session, principal.user_id, body.label)
    )


@router.post("/kyc", status_code=201, response_model=KycOut, responses=problems(401, 403, 409, 422))
async def submit_kyc(body: KycIn, principal: Trader, session: WriteSession) -> KycOut:
    """Submit your identity for KYC review (again after a rejection); trading waits for a
    compliance officer to verify it."""
    record = await kyc.submit(
        session, principal.user_id, body.legal_name, body.country, body.document_number
    )
    return kyc_out(record, await kyc.audit_trail(session, principal.user_id))


@router.get("/kyc", response_model=KycOut, responses=problems(401, 403, 404))
async def my_kyc(principal: Reader, session: Session) -> KycOut:
    """Your KYC record and its audit trail."""
    record = await kyc.record_of(session, principal.user_id)
    if record is None:
        raise NotFound("You have not submitted KYC yet.")
    return kyc_out(record, await kyc.audit_trail(session, principal.user_id))


# Reports


@router.get("/reports/daily", response_model=list[DailySummaryOut])
async def daily_report(
    day: Annotated[date, Query(alias="date")], session: Session, venue: VenueDep
) -> list[DailySummaryOut]:
    """Market statistics of a UTC day per instrument: OHLC, VWAP, volume, trades (public)."""
    out = []
    for s in await reports.daily_summary(session, day):
        instrument = await venue.instrument(session, s.symbol)
        text = trading.scale(instrument).price_text
        out.append(
            DailySummaryOut(
                symbol=s.symbol,
                open=text(s.open),
                high=text(s.high),
                low=text(s.low),
                close=text(s.close),
                vwap=decimal_text(
                    s.vwap_ticks_x100 * instrument.tick_size, trading.QUOTE_SCALE * 100
                ),
                volume=s.volume,
                quote_volume=s.quote_volume,
                trades=s.trades,
            )
        )
    return out


@router.get(
    "/reports/settlement", response_model=list[SettlementLineOut], responses=problems(401, 403)
)
async def my_settlement(
    day: Annotated[date, Query(alias="date")], principal: Reader, session: Session
) -> list[SettlementLineOut]:
    """What your member firm settled on a UTC day, per instrument (T+0, in the ledger)."""
    trader = await members.trader_of(session, principal.user_id)
    return [
        settlement_out(line)
        for line in await reports.settlement(session, day, member_id=trader.member_id)
    ]
