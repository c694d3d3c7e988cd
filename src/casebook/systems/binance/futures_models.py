"""Tables of Binance USDT-M perpetual futures (`binance_futures_*`). Money is in the ledger only;
these rows hold what the ledger cannot: positions and the funding and liquidation records.

- `binance_futures_positions`: one row per (venue account, contract), created on the account's
  first order in that contract and kept when flat: signed quantity in lots (long > 0), `cost` =
  Σ fill price (ticks) x lots of the open quantity (entry price = cost / |qty|, exact), the
  account's leverage (1-20) and margin mode (cross | isolated) for that contract, and the
  cumulative realised PnL in USDT minor units. Changed only inside the writer's batch
  transaction (fills) or a liquidation's, both holding the row's lock.
- `binance_futures_funding_runs`: one row per (contract, funding time): its rate, mark and index.
  Inserting it is what makes a funding step exactly once.
- `binance_futures_funding`: one payment per (account, contract, funding time), signed (+ received,
  - paid), with the part the insurance fund covered for a payer that could not pay.
- `binance_futures_liquidations`: each takeover of an account's position by the insurance fund.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class FuturesPosition(Base):
    __tablename__ = "binance_futures_positions"
    __table_args__ = (UniqueConstraint("account_id", "instrument_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(index=True)
    instrument_id: Mapped[int]
    qty: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[int] = mapped_column(BigInteger, default=0)
    leverage: Mapped[int] = mapped_column(default=20)
    mode: Mapped[str] = mapped_column(String(8), default="cross")
    realised_pnl: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FuturesFundingRun(Base):
    __tablename__ = "binance_futures_funding_runs"

    instrument_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    funding_time: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """Seconds since the epoch (00:00, 08:00 or 16:00 UTC)."""
    rate_e8: Mapped[int]
    mark: Mapped[int]
    index_price: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FuturesFunding(Base):
    __tablename__ = "binance_futures_funding"
    __table_args__ = (
        UniqueConstraint("account_id", "instrument_id", "funding_time"),
        Index("ix_binance_futures_funding_account", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int]
    instrument_id: Mapped[int]
    funding_time: Mapped[int]
    qty: Mapped[int] = mapped_column(BigInteger)
    rate_e8: Mapped[int]
    mark: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    insurance_covered: Mapped[int] = mapped_column(BigInteger, default=0)


class FuturesLiquidation(Base):
    __tablename__ = "binance_futures_liquidations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(index=True)
    instrument_id: Mapped[int]
    qty: Mapped[int] = mapped_column(BigInteger)
    mark: Mapped[int]
    collateral: Mapped[int] = mapped_column(BigInteger)
    """USDT the account lost to the takeover (margins, and its wallet in cross mode)."""
    pnl: Mapped[int] = mapped_column(BigInteger)
    """The position's PnL at the mark price when taken over."""
    insurance_delta: Mapped[int] = mapped_column(BigInteger)
    """collateral + pnl: what the insurance fund gained (> 0) or paid (< 0)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
