"""Robinhood tables (`robinhood_*`). Money and shares live in the ledger (cash in USD cents, shares
in micro-shares: 1 share = 1,000,000 units); these rows say who may trade, what each customer
asked for and how far each order has been settled.

- `robinhood_customers`: a customer's onboarding record (identity + AML screen): `approved`
  customers may trade; the tax id is kept as its last four digits only.
- `robinhood_orders`: a customer's order and its settlement progress. `exchange_filled` /
  `exchange_notional` are the house order's fills already settled to the customer (the venue
  order is the source of truth; settling is idempotent by these counters).
- `robinhood_watchlist`: symbols a customer follows.
- `robinhood_portfolio_points`: the customer's portfolio value (cash + positions at the last
  price) at a moment: the "portfolio value over time" series.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class Customer(Base):
    __tablename__ = "robinhood_customers"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    legal_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date]
    country: Mapped[str] = mapped_column(String(2))
    tax_id_last4: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(10))
    """`approved` or `rejected` (the screen is automatic and synchronous)."""
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    __tablename__ = "robinhood_orders"
    __table_args__ = (
        Index("ix_robinhood_orders_owner", "owner", "id"),
        Index("ix_robinhood_orders_open", "closed", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int]
    owner: Mapped[str] = mapped_column(String(60), default="")
    """Ledger owner of the customer's cash and positions (`robinhood:user:<id>`, or
    `cashapp:user:<id>` for Cash App Investing): which brokerage's customer this is."""
    cash_name: Mapped[str] = mapped_column(String(20), default="cash")
    """Name of the customer's USD cash account under `owner` (the customer-cash source)."""
    symbol: Mapped[str] = mapped_column(String(20))
    instrument_id: Mapped[int]
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(6))
    """`market` or `limit`."""
    tif: Mapped[str] = mapped_column(String(3))
    """`gtc` or `day` for limit orders; `ioc` for market orders."""
    micro_shares: Mapped[int]
    """Shares asked for, in millionths (a dollar order: what the dollars bought at the quote)."""
    dollars: Mapped[int | None]
    """A dollar-based order's amount in cents (None for a share-based order)."""
    limit_price: Mapped[int | None]
    """Cents per share: a limit order's limit; a market buy's protection ceiling (quote + 5 %)."""
    exchange_qty: Mapped[int]
    """Whole shares sent to the exchange (the fractional rest comes from the inventory)."""
    reserved_cash: Mapped[int] = mapped_column(default=0)
    """Cents moved from the customer's cash into escrow at placement (buys)."""
    reserved_micro: Mapped[int] = mapped_column(default=0)
    """Micro-shares moved into escrow at placement: the customer's (sells) or the inventory's
    fractional part (buys)."""
    venue_order_id: Mapped[int | None] = mapped_column(unique=True)
    """The order's current order at the exchange (None while being re-posted)."""
    exchange_filled: Mapped[int] = mapped_column(default=0)
    """Whole shares filled at the exchange so far (over all its exchange orders)."""
    exchange_notional: Mapped[int] = mapped_column(default=0)
    venue_base_filled: Mapped[int] = mapped_column(default=0)
    """Shares filled by the order's earlier, retired exchange orders (see crossing.py)."""
    venue_base_notional: Mapped[int] = mapped_column(default=0)
    reposts: Mapped[int] = mapped_column(default=0)
    """How often the order's rest was re-posted at the exchange: its client order id is
    `rh-<id>` then `rh-<id>.<reposts>`."""
    internal_filled: Mapped[int] = mapped_column(default=0)
    """Whole shares crossed inside the broker with another customer's order (no exchange
    print; crossing.py)."""
    internal_notional: Mapped[int] = mapped_column(default=0)
    crossing_id: Mapped[int | None]
    """The incoming order crossing this resting order right now (its claim; crossing.py)."""
    filled_micro: Mapped[int] = mapped_column(default=0)
    """Micro-shares delivered to (buy) or taken from (sell) the customer."""
    amount: Mapped[int] = mapped_column(default=0)
    """Cents the customer paid (buy) or received (sell) so far, commission-free."""
    status: Mapped[str] = mapped_column(String(16))
    """pending → open → partially_filled → filled | cancelled | rejected (see brokerage.py)."""
    closed: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WatchlistItem(Base):
    __tablename__ = "robinhood_watchlist"
    __table_args__ = (UniqueConstraint("user_id", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int]
    symbol: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortfolioPoint(Base):
    __tablename__ = "robinhood_portfolio_points"
    __table_args__ = (Index("ix_robinhood_portfolio_points_user", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    cash: Mapped[int]
    """Cents: posted cash plus cash reserved by open orders."""
    equity: Mapped[int]
    """Cents: positions at their last price (rounded half up per position)."""
