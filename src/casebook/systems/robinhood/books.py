"""Robinhood's own books in the ledger, and the exact arithmetic of fractional shares.

Units: cash in USD cents; shares in micro-shares (`MICRO` = 1,000,000 per share), the ledger
currency being the stock's symbol. Accounts (owner / name / currency):

- `robinhood:user:<id>` / cash / USD (liability, never negative): the customer's cash;
- `robinhood:user:<id>` / position / SYM (liability, never negative): the customer's shares;
- `robinhood` / escrow / USD and SYM (liability, never negative): what open orders reserved;
- `robinhood` / inventory / SYM (liability, never negative): the house's fractional shares;
- `robinhood` / custody / SYM (equity, may go negative): mirror of the whole shares in the house
  account at the exchange: minus its balance = those shares * MICRO;
- `robinhood` / trading / USD (equity, may go negative): the house's trading book (customers'
  payments in, sale proceeds out);
- `robinhood` / bank / USD (asset, may go negative): the simulated bank, where deposits and
  withdrawals cross.

The house's cash at the exchange is the venue's ledger (its account there, funded with the
firm's capital); exchange fees are paid from it: customers pay no commission.

Rounding (one rule): the cash value of m micro-shares at an average price of N cents for n
whole shares is `value(m, N, n) = round-half-up(m * N / (n * MICRO))`, exact integers. A
customer's fractional trade is charged (or paid) exactly that; whatever the rounding moves
(under half a cent per order) is the house's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from casebook.engines.ledger import AccountKind, Ledger
from casebook.engines.ledger.models import LedgerAccount

MICRO = 1_000_000
"""Micro-shares per share."""
USD = "USD"
OWNER = "robinhood"


def customer_owner(user_id: int) -> str:
    return f"{OWNER}:user:{user_id}"


def value(micro: int, notional: int, shares: int) -> int:
    """Cents for `micro` micro-shares when `shares` whole shares cost `notional` cents, rounded
    half up. O(1). ValueError for shares <= 0."""
    if shares <= 0:
        raise ValueError("shares must be positive")
    denominator = shares * MICRO
    return (2 * micro * notional + denominator) // (2 * denominator)


def transfer_id(*parts: object) -> int:
    """A deterministic positive 63-bit transfer id for one leg of one settlement step: a replay
    of the step answers EXISTS in the ledger instead of posting twice."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 1) or 1


async def customer_cash(ledger: Ledger, owner: str, name: str) -> int:
    """The customer's USD cash account `name` under `owner` (a liability, never negative)."""
    account = await ledger.open_account(
        owner=owner, name=name, currency=USD, kind=AccountKind.LIABILITY
    )
    return account.id


async def customer_position(ledger: Ledger, owner: str, symbol: str) -> int:
    account = await ledger.open_account(
        owner=owner, name="position", currency=symbol, kind=AccountKind.LIABILITY
    )
    return account.id


async def cash(ledger: Ledger, user_id: int) -> int:
    return await customer_cash(ledger, customer_owner(user_id), "cash")


async def position(ledger: Ledger, user_id: int, symbol: str) -> int:
    return await customer_position(ledger, customer_owner(user_id), symbol)


async def house(ledger: Ledger, name: str, currency: str) -> int:
    """A house account: escrow / inventory (never negative), custody / trading (equity, may go
    negative) or bank (asset, may go negative)."""
    if name in ("escrow", "inventory"):
        kind, negative = AccountKind.LIABILITY, False
    elif name == "bank":
        kind, negative = AccountKind.ASSET, True
    else:
        kind, negative = AccountKind.EQUITY, True
    account = await ledger.open_account(
        owner=OWNER, name=name, currency=currency, kind=kind, allow_negative=negative
    )
    return account.id


async def open_house_accounts(ledger: Ledger, symbol: str) -> None:
    """Create the house accounts of `symbol` (and of cash) if missing. Called before any
    transfer of a transaction: on PostgreSQL, creating an account while holding another
    account's lock can deadlock with a transaction creating the same account."""
    for name in ("escrow", "inventory", "custody"):
        await house(ledger, name, symbol)
    for name in ("escrow", "trading", "bank"):
        await house(ledger, name, USD)


@dataclass(frozen=True)
class OrderAccounts:
    """Every ledger account an order of one customer in one symbol can touch."""

    cash: int
    position: int
    escrow_cash: int
    escrow_micro: int
    inventory: int
    custody: int
    trading: int


async def open_order_accounts(
    ledger: Ledger, owner: str, cash_name: str, symbol: str
) -> OrderAccounts:
    """Every account an order of the customer `owner` (cash account `cash_name`) in `symbol`
    can touch, opened if missing; not locked (see `lock`)."""
    await open_house_accounts(ledger, symbol)
    return OrderAccounts(
        cash=await customer_cash(ledger, owner, cash_name),
        position=await customer_position(ledger, owner, symbol),
        escrow_cash=await house(ledger, "escrow", USD),
        escrow_micro=await house(ledger, "escrow", symbol),
        inventory=await house(ledger, "inventory", symbol),
        custody=await house(ledger, "custody", symbol),
        trading=await house(ledger, "trading", USD),
    )


async def lock(ledger: Ledger, *accounts: OrderAccounts) -> None:
    """LOCK, in id order and in one statement, every account of `accounts`. A settlement
    posts several ledger batches in one transaction; taking all their locks first, in the
    ledger's own order, is what keeps two transactions from deadlocking on PostgreSQL (on
    SQLite the write transaction holds the database lock already)."""
    ids = sorted({i for found in accounts for i in vars(found).values()})
    await ledger.session.execute(
        select(LedgerAccount.id)
        .where(LedgerAccount.id.in_(ids))
        .order_by(LedgerAccount.id)
        .with_for_update()
    )


async def order_accounts(ledger: Ledger, owner: str, cash_name: str, symbol: str) -> OrderAccounts:
    """`open_order_accounts`, then `lock`ed."""
    found = await open_order_accounts(ledger, owner, cash_name, symbol)
    await lock(ledger, found)
    return found
