"""Binance cross margin: a second venue account per user, loans from a house lending pool,
hourly interest, margin calls and liquidation by the engine.

Account. A user's cross-margin account is a venue account of its own on the spot venue, owner
`binance:margin:<user id>`, so margin orders are ordinary orders on the same books (holds,
settlement, STP from the engine); its ledger wallets (`binance:account:<id>`/"wallet") hold the
collateral. Spot ⇄ margin transfers are one ledger transfer between the two wallets.

Ledger accounts (per asset, all in the asset's 8-decimal minor units):
- `binance:margin:<user id>`/"debt" ASSET (non-negative): principal the user owes;
- `binance:margin:<user id>`/"interest" ASSET (non-negative): accrued, unpaid interest;
- `binance:margin`/"lending-pool" LIABILITY (non-negative): what the house may still lend;
- `binance:margin`/"lent" LIABILITY: principal out on loan (= Σ debts of the asset);
- `binance:margin`/"interest-income" REVENUE; `binance:margin`/"house-capital" EQUITY (may be
  negative: funds the pool); `binance:margin`/"liquidation-loss" EXPENSE: debt the house covered.

Borrow = a linked pair {debt → margin wallet, pool → lent}: the coins reach the wallet, the debt
is recorded, and the pool (non-negative) cannot lend what it has not got. Repay = {wallet →
interest} then {wallet → debt, lent → pool}: a debt account cannot go below zero, so nobody
repays more than they owe. Interest = {interest → interest-income}. A house loss = {loss →
debt, lent → pool} and {loss → interest}: the house refills the pool from its own pocket.

Level (Binance's margin level) = total asset value / (total debt + interest), both in USDT at
the index price: the pair `<asset>USDT`'s last trade, else the mid of its book, else its
reference price (USDT itself is 1). Assets are valued rounded down and debts rounded up, so the
level is never flattered. Rules: a borrow or a transfer out that would leave the level below
2.0 is refused (Binance cross 3x's initial level); below 1.3 a margin call (flag + event, once
per crossing); below 1.1 the engine liquidates: cancels the account's open orders, sells the
collateral not owed for USDT and buys the debt assets with IOC orders against the book, repays,
and once no collateral is left writes any remaining debt off to the house's loss account, so no
balance ever goes negative.

Interest: per hour, per asset, on the principal outstanding when the hour is charged,
ceil(principal · rate / 10⁹) in the asset, exactly once per (account, asset, hour): a row with
that unique key and a ledger transfer with an id derived from it, in one transaction.

Costs: every operation reads the account's ledger accounts (O(assets)) and locks its margin row;
the interest and risk jobs walk the debt accounts, O(loans) per run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import AccountKind, InsufficientFunds, Ledger, Outcome, Transfer
from casebook.engines.ledger.errors import refusal
from casebook.engines.matching import venue as venues
from casebook.engines.matching.errors import OrderNotOpen
from casebook.engines.matching.models import MatchingAccount
from casebook.engines.matching.risk import wallet_owner
from casebook.engines.matching.settlement import WALLET
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.views import Instrument, NewOrder
from casebook.platform.auth.deps import Principal
from casebook.platform.context import Platform
from casebook.platform.db import Database, utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound, Problem
from casebook.platform.ids import new_id
from casebook.systems.binance.margin_models import (
    BinanceMarginAccount,
    BinanceMarginEvent,
    BinanceMarginInterest,
)
from casebook.systems.binance.spot import ASSETS, SCALE, VENUE, account_of
from casebook.systems.binance.wallets import derived_id

log = logging.getLogger("casebook.binance.margin")

HOUSE = "binance:margin"
QUOTE = "USDT"
INITIAL_LEVEL = Fraction(2)
MARGIN_CALL_LEVEL = Fraction(13, 10)
LIQUIDATION_LEVEL = Fraction(11, 10)
RATE_SCALE = 10**9
HOURLY_RATE = {"BTC": 5_000, "ETH": 7_000, "BNB": 8_000, "USDT": 12_000}
"""Interest per hour in parts per 10⁹ of the principal (BTC 0.0005 %/h ≈ 4.4 %/year, USDT
0.0012 %/h ≈ 10.5 %/year)."""
POOL_FUNDING = {"BTC": 100 * SCALE, "ETH": 2_000 * SCALE, "BNB": 10_000 * SCALE}
POOL_FUNDING[QUOTE] = 10_000_000 * SCALE
"""What the house puts in each lending pool at startup (once: the transfer id is fixed)."""
MAX_AMOUNT = 10**15


def margin_owner(user_id: int) -> str:
    """The venue account owner (and ledger owner of the debts) of a user's margin account."""
    return f"{HOUSE}:{user_id}"


