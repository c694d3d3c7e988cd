"""The ledger's two tables: accounts with their four balance counters, and immutable transfers.

The counters follow TigerBeetle: `debits_pending`, `debits_posted`, `credits_pending`,
`credits_posted`, all non-negative and only ever changed by SQL increments in the same transaction
that inserts the transfer. The database itself refuses a balance that breaks an account's
non-negative rule (`ck_ledger_accounts_non_negative`), whatever the code above it does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Index,
    Sequence,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base

TRANSFER_SEQUENCE = Sequence("ledger_transfer_seq", metadata=Base.metadata)
"""PostgreSQL's source of `LedgerTransfer.seq`; SQLite (one writer) counts on from the max."""


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("owner", "name", "currency"),
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
            " AND credits_posted >= 0",
            name="counters",
        ),
        CheckConstraint(
            "allow_negative"
            " OR (credit_normal AND debits_posted + debits_pending <= credits_posted)"
            " OR (NOT credit_normal AND credits_posted + credits_pending <= debits_posted)",
            name="non_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    credit_normal: Mapped[bool] = mapped_column(Boolean)
    allow_negative: Mapped[bool] = mapped_column(Boolean)
    debits_pending: Mapped[int] = mapped_column(default=0)
    debits_posted: Mapped[int] = mapped_column(default=0)
    credits_pending: Mapped[int] = mapped_column(default=0)
    credits_posted: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        Index("ix_ledger_transfers_debit_seq", "debit_account_id", "seq"),
        Index("ix_ledger_transfers_credit_seq", "credit_account_id", "seq"),
        Index(
            "ix_ledger_transfers_open_holds",
            "timeout_at",
            sqlite_where=text("pending_status = 'pending' AND timeout_at IS NOT NULL"),
            postgresql_where=text("pending_status = 'pending' AND timeout_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    # No foreign keys on purpose: PostgreSQL checks each one with a per-row trigger, which cost
    # 15-20 % of batched throughput. The ledger is these tables' only writer; it reads every
    # account it names under lock, never deletes one, and resolves holds only by id, and
    # `casebook ledger verify` checks that every reference resolves.
    debit_account_id: Mapped[int]
    credit_account_id: Mapped[int]
    amount: Mapped[int]
    pending_id: Mapped[int | None]
    pending_status: Mapped[str | None] = mapped_column(String(8))
    timeout: Mapped[int] = mapped_column(default=0)
    timeout_at: Mapped[datetime | None]
    code: Mapped[str] = mapped_column(String(32), default="")
    reference: Mapped[str] = mapped_column(String(64), default="")
    debit_balance: Mapped[int]
    credit_balance: Mapped[int]
    created_at: Mapped[datetime]
