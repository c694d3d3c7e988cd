"""Binance spot: the venue "binance" of the matching engine, its pairs and its users' accounts.

Units. Every asset is kept at 8 decimals (1 BTC = 10**8 satoshi-like minor units, 1 USDT =
10**8), as Binance displays them; ETH and BNB are truncated to 8 decimals here. A pair's
tick_size is quote minor units per tick of the price of ONE whole base unit, lot_size base minor
units per lot, base_scale = 10**8, chosen so npl = tick_size * lot_size / base_scale is an
integer (notional = price ticks * qty lots * npl quote minor units):

    BTCUSDT tick 0.01 USDT (10**6), lot 0.00001 BTC (10**3)  → npl 10
    ETHUSDT tick 0.01 USDT (10**6), lot 0.0001 ETH (10**4)   → npl 100
    BNBUSDT tick 0.01 USDT (10**6), lot 0.001 BNB (10**5)    → npl 1,000
    ETHBTC  tick 0.00001 BTC (10**3), lot 0.001 ETH (10**5)  → npl 1

Fees: 10 bps maker and taker (Binance's base rate). MIN_NOTIONAL is checked by the Binance API
layer (rest.py), not by the venue.

Accounts. Each user trades through ONE venue account, owner `binance:user:<user id>`; its ledger
wallets (`binance:account:<id>`/"wallet", one per asset) ARE the user's spot wallet: the chain
deposits of wallets.py credit them and withdrawals hold from them (`VenueSpot`, the `SpotLedger`
that wallets.py is given), so deposited coins can be traded at once and open orders lock them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import AccountKind, Ledger
from casebook.engines.matching import venue as venues
from casebook.engines.matching.models import MatchingAccount
from casebook.engines.matching.risk import wallet_owner
from casebook.engines.matching.settlement import WALLET
from casebook.engines.matching.views import InstrumentSpec
from casebook.platform.auth.deps import Principal
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id

VENUE = "binance"
SCALE = 10**8
"""Minor units per whole unit of every asset listed here."""
ASSETS = ("BTC", "ETH", "BNB", "USDT")
ASSET_SCALES = dict.fromkeys(ASSETS, SCALE)
FEE_BPS = 10


@dataclass(frozen=True)
class Pair:
    spec: InstrumentSpec
    min_notional: int
    """Quote minor units (Binance's MIN_NOTIONAL / NOTIONAL filter)."""


def _pair(base: str, quote: str, tick: str, lot: str, reference: str, min_notional: str) -> Pair:
    tick_size = int(Decimal(tick) * SCALE)
    lot_size = int(Decimal(lot) * SCALE)
    return Pair(
        InstrumentSpec(
            symbol=base + quote,
            base_asset=base,
            quote_asset=quote,
            tick_size=tick_size,
            lot_size=lot_size,
            base_scale=SCALE,
            min_qty=1,
            max_qty=9_000 * SCALE // lot_size,
            maker_fee_bps=FEE_BPS,
            taker_fee_bps=FEE_BPS,
            reference_price=int(Decimal(reference) * SCALE) // tick_size,
        ),
        int(Decimal(min_notional) * SCALE),
    )


PAIRS: tuple[Pair, ...] = (
    _pair("BTC", "USDT", "0.01", "0.00001", "60000", "5"),
    _pair("ETH", "USDT", "0.01", "0.0001", "3000", "5"),
    _pair("BNB", "USDT", "0.01", "0.001", "600", "5"),
    _pair("ETH", "BTC", "0.00001", "0.001", "0.05", "0.0001"),
)
MIN_NOTIONAL = {pair.spec.symbol: pair.min_notional for pair in PAIRS}


def user_owner(user_id: int) -> str:
    """The venue account owner of a Binance user."""
    return f"binance:user:{user_id}"


def exchange(platform: Platform) -> venues.Venue:
    """The running venue of this process."""
    return venues.get(platform, VENUE)


async def list_pairs(platform: Platform) -> None:
    """List every pair (idempotent by symbol)."""
    venue = exchange(platform)
    async with platform.db.session() as session:
        for pair in PAIRS:
            await venue.list_instrument(session, pair.spec)


async def account_of(session: AsyncSession, user_id: int) -> int:
    """The user's venue account, opened on first use (needs a write session); the same
    get-or-create as `Venue.open_account`, usable where no venue object is at hand (the API's
    account dependency). Safe under concurrency: the (venue, owner) key is unique. O(log n)."""
    found = await existing_account(session, user_id)
    if found is not None:
        return found
    account_id = new_id()
    try:
        async with session.begin_nested():
            session.add(
                MatchingAccount(
                    id=account_id,
                    venue=VENUE,
                    owner=user_owner(user_id),
                    user_id=user_id,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        raced = await existing_account(session, user_id)
        assert raced is not None
        return raced
    return account_id


async def existing_account(session: AsyncSession, user_id: int) -> int | None:
    """The user's venue account if it exists (read-only). O(log n)."""
    found = await session.scalar(
        select(MatchingAccount.id).where(
            MatchingAccount.venue == VENUE, MatchingAccount.owner == user_owner(user_id)
        )
    )
    return None if found is None else int(found)


async def principal_account(session: AsyncSession, principal: Principal) -> int:
    """`account_for` of the venue's generic REST: the caller's own account."""
    return await account_of(session, principal.user_id)


@dataclass
class VenueSpot:
    """The `SpotLedger` of wallets.py on the venue's accounts (see the module docstring). Holds
    no process state (no cached ids), so one instance serves every database."""

    async def wallet(self, session: AsyncSession, user_id: int, asset: str) -> int:
        account_id = await account_of(session, user_id)
        opened = await Ledger(session).open_account(
            owner=wallet_owner(VENUE, account_id),
            name=WALLET,
            currency=asset,
            kind=AccountKind.LIABILITY,
        )
        return opened.id

    async def balances(self, session: AsyncSession, user_id: int) -> dict[str, dict[str, int]]:
        account_id = await existing_account(session, user_id)
        if account_id is None:
            return {}
        accounts = await Ledger(session).accounts_of(wallet_owner(VENUE, account_id))
        return {
            a.currency: {"total": a.posted, "locked": a.held, "available": a.available}
            for a in accounts
            if a.kind is AccountKind.LIABILITY and a.name == WALLET
        }
