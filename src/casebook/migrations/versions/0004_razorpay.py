"""Razorpay tables

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:27:48.146384
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "razorpay_merchants",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_razorpay_merchants_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_merchants")),
        sa.UniqueConstraint("user_id", name=op.f("uq_razorpay_merchants_user_id")),
    )
    op.create_table(
        "razorpay_customers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("contact", sa.String(length=20), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_customers_merchant_id_razorpay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_customers")),
    )
    with op.batch_alter_table("razorpay_customers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_customers_merchant_id_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "razorpay_events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_events_merchant_id_razorpay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_events")),
    )
    with op.batch_alter_table("razorpay_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_events_merchant_id_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "razorpay_keys",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_keys_merchant_id_razorpay_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_razorpay_keys_key_id")),
    )
    with op.batch_alter_table("razorpay_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_razorpay_keys_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "razorpay_orders",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("receipt", sa.String(length=40), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("payment_capture", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_orders_merchant_id_razorpay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_orders")),
    )
    with op.batch_alter_table("razorpay_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_orders_merchant_id_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "razorpay_payment_links",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("accept_partial", sa.Boolean(), nullable=False),
        sa.Column("first_min_partial_amount", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("customer", sa.JSON(), nullable=False),
        sa.Column("reference_id", sa.String(length=40), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expire_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_payment_links_merchant_id_razorpay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_payment_links")),
        sa.UniqueConstraint(
            "merchant_id",
            "reference_id",
            name=op.f("uq_razorpay_payment_links_merchant_id_reference_id"),
        ),
    )
    with op.batch_alter_table("razorpay_payment_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_payment_links_merchant_id_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "razorpay_plans",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("interval", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_plans_merchant_id_razorpay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_plans")),
    )
    with op.batch_alter_table("razorpay_plans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_plans_merchant_id_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "razorpay_settlements",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payments_amount", sa.BigInteger(), nullable=False),
        sa.Column("payments_count", sa.BigInteger(), nullable=False),
        sa.Column("refunds_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunds_count", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("utr", sa.String(length=22), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_settlements_merchant_id_razorpay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_settlements")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_razorpay_settlements_transfer_id")),
    )
    with op.batch_alter_table("razorpay_settlements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_settlements_merchant_id_id", ["merchant_id", "id"], unique=False
        )

    op.create_table(
        "razorpay_webhooks",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_webhooks_merchant_id_razorpay_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_webhooks")),
    )
    with op.batch_alter_table("razorpay_webhooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_razorpay_webhooks_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "razorpay_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("webhook_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_status_code", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["razorpay_events.id"],
            name=op.f("fk_razorpay_deliveries_event_id_razorpay_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["razorpay_webhooks.id"],
            name=op.f("fk_razorpay_deliveries_webhook_id_razorpay_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_deliveries")),
        sa.UniqueConstraint(
            "event_id", "webhook_id", name=op.f("uq_razorpay_deliveries_event_id_webhook_id")
        ),
    )
    op.create_table(
        "razorpay_payments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("fee", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("tax", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=True),
        sa.Column("gateway_reference", sa.String(length=64), nullable=True),
        sa.Column("card_token", sa.String(length=40), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_network", sa.String(length=16), nullable=True),
        sa.Column("vpa", sa.String(length=100), nullable=True),
        sa.Column("bank", sa.String(length=12), nullable=True),
        sa.Column("wallet", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("contact", sa.String(length=20), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_description", sa.String(length=255), nullable=True),
        sa.Column("hold_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("capture_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("fee_transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authorized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settlement_id", sa.BigInteger(), nullable=True),
        sa.Column("link_id", sa.BigInteger(), nullable=True),
        sa.Column("subscription_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_payments_merchant_id_razorpay_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["razorpay_orders.id"],
            name=op.f("fk_razorpay_payments_order_id_razorpay_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_payments")),
    )
    with op.batch_alter_table("razorpay_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_razorpay_payments_link_id"), ["link_id"], unique=False)
        batch_op.create_index(
            "ix_razorpay_payments_merchant_id_id", ["merchant_id", "id"], unique=False
        )
        batch_op.create_index("ix_razorpay_payments_order_id", ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_razorpay_payments_settlement_id"), ["settlement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_razorpay_payments_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "razorpay_subscriptions",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("total_count", sa.BigInteger(), nullable=False),
        sa.Column("paid_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anchor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("charge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("cancel_at_cycle_end", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("vpa", sa.String(length=100), nullable=True),
        sa.Column("bank", sa.String(length=12), nullable=True),
        sa.Column("wallet", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_subscriptions_merchant_id_razorpay_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["razorpay_plans.id"],
            name=op.f("fk_razorpay_subscriptions_plan_id_razorpay_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_subscriptions")),
    )
    with op.batch_alter_table("razorpay_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_subscriptions_merchant_id_id", ["merchant_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_razorpay_subscriptions_status_charge_at", ["status", "charge_at"], unique=False
        )

    op.create_table(
        "razorpay_tokens",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("network_token", sa.String(length=40), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("expiry_month", sa.BigInteger(), nullable=False),
        sa.Column("expiry_year", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["razorpay_customers.id"],
            name=op.f("fk_razorpay_tokens_customer_id_razorpay_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_tokens_merchant_id_razorpay_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_tokens")),
    )
    with op.batch_alter_table("razorpay_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_tokens_customer_id_id", ["customer_id", "id"], unique=False
        )

    op.create_table(
        "razorpay_refunds",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("receipt", sa.String(length=40), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settlement_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["razorpay_merchants.id"],
            name=op.f("fk_razorpay_refunds_merchant_id_razorpay_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["razorpay_payments.id"],
            name=op.f("fk_razorpay_refunds_payment_id_razorpay_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_refunds")),
    )
    with op.batch_alter_table("razorpay_refunds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_razorpay_refunds_merchant_id_id", ["merchant_id", "id"], unique=False
        )
        batch_op.create_index("ix_razorpay_refunds_payment_id", ["payment_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_razorpay_refunds_settlement_id"), ["settlement_id"], unique=False
        )

    op.create_table(
        "razorpay_subscription_charges",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("cycle", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["razorpay_payments.id"],
            name=op.f("fk_razorpay_subscription_charges_payment_id_razorpay_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["razorpay_subscriptions.id"],
            name=op.f("fk_razorpay_subscription_charges_subscription_id_razorpay_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_razorpay_subscription_charges")),
        sa.UniqueConstraint(
            "subscription_id",
            "cycle",
            name=op.f("uq_razorpay_subscription_charges_subscription_id_cycle"),
        ),
    )


def downgrade() -> None:
    op.drop_table("razorpay_subscription_charges")
    with op.batch_alter_table("razorpay_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_razorpay_refunds_settlement_id"))
        batch_op.drop_index("ix_razorpay_refunds_payment_id")
        batch_op.drop_index("ix_razorpay_refunds_merchant_id_id")

    op.drop_table("razorpay_refunds")
    with op.batch_alter_table("razorpay_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_tokens_customer_id_id")

    op.drop_table("razorpay_tokens")
    with op.batch_alter_table("razorpay_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_subscriptions_status_charge_at")
        batch_op.drop_index("ix_razorpay_subscriptions_merchant_id_id")

    op.drop_table("razorpay_subscriptions")
    with op.batch_alter_table("razorpay_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_razorpay_payments_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_razorpay_payments_settlement_id"))
        batch_op.drop_index("ix_razorpay_payments_order_id")
        batch_op.drop_index("ix_razorpay_payments_merchant_id_id")
        batch_op.drop_index(batch_op.f("ix_razorpay_payments_link_id"))

    op.drop_table("razorpay_payments")
    op.drop_table("razorpay_deliveries")
    with op.batch_alter_table("razorpay_webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_razorpay_webhooks_merchant_id"))

    op.drop_table("razorpay_webhooks")
    with op.batch_alter_table("razorpay_settlements", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_settlements_merchant_id_id")

    op.drop_table("razorpay_settlements")
    with op.batch_alter_table("razorpay_plans", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_plans_merchant_id_id")

    op.drop_table("razorpay_plans")
    with op.batch_alter_table("razorpay_payment_links", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_payment_links_merchant_id_id")

    op.drop_table("razorpay_payment_links")
    with op.batch_alter_table("razorpay_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_orders_merchant_id_id")

    op.drop_table("razorpay_orders")
    with op.batch_alter_table("razorpay_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_razorpay_keys_merchant_id"))

    op.drop_table("razorpay_keys")
    with op.batch_alter_table("razorpay_events", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_events_merchant_id_id")

    op.drop_table("razorpay_events")
    with op.batch_alter_table("razorpay_customers", schema=None) as batch_op:
        batch_op.drop_index("ix_razorpay_customers_merchant_id_id")

    op.drop_table("razorpay_customers")
    op.drop_table("razorpay_merchants")
