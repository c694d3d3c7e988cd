"""Tables of the Binance Launchpad (launchpad.py): token sales, each user's commitment to a
sale, and every single commit that made it up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

SYMBOL_LENGTH = 10


class LaunchpadProject(Base):
    """A token sale. `status`: open (before and during the window) → allocated (allocations
    computed after the window) → completed (payments, refunds and tokens distributed)."""

    __tablename__ = "binance_launchpad_projects"
    __table_args__ = (
        CheckConstraint("total_committed >= 0", name="total_committed_not_negative"),
        CheckConstraint("ends_at > starts_at", name="window_not_empty"),
        CheckConstraint("distributes_at >= ends_at", name="distribution_after_window"),
        Index("ix_binance_launchpad_projects_status", "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    quote_asset: Mapped[str] = mapped_column(String(SYMBOL_LENGTH))
    price: Mapped[int]
    """Quote minor units per whole token (10**8 token minor units)."""
    tokens_for_sale: Mapped[int]
    """Token minor units."""
    hard_cap: Mapped[int]
    """floor(tokens_for_sale * price / 10**8): the most quote the sale takes in payment."""
    per_user_cap: Mapped[int]
    """Quote minor units one user may commit in total."""
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    distributes_at: Mapped[datetime]
    list_pair: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")
    total_committed: Mapped[int] = mapped_column(default=0)
    participants: Mapped[int] = mapped_column(default=0)
    tokens_sold: Mapped[int | None]
    raised: Mapped[int | None]
    created_by: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    allocated_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class LaunchpadCommitment(Base):
    """One user's total commitment to one sale and, once allocated, its outcome. Invariant after
    allocation: payment + refund = committed; tokens ≤ allocation * 10**8 / price."""

    __tablename__ = "binance_launchpad_commitments"
    __table_args__ = (
        CheckConstraint("committed >= 0", name="committed_not_negative"),
        Index("ix_binance_launchpad_commitments_user", "user_id", "project_id"),
    )

    project_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int]
    """The user's venue (spot) account: where refunds and tokens go."""
    committed: Mapped[int] = mapped_column(default=0)
    allocation: Mapped[int | None]
    """Quote minor units of the commitment that bought tokens (before rounding to tokens)."""
    tokens: Mapped[int | None]
    payment: Mapped[int | None]
    refund: Mapped[int | None]
    distributed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LaunchpadCommit(Base):
    """One accepted commit (the history behind a commitment); `transfer_id` is the ledger
    transfer that moved it into the sale's escrow."""

    __tablename__ = "binance_launchpad_commits"
    __table_args__ = (Index("ix_binance_launchpad_commits_user", "project_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    project_id: Mapped[int]
    user_id: Mapped[int]
    amount: Mapped[int]
    transfer_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