class MarginLevelTooLow(Conflict):
    type_ = "binance/margin-level-too-low"
    title = "This would take the margin level below the initial level"


class RepayExceedsDebt(InvalidInput):
    type_ = "binance/repay-exceeds-debt"
    title = "The amount is more than is owed"


class UnknownAsset(InvalidInput):
    type_ = "binance/unknown-asset"
    title = "Not a margin asset"


class NoMarginAccount(NotFound):
    type_ = "binance/no-margin-account"
    title = "No margin account"


class NoIndexPrice(Conflict):
    type_ = "binance/no-index-price"
    title = "The asset has no index price yet"


# -- prices and the level --------------------------------------------------------------------


def _usdt_pair(venue: venues.Venue, asset: str) -> Instrument | None:
    for instrument in venue.listed.values():
        if instrument.base_asset == asset and instrument.quote_asset == QUOTE:
            return instrument
    return None


def index_price(venue: venues.Venue, asset: str) -> int:
    """USDT minor units per whole unit of `asset`: the `<asset>USDT` last trade, else its book's
    mid, else its reference price (USDT is 1). NoIndexPrice (409) when none exists. O(pairs)."""
    if asset == QUOTE:
        return SCALE
    pair = _usdt_pair(venue, asset)
    if pair is None:
        raise UnknownAsset(f"{asset!r} has no USDT pair.")
    ticks = venue.last_price.get(pair.id)
    if not ticks:
        book = venue.book(pair.id)
        bid, ask = book.best_bid(), book.best_ask()
        ticks = (bid + ask) // 2 if bid and ask else pair.reference_price
    if not ticks:
        raise NoIndexPrice(f"{asset} has no trade, no two-sided book and no reference price.")
    return ticks * pair.tick_size


def asset_value(amount: int, price: int) -> int:
    """USDT minor units of `amount` at `price`, rounded down (collateral is never overvalued)."""
    return amount * price // SCALE


