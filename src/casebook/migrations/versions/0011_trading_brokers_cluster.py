"""Trading, round 2: Robinhood, Zerodha (Kite Connect), Binance's spot API keys and staff, the
matching engine's cluster leases and its news stream.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "binance_api_keys",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("api_key", sa.String(length=64), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("can_trade", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_api_keys")),
        sa.UniqueConstraint("api_key", name=op.f("uq_binance_api_keys_api_key")),
    )
    with op.batch_alter_table("binance_api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_binance_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "binance_staff",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_binance_staff")),
    )
    op.create_table(
        "matching_leases",
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("venue", "instrument_id", name=op.f("pk_matching_leases")),
    )
    op.create_table(
        "matching_news",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("headline", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_news")),
    )
    with op.batch_alter_table("matching_news", schema=None) as batch_op:
        batch_op.create_index("ix_matching_news_symbol", ["venue", "symbol", "id"], unique=False)

    op.create_table(
        "robinhood_customers",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("legal_name", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("tax_id_last4", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_robinhood_customers")),
    )
    op.create_table(
        "robinhood_orders",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=6), nullable=False),
        sa.Column("tif", sa.String(length=3), nullable=False),
        sa.Column("micro_shares", sa.BigInteger(), nullable=False),
        sa.Column("dollars", sa.BigInteger(), nullable=True),
        sa.Column("limit_price", sa.BigInteger(), nullable=True),
        sa.Column("exchange_qty", sa.BigInteger(), nullable=False),
        sa.Column("reserved_cash", sa.BigInteger(), nullable=False),
        sa.Column("reserved_micro", sa.BigInteger(), nullable=False),
        sa.Column("venue_order_id", sa.BigInteger(), nullable=True),
        sa.Column("exchange_filled", sa.BigInteger(), nullable=False),
        sa.Column("exchange_notional", sa.BigInteger(), nullable=False),
        sa.Column("filled_micro", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robinhood_orders")),
        sa.UniqueConstraint("venue_order_id", name=op.f("uq_robinhood_orders_venue_order_id")),
    )
    with op.batch_alter_table("robinhood_orders", schema=None) as batch_op:
        batch_op.create_index("ix_robinhood_orders_open", ["closed", "id"], unique=False)
        batch_op.create_index("ix_robinhood_orders_user", ["user_id", "id"], unique=False)

    op.create_table(
        "robinhood_portfolio_points",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("equity", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robinhood_portfolio_points")),
    )
    with op.batch_alter_table("robinhood_portfolio_points", schema=None) as batch_op:
        batch_op.create_index("ix_robinhood_portfolio_points_user", ["user_id", "at"], unique=False)

    op.create_table(
        "robinhood_watchlist",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robinhood_watchlist")),
        sa.UniqueConstraint(
            "user_id", "symbol", name=op.f("uq_robinhood_watchlist_user_id_symbol")
        ),
    )
    op.create_table(
        "zerodha_apps",
        sa.Column("api_key", sa.String(length=32), nullable=False),
        sa.Column("api_secret", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("redirect_url", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_zerodha_apps_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key", name=op.f("pk_zerodha_apps")),
    )
    with op.batch_alter_table("zerodha_apps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zerodha_apps_user_id"), ["user_id"], unique=False)

    op.create_table(
        "zerodha_clients",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("client_code", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("legal_name", sa.String(length=120), nullable=False),
        sa.Column("pan", sa.String(length=10), nullable=False),
        sa.Column("onboarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_zerodha_clients_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_zerodha_clients")),
        sa.UniqueConstraint("account_id", name=op.f("uq_zerodha_clients_account_id")),
        sa.UniqueConstraint("client_code", name=op.f("uq_zerodha_clients_client_code")),
        sa.UniqueConstraint("pan", name=op.f("uq_zerodha_clients_pan")),
    )
    op.create_table(
        "zerodha_gtts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("trigger_values", sa.JSON(), nullable=False),
        sa.Column("last_price", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("fired_leg", sa.BigInteger(), nullable=True),
        sa.Column("result_order_id", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_zerodha_gtts_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zerodha_gtts")),
    )
    with op.batch_alter_table("zerodha_gtts", schema=None) as batch_op:
        batch_op.create_index("ix_zerodha_gtts_status", ["status", "symbol"], unique=False)

    op.create_table(
        "zerodha_orders",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("product", sa.String(length=3), nullable=False),
        sa.Column("variety", sa.String(length=10), nullable=False),
        sa.Column("tag", sa.String(length=20), nullable=True),
        sa.Column("charges_hold_id", sa.BigInteger(), nullable=False),
        sa.Column("charges_reserved", sa.BigInteger(), nullable=False),
        sa.Column("charged", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_zerodha_orders_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_zerodha_orders")),
    )
    with op.batch_alter_table("zerodha_orders", schema=None) as batch_op:
        batch_op.create_index("ix_zerodha_orders_user", ["user_id", "order_id"], unique=False)

    op.create_table(
        "zerodha_charges",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("product", sa.String(length=3), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("turnover", sa.BigInteger(), nullable=False),
        sa.Column("brokerage", sa.BigInteger(), nullable=False),
        sa.Column("stt", sa.BigInteger(), nullable=False),
        sa.Column("exchange_txn", sa.BigInteger(), nullable=False),
        sa.Column("sebi", sa.BigInteger(), nullable=False),
        sa.Column("stamp_duty", sa.BigInteger(), nullable=False),
        sa.Column("gst", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("collected", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["zerodha_orders.order_id"],
            name=op.f("fk_zerodha_charges_order_id_zerodha_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_zerodha_charges")),
    )
    with op.batch_alter_table("zerodha_charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zerodha_charges_user_id"), ["user_id"], unique=False)

    op.create_table(
        "zerodha_order_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filled_qty", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["zerodha_orders.order_id"],
            name=op.f("fk_zerodha_order_events_order_id_zerodha_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zerodha_order_events")),
        sa.UniqueConstraint("order_id", "status", "filled_qty", name="uq_zerodha_order_event"),
    )
    with op.batch_alter_table("zerodha_order_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_zerodha_order_events_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "zerodha_request_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("api_key", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key"],
            ["zerodha_apps.api_key"],
            name=op.f("fk_zerodha_request_tokens_api_key_zerodha_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_zerodha_request_tokens_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_zerodha_request_tokens")),
    )
    op.create_table(
        "zerodha_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key"],
            ["zerodha_apps.api_key"],
            name=op.f("fk_zerodha_sessions_api_key_zerodha_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_zerodha_sessions_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_zerodha_sessions")),
    )


def downgrade() -> None:
    op.drop_table("zerodha_sessions")
    op.drop_table("zerodha_request_tokens")
    with op.batch_alter_table("zerodha_order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zerodha_order_events_order_id"))

    op.drop_table("zerodha_order_events")
    with op.batch_alter_table("zerodha_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zerodha_charges_user_id"))

    op.drop_table("zerodha_charges")
    with op.batch_alter_table("zerodha_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_zerodha_orders_user")

    op.drop_table("zerodha_orders")
    with op.batch_alter_table("zerodha_gtts", schema=None) as batch_op:
        batch_op.drop_index("ix_zerodha_gtts_status")

    op.drop_table("zerodha_gtts")
    op.drop_table("zerodha_clients")
    with op.batch_alter_table("zerodha_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zerodha_apps_user_id"))

    op.drop_table("zerodha_apps")
    op.drop_table("robinhood_watchlist")
    with op.batch_alter_table("robinhood_portfolio_points", schema=None) as batch_op:
        batch_op.drop_index("ix_robinhood_portfolio_points_user")

    op.drop_table("robinhood_portfolio_points")
    with op.batch_alter_table("robinhood_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_robinhood_orders_user")
        batch_op.drop_index("ix_robinhood_orders_open")

    op.drop_table("robinhood_orders")
    op.drop_table("robinhood_customers")
    with op.batch_alter_table("matching_news", schema=None) as batch_op:
        batch_op.drop_index("ix_matching_news_symbol")

    op.drop_table("matching_news")
    op.drop_table("matching_leases")
    op.drop_table("binance_staff")
    with op.batch_alter_table("binance_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binance_api_keys_user_id"))

    op.drop_table("binance_api_keys")
