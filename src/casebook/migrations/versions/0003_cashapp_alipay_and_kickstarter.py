"""CashApp, Alipay and Kickstarter tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:59:40.410382
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alipay_bank_accounts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_number", sa.String(length=20), nullable=False),
        sa.Column("holder_name", sa.String(length=100), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "balance >= 0", name=op.f("ck_alipay_bank_accounts_balance_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_bank_accounts")),
        sa.UniqueConstraint("account_number", name=op.f("uq_alipay_bank_accounts_account_number")),
    )
    op.create_table(
        "alipay_reconciliations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("breaks", sa.JSON(), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_reconciliations")),
        sa.UniqueConstraint("day", name=op.f("uq_alipay_reconciliations_day")),
    )
    op.create_table(
        "alipay_bank_links",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("account_number", sa.String(length=20), nullable=False),
        sa.Column("holder_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_bank_links_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_bank_links")),
        sa.UniqueConstraint(
            "user_id", "account_number", name=op.f("uq_alipay_bank_links_user_id_account_number")
        ),
    )
    op.create_table(
        "alipay_bank_movements",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("bank_reference", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["alipay_bank_accounts.id"],
            name=op.f("fk_alipay_bank_movements_account_id_alipay_bank_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_bank_movements")),
        sa.UniqueConstraint("bank_reference", name=op.f("uq_alipay_bank_movements_bank_reference")),
        sa.UniqueConstraint("reference", name=op.f("uq_alipay_bank_movements_reference")),
    )
    with op.batch_alter_table("alipay_bank_movements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alipay_bank_movements_value_date_id", ["value_date", "id"], unique=False
        )

    op.create_table(
        "alipay_fund_accruals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("basis", sa.BigInteger(), nullable=False),
        sa.Column("annual_yield_bp", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_fund_accruals_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_fund_accruals")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_alipay_fund_accruals_transfer_id")),
        sa.UniqueConstraint("user_id", "day", name=op.f("uq_alipay_fund_accruals_user_id_day")),
    )
    op.create_table(
        "alipay_merchants",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_merchants_owner_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_merchants")),
        sa.UniqueConstraint("owner_id", name=op.f("uq_alipay_merchants_owner_id")),
    )
    op.create_table(
        "alipay_notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_notifications_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_notifications")),
    )
    with op.batch_alter_table("alipay_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_alipay_notifications_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "alipay_p2p_transfers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("memo", sa.String(length=140), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_p2p_transfers_recipient_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_p2p_transfers_sender_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_p2p_transfers")),
    )
    with op.batch_alter_table("alipay_p2p_transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alipay_p2p_transfers_recipient_id_id", ["recipient_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_alipay_p2p_transfers_sender_id_id", ["sender_id", "id"], unique=False
        )

    op.create_table(
        "alipay_profiles",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_profiles_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_alipay_profiles")),
        sa.UniqueConstraint("phone", name=op.f("uq_alipay_profiles_phone")),
        sa.UniqueConstraint("username", name=op.f("uq_alipay_profiles_username")),
    )
    op.create_table(
        "cashapp_cards",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("pan_token", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.BigInteger(), nullable=False),
        sa.Column("exp_year", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("boost_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_cashapp_cards_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashapp_cards")),
        sa.UniqueConstraint("pan_token", name=op.f("uq_cashapp_cards_pan_token")),
        sa.UniqueConstraint("user_id", name=op.f("uq_cashapp_cards_user_id")),
    )
    op.create_table(
        "cashapp_payments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("payer_id", sa.BigInteger(), nullable=False),
        sa.Column("payee_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("note", sa.String(length=140), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["payee_id"],
            ["auth_users.id"],
            name=op.f("fk_cashapp_payments_payee_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"],
            ["auth_users.id"],
            name=op.f("fk_cashapp_payments_payer_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashapp_payments")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_cashapp_payments_transfer_id")),
    )
    with op.batch_alter_table("cashapp_payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cashapp_payments_payee", ["payee_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_cashapp_payments_payer", ["payer_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "cashapp_profiles",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("cashtag", sa.String(length=21), nullable=False),
        sa.Column("cashtag_key", sa.String(length=20), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("is_business", sa.Boolean(), nullable=False),
        sa.Column("wallet_account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_cashapp_profiles_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_cashapp_profiles")),
        sa.UniqueConstraint("cashtag_key", name=op.f("uq_cashapp_profiles_cashtag_key")),
        sa.UniqueConstraint("email", name=op.f("uq_cashapp_profiles_email")),
        sa.UniqueConstraint("phone", name=op.f("uq_cashapp_profiles_phone")),
    )
    op.create_table(
        "kickstarter_projects",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("creator_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("blurb", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("video_url", sa.String(length=2048), nullable=True),
        sa.Column("image_key", sa.String(length=200), nullable=True),
        sa.Column("goal", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pledged_total", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("backers_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("escrow_account_id", sa.BigInteger(), nullable=True),
        sa.Column("payout_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("fee_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("collected_total", sa.BigInteger(), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "backers_count >= 0", name=op.f("ck_kickstarter_projects_backers_non_negative")
        ),
        sa.CheckConstraint("goal > 0", name=op.f("ck_kickstarter_projects_goal_positive")),
        sa.CheckConstraint(
            "pledged_total >= 0", name=op.f("ck_kickstarter_projects_pledged_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["auth_users.id"],
            name=op.f("fk_kickstarter_projects_creator_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kickstarter_projects")),
    )
    with op.batch_alter_table("kickstarter_projects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kickstarter_projects_creator_id_id", ["creator_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_kickstarter_projects_popularity",
            ["status", "category", "backers_count", "pledged_total", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_kickstarter_projects_status_deadline", ["status", "deadline"], unique=False
        )

    op.create_table(
        "kickstarter_top_ups",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("authorization_code", sa.String(length=32), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_kickstarter_top_ups_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kickstarter_top_ups")),
    )
    with op.batch_alter_table("kickstarter_top_ups", schema=None) as batch_op:
        batch_op.create_index("ix_kickstarter_top_ups_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "alipay_bank_orders",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("link_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("hold_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("settle_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("release_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("bank_reference", sa.String(length=32), nullable=True),
        sa.Column("failure", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["alipay_bank_links.id"],
            name=op.f("fk_alipay_bank_orders_link_id_alipay_bank_links"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_bank_orders_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_bank_orders")),
        sa.UniqueConstraint(
            "hold_transfer_id", name=op.f("uq_alipay_bank_orders_hold_transfer_id")
        ),
        sa.UniqueConstraint("reference", name=op.f("uq_alipay_bank_orders_reference")),
        sa.UniqueConstraint(
            "release_transfer_id", name=op.f("uq_alipay_bank_orders_release_transfer_id")
        ),
        sa.UniqueConstraint(
            "settle_transfer_id", name=op.f("uq_alipay_bank_orders_settle_transfer_id")
        ),
    )
    with op.batch_alter_table("alipay_bank_orders", schema=None) as batch_op:
        batch_op.create_index("ix_alipay_bank_orders_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "alipay_bills",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("payer_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["alipay_merchants.id"],
            name=op.f("fk_alipay_bills_merchant_id_alipay_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_bills_payer_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_bills")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_alipay_bills_transfer_id")),
    )
    with op.batch_alter_table("alipay_bills", schema=None) as batch_op:
        batch_op.create_index("ix_alipay_bills_merchant_id_id", ["merchant_id", "id"], unique=False)
        batch_op.create_index(
            "ix_alipay_bills_payer_id_due_date", ["payer_id", "due_date"], unique=False
        )

    op.create_table(
        "alipay_qr_codes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.String(length=300), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["alipay_merchants.id"],
            name=op.f("fk_alipay_qr_codes_merchant_id_alipay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_qr_codes")),
        sa.UniqueConstraint("nonce", name=op.f("uq_alipay_qr_codes_nonce")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_alipay_qr_codes_payment_id")),
    )
    with op.batch_alter_table("alipay_qr_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alipay_qr_codes_merchant_id_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "cashapp_authorizations",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("network_ref", sa.String(length=32), nullable=False),
        sa.Column("card_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_name", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("boost_id", sa.String(length=32), nullable=True),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("captured_amount", sa.BigInteger(), nullable=True),
        sa.Column("captured_discount", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decline_reason", sa.String(length=32), nullable=True),
        sa.Column("hold_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("boost_hold_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("settle_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("boost_settle_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("release_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("boost_release_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["cashapp_cards.id"],
            name=op.f("fk_cashapp_authorizations_card_id_cashapp_cards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_cashapp_authorizations_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashapp_authorizations")),
        sa.UniqueConstraint("network_ref", name=op.f("uq_cashapp_authorizations_network_ref")),
    )
    with op.batch_alter_table("cashapp_authorizations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cashapp_authorizations_card", ["card_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "kickstarter_reward_tiers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("minimum", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.Column("claimed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "claimed >= 0 AND (quantity IS NULL OR claimed <= quantity)",
            name=op.f("ck_kickstarter_reward_tiers_never_oversold"),
        ),
        sa.CheckConstraint(
            "minimum > 0", name=op.f("ck_kickstarter_reward_tiers_minimum_positive")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["kickstarter_projects.id"],
            name=op.f("fk_kickstarter_reward_tiers_project_id_kickstarter_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kickstarter_reward_tiers")),
    )
    with op.batch_alter_table("kickstarter_reward_tiers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kickstarter_reward_tiers_project_id_minimum",
            ["project_id", "minimum"],
            unique=False,
        )

    op.create_table(
        "kickstarter_updates",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["kickstarter_projects.id"],
            name=op.f("fk_kickstarter_updates_project_id_kickstarter_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kickstarter_updates")),
    )
    with op.batch_alter_table("kickstarter_updates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kickstarter_updates_project_id_id", ["project_id", "id"], unique=False
        )

    op.create_table(
        "alipay_payments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("payer_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("hold_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("settle_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("qr_code_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["alipay_merchants.id"],
            name=op.f("fk_alipay_payments_merchant_id_alipay_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"],
            ["auth_users.id"],
            name=op.f("fk_alipay_payments_payer_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["qr_code_id"],
            ["alipay_qr_codes.id"],
            name=op.f("fk_alipay_payments_qr_code_id_alipay_qr_codes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alipay_payments")),
        sa.UniqueConstraint("hold_transfer_id", name=op.f("uq_alipay_payments_hold_transfer_id")),
        sa.UniqueConstraint(
            "settle_transfer_id", name=op.f("uq_alipay_payments_settle_transfer_id")
        ),
    )
    with op.batch_alter_table("alipay_payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alipay_payments_merchant_id_id", ["merchant_id", "id"], unique=False
        )
        batch_op.create_index("ix_alipay_payments_payer_id_id", ["payer_id", "id"], unique=False)

    op.create_table(
        "kickstarter_pledges",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("backer_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reward_tier_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("capture_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("void_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_kickstarter_pledges_amount_positive")),
        sa.ForeignKeyConstraint(
            ["backer_id"],
            ["auth_users.id"],
            name=op.f("fk_kickstarter_pledges_backer_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["kickstarter_projects.id"],
            name=op.f("fk_kickstarter_pledges_project_id_kickstarter_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reward_tier_id"],
            ["kickstarter_reward_tiers.id"],
            name=op.f("fk_kickstarter_pledges_reward_tier_id_kickstarter_reward_tiers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kickstarter_pledges")),
    )
    with op.batch_alter_table("kickstarter_pledges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kickstarter_pledges_backer_id_id", ["backer_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_kickstarter_pledges_project_id_status_id",
            ["project_id", "status", "id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_kickstarter_pledges_active_backer",
            ["project_id", "backer_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("kickstarter_pledges", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_kickstarter_pledges_active_backer",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_kickstarter_pledges_project_id_status_id")
        batch_op.drop_index("ix_kickstarter_pledges_backer_id_id")

    op.drop_table("kickstarter_pledges")
    with op.batch_alter_table("alipay_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_alipay_payments_payer_id_id")
        batch_op.drop_index("ix_alipay_payments_merchant_id_id")

    op.drop_table("alipay_payments")
    with op.batch_alter_table("kickstarter_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_kickstarter_updates_project_id_id")

    op.drop_table("kickstarter_updates")
    with op.batch_alter_table("kickstarter_reward_tiers", schema=None) as batch_op:
        batch_op.drop_index("ix_kickstarter_reward_tiers_project_id_minimum")

    op.drop_table("kickstarter_reward_tiers")
    with op.batch_alter_table("cashapp_authorizations", schema=None) as batch_op:
        batch_op.drop_index("ix_cashapp_authorizations_card")

    op.drop_table("cashapp_authorizations")
    with op.batch_alter_table("alipay_qr_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_alipay_qr_codes_merchant_id_id")

    op.drop_table("alipay_qr_codes")
    with op.batch_alter_table("alipay_bills", schema=None) as batch_op:
        batch_op.drop_index("ix_alipay_bills_payer_id_due_date")
        batch_op.drop_index("ix_alipay_bills_merchant_id_id")

    op.drop_table("alipay_bills")
    with op.batch_alter_table("alipay_bank_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_alipay_bank_orders_user_id_id")

    op.drop_table("alipay_bank_orders")
    with op.batch_alter_table("kickstarter_top_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_kickstarter_top_ups_user_id_id")

    op.drop_table("kickstarter_top_ups")
    with op.batch_alter_table("kickstarter_projects", schema=None) as batch_op:
        batch_op.drop_index("ix_kickstarter_projects_status_deadline")
        batch_op.drop_index("ix_kickstarter_projects_popularity")
        batch_op.drop_index("ix_kickstarter_projects_creator_id_id")

    op.drop_table("kickstarter_projects")
    op.drop_table("cashapp_profiles")
    with op.batch_alter_table("cashapp_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_cashapp_payments_payer")
        batch_op.drop_index("ix_cashapp_payments_payee")

    op.drop_table("cashapp_payments")
    op.drop_table("cashapp_cards")
    op.drop_table("alipay_profiles")
    with op.batch_alter_table("alipay_p2p_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_alipay_p2p_transfers_sender_id_id")
        batch_op.drop_index("ix_alipay_p2p_transfers_recipient_id_id")

    op.drop_table("alipay_p2p_transfers")
    with op.batch_alter_table("alipay_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_alipay_notifications_user_id_id")

    op.drop_table("alipay_notifications")
    op.drop_table("alipay_merchants")
    op.drop_table("alipay_fund_accruals")
    with op.batch_alter_table("alipay_bank_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_alipay_bank_movements_value_date_id")

    op.drop_table("alipay_bank_movements")
    op.drop_table("alipay_bank_links")
    op.drop_table("alipay_reconciliations")
    op.drop_table("alipay_bank_accounts")
