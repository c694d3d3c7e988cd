"""Stock Exchange tables (`stockexchange_*`). Orders, trades and money live in the matching engine
(`matching_*`) and the ledger; these rows say who may trade, who owns what, and what compliance saw.

- `stockexchange_members`: the exchange's members — broker firms, and self-directed individuals
  (a user who registers through the seed's `/register` becomes a member of one).
- `stockexchange_traders`: a platform user trading for a member (one membership per user).
- `stockexchange_accounts`: a trading account at the venue (`account_id` is the matching engine's
  account id) held by one trader for one member. The trader is the account's beneficial owner:
  surveillance treats two accounts of one trader as one party (wash trades).
- `stockexchange_kyc`: one KYC record per user (status pending/verified/rejected) and
  `stockexchange_kyc_events`, its audit trail: every submission and decision, who and when.
- `stockexchange_transfers`: deposits and withdrawals of an account (the money moves in the venue's
  ledger accounts; this row is the AML record of it).
- `stockexchange_aml_flags`: transfers an AML rule flagged, waiting in the review queue until a
  compliance officer clears them or freezes the account.
- `stockexchange_account_freezes`: an account frozen by an AML review (no trading, no withdrawals).
- `stockexchange_alerts`: market-surveillance alerts (wash trade, spoofing, price spike).
- `stockexchange_staff`: the exchange's staff (compliance officers); how staff is known.
- `stockexchange_listings`: a listed company's symbol and name (the seed's `Stocks`), over the
  venue's instrument.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

MAX_NAME = 100
MAX_NOTE = 500


class Member(Base):
    __tablename__ = "stockexchange_members"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(MAX_NAME), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    """`firm` (a broker with several traders) or `individual` (a self-directed user)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Trader(Base):
    __tablename__ = "stockexchange_traders"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("stockexchange_members.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    """`admin` (may add traders to the member) or `trader`."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExchangeAccount(Base):
    __tablename__ = "stockexchange_accounts"
    __table_args__ = (UniqueConstraint("user_id", "label"),)

    account_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """The matching engine's account id (`matching_accounts.id`)."""
    member_id: Mapped[int] = mapped_column(ForeignKey("stockexchange_members.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    """The trader: the account's beneficial owner."""
    label: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KycRecord(Base):
    __tablename__ = "stockexchange_kyc"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    legal_name: Mapped[str] = mapped_column(String(MAX_NAME))
    country: Mapped[str] = mapped_column(String(2))
    document_number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))
    """`pending`, `verified` or `rejected`."""
    decided_by: Mapped[int | None]
    decided_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class KycEvent(Base):
    __tablename__ = "stockexchange_kyc_events"
    __table_args__ = (Index("ix_stockexchange_kyc_events_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(10))
    """`submitted`, `verified` or `rejected`."""
    actor_id: Mapped[int]
    """Who did it: the user (a submission) or a compliance officer (a decision)."""
    note: Mapped[str] = mapped_column(String(MAX_NOTE), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TransferRecord(Base):
    __tablename__ = "stockexchange_transfers"
    __table_args__ = (Index("ix_stockexchange_transfers_account", "account_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """Also the ledger transfer id of the movement: one record, one posting, at most once."""
    account_id: Mapped[int]
    direction: Mapped[str] = mapped_column(String(10))
    """`deposit` or `withdrawal`."""
    asset: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AmlFlag(Base):
    __tablename__ = "stockexchange_aml_flags"
    __table_args__ = (
        UniqueConstraint("transfer_id", "rule"),
        Index("ix_stockexchange_aml_flags_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("stockexchange_transfers.id"))
    account_id: Mapped[int]
    rule: Mapped[str] = mapped_column(String(20))
    """`large-transfer` or `structuring`."""
    detail: Mapped[str] = mapped_column(String(MAX_NOTE))
    status: Mapped[str] = mapped_column(String(10), default="open")
    """`open` (in the review queue), `cleared` or `frozen` (the account was frozen)."""
    reviewed_by: Mapped[int | None]
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str] = mapped_column(String(MAX_NOTE), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountFreeze(Base):
    __tablename__ = "stockexchange_account_freezes"

    account_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    flag_id: Mapped[int]
    frozen_by: Mapped[int]
    frozen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    __tablename__ = "stockexchange_alerts"
    __table_args__ = (Index("ix_stockexchange_alerts_created", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))
    """`wash-trade`, `spoofing` or `price-spike`."""
    instrument_id: Mapped[int]
    symbol: Mapped[str] = mapped_column(String(10))
    account_id: Mapped[int | None]
    """The suspect account (None for a price spike, which is about the market)."""
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Staff(Base):
    __tablename__ = "stockexchange_staff"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    role: Mapped[str] = mapped_column(String(12))
    """`compliance` (reads alerts, reviews KYC and AML)."""
    granted_by: Mapped[int | None]
    """The staff member who granted it; None for the operator's grant (CLI / demo)."""
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Listing(Base):
    """A listed company: the venue's instrument plus what the seed's `Stocks` table says of it."""

    __tablename__ = "stockexchange_listings"

    symbol: Mapped[str] = mapped_column(String(10), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(unique=True)
    company_name: Mapped[str] = mapped_column(String(MAX_NAME))
    listed_at: Mapped[datetime] = mapped_column(default=utcnow)
