"""Razorpay tables (`razorpay_*`).

- `razorpay_merchants`: one merchant per Casebook user; its money lives on ledger accounts
  (`razorpay:merchant:<id>` / `balance`, one per currency).
- `razorpay_keys`: API key pairs (`rzp_test_…` id + secret); only the secret's SHA-256 is kept.
- `razorpay_orders`, `razorpay_payments`, `razorpay_refunds`: the payment state machine. A
  payment's ledger hold, capture and every refund carry transfer ids chosen when the row is
  written, so a retried step can never post twice.
- `razorpay_settlements`: payouts of a merchant's net for a date range; payments and refunds
  carry the `settlement_id` that claimed them, and the row its ledger transfer id.
- `razorpay_payment_links`: shareable links paid in full or in parts (`amount_paid`).
- `razorpay_plans`, `razorpay_subscriptions`, `razorpay_subscription_charges`: recurring
  billing; one charge row per (subscription, cycle) holds the payment that paid it.
- `razorpay_webhooks`, `razorpay_events`, `razorpay_deliveries`: signed webhooks, one delivery
  row per (event, webhook), retried by a job until the receiver answers 2xx.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

MAX_NOTES = 15
"""Razorpay allows at most 15 note keys per entity."""


class Merchant(Base):
    __tablename__ = "razorpay_merchants"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKeyPair(Base):
    __tablename__ = "razorpay_keys"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("razorpay_merchants.id", ondelete="CASCADE"), index=True
    )
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Order(Base):
    __tablename__ = "razorpay_orders"
    __table_args__ = (Index("ix_razorpay_orders_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    receipt: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payment_capture: Mapped[bool] = mapped_column(Boolean, default=True)
    """Auto-capture: payments of this order are captured as soon as they are authorized."""
    status: Mapped[str] = mapped_column(String(16), default="created")
    """created → attempted (a payment was tried) → paid (a payment was captured)."""
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    amount_paid: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    __tablename__ = "razorpay_payments"
    __table_args__ = (
        Index("ix_razorpay_payments_merchant_id_id", "merchant_id", "id"),
        Index("ix_razorpay_payments_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("razorpay_orders.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    """created → authorized → captured → refunded, or failed (see `lifecycle`)."""
    amount_refunded: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    fee: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    tax: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    gateway: Mapped[str | None] = mapped_column(String(32))
    gateway_reference: Mapped[str | None] = mapped_column(String(64))
    card_token: Mapped[str | None] = mapped_column(String(40))
    """The card vault's token for the card; the card number itself is never stored."""
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_network: Mapped[str | None] = mapped_column(String(16))
    vpa: Mapped[str | None] = mapped_column(String(100))
    bank: Mapped[str | None] = mapped_column(String(12))
    wallet: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    contact: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_description: Mapped[str | None] = mapped_column(String(255))
    hold_transfer_id: Mapped[int]
    capture_transfer_id: Mapped[int]
    fee_transfer_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    authorized_at: Mapped[datetime | None]
    captured_at: Mapped[datetime | None]
    settlement_id: Mapped[int | None] = mapped_column(index=True)
    """The settlement that paid this payment out (set once, by the settlement job)."""
    link_id: Mapped[int | None] = mapped_column(index=True)
    """The payment link this payment paid (part of), if any."""
    subscription_id: Mapped[int | None] = mapped_column(index=True)
    """The subscription whose billing cycle this payment paid (or tried to), if any."""


