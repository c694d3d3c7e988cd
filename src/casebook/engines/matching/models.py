"""The venue's tables: instruments, accounts, orders, trades, the command journal, snapshots.

Every row carries `venue` (the owning system's slug) and every query filters by it, so the Stock
Exchange and Binance share these tables without seeing each other's rows. Money is not here: a
venue account's balances and holds live in the ledger (settlement.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

ORDER_STATUSES = (
    "pending",
    "open",
    "partially_filled",
    "filled",
    "cancelled",
    "rejected",
    "expired",
)
FINAL_STATUSES = frozenset({"filled", "cancelled", "rejected", "expired"})


class MatchingInstrument(Base):
    """A listed instrument: base asset priced in quote asset, with its units and fee schedule
    (see `npl` in venue.py: price * qty * npl = notional in quote minor units)."""

    __tablename__ = "matching_instruments"
    __table_args__ = (UniqueConstraint("venue", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    venue: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(20))
    base_asset: Mapped[str] = mapped_column(String(10))
    quote_asset: Mapped[str] = mapped_column(String(10))
    tick_size: Mapped[int]
    lot_size: Mapped[int]
    base_scale: Mapped[int]
    min_qty: Mapped[int]
    max_qty: Mapped[int]
    maker_fee_bps: Mapped[int] = mapped_column(Integer)
    taker_fee_bps: Mapped[int] = mapped_column(Integer)
    reference_price: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(8), default="trading")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchingAccount(Base):
    """A trading account at a venue; `owner` is the system's own key for it (a member's trader,
    a user), unique per venue."""

    __tablename__ = "matching_accounts"
    __table_args__ = (UniqueConstraint("venue", "owner"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    venue: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchingOrder(Base):
    """An order and its lifecycle. `id` is the order id the book knows. `hold_transfer_id` is the
    CURRENT ledger hold of its open quantity (it changes on every fill and resize)."""

    __tablename__ = "matching_orders"
    __table_args__ = (
        UniqueConstraint("account_id", "client_order_id"),
        Index("ix_matching_orders_account", "venue", "account_id", "id"),
        Index("ix_matching_orders_unjournaled", "venue", "journaled", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    venue: Mapped[str] = mapped_column(String(32))
    instrument_id: Mapped[int]
    account_id: Mapped[int]
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(6))
    tif: Mapped[str] = mapped_column(String(3))
    post_only: Mapped[bool] = mapped_column(Boolean, default=False)
    stp: Mapped[int] = mapped_column(Integer)
    price: Mapped[int]
    """The limit in ticks; a market buy's protection price; 0 for a market sell."""
    qty: Mapped[int]
    filled_qty: Mapped[int] = mapped_column(default=0)
    open_qty: Mapped[int]
    notional_filled: Mapped[int] = mapped_column(default=0)
    fees_paid: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(32))
    hold_transfer_id: Mapped[int | None]
    journaled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchingTrade(Base):
    """One fill between a resting (maker) and an incoming (taker) order; fees in quote minor
    units."""

    __tablename__ = "matching_trades"
    __table_args__ = (
        UniqueConstraint("venue", "instrument_id", "trade_seq"),
        Index("ix_matching_trades_maker", "maker_account_id", "id"),
        Index("ix_matching_trades_taker", "taker_account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    venue: Mapped[str] = mapped_column(String(32))
    instrument_id: Mapped[int]
    trade_seq: Mapped[int]
    price: Mapped[int]
    qty: Mapped[int]
    maker_order_id: Mapped[int]
    maker_account_id: Mapped[int]
    taker_order_id: Mapped[int]
    taker_account_id: Mapped[int]
    taker_side: Mapped[str] = mapped_column(String(4))
    maker_fee: Mapped[int]
    taker_fee: Mapped[int]
    ts: Mapped[int]


class MatchingJournal(Base):
    """Every command a book applied, in order: seq counts from 1 per instrument without gaps."""

    __tablename__ = "matching_journal"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    command: Mapped[bytes] = mapped_column(LargeBinary)


class MatchingSnapshot(Base):
    """A book's state after journal entry `seq` (OrderBook.snapshot())."""

    __tablename__ = "matching_snapshots"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchingLease(Base):
    """Cluster mode (cluster.py): which process owns an instrument's book. `owner` is the
    process's token; `epoch` grows by one at every takeover and fences the old owner's writes;
    the owner pushes `expires_at` forward every few seconds, and any process may take the row
    with one conditional UPDATE once it has passed."""

    __tablename__ = "matching_leases"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[int]
    expires_at: Mapped[datetime]
