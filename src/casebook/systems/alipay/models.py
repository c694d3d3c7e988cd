"""Alipay tables (`alipay_*`). Money itself lives in the ledger; these rows say what it moved for.

Each money-moving row stores the ledger transfer id(s) it will use, chosen when the row is
created, so a retried step re-submits the same transfer and the ledger answers "exists" instead
of moving the money twice.

- `alipay_profiles`: username and phone of a user (the seed's register fields beyond e-mail).
- `alipay_merchants`: a user's merchant (or biller) account.
- `alipay_payments`: payments to merchants, by the seed's initiate → verify flow or a QR scan.
- `alipay_qr_codes`: signed, expiring payment codes; `payment_id` (unique) marks one paid.
- `alipay_p2p_transfers`: money sent to another user.
- `alipay_bills`: bills a biller issued to a user, with due date and paid status.
- `alipay_bank_links`, `alipay_bank_orders`: linked bank accounts and top-ups/withdrawals.
- `alipay_fund_accruals`: one row per (holder, day) of money-market yield, with its transfer id.
- `alipay_reconciliations`: the result of matching a day's bank settlement file to the ledger.
- `alipay_notifications`: what a user is told about payments, status changes and activity.
The simulated bank's own tables (`alipay_bank_accounts`, `alipay_bank_movements`) are in bank.py.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.platform.ids import new_id
from casebook.systems.alipay.bank import BankAccount, BankMovement

__all__ = [
    "BankAccount",
    "BankLink",
    "BankMovement",
    "BankOrder",
    "Bill",
    "FundAccrual",
    "Merchant",
    "Notification",
    "P2PTransfer",
    "Payment",
    "Profile",
    "QrCode",
    "Reconciliation",
]

USERS = "auth_users.id"


def insert_unless_exists(session: AsyncSession, model: type[Base]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's backend: of racing inserts of one key,
    exactly one wins and the others insert nothing (add `.returning(...)` to tell which)."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(model).on_conflict_do_nothing()


class Profile(Base):
    __tablename__ = "alipay_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    """Lower-cased."""
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    """E.164, e.g. +8613800138000."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Merchant(Base):
    __tablename__ = "alipay_merchants"

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(16))
    """shop, utility, phone or credit-card (the last three issue bills)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    __tablename__ = "alipay_payments"
    __table_args__ = (
        Index("ix_alipay_payments_payer_id_id", "payer_id", "id"),
        Index("ix_alipay_payments_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    payer_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("alipay_merchants.id"))
    amount: Mapped[int]
    description: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10))
    """initiated, completed, cancelled or expired."""
    hold_transfer_id: Mapped[int | None] = mapped_column(unique=True)
    """The ledger hold of an initiated payment; None for a QR payment (paid in one step)."""
    settle_transfer_id: Mapped[int] = mapped_column(unique=True)
    """The ledger transfer that completes (or, for a cancelled payment, voids) it."""
    qr_code_id: Mapped[int | None] = mapped_column(ForeignKey("alipay_qr_codes.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    hold_expires_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class QrCode(Base):
    __tablename__ = "alipay_qr_codes"
    __table_args__ = (Index("ix_alipay_qr_codes_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("alipay_merchants.id"))
    amount: Mapped[int | None]
    """Fixed amount, or None: the payer enters it."""
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    expires_at: Mapped[datetime]
    payload: Mapped[str] = mapped_column(String(300))
    payment_id: Mapped[int | None] = mapped_column(unique=True)
    """Set once, by the one payment that paid the code (atomic conditional UPDATE)."""
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class P2PTransfer(Base):
    __tablename__ = "alipay_p2p_transfers"
    __table_args__ = (
        Index("ix_alipay_p2p_transfers_sender_id_id", "sender_id", "id"),
        Index("ix_alipay_p2p_transfers_recipient_id_id", "recipient_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    """Also the ledger transfer's id."""
    sender_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    amount: Mapped[int]
    memo: Mapped[str] = mapped_column(String(140), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Bill(Base):
    __tablename__ = "alipay_bills"
    __table_args__ = (
        Index("ix_alipay_bills_payer_id_due_date", "payer_id", "due_date"),
        Index("ix_alipay_bills_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("alipay_merchants.id"))
    payer_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int]
    due_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(200), default="")
    transfer_id: Mapped[int] = mapped_column(unique=True)
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankLink(Base):
    __tablename__ = "alipay_bank_links"
    __table_args__ = (UniqueConstraint("user_id", "account_number"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    account_number: Mapped[str] = mapped_column(String(20))
    holder_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankOrder(Base):
    """A top-up (bank → wallet) or a withdrawal (wallet → bank)."""

    __tablename__ = "alipay_bank_orders"
    __table_args__ = (Index("ix_alipay_bank_orders_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("alipay_bank_links.id"))
    kind: Mapped[str] = mapped_column(String(10))
    """top-up or withdrawal."""
    amount: Mapped[int]
    status: Mapped[str] = mapped_column(String(10))
    """pending (waiting for the bank), completed or failed."""
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    """Our reference at the bank and on the ledger transfer: what reconciliation matches on."""
    hold_transfer_id: Mapped[int | None] = mapped_column(unique=True)
    """A withdrawal's hold on the wallet while the bank pays out."""
    settle_transfer_id: Mapped[int] = mapped_column(unique=True)
    release_transfer_id: Mapped[int | None] = mapped_column(unique=True)
    """The void of a failed withdrawal's hold."""
    bank_reference: Mapped[str | None] = mapped_column(String(32))
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class FundAccrual(Base):
    """The money-market yield of one holder for one day; the (holder, day) key makes the daily
    job's re-runs post nothing twice."""

    __tablename__ = "alipay_fund_accruals"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    basis: Mapped[int]
    """The holding (fen) at the end of the day that earned the yield."""
    annual_yield_bp: Mapped[int]
    amount: Mapped[int]
    transfer_id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reconciliation(Base):
    __tablename__ = "alipay_reconciliations"

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    day: Mapped[date] = mapped_column(Date, unique=True)
    file_sha256: Mapped[str] = mapped_column(String(64))
    matched: Mapped[int]
    breaks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    __tablename__ = "alipay_notifications"
    __table_args__ = (Index("ix_alipay_notifications_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
