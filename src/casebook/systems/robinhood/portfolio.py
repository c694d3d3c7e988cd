"""The customer's account: cash in and out through the simulated bank, positions, portfolio
value (and its series over time), and the statement of the cash account.

Value of a position = round-half-up(micro-shares * last price / MICRO) cents, the last price
being the exchange's last trade (else the listing's reference price). Reads are the ledger's
accounts of the customer's owner key: O(positions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer
from casebook.engines.ledger.statements import StatementLine, statement
from casebook.engines.matching.venue import Venue
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.robinhood import books
from casebook.systems.robinhood.books import MICRO, USD, value
from casebook.systems.robinhood.models import PortfolioPoint


@dataclass(frozen=True)
class Position:
    symbol: str
    micro_shares: int
    price: int
    """Last price, cents per share."""
    value: int


@dataclass(frozen=True)
class Summary:
    cash: int
    """Cents the customer may spend (posted cash)."""
    reserved: int
    """Cents held in escrow by the customer's open orders."""
    positions: list[Position]

    @property
    def equity(self) -> int:
        return sum(p.value for p in self.positions)

    @property
    def total(self) -> int:
        return self.cash + self.reserved + self.equity


async def move_cash(
    session: AsyncSession, user_id: int, direction: str, amount: int, transfer_id: int
) -> None:
    """A deposit from, or a withdrawal to, the customer's bank (instant, simulated), idempotent
    by `transfer_id`. A withdrawal over the cash balance raises InsufficientFunds (409)."""
    ledger = Ledger(session)
    cash = await books.cash(ledger, user_id)
    bank = await books.house(ledger, "bank", USD)
    debit, credit = (bank, cash) if direction == "deposit" else (cash, bank)
    await ledger.transfer(
        Transfer(
            id=transfer_id,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            code=direction,
            reference=f"robinhood:{direction}:{user_id}",
        )
    )


def last_price(venue: Venue, symbol: str) -> int:
    instrument_id = venue._symbols.get(symbol)
    if instrument_id is None:
        return 0
    instrument = venue.listed[instrument_id]
    return venue.last_price.get(instrument_id) or instrument.reference_price or 0


async def summary(session: AsyncSession, venue: Venue, user_id: int, reserved: int = 0) -> Summary:
    """Cash and positions (non-zero) at the last price. O(accounts of the customer)."""
    current = await holdings(session, venue, books.customer_owner(user_id), "cash")
    return Summary(cash=current.cash, reserved=reserved, positions=current.positions)


async def holdings(session: AsyncSession, venue: Venue, owner: str, cash_name: str) -> Summary:
    """The cash (`cash_name`, USD) and non-zero positions of the ledger owner `owner` (a
    Robinhood customer, or another brokerage clientele's: brokerage.Clientele), positions at
    the last price, by symbol. O(accounts of the owner)."""
    accounts = await Ledger(session).accounts_of(owner)
    cash = 0
    positions: list[Position] = []
    for account in accounts:
        if account.name == cash_name and account.currency == USD:
            cash = account.posted
        elif account.name == "position" and account.posted:
            price = last_price(venue, account.currency)
            positions.append(
                Position(
                    symbol=account.currency,
                    micro_shares=account.posted,
                    price=price,
                    value=value(account.posted, price, 1),
                )
            )
    positions.sort(key=lambda p: p.symbol)
    return Summary(cash=cash, reserved=0, positions=positions)


async def record_point(session: AsyncSession, user_id: int, current: Summary) -> PortfolioPoint:
    """Add a point to the customer's portfolio-value series (called after every settled order
    and by `snapshot_all`)."""
    point = PortfolioPoint(
        id=new_id(),
        user_id=user_id,
        at=utcnow(),
        cash=current.cash + current.reserved,
        equity=current.equity,
    )
    session.add(point)
    await session.flush()
    return point


async def history(
    session: AsyncSession, user_id: int, since: datetime | None, limit: int
) -> list[PortfolioPoint]:
    """The customer's portfolio points, oldest first (the newest `limit` after `since`)."""
    query = select(PortfolioPoint).where(PortfolioPoint.user_id == user_id)
    if since is not None:
        query = query.where(PortfolioPoint.at >= since)
    rows = list(
        await session.scalars(
            query.order_by(PortfolioPoint.at.desc(), PortfolioPoint.id.desc()).limit(limit)
        )
    )
    return rows[::-1]


async def cash_statement(
    session: AsyncSession, user_id: int, cursor: str | None, limit: int
) -> tuple[list[StatementLine], str | None]:
    """The customer's cash account lines (deposits, escrow, fills, refunds), newest first."""
    cash = await books.cash(Ledger(session), user_id)
    return await statement(session, cash, cursor=cursor, limit=limit)


__all__ = ["MICRO", "Position", "Summary", "cash_statement", "history", "move_cash", "summary"]
