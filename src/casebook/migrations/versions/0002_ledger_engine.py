"""Ledger engine: accounts and transfers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:42:43.271055
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Autogenerate does not see standalone sequences; the ledger numbers transfers from it.
        op.execute(sa.schema.CreateSequence(sa.Sequence("ledger_transfer_seq")))
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("credit_normal", sa.Boolean(), nullable=False),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "allow_negative"
            " OR (credit_normal AND debits_posted + debits_pending <= credits_posted)"
            " OR (NOT credit_normal AND credits_posted + credits_pending <= debits_posted)",
            name=op.f("ck_ledger_accounts_non_negative"),
        ),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
            " AND credits_posted >= 0",
            name=op.f("ck_ledger_accounts_counters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint(
            "owner", "name", "currency", name=op.f("uq_ledger_accounts_owner_name_currency")
        ),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pending_id", sa.BigInteger(), nullable=True),
        sa.Column("pending_status", sa.String(length=8), nullable=True),
        sa.Column("timeout", sa.BigInteger(), nullable=False),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("debit_balance", sa.BigInteger(), nullable=False),
        sa.Column("credit_balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_ledger_transfers_amount")),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id",
            name=op.f("ck_ledger_transfers_distinct_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_credit_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_debit_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_transfers_pending_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("seq", name=op.f("uq_ledger_transfers_seq")),
    )
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_transfers_credit_seq", ["credit_account_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_transfers_debit_seq", ["debit_account_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_transfers_open_holds",
            ["timeout_at"],
            unique=False,
            sqlite_where=sa.text("pending_status = 'pending' AND timeout_at IS NOT NULL"),
            postgresql_where=sa.text("pending_status = 'pending' AND timeout_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_ledger_transfers_open_holds",
            sqlite_where=sa.text("pending_status = 'pending' AND timeout_at IS NOT NULL"),
            postgresql_where=sa.text("pending_status = 'pending' AND timeout_at IS NOT NULL"),
        )
        batch_op.drop_index("ix_ledger_transfers_debit_seq")
        batch_op.drop_index("ix_ledger_transfers_credit_seq")

    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("ledger_transfer_seq")))
