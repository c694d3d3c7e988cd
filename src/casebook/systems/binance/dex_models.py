"""Tables of the on-chain DEX (`binance_dex_*`): chain state like balances, changed only by the
chain's block production (`dex.py` executors), never by the exchange's ledger.

- `binance_dex_pools`: a constant-product pool of two assets (`asset_x` < `asset_y`, id
  "X-Y"), its reserves, the LP shares outstanding and its fee. The pool's tokens also sit as chain
  balances of the pool's own address (`dex.pool_address`), so the chain's totals per asset stay
  whole: reserves equal those balances after every block.
- `binance_dex_positions`: LP shares per (pool, address). The MINIMUM_LIQUIDITY locked at a
  pool's creation is held by the burn address, so positions always sum to `total_shares`.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base
from casebook.systems.binance.chain_models import ADDRESS_LENGTH, ASSET_LENGTH

POOL_ID_LENGTH = 2 * ASSET_LENGTH + 1


class DexPool(Base):
    __tablename__ = "binance_dex_pools"
    __table_args__ = (
        CheckConstraint("reserve_x > 0 AND reserve_y > 0", name="reserves_positive"),
        CheckConstraint("total_shares > 0", name="shares_positive"),
    )

    id: Mapped[str] = mapped_column(String(POOL_ID_LENGTH), primary_key=True)
    asset_x: Mapped[str] = mapped_column(String(ASSET_LENGTH))
    asset_y: Mapped[str] = mapped_column(String(ASSET_LENGTH))
    reserve_x: Mapped[int]
    reserve_y: Mapped[int]
    total_shares: Mapped[int]
    fee_bps: Mapped[int]
    created_height: Mapped[int]


class DexPosition(Base):
    __tablename__ = "binance_dex_positions"
    __table_args__ = (CheckConstraint("shares >= 0", name="shares_not_negative"),)

    pool_id: Mapped[str] = mapped_column(String(POOL_ID_LENGTH), primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    shares: Mapped[int] = mapped_column(default=0)
