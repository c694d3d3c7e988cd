"""CashApp tables (`cashapp_*`). Money itself lives in the ledger; these rows say what it moved for.

- `cashapp_profiles`: a platform user's CashApp identity — a unique $cashtag (compared
  case-insensitively through `cashtag_key`), optional phone and e-mail for lookup, and the id of
  the user's wallet account in the ledger.
- `cashapp_payments`: P2P payments and money requests. A request waits as `pending` until the
  payer accepts (then it moves money and becomes `completed`), declines, or the requester
  cancels. `transfer_id` is chosen when the row is created, so the money moves at most once.
- `cashapp_cards`: Cash Cards. The card number is never stored: only a keyed hash (`pan_token`,
  HMAC-SHA256 under the server's secret) to recognise it when the card network presents it, and
  its last four digits to show the owner. `boost_id` is the one boost the card carries.
- `cashapp_authorizations`: card purchases as the issuer saw them: each approved one holds money on
  the wallet through a pending ledger transfer (and one on `boost-funding` for a boost's share)
  until the merchant captures, reverses, or the hold expires. Declines are kept too, with reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.systems.cashapp.investing_models import BitcoinOrder  # noqa: F401

MAX_CASHTAG = 20
MAX_NOTE = 140
MAX_MERCHANT_ID = 64
MAX_MERCHANT_NAME = 100


class Profile(Base):
    __tablename__ = "cashapp_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    cashtag: Mapped[str] = mapped_column(String(MAX_CASHTAG + 1))
    """As the user spelled it, with the leading `$`."""
    cashtag_key: Mapped[str] = mapped_column(String(MAX_CASHTAG), unique=True)
    """Lower case, without `$`: the unique lookup key."""
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    """E.164 (`+` and 8-15 digits)."""
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    """Lower case."""
    is_business: Mapped[bool] = mapped_column(default=False)
    wallet_account_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    __tablename__ = "cashapp_payments"
    __table_args__ = (
        Index("ix_cashapp_payments_payer", "payer_id", "created_at", "id"),
        Index("ix_cashapp_payments_payee", "payee_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8))
    """`payment` (the payer sent it) or `request` (the payee asked for it)."""
    payer_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    payee_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(String(MAX_NOTE), default="")
    status: Mapped[str] = mapped_column(String(10))
    """`pending` (requests only), `completed`, `declined`, `cancelled`."""
    transfer_id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class Card(Base):
    __tablename__ = "cashapp_cards"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), unique=True
    )
    """One Cash Card per user."""
    pan_token: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    status: Mapped[str] = mapped_column(String(8))
    """`active` or `frozen`."""
    boost_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Authorization(Base):
    __tablename__ = "cashapp_authorizations"
    __table_args__ = (
        UniqueConstraint("network_ref"),
        Index("ix_cashapp_authorizations_card", "card_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    network_ref: Mapped[str] = mapped_column(String(32))
    """The network's id for the authorization: a retried message finds the first decision."""
    card_id: Mapped[int] = mapped_column(ForeignKey("cashapp_cards.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    merchant_id: Mapped[str] = mapped_column(String(MAX_MERCHANT_ID))
    merchant_name: Mapped[str] = mapped_column(String(MAX_MERCHANT_NAME))
    amount: Mapped[int]
    """The purchase amount the merchant asked for."""
    currency: Mapped[str] = mapped_column(String(3))
    boost_id: Mapped[str | None] = mapped_column(String(32))
    discount: Mapped[int] = mapped_column(default=0)
    """The boost's discount on `amount`; the wallet is held for `amount - discount`."""
    captured_amount: Mapped[int | None]
    captured_discount: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(10))
    """`declined`, `pending` (held), `captured`, `reversed`, `expired`."""
    decline_reason: Mapped[str | None] = mapped_column(String(32))
    hold_transfer_id: Mapped[int]
    boost_hold_transfer_id: Mapped[int]
    settle_transfer_id: Mapped[int]
    boost_settle_transfer_id: Mapped[int]
    release_transfer_id: Mapped[int]
    boost_release_transfer_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
