"""Cash App Investing's own table (stocks are the brokerage's `robinhood_orders`).

- `cashapp_bitcoin_orders`: a customer's bitcoin buy or sell (bitcoin.py): what was asked and
  reserved, its order on the Binance venue (client order id `ca-btc-<id>`), what settled.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class BitcoinOrder(Base):
    __tablename__ = "cashapp_bitcoin_orders"
    __table_args__ = (
        Index("ix_cashapp_bitcoin_orders_user", "user_id", "id"),
        Index("ix_cashapp_bitcoin_orders_open", "closed", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int]
    side: Mapped[str] = mapped_column(String(4))
    """`buy` (by dollar amount) or `sell` (by bitcoin amount)."""
    cents: Mapped[int | None]
    """A buy's dollar amount in cents (all of it is reserved from the wallet)."""
    sats: Mapped[int]
    """Satoshis asked for: what the amount buys at the price sent (buy), or sold (sell)."""
    reserved: Mapped[int]
    """Cents (buy) or satoshis (sell) moved into escrow at acceptance."""
    lots: Mapped[int]
    """Lots of BTCUSDT sent to the venue."""
    limit_price: Mapped[int | None]
    """A buy's IOC limit in USDT ticks (cents)."""
    venue_order_id: Mapped[int | None] = mapped_column(unique=True)
    filled_sats: Mapped[int] = mapped_column(default=0)
    amount: Mapped[int] = mapped_column(default=0)
    """Cents paid (buy) or received (sell)."""
    status: Mapped[str] = mapped_column(String(16))
    """pending → filled | partially_filled | cancelled | rejected."""
    closed: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
