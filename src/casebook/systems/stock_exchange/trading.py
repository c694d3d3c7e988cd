"""Trading at the exchange: listings, traders' accounts, deposits and withdrawals (screened by
AML), orders in the seed's shape (decimal prices) translated to the venue's ticks, balances.

Stocks are listed in USD with tick_size 1 (a cent), lot_size 1 and base_scale 1: one lot is one
share, notional = price in cents x shares (npl 1). Money and shares live in the venue's ledger
accounts; this module never touches a balance itself.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.marketdata import Scale, decimal_text
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.venue import Instrument, InstrumentSpec, NewOrder, OrderView, Venue
from casebook.platform.errors import InvalidInput, NotFound
from casebook.systems.stock_exchange import aml, members
from casebook.systems.stock_exchange.errors import AccountFrozen
from casebook.systems.stock_exchange.models import AmlFlag, ExchangeAccount, Listing

QUOTE = "USD"
QUOTE_SCALE = 100
"""Cents per dollar."""
CASH_ASSETS = frozenset({"USD", "INR"})
MAKER_FEE_BPS = 1
TAKER_FEE_BPS = 2
TIFS = {
    "gtc": TimeInForce.GTC,
    "day": TimeInForce.DAY,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
}


def scale(instrument: Instrument) -> Scale:
    return Scale(instrument.tick_size, instrument.lot_size, instrument.base_scale, QUOTE_SCALE)


def price_ticks(instrument: Instrument, price: Decimal) -> int:
    """A decimal price (dollars per share) as ticks; InvalidInput unless it is a whole number
    of ticks."""
    minor = price * QUOTE_SCALE
    if minor != minor.to_integral_value() or int(minor) % instrument.tick_size:
        tick = decimal_text(instrument.tick_size, QUOTE_SCALE)
        raise InvalidInput(
            f"price must be a multiple of the tick ({tick}).",
            field="price",
        )
    return int(minor) // instrument.tick_size


def price_text(instrument: Instrument, ticks: int) -> str:
    return scale(instrument).price_text(ticks)


async def list_company(
    venue: Venue, symbol: str, company_name: str, reference_price: Decimal, quote: str = QUOTE
) -> tuple[Instrument, Listing]:
    """List a company (idempotent by symbol): the venue instrument, then our listing row, each
    committed in its own transaction (the venue commits a listing alone, so the caller must not
    hold a write session)."""
    spec = InstrumentSpec(
        symbol=symbol,
        base_asset=symbol,
        quote_asset=quote,
        maker_fee_bps=MAKER_FEE_BPS,
        taker_fee_bps=TAKER_FEE_BPS,
        reference_price=int(reference_price * QUOTE_SCALE),
    )
    async with venue.platform.db.session() as session:
        instrument = await venue.list_instrument(session, spec)
    async with venue.platform.db.session(write=True) as session:
        listing = await session.get(Listing, symbol)
        if listing is None:
            listing = Listing(symbol=symbol, instrument_id=instrument.id, company_name=company_name)
            session.add(listing)
    return instrument, listing


async def listings(session: AsyncSession) -> list[Listing]:
    return list((await session.scalars(select(Listing).order_by(Listing.symbol))).all())


async def open_trading_account(
    venue: Venue, session: AsyncSession, user_id: int, label: str
) -> ExchangeAccount:
    """The trader's account `label` at the venue, opened on first use (idempotent)."""
    trader = await members.trader_of(session, user_id)
    account_id = await venue.open_account(
        session, members.venue_owner(trader.member_id, user_id, label), user_id
    )
    return await members.attach_account(session, account_id, trader.member_id, user_id, label)


async def move_funds(
    venue: Venue,
    session: AsyncSession,
    rules: aml.AmlRules,
    account: ExchangeAccount,
    direction: aml.Direction,
    asset: str,
    amount: int,
    transfer_id: int,
) -> list[AmlFlag]:
    """A deposit (from the trader's bank or depository) or a withdrawal, recorded for AML and
    screened, in the caller's write transaction. Returns the AML flags it raised.

    Raises AccountFrozen (403) for a withdrawal from a frozen account, InsufficientFunds (409)
    when the available balance does not cover a withdrawal."""
    # Lock the account row so concurrent movements of one account are screened one at a time.
    await session.scalar(
        select(ExchangeAccount.account_id)
        .where(ExchangeAccount.account_id == account.account_id)
        .with_for_update()
    )
    reference = f"stock-exchange:{direction}:{transfer_id}"
    if direction == "deposit":
        await venue.credit(session, account.account_id, asset, amount, transfer_id, reference)
    else:
        if await aml.is_frozen(session, account.account_id):
            raise AccountFrozen("Withdrawals from a frozen account wait for the AML review.")
        await venue.debit(session, account.account_id, asset, amount, transfer_id, reference)
    return await aml.record_movement(
        session, rules, transfer_id, account.account_id, direction, asset, amount
    )


async def place_order(
    venue: Venue,
    account_id: int,
    instrument: Instrument,
    *,
    side: str,
    quantity: int,
    price: Decimal | None,
    order_type: str,
    tif: str,
    client_order_id: str | None,
) -> OrderView:
    """Place an order in the seed's terms. A limit order needs a price; a market order takes
    none (the venue bounds a market buy by its protection price)."""
    if order_type == "limit" and price is None:
        raise InvalidInput("A limit order needs a price.", field="price")
    if order_type == "market" and price is not None:
        raise InvalidInput("A market order takes no price.", field="price")
    ticks = price_ticks(instrument, price) if price is not None else None
    return await venue.place(
        NewOrder(
            account_id=account_id,
            instrument_id=instrument.id,
            side=Side.BUY if side == "buy" else Side.SELL,
            qty=quantity,
            price=ticks,
            type=order_type,
            tif=TIFS[tif],
            client_order_id=client_order_id,
        )
    )


async def account_by_label(session: AsyncSession, user_id: int, label: str) -> ExchangeAccount:
    """The caller's account `label` (404 for a label they do not hold)."""
    try:
        return await members.account_of(session, user_id, label)
    except NotFound:
        await members.trader_of(session, user_id)  # 403 not-a-member says more, when it applies
        raise