def debt_value(amount: int, price: int) -> int:
    """USDT minor units of a debt, rounded up (a debt is never undervalued)."""
    return -(-amount * price // SCALE)


@dataclass
class Position:
    """One asset of a margin account (minor units)."""

    asset: str
    total: int = 0
    locked: int = 0
    borrowed: int = 0
    interest: int = 0

    @property
    def free(self) -> int:
        return self.total - self.locked

    @property
    def owed(self) -> int:
        return self.borrowed + self.interest


@dataclass
class MarginState:
    """A margin account as the level rule sees it."""

    user_id: int
    account_id: int
    status: str
    positions: dict[str, Position] = field(default_factory=dict)
    prices: dict[str, int] = field(default_factory=dict)

    def position(self, asset: str) -> Position:
        return self.positions.setdefault(asset, Position(asset))

    @property
    def assets_value(self) -> int:
        return sum(
            asset_value(p.total, self.prices[a]) for a, p in self.positions.items() if p.total
        )

    @property
    def debts_value(self) -> int:
        return sum(debt_value(p.owed, self.prices[a]) for a, p in self.positions.items() if p.owed)

    @property
    def level(self) -> Fraction | None:
        """Assets / debts; None when nothing is owed (an unbounded level)."""
        debts = self.debts_value
        return None if debts == 0 else Fraction(self.assets_value, debts)

    def level_at_least(self, bound: Fraction) -> bool:
        level = self.level
        return level is None or level >= bound

    def as_dict(self) -> dict[str, Any]:
        level = self.level
        return {
            "account_id": str(self.account_id),
            "status": self.status,
            "margin_call": self.status in ("margin_call", "liquidating"),
            "level": None if level is None else decimal_text(level, 4),
            "total_asset_value": decimal_text(Fraction(self.assets_value, SCALE), 8),
            "total_debt_value": decimal_text(Fraction(self.debts_value, SCALE), 8),
            "assets": [
                {
                    "asset": p.asset,
                    "free": decimal_text(Fraction(p.free, SCALE), 8),
                    "locked": decimal_text(Fraction(p.locked, SCALE), 8),
                    "borrowed": decimal_text(Fraction(p.borrowed, SCALE), 8),
                    "interest": decimal_text(Fraction(p.interest, SCALE), 8),
                    "net": decimal_text(Fraction(p.total - p.owed, SCALE), 8),
                    "index_price": decimal_text(Fraction(self.prices[p.asset], SCALE), 8),
                }
                for p in sorted(self.positions.values(), key=lambda p: p.asset)
            ],
        }


def decimal_text(value: Fraction, places: int) -> str:
    """`value` rounded toward zero to `places` decimals, as an exact string."""
    scaled = abs(value.numerator) * 10**places // value.denominator
    sign = "-" if value < 0 and scaled else ""
    whole, part = divmod(scaled, 10**places)
    return f"{sign}{whole}.{part:0{places}d}"


def parse_amount(text: str) -> int:
    """A positive decimal string with at most 8 decimals → minor units; InvalidInput otherwise."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(f"{text!r} is not a decimal amount.") from None
    units = value * SCALE
    if units.denominator != 1 or not 1 <= units <= MAX_AMOUNT:
        raise InvalidInput("An amount is positive, with at most 8 decimals, below 10^7 units.")
    return int(units)


def check_asset(asset: str) -> str:
    if asset not in ASSETS:
        raise UnknownAsset(f"{asset!r} is not one of {', '.join(ASSETS)}.")
    return asset


# -- accounts ----------------------------------------------------------------------------------


async def _house(ledger: Ledger, name: str, asset: str) -> int:
    kinds = {
        "lending-pool": (AccountKind.LIABILITY, False),
        "lent": (AccountKind.LIABILITY, False),
        "interest-income": (AccountKind.REVENUE, False),
        "house-capital": (AccountKind.EQUITY, True),
        "liquidation-loss": (AccountKind.EXPENSE, False),
    }
    kind, negative = kinds[name]
    opened = await ledger.open_account(
        owner=HOUSE, name=name, currency=asset, kind=kind, allow_negative=negative
    )
    return opened.id


async def _loan_account(ledger: Ledger, user_id: int, name: str, asset: str) -> int:
    opened = await ledger.open_account(
        owner=margin_owner(user_id), name=name, currency=asset, kind=AccountKind.ASSET
    )
    return opened.id


async def fund_pools(db: Database) -> None:
    """Put the house's lending funds in each pool, once (fixed transfer ids answer EXISTS)."""
    async with db.session(write=True) as session:
        ledger = Ledger(session)
        for asset, amount in POOL_FUNDING.items():
            await ledger.transfer(
                Transfer(
                    id=derived_id(HOUSE, "pool-funding", asset),
                    debit_account_id=await _house(ledger, "house-capital", asset),
                    credit_account_id=await _house(ledger, "lending-pool", asset),
                    amount=amount,
                    code="margin-pool-funding",
                    reference=f"{HOUSE}:pool:{asset}",
                )
            )


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


async def open_margin(session: AsyncSession, user_id: int) -> int:
    """The user's margin venue account, opened (with its margin row) on first use; needs a
    session that may write. The same get-or-create as `Venue.open_account`, usable where no venue
    object is at hand (the order API's account resolver). Safe under concurrency: the venue
    account's (venue, owner) and the margin row's user are unique. O(log n)."""
    owner = margin_owner(user_id)
    query = select(MatchingAccount.id).where(
        MatchingAccount.venue == VENUE, MatchingAccount.owner == owner
    )
    found = await session.scalar(query)
    if found is None:
        try:
            async with session.begin_nested():
                session.add(
                    MatchingAccount(
                        id=new_id(), venue=VENUE, owner=owner, user_id=user_id, created_at=utcnow()
                    )
                )
        except IntegrityError:
            pass  # a concurrent request opened it
        found = await session.scalar(query)
        assert found is not None
    now = utcnow()
    await session.execute(
        _dialect(session)
        .insert(BinanceMarginAccount)
        .values(
            id=new_id(),
            user_id=user_id,
            account_id=int(found),
            status="normal",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return int(found)


async def principal_margin_account(session: AsyncSession, principal: Principal) -> int:
    """`account_for` of the engine's order API mounted at /margin: the caller's margin account."""
    return await open_margin(session, principal.user_id)


async def _row(session: AsyncSession, user_id: int, *, lock: bool) -> BinanceMarginAccount:
    query = select(BinanceMarginAccount).where(BinanceMarginAccount.user_id == user_id)
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NoMarginAccount("Open the margin account first (transfer into it).")
    return row


async def state_of(
    session: AsyncSession, venue: venues.Venue, row: BinanceMarginAccount
) -> MarginState:
    """The account's balances, debts and index prices. O(assets)."""
    ledger = Ledger(session)
    state = MarginState(row.user_id, row.account_id, row.status)
    for account in await ledger.accounts_of(wallet_owner(VENUE, row.account_id)):
        if account.name == WALLET and account.kind is AccountKind.LIABILITY:
            position = state.position(account.currency)
            position.total, position.locked = account.posted, account.held
    for account in await ledger.accounts_of(margin_owner(row.user_id)):
        if account.name == "debt":
            state.position(account.currency).borrowed = account.posted
        elif account.name == "interest":
            state.position(account.currency).interest = account.posted
    for asset, position in list(state.positions.items()):
        if position.total == 0 and position.owed == 0:
            del state.positions[asset]
        else:
            state.prices[asset] = index_price(venue, asset)
    return state


async def account_state(session: AsyncSession, venue: venues.Venue, user_id: int) -> MarginState:
    """The caller's margin account (NoMarginAccount, 404, before the first transfer in)."""
    return await state_of(session, venue, await _row(session, user_id, lock=False))


# -- transfer, borrow, repay -------------------------------------------------------------------


async def transfer(
    session: AsyncSession,
    venue: venues.Venue,
    user_id: int,
    asset: str,
    amount: int,
    *,
    to_margin: bool,
) -> MarginState:
    """Move `amount` of `asset` between the user's spot and margin wallets. Out of margin it is
    refused (MarginLevelTooLow, 409) when the level after it would be below 2.0 with debt
    outstanding; InsufficientFunds (409) when the source's free balance does not cover it."""
    check_asset(asset)
    ledger = Ledger(session)
    spot_id = await account_of(session, user_id)
    if to_margin:
        await open_margin(session, user_id)
    row = await _row(session, user_id, lock=True)
    spot_wallet = await venue.directory.wallet(ledger, spot_id, asset)
    margin_wallet = await venue.directory.wallet(ledger, row.account_id, asset)
    if not to_margin:
        if row.status == "liquidating":
            raise MarginLevelTooLow("The account is being liquidated.")
        state = await state_of(session, venue, row)
        state.position(asset).total -= amount
        state.prices.setdefault(asset, index_price(venue, asset))
        if state.position(asset).free < 0:
            raise refusal_of_funds(asset)
        if not state.level_at_least(INITIAL_LEVEL):
            raise MarginLevelTooLow(
                "Transferring this out would leave the margin level below 2.0; repay first."
            )
    source, target = (spot_wallet, margin_wallet) if to_margin else (margin_wallet, spot_wallet)
    await ledger.transfer(
        Transfer(
            id=new_id(),
            debit_account_id=source,
            credit_account_id=target,
            amount=amount,
            code="margin-transfer-in" if to_margin else "margin-transfer-out",
            reference=f"{margin_owner(user_id)}:transfer",
        )
    )
    return await state_of(session, venue, row)


def refusal_of_funds(asset: str) -> Problem:
    """The ledger's own 409 (ledger/exceeds-credits) for a margin wallet that cannot pay."""
    problem = refusal(Outcome.EXCEEDS_CREDITS)
    assert isinstance(problem, InsufficientFunds)
    problem.detail = f"The margin wallet's free {asset} does not cover this."
    return problem


def max_borrow(state: MarginState, asset: str, price: int) -> int:
    """The most of `asset` a borrow may add and keep the level at or above 2.0 (minor units).
    Borrowing b adds b to both sides: A + b·p ≥ 2(L + b·p) ⇔ b·p ≤ A - 2L; then corrected for
    the roundings of the valuation. `price` is the asset's index price. O(assets)."""
    state.prices.setdefault(asset, price)
    if price <= 0:
        return 0
    room = state.assets_value - 2 * state.debts_value
    if room <= 0:
        return 0
    amount = room * SCALE // price
    while amount > 0 and not _fits(state, asset, amount):
        amount -= 1
    return amount


def _fits(state: MarginState, asset: str, amount: int) -> bool:
    position = state.position(asset)
    position.total += amount
    position.borrowed += amount
    try:
        return state.level_at_least(INITIAL_LEVEL)
    finally:
        position.total -= amount
        position.borrowed -= amount


async def borrow(
    session: AsyncSession, venue: venues.Venue, user_id: int, asset: str, amount: int
) -> MarginState:
    """Borrow `amount` of `asset` from the house pool into the margin wallet. Refused
    (MarginLevelTooLow, 409) when the level after it would be below 2.0, or when the account is
    being liquidated; InsufficientFunds (409) when the pool cannot lend it."""
    check_asset(asset)
    row = await _row(session, user_id, lock=True)
    if row.status == "liquidating":
        raise MarginLevelTooLow("The account is being liquidated.")
    state = await state_of(session, venue, row)
    state.prices.setdefault(asset, index_price(venue, asset))
    if not _fits(state, asset, amount):
        most = max_borrow(state, asset, state.prices[asset])
        raise MarginLevelTooLow(
            f"Borrowing this would leave the margin level below 2.0; at most "
            f"{decimal_text(Fraction(most, SCALE), 8)} {asset} now."
        )
    ledger = Ledger(session)
    outcomes = await ledger.create_transfers(
        [
            Transfer(
                id=new_id(),
                debit_account_id=await _loan_account(ledger, user_id, "debt", asset),
                credit_account_id=await venue.directory.wallet(ledger, row.account_id, asset),
                amount=amount,
                linked=True,
                code="margin-borrow",
                reference=f"{margin_owner(user_id)}:borrow",
            ),
            Transfer(
                id=new_id(),
                debit_account_id=await _house(ledger, "lending-pool", asset),
                credit_account_id=await _house(ledger, "lent", asset),
                amount=amount,
                code="margin-borrow",
                reference=f"{margin_owner(user_id)}:borrow",
            ),
        ]
    )
    for outcome in outcomes:
        if not outcome.succeeded and outcome.value != "linked-event-failed":
            problem = refusal(outcome)
            problem.detail = f"The {asset} lending pool cannot lend this much now."
            raise problem
    return await state_of(session, venue, row)


async def repay(
    session: AsyncSession, venue: venues.Venue, user_id: int, asset: str, amount: int
) -> tuple[int, int]:
    """Repay `amount` of `asset` from the margin wallet, interest first; returns (interest paid,
    principal paid). RepayExceedsDebt (422) over what is owed; InsufficientFunds (409) when the
    wallet's free balance does not cover it."""
    check_asset(asset)
    row = await _row(session, user_id, lock=True)
    state = await state_of(session, venue, row)
    position = state.position(asset)
    if amount > position.owed:
        raise RepayExceedsDebt(
            f"{decimal_text(Fraction(position.owed, SCALE), 8)} {asset} is owed; "
            "repay at most that."
        )
    if amount > position.free:
        raise refusal_of_funds(asset)
    return await _repay(session, venue, row, asset, amount, position.interest)


async def _repay(
    session: AsyncSession,
    venue: venues.Venue,
    row: BinanceMarginAccount,
    asset: str,
    amount: int,
    interest_owed: int,
) -> tuple[int, int]:
    ledger = Ledger(session)
    wallet = await venue.directory.wallet(ledger, row.account_id, asset)
    interest_paid = min(amount, interest_owed)
    principal_paid = amount - interest_paid
    reference = f"{margin_owner(row.user_id)}:repay"
    transfers: list[Transfer] = []
    if interest_paid:
        transfers.append(
            Transfer(
                id=new_id(),
                debit_account_id=wallet,
                credit_account_id=await _loan_account(ledger, row.user_id, "interest", asset),
                amount=interest_paid,
                linked=bool(principal_paid),
                code="margin-repay-interest",
                reference=reference,
            )
        )
    if principal_paid:
        transfers += [
            Transfer(
                id=new_id(),
                debit_account_id=wallet,
                credit_account_id=await _loan_account(ledger, row.user_id, "debt", asset),
                amount=principal_paid,
                linked=True,
                code="margin-repay",
                reference=reference,
            ),
            Transfer(
                id=new_id(),
                debit_account_id=await _house(ledger, "lent", asset),
                credit_account_id=await _house(ledger, "lending-pool", asset),
                amount=principal_paid,
                code="margin-repay",
                reference=reference,
            ),
        ]
    for outcome in await ledger.create_transfers(transfers):
        if not outcome.succeeded and outcome.value != "linked-event-failed":
            raise refusal(outcome)
    if row.status == "margin_call":
        state = await state_of(session, venue, row)
        if state.level_at_least(MARGIN_CALL_LEVEL):
            row.status, row.updated_at = "normal", utcnow()
    return interest_paid, principal_paid


# -- interest ----------------------------------------------------------------------------------


async def accrue_interest(db: Database, now: datetime) -> int:
    """Charge the hour slot of `now` on every outstanding loan, exactly once per (account,
    asset, hour) however often or concurrently it runs; returns how many loans were charged.
    Each loan is its own transaction (claim row + ledger transfer). O(loans)."""
    hour = int(now.timestamp()) // 3600
    charged = 0
    for asset in ASSETS:
        after = 0
        while True:
            async with db.session() as session:
                page = await Ledger(session).accounts_named("debt", asset, after_id=after)
            if not page:
                break
            after = page[-1].id
            for debt in page:
                if debt.owner.startswith(HOUSE + ":") and debt.posted > 0:
                    charged += await _charge(db, debt.owner, asset, hour)
    return charged


async def _charge(db: Database, owner: str, asset: str, hour: int) -> int:
    user_id = int(owner.rsplit(":", 1)[1])
    async with db.session(write=True) as session:
        row = await session.scalar(
            select(BinanceMarginAccount).where(BinanceMarginAccount.user_id == user_id)
        )
        if row is None:
            return 0
        ledger = Ledger(session)
        debt = await ledger.find_account(owner=owner, name="debt", currency=asset)
        if debt is None or debt.posted <= 0:
            return 0
        amount = -(-debt.posted * HOURLY_RATE[asset] // RATE_SCALE)
        transfer_id = derived_id(HOUSE, "interest", row.account_id, asset, hour)
        claimed = await session.execute(
            _dialect(session)
            .insert(BinanceMarginInterest)
            .values(
                id=new_id(),
                account_id=row.account_id,
                asset=asset,
                hour=hour,
                principal=debt.posted,
                amount=amount,
                transfer_id=transfer_id,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return 0  # this hour was charged already
        await ledger.transfer(
            Transfer(
                id=transfer_id,
                debit_account_id=await _loan_account(ledger, user_id, "interest", asset),
                credit_account_id=await _house(ledger, "interest-income", asset),
                amount=amount,
                code="margin-interest",
                reference=f"{owner}:interest:{hour}",
            )
        )
        return 1


# -- margin calls and liquidation ------------------------------------------------------------


async def _event(
    session: AsyncSession, user_id: int, kind: str, level: str | None, detail: str
) -> None:
    session.add(
        BinanceMarginEvent(
            id=new_id(),
            user_id=user_id,
            kind=kind,
            level=level,
            detail=detail[:500],
            created_at=utcnow(),
        )
    )


def _level_text(state: MarginState) -> str | None:
    level = state.level
    return None if level is None else decimal_text(level, 4)


async def check_accounts(platform: Platform) -> dict[str, int]:
    """One risk pass over every margin account: flag margin calls (< 1.3, one event per
    crossing), clear them (≥ 1.3), liquidate (< 1.1 or already liquidating). Returns counts.
    O(accounts · assets) reads plus the liquidations' orders."""
    venue = venues.get(platform, VENUE)
    counts = {"margin_calls": 0, "liquidations": 0}
    after = 0
    while True:
        async with platform.db.session() as session:
            page = (
                await session.execute(
                    select(BinanceMarginAccount.id, BinanceMarginAccount.user_id)
                    .where(BinanceMarginAccount.id > after)
                    .order_by(BinanceMarginAccount.id)
                    .limit(500)
                )
            ).all()
        if not page:
            return counts
        after = page[-1][0]
        for _, user_id in page:
            outcome = await check_account(platform, venue, user_id)
            if outcome in counts:
                counts[outcome] += 1


async def check_account(platform: Platform, venue: venues.Venue, user_id: int) -> str:
    """Apply the level rules to one account; returns "margin_calls", "liquidations" or ""."""
    async with platform.db.session(write=True) as session:
        row = await _row(session, user_id, lock=True)
        state = await state_of(session, venue, row)
        text = _level_text(state)
        if row.status == "liquidating" or not state.level_at_least(LIQUIDATION_LEVEL):
            if row.status != "liquidating":
                row.status, row.updated_at = "liquidating", utcnow()
                await _event(session, user_id, "liquidation", text, "Margin level below 1.1.")
            liquidate_now = True
        else:
            liquidate_now = False
            if not state.level_at_least(MARGIN_CALL_LEVEL):
                if row.status == "normal":
                    row.status, row.updated_at = "margin_call", utcnow()
                    await _event(session, user_id, "margin_call", text, "Margin level below 1.3.")
                    return "margin_calls"
            elif row.status == "margin_call":
                row.status, row.updated_at = "normal", utcnow()
            return ""
    if liquidate_now:
        await liquidate(platform, venue, user_id)
        return "liquidations"
    return ""


async def liquidate(platform: Platform, venue: venues.Venue, user_id: int) -> bool:
    """Liquidate a `liquidating` account through the engine; True when it is done.

    1. cancel the account's open orders (their holds return to the wallet);
    2. sell, with market (IOC) orders on `<asset>USDT`, every non-USDT asset beyond what is owed
       in it (whole lots);
    3. buy, with IOC orders at the venue's protection price, each non-USDT asset owed beyond what
       is held, as far as the USDT covers;
    4. repay every asset from the wallet, interest first;
    5. debt left with no collateral that can still be sold (each asset below one lot, no USDT) is
       written off to the house's loss account; debt left while collateral remains (the book was
       too thin) waits for the next risk pass.
    Every step reads fresh balances, so running it again (a crash, a concurrent pass) repeats
    nothing that was done."""
    async with platform.db.session() as session:
        row = await _row(session, user_id, lock=False)
        if row.status != "liquidating":
            return True
        account_id = row.account_id
        open_orders, _ = await venue.orders(session, account_id, open_only=True, limit=500)
    for order in open_orders:
        with contextlib.suppress(OrderNotOpen):  # filled or cancelled meanwhile
            await venue.cancel(account_id, order.id)
    state = await _read_state(platform, venue, user_id)
    for asset, position in sorted(state.positions.items()):
        pair = _usdt_pair(venue, asset)
        if asset == QUOTE or pair is None:
            continue
        lots = (position.free - position.owed) // pair.lot_size
        if lots >= pair.min_qty:
            await _market(venue, account_id, pair, Side.SELL, min(lots, pair.max_qty))
    state = await _read_state(platform, venue, user_id)
    for asset, position in sorted(state.positions.items()):
        pair = _usdt_pair(venue, asset)
        short = position.owed - position.free
        if asset == QUOTE or pair is None or short <= 0:
            continue
        lots = -(-short // pair.lot_size)
        price = _protection(venue, pair)
        usdt_free = state.position(QUOTE).free
        fee = max(pair.maker_fee_bps, pair.taker_fee_bps)
        affordable = usdt_free * 10_000 // (price * pair.npl * (10_000 + fee) + 1)
        lots = min(lots, affordable, pair.max_qty)
        if price and lots >= pair.min_qty:
            await _market(venue, account_id, pair, Side.BUY, lots)
    async with platform.db.session(write=True) as session:
        row = await _row(session, user_id, lock=True)
        if row.status != "liquidating":
            return True  # a concurrent pass finished it
        state = await state_of(session, venue, row)
        for asset, position in sorted(state.positions.items()):
            pay = min(position.free, position.owed)
            if pay > 0:
                await _repay(session, venue, row, asset, pay, position.interest)
        state = await state_of(session, venue, row)
        if all(p.owed == 0 for p in state.positions.values()):
            row.status, row.updated_at = "normal", utcnow()
            await _event(session, user_id, "liquidated", _level_text(state), "Debt repaid.")
            return True
        if _collateral_left(venue, state):
            return False
        await _write_off(session, row, state)
        row.status, row.updated_at = "normal", utcnow()
        await _event(session, user_id, "liquidated", None, "Collateral exhausted.")
        return True


async def _read_state(platform: Platform, venue: venues.Venue, user_id: int) -> MarginState:
    async with platform.db.session() as session:
        return await account_state(session, venue, user_id)


def _protection(venue: venues.Venue, pair: Instrument) -> int:
    """The price a market buy is held and executed at (venue.py's rule: last trade, else best
    ask, else reference, plus the protection band)."""
    reference = (
        venue.last_price.get(pair.id) or venue.book(pair.id).best_ask() or pair.reference_price
    )
    return (reference or 0) * (10_000 + venue.config.market_protection_bps) // 10_000


async def _market(
    venue: venues.Venue, account_id: int, pair: Instrument, side: Side, lots: int
) -> None:
    """One liquidation order; a refusal (no liquidity, funds moved meanwhile) is logged and the
    next pass tries again."""
    try:
        await venue.place(
            NewOrder(
                account_id=account_id,
                instrument_id=pair.id,
                side=side,
                qty=lots,
                type="market",
                tif=TimeInForce.IOC,
            )
        )
    except Problem as problem:
        log.warning("liquidation order refused: %s", problem.detail)


def _collateral_left(venue: venues.Venue, state: MarginState) -> bool:
    """Whether anything can still be sold for the debt: any USDT, or a whole lot of an asset.
    Counts locked funds too: an order in flight (this pass's sale, or a concurrent pass's) still
    holds collateral that will pay the debt, so it must not be written off meanwhile."""
    for asset, position in state.positions.items():
        if position.total <= 0:
            continue
        if asset == QUOTE:
            return True
        pair = _usdt_pair(venue, asset)
        if pair is not None and position.total >= pair.lot_size * pair.min_qty:
            return True
    return False


async def _write_off(session: AsyncSession, row: BinanceMarginAccount, state: MarginState) -> None:
    """The house covers what the collateral could not: debt and interest written off to the
    loss account, and the pool refilled for the principal lost."""
    ledger = Ledger(session)
    lost: list[str] = []
    for asset, position in sorted(state.positions.items()):
        reference = f"{margin_owner(row.user_id)}:house-loss"
        loss = await _house(ledger, "liquidation-loss", asset)
        transfers: list[Transfer] = []
        if position.interest:
            transfers.append(
                Transfer(
                    id=new_id(),
                    debit_account_id=loss,
                    credit_account_id=await _loan_account(ledger, row.user_id, "interest", asset),
                    amount=position.interest,
                    code="margin-house-loss",
                    reference=reference,
                )
            )
        if position.borrowed:
            transfers += [
                Transfer(
                    id=new_id(),
                    debit_account_id=loss,
                    credit_account_id=await _loan_account(ledger, row.user_id, "debt", asset),
                    amount=position.borrowed,
                    linked=True,
                    code="margin-house-loss",
                    reference=reference,
                ),
                Transfer(
                    id=new_id(),
                    debit_account_id=await _house(ledger, "lent", asset),
                    credit_account_id=await _house(ledger, "lending-pool", asset),
                    amount=position.borrowed,
                    code="margin-house-loss",
                    reference=reference,
                ),
            ]
        for outcome in await ledger.create_transfers(transfers):
            if not outcome.succeeded:
                raise refusal(outcome)
        if position.owed:
            lost.append(f"{decimal_text(Fraction(position.owed, SCALE), 8)} {asset}")
    await _event(
        session, row.user_id, "house_loss", None, "Covered by the house: " + ", ".join(lost)
    )


async def events(session: AsyncSession, user_id: int, limit: int = 20) -> list[BinanceMarginEvent]:
    """The user's newest margin events. O(log n + limit)."""
    return list(
        await session.scalars(
            select(BinanceMarginEvent)
            .where(BinanceMarginEvent.user_id == user_id)
            .order_by(BinanceMarginEvent.id.desc())
            .limit(limit)
        )
    )


# -- jobs ----------------------------------------------------------------------------------------

INTEREST_JOB = "binance.margin-interest"
RISK_JOB = "binance.margin-risk"
RISK_INTERVAL = 5.0


async def _interest_job(platform: Platform, payload: dict[str, Any]) -> None:
    """Charge the hour, then schedule the next hour (exactly once per loan and hour however
    often it runs)."""
    try:
        await accrue_interest(platform.db, utcnow())
    finally:
        await schedule_interest(platform)


async def _risk_job(platform: Platform, payload: dict[str, Any]) -> None:
    try:
        await check_accounts(platform)
    finally:
        await schedule_risk(platform)


async def schedule_interest(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next hour's accrual at the hour, keyed by it (one per hour in a cluster)."""
    now = time.time() if now is None else now
    hour = int(now // 3600) + 1
    return await platform.jobs.enqueue(
        INTEREST_JOB, {}, key=str(hour), delay=max(0.0, hour * 3600 - now)
    )


async def schedule_risk(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next risk pass at the next RISK_INTERVAL boundary, keyed by it."""
    now = time.time() if now is None else now
    slot = int(now // RISK_INTERVAL) + 1
    return await platform.jobs.enqueue(
        RISK_JOB, {}, key=str(slot), delay=max(0.0, slot * RISK_INTERVAL - now)
    )


async def start_margin(platform: Platform) -> None:
    """Fund the lending pools (once) and schedule the interest and risk jobs. Called at the end
    of `runtime.start`, after the venue and its pairs exist."""
    await fund_pools(platform.db)
    platform.jobs.register(INTEREST_JOB, _interest_job, retries=3)
    platform.jobs.register(RISK_JOB, _risk_job, retries=3)
    await accrue_interest(platform.db, utcnow())
    await schedule_interest(platform)
    await schedule_risk(platform)
