"""Tables of the simulated chain (`binance_chain_*`). The chain stands for a public blockchain
outside the exchange: its state never enters the exchange's ledger, and only block production
(`chain.Chain.produce_block`) changes balances.

- `binance_chain_state`: one row, the head (height and hash). Block producers lock it, so blocks
  are produced one at a time even by several processes.
- `binance_chain_blocks`: every block: height, hash, the previous block's hash, its transactions.
- `binance_chain_accounts`: per address, its public key (known from its first signed transaction)
  and the next nonce it must use; bumped by one atomic conditional UPDATE per accepted
  transaction, which is what refuses a replay.
- `binance_chain_balances`: per (address, asset), an amount in the asset's minor units, never
  negative (a CHECK as well as conditional debits).
- `binance_chain_txs`: every accepted transaction: its signed body, status `pending` until a
  block includes it, then `succeeded` or `reverted` (with the reason; a reverted transaction still
  consumes its nonce, as on Ethereum). Transfers denormalise recipient/asset/amount so the
  exchange's deposit scanner finds payments to its addresses by index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

HASH_LENGTH = 64
ADDRESS_LENGTH = 42
ASSET_LENGTH = 10


class ChainState(Base):
    __tablename__ = "binance_chain_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    height: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class ChainBlock(Base):
    __tablename__ = "binance_chain_blocks"

    height: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    tx_count: Mapped[int]
    produced_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainAccount(Base):
    __tablename__ = "binance_chain_accounts"

    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    public_key: Mapped[str | None] = mapped_column(String(64))
    next_nonce: Mapped[int] = mapped_column(default=0)


class ChainBalance(Base):
    __tablename__ = "binance_chain_balances"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    asset: Mapped[str] = mapped_column(String(ASSET_LENGTH), primary_key=True)
    amount: Mapped[int] = mapped_column(default=0)


class ChainTx(Base):
    __tablename__ = "binance_chain_txs"
    __table_args__ = (
        UniqueConstraint("sender", "nonce"),
        Index("ix_binance_chain_txs_status_seq", "status", "seq"),
        Index("ix_binance_chain_txs_recipient", "recipient", "status", "block_height"),
        Index("ix_binance_chain_txs_sender_seq", "sender", "seq"),
        Index("ix_binance_chain_txs_block", "block_height", "position"),
    )

    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    """Acceptance order (a Snowflake id): blocks include pending transactions in this order."""
    kind: Mapped[str] = mapped_column(String(24))
    sender: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    nonce: Mapped[int | None]
    """None for the faucet's mints, which no key signs."""
    body: Mapped[str] = mapped_column(Text)
    """The canonical JSON that was signed."""
    signature: Mapped[str] = mapped_column(String(128), default="")
    recipient: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    asset: Mapped[str | None] = mapped_column(String(ASSET_LENGTH))
    amount: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    error: Mapped[str | None] = mapped_column(String(200))
    block_height: Mapped[int | None]
    position: Mapped[int | None]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
