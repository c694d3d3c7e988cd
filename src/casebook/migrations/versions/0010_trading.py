"""Trading: the matching engine (instruments, accounts, orders, trades, journal, snapshots,
candles), the Stock Exchange, and Binance's simulated chain, DEX and wallets.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "binance_chain_accounts",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=True),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_binance_chain_accounts")),
    )
    op.create_table(
        "binance_chain_balances",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("asset", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "amount >= 0", name=op.f("ck_binance_chain_balances_amount_not_negative")
        ),
        sa.PrimaryKeyConstraint("address", "asset", name=op.f("pk_binance_chain_balances")),
    )
    op.create_table(
        "binance_chain_blocks",
        sa.Column("height", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("tx_count", sa.BigInteger(), nullable=False),
        sa.Column("produced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("height", name=op.f("pk_binance_chain_blocks")),
        sa.UniqueConstraint("hash", name=op.f("uq_binance_chain_blocks_hash")),
    )
    op.create_table(
        "binance_chain_state",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_chain_state")),
    )
    op.create_table(
        "binance_chain_txs",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("recipient", sa.String(length=42), nullable=True),
        sa.Column("asset", sa.String(length=10), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("block_height", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_binance_chain_txs")),
        sa.UniqueConstraint("sender", "nonce", name=op.f("uq_binance_chain_txs_sender_nonce")),
        sa.UniqueConstraint("seq", name=op.f("uq_binance_chain_txs_seq")),
    )
    with op.batch_alter_table("binance_chain_txs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_binance_chain_txs_block", ["block_height", "position"], unique=False
        )
        batch_op.create_index(
            "ix_binance_chain_txs_recipient", ["recipient", "status", "block_height"], unique=False
        )
        batch_op.create_index("ix_binance_chain_txs_sender_seq", ["sender", "seq"], unique=False)
        batch_op.create_index("ix_binance_chain_txs_status_seq", ["status", "seq"], unique=False)

    op.create_table(
        "binance_deposit_addresses",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=10), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_binance_deposit_addresses")),
        sa.UniqueConstraint(
            "user_id", "asset", name=op.f("uq_binance_deposit_addresses_user_id_asset")
        ),
    )
    with op.batch_alter_table("binance_deposit_addresses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_binance_deposit_addresses_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "binance_deposits",
        sa.Column("chain_tx", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("block_height", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("sweep_tx", sa.String(length=64), nullable=True),
        sa.Column("credited_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain_tx", name=op.f("pk_binance_deposits")),
    )
    with op.batch_alter_table("binance_deposits", schema=None) as batch_op:
        batch_op.create_index("ix_binance_deposits_user", ["user_id", "credited_at"], unique=False)

    op.create_table(
        "binance_dex_pools",
        sa.Column("id", sa.String(length=21), nullable=False),
        sa.Column("asset_x", sa.String(length=10), nullable=False),
        sa.Column("asset_y", sa.String(length=10), nullable=False),
        sa.Column("reserve_x", sa.BigInteger(), nullable=False),
        sa.Column("reserve_y", sa.BigInteger(), nullable=False),
        sa.Column("total_shares", sa.BigInteger(), nullable=False),
        sa.Column("fee_bps", sa.BigInteger(), nullable=False),
        sa.Column("created_height", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "reserve_x > 0 AND reserve_y > 0", name=op.f("ck_binance_dex_pools_reserves_positive")
        ),
        sa.CheckConstraint("total_shares > 0", name=op.f("ck_binance_dex_pools_shares_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_dex_pools")),
    )
    op.create_table(
        "binance_dex_positions",
        sa.Column("pool_id", sa.String(length=21), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "shares >= 0", name=op.f("ck_binance_dex_positions_shares_not_negative")
        ),
        sa.PrimaryKeyConstraint("pool_id", "address", name=op.f("pk_binance_dex_positions")),
    )
    op.create_table(
        "binance_withdrawal_usage",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("asset", sa.String(length=10), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_binance_withdrawal_usage_used_not_negative")),
        sa.PrimaryKeyConstraint(
            "user_id", "asset", "day", name=op.f("pk_binance_withdrawal_usage")
        ),
    )
    op.create_table(
        "binance_withdrawals",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chain_tx", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_withdrawals")),
    )
    with op.batch_alter_table("binance_withdrawals", schema=None) as batch_op:
        batch_op.create_index("ix_binance_withdrawals_status", ["status", "id"], unique=False)
        batch_op.create_index("ix_binance_withdrawals_user", ["user_id", "id"], unique=False)

    op.create_table(
        "matching_accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_accounts")),
        sa.UniqueConstraint("venue", "owner", name=op.f("uq_matching_accounts_venue_owner")),
    )
    with op.batch_alter_table("matching_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matching_accounts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "matching_candles",
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("interval", sa.String(length=3), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("close", sa.BigInteger(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("quote_volume", sa.BigInteger(), nullable=False),
        sa.Column("trade_count", sa.BigInteger(), nullable=False),
        sa.Column("first_trade_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_trade_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "venue", "instrument_id", "interval", "bucket", name=op.f("pk_matching_candles")
        ),
    )
    op.create_table(
        "matching_instruments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("base_asset", sa.String(length=10), nullable=False),
        sa.Column("quote_asset", sa.String(length=10), nullable=False),
        sa.Column("tick_size", sa.BigInteger(), nullable=False),
        sa.Column("lot_size", sa.BigInteger(), nullable=False),
        sa.Column("base_scale", sa.BigInteger(), nullable=False),
        sa.Column("min_qty", sa.BigInteger(), nullable=False),
        sa.Column("max_qty", sa.BigInteger(), nullable=False),
        sa.Column("maker_fee_bps", sa.Integer(), nullable=False),
        sa.Column("taker_fee_bps", sa.Integer(), nullable=False),
        sa.Column("reference_price", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_instruments")),
        sa.UniqueConstraint("venue", "symbol", name=op.f("uq_matching_instruments_venue_symbol")),
    )
    op.create_table(
        "matching_journal",
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("command", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "instrument_id", "seq", name=op.f("pk_matching_journal")),
    )
    op.create_table(
        "matching_orders",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=6), nullable=False),
        sa.Column("tif", sa.String(length=3), nullable=False),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("stp", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("filled_qty", sa.BigInteger(), nullable=False),
        sa.Column("open_qty", sa.BigInteger(), nullable=False),
        sa.Column("notional_filled", sa.BigInteger(), nullable=False),
        sa.Column("fees_paid", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("hold_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("journaled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_orders")),
        sa.UniqueConstraint(
            "account_id",
            "client_order_id",
            name=op.f("uq_matching_orders_account_id_client_order_id"),
        ),
    )
    with op.batch_alter_table("matching_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_matching_orders_account", ["venue", "account_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_matching_orders_unjournaled", ["venue", "journaled", "status"], unique=False
        )

    op.create_table(
        "matching_snapshots",
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "venue", "instrument_id", "seq", name=op.f("pk_matching_snapshots")
        ),
    )
    op.create_table(
        "matching_trades",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("trade_seq", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("maker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("maker_account_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_account_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_side", sa.String(length=4), nullable=False),
        sa.Column("maker_fee", sa.BigInteger(), nullable=False),
        sa.Column("taker_fee", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_trades")),
        sa.UniqueConstraint(
            "venue",
            "instrument_id",
            "trade_seq",
            name=op.f("uq_matching_trades_venue_instrument_id_trade_seq"),
        ),
    )
    with op.batch_alter_table("matching_trades", schema=None) as batch_op:
        batch_op.create_index("ix_matching_trades_maker", ["maker_account_id", "id"], unique=False)
        batch_op.create_index("ix_matching_trades_taker", ["taker_account_id", "id"], unique=False)

    op.create_table(
        "stockexchange_account_freezes",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("flag_id", sa.BigInteger(), nullable=False),
        sa.Column("frozen_by", sa.BigInteger(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_stockexchange_account_freezes")),
    )
    op.create_table(
        "stockexchange_alerts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stockexchange_alerts")),
    )
    with op.batch_alter_table("stockexchange_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_stockexchange_alerts_created", ["created_at", "id"], unique=False)

    op.create_table(
        "stockexchange_listings",
        sa.Column("symbol", sa.String(length=10), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("company_name", sa.String(length=100), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_stockexchange_listings")),
        sa.UniqueConstraint("instrument_id", name=op.f("uq_stockexchange_listings_instrument_id")),
    )
    op.create_table(
        "stockexchange_members",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stockexchange_members")),
        sa.UniqueConstraint("name", name=op.f("uq_stockexchange_members_name")),
    )
    op.create_table(
        "stockexchange_transfers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("asset", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stockexchange_transfers")),
    )
    with op.batch_alter_table("stockexchange_transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stockexchange_transfers_account", ["account_id", "at", "id"], unique=False
        )

    op.create_table(
        "stockexchange_accounts",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["stockexchange_members.id"],
            name=op.f("fk_stockexchange_accounts_member_id_stockexchange_members"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_stockexchange_accounts_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_stockexchange_accounts")),
        sa.UniqueConstraint(
            "user_id", "label", name=op.f("uq_stockexchange_accounts_user_id_label")
        ),
    )
    with op.batch_alter_table("stockexchange_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stockexchange_accounts_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "stockexchange_aml_flags",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["stockexchange_transfers.id"],
            name=op.f("fk_stockexchange_aml_flags_transfer_id_stockexchange_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stockexchange_aml_flags")),
        sa.UniqueConstraint(
            "transfer_id", "rule", name=op.f("uq_stockexchange_aml_flags_transfer_id_rule")
        ),
    )
    with op.batch_alter_table("stockexchange_aml_flags", schema=None) as batch_op:
        batch_op.create_index("ix_stockexchange_aml_flags_status", ["status", "id"], unique=False)

    op.create_table(
        "stockexchange_kyc",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("legal_name", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("document_number", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_stockexchange_kyc_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_stockexchange_kyc")),
    )
    op.create_table(
        "stockexchange_kyc_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_stockexchange_kyc_events_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stockexchange_kyc_events")),
    )
    with op.batch_alter_table("stockexchange_kyc_events", schema=None) as batch_op:
        batch_op.create_index("ix_stockexchange_kyc_events_user", ["user_id", "id"], unique=False)

    op.create_table(
        "stockexchange_staff",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("granted_by", sa.BigInteger(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_stockexchange_staff_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_stockexchange_staff")),
    )
    op.create_table(
        "stockexchange_traders",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["stockexchange_members.id"],
            name=op.f("fk_stockexchange_traders_member_id_stockexchange_members"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_stockexchange_traders_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_stockexchange_traders")),
    )
    with op.batch_alter_table("stockexchange_traders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stockexchange_traders_member_id"), ["member_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stockexchange_traders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stockexchange_traders_member_id"))

    op.drop_table("stockexchange_traders")
    op.drop_table("stockexchange_staff")
    with op.batch_alter_table("stockexchange_kyc_events", schema=None) as batch_op:
        batch_op.drop_index("ix_stockexchange_kyc_events_user")

    op.drop_table("stockexchange_kyc_events")
    op.drop_table("stockexchange_kyc")
    with op.batch_alter_table("stockexchange_aml_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_stockexchange_aml_flags_status")

    op.drop_table("stockexchange_aml_flags")
    with op.batch_alter_table("stockexchange_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stockexchange_accounts_member_id"))

    op.drop_table("stockexchange_accounts")
    with op.batch_alter_table("stockexchange_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_stockexchange_transfers_account")

    op.drop_table("stockexchange_transfers")
    op.drop_table("stockexchange_members")
    op.drop_table("stockexchange_listings")
    with op.batch_alter_table("stockexchange_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_stockexchange_alerts_created")

    op.drop_table("stockexchange_alerts")
    op.drop_table("stockexchange_account_freezes")
    with op.batch_alter_table("matching_trades", schema=None) as batch_op:
        batch_op.drop_index("ix_matching_trades_taker")
        batch_op.drop_index("ix_matching_trades_maker")

    op.drop_table("matching_trades")
    op.drop_table("matching_snapshots")
    with op.batch_alter_table("matching_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_matching_orders_unjournaled")
        batch_op.drop_index("ix_matching_orders_account")

    op.drop_table("matching_orders")
    op.drop_table("matching_journal")
    op.drop_table("matching_instruments")
    op.drop_table("matching_candles")
    with op.batch_alter_table("matching_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_accounts_user_id"))

    op.drop_table("matching_accounts")
    with op.batch_alter_table("binance_withdrawals", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_withdrawals_user")
        batch_op.drop_index("ix_binance_withdrawals_status")

    op.drop_table("binance_withdrawals")
    op.drop_table("binance_withdrawal_usage")
    op.drop_table("binance_dex_positions")
    op.drop_table("binance_dex_pools")
    with op.batch_alter_table("binance_deposits", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_deposits_user")

    op.drop_table("binance_deposits")
    with op.batch_alter_table("binance_deposit_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binance_deposit_addresses_user_id"))

    op.drop_table("binance_deposit_addresses")
    with op.batch_alter_table("binance_chain_txs", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_chain_txs_status_seq")
        batch_op.drop_index("ix_binance_chain_txs_sender_seq")
        batch_op.drop_index("ix_binance_chain_txs_recipient")
        batch_op.drop_index("ix_binance_chain_txs_block")

    op.drop_table("binance_chain_txs")
    op.drop_table("binance_chain_state")
    op.drop_table("binance_chain_blocks")
    op.drop_table("binance_chain_balances")
    op.drop_table("binance_chain_accounts")