class Refund(Base):
    __tablename__ = "razorpay_refunds"
    __table_args__ = (
        Index("ix_razorpay_refunds_merchant_id_id", "merchant_id", "id"),
        Index("ix_razorpay_refunds_payment_id", "payment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("razorpay_payments.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="processed")
    receipt: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    transfer_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settlement_id: Mapped[int | None] = mapped_column(index=True)
    """The settlement this refund was deducted from (set once, by the settlement job)."""


class Settlement(Base):
    """Money moved from a merchant's balance to its bank: the captured payments less fees and
    less refunds of a date range that no earlier settlement covered."""

    __tablename__ = "razorpay_settlements"
    __table_args__ = (Index("ix_razorpay_settlements_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    """The range [start, end) of capture and refund times this settlement covered."""
    payments_amount: Mapped[int]
    payments_count: Mapped[int]
    refunds_amount: Mapped[int]
    refunds_count: Mapped[int]
    fees: Mapped[int]
    tax: Mapped[int]
    amount: Mapped[int]
    """payments_amount - fees - refunds_amount: what was paid out."""
    status: Mapped[str] = mapped_column(String(16), default="processed")
    utr: Mapped[str] = mapped_column(String(22))
    """The bank's reference for the payout (Unique Transaction Reference)."""
    transfer_id: Mapped[int] = mapped_column(unique=True)
    """The ledger transfer balance → payouts; written with the row, so it is posted once."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentLink(Base):
    """A shareable link that collects a set amount, in one payment or (`accept_partial`) in
    several that add up to it exactly. `amount_paid` only grows by one conditional UPDATE
    (`amount_paid + :paid <= amount`), so concurrent payments cannot overpay."""

    __tablename__ = "razorpay_payment_links"
    __table_args__ = (
        Index("ix_razorpay_payment_links_merchant_id_id", "merchant_id", "id"),
        UniqueConstraint("merchant_id", "reference_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    amount_paid: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    accept_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    first_min_partial_amount: Mapped[int | None]
    description: Mapped[str | None] = mapped_column(String(2048))
    customer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reference_id: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="created")
    """created → partially_paid → paid; created/partially_paid → expired or cancelled."""
    expire_by: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class Plan(Base):
    """What a subscription charges each billing cycle: `amount` every `interval` `period`s."""

    __tablename__ = "razorpay_plans"
    __table_args__ = (Index("ix_razorpay_plans_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    period: Mapped[str] = mapped_column(String(8))
    """daily, weekly, monthly or yearly."""
    interval: Mapped[int]
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(String(2048))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """A customer's subscription to a plan for `total_count` cycles.

    created ─authenticate─▶ authenticated (trial until start_at) ─charge─▶ active ─…─▶ completed;
    a failed charge: pending (retried with backoff) ─too many─▶ halted; active ⇄ paused;
    any but completed ─▶ cancelled. `paid_count` only grows by a conditional UPDATE from
    cycle-1 to cycle, in the transaction that records the cycle's payment (`SubscriptionCharge`).
    """

    __tablename__ = "razorpay_subscriptions"
    __table_args__ = (
        Index("ix_razorpay_subscriptions_merchant_id_id", "merchant_id", "id"),
        Index("ix_razorpay_subscriptions_status_charge_at", "status", "charge_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("razorpay_plans.id"))
    total_count: Mapped[int]
    paid_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16), default="created")
    start_at: Mapped[datetime | None]
    """The first charge (the trial ends then); None: charged when the customer authenticates."""
    anchor_at: Mapped[datetime | None]
    """When cycle 1 was due; cycle n is due `n - 1` intervals later (no drift)."""
    charge_at: Mapped[datetime | None]
    """When the billing job charges next (the next cycle, or a retry)."""
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    cancel_at_cycle_end: Mapped[bool] = mapped_column(Boolean, default=False)
    method: Mapped[str | None] = mapped_column(String(16))
    """The customer's mandate (UPI, net banking e-mandate or wallet), given at authentication."""
    vpa: Mapped[str | None] = mapped_column(String(100))
    bank: Mapped[str | None] = mapped_column(String(12))
    wallet: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]


class SubscriptionCharge(Base):
    """The payment that paid one billing cycle; the unique (subscription, cycle) pair and the
    conditional `paid_count` UPDATE written with it make each cycle charged exactly once."""

    __tablename__ = "razorpay_subscription_charges"
    __table_args__ = (UniqueConstraint("subscription_id", "cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("razorpay_subscriptions.id"))
    cycle: Mapped[int]
    payment_id: Mapped[int] = mapped_column(ForeignKey("razorpay_payments.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    """A merchant's customer, whose cards can be saved as tokens."""

    __tablename__ = "razorpay_customers"
    __table_args__ = (Index("ix_razorpay_customers_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    contact: Mapped[str | None] = mapped_column(String(20))
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CardToken(Base):
    """A saved card: the card network's token and what may be shown; never the number."""

    __tablename__ = "razorpay_tokens"
    __table_args__ = (Index("ix_razorpay_tokens_customer_id_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("razorpay_customers.id", ondelete="CASCADE")
    )
    network_token: Mapped[str] = mapped_column(String(40))
    last4: Mapped[str] = mapped_column(String(4))
    network: Mapped[str] = mapped_column(String(16))
    expiry_month: Mapped[int]
    expiry_year: Mapped[int]
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class Webhook(Base):
    __tablename__ = "razorpay_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("razorpay_merchants.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    """Kept in clear: every delivery is signed with it (HMAC-SHA256), as Razorpay does."""
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    __tablename__ = "razorpay_events"
    __table_args__ = (Index("ix_razorpay_events_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("razorpay_merchants.id"))
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(String)
    """The exact JSON bytes every delivery sends and signs (text, UTF-8)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    __tablename__ = "razorpay_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "webhook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(ForeignKey("razorpay_events.id", ondelete="CASCADE"))
    webhook_id: Mapped[int] = mapped_column(ForeignKey("razorpay_webhooks.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    """pending → delivered, or failed once every retry was refused."""
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(255))
    delivered_at: Mapped[datetime | None]
