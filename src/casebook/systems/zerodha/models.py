"""Zerodha's own tables. Money and shares are never here: they live in the ledger (the client's
exchange account wallets, Zerodha's charge accounts); these rows say who a client is, which Kite
apps and sessions exist, what each order was for (product CNC/MIS), its state history, the charges
of each executed order, and GTT triggers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class ZerodhaClient(Base):
    """A Zerodha client: onboarded (own KYC), with one exchange account under member Zerodha."""

    __tablename__ = "zerodha_clients"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    client_code: Mapped[str] = mapped_column(String(10), unique=True)
    """Kite's `user_id` (e.g. `ZC1A2B3C`)."""
    account_id: Mapped[int] = mapped_column(unique=True)
    """The venue account at the Stock Exchange (member Zerodha)."""
    legal_name: Mapped[str] = mapped_column(String(120))
    pan: Mapped[str] = mapped_column(String(10), unique=True)
    """One account per PAN (per person), as SEBI requires of a broker."""
    onboarded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZerodhaApp(Base):
    """A Kite Connect app of a developer (a Zerodha client): api_key + api_secret."""

    __tablename__ = "zerodha_apps"

    api_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    api_secret: Mapped[str] = mapped_column(String(64))
    """Kept in clear: the login checksum is sha256(api_key + request_token + api_secret)."""
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    redirect_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZerodhaRequestToken(Base):
    """A one-time request_token from the login redirect (valid a few minutes, used once)."""

    __tablename__ = "zerodha_request_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key: Mapped[str] = mapped_column(ForeignKey("zerodha_apps.api_key", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ZerodhaSession(Base):
    """A Kite access token (stored as its sha256) of one user through one app."""

    __tablename__ = "zerodha_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key: Mapped[str] = mapped_column(ForeignKey("zerodha_apps.api_key", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ZerodhaOrder(Base):
    """What Zerodha knows of an order besides the venue's row (same id): product, tag and the
    charges reserve (a ledger hold on the client's cash, posted when the order is done)."""

    __tablename__ = "zerodha_orders"
    __table_args__ = (Index("ix_zerodha_orders_user", "user_id", "order_id"),)

    order_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    account_id: Mapped[int]
    symbol: Mapped[str] = mapped_column(String(20))
    product: Mapped[str] = mapped_column(String(3))
    """`CNC` (delivery) or `MIS` (intraday)."""
    variety: Mapped[str] = mapped_column(String(10), default="regular")
    tag: Mapped[str | None] = mapped_column(String(20))
    charges_hold_id: Mapped[int]
    charges_reserved: Mapped[int]
    """Paise held for this order's charges (the most its fills can cost)."""
    charged: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ZerodhaOrderEvent(Base):
    """One state of an order as the venue's listener saw it commit (Kite's order history)."""

    __tablename__ = "zerodha_order_events"
    __table_args__ = (
        UniqueConstraint("order_id", "status", "filled_qty", name="uq_zerodha_order_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("zerodha_orders.order_id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    filled_qty: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ZerodhaCharge(Base):
    """The charges of one executed order (Zerodha's contract note line), in paise."""

    __tablename__ = "zerodha_charges"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("zerodha_orders.order_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(index=True)
    product: Mapped[str] = mapped_column(String(3))
    side: Mapped[str] = mapped_column(String(4))
    turnover: Mapped[int]
    brokerage: Mapped[int]
    stt: Mapped[int]
    exchange_txn: Mapped[int]
    sebi: Mapped[int]
    stamp_duty: Mapped[int]
    gst: Mapped[int]
    total: Mapped[int]
    collected: Mapped[int]
    """Taken from the reserve; total - collected is owed (only a sell filled far above its
    reserve's price could leave any)."""
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ZerodhaGtt(Base):
    """A Good-Till-Triggered order: when the last price crosses a trigger, its order is placed."""

    __tablename__ = "zerodha_gtts"
    __table_args__ = (Index("ix_zerodha_gtts_status", "status", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(10))
    """`single` or `two-leg` (OCO: a stop-loss below and a target above)."""
    trigger_values: Mapped[list[int]] = mapped_column(JSON)
    """Trigger prices in paise, ascending."""
    last_price: Mapped[int]
    orders: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="active")
    fired_leg: Mapped[int | None]
    """Which order fired (0 for single; 0 lower / 1 upper for an OCO)."""
    result_order_id: Mapped[int | None]
    result: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
