"""Tables of Binance cross margin (margin.py). Money is never here: balances, debts and accrued
interest are ledger accounts; these rows hold the account's risk state, the once-per-hour
interest claims and the margin events a user is shown."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class BinanceMarginAccount(Base):
    """A user's cross-margin account: the venue account it trades through and its risk status
    (`normal`, `margin_call` below level 1.3, `liquidating` below 1.1). The row is also the lock
    every level-checked change (transfer out, borrow, repay, liquidation) takes first."""

    __tablename__ = "binance_margin_accounts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(unique=True)
    account_id: Mapped[int] = mapped_column(unique=True)
    """The venue account (owner `binance:margin:<user id>`)."""
    status: Mapped[str] = mapped_column(String(16), default="normal")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BinanceMarginInterest(Base):
    """One hour's interest on one loan (account, asset): the unique key is what makes accrual
    exactly once per hour however often the job runs."""

    __tablename__ = "binance_margin_interest"
    __table_args__ = (UniqueConstraint("account_id", "asset", "hour"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(index=True)
    """The margin venue account."""
    asset: Mapped[str] = mapped_column(String(10))
    hour: Mapped[int]
    """Hours since the epoch of the slot charged."""
    principal: Mapped[int]
    amount: Mapped[int]
    transfer_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BinanceMarginEvent(Base):
    """What happened to a margin account that its owner must see: `margin_call` (once per
    crossing below 1.3), `liquidation` (started below 1.1), `liquidated` (debt repaid from
    collateral), `house_loss` (debt the house covered)."""

    __tablename__ = "binance_margin_events"
    __table_args__ = (Index("ix_binance_margin_events_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
