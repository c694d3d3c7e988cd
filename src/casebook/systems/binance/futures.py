"""Binance USDT-M perpetual futures: the venue "binance-futures", its contracts, the index and
mark prices, the futures wallet, leverage and margin mode, and orders.

Contracts (same matching engine as spot: books, journal, writer, recovery, market data):

    BTCUSDT-PERP  tick 0.01 USDT (10**6), lot 0.001 BTC (10**5)  → npl 1,000
    ETHUSDT-PERP  tick 0.01 USDT (10**6), lot 0.001 ETH (10**5)  → npl 1,000

Quantity is in contracts (lots of the base), price in USDT ticks equal to the spot pairs' ticks,
so the spot index is in the same unit. Fees 2 bps maker, 5 bps taker (Binance's base rates).
Settlement is futures_settlement.py (positions and margin, no base asset moves).

Index = the spot pair's last trade on venue "binance", else its book's mid, else its reference
price. Mark = the index clamped to the futures book's mid ± MARK_BAND_BPS (the index alone when
the futures book has no bid or no ask). Maintenance margin is 0.5 % of the notional at mark for
this build (Binance tiers it by notional).

Each user has ONE futures venue account (owner `binance-futures:user:<user id>`) whose USDT
wallet is the futures wallet; USDT moves between it and the spot wallet by one ledger transfer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import AccountKind, Ledger, Transfer
from casebook.engines.matching import venue as venues
from casebook.engines.matching.errors import InvalidOrder
from casebook.engines.matching.models import MatchingAccount, MatchingOrder
from casebook.engines.matching.risk import wallet_owner
from casebook.engines.matching.settlement import WALLET, transfer_id
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.views import Instrument, InstrumentSpec, NewOrder, OrderView
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, InvalidInput
from casebook.platform.ids import new_id
from casebook.systems.binance import spot
from casebook.systems.binance.futures_models import FuturesPosition
from casebook.systems.binance.futures_settlement import (
    FUTURES_VENUE,
    INSURANCE_OWNER,
    MAX_LEVERAGE,
    lock_positions,
    margin_account,
)

SCALE = spot.SCALE
USDT = "USDT"
MAKER_BPS = 2
TAKER_BPS = 5
MARK_BAND_BPS = 50
MAINTENANCE_BPS = 50
"""Maintenance margin: 0.5 % of the notional at mark."""
MARKET_PROTECTION_BPS = 500
FUNDING_INTERVAL = 8 * 3600
INSURANCE_SEED = 1_000_000 * SCALE
"""USDT the insurance fund starts with (credited once, by a deterministic transfer id)."""
OPEN = ("pending", "open", "partially_filled")


@dataclass(frozen=True)
class Contract:
    spec: InstrumentSpec
    index_symbol: str
    """The spot pair on venue "binance" whose price is the index."""


def _contract(base: str, reference: str) -> Contract:
    tick_size = 10**6
    return Contract(
        InstrumentSpec(
            symbol=f"{base}USDT-PERP",
            base_asset=base,
            quote_asset=USDT,
            tick_size=tick_size,
            lot_size=10**5,
            base_scale=SCALE,
            min_qty=1,
            max_qty=1_000_000,
            maker_fee_bps=MAKER_BPS,
            taker_fee_bps=TAKER_BPS,
            reference_price=int(Decimal(reference) * SCALE) // tick_size,
        ),
        index_symbol=f"{base}USDT",
    )


CONTRACTS: tuple[Contract, ...] = (_contract("BTC", "60000"), _contract("ETH", "3000"))
BY_SYMBOL = {c.spec.symbol: c for c in CONTRACTS}


class FuturesConflict(Conflict):
    type_ = "binance/futures-conflict"
    title = "The futures account cannot change that now"


class MarginInsufficient(Conflict):
    type_ = "binance/futures-margin-insufficient"
    title = "Not enough margin"


def futures_venue(platform: Platform) -> venues.Venue:
    return venues.get(platform, FUTURES_VENUE)


def user_owner(user_id: int) -> str:
    return f"binance-futures:user:{user_id}"


async def list_contracts(platform: Platform) -> None:
    """List every contract (idempotent by symbol)."""
    venue = futures_venue(platform)
    async with platform.db.session() as session:
        for contract in CONTRACTS:
            await venue.list_instrument(session, contract.spec)


async def open_insurance_fund(platform: Platform) -> int:
    """The insurance fund's venue account, seeded with INSURANCE_SEED once (deterministic id)."""
    venue = futures_venue(platform)
    async with platform.db.session(write=True) as session:
        account_id = await venue.open_account(session, INSURANCE_OWNER, None)
        await venue.credit(
            session,
            account_id,
            USDT,
            INSURANCE_SEED,
            transfer_id(FUTURES_VENUE, 0, "insurance-seed"),
            "insurance fund seed",
        )
    return account_id


