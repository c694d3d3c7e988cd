"""Trading round 3: Binance margin, futures and launchpad; Robinhood crossing and owners;
Cash App bitcoin orders.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "binance_futures_funding",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("funding_time", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("rate_e8", sa.BigInteger(), nullable=False),
        sa.Column("mark", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("insurance_covered", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_futures_funding")),
        sa.UniqueConstraint(
            "account_id",
            "instrument_id",
            "funding_time",
            name=op.f("uq_binance_futures_funding_account_id_instrument_id_funding_time"),
        ),
    )
    with op.batch_alter_table("binance_futures_funding", schema=None) as batch_op:
        batch_op.create_index(
            "ix_binance_futures_funding_account", ["account_id", "id"], unique=False
        )

    op.create_table(
        "binance_futures_funding_runs",
        sa.Column("instrument_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("funding_time", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("rate_e8", sa.BigInteger(), nullable=False),
        sa.Column("mark", sa.BigInteger(), nullable=False),
        sa.Column("index_price", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "instrument_id", "funding_time", name=op.f("pk_binance_futures_funding_runs")
        ),
    )
    op.create_table(
        "binance_futures_liquidations",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("mark", sa.BigInteger(), nullable=False),
        sa.Column("collateral", sa.BigInteger(), nullable=False),
        sa.Column("pnl", sa.BigInteger(), nullable=False),
        sa.Column("insurance_delta", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_futures_liquidations")),
    )
    with op.batch_alter_table("binance_futures_liquidations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_binance_futures_liquidations_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "binance_futures_positions",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("instrument_id", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("leverage", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("realised_pnl", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_futures_positions")),
        sa.UniqueConstraint(
            "account_id",
            "instrument_id",
            name=op.f("uq_binance_futures_positions_account_id_instrument_id"),
        ),
    )
    with op.batch_alter_table("binance_futures_positions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_binance_futures_positions_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "binance_launchpad_commitments",
        sa.Column("project_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("committed", sa.BigInteger(), nullable=False),
        sa.Column("allocation", sa.BigInteger(), nullable=True),
        sa.Column("tokens", sa.BigInteger(), nullable=True),
        sa.Column("payment", sa.BigInteger(), nullable=True),
        sa.Column("refund", sa.BigInteger(), nullable=True),
        sa.Column("distributed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "committed >= 0", name=op.f("ck_binance_launchpad_commitments_committed_not_negative")
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "user_id", name=op.f("pk_binance_launchpad_commitments")
        ),
    )
    with op.batch_alter_table("binance_launchpad_commitments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_binance_launchpad_commitments_user", ["user_id", "project_id"], unique=False
        )

    op.create_table(
        "binance_launchpad_commits",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_launchpad_commits")),
    )
    with op.batch_alter_table("binance_launchpad_commits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_binance_launchpad_commits_user", ["project_id", "user_id", "id"], unique=False
        )

    op.create_table(
        "binance_launchpad_projects",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("quote_asset", sa.String(length=10), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("tokens_for_sale", sa.BigInteger(), nullable=False),
        sa.Column("hard_cap", sa.BigInteger(), nullable=False),
        sa.Column("per_user_cap", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("distributes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("list_pair", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_committed", sa.BigInteger(), nullable=False),
        sa.Column("participants", sa.BigInteger(), nullable=False),
        sa.Column("tokens_sold", sa.BigInteger(), nullable=True),
        sa.Column("raised", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "distributes_at >= ends_at",
            name=op.f("ck_binance_launchpad_projects_distribution_after_window"),
        ),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_binance_launchpad_projects_window_not_empty")
        ),
        sa.CheckConstraint(
            "total_committed >= 0",
            name=op.f("ck_binance_launchpad_projects_total_committed_not_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_launchpad_projects")),
        sa.UniqueConstraint("symbol", name=op.f("uq_binance_launchpad_projects_symbol")),
    )
    with op.batch_alter_table("binance_launchpad_projects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_binance_launchpad_projects_status", ["status", "ends_at"], unique=False
        )

    op.create_table(
        "binance_margin_accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_margin_accounts")),
        sa.UniqueConstraint("account_id", name=op.f("uq_binance_margin_accounts_account_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_binance_margin_accounts_user_id")),
    )
    op.create_table(
        "binance_margin_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_margin_events")),
    )
    with op.batch_alter_table("binance_margin_events", schema=None) as batch_op:
        batch_op.create_index("ix_binance_margin_events_user", ["user_id", "id"], unique=False)

    op.create_table(
        "binance_margin_interest",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=10), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binance_margin_interest")),
        sa.UniqueConstraint(
            "account_id",
            "asset",
            "hour",
            name=op.f("uq_binance_margin_interest_account_id_asset_hour"),
        ),
    )
    with op.batch_alter_table("binance_margin_interest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_binance_margin_interest_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "cashapp_bitcoin_orders",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=True),
        sa.Column("sats", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("lots", sa.BigInteger(), nullable=False),
        sa.Column("limit_price", sa.BigInteger(), nullable=True),
        sa.Column("venue_order_id", sa.BigInteger(), nullable=True),
        sa.Column("filled_sats", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashapp_bitcoin_orders")),
        sa.UniqueConstraint(
            "venue_order_id", name=op.f("uq_cashapp_bitcoin_orders_venue_order_id")
        ),
    )
    with op.batch_alter_table("cashapp_bitcoin_orders", schema=None) as batch_op:
        batch_op.create_index("ix_cashapp_bitcoin_orders_open", ["closed", "id"], unique=False)
        batch_op.create_index("ix_cashapp_bitcoin_orders_user", ["user_id", "id"], unique=False)

    with op.batch_alter_table("robinhood_orders", schema=None) as batch_op:
        # Server defaults fill the rows that exist; the owner is backfilled below.
        batch_op.add_column(
            sa.Column("owner", sa.String(length=60), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("cash_name", sa.String(length=20), nullable=False, server_default="cash")
        )
        batch_op.add_column(
            sa.Column("venue_base_filled", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("venue_base_notional", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("reposts", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("internal_filled", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("internal_notional", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("crossing_id", sa.BigInteger(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_robinhood_orders_user"))
        batch_op.create_index("ix_robinhood_orders_owner", ["owner", "id"], unique=False)

    # Orders placed before Cash App investing belong to Robinhood customers.
    op.execute(
        "UPDATE robinhood_orders SET owner = 'robinhood:user:' || CAST(user_id AS VARCHAR)"
        " WHERE owner = ''"
    )


def downgrade() -> None:
    with op.batch_alter_table("robinhood_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_robinhood_orders_owner")
        batch_op.create_index(
            batch_op.f("ix_robinhood_orders_user"), ["user_id", "id"], unique=False
        )
        batch_op.drop_column("crossing_id")
        batch_op.drop_column("internal_notional")
        batch_op.drop_column("internal_filled")
        batch_op.drop_column("reposts")
        batch_op.drop_column("venue_base_notional")
        batch_op.drop_column("venue_base_filled")
        batch_op.drop_column("cash_name")
        batch_op.drop_column("owner")

    with op.batch_alter_table("cashapp_bitcoin_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_cashapp_bitcoin_orders_user")
        batch_op.drop_index("ix_cashapp_bitcoin_orders_open")

    op.drop_table("cashapp_bitcoin_orders")
    with op.batch_alter_table("binance_margin_interest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binance_margin_interest_account_id"))

    op.drop_table("binance_margin_interest")
    with op.batch_alter_table("binance_margin_events", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_margin_events_user")

    op.drop_table("binance_margin_events")
    op.drop_table("binance_margin_accounts")
    with op.batch_alter_table("binance_launchpad_projects", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_launchpad_projects_status")

    op.drop_table("binance_launchpad_projects")
    with op.batch_alter_table("binance_launchpad_commits", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_launchpad_commits_user")

    op.drop_table("binance_launchpad_commits")
    with op.batch_alter_table("binance_launchpad_commitments", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_launchpad_commitments_user")

    op.drop_table("binance_launchpad_commitments")
    with op.batch_alter_table("binance_futures_positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binance_futures_positions_account_id"))

    op.drop_table("binance_futures_positions")
    with op.batch_alter_table("binance_futures_liquidations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binance_futures_liquidations_account_id"))

    op.drop_table("binance_futures_liquidations")
    op.drop_table("binance_futures_funding_runs")
    with op.batch_alter_table("binance_futures_funding", schema=None) as batch_op:
        batch_op.drop_index("ix_binance_futures_funding_account")

    op.drop_table("binance_futures_funding")
