"""Ledger transfers without foreign keys (checked by `casebook ledger verify` instead)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:00:49.872590
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_transfers_pending_id_ledger_transfers"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_transfers_credit_account_id_ledger_accounts"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_transfers_debit_account_id_ledger_accounts"), type_="foreignkey"
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_transfers_debit_account_id_ledger_accounts"),
            "ledger_accounts",
            ["debit_account_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_transfers_credit_account_id_ledger_accounts"),
            "ledger_accounts",
            ["credit_account_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_transfers_pending_id_ledger_transfers"),
            "ledger_transfers",
            ["pending_id"],
            ["id"],
        )