async def account_of(session: AsyncSession, user_id: int) -> int:
    """The user's futures venue account, opened on first use (write session). O(log n)."""
    owner = user_owner(user_id)
    found = await session.scalar(
        select(MatchingAccount.id).where(
            MatchingAccount.venue == FUTURES_VENUE, MatchingAccount.owner == owner
        )
    )
    if found is not None:
        return int(found)
    account_id = new_id()
    try:
        async with session.begin_nested():
            session.add(
                MatchingAccount(
                    id=account_id,
                    venue=FUTURES_VENUE,
                    owner=owner,
                    user_id=user_id,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        raced = await session.scalar(
            select(MatchingAccount.id).where(
                MatchingAccount.venue == FUTURES_VENUE, MatchingAccount.owner == owner
            )
        )
        assert raced is not None
        return int(raced)
    return account_id


async def futures_wallet(ledger: Ledger, account_id: int) -> int:
    opened = await ledger.open_account(
        owner=wallet_owner(FUTURES_VENUE, account_id),
        name=WALLET,
        currency=USDT,
        kind=AccountKind.LIABILITY,
    )
    return opened.id


# -- prices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    """Index, mark and the futures mid of one contract, in ticks (mid None if one side is
    empty); funding rate in units of 10**-8 (10_000 = 0.01 %)."""

    index: int
    mark: int
    mid: int | None
    funding_rate_e8: int


def index_price(platform: Platform, contract: Contract) -> int:
    """The spot index in ticks: last trade, else mid, else the reference price. O(1)."""
    exchange = spot.exchange(platform)
    instrument_id = exchange._symbols[contract.index_symbol]
    last = exchange.last_price.get(instrument_id)
    if last:
        return last
    book = exchange.books[instrument_id]
    bid, ask = book.best_bid(), book.best_ask()
    if bid and ask:
        return (bid + ask) // 2
    reference = exchange.listed[instrument_id].reference_price
    assert reference is not None
    return reference


def prices(platform: Platform, instrument: Instrument) -> Prices:
    """Index, mark, mid and the funding rate of a contract from the live books. O(1)."""
    contract = BY_SYMBOL[instrument.symbol]
    index = index_price(platform, contract)
    book = futures_venue(platform).books[instrument.id]
    bid, ask = book.best_bid(), book.best_ask()
    mid = (bid + ask) // 2 if bid and ask else None
    mark = index
    if mid is not None:
        low = mid * (10_000 - MARK_BAND_BPS) // 10_000
        high = mid * (10_000 + MARK_BAND_BPS) // 10_000
        mark = min(max(index, low), high)
    return Prices(index, mark, mid, funding_rate(mid, index))


def funding_rate(mid: int | None, index: int) -> int:
    """clamp(premium + 0.01 %, ±0.75 %) in 10**-8 units; premium = (mid - index) / index,
    floored; 0 premium without a futures mid."""
    premium = 0 if mid is None else (mid - index) * 10**8 // index
    return max(-750_000, min(750_000, premium + 10_000))


def next_funding_time(now: float | None = None) -> int:
    """The next funding time (00:00, 08:00, 16:00 UTC) strictly after `now`, epoch seconds."""
    now = time.time() if now is None else now
    return (int(now) // FUNDING_INTERVAL + 1) * FUNDING_INTERVAL


def maintenance(qty: int, mark: int, npl: int) -> int:
    return abs(qty) * mark * npl * MAINTENANCE_BPS // 10_000


def unrealised(position: FuturesPosition, mark: int, npl: int) -> int:
    """PnL of the open position at `mark`, quote minor units."""
    pnl = (mark * abs(position.qty) - position.cost) * npl
    return pnl if position.qty > 0 else -pnl


# -- account changes ---------------------------------------------------------------------------


async def transfer(
    platform: Platform,
    session: AsyncSession,
    user_id: int,
    amount: int,
    to_futures: bool,
    transfer_key: int,
) -> None:
    """Move `amount` USDT minor units between the user's spot and futures wallets in the
    caller's transaction; idempotent by `transfer_key`. Out of futures, refused (409) when the
    cross positions' margin balance after it would fall below their initial margin at mark.
    InsufficientFunds (409) when the source's available balance is short."""
    if not 1 <= amount <= 10**15:
        raise InvalidInput("amount must be 1..10**15 minor units.")
    ledger = Ledger(session)
    spot_wallet = await spot.VenueSpot().wallet(session, user_id, USDT)
    account_id = await account_of(session, user_id)
    wallet = await futures_wallet(ledger, account_id)
    if not to_futures:
        await _check_withdrawable(platform, session, ledger, account_id, wallet, amount)
    debit, credit = (spot_wallet, wallet) if to_futures else (wallet, spot_wallet)
    await ledger.transfer(
        Transfer(
            id=transfer_key,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            code="futures-transfer-in" if to_futures else "futures-transfer-out",
            reference=f"binance-futures:transfer:{user_id}",
        )
    )


async def _check_withdrawable(
    platform: Platform,
    session: AsyncSession,
    ledger: Ledger,
    account_id: int,
    wallet: int,
    amount: int,
) -> None:
    venue = futures_venue(platform)
    rows = await session.scalars(
        select(FuturesPosition).where(
            FuturesPosition.account_id == account_id,
            FuturesPosition.qty != 0,
            FuturesPosition.mode == "cross",
        )
    )
    balance = (await ledger.account(wallet)).posted
    needed = 0
    for row in rows:
        instrument = venue.listed[row.instrument_id]
        mark = prices(platform, instrument).mark
        margin_id = await margin_account(ledger, FUTURES_VENUE, account_id, row.instrument_id)
        balance += (await ledger.account(margin_id)).posted + unrealised(row, mark, instrument.npl)
        needed += abs(row.qty) * mark * instrument.npl // row.leverage
    if needed and balance - amount < needed:
        raise MarginInsufficient(
            f"After this transfer the cross margin balance would be {balance - amount}, below "
            f"the {needed} the open positions need at mark."
        )


async def _require_flat(
    session: AsyncSession, account_id: int, instrument: Instrument
) -> FuturesPosition:
    position = (await lock_positions(session, instrument.id, [account_id]))[account_id]
    open_orders = await session.scalar(
        select(func.count())
        .select_from(MatchingOrder)
        .where(
            MatchingOrder.venue == FUTURES_VENUE,
            MatchingOrder.account_id == account_id,
            MatchingOrder.instrument_id == instrument.id,
            MatchingOrder.status.in_(OPEN),
        )
    )
    if position.qty != 0 or open_orders:
        raise FuturesConflict(
            f"{instrument.symbol} has an open position or open orders; close them first."
        )
    return position


async def set_leverage(
    platform: Platform, session: AsyncSession, user_id: int, symbol: str, leverage: int
) -> FuturesPosition:
    """Set the user's leverage for a contract (1..20). Refused (409) while the contract has an
    open position or open orders: orders hold margin at the leverage they were placed with."""
    if not 1 <= leverage <= MAX_LEVERAGE:
        raise InvalidInput(f"leverage is 1..{MAX_LEVERAGE}.")
    instrument = await futures_venue(platform).instrument(session, symbol)
    position = await _require_flat(session, await account_of(session, user_id), instrument)
    position.leverage = leverage
    return position


async def set_margin_type(
    platform: Platform, session: AsyncSession, user_id: int, symbol: str, mode: str
) -> FuturesPosition:
    """Switch a contract between cross and isolated margin; refused (409) with an open position
    or open orders, as Binance does."""
    if mode not in ("cross", "isolated"):
        raise InvalidInput("margin type is cross or isolated.")
    instrument = await futures_venue(platform).instrument(session, symbol)
    position = await _require_flat(session, await account_of(session, user_id), instrument)
    position.mode = mode
    return position


async def place_order(
    platform: Platform,
    account_id: int,
    instrument: Instrument,
    side: Side,
    qty: int,
    price: int | None,
    order_type: str,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    client_order_id: str | None = None,
) -> OrderView:
    """Place a futures order. A market order becomes a limit IOC at the mark ± 5 % (both
    sides: a futures sell holds margin at its limit, so it needs a price). Raises the venue's
    Problems (InvalidOrder 422, InsufficientFunds 409 when the initial margin + fee cannot be
    held, …)."""
    if order_type == "market":
        mark = prices(platform, instrument).mark
        band = MARKET_PROTECTION_BPS if side is Side.BUY else -MARKET_PROTECTION_BPS
        price = max(1, mark * (10_000 + band) // 10_000)
        tif, order_type = TimeInForce.IOC, "limit"
        if post_only:
            raise InvalidOrder("A market order cannot be post-only.", field="post_only")
    elif order_type != "limit":
        raise InvalidOrder("type is limit or market.", field="type")
    return await futures_venue(platform).place(
        NewOrder(
            account_id,
            instrument.id,
            side,
            qty,
            price,
            order_type,
            tif=tif,
            post_only=post_only,
            client_order_id=client_order_id,
        )
    )


# -- views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionView:
    symbol: str
    qty: int
    entry_price: str | None
    mark: int
    leverage: int
    mode: str
    margin: int
    unrealised_pnl: int
    realised_pnl: int
    maintenance: int
    liquidation_price: str | None


def _ticks_text(value: Decimal | int) -> str:
    return str((Decimal(value) * Decimal(10**6) / SCALE).quantize(Decimal("0.01")))


def liquidation_price(position: FuturesPosition, collateral: int, npl: int) -> Decimal | None:
    """The mark at which collateral + uPnL = maintenance, in ticks (None when flat or never).

    long: c + (m·q - cost)·npl = m·q·npl·mmr  →  m = (cost·npl - c) / (q·npl·(1 - mmr));
    short: c + (cost - m·q)·npl = m·q·npl·mmr →  m = (cost·npl + c) / (q·npl·(1 + mmr))."""
    if position.qty == 0:
        return None
    size = Decimal(abs(position.qty) * npl)
    mmr = Decimal(MAINTENANCE_BPS) / 10_000
    if position.qty > 0:
        value = (Decimal(position.cost * npl) - collateral) / (size * (1 - mmr))
        return value if value > 0 else None
    return (Decimal(position.cost * npl) + collateral) / (size * (1 + mmr))


@dataclass(frozen=True)
class AccountView:
    account_id: int
    wallet_balance: int
    available: int
    margin_balance: int
    unrealised_pnl: int
    positions: list[PositionView]


async def account_view(platform: Platform, session: AsyncSession, account_id: int) -> AccountView:
    """The futures account at mark: wallet, positions with uPnL, margin and liquidation price.
    O(contracts) ledger reads."""
    venue = futures_venue(platform)
    ledger = Ledger(session)
    wallet = await ledger.account(await futures_wallet(ledger, account_id))
    rows = {
        row.instrument_id: row
        for row in await session.scalars(
            select(FuturesPosition).where(FuturesPosition.account_id == account_id)
        )
    }
    views: list[PositionView] = []
    total_upnl = 0
    margins = 0
    for instrument in sorted(venue.listed.values(), key=lambda i: i.symbol):
        row = rows.get(instrument.id)
        if row is None:
            continue
        mark = prices(platform, instrument).mark
        margin = (
            await ledger.account(
                await margin_account(ledger, FUTURES_VENUE, account_id, instrument.id)
            )
        ).posted
        upnl = unrealised(row, mark, instrument.npl) if row.qty else 0
        total_upnl += upnl
        margins += margin
        collateral = margin + (wallet.posted if row.mode == "cross" else 0)
        liq = liquidation_price(row, collateral, instrument.npl)
        views.append(
            PositionView(
                symbol=instrument.symbol,
                qty=row.qty,
                entry_price=_ticks_text(Decimal(row.cost) / abs(row.qty)) if row.qty else None,
                mark=mark,
                leverage=row.leverage,
                mode=row.mode,
                margin=margin,
                unrealised_pnl=upnl,
                realised_pnl=row.realised_pnl,
                maintenance=maintenance(row.qty, mark, instrument.npl),
                liquidation_price=_ticks_text(liq) if liq is not None else None,
            )
        )
    return AccountView(
        account_id=account_id,
        wallet_balance=wallet.posted,
        available=wallet.available,
        margin_balance=wallet.posted + margins + total_upnl,
        unrealised_pnl=total_upnl,
        positions=views,
    )


__all__ = [
    "CONTRACTS",
    "FUTURES_VENUE",
    "account_of",
    "account_view",
    "list_contracts",
    "place_order",
    "prices",
]
